import csv
import json

import pytest

from openeie.flows.sweep import eie_context, expand_grid, pareto_front, point_config, run_sweep

GRID = {"code_bits": [2, 4], "rel_index_bits": [2, 4], "act_bits": [16], "n_pe": [16], "fifo_depth": [8]}


def test_grid_and_point_config():
    pts = expand_grid(GRID)
    assert len(pts) == 4 and pts[0] == {"code_bits": 2, "rel_index_bits": 2, "act_bits": 16, "n_pe": 16,
                                        "fifo_depth": 8}
    cfg = point_config({"code_bits": 6, "rel_index_bits": 5, "act_bits": 8, "n_pe": 4, "fifo_depth": 2}, {})
    assert (cfg.code_bits, cfg.act_bits, cfg.act_frac_bits, cfg.entries_per_word) == (6, 8, 2, 5)
    assert cfg.acc_bits >= cfg.weight_bits + cfg.act_bits
    with pytest.raises(ValueError, match=r"unknown sweep knob\(s\) \['pes'\]"):
        expand_grid({"pes": [1]})


def test_pareto_front():
    rows = [{"e": 1, "a": 0.5}, {"e": 2, "a": 0.9}, {"e": 3, "a": 0.8}, {"e": 1.5, "a": 0.5}, {"e": 4, "a": 0.95}]
    assert pareto_front(rows, "e", "a") == [0, 1, 4]


def test_sweep_local_processes(tmp_path):
    ctx = eie_context("NT-We", code_bits=(2, 4))
    res = run_sweep(ctx, GRID, tmp_path, workers=2, progress=False)
    assert res["points"] == 4 and res["failed"] == 0
    rows = list(csv.DictReader(open(tmp_path / "sweep.csv")))
    assert len(rows) == 4
    by = {(int(r["code_bits"]), int(r["rel_index_bits"])): r for r in rows}
    # wider codes cost storage; 2-bit indices need fillers, which cost storage and cycles
    assert float(by[(4, 4)]["storage_bits"]) > float(by[(2, 4)]["storage_bits"])
    assert float(by[(4, 2)]["cycles"]) > float(by[(4, 4)]["cycles"])
    for name in ("pareto_energy_cycles", "pareto_storage_cycles"):
        assert (tmp_path / f"{name}.png").exists() and (tmp_path / f"{name}.svg").exists()


def test_sweep_on_local_dask_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    ctx = eie_context("NT-We", code_bits=(2, 4))
    local = run_sweep(ctx, GRID, tmp_path / "local", workers=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        res = run_sweep(ctx, GRID, tmp_path / "dask", dask_address=cl.scheduler_address, progress=False)
    assert res["executor"].startswith("dask")
    assert json.loads(json.dumps(res["rows"])) == local["rows"]


def test_accuracy_path_with_labelled_context(tmp_path):
    import numpy as np
    from openeie.compiler.benchmarks import random_layer
    from openeie.compiler.lower import lower
    from openeie.compiler.network import CompressedNetwork
    from openeie.sim import golden
    from openeie.flows.sweep import SweepContext, evaluate_point
    rng = np.random.default_rng(0)
    nets = {cb: CompressedNetwork([random_layer(20, 30, 0.3, cb, seed=1, relu=True),
                                   random_layer(30, 5, 0.5, cb, seed=2)]) for cb in (3, 4)}
    x = rng.uniform(0, 1, size=(40, 20))
    base = dict(spmat_depth_words=1024, ptr_depth=256, act_depth=64, bias_depth=128, max_layers=2)
    ctx = SweepContext("toy", nets, x, None, base, cycle_inputs=3)
    point = {"code_bits": 4, "rel_index_bits": 4, "act_bits": 16, "n_pe": 4, "fifo_depth": 8}
    from openeie.flows.sweep import point_config
    program = lower(nets[4], point_config(point, base))
    labels = np.argmax(golden.run_logical(program, golden.quantize_input(program.config, x)), axis=1)
    labels[:10] = (labels[:10] + 1) % 5                      # make exactly 10 of 40 wrong
    ctx.y_test = labels
    row = evaluate_point(point, ctx)
    assert row["accuracy"] == 0.75 and row["cycles"] > 0 and row["energy_pj"] > 0
    bad = evaluate_point(dict(point, n_pe=1, act_bits=16), SweepContext("toy", nets, x, labels,
                                                                       dict(base, act_depth=4)))
    assert "exceed act_depth=4" in bad["error"]


@pytest.mark.slow
def test_fpga_area_estimate_per_point(tmp_path):
    from openeie.config import EngineConfig
    from openeie.flows.sweep import SweepContext, _area
    ctx = SweepContext("toy", {}, area_device="up5k", area_dir=str(tmp_path / "area"))
    cfg = EngineConfig(n_pe=1, fifo_depth=2, weight_bits=8, weight_frac_bits=6, act_bits=8, act_frac_bits=4,
                       acc_bits=16, entries_per_word=2, spmat_depth_words=1024, ptr_depth=256, act_depth=32,
                       bias_depth=64, max_layers=2)
    row = _area(cfg, ctx)
    assert row["fpga_fits"] is True and row["fpga_fmax_mhz"] > 5
    assert 0 < row["fpga_max_util_pct"] <= 100
