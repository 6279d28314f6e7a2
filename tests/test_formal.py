"""Formal contracts of five blocks, by bounded model checking (SymbiYosys + yices, see tests/formal/).

Each block is checked against a naive reference model over all input sequences of the given length, and every
contract is shown to be able to fail: a mutant (one line of the block's source changed) must be caught.
"""

from __future__ import annotations

import pytest

from openeie.config import EngineConfig

from formal.mutants import MUTANTS, mutant_class
from formal.runner import missing_tools, run_bmc
from formal.specs import ArithBypassSpec, CreditSpec, LnzdSpec, PointerSpec, QueueSpec

pytestmark = pytest.mark.skipif(missing_tools() is not None, reason=str(missing_tools()))

# Narrow words keep the solver's work small; the contracts do not depend on the widths.
TINY = dict(weight_bits=3, weight_frac_bits=1, act_bits=3, act_frac_bits=1, acc_bits=6, code_bits=2,
            rel_index_bits=2, entries_per_word=2, spmat_depth_words=8, bias_depth=4, max_layers=1)


def tiny(**overrides) -> EngineConfig:
    return EngineConfig(**{"n_pe": 2, "fifo_depth": 2, "ptr_depth": 8, "act_depth": 4, **TINY, **overrides})


def _check(spec, depth):
    result = run_bmc(spec, depth)
    failed = [line for line in result.log.splitlines() if "Assert failed" in line or "summary" in line]
    assert result.passed, f"BMC {result.status} after {result.seconds:.1f} s:\n" + "\n".join(failed)
    return result


# ---- queue: a naive FIFO (depth one, two, three, a power of two and one beyond it) --------------------------

@pytest.mark.parametrize("fifo_depth", [1, 2, 3, 4, 5, pytest.param(8, marks=pytest.mark.slow)])
def test_queue_equals_naive_fifo(fifo_depth):
    # fill, drain and wrap around (depth 8 takes over 10 minutes at 20 steps: slow)
    _check(QueueSpec(tiny(fifo_depth=fifo_depth)), depth=2 * fifo_depth + 4)


# ---- the broadcaster's count of a queue: event counts, a pop seen a cycle late ------------------------------

@pytest.mark.parametrize("fifo_depth", [1, 2, 3, 4, 5, 8])
def test_queue_credit_equals_event_counts(fifo_depth):
    # fill to full and back (depth 8: 22 steps in about 7 s; 16 does not finish in 10 minutes)
    _check(CreditSpec(tiny(fifo_depth=fifo_depth)), depth=2 * fifo_depth + 6)


# ---- pointer read: the naive read of one flat pointer memory ------------------------------------------------

@pytest.mark.parametrize("ptr_depth", [2, 4, 8, 16])
def test_pointer_read_equals_naive_read(ptr_depth):
    _check(PointerSpec(tiny(ptr_depth=ptr_depth)), depth=8)


# ---- leading non-zero detection: the lowest set lane, the one the broadcaster clears ------------------------

@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 7, 8, 16, 64])
def test_lnzd_picks_lowest_lane(width):
    _check(LnzdSpec(width), depth=1)


# ---- accumulator bypass: a naive accumulate-per-row model ---------------------------------------------------

@pytest.mark.parametrize("act_depth,widths", [
    (1, {}),
    (2, {}),
    (4, {}),
    (8, dict(weight_bits=4, act_bits=4, acc_bits=8)),
])
def test_accumulator_bypass_equals_naive_accumulate(act_depth, widths):
    _check(ArithBypassSpec(tiny(n_pe=1, act_depth=act_depth, **widths)), depth=9)


# ---- every contract can fail ----------------------------------------------------------------------------------

def _mutant_spec(name):
    cls = mutant_class(name)
    block = MUTANTS[name][1]
    if block == "ActivationQueue":
        return QueueSpec(tiny(fifo_depth=2), cls), 8
    if block == "QueueCredit":
        return CreditSpec(tiny(fifo_depth=2), cls), 10
    if block == "PointerReadUnit":
        return PointerSpec(tiny(), cls), 8
    if block == "LeadingNonZero":
        return LnzdSpec(4, cls), 1
    return ArithBypassSpec(tiny(n_pe=1), cls), 9


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_is_detected(name):
    spec, depth = _mutant_spec(name)
    result = run_bmc(spec, depth)
    assert result.status == "FAIL", f"mutant {name} ({MUTANTS[name][4]}) not detected: {result.status}"
