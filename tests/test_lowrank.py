"""Low-rank factorisation (SVD, Tucker-2, VBMF rank selection) and distillation."""

import numpy as np
import pytest
import torch
from torch import nn

from openeie.compiler.distill import Distillation
from openeie.compiler.frontend import extract_layers
from openeie.compiler.lowrank import (LowRankError, energy_rank, low_rank, svd_linear, tucker2_conv, tucker2_factors,
                                      vbmf_rank)
from openeie.errors import InputError


@pytest.mark.parametrize("rank", [1, 3, 8, 20])
@pytest.mark.parametrize("shape", [(40, 60), (90, 30)])
def test_vbmf_finds_the_rank_of_a_noisy_low_rank_matrix(rank, shape):
    rng = np.random.default_rng(rank)
    signal = rng.normal(size=(shape[0], rank)) @ rng.normal(size=(rank, shape[1]))
    assert vbmf_rank(signal + 0.2 * rng.normal(size=shape)) == rank
    assert vbmf_rank(0.2 * rng.normal(size=shape)) <= 2          # pure noise: (almost) nothing survives


def test_energy_rank():
    m = np.diag([3.0, 2.0, 1.0, 0.0])
    assert [energy_rank(m, e) for e in (0.5, 9 / 14, 13 / 14, 0.95, 1.0)] == [1, 1, 2, 3, 3]
    with pytest.raises(LowRankError, match="energy fraction 1.5"):
        energy_rank(m, 1.5)


def test_full_rank_factors_are_exact():
    torch.manual_seed(0)
    lin = nn.Linear(12, 7)
    x = torch.randn(4, 12)
    assert torch.allclose(svd_linear(lin, 7)(x), lin(x), atol=1e-5)
    conv = nn.Conv2d(5, 6, 3, stride=2, padding=1)
    x = torch.randn(2, 5, 7, 7)
    chain = tucker2_conv(conv, 5, 6, hooi_iters=1)
    assert [type(m).__name__ for m in chain] == ["Conv2d"] * 3
    assert [m.kernel_size for m in chain] == [(1, 1), (3, 3), (1, 1)]
    assert torch.allclose(chain(x), conv(x), atol=1e-5)


def test_truncation_is_the_best_rank_r_approximation():
    """SVD truncation equals the Eckart-Young error; HOOI never does worse than the HOSVD it starts from."""
    torch.manual_seed(1)
    lin = nn.Linear(30, 20)
    w = lin.weight.detach().double()
    s = torch.linalg.svdvals(w)
    seq = svd_linear(lin, 5)
    approx = (seq.second.weight @ seq.first.weight).double()
    assert torch.linalg.norm(w - approx).item() == pytest.approx(s[5:].norm().item(), rel=1e-4)
    k = torch.randn(8, 6, 3, 3, dtype=torch.float64)

    def err(iters):
        u3, core, u4 = tucker2_factors(k, 3, 4, iters)
        return torch.linalg.norm(k - torch.einsum("bayx,sa,tb->tsyx", core, u3, u4)).item()
    assert err(10) <= err(0) + 1e-9


def test_low_rank_of_a_cnn_keeps_it_runnable():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 64), nn.ReLU(),
                          nn.Linear(64, 10))
    model.eval()
    work, report = low_rank(model, linear=0.9, conv=4, skip=["0"])
    assert report["0"]["method"] == "kept" and report["4"] == {
        "method": "tucker2", "ranks": [4, 4], "weights": 8 * 16 * 9, "weights_after": 8 * 4 + 9 * 16 + 16 * 4,
        "rank_rule": 4}
    assert report["7"]["method"] == "svd" and report["7"]["weights_after"] < 256 * 64
    names = [d["name"] for d in extract_layers(work, (1, 8, 8))]
    assert names[:4] == ["0", "4.first", "4.core", "4.last"]
    layers = extract_layers(work, (1, 8, 8))
    assert layers[3]["conv"].pool is None and layers[0]["conv"].pool == "max"
    x = torch.randn(3, 1, 8, 8)
    assert work(x).shape == (3, 10)
    full, rep = low_rank(model, linear=1000, conv=1000)          # ranks capped at full: factors no smaller
    assert all(v["method"] == "kept" for v in rep.values())
    with pytest.raises(LowRankError, match=r"skip names \['conv9'\]"):
        low_rank(model, skip=["conv9"])
    with pytest.raises(LowRankError, match="rank rule 'high'"):
        low_rank(model, linear="high")
    with pytest.raises(LowRankError, match="rank 0: expected >= 1"):
        low_rank(model, conv=0)


