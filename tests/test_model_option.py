"""``--model MODULE:CLASS`` (compress and report): the user's class, imported from the current directory, holds
the checkpoint's weights; its activations are the class's own, not assumed."""

import contextlib
import json
import re
import sys
import textwrap

import numpy as np
import pytest
import torch

from openeie.cli import main
from openeie.commands.compress import model_of_class
from openeie.compiler.frontend import FrontendError
from openeie.errors import InputError

MODULE = '''
import torch
from torch import nn


class Net(nn.Module):
    """Not an nn.Sequential: a traced chain with a functional ReLU, and no ReLU after fc2 (a bare state dict
    would have assumed one)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 16)
        self.fc2 = nn.Linear(16, 12)
        self.head = nn.Linear(12, 10)

    def forward(self, x):
        return self.head(self.fc2(torch.relu(self.fc1(x))))


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))


def small():
    return Net()


class NeedsArgs(nn.Module):
    def __init__(self, width):
        super().__init__()


NOT_A_MODEL = 3


def not_a_module():
    return "a string"
'''


chdir = contextlib.chdir          # the working directory for a block (Python 3.11)


@pytest.fixture
def user_dir(tmp_path, request):
    """A folder holding a model module with a name of its own (imports are cached per name)."""
    name = "usermodels_" + re.sub(r"\W", "_", request.node.name)
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(MODULE))
    yield tmp_path, name
    sys.modules.pop(name, None)


def _data(t, n_features=64):
    rng = np.random.default_rng(0)
    np.savez(t / "data.npz", x_train=rng.random((40, n_features)).astype(np.float32),
             y_train=rng.integers(0, 10, 40), x_test=rng.random((20, n_features)).astype(np.float32),
             y_test=rng.integers(0, 10, 20))
    return t / "data.npz"


def _instance(path: str, name: str, cls: str):
    import importlib.util
    spec = importlib.util.spec_from_file_location(f"{name}_ref", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.manual_seed(0)
    return getattr(mod, cls)()


def test_model_class_holds_the_checkpoint_and_its_own_activations(user_dir):
    t, name = user_dir
    ref = _instance(t / f"{name}.py", name, "Net")
    torch.save(ref.state_dict(), t / "m.pt")
    with chdir(t):
        model, shape, notes = model_of_class(f"{name}:Net", t / "m.pt")
    assert str(t) not in sys.path                       # the current directory was on it only for the import
    assert not (t / "__pycache__").exists()
    assert shape == (64,) and f"--model {name}:Net (Net" in notes[0]
    x = torch.randn(5, 64)
    with torch.no_grad():
        np.testing.assert_array_equal(model(x).numpy(), ref.eval()(x).numpy())
    from openeie.compiler.frontend import extract_layers
    assert [(l["name"], l["relu"]) for l in extract_layers(model)] == [("fc1", True), ("fc2", False),
                                                                       ("head", False)]


def test_factory_and_input_shapes(user_dir):
    t, name = user_dir
    torch.save(_instance(t / f"{name}.py", name, "Net").state_dict(), t / "m.pt")
    torch.save(_instance(t / f"{name}.py", name, "Cnn").state_dict(), t / "c.pt")
    with chdir(t):
        assert model_of_class(f"{name}:small", t / "m.pt")[1] == (64,)
        _, shape, notes = model_of_class(f"{name}:Cnn", t / "c.pt", data=str(_data(t)))
        assert shape == (1, 8, 8) and "square image of the data's 64 features" in notes[-1]
        assert model_of_class(f"{name}:Cnn", t / "c.pt", input_shape=(1, 8, 8))[1] == (1, 8, 8)
        with pytest.raises(InputError, match="48 features, not a square image: give --input-shape"):
            model_of_class(f"{name}:Cnn", t / "c.pt", data=str(_data(t, 48)))


@pytest.mark.parametrize("cls, error, expect", [
    ("Nope", InputError, "has no attribute 'Nope' (its nn.Module classes: Cnn, NeedsArgs, Net)"),
    ("NOT_A_MODEL", InputError, "NOT_A_MODEL is a int: expected a torch.nn.Module class"),
    ("NeedsArgs", InputError, "NeedsArgs() failed (TypeError"),
    ("not_a_module", InputError, "not_a_module() made a str: expected a torch.nn.Module"),
    ("Cnn", FrontendError, "does not fit the model: missing"),
])
def test_model_class_errors(user_dir, cls, error, expect):
    t, name = user_dir
    torch.save(_instance(t / f"{name}.py", name, "Net").state_dict(), t / "m.pt")
    with chdir(t), pytest.raises(error) as info:
        model_of_class(f"{name}:{cls}", t / "m.pt")
    assert expect in str(info.value)


def test_compress_cli_with_model(user_dir, capsys):
    t, name = user_dir
    torch.save(_instance(t / f"{name}.py", name, "Cnn").state_dict(), t / "c.pt")
    data = _data(t)
    fast = ["--prune-steps", "1", "--prune-epochs", "1", "--finetune-epochs", "0", "--density", "0.5"]
    with chdir(t):
        rc = main(["compress", "c.pt", "--model", f"{name}:Cnn", "-o", "net.npz", "--data", str(data), *fast])
    assert rc == 0, capsys.readouterr().err
    report = json.loads((t / "net.npz.report.json").read_text())
    assert report["input_shape"] == [1, 8, 8] and report["density"] == {"conv": 0.5, "fc": 0.5}
    assert any(f"--model {name}:Cnn" in a for a in report["assumptions"])
    capsys.readouterr()
    with chdir(t):                                   # --input-shape decides: a 4 x 16 image also gives fc 64 inputs
        assert main(["compress", "c.pt", "--model", f"{name}:Cnn", "--input-shape", "1,4,16", "-o", "n2.npz",
                     "--data", str(data), *fast]) == 0
        assert json.loads((t / "n2.npz.report.json").read_text())["input_shape"] == [1, 4, 16]
        assert main(["compress", "c.pt", "--model", f"{name}:Cnn", "--input-shape", "1,6,6", "-o", "n3.npz",
                     "--data", str(data), *fast]) == 2
    err = capsys.readouterr().err
    assert "Linear 'fc' takes 64 inputs" in err and "36" in err, err
    assert not (t / "n3.npz").exists()


def test_report_cli_with_model(user_dir, capsys):
    t, name = user_dir
    torch.save(_instance(t / f"{name}.py", name, "Net").state_dict(), t / "m.pt")
    with chdir(t):
        rc = main(["report", "m.pt", "--model", f"{name}:Net", "-o", "rep", "--data", str(_data(t)),
                   "--prune-steps", "1", "--prune-epochs", "0", "--finetune-epochs", "0", "--cycle-inputs", "2"])
    assert rc == 0, capsys.readouterr().err
    assert f"note: architecture from --model {name}:Net" in capsys.readouterr().out
    report = json.loads((t / "rep" / "report.json").read_text())
    assert "fc2" in json.dumps(report) and "head" in json.dumps(report)
