"""Front end: layer extraction from Sequential / fx models, refusals, safe checkpoint loading."""

import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune as torch_prune

from openeie.compiler.frontend import (FrontendError, extract_layers, fold_batchnorm, linear_modules, load_checkpoint,
                                       load_into)


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict(
        fc1=nn.Linear(6, 5), relu1=nn.ReLU(), drop=nn.Dropout(0.2),
        fc2=nn.Linear(5, 4), id=nn.Identity(), fc3=nn.Linear(4, 3, bias=False)))


def test_sequential_layers_names_flags_and_weights():
    m = mlp()
    layers = extract_layers(m)
    assert [d["name"] for d in layers] == ["fc1", "fc2", "fc3"]
    assert [d["relu"] for d in layers] == [True, False, False]
    np.testing.assert_array_equal(layers[0]["weight"], m.fc1.weight.detach().double().numpy())
    np.testing.assert_array_equal(layers[1]["bias"], m.fc2.bias.detach().double().numpy())
    assert layers[2]["bias"] is None
    assert all(d["mask"] is None for d in layers)
    assert layers[0]["module"] is m.fc1


def test_nested_sequential_qualified_names_and_relu_through_noops():
    m = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(4, 3), nn.Dropout(), nn.ReLU()),
                      nn.Sequential(nn.Sequential(nn.Linear(3, 2))))
    layers = extract_layers(m)
    assert [d["name"] for d in layers] == ["1.0", "2.0.0"]
    assert [d["relu"] for d in layers] == [True, False]


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 6)
        self.b = nn.Linear(6, 2)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = F.relu(self.a(x))
        return self.b(F.dropout(x, 0.1, self.training)).relu()


def test_fx_traced_module_and_graph_module():
    m = Functional()
    for model in (m, torch.fx.symbolic_trace(m)):
        layers = extract_layers(model)
        assert [d["name"] for d in layers] == ["a", "b"]
        assert [d["relu"] for d in layers] == [True, True]


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)

    def forward(self, x):
        return self.a(x) + x


def test_refuses_non_chain_graph():
    with pytest.raises(FrontendError, match="add"):
        extract_layers(Residual())


def test_refuses_unsupported_modules_in_one_error_naming_all():
    m = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Tanh(), nn.Linear(4, 2)), nn.Softmax(dim=1))
    with pytest.raises(FrontendError) as e:
        extract_layers(m)
    msg = str(e.value)
    assert "'1.0' (Tanh)" in msg and "'2' (Softmax)" in msg


def test_conv_in_traced_model_and_refusals():
    class C(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(torch.flatten(self.conv(x), 1))

    layers = extract_layers(C(), input_shape=(1, 4, 4))
    assert [d["name"] for d in layers] == ["conv", "fc"]
    spec = layers[0]["conv"]
    assert (spec.in_channels, spec.in_h, spec.out_h, spec.kernel) == (1, 4, 2, 3)
    assert layers[0]["weight"].shape == (2, 9)
    with pytest.raises(FrontendError, match=r"'c' \(Conv1d\)"):
        extract_layers(nn.Sequential(OrderedDict(c=nn.Conv1d(1, 1, 3))))
    with pytest.raises(FrontendError, match="dilation"):
        extract_layers(nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2)))
    with pytest.raises(FrontendError, match="pools before ReLU"):
        extract_layers(nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.AvgPool2d(2)))
    with pytest.raises(FrontendError, match="non-overlapping"):
        extract_layers(nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(3, stride=2)))
    with pytest.raises(FrontendError, match="fold batch norms"):
        extract_layers(nn.Sequential(nn.Conv2d(1, 1, 3), nn.BatchNorm2d(1)))
    with pytest.raises(FrontendError, match="takes 5 inputs but the layer before it produces 8"):
        extract_layers(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(5, 2)), input_shape=(1, 4, 4))


@pytest.mark.parametrize("model, match", [
    (nn.Sequential(nn.ReLU(), nn.Linear(3, 2)), "before the first layer"),
    (nn.Sequential(nn.ReLU()), "before the first layer"),
    (nn.Sequential(nn.Dropout()), "no Linear"),
    (nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2)), "takes 5 inputs"),
])
def test_refuses_malformed_chains(model, match):
    with pytest.raises(FrontendError, match=match):
        extract_layers(model)


