"""Per-PE activation queue."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .common import bcast_layout

__all__ = ["ActivationQueue"]


class ActivationQueue(wiring.Component):
    """A PE's queue of broadcast (j, a_j) pairs: :class:`amaranth.lib.fifo.SyncFIFO` of ``fifo_depth``
    entries behind stream ports.

    Cycle semantics (docs/engine.md "Queues"): a push at cycle t is poppable from t+1; the level at cycle t is
    pushes before t minus pops before t; ``i.ready`` (not full) is ``level != fifo_depth`` and ``o.valid``
    (non-empty) is ``level != 0``, both from the registered level, so a push and a pop in the same cycle do not
    see each other (no bypass).

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    i : In(stream.Signature(bcast_layout(cfg)))
        Pushes from the broadcaster.
    o : Out(stream.Signature(bcast_layout(cfg)))
        Queue head; a transfer is a pop by the pointer read unit.
    """

    def __init__(self, cfg):
        self._cfg = cfg
        super().__init__({
            "i": In(stream.Signature(bcast_layout(cfg))),
            "o": Out(stream.Signature(bcast_layout(cfg))),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self._cfg.fifo_depth
        m.submodules.fifo = queue = fifo.SyncFIFO(width=bcast_layout(self._cfg).size, depth=depth)
        # ``i.ready`` straight from a flip-flop: "not full" is computed one cycle ahead from the level the FIFO
        # is about to have (the same as its w_rdy, which compares the level register).
        not_full = Signal(init=1)
        push = self.i.valid & not_full
        pop = queue.r_en & queue.r_rdy
        m.d.sync += not_full.eq(queue.level + push - pop != depth)
        m.d.comb += [
            queue.w_data.eq(self.i.payload),
            queue.w_en.eq(self.i.valid),
            self.i.ready.eq(not_full),
            self.o.payload.eq(queue.r_data),
            self.o.valid.eq(queue.r_rdy),
            queue.r_en.eq(self.o.ready),
        ]
        return m
