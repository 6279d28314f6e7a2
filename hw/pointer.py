"""Pointer read unit: both ends of a PE's column slice in one cycle from even/odd pointer banks."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from openeie.layout import Mem, act_shape, mem_depth, ptr_shape

from .interfaces import bcast_layout, column_layout, mem_addr_shape, mem_write_signature

__all__ = ["PointerReadUnit"]


class PointerReadUnit(wiring.Component):
    """Stages P and Q of a PE: pops a (j, a_j) pair from the queue, reads the column's pointers (P) and holds
    them in the pointer result register (Q).

    With ``index = ptr_base + j`` (computed by the broadcaster, :func:`~openeie.hw.interfaces.bcast_layout`): for an even index, ``start = even[index/2]`` and ``end = odd[index/2]``;
    for an odd one, ``start = odd[index//2]`` and ``end = even[index//2 + 1]``. So the even bank is read at
    ``(index+1)//2`` and the odd bank at ``index//2``, both in the same cycle.

    Cycle semantics (docs/engine.md "Pointer read"): the queue head is popped at cycle t when the queue is
    non-empty and stage P is empty at t or moves on at t. Both banks are read at t, and P holds their outputs
    (plus the index parity and the activation) from t+1. P moves on into the pointer result register Q, with
    start and end selected, at the end of any cycle in which Q is empty or consumed by stage S (``o.ready``);
    Q is on ``o``. So no path runs from a pointer bank's output into stage S. On a convolution engine the pair's
    row base travels along with the activation.

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    i : In(stream.Signature(bcast_layout(cfg)))
        Queue head; a transfer is a pop.
    o : Out(stream.Signature(column_layout(cfg)))
        The pointer result register.
    busy : Out(1)
        P or Q holds a column.
    even_w, odd_w : In(memory write)
        Load ports of the even and odd pointer banks.
    """

    def __init__(self, cfg):
        self._cfg = cfg
        super().__init__({
            "i": In(stream.Signature(bcast_layout(cfg))),
            "o": Out(stream.Signature(column_layout(cfg))),
            "busy": Out(1),
            "even_w": In(mem_write_signature(mem_addr_shape(cfg, Mem.PTR_EVEN), ptr_shape(cfg))),
            "odd_w": In(mem_write_signature(mem_addr_shape(cfg, Mem.PTR_ODD), ptr_shape(cfg))),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        banks = {}
        for mem, w_port in ((Mem.PTR_EVEN, self.even_w), (Mem.PTR_ODD, self.odd_w)):
            m.submodules[mem.key] = bank = memory.Memory(shape=ptr_shape(cfg), depth=mem_depth(cfg, mem), init=[])
            wr = bank.write_port()
            m.d.comb += [wr.addr.eq(w_port.addr), wr.data.eq(w_port.data), wr.en.eq(w_port.en)]
            banks[mem] = bank.read_port()
        even, odd = banks[Mem.PTR_EVEN], banks[Mem.PTR_ODD]

        p_valid = Signal()
        p_odd = Signal()                     # the index was odd: start comes from the odd bank
        p_act = Signal(act_shape(cfg))
        q_valid = Signal()
        q = Signal(column_layout(cfg))

        index = self.i.payload.ptr
        q_ready = ~q_valid | self.o.ready
        move = p_valid & q_ready
        pop = self.i.valid & self.i.ready
        m.d.comb += [
            self.i.ready.eq(~p_valid | q_ready),
            even.addr.eq((index + 1) >> 1),
            odd.addr.eq(index >> 1),
            even.en.eq(pop),
            odd.en.eq(pop),
        ]
        p_row = Signal(self.i.payload.row.shape()) if cfg.conv else None   # a convolution's row base
        with m.If(pop):
            m.d.sync += [p_valid.eq(1), p_odd.eq(index[0]), p_act.eq(self.i.payload.act)]
            if cfg.conv:
                m.d.sync += p_row.eq(self.i.payload.row)
        with m.Elif(move):
            m.d.sync += p_valid.eq(0)
        with m.If(move):
            m.d.sync += [
                q_valid.eq(1),
                q.start.eq(Mux(p_odd, odd.data, even.data)),
                q.end.eq(Mux(p_odd, even.data, odd.data)),
                q.act.eq(p_act),
            ]
            if cfg.conv:
                m.d.sync += q.row.eq(p_row)
        with m.Elif(self.o.ready):
            m.d.sync += q_valid.eq(0)

        m.d.comb += [
            self.o.valid.eq(q_valid),
            self.o.payload.eq(q),
            self.busy.eq(p_valid | q_valid),
        ]
        return m
