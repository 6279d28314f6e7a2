"""Per-PE activation queue, and the broadcaster's count of it."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .interfaces import bcast_layout

__all__ = ["ActivationQueue", "QueueCredit"]


class ActivationQueue(wiring.Component):
    """A PE's queue of broadcast pairs: :class:`amaranth.lib.fifo.SyncFIFO` of ``fifo_depth`` entries.

    Cycle semantics (docs/engine.md "Queues"): the broadcaster decides a push at cycle t; the pair is written at
    t+1 (``i``, from the engine's broadcast register) and is poppable from t+2; a push and a pop in the same
    cycle do not see each other. The queue keeps no count for the broadcaster: :class:`QueueCredit`, next to
    the broadcaster, does (so nothing runs from the push decision into the PEs but the broadcast register).

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    i : In(stream.Signature(bcast_layout(cfg)))
        The pair pushed in the previous cycle, written now (``valid``: there is one; ``ready``: the FIFO is not
        full, which the broadcaster's count guarantees when ``valid``).
    o : Out(stream.Signature(bcast_layout(cfg)))
        Queue head; a transfer is a pop by the pointer read unit.
    pending : Out(1)
        A pair is in the FIFO (written, not popped); the pair on its way in is the engine's broadcast register.
    """

    def __init__(self, cfg):
        self._cfg = cfg
        super().__init__({
            "i": In(stream.Signature(bcast_layout(cfg))),
            "o": Out(stream.Signature(bcast_layout(cfg))),
            "pending": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = queue = fifo.SyncFIFO(width=bcast_layout(self._cfg).size, depth=self._cfg.fifo_depth)
        m.d.comb += [
            queue.w_data.eq(self.i.payload),
            queue.w_en.eq(self.i.valid),
            self.i.ready.eq(queue.w_rdy),
            self.o.payload.eq(queue.r_data),
            self.o.valid.eq(queue.r_rdy),
            queue.r_en.eq(self.o.ready),
            self.pending.eq(queue.r_rdy),
        ]
        return m


class QueueCredit(wiring.Component):
    """The broadcaster's count of one PE's queue (docs/engine.md "Broadcast"): at cycle t, pushes before t minus
    the PE's pops before t-1. A pop reaches the broadcaster through one register (``seen``), so the PE's
    handshake chain ends at a flip-flop instead of running on into the push; the count is at least the queue's
    level, so a queue never overflows. ``room`` (count < ``fifo_depth``) comes from a flip-flop computed a
    cycle ahead.

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    push : In(1)
        The broadcaster pushes a pair this cycle (every count had room).
    pop : In(1)
        The PE pops its queue head this cycle.
    room : Out(1)
        Count < ``fifo_depth``: a push at this cycle is allowed.
    """

    def __init__(self, cfg):
        self._cfg = cfg
        super().__init__({"push": In(1), "pop": In(1), "room": Out(1)})

    def elaborate(self, platform):
        m = Module()
        depth = self._cfg.fifo_depth
        seen = Signal()                             # the PE's pop of the previous cycle
        count = Signal(range(depth + 1))
        room = Signal(init=1)
        # The next count and room are selected by the push (the last multiplexer) among values computed from
        # registers alone; a push implies room, so after one the count is at most depth.
        up, down = self.push & ~seen, seen & ~self.push
        m.d.sync += [
            seen.eq(self.pop),
            count.eq(Mux(up, count + 1, Mux(down, count - 1, count))),
            room.eq(Mux(up, count != depth - 1, down | (count != depth))),
        ]
        m.d.comb += self.room.eq(room)
        return m
