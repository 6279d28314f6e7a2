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
