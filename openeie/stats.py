"""Performance counters shared by the RTL, the cycle model and the energy model.

The RTL's counter registers and the cycle model use the same names, so a test can compare
``rtl_stats.as_dict() == cycle_stats.as_dict()`` in one assertion. All counts cover one run: from the cycle
after ``start`` up to and including the cycle the last layer's write-back finishes (output draining is not
counted).

Global counters (one number per run), in counter-port order
-----------------------------------------------------------
``cycles``            total cycles of the run
``broadcasts``        non-zero activations broadcast (one (j, a_j) pair to all PEs)
``bcast_stalls``      cycles the broadcaster held a non-zero but some PE's queue was full as it counts them
``fifo_pushes``       queue writes, summed over PEs (= broadcasts * n_pe)
``ptr_reads``         pointer SRAM reads, summed over PEs and both banks (2 per column a PE processes)
``spmat_reads``       sparse-matrix SRAM word reads, summed over PEs (a word is read only when the next
                      entry lies in another word than the last one read)
``codebook_reads``    codebook SRAM reads (one per entry, filler entries included)
``macs``              multiply-accumulates of real (non-filler) entries
``fillers``           filler entries processed
``acc_reads``         accumulator reads (one per real entry + one per output slot at write-back)
``acc_writes``        accumulator writes (one per real entry + one per output slot at bias initialisation)
``bias_reads``        bias SRAM reads (one per output slot per PE; on a requantising engine also one per written
                      activation per PE, its multiplier)
``act_reads``         activation reads by the broadcaster (n_pe per input group)
``act_writes``        activation writes at write-back (n_pe per output slot)
``layer_reads``       layer-table reads
``acc_saturations``   accumulations whose sum left the ``acc_bits`` range and was clamped (real entries, stage M)
``out_saturations``   outputs clamped to the ``act_bits`` range at write-back (a negative overflow under ReLU,
                      which gives 0 either way, does not count)

Per-PE and per-layer counters
-----------------------------
``pe_busy[p]``        cycles PE p's sparse-matrix read stage issued an entry (real or filler)
``layer_cycles[l]``   cycles of layer l (the run's cycles split by layer; they add up to ``cycles``)
``pe_idle[p]``        derived: ``cycles - pe_busy[p]``
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["COUNTERS", "Stats", "counter_index"]

COUNTERS = ("cycles", "broadcasts", "bcast_stalls", "fifo_pushes", "ptr_reads", "spmat_reads",
            "codebook_reads", "macs", "fillers", "acc_reads", "acc_writes", "bias_reads", "act_reads",
            "act_writes", "layer_reads", "acc_saturations", "out_saturations")


def counter_index(cfg) -> dict:
    """Address of every counter on the engine's counter port: the global counters in :data:`COUNTERS`
    order, then ``pe_busy[0..n_pe-1]``, then ``layer_cycles[0..max_layers-1]``."""
    index = {name: i for i, name in enumerate(COUNTERS)}
    base = len(COUNTERS)
    for p in range(cfg.n_pe):
        index[f"pe_busy[{p}]"] = base + p
    base += cfg.n_pe
    for l in range(cfg.max_layers):
        index[f"layer_cycles[{l}]"] = base + l
    return index


@dataclass
class Stats:
    """Cycles and counters of one run."""

    counters: dict
    pe_busy: np.ndarray
    layer_cycles: list
    extra: dict = field(default_factory=dict)   # model-only figures (e.g. ideal cycles); not compared

    @property
    def cycles(self) -> int:
        return int(self.counters["cycles"])

    @property
    def pe_idle(self) -> np.ndarray:
        return self.cycles - np.asarray(self.pe_busy)

    def as_dict(self) -> dict:
        """Everything the RTL also counts, as plain ints, for one-assertion comparison."""
        out = {name: int(self.counters[name]) for name in COUNTERS}
        out["pe_busy"] = [int(v) for v in self.pe_busy]
        out["layer_cycles"] = [int(v) for v in self.layer_cycles]
        return out

    @classmethod
    def from_counter_values(cls, cfg, values: dict, n_layers: int) -> "Stats":
        """The Stats of a run from the counter port's values (``{name: value}`` over :func:`counter_index`
        names), with ``layer_cycles`` of its ``n_layers`` layers. The one place counter values become Stats
        (the RTL testbench and the board's host driver both use it)."""
        return cls(counters={name: int(values[name]) for name in COUNTERS},
                   pe_busy=np.array([values[f"pe_busy[{p}]"] for p in range(cfg.n_pe)], dtype=np.int64),
                   layer_cycles=[int(values[f"layer_cycles[{l}]"]) for l in range(n_layers)])

    @classmethod
    def from_dict(cls, d: dict) -> "Stats":
        return cls(counters={k: int(d[k]) for k in COUNTERS}, pe_busy=np.asarray(d["pe_busy"], dtype=np.int64),
                   layer_cycles=[int(v) for v in d["layer_cycles"]])