def test_refuses_non_module():
    with pytest.raises(FrontendError, match="torch.nn.Module"):
        extract_layers([nn.Linear(2, 2)])


def test_pruned_weight_reports_mask_and_masked_weight():
    m = mlp()
    torch_prune.random_unstructured(m.fc2, "weight", amount=0.5)
    layers = extract_layers(m)
    mask = m.fc2.weight_mask.bool().numpy()
    np.testing.assert_array_equal(layers[1]["mask"], mask)
    assert np.all(layers[1]["weight"][~mask] == 0)
    assert [n for n, _ in linear_modules(m)] == ["fc1", "fc2", "fc3"]


# ---- checkpoints ---------------------------------------------------------------------------------------------

def test_safetensors_round_trip(tmp_path):
    from safetensors.torch import save_file
    m = mlp(1)
    path = tmp_path / "m.safetensors"
    save_file(m.state_dict(), str(path))
    state = load_checkpoint(path)
    assert set(state) == set(m.state_dict())
    fresh = load_into(mlp(2), path)
    for k, v in m.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v)


@pytest.mark.parametrize("wrap", [False, True])
def test_pt_state_dict_round_trip(tmp_path, wrap):
    m = mlp(1)
    path = tmp_path / "m.pt"
    torch.save({"state_dict": m.state_dict()} if wrap else m.state_dict(), path)
    state = load_checkpoint(path)
    assert all(torch.equal(state[k], v) for k, v in m.state_dict().items())


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickle_payload_is_never_executed(tmp_path):
    target = str(tmp_path / "pwned")
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"w": _Evil(target)}, f)
    torch.save({"w": _Evil(target)}, tmp_path / "evil2.pt")   # the zip format too
    for p in (path, tmp_path / "evil2.pt"):
        with pytest.raises(FrontendError, match=str(p.name)):
            load_checkpoint(p)
    assert not os.path.exists(target)


@pytest.mark.parametrize("name, content", [("bad.safetensors", b"\x00garbage" * 10), ("bad.pt", b"not a zip"),
                                           ("empty.pth", b"")])
def test_malformed_file_names_the_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FrontendError, match=f"{name}.*cannot be read"):
        load_checkpoint(path)


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FrontendError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "m.bin").write_bytes(b"")
    with pytest.raises(FrontendError, match="unknown suffix '.bin'"):
        load_checkpoint(tmp_path / "m.bin")
    torch.save(torch.zeros(3), tmp_path / "t.pt")
    with pytest.raises(FrontendError, match="holds a Tensor"):
        load_checkpoint(tmp_path / "t.pt")
    torch.save({"a": 1}, tmp_path / "n.pt")
    with pytest.raises(FrontendError, match="entry 'a' is a int"):
        load_checkpoint(tmp_path / "n.pt")


def test_load_into_reports_mismatches(tmp_path):
    state = mlp().state_dict()
    state["fc1.weight"] = torch.zeros(2, 2)
    del state["fc2.bias"]
    state["extra"] = torch.zeros(1)
    torch.save(state, tmp_path / "s.pt")
    with pytest.raises(FrontendError) as e:
        load_into(mlp(), tmp_path / "s.pt")
    msg = str(e.value)
    assert "missing ['fc2.bias']" in msg and "unexpected ['extra']" in msg and "fc1.weight (2, 2)" in msg


def test_fold_batchnorm_is_exact_in_eval():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(3 * 4 * 4, 5), nn.BatchNorm1d(5))
    for bn in (model[1], model[5]):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-1, 1)
    model.eval()
    folded = fold_batchnorm(model).eval()
    x = torch.randn(7, 2, 4, 4)
    assert torch.allclose(model(x), folded(x), atol=1e-5)
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in folded.modules())
    assert [n for n, _ in linear_modules(folded)] == ["0", "4"]          # names kept
    assert isinstance(model[1], nn.BatchNorm2d)                        # the caller's model is untouched
    with pytest.raises(FrontendError, match=r"'1' follows '0' \(ReLU\)"):
        fold_batchnorm(nn.Sequential(nn.ReLU(), nn.BatchNorm1d(3)))
    with pytest.raises(FrontendError, match="follows the model's input"):
        fold_batchnorm(nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 2)))
