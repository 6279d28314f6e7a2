import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from openeie.cli import main
from openeie.compiler.digits import digits_mlp
from openeie.compiler.netfile import load_network
from openeie.compiler.frontend import FrontendError, mlp_from_state_dict


def test_compress_checkpoint_end_to_end(tmp_path):
    model = digits_mlp(seed=3)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "m.safetensors"))
    rc = main(["compress", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "net.npz"), "--density", "0.2",
               "--code-bits", "3", "--prune-steps", "1", "--prune-epochs", "1", "--finetune-epochs", "1"])
    assert rc == 0
    net = load_network(tmp_path / "net.npz")
    assert [l.shape for l in net] == [(300, 64), (100, 300), (10, 100)]
    assert [l.relu for l in net] == [True, True, False]
    for layer in net:
        assert len(layer.codebook) == 8 and abs(layer.nnz / (layer.n_in * layer.n_out) - 0.2) < 0.01
    report = json.loads((tmp_path / "net.npz.report.json").read_text())
    assert set(report["accuracy"]) >= {"float", "pruned", "shared"}
    assert main(["compile", str(tmp_path / "net.npz"), "-o", str(tmp_path / "img")]) == 0


def test_checkpoint_shape_errors():
    sd = {"a.weight": torch.zeros(5, 3), "b.weight": torch.zeros(2, 4)}
    with pytest.raises(FrontendError, match="layer 'b' takes 4 inputs but the previous layer 'a' produces 5"):
        mlp_from_state_dict(sd)
    with pytest.raises(FrontendError, match=r"conv.weight has shape \(4, 3, 3, 3\): expected a 2-D Linear"):
        mlp_from_state_dict({"conv.weight": torch.zeros(4, 3, 3, 3)})
    with pytest.raises(FrontendError, match="are not Linear weights or biases"):
        mlp_from_state_dict({"a.weight": torch.zeros(2, 3), "bn.running_mean": torch.zeros(2)})


def test_pickle_checkpoint_is_refused(tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))
    torch.save({"a.weight": Evil()}, tmp_path / "evil.pt")
    assert main(["compress", str(tmp_path / "evil.pt"), "-o", str(tmp_path / "n.npz")]) == 2
    assert not (tmp_path / "pwned").exists()
    err = capsys.readouterr().err
    assert "holds pickled Python objects (refused global 'io.open')" in err and "state_dict()" in err


def _sd(widths, names):
    torch.manual_seed(0)
    return {f"{n}.weight": torch.randn(b, a) for n, a, b in zip(names, widths, widths[1:])}


def test_layer_order_from_safetensors_is_the_real_order(tmp_path):
    """.safetensors sorts its keys: b -> a -> c must not become a -> b -> c, and 10 children sort naturally."""
    from openeie.compiler.frontend import checkpoint_metadata, load_checkpoint
    sd = _sd((64, 40, 30, 10), ["b", "a", "c"])
    save_file(sd, str(tmp_path / "m.safetensors"))
    state = load_checkpoint(tmp_path / "m.safetensors")
    assert list(state) == ["a.weight", "b.weight", "c.weight"]          # what the file gives
    model, notes = mlp_from_state_dict(state, ordered=False)
    assert [m.in_features for m in model if hasattr(m, "in_features")] == [64, 40, 30]
    assert notes[0] == "layer order: b -> a -> c"
    # an nn.Sequential with 12 children of equal width: "10" after "9", by name
    names = [str(i) for i in range(0, 24, 2)]
    sd = _sd((16,) * 12 + (10,), names)
    save_file(sd, str(tmp_path / "s.safetensors"))
    model, notes = mlp_from_state_dict(load_checkpoint(tmp_path / "s.safetensors"), ordered=False)
    assert notes[0] == "layer order: " + " -> ".join(names)
    # metadata states the order where nothing else can
    sd = _sd((64, 64, 64, 10), ["b", "a", "c"])
    save_file(sd, str(tmp_path / "o.safetensors"), metadata={"openeie.layer_order": '["b", "a", "c"]'})
    path = tmp_path / "o.safetensors"
    _, notes = mlp_from_state_dict(load_checkpoint(path), ordered=False, metadata=checkpoint_metadata(path))
    assert notes[0] == "layer order: b -> a -> c"


def test_compress_says_what_it_assumed(tmp_path, capsys):
    model = digits_mlp(seed=3)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    assert main(["compress", str(tmp_path / "m.pt"), "-o", str(tmp_path / "net.npz"), "--prune-steps", "1",
                 "--prune-epochs", "0", "--finetune-epochs", "0"]) == 0
    out = capsys.readouterr().out
    assert "note: activations assumed (a state dict records none): ReLU after every layer but the last" in out
    assert "note: layer order: fc1 -> fc2 -> fc3" in out
    report = json.loads((tmp_path / "net.npz.report.json").read_text())
    assert report["format"] == "openeie-compress-report" and len(report["assumptions"]) == 2
    # a second run replaces its own outputs
    assert main(["compress", str(tmp_path / "m.pt"), "-o", str(tmp_path / "net.npz"), "--prune-steps", "1",
                 "--prune-epochs", "0", "--finetune-epochs", "0"]) == 0


