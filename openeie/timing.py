"""The numbers of the cycle contract (``docs/engine.md``), named once: the RTL (:mod:`openeie.hw`), the cycle
model (:mod:`openeie.sim.cycle`), the stepper and the host link all read them from here."""

from __future__ import annotations

__all__ = ["T0", "PUSH_TO_POP", "CREDIT_LATENCY", "DESC_CYCLES", "INIT_LATENCY", "WB_LATENCY", "POOL_LATENCY", "REQUANT_LATENCY", "ARITH_DRAIN",
           "COUNTER_LATENCY", "wb_latency"]

#: First COMPUTE cycle in which the broadcaster holds group 0.
T0 = 1
#: A pair pushed at t is written into the queues at t+1 (from the broadcast register) and poppable from t+2.
PUSH_TO_POP = 2
#: A PE's pop at t is in a register beside the broadcaster at t+1 and in its count of the queue from t+2: the
#: count at t is pushes before t minus pops before ``t - CREDIT_LATENCY``.
CREDIT_LATENCY = 1
#: DESC lasts this many cycles (layer-table address, then the registered descriptor).
DESC_CYCLES = 2
#: INIT lasts ``out_slots + INIT_LATENCY`` cycles (bias read, then the accumulator write one cycle later).
INIT_LATENCY = 1
#: WB lasts ``out_slots + WB_LATENCY`` cycles: accumulator read -> registered read data -> registered
#: round/saturate/ReLU -> bank write.
WB_LATENCY = 3
#: A pooling write-back (docs/engine.md, "Convolution layers") has one stage more: the window's combination.
POOL_LATENCY = 1
#: A requantising write-back (docs/engine.md, "Requantisation") has one stage more: the registered product of the
#: accumulator (or the pooled window) and the row's multiplier.
REQUANT_LATENCY = 1


def wb_latency(cfg, pooled: bool) -> int:
    """Cycles WB lasts beyond its accumulator reads: :data:`WB_LATENCY`, + :data:`POOL_LATENCY` for a pooling
    layer, + :data:`REQUANT_LATENCY` on a requantising engine."""
    return WB_LATENCY + POOL_LATENCY * bool(pooled) + REQUANT_LATENCY * cfg.requant

#: Cycles from the last cycle in which stage S held a slice to the first cycle after the last accumulator write
#: (stages E, D, P and M follow S): the ``L + ARITH_DRAIN`` of "End of COMPUTE"; the arithmetic stages count as
#: busy for ``ARITH_DRAIN - 1`` cycles after S held a slice.
ARITH_DRAIN = 5
#: The counter port shows the counter selected this many cycles earlier.
COUNTER_LATENCY = 2
