"""Cycle-exact model of the engine, written stage by stage from ``docs/engine.md``.

It returns the same cycles and counters as the RTL (CI compares them number for number) and the outputs of
the golden model, fast enough for AlexNet/VGG-sized layers at 64+ PEs: every stage is vectorised over PEs and the
only Python loop runs over the broadcast (non-zero) input columns of a layer.

Stages (sections of docs/engine.md) and where they live here:

* layer sequencing (DESC, INIT, COMPUTE, WB)           :func:`run`, :func:`layer_cycles` (the phase lengths of
                                                      :mod:`openeie.timing`)
* broadcast / LNZD over activation groups             :func:`_broadcast_schedule`
* activation queues + pointer read + sparse-matrix
  read, coupled through the queue-full stall          :func:`_compute_phase`
* sparse-matrix word reads                            :func:`_spmat_word_reads`
* arithmetic with bypass, write-back                  values and saturation counts from :mod:`openeie.sim.golden`
                                                      (same per-row accumulation order: storage column order)

The images are read through :attr:`openeie.program.Program.decoded` (pointers and real-entry prefix sums).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openeie.errors import InputError, check_int
from openeie.program import Program
from openeie.timing import ARITH_DRAIN, CREDIT_LATENCY, DESC_CYCLES, INIT_LATENCY, PUSH_TO_POP, T0, wb_latency
from openeie.stats import COUNTERS, Stats

from . import golden

__all__ = ["run", "LayerTiming", "layer_cycles"]

_NEG = -(1 << 40)  # "minus infinity" for cycle arithmetic


@dataclass
class LayerTiming:
    """Per-layer figures of one run (model-only extras beside the RTL counters)."""
    name: str
    cycles: int
    compute_cycles: int
    broadcasts: int
    macs: int
    fillers: int
    ideal_cycles: float
    efficiency: float
    counters: dict          # this layer's share of the run's global counters

    def stats(self) -> Stats:
        """This layer alone as a :class:`Stats` (per-PE busy counts are not split by layer: zeros)."""
        return Stats(counters=dict(self.counters), pe_busy=np.zeros(0, dtype=np.int64), layer_cycles=[self.cycles])


def _broadcast_schedule(x_storage: np.ndarray, n_pe: int, in_groups: int):
    """Non-zero columns in broadcast order and the all-zero groups before each (``z_k``) and after the last."""
    cols = np.flatnonzero(x_storage)
    groups = cols // n_pe
    prev = np.concatenate([[-1], groups[:-1]])
    z = np.where(groups != prev, groups - prev - 1, 0)
    z_end = in_groups - 1 - (int(groups[-1]) if len(groups) else -1)
    return cols, z, z_end


def _compute_phase(s: np.ndarray, z: np.ndarray, z_end: int, depth: int):
    """COMPUTE-phase length from the push/pop/begin recurrences of docs/engine.md.

    ``s``: (K, n_pe) cycles each PE's stage S spends on each broadcast column (``max(1, entries)``).
    Returns ``(compute_cycles, bcast_stalls)``.
    """
    k_total, n_pe = s.shape
    if k_total == 0:
        return T0 + z_end + 1, 0
    pops = np.empty((k_total, n_pe), dtype=np.int64)
    begin_prev = np.full(n_pe, _NEG, dtype=np.int64)      # begin_{p,k-1}
    move_prev = np.full(n_pe, _NEG, dtype=np.int64)       # move_{p,k-1}
    s_prev = np.zeros(n_pe, dtype=np.int64)
    push_prev = T0 - 1
    stalls = 0
    for k in range(k_total):
        ready = push_prev + 1 + int(z[k])
        push = ready
        if k >= depth:
            push = max(push, int(pops[k - depth].max()) + 1 + CREDIT_LATENCY)
        stalls += push - ready
        pop = np.maximum(push + PUSH_TO_POP, move_prev)
        move = np.maximum(pop + 1, begin_prev - 1)
        begin = np.maximum(move + 2, begin_prev + s_prev)
        pops[k] = pop
        begin_prev, move_prev, s_prev, push_prev = begin, move, s[k], push
    b_done = push_prev + 1 + z_end
    last_s = int((begin_prev + s_prev - 1).max())
    return max(b_done, last_s + ARITH_DRAIN) + 1, stalls


def _spmat_word_reads(starts, ends, epw, last_word):
    """Word reads of one PE's slices ``[starts, ends)`` processed in order, given the last word read before
    (``-1`` for none). Returns ``(reads, last_word)``."""
    nonempty = ends > starts
    s, e = starts[nonempty], ends[nonempty]
    if len(s) == 0:
        return 0, last_word
    first_w, last_w = s // epw, (e - 1) // epw
    prev_last = np.concatenate([[last_word], last_w[:-1]])
    reads = int((last_w - first_w + 1).sum() - (first_w == prev_last).sum())
    return reads, int(last_w[-1])


def layer_cycles(cfg, info, compute: int) -> int:
    """Cycles of one layer (a :class:`~openeie.program.LayerInfo`) on engine ``cfg``: DESC, INIT, COMPUTE
    (``compute`` cycles) and WB (docs/engine.md; a pooling write-back has one stage more, and so has a
    requantising one)."""
    return DESC_CYCLES + (info.acc_slots + INIT_LATENCY) + compute + (info.wb_reads + wb_latency(cfg, info.pool))


def run(program: Program, x_q, values: bool = True, fifo_depth: int | None = None):
    """Run one input vector (logical order, fixed point) through the program.

    Returns ``(outputs, stats, timings)``: the storage-order outputs of every layer (as
    :func:`openeie.sim.golden.run`), the :class:`~openeie.stats.Stats` the RTL would count, and a
    :class:`LayerTiming` per layer. With ``values=False`` (single-layer programs only) the outputs are not
    computed (``outputs`` is None): timing depends only on which inputs are non-zero, and the two saturation
    counters, which depend on the values, are reported as 0. ``fifo_depth`` overrides the configuration's queue
    depth (the images do not depend on it), for depth sweeps.
    """
    cfg = program.config
    n = cfg.n_pe
    depth = cfg.fifo_depth if fifo_depth is None else check_int(fifo_depth, "fifo_depth", 1)
    x_q = golden._fixed_inputs(x_q, "input activations")
    if x_q.ndim != 1:
        raise InputError(f"the cycle model runs one input vector at a time, got shape {x_q.shape}")
    if values:
        outputs, saturations = golden.run_counted(program, x_q)
    elif program.n_layers != 1:
        raise InputError("values=False needs a single-layer program: later layers' timing depends on values")
    else:
        outputs, saturations = None, [(0, 0)]
    decoded = program.decoded
    counters = dict.fromkeys(COUNTERS, 0)
    pe_busy = np.zeros(n, dtype=np.int64)
    per_layer, timings = [], []
    last_word = np.full(n, -1, dtype=np.int64)
    h = program.input_storage(x_q)
    for index, (info, layer) in enumerate(zip(program.layers, decoded.layers)):
        before = dict(counters)
        walk = info.patch_index().reshape(-1)                          # the broadcast walk over the input
        stream = np.where(walk >= 0, h[np.maximum(walk, 0)], 0)
        cols, z, z_end = _broadcast_schedule(stream, n, len(walk) // n)
        words_read = int(np.count_nonzero(walk[::n] >= 0))             # padding words are not read
        k_total = len(cols)
        cols = cols % layer.n_cols                                     # the same pointers at every position
        starts = layer.ptr[:, cols].T                                  # (K, n)
        ends = layer.ptr[:, cols + 1].T
        entries = ends - starts
        compute, stalls = _compute_phase(np.maximum(entries, 1), z, z_end, depth)
        real = np.stack([decoded.pes[p].real_prefix[ends[:, p]] - decoded.pes[p].real_prefix[starts[:, p]]
                         for p in range(n)], axis=1) if k_total else np.zeros((0, n), dtype=np.int64)
        macs = int(real.sum())
        n_entries = int(entries.sum())
        for p in range(n):
            reads, last_word[p] = _spmat_word_reads(starts[:, p], ends[:, p], cfg.entries_per_word, last_word[p])
            counters["spmat_reads"] += reads
        cycles = layer_cycles(cfg, info, compute)
        slots = info.acc_slots * n
        counters["broadcasts"] += k_total
        counters["bcast_stalls"] += stalls
        counters["fifo_pushes"] += k_total * n
        counters["ptr_reads"] += 2 * k_total * n
        counters["codebook_reads"] += n_entries
        counters["macs"] += macs
        counters["fillers"] += n_entries - macs
        counters["acc_reads"] += macs + info.wb_reads * n
        counters["acc_writes"] += macs + slots
        counters["bias_reads"] += slots + (info.out_words * n if cfg.requant else 0)   # + a multiplier per output
        counters["act_reads"] += words_read * n
        counters["act_writes"] += info.out_words * n
        counters["layer_reads"] += 1
        counters["acc_saturations"] += int(saturations[index][0])
        counters["out_saturations"] += int(saturations[index][1])
        counters["cycles"] += cycles
        pe_busy += entries.sum(axis=0)
        per_layer.append(cycles)
        timings.append(LayerTiming(info.name, cycles, compute, k_total, macs, n_entries - macs, macs / n,
                                   macs / (cycles * n), {k: counters[k] - before[k] for k in COUNTERS}))
        if outputs is not None:
            h = outputs[index]
    return outputs, Stats(counters=counters, pe_busy=pe_busy, layer_cycles=per_layer), timings