def _tiny_cnn():
    """A small CNN with BatchNorm, trained for a few seconds on the digits (its running statistics are real)."""
    from collections import OrderedDict
    from torch import nn
    from openeie.compiler.digits import load_digits_split
    torch.manual_seed(1)
    model = nn.Sequential(OrderedDict([
        ("conv", nn.Conv2d(1, 6, 3, padding=1)), ("bn", nn.BatchNorm2d(6)), ("relu", nn.ReLU()),
        ("pool", nn.MaxPool2d(2)), ("flat", nn.Flatten()), ("fc", nn.Linear(96, 10))]))
    x, y = (torch.tensor(a) for a in load_digits_split()[:2])
    x = x.float().reshape(-1, 1, 8, 8)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(10):
        for i in range(0, len(x), 64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[i:i + 64]), y[i:i + 64].long()).backward()
            opt.step()
    return model.eval()


@pytest.mark.parametrize("how", ["metadata", "arch"])
def test_compress_cnn_checkpoint(how, tmp_path, capsys):
    """A CNN checkpoint (BatchNorm folded, per-layer code widths) compresses, compiles onto a convolution engine
    and runs there: the architecture comes from the .safetensors metadata or from --arch with a .pt file."""
    from openeie.compiler.architecture import architecture_of, save_checkpoint
    from openeie.compiler.lower import lower
    from openeie.compiler.network import ConvSpec
    from openeie.compiler.compress import network_accuracy
    from openeie.compiler.digits import load_digits_split
    from openeie.config import EngineConfig
    model = _tiny_cnn()
    if how == "metadata":
        ckpt = tmp_path / "cnn.safetensors"
        save_checkpoint(model, ckpt, (1, 8, 8))
        extra = []
    else:
        ckpt = tmp_path / "cnn.pt"
        torch.save(model.state_dict(), ckpt)
        (tmp_path / "arch.json").write_text(json.dumps(architecture_of(model, (1, 8, 8))))
        extra = ["--arch", str(tmp_path / "arch.json")]
    rc = main(["compress", str(ckpt), "-o", str(tmp_path / "net.npz"), "--density", "0.5", "--code-bits", "3",
               "--conv-code-bits", "5", "--prune-steps", "1", "--prune-epochs", "2", "--finetune-epochs", "1",
               *extra])
    assert rc == 0
    out = capsys.readouterr().out
    assert "input 1 x 8 x 8 -> conv Conv2d -> bn BatchNorm2d -> ReLU -> MaxPool2d -> Flatten -> fc Linear" in out
    net = load_network(tmp_path / "net.npz")
    assert [l.conv for l in net] == [ConvSpec(1, 8, 8, 3, 1, 1, "max", 2), None]
    assert [len(l.codebook) for l in net] == [32, 8]
    report = json.loads((tmp_path / "net.npz.report.json").read_text())
    assert report["code_bits"] == {"conv": 5, "fc": 3} and report["input_shape"] == [1, 8, 8]
    acc = report["accuracy"]
    _, _, x_te, y_te = load_digits_split()
    with torch.no_grad():
        own = (model(torch.tensor(x_te).float().reshape(-1, 1, 8, 8)).argmax(1).numpy() == y_te).mean()
    assert acc["float"] == pytest.approx(own, abs=0.004) and own > 0.9        # BatchNorm folded exactly
    assert acc["shared"] > acc["float"] - 0.1, acc
    cfg = EngineConfig(n_pe=2, code_bits=5, entries_per_word=4, max_image_side=8, max_kernel=3, max_pool=2,
                       act_depth=512, ptr_depth=1024, max_layers=2)
    program = lower(net, cfg)
    from openeie.sim import golden
    xq = golden.quantize_input(cfg, x_te[:50])
    engine = np.array([np.argmax(golden.run_logical(program, x)) for x in xq])
    shared = np.argmax(net.float_forward(x_te[:50]), axis=1)
    assert (engine == shared).mean() >= 0.9 and network_accuracy(net, (x_te, y_te)) == report["accuracy"]["shared"]


def test_compress_cli_methods(tmp_path):
    """--low-rank, --distill and --shared-values reach the pipeline and its report."""
    model = digits_mlp(seed=4)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "m.safetensors"))
    rc = main(["compress", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "net.npz"), "--density", "0.5",
               "--code-bits", "2", "--shared-values", "2", "--low-rank", "16", "--low-rank-skip", "fc3",
               "--low-rank-epochs", "1", "--distill", "4,0.5", "--prune-steps", "1", "--prune-epochs", "1",
               "--finetune-epochs", "1"])
    assert rc == 0
    net = load_network(tmp_path / "net.npz")
    assert [l.shape for l in net] == [(16, 64), (300, 16), (16, 300), (100, 16), (10, 100)]
    assert all(len(l.codebook) == 3 for l in net)
    report = json.loads((tmp_path / "net.npz.report.json").read_text())
    assert report["distill"] == {"temperature": 4.0, "alpha": 0.5} and report["shared_values"] == 2
    assert report["low_rank"]["layers"]["fc1"]["ranks"] == [16]
