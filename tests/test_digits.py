"""The bundled digits model and the whole Deep Compression pipeline on it (accuracy and storage, measured)."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from openeie.compiler.compress import compress, network_accuracy
from openeie.compiler.storage import storage_report
from openeie.report.tables import compress_table
from openeie.compiler.digits import (DIGITS_RECIPE, compress_digits, digits_mlp, load_digits_split,
                                     train_digits_mlp)
from openeie.compiler.frontend import FrontendError, extract_layers
from openeie.compiler.lower import decode, lower
from openeie.compiler.prune import single_thread
from openeie.config import EngineConfig


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("digits_cache")


@pytest.fixture(scope="module")
def trained(cache):
    return train_digits_mlp(cache)


@pytest.fixture(scope="module")
def compressed(cache, trained):
    return compress_digits(cache)


def test_split_is_fixed_stratified_and_scaled():
    x_tr, y_tr, x_te, y_te = load_digits_split()
    assert x_tr.shape == (1257, 64) and x_te.shape == (540, 64)
    assert x_tr.dtype == np.float32 and x_tr.min() == 0.0 and x_tr.max() == 1.0
    np.testing.assert_allclose(np.bincount(y_te) / len(y_te), np.bincount(y_tr) / len(y_tr), atol=0.01)
    again = load_digits_split()
    assert all(np.array_equal(a, b) for a, b in zip((x_tr, y_tr, x_te, y_te), again))


def test_trained_model_and_cache(cache, trained):
    model, info = trained
    assert info["test_accuracy"] >= 0.96
    assert [(d["name"], d["relu"]) for d in extract_layers(model)] == [("fc1", True), ("fc2", True),
                                                                       ("fc3", False)]
    assert info["path"].suffix == ".safetensors" and info["path"].parent == cache
    again, info2 = train_digits_mlp(cache)
    assert info2["cached"] and info2["path"] == info["path"] and info2["test_accuracy"] == info["test_accuracy"]
    for k, v in model.state_dict().items():
        assert torch.equal(again.state_dict()[k], v)


def test_training_is_deterministic_and_damaged_cache_is_retrained(tmp_path):
    a, info_a = train_digits_mlp(tmp_path, epochs=2)
    b, _ = train_digits_mlp(None, epochs=2)
    assert all(torch.equal(pa, pb) for pa, pb in zip(a.parameters(), b.parameters()))
    info_a["path"].write_bytes(b"damaged")
    c, info_c = train_digits_mlp(tmp_path, epochs=2)
    assert not info_c["cached"]
    assert all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))
    assert train_digits_mlp(tmp_path, epochs=2)[1]["cached"]


def test_headline_compression_and_accuracy(compressed):
    """Deep Compression's LeNet-300-100 claim on digits: >= 40x with <= 0.5 point accuracy loss."""
    network, report = compressed
    acc, total = report["accuracy"], report["storage"]["total"]
    assert acc["float"] - acc["shared"] <= 0.005, acc
    assert total["compression_ratio_huffman"] >= 40.0, total
    assert total["compression_ratio"] >= 35.0, total
    assert [layer.name for layer in network] == ["fc1", "fc2", "fc3"]
    for layer, (name, d) in zip(network, DIGITS_RECIPE["density"].items()):
        assert len(layer.codebook) == 16 and layer.codebook[0] == 0.0
        assert layer.nnz == round(d * layer.n_out * layer.n_in)
    assert all(k["converged"] for k in report["kmeans"].values())


def test_compressed_network_runs_on_the_default_engine(compressed):
    network, report = compressed
    prog = lower(network, EngineConfig())
    for layer, codes in zip(network, decode(prog)):
        np.testing.assert_array_equal(codes, layer.dense_codes())
    x_tr, y_tr, x_te, y_te = load_digits_split()
    assert network_accuracy(network, (x_te, y_te)) == report["accuracy"]["shared"]


def test_storage_table_counts(compressed):
    network, report = compressed
    s = report["storage"]
    cfg = EngineConfig.from_dict(report["config"])
    assert cfg.n_pe == 1 and cfg.rel_index_bits == 5 and cfg.code_bits == 4
    rows = s["layers"]
    for row, layer, n_ptr in zip(rows, network, (66, 302, 102)):      # n_in + 1 pointers, padded to even
        assert row["nnz"] == layer.nnz and row["entries"] == layer.nnz + row["fillers"]
        assert row["spmat_bits"] == row["entries"] * 9
        assert (row["code_width_bits"], row["index_width_bits"]) == (4, 5)
        assert row["pointer_bits"] == n_ptr * cfg.ptr_bits
        assert row["codebook_bits"] == 16 * 16 and row["bias_bits"] == 16 * layer.n_out
        assert row["dense_fp32_bits"] == 32 * (layer.n_out * layer.n_in + layer.n_out)
        assert row["total_bits"] == row["spmat_bits"] + row["pointer_bits"] + 256 + row["bias_bits"]
        assert row["code_huffman_bits"] <= row["entries"] * 4 + 64
        assert row["compression_ratio"] == row["dense_fp32_bits"] / row["total_bits"]
    assert s["total"]["dense_fp32_bits"] == 32 * (64 * 300 + 300 * 100 + 100 * 10 + 410)
    assert s["total"]["total_bits"] == sum(r["total_bits"] for r in rows)
    assert s["total"]["compression_ratio_huffman"] == s["total"]["dense_fp32_bits"] / s["total"]["total_huffman_bits"]
    text = compress_table(report)
    assert "fc2" in text and "total" in text and "shared" in text


def test_compress_leaves_the_input_model_alone_and_checks_arguments(trained):
    model, _ = trained
    before = copy.deepcopy(model.state_dict())
    x_tr, y_tr, _, _ = load_digits_split()
    with single_thread():
        net, report = compress(model, (x_tr[:200], y_tr[:200]), density=0.3, code_bits=3, prune_steps=1,
                               prune_epochs=1, finetune_epochs=1, progress=False)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    assert report["accuracy"] == {} and len(net[0].codebook) == 8
    assert storage_report(lower(net, EngineConfig(code_bits=3))).total.nnz == sum(layer.nnz for layer in net)
    with pytest.raises(ValueError, match="cfg.code_bits=4 differs from code_bits=3"):
        compress(model, (x_tr, y_tr), code_bits=3, cfg=EngineConfig(), progress=False)
    with pytest.raises(FrontendError, match="Tanh"):
        compress(nn.Sequential(nn.Linear(2, 2), nn.Tanh()), (x_tr, y_tr), progress=False)
    assert digits_mlp().fc1.weight.shape == (300, 64)
