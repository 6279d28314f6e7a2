import json

import numpy as np

from openeie.flows.bench import bench_eie, eie_config
from openeie.compiler.benchmarks import EIE_LAYERS, random_layer
from openeie.sim.inputs import random_activations
from openeie.compiler.balance import balanced_assignment
from openeie.compiler.lower import decode, lower
from openeie.compiler.network import CompressedLayer, CompressedNetwork
from openeie.config import EngineConfig
from openeie.sim import cycle, golden


def test_balanced_assignment_is_valid_and_reduces_column_imbalance():
    layer = random_layer(512, 203, 0.25, 4, seed=3)
    row_pe, row_slot = balanced_assignment(layer, 16)
    assert np.bincount(row_pe, minlength=16).max() <= -(-203 // 16)
    pos = row_slot * 16 + row_pe
    assert len(set(pos.tolist())) == 203
    dense = layer.dense_codes() != 0

    def column_std(pe_of_row):
        loads = np.stack([dense[pe_of_row == p].sum(axis=0) for p in range(16)])
        return loads.std(axis=0).mean()

    assert column_std(row_pe) < column_std(np.arange(203) % 16)


def test_balanced_network_computes_the_same_outputs():
    rng = np.random.default_rng(5)
    cfg = EngineConfig(n_pe=4, spmat_depth_words=2048, ptr_depth=512, act_depth=64, bias_depth=256, max_layers=4)
    l1 = random_layer(40, 30, 0.3, 4, seed=1, name="a", relu=True)
    l1 = CompressedLayer(l1.shape, l1.rows, l1.cols, l1.codes, l1.codebook * 0.5, rng.normal(0, 0.3, 30), True, "a")
    l2 = random_layer(30, 7, 0.5, 4, seed=2, name="b")
    net = CompressedNetwork([l1, l2])
    plain = lower(net, cfg)
    balanced = lower(net, cfg, [balanced_assignment(l, 4) for l in net])
    for a, b in zip(decode(plain), decode(balanced)):
        assert np.array_equal(a, b)
    x = rng.integers(-200, 200, size=(5, 40))
    assert np.array_equal(golden.run_logical(plain, x), golden.run_logical(balanced, x))
    _, s1, _ = cycle.run(balanced, x[0])
    assert s1.counters["macs"] > 0


def test_bench_eie_schema(tmp_path):
    from openeie.report.tables import bench_eie_lines
    result = bench_eie(n_pe=64, fifo_depth=8, clock_mhz=800, seed=1, layers=["NT-We", "Alex-8"])
    lines = bench_eie_lines(result)
    json.dumps(result)
    assert set(result) >= {"config", "wall_s", "layers"}
    assert [r["name"] for r in result["layers"]] == ["Alex-8", "NT-We"]
    for r in result["layers"]:
        assert set(r) >= {"name", "cycles", "ideal_cycles", "time_us", "efficiency", "fillers"}
        assert r["ideal_cycles"] < r["cycles"] and 0 < r["efficiency"] < 1
        assert abs(r["time_us"] - r["cycles"] / 800) < 1e-9
    assert any("suite wall time" in l for l in lines)


def test_random_benchmark_generators_are_exact():
    layer = random_layer(300, 200, 0.1, 4, seed=0)
    assert layer.nnz == 6000
    x = random_activations(1000, 0.375, 16, seed=0)
    assert np.count_nonzero(x) == 375 and np.abs(x).max() < 1 << 15
