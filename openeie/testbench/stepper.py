"""A plain cycle-by-cycle stepper of the COMPUTE phase of docs/engine.md, one object per stage.

Slow (a Python loop per cycle per PE) and written independently of the closed-form recurrences in
:mod:`openeie.sim.cycle`; tests hold the fast model to it on small random layers. Each cycle every stage first
decides from the state at the start of the cycle (``propagate``) and then all stages commit (``update``).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from openeie.timing import ARITH_DRAIN

__all__ = ["step_compute_phase"]


class _Broadcaster:
    def __init__(self, x_storage, n_pe, in_groups, depth):
        self.x, self.n, self.groups, self.depth = x_storage, n_pe, in_groups, depth
        self.held = None          # list of non-zero columns left in the held group, or None
        self.next_group = 0
        self.loading = True       # cycle 0 reads group 0; held from cycle 1
        self.stalls = 0

    def finished(self):
        return self.held is None and not self.loading and self.next_group >= self.groups

    def propagate(self, levels):
        """Return the column pushed this cycle (or None) and whether the next group is loaded."""
        self.push = None
        self.advance = False
        if self.loading:
            self.advance = True
            return
        if self.held is None:
            return
        if self.held:
            if max(levels) >= self.depth:
                self.stalls += 1
                return
            self.push = self.held[0]
            if len(self.held) == 1:
                self.advance = True
        else:
            self.advance = True

    def update(self):
        if self.push is not None:
            self.held = self.held[1:]
        if self.advance:
            self.loading = False
            if self.next_group < self.groups:
                g = self.next_group
                vals = self.x[g * self.n:(g + 1) * self.n]
                self.held = [g * self.n + int(i) for i in np.flatnonzero(vals)]
                self.next_group += 1
            else:
                self.held = None


class _Pe:
    def __init__(self, slice_len):
        self.slice_len = slice_len     # column -> entries of this PE
        self.queue = deque()           # columns, in push order
        self.inflight = None           # column pushed in the previous cycle, written into the queue now
        self.p = None                  # stage P (pointer banks read): slice length, or None
        self.pr = None                 # pointer result register (stage Q): slice length, or None
        self.s_left = None             # entries left in S's slice (0 = empty slice), or None when S holds nothing
        self.busy = 0

    def propagate(self):
        self.issue = self.s_left is not None and self.s_left > 0
        s_free = self.s_left is None or self.s_left <= 1
        self.load = s_free and self.pr is not None
        self.move = self.p is not None and (self.pr is None or self.load)
        self.pop = bool(self.queue) and (self.p is None or self.move)
        self.held_slice = self.s_left is not None

    def update(self, pushed_col):
        if self.issue:
            self.busy += 1
        if self.load:
            self.s_left = self.pr
            self.pr = None
        elif self.s_left is not None and self.s_left <= 1:
            self.s_left = None
        elif self.issue:
            self.s_left -= 1
        if self.move:
            self.pr, self.p = self.p, None
        if self.pop:
            self.p = self.slice_len[self.queue.popleft()]
        if self.inflight is not None:
            self.queue.append(self.inflight)
        self.inflight = pushed_col




def step_compute_phase(x_storage, slice_len, n_pe, in_groups, depth, max_cycles=10**7):
    """Step the COMPUTE phase. ``slice_len[p][col]`` = entries of PE p in column col.

    Returns ``(compute_cycles, bcast_stalls, pe_busy)``.
    """
    b = _Broadcaster(np.asarray(x_storage), n_pe, in_groups, depth)
    pes = [_Pe(slice_len[p]) for p in range(n_pe)]
    tail = ARITH_DRAIN - 1     # the arithmetic stages stay busy this many cycles after S held a slice
    s_hist = deque([False] * tail, maxlen=tail)   # did any S hold a slice in the last cycles
    for t in range(max_cycles):
        levels = [len(pe.queue) + (pe.inflight is not None) for pe in pes]
        idle = (b.finished() and not any(levels) and all(pe.inflight is None and pe.p is None and pe.pr is None and pe.s_left is None
                                         for pe in pes)
                and not any(s_hist))
        if idle:
            return t + 1, b.stalls, [pe.busy for pe in pes]
        b.propagate(levels)
        for pe in pes:
            pe.propagate()
        s_hist.append(any(pe.held_slice for pe in pes))
        b.update()
        for pe in pes:
            pe.update(b.push)
    raise RuntimeError("stepper did not finish")
