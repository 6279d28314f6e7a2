"""k-means weight sharing: exact Lloyd's algorithm, code 0 = zero, summed-gradient centroid fine-tuning, export."""

import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import prune as torch_prune

from openeie.compiler.network import CompressedNetwork
from openeie.compiler.prune import single_thread, train_epochs
from openeie.compiler.share import (ShareError, SharedWeights, export_network, finetune_centroids,
                                       init_centroids, kmeans_1d, nearest_centroid, cluster_weights, share_weights)


@pytest.fixture(autouse=True)
def _one_thread():
    with single_thread():
        yield


def ref_nearest(values, centroids):
    """Naive reference: argmin of |v - c| (first index on ties)."""
    return np.argmin(np.abs(np.asarray(values)[:, None] - np.asarray(centroids)[None, :]), axis=1)


def ref_lloyd(values, centroids, max_iter=300):
    """Naive reference k-means: brute-force assignment, mean update, empty clusters stay put."""
    c = np.array(centroids, dtype=np.float64)
    labels = ref_nearest(values, c)
    for _ in range(max_iter):
        for j in range(len(c)):
            if np.any(labels == j):
                c[j] = np.mean(values[labels == j])
        new = ref_nearest(values, c)
        if np.array_equal(new, labels):
            break
        labels = new
    return c, labels


small = st.integers(-12, 12).map(lambda i: i / 4)     # exact binary fractions: ties really happen


@given(st.lists(small, min_size=1, max_size=40), st.lists(small, min_size=1, max_size=9))
@settings(max_examples=300, deadline=None)
def test_nearest_centroid_is_argmin_with_ties_to_lowest_index(values, centroids):
    np.testing.assert_array_equal(nearest_centroid(values, centroids), ref_nearest(values, centroids))


@given(st.lists(st.floats(-4, 4, allow_nan=False, width=32), min_size=1, max_size=60), st.integers(1, 7))
@settings(max_examples=100, deadline=None)
def test_kmeans_matches_naive_lloyd_and_is_a_fixed_point(values, k):
    v = np.array(values)
    res = kmeans_1d(v, k)
    c_ref, l_ref = ref_lloyd(v, np.linspace(v.min(), v.max(), k))
    np.testing.assert_array_equal(res.labels, l_ref)
    np.testing.assert_allclose(res.centroids, c_ref, rtol=0, atol=1e-12)
    assert res.converged
    np.testing.assert_array_equal(nearest_centroid(v, res.centroids), res.labels)
    for j in range(k):
        if np.any(res.labels == j):
            assert res.centroids[j] == pytest.approx(v[res.labels == j].mean(), abs=1e-12)


