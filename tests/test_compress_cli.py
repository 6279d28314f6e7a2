import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from openeie.cli import main
from openeie.compiler.digits import digits_mlp
from openeie.compiler.netfile import load_network
from openeie.compress_cli import mlp_from_state_dict
from openeie.compiler.frontend import FrontendError


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
    with pytest.raises(FrontendError, match="layer 'b' takes 4 inputs but the previous layer produces 5"):
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
    assert "cannot be read safely" in capsys.readouterr().err
