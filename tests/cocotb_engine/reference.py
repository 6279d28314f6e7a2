"""Reference cycle counts, counters and layer inputs of a run, from the stage-by-stage simulator of
docs/engine.md (:func:`openeie.testbench.stepper.step_run`).

The stepper is written from the contract's stages (broadcaster, queues, pointer read, sparse-matrix read,
arithmetic with bypass, write-back, controller), not from the cycle model's recurrences, so the RTL and the
cycle model are held to an independent formulation; ``tests/test_stepper.py`` holds the stepper to the golden
model (values) and to the cycle model (cycles and every counter).
"""

from __future__ import annotations

from openeie.testbench.stepper import step_run

__all__ = ["ref_stats", "ref_layer_inputs", "ref_saturations"]


def ref_layer_inputs(program, x_q) -> list:
    """Storage-order input of every layer (layer 0's from ``x_q``, the others as the stepper's banks hold them)."""
    outputs = step_run(program, x_q).outputs
    return [program.input_storage(x_q)] + outputs[:-1]


def ref_saturations(program, x_q):
    """``(acc_saturations, out_saturations)`` of a run."""
    counters = step_run(program, x_q).stats.counters
    return counters["acc_saturations"], counters["out_saturations"]


def ref_stats(program, x_q) -> dict:
    """Counters of a run as ``Stats.as_dict()`` (``layer_cycles`` has one entry per layer of the program)."""
    return step_run(program, x_q).stats.as_dict()
