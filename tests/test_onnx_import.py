"""ONNX import (openeie.compiler.onnx_import): real torch exports and hand-built graphs become the same float model,
and ``openeie compress x.onnx`` / ``openeie.compress("x.onnx")`` run on them."""

import json
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from openeie.cli import main  # noqa: E402
from openeie.compiler.frontend import FrontendError  # noqa: E402
from openeie.compiler.onnx_import import model_of_onnx  # noqa: E402


def export(model: nn.Module, path, sample_shape, dynamic_batch=False, fold=True):
    """``torch.onnx.export`` (the TorchScript exporter: no onnxscript needed) of ``model`` in eval mode."""
    model.eval()
    extra = {"input_names": ["x"], "dynamic_axes": {"x": {0: "batch"}}} if dynamic_batch else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros((2,) + tuple(sample_shape)), str(path), dynamo=False,
                          do_constant_folding=fold, **extra)
    return path


class NamedMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 20)
        self.fc2 = nn.Linear(20, 16, bias=False)          # exported as MatMul without Add
        self.out = nn.Linear(16, 10)

    def forward(self, x):
        return self.out(torch.relu(self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))))


def small_cnn(seed=0) -> nn.Sequential:
    """conv 1 -> 4 (3x3, pad 1), BatchNorm, ReLU, max pool 2, conv 4 -> 6, average pool 2, ReLU, flatten, dropout
    (the exporter drops it in eval mode), fc 24 -> 10, with BatchNorm statistics that are not the identity."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 6, 3, padding=1), nn.AvgPool2d(2), nn.ReLU(), nn.Flatten(), nn.Dropout(0.25),
                          nn.Linear(24, 10))
    with torch.no_grad():
        bn = model[1]
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    return model.eval()


def outputs(model, x):
    with torch.no_grad():
        return model.eval()(torch.as_tensor(x)).numpy()


def test_mlp_export_equals_the_torch_model(tmp_path):
    torch.manual_seed(1)
    ref = NamedMLP().eval()
    x = torch.randn(7, 1, 8, 8)
    for dynamic in (False, True):
        model, shape, notes = model_of_onnx(export(ref, tmp_path / f"mlp{dynamic}.onnx", (1, 8, 8), dynamic))
        assert shape == (1, 8, 8)
        np.testing.assert_allclose(outputs(model, x), outputs(ref, x), atol=1e-5, rtol=0)
        # the torch names are kept (they name the layers of --density fc1=...), activations are the graph's
        assert "Flatten -> fc1 Linear -> ReLU -> fc2 Linear -> ReLU -> out Linear" in notes[0]
        assert model.fc2.bias is None


@pytest.mark.parametrize("fold", [True, False], ids=["batchnorm-folded", "batchnorm-kept"])
def test_cnn_with_batchnorm_and_pooling_equals_the_torch_model(tmp_path, fold):
    ref = small_cnn()
    model, shape, notes = model_of_onnx(export(ref, tmp_path / "cnn.onnx", (1, 8, 8), fold=fold))
    assert shape == (1, 8, 8)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Conv2d"] + ["BatchNorm2d"] * (not fold) + ["ReLU", "MaxPool2d", "Conv2d", "AvgPool2d", "ReLU",
                                                                  "Flatten", "Linear"]
    x = torch.randn(9, 1, 8, 8)
    np.testing.assert_allclose(outputs(model, x), outputs(ref, x), atol=1e-5, rtol=0)


def _graph_model(nodes, inits, in_shape, out_shape, opset=17, name="g"):
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_hand_built_graph_matmul_add_gemm_reshape(tmp_path):
    """MatMul + Add bias, Gemm with transB=0 and a scalar bias, Reshape to (0, -1), Constant and Identity nodes:
    the imported model computes what the graph says (checked against NumPy)."""
    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(size=(12, 5)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    w2, b2 = rng.normal(size=(5, 3)).astype(np.float32), np.float32(0.25)
    nodes = [helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([0, -1], np.int64))),
             helper.make_node("Reshape", ["x", "shape"], ["flat"]),
             helper.make_node("MatMul", ["flat", "W1"], ["h"]), helper.make_node("Add", ["B1", "h"], ["hb"]),
             helper.make_node("Relu", ["hb"], ["r0"]), helper.make_node("Dropout", ["r0", "ratio"], ["r"]),
             helper.make_node("Identity", ["W2"], ["W2c"]),
             helper.make_node("Gemm", ["r", "W2c", "B2"], ["g"], transB=0, alpha=1.0),
             helper.make_node("Identity", ["g"], ["y"])]
    path = tmp_path / "g.onnx"
    onnx.save_model(_graph_model(nodes, {"W1": w1, "B1": b1, "W2": w2, "B2": np.array([b2]),
                                         "ratio": np.array(0.3, np.float32)}, ["N", 3, 2, 2],
                                 ["N", 3]), str(path))
    model, shape, notes = model_of_onnx(path)
    assert shape == (3, 2, 2)
    x = rng.normal(size=(4, 3, 2, 2)).astype(np.float32)
    expect = np.maximum(x.reshape(4, -1) @ w1 + b1, 0) @ w2 + b2
    np.testing.assert_allclose(outputs(model, x), expect, atol=1e-5, rtol=0)
    assert "fc1 Linear -> ReLU -> Dropout -> fc2 Linear" in notes[0]
    assert model[3].p == pytest.approx(0.3)


def test_every_bad_node_is_named_in_one_message(tmp_path):
    nodes = [helper.make_node("Gemm", ["x", "W"], ["a"], transB=1, name="fc"),
             helper.make_node("Sigmoid", ["a"], ["b"], name="squash"),
             helper.make_node("Gemm", ["b", "W2"], ["c"], transB=1, alpha=2.0, name="scaled"),
             helper.make_node("Tanh", ["c"], ["y"], name="tanh")]
    path = tmp_path / "bad.onnx"
    onnx.save_model(_graph_model(nodes, {"W": np.ones((4, 4), np.float32), "W2": np.ones((4, 4), np.float32)},
                                 [1, 4], [1, 4]), str(path))
    with pytest.raises(FrontendError) as info:
        model_of_onnx(path)
    message = str(info.value)
    assert "node 1 'squash' (Sigmoid): unsupported operator" in message
    assert "node 3 'tanh' (Tanh): unsupported operator" in message
    assert "supported: Gemm" in message and "\n" not in message


def test_a_shape_computation_is_refused_with_a_hint(tmp_path):
    """x.view(x.size(0), -1) with a dynamic batch exports Shape -> Gather -> Unsqueeze -> Concat -> Reshape: a
    branch off the input, named node by node, with the export that works instead."""
    class ViewNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 2)

        def forward(self, x):
            return self.fc(x.view(x.size(0), -1))
    with pytest.raises(FrontendError) as info:
        model_of_onnx(export(ViewNet(), tmp_path / "view.onnx", (1, 4, 4), dynamic_batch=True))
    message = str(info.value)
    assert "tensor 'x' feeds 2 nodes" in message and "(Shape): unsupported operator" in message
    assert "(Gather): unsupported operator" in message and "'/fc/Gemm' (Gemm): not on the chain" in message
    assert "hint: x.view(x.size(0), -1) exports a Shape computation; torch.flatten(x, 1)" in message


def test_graph_shapes_that_do_not_chain_are_refused_by_the_architecture_checks(tmp_path):
    """Sizes that the graph itself gets wrong are caught, naming the node."""
    nodes = [helper.make_node("Gemm", ["x", "W"], ["a"], transB=1, name="fc"),
             helper.make_node("Gemm", ["a", "W2"], ["y"], transB=1, name="fc_out")]
    path = tmp_path / "mismatch.onnx"
    onnx.save_model(_graph_model(nodes, {"W": np.ones((4, 6), np.float32), "W2": np.ones((2, 5), np.float32)},
                                 [1, 6], [1, 2]), str(path))
    with pytest.raises(FrontendError, match=r"'fc_out' \(Gemm\): weight 'W2' takes 5 inputs but the previous layer "
                                            r"produces 4"):
        model_of_onnx(path)


def _data(tmp_path, n_features=64, classes=10):
    rng = np.random.default_rng(0)
    path = tmp_path / "data.npz"
    np.savez(path, x_train=rng.random((40, n_features)).astype(np.float32), y_train=rng.integers(0, classes, 40),
             x_test=rng.random((20, n_features)).astype(np.float32), y_test=rng.integers(0, classes, 20))
    return path


def test_compress_cli_runs_on_an_onnx_graph(tmp_path, capsys):
    from openeie.compiler.netfile import load_network
    path = export(small_cnn(), tmp_path / "cnn.onnx", (1, 8, 8), fold=False)
    rc = main(["compress", str(path), "-o", str(tmp_path / "net.npz"), "--data", str(_data(tmp_path)),
               "--density", "0.5", "--prune-steps", "1", "--prune-epochs", "1", "--finetune-epochs", "1"])
    assert rc == 0, capsys.readouterr().err
    net = load_network(tmp_path / "net.npz")
    assert [l.shape for l in net] == [(4, 9), (6, 36), (10, 24)]          # (out, fan-in) of each layer
    report = json.loads((tmp_path / "net.npz.report.json").read_text())
    assert report["density"] == {"conv1": 0.5, "conv2": 0.5, "fc1": 0.5}
    assert report["input_shape"] == [1, 8, 8]
    assert any("architecture from the ONNX graph" in a and "bn1 BatchNorm2d" in a for a in report["assumptions"])


def test_api_compress_takes_an_onnx_graph(tmp_path):
    import openeie
    from openeie.errors import InputError
    torch.manual_seed(0)
    ref = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    path = export(ref, tmp_path / "mlp.onnx", (64,))
    rng = np.random.default_rng(0)
    data = (rng.random((30, 64), np.float32), rng.integers(0, 10, 30), rng.random((10, 64), np.float32),
            rng.integers(0, 10, 10))
    result = openeie.compress(path, data, density=0.5, prune_steps=1, prune_epochs=0, finetune_epochs=0)
    assert [l.shape for l in result.network] == [(16, 64), (10, 16)]
    assert result.input_shape == (64,) and "ONNX graph" in result.notes[0]
    with pytest.raises(InputError, match="carries its own architecture"):
        openeie.compress(path, data, arch={"input_shape": [64], "layers": []})


def test_missing_onnx_package_names_the_extra(tmp_path, monkeypatch, capsys):
    path = export(nn.Sequential(nn.Linear(4, 2)), tmp_path / "m.onnx", (4,))
    monkeypatch.setitem(sys.modules, "onnx", None)          # as if not installed
    with pytest.raises(FrontendError, match=r"pip install 'openeie\[onnx\]'"):
        model_of_onnx(path)
    assert main(["compress", str(path), "-o", str(tmp_path / "n.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "needs onnx (not installed)" in err and "openeie[onnx]" in err
    assert not (tmp_path / "n.npz").exists()
