"""Reference cycle counts and counters, computed straight from the recurrences of docs/engine.md.

This is deliberately *not* a cycle-by-cycle simulation (that is ``openeie.sim.cycle``, which mirrors the RTL's
stage structure): it evaluates the closed-form push/pop/begin recurrences, ``B``, ``L`` and the phase lengths
of the contract, so the RTL is held to the text of the contract by an independent formulation.
"""

from __future__ import annotations

import numpy as np

from openeie.sim import golden
from openeie.stats import COUNTERS

__all__ = ["ref_stats", "ref_layer_inputs"]

_NEG = -(1 << 60)


def ref_layer_inputs(program, x_q) -> list:
    """Storage-order input of every layer (layer 0's from ``x_q``, the others from the golden model)."""
    outs = golden.run(program, x_q)
    return [program.input_storage(x_q)] + [np.asarray(o) for o in outs[:-1]]


def ref_saturations(program, x_q):
    """``(acc_saturations, out_saturations)`` of a run, from the golden model."""
    _, sats = golden.run_counted(program, x_q)
    return sum(int(a) for a, _ in sats), sum(int(o) for _, o in sats)


def _compute_phase(cfg, x, counts):
    """COMPUTE length, stall cycles and per-PE column slice lengths of one layer.

    ``x``: storage-order input activations; ``counts[p, j]``: entries of PE p in column j.
    """
    n, depth = cfg.n_pe, cfg.fifo_depth
    in_groups = len(x) // n
    cols = np.flatnonzero(x)
    t0 = 1
    push, pops = [], []                                # pops[k][p]
    begin = np.full(n, _NEG, dtype=np.int64)           # begin_{p,k-1}
    move = np.full(n, _NEG, dtype=np.int64)            # move_{p,k-1}: stage P hands column k-1 to Q
    span = np.zeros(n, dtype=np.int64)                 # s_{p,k-1}
    stalls = 0
    prev_group = -1
    for k, j in enumerate(cols):
        group = j // n
        z = max(0, group - prev_group - 1) if k else group
        earliest = (push[-1] + 1 + z) if k else t0 + z
        t = earliest
        if k >= depth:
            t = max(t, int(max(pops[k - depth])) + 1)
        stalls += t - earliest
        push.append(t)
        pop = np.maximum(t + 2, move)
        s = np.maximum(1, counts[:, j])
        move = np.maximum(pop + 1, np.where(begin > _NEG, begin - 1, _NEG))
        begin = np.maximum(move + 2, np.where(begin > _NEG, begin + span, _NEG))
        span = s
        pops.append(pop)
        prev_group = group
    if len(cols):
        finish = push[-1] + 1 + (in_groups - 1 - prev_group)
        last_held = int(np.max(begin + span - 1))
        return max(finish, last_held + 5) + 1, stalls
    return t0 + in_groups + 1, 0


def ref_stats(program, x_q) -> dict:
    """Counters of a run as ``Stats.as_dict()`` (``layer_cycles`` has one entry per layer of the program)."""
    cfg = program.config
    n, epw = cfg.n_pe, cfg.entries_per_word
    c = dict.fromkeys(COUNTERS, 0)
    pe_busy = np.zeros(n, dtype=np.int64)
    layer_cycles = []
    last_word = [None] * n
    ptrs = [stream.pointers for stream in program.decoded.pes]
    codes = [stream.codes for stream in program.decoded.pes]
    for index, (info, x) in enumerate(zip(program.layers, ref_layer_inputs(program, x_q))):
        p_layer = np.stack([ptrs[p][info.ptr_base: info.ptr_base + info.n_cols + 1] for p in range(n)])
        counts = np.diff(p_layer, axis=1)
        compute, stalls = _compute_phase(cfg, x, counts)
        slots = info.out_slots
        layer_cycles.append(2 + (slots + 1) + compute + (slots + 3 + cfg.requant))   # requantising: a product stage
        cols = np.flatnonzero(x)
        k = len(cols)
        c["broadcasts"] += k
        c["bcast_stalls"] += stalls
        c["fifo_pushes"] += k * n
        c["ptr_reads"] += 2 * k * n
        for p in range(n):
            for j in cols:
                start, end = int(p_layer[p, j]), int(p_layer[p, j + 1])
                if end <= start:
                    continue
                pe_busy[p] += end - start
                words = np.arange(start, end) // epw
                changes = int(np.count_nonzero(words[1:] != words[:-1]))
                c["spmat_reads"] += changes + int(last_word[p] != words[0])
                last_word[p] = int(words[-1])
                entry_codes = codes[p][start:end]
                fillers = int(np.count_nonzero(entry_codes == 0))
                c["fillers"] += fillers
                c["macs"] += (end - start) - fillers
        c["acc_reads"] += n * slots
        c["acc_writes"] += n * slots
        c["bias_reads"] += n * slots * (2 if cfg.requant else 1)     # requantising: the multiplier in WB
        c["act_reads"] += n * info.in_groups
        c["act_writes"] += n * slots
        c["layer_reads"] += 1
    c["codebook_reads"] = int(pe_busy.sum())
    c["acc_reads"] += c["macs"]
    c["acc_writes"] += c["macs"]
    c["cycles"] = int(sum(layer_cycles))
    c["acc_saturations"], c["out_saturations"] = ref_saturations(program, x_q)
    out = {name: int(c[name]) for name in COUNTERS}
    out["pe_busy"] = [int(v) for v in pe_busy]
    out["layer_cycles"] = [int(v) for v in layer_cycles]
    return out
