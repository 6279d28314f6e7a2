"""The stage-by-stage stepper (openeie.testbench.stepper, written from docs/engine.md) as a second oracle: its
outputs equal the golden model's bit for bit, and its cycles and every counter the cycle model's, on the engine
case sets of tests/engine_cases.py (random layers and chains, named edge shapes, convolutions with every pooling,
requantising engines, n_pe 1..8, queue depths 1..8)."""

import numpy as np
import pytest

from engine_cases import ALL_CONFIGS, CONFIGS, CONV_CONFIGS, CONV_GRID, CONV_KINDS, EDGE_KINDS, make_cases
from openeie.sim import cycle, golden
from openeie.testbench.stepper import step_compute_phase, step_run

#: Cases per configuration in the default run, the RTL tests' sets (tests/test_hw_cocotb.py): every named edge
#: case and random networks (fully connected); the named convolution cases, the geometry grid and random
#: convolutions.
FC_COUNT = len(EDGE_KINDS) + 57
CONV_COUNT = len(CONV_KINDS) + len(CONV_GRID) + 21


def _compare(case):
    """Differences between the stepper and the golden / cycle models on one case (empty when equal)."""
    stepped = step_run(case.program, case.x_q)
    want = golden.run(case.program, case.x_q)
    _, stats, timings = cycle.run(case.program, case.x_q)
    diff = {}
    if len(stepped.outputs) != len(want) or any(a.tolist() != np.asarray(b).tolist()
                                                for a, b in zip(stepped.outputs, want)):
        diff["outputs"] = "differ from golden.run"
    model, got = stats.as_dict(), stepped.stats.as_dict()
    diff.update({k: (got[k], model[k]) for k in model if got[k] != model[k]})
    if stepped.compute_cycles != [t.compute_cycles for t in timings]:
        diff["compute_cycles"] = (stepped.compute_cycles, [t.compute_cycles for t in timings])
    return diff


def _check(config, seed, count):
    cases = make_cases(config, seed, count)
    bad = {case.case_id: d for case in cases if (d := _compare(case))}
    assert not bad, f"{len(bad)} of {len(cases)} cases differ (stepper, model): " + \
        "; ".join(f"{cid}: {d}" for cid, d in list(bad.items())[:5])


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_stepper_equals_golden_and_cycle_model_fully_connected(config):
    _check(config, 0, FC_COUNT)


@pytest.mark.parametrize("config", sorted(CONV_CONFIGS))
def test_stepper_equals_golden_and_cycle_model_convolutions(config):
    _check(config, 0, CONV_COUNT)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("config", sorted(ALL_CONFIGS))
def test_stepper_equals_golden_and_cycle_model_sweep(config, seed):
    _check(config, seed, (FC_COUNT if config in CONFIGS else CONV_COUNT) + 40)


@pytest.mark.parametrize("depth", [1, 2, 3, 5, 8])
def test_stepper_equals_cycle_model_over_queue_depths(depth):
    """The same images at other queue depths (the images do not depend on it)."""
    import dataclasses
    for config in ("pe4_c8_r4", "conv_pe3"):
        for case in make_cases(config, 0, 40)[::3]:
            program = dataclasses.replace(case.program, config=case.cfg.replace(fifo_depth=depth))
            got = step_run(program, case.x_q).stats.as_dict()
            want = cycle.run(case.program, case.x_q, fifo_depth=depth)[1].as_dict()
            assert got == want, case.case_id


def test_compute_phase_by_hand():
    """1 PE, queue depth 1, columns 0 and 2 non-zero with 3 and 0 entries: pushes at 1 and 5 (stalls at 3 and 4:
    the first pair is popped at 3 and the broadcaster counts the pop from 5 on), pops at 3 and 7, S holds 6..8 and
    10; COMPUTE = max(B = 6, 10 + 5) + 1 = 16."""
    compute, stalls, busy = step_compute_phase([5, 0, 7], [[3, 4, 0]], 1, 3, 1)
    assert (compute, stalls, busy) == (16, 2, [3])
    # all zero: B = T0 + groups
    assert step_compute_phase([0, 0, 0, 0], [[1, 1], [2, 2]], 2, 2, 4) == (4, 0, [0, 0])