def test_distillation_loss():
    torch.manual_seed(3)
    teacher = nn.Linear(4, 3)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    loss = Distillation(teacher, temperature=2.0, alpha=1.0)
    assert loss(teacher(x).detach(), y, x).item() == pytest.approx(0.0, abs=1e-6)   # the teacher itself
    mixed = Distillation(teacher, temperature=2.0, alpha=0.0)(torch.zeros(8, 3), y, x)
    assert mixed.item() == pytest.approx(np.log(3), rel=1e-6)                      # labels only, uniform logits
    assert all(not p.requires_grad for p in loss.teacher.parameters()) and teacher.weight.requires_grad
    with pytest.raises(InputError, match="temperature=0"):
        Distillation(teacher, temperature=0)
    with pytest.raises(InputError, match="alpha=1.5"):
        Distillation(teacher, alpha=1.5)


@pytest.fixture(scope="module")
def digits_data():
    from openeie.compiler.digits import load_digits_split
    x_tr, y_tr, x_te, y_te = load_digits_split()
    return (x_tr, y_tr), (x_te, y_te)


def _mlp(seed=0):
    from openeie.compiler.digits import digits_mlp
    from openeie.compiler.prune import train_epochs
    from openeie.compiler.digits import load_digits_split
    model = digits_mlp((64, 48, 32, 10), seed=seed)
    x, y = load_digits_split()[:2]
    train_epochs(model, (x, y), 8, lr=3e-3, seed=seed)
    return model.eval()


def test_compress_with_low_rank_distillation_and_ternary_codebooks(digits_data):
    from openeie.compiler.compress import compress
    train, test = digits_data
    model = _mlp()
    net, rep = compress(model, train, density={"fc1": 0.5, "fc2": 0.5, "fc3": 0.8}, code_bits={"fc1": 3, "fc2": 4,
                        "fc3": 4}, eval_data=test, prune_steps=1, prune_epochs=1, finetune_epochs=1,
                        low_rank={"linear": 8, "skip": ["fc3"], "epochs": 1},
                        distill={"temperature": 3.0, "alpha": 0.5}, shared_values=2, progress=False)
    assert [l.name for l in net] == ["fc1.first", "fc1.second", "fc2.first", "fc2.second", "fc3"]
    assert [l.shape for l in net] == [(8, 64), (48, 8), (8, 48), (32, 8), (10, 32)]
    assert rep["code_bits"] == {"fc1.first": 3, "fc1.second": 3, "fc2.first": 4, "fc2.second": 4, "fc3": 4}
    for layer, d in zip(net, (0.5, 0.5, 0.5, 0.5, 0.8)):
        assert layer.nnz == round(d * layer.weight_count)                 # per-layer density reached the factors
        assert len(layer.codebook) == 3 and layer.codebook[0] == 0.0      # ternary: {0, w_n, w_p}
        assert layer.codebook[1] < 0 < layer.codebook[2]
    assert rep["low_rank"]["layers"]["fc1"]["ranks"] == [8] and rep["low_rank"]["layers"]["fc3"]["method"] == "kept"
    assert rep["distill"] == {"temperature": 3.0, "alpha": 0.5} and rep["shared_values"] == 2
    assert set(rep["accuracy"]) >= {"float", "low_rank", "low_rank_tuned", "pruned", "shared"}
    with pytest.raises(InputError, match="low_rank keys \\['rank'\\]"):
        compress(model, train, low_rank={"rank": 3})
    with pytest.raises(InputError, match="distill="):
        compress(model, train, distill={"T": 3})
    with pytest.raises(InputError, match="shared_values=16"):
        compress(model, train, code_bits=4, shared_values=16)
    with pytest.raises(InputError, match=r"density given for unknown layer\(s\) \['fc9'\]"):
        compress(model, train, density={"fc9": 0.5})


def test_distillation_changes_the_retraining(digits_data):
    """The distillation loss reaches the retraining: the same seed with and without it gives different weights."""
    from openeie.compiler.compress import compress
    train, _ = digits_data
    model = _mlp(1)
    kw = dict(density=0.3, code_bits=3, prune_steps=1, prune_epochs=1, finetune_epochs=0, progress=False)
    plain, _ = compress(model, train, **kw)
    distilled, _ = compress(model, train, distill={"temperature": 4.0, "alpha": 1.0}, **kw)
    again, _ = compress(model, train, **kw)
    assert [l.codebook.tolist() for l in plain] == [l.codebook.tolist() for l in again]
    assert [l.codebook.tolist() for l in plain] != [l.codebook.tolist() for l in distilled]
