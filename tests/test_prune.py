"""Magnitude pruning: exact targets, schedule, sensitivity thresholds, masks honoured, zeros kept in retraining."""

import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from openeie.compiler.frontend import extract_layers
from openeie.compiler.prune import (MagnitudePruner, PruneError, accuracy, iterate_batches, prune_and_retrain,
                                    clone_model, sensitivity_scan, single_thread, train_epochs)


@pytest.fixture(autouse=True)
def _one_thread():
    with single_thread():
        yield


def mlp(seed=0, widths=(12, 20, 16, 3)):
    torch.manual_seed(seed)
    mods = OrderedDict()
    for i in range(len(widths) - 1):
        mods[f"fc{i + 1}"] = nn.Linear(widths[i], widths[i + 1])
        if i < len(widths) - 2:
            mods[f"relu{i + 1}"] = nn.ReLU()
    return nn.Sequential(mods)


def blobs(n=300, seed=0):
    """A small separable 3-class problem in 12 dimensions."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2.0, (3, 12))
    y = rng.integers(0, 3, n)
    x = centers[y] + rng.normal(0, 1.0, (n, 12))
    return x.astype(np.float32), y.astype(np.int64)


def ref_topk_mask(w, k):
    """Naive reference: True at the k largest |w| (no ties in random float weights)."""
    flat = np.abs(w).ravel()
    keep = np.zeros(flat.shape, dtype=bool)
    keep[np.argsort(-flat, kind="stable")[:k]] = True
    return keep.reshape(w.shape)


@pytest.mark.parametrize("density", [1.0, 0.5, 0.1, 0.013])
def test_density_target_keeps_exactly_the_largest(density):
    m = mlp()
    dense = {n: getattr(m, n).weight.detach().numpy().copy() for n in ("fc1", "fc2", "fc3")}
    p = MagnitudePruner(m, density=density).prepare()
    p.step(1.0)
    for name, w in dense.items():
        mask = getattr(m, name).weight_mask.bool().numpy()
        k = int(round(density * w.size))
        assert mask.sum() == k
        np.testing.assert_array_equal(mask, ref_topk_mask(w, k))
        np.testing.assert_array_equal(getattr(m, name).weight.detach().numpy(), np.where(mask, w, 0))


def test_per_layer_dict_and_geometric_schedule():
    m = mlp()
    p = MagnitudePruner(m, density={"fc2": 0.1}).prepare()
    seen = []
    for s in range(1, 5):
        seen.append(p.step(s / 4))
    assert [d["fc1"] for d in seen] == [1.0] * 4 and [d["fc3"] for d in seen] == [1.0] * 4
    fc2 = [d["fc2"] for d in seen]
    expected = [round(0.1 ** (s / 4) * 320) / 320 for s in range(1, 5)]
    np.testing.assert_allclose(fc2, expected)
    assert fc2 == sorted(fc2, reverse=True)


def test_quality_threshold_is_quality_times_std():
    m = mlp()
    w = m.fc1.weight.detach().numpy().copy()
    p = MagnitudePruner(m, quality=0.8).prepare()
    p.step(0.5)
    np.testing.assert_array_equal(m.fc1.weight_mask.bool().numpy(), np.abs(w) > 0.4 * w.std())
    p.step(1.0)
    np.testing.assert_array_equal(m.fc1.weight_mask.bool().numpy(), np.abs(w) > 0.8 * w.std())


def test_existing_masks_are_never_unpruned():
    m = mlp()
    torch.manual_seed(3)
    torch_prune.random_unstructured(m.fc1, "weight", amount=0.6)
    old = m.fc1.weight_mask.bool().clone()
    with torch.no_grad():                       # make the pruned weights the largest: they must stay pruned
        m.fc1.weight_orig[~old] = 100.0
    p = MagnitudePruner(m, density=0.2).prepare()
    p.step(1.0)
    new = m.fc1.weight_mask.bool()
    assert not (new & ~old).any()
    assert int(new.sum()) == round(0.2 * new.numel())
    assert float(m.fc1.weight.abs().max()) < 100.0


def test_retraining_keeps_pruned_weights_zero_and_squash():
    m = mlp()
    x, y = blobs()
    p = MagnitudePruner(m, density=0.3).prepare()
    p.step(1.0)
    masks = p.masks()
    train_epochs(m, (x, y), 3, lr=1e-2, seed=0)
    for name, mod in (("fc1", m.fc1), ("fc2", m.fc2), ("fc3", m.fc3)):
        assert torch.equal(mod.weight_mask.bool(), masks[name])
        assert torch.all(mod.weight[~masks[name]] == 0)
        assert np.all(extract_layers(m)[int(name[-1]) - 1]["weight"][~masks[name].numpy()] == 0)
    before = {n: (getattr(m, n).weight_orig * masks[n]).detach().clone() for n in ("fc1", "fc2", "fc3")}
    p.squash_mask()
    for name in ("fc1", "fc2", "fc3"):
        mod = getattr(m, name)
        assert not hasattr(mod, "weight_mask") and isinstance(mod.weight, nn.Parameter)
        assert torch.equal(mod.weight.detach(), before[name])


def test_prune_and_retrain_recovers_accuracy():
    x, y = blobs(400)
    m = mlp()
    train_epochs(m, (x, y), 20, lr=1e-2, seed=0)
    base = accuracy(m, (x, y))
    one_shot = copy.deepcopy(m)
    prune_and_retrain(one_shot, (x, y), density=0.15, steps=1, epochs_per_step=0)
    retrained = copy.deepcopy(m)
    dens = prune_and_retrain(retrained, (x, y), density=0.15, steps=3, epochs_per_step=10, lr=1e-2)
    assert all(abs(d - round(0.15 * n) / n) < 1e-6 for d, n in zip(dens.values(), (240, 320, 48)))
    assert accuracy(retrained, (x, y)) > accuracy(one_shot, (x, y))
    assert accuracy(retrained, (x, y)) >= base - 0.05
    for mod in (retrained.fc1, retrained.fc2, retrained.fc3):
        assert not hasattr(mod, "weight_mask")
        assert int((mod.weight != 0).sum()) == round(0.15 * mod.weight.numel())


def test_training_is_deterministic():
    x, y = blobs()
    a, b = mlp(), mlp()
    la = train_epochs(a, (x, y), 2, seed=5)
    lb = train_epochs(b, (x, y), 2, seed=5)
    assert la == lb
    assert all(torch.equal(pa, pb) for pa, pb in zip(a.parameters(), b.parameters()))


def test_sensitivity_scan_leaves_model_untouched():
    x, y = blobs()
    m = mlp()
    train_epochs(m, (x, y), 5, lr=1e-2)
    w = m.fc1.weight.detach().clone()
    scan = sensitivity_scan(m, lambda mm: accuracy(mm, (x, y)), densities=(0.5, 0.01))
    assert set(scan) == {"fc1", "fc2", "fc3"} and all(len(v) == 2 for v in scan.values())
    assert scan["fc1"][1][1] <= scan["fc1"][0][1]
    assert torch.equal(m.fc1.weight, w) and not hasattr(m.fc1, "weight_mask")


@pytest.mark.parametrize("kwargs, match", [
    ({}, "exactly one"),
    ({"density": 0.5, "quality": 1.0}, "exactly one"),
    ({"density": 0.0}, r"density 0.0 for layer 'fc1'.*\(0, 1\]"),
    ({"density": 1.5}, r"density 1.5"),
    ({"density": {"fc9": 0.5}}, r"unknown layer\(s\) \['fc9'\]"),
    ({"quality": -1.0}, "quality -1.0"),
])
def test_bad_targets(kwargs, match):
    with pytest.raises(PruneError, match=match):
        MagnitudePruner(mlp(), **kwargs)


def test_bad_usage():
    p = MagnitudePruner(mlp(), density=0.5)
    with pytest.raises(PruneError, match="before prepare"):
        p.step(1.0)
    p.prepare()
    with pytest.raises(PruneError, match=r"fraction 1.5"):
        p.step(1.5)
    with pytest.raises(PruneError, match="steps=0"):
        prune_and_retrain(mlp(), blobs(), density=0.5, steps=0)
    with pytest.raises(PruneError, match="3 inputs but 2 labels"):
        list(iterate_batches((np.zeros((3, 2)), np.zeros(2))))


def test_clone_model_of_a_pruned_model_after_forward():
    m = mlp()
    torch_prune.random_unstructured(m.fc1, "weight", amount=0.5)
    m(torch.zeros(1, 12))                       # makes fc1.weight a non-leaf tensor: plain deepcopy refuses
    with pytest.raises(RuntimeError):
        copy.deepcopy(m)
    c = clone_model(m)
    assert torch.equal(c.fc1.weight_mask, m.fc1.weight_mask) and not m.fc1.weight.is_leaf
    x = torch.randn(4, 12)
    assert torch.equal(c(x), m(x))
    prune_and_retrain(c, blobs(), density=0.2, steps=1, epochs_per_step=1)
    assert not ((c.fc1.weight != 0) & ~m.fc1.weight_mask.bool()).any()