def test_kmeans_known_answer_and_matches_sklearn():
    res = kmeans_1d([1.0, 1.0, 2.0, 10.0, 11.0, 12.0], 2)
    np.testing.assert_allclose(res.centroids, [4 / 3, 11.0])
    np.testing.assert_array_equal(res.labels, [0, 0, 0, 1, 1, 1])
    assert res.inertia == pytest.approx(2 * (1 / 3) ** 2 + (2 / 3) ** 2 + 2.0)

    # sklearn relocates empty clusters where ours stay put: compare on data that leaves none empty
    from sklearn.cluster import KMeans
    v = np.random.default_rng(0).normal(size=2000)
    init = np.linspace(v.min(), v.max(), 15)
    res = kmeans_1d(v, 15)
    assert np.all(np.bincount(res.labels, minlength=15) > 0) and res.n_iter > 10
    km = KMeans(15, init=init[:, None], n_init=1, algorithm="lloyd", tol=0.0, max_iter=1000).fit(v[:, None])
    np.testing.assert_allclose(res.centroids, km.cluster_centers_[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(res.labels, km.labels_)


def test_kmeans_inertia_never_above_initial_assignment():
    v = np.random.default_rng(1).normal(size=500)
    for init in ("linear", "density", "random"):
        c0 = init_centroids(v, 7, init, seed=3)
        start = np.sum((v - c0[ref_nearest(v, c0)]) ** 2)
        assert kmeans_1d(v, 7, init=init, seed=3).inertia <= start + 1e-12


def test_initialisations():
    v = np.random.default_rng(2).normal(size=101)
    np.testing.assert_array_equal(init_centroids(v, 5, "linear"), np.linspace(v.min(), v.max(), 5))
    np.testing.assert_array_equal(init_centroids(v, 5, "density"), np.quantile(v, [0, 0.25, 0.5, 0.75, 1]))
    r1, r2, r3 = (init_centroids(v, 5, "random", seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(r1, r2)
    assert not np.array_equal(r1, r3) and np.all(np.isin(r1, v)) and len(np.unique(r1)) == 5
    np.testing.assert_array_equal(init_centroids([], 3), np.zeros(3))
    with pytest.raises(ShareError, match="'kmeans\\+\\+'.*linear"):
        init_centroids(v, 3, "kmeans++")


@pytest.mark.parametrize("code_bits", [1, 2, 4, 5])
def test_cluster_weights_codes_and_codebook(code_bits):
    rng = np.random.default_rng(code_bits)
    w = rng.normal(size=(40, 30))
    mask = rng.random(w.shape) < 0.3
    w[~mask] = 0.0
    w[0, 0], mask[0, 0] = 0.0, True        # a surviving weight that happens to be exactly zero keeps a code
    codes, codebook, res = cluster_weights(w, mask, code_bits)
    assert codebook.shape == (2 ** code_bits,) and codebook[0] == 0.0
    assert np.all(codes[~mask] == 0) and np.all(codes[mask] >= 1) and codes.max() <= 2 ** code_bits - 1
    assert len(np.unique(codes[mask])) <= 2 ** code_bits - 1
    assert res.converged
    np.testing.assert_array_equal(codes[mask] - 1, res.labels)
    # every surviving weight sits with its nearest shared value
    np.testing.assert_array_equal(nearest_centroid(w[mask], codebook[1:]) + 1, codes[mask])


def test_cluster_weights_default_mask_and_errors():
    w = np.array([[0.0, 1.0], [-2.0, 0.0]])
    codes, codebook, _ = cluster_weights(w, code_bits=2)
    assert codes[0, 0] == 0 and codes[1, 1] == 0 and codebook[codes[0, 1]] == 1.0 and codebook[codes[1, 0]] == -2.0
    with pytest.raises(ShareError, match="code_bits=0"):
        cluster_weights(w, code_bits=0)
    with pytest.raises(ShareError, match="mask shape"):
        cluster_weights(w, np.ones((3, 2), bool))
    with pytest.raises(ShareError, match="non-finite"):
        kmeans_1d([1.0, np.nan], 2)
    with pytest.raises(ShareError, match="k=0"):
        kmeans_1d([1.0], 0)


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict(fc1=nn.Linear(10, 16), relu1=nn.ReLU(), fc2=nn.Linear(16, 4)))


def data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 10)).astype(np.float32)
    y = (x[:, :4].argmax(axis=1)).astype(np.int64)
    return x, y


def test_centroid_gradient_is_the_summed_weight_gradient():
    m = mlp()
    dense = copy.deepcopy(m)
    torch_prune.random_unstructured(m.fc1, "weight", amount=0.5)
    share_weights(m, code_bits=3)
    codes = m.fc1.parametrizations.weight[0].codes
    with torch.no_grad():                  # the dense twin computes with exactly the shared weights
        dense.fc1.weight.copy_(m.fc1.weight)
        dense.fc2.weight.copy_(m.fc2.weight)
    x, y = (torch.as_tensor(a) for a in data(32))
    nn.functional.cross_entropy(m(x), y).backward()
    nn.functional.cross_entropy(dense(x), y).backward()
    g_w = dense.fc1.weight.grad
    g_c = m.fc1.parametrizations.weight.original.grad
    for k in range(1, 8):
        assert float(g_c[k]) == pytest.approx(float(g_w[codes == k].sum()), rel=1e-5, abs=1e-7)
    assert float(g_c[0]) == 0.0


def test_finetune_keeps_codes_and_zeros_and_lowers_loss():
    x, y = data()
    m = mlp()
    train_epochs(m, (x, y), 10, lr=1e-2)
    torch_prune.l1_unstructured(m.fc1, "weight", amount=0.7)
    mask = m.fc1.weight_mask.bool().numpy().copy()
    share_weights(m, code_bits=2)
    before = export_network(m)
    loss = finetune_centroids(m, (x, y), epochs=15, lr=1e-2)
    after = export_network(m)
    assert loss[-1] < loss[0]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a.dense_codes(), b.dense_codes())
        assert b.codebook[0] == 0.0 and len(b.codebook) == 4
    assert not np.array_equal(before[0].codebook, after[0].codebook)
    np.testing.assert_array_equal(after[0].dense_codes() == 0, ~mask)
    assert np.all(after[0].dense_weights()[~mask] == 0)


def test_export_matches_torch_forward_and_layer_metadata():
    m = mlp()
    share_weights(m, code_bits=4)
    net = export_network(m)
    assert isinstance(net, CompressedNetwork)
    assert [layer.name for layer in net] == ["fc1", "fc2"] and [layer.relu for layer in net] == [True, False]
    x, _ = data(50)
    with torch.no_grad():
        ref = m(torch.as_tensor(x)).double().numpy()
    np.testing.assert_allclose(net.float_forward(x), ref, rtol=1e-5, atol=1e-5)
    # the shared codebook is the k-means result of the original weights
    w = mlp().fc1.weight.detach().double().numpy()
    _, codebook, _ = cluster_weights(w, code_bits=4)
    np.testing.assert_allclose(net[0].codebook, codebook, rtol=1e-6)


def test_share_weights_errors():
    m = mlp()
    share_weights(m, code_bits=2)
    with pytest.raises(ShareError, match="already carries a parametrization"):
        share_weights(m, code_bits=2)
    with pytest.raises(ShareError, match="'fc1' is not weight-shared"):
        export_network(mlp())
    assert isinstance(m.fc1.parametrizations.weight[0], SharedWeights)
