"""Per-PE activation queue."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .interfaces import bcast_layout

__all__ = ["ActivationQueue"]


class ActivationQueue(wiring.Component):
    """A PE's queue of broadcast pairs: :class:`amaranth.lib.fifo.SyncFIFO` of ``fifo_depth`` entries.

    Cycle semantics (docs/engine.md "Queues"): the broadcaster decides a push at cycle t (``reserve``); the
    pair is written at t+1 (``i``, from the engine's broadcast register) and is poppable from t+2. The level
    at cycle t is pushes decided before t minus pops before t (a pair counts from its push on); ``i.ready``
    (not full) is ``level != fifo_depth``, from a flip-flop computed a cycle ahead, and ``pending`` is
    ``level != 0``. A push and a pop in the same cycle do not see each other.

    ``room0`` / ``room1`` say whether the queue will be not full at the next cycle if the broadcaster does not /
    does push at this one (this cycle's pop counted): the engine ANDs them over the PEs into two registers and
    picks one by the push it made, so the die-wide AND ends at a register instead of feeding the push.

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    reserve : In(1)
        The broadcaster pushes a pair this cycle (every queue was ready).
    i : In(stream.Signature(bcast_layout(cfg)))
        The pair pushed in the previous cycle, written now (``valid``: there is one).
    o : Out(stream.Signature(bcast_layout(cfg)))
        Queue head; a transfer is a pop by the pointer read unit.
    pending : Out(1)
        A pair is queued or on its way in.
    room0, room1 : Out(1)
        Not full at the next cycle if there is no push / a push at this cycle.
    """

    def __init__(self, cfg):
        self._cfg = cfg
        super().__init__({
            "reserve": In(1),
            "i": In(stream.Signature(bcast_layout(cfg))),
            "o": Out(stream.Signature(bcast_layout(cfg))),
            "pending": Out(1),
            "room0": Out(1),
            "room1": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self._cfg.fifo_depth
        m.submodules.fifo = queue = fifo.SyncFIFO(width=bcast_layout(self._cfg).size, depth=depth)
        level = Signal(range(depth + 1))
        not_full = Signal(init=1)
        two_free = Signal(init=depth >= 2)          # level < depth - 1: room for a push even without a pop
        pop = queue.r_en & queue.r_rdy
        # The level's next value and "not full" are selected by the push and the pop among values computed from
        # registers alone: the pop (the end of the PE's handshake chain) enters only at the last multiplexer.
        up, down = self.reserve & ~pop, pop & ~self.reserve
        m.d.sync += [
            level.eq(Mux(up, level + 1, Mux(down, level - 1, level))),
            not_full.eq(Mux(up, level != depth - 1, down | (level != depth))),
            two_free.eq(Mux(up, level < depth - 2, Mux(down, level != depth, level < depth - 1))),
        ]
        m.d.comb += [
            queue.w_data.eq(self.i.payload),
            queue.w_en.eq(self.i.valid),
            self.i.ready.eq(not_full),
            self.o.payload.eq(queue.r_data),
            self.o.valid.eq(queue.r_rdy),
            queue.r_en.eq(self.o.ready),
            self.pending.eq(level != 0),
            self.room0.eq(pop | not_full),
            self.room1.eq(Mux(pop, not_full, two_free)),
        ]
        return m
