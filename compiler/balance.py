"""Load-aware row assignment: place rows on PEs so that every column's work is spread evenly.

With EIE's interleaving (row i -> PE i mod N) a PE's work in column j is the number of its rows that are
non-zero in j; the broadcast waits for the slowest PE once the activation queues are full, so what costs cycles
is the per-column imbalance, smoothed only over ``fifo_depth`` columns. This pass assigns rows greedily,
heaviest first, each to the PE (with a free slot) whose per-column loads overlap the row's non-zeros least,
i.e. it minimises the growth of ``sum_{p,j} load[p, j]**2``: adding row r to PE p grows it by
``2 * load[p] . w_r + nnz_r``. Every PE gets at most ``ceil(n_out / N)`` rows, so the number of output slots
(and the write-back time) does not grow. Slots within a PE keep ascending row order so relative indices stay
short.

The result is carried in the images as each row's (PE, slot); the next layer's columns are permuted to match
(see :mod:`openeie.program`), so the hardware needs nothing extra.
"""

from __future__ import annotations

import numpy as np

from .network import CompressedLayer

__all__ = ["balanced_assignment"]


def balanced_assignment(layer: CompressedLayer, n_pe: int, rel_index_bits: int | None = None):
    """Row assignment ``(row_pe, row_slot)`` balancing per-column work over ``n_pe`` PEs.

    ``rel_index_bits`` is accepted for symmetry with the lowering; slot order is ascending row order.
    """
    n_out, n_in = layer.shape
    capacity = -(-n_out // n_pe)
    order = np.argsort(layer.rows, kind="stable")
    rows_sorted, cols_sorted = layer.rows[order], layer.cols[order]
    starts = np.searchsorted(rows_sorted, np.arange(n_out + 1))
    nnz_row = np.diff(starts)
    load = np.zeros((n_pe, n_in), dtype=np.float64)
    used = np.zeros(n_pe, dtype=np.int64)
    row_pe = np.empty(n_out, dtype=np.int64)
    big = np.finfo(np.float64).max
    # heaviest rows first; ties by row index for determinism
    for r in np.lexsort((np.arange(n_out), -nnz_row)):
        cols = cols_sorted[starts[r]:starts[r + 1]]
        cost = load[:, cols].sum(axis=1) if len(cols) else np.zeros(n_pe)
        cost = np.where(used < capacity, cost, big)
        # among equal costs prefer the PE with fewer rows, then the lowest index
        p = int(np.lexsort((np.arange(n_pe), used, cost))[0])
        row_pe[r] = p
        used[p] += 1
        if len(cols):
            load[p, cols] += 1.0
    row_slot = np.empty(n_out, dtype=np.int64)
    for p in range(n_pe):
        mine = np.flatnonzero(row_pe == p)        # ascending row order
        row_slot[mine] = np.arange(len(mine))
    return row_pe, row_slot
