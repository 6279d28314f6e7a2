"""One processing element: queue, pointer read, sparse-matrix read, arithmetic, write-back."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out, connect, flipped

from openeie.layout import Mem, act_shape

from openeie.timing import ARITH_DRAIN

from .arith import ArithmeticUnit
from .interfaces import Phase, acc_shape, bcast_layout, control_signature, pe_load_signature
from .pointer import PointerReadUnit
from .queue import ActivationQueue
from .spmat import SparseMatrixReadUnit
from .writeback import WriteBack

__all__ = ["ProcessingElement"]


class ProcessingElement(wiring.Component):
    """A PE: ``i`` -> queue -> pointer read (P) -> pointer result (Q) -> sparse-matrix read (S) -> entry (E)
    -> decode (D) -> product (P) -> accumulate (M),
    plus the bias/write-back unit, all sharing the PE's accumulator RAM (``act_depth`` x ``acc_bits``, one
    synchronous non-transparent read port and one write port; COMPUTE drives them from the arithmetic unit,
    the other phases from the write-back unit).

    ``idle`` is high when the queue's FIFO is empty (the pair on its way in is the engine's broadcast register, which
    the engine counts), stages P and Q are empty, S holds no slice and
    held none in the previous ``ARITH_DRAIN - 1`` cycles (the arithmetic stages count as busy for four cycles
    after S held any slice, empty ones included), as docs/engine.md "End of COMPUTE" requires.

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    i : In(stream.Signature(bcast_layout(cfg)))
        The pair pushed in the previous cycle (``i.ready``: the FIFO is not full).
    load : In(pe_load_signature(cfg))
        Load port words addressed to this PE.
    ctl : In(control_signature(cfg))
        Controller state.
    wb_data : Out(act_shape(cfg))
        Write-back activation (lane of this PE).
    idle : Out(1)
        Nothing of this PE is in flight (see above).
    pop, issue, word_read, decode, real, filler, acc_write, acc_saturated : Out(1)
        Per-cycle events for the counters.
    wb_clipped : Out(1)
        ``wb_data`` was clamped to the activation range.
    """

    def __init__(self, cfg):
        self._cfg = cfg
        super().__init__({
            "i": In(stream.Signature(bcast_layout(cfg))),
            "load": In(pe_load_signature(cfg)),
            "ctl": In(control_signature(cfg)),
            "wb_data": Out(act_shape(cfg)),
            "wb_clipped": Out(1),
            "idle": Out(1),
            "pop": Out(1), "issue": Out(1), "word_read": Out(1),
            "decode": Out(1), "real": Out(1), "filler": Out(1), "acc_write": Out(1), "acc_saturated": Out(1),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        m.submodules.queue = queue = ActivationQueue(cfg)
        m.submodules.ptr = ptr = PointerReadUnit(cfg)
        m.submodules.spmat = spmat = SparseMatrixReadUnit(cfg)
        m.submodules.arith = arith = ArithmeticUnit(cfg)
        m.submodules.wb = wb = WriteBack(cfg)

        connect(m, flipped(self.i), queue.i)
        connect(m, queue.o, ptr.i)
        connect(m, ptr.o, spmat.i)
        connect(m, spmat.o, arith.i)
        connect(m, flipped(self.ctl), wb.ctl)
        m.d.comb += [
            arith.layer.eq(self.ctl.layer),
            spmat.restart.eq(self.ctl.start),
            self.wb_data.eq(wb.o),
            self.wb_clipped.eq(wb.clipped),
        ]

        # Load port fan-out to the PE's memories.
        for mem, port in ((Mem.SPMAT, spmat.mem_w), (Mem.PTR_EVEN, ptr.even_w), (Mem.PTR_ODD, ptr.odd_w),
                          (Mem.CODEBOOK, arith.codebook_w), (Mem.BIAS, wb.bias_w)):
            m.d.comb += [port.addr.eq(self.load.addr), port.data.eq(self.load.data),
                         port.en.eq(self.load.en & (self.load.mem == mem))]

        # Accumulator RAM, shared by the arithmetic unit (COMPUTE) and the write-back unit (INIT, WB).
        m.submodules.acc = acc = memory.Memory(shape=acc_shape(cfg), depth=cfg.act_depth, init=[])
        acc_wr = acc.write_port()
        acc_rd = acc.read_port()
        computing = self.ctl.phase == Phase.COMPUTE
        for port, a, b in ((acc_wr, arith.acc_wr, wb.acc_wr), (acc_rd, arith.acc_rd, wb.acc_rd)):
            with m.If(computing):
                m.d.comb += [port.addr.eq(a.addr), port.en.eq(a.en)]
            with m.Else():
                m.d.comb += [port.addr.eq(b.addr), port.en.eq(b.en)]
        with m.If(computing):
            m.d.comb += acc_wr.data.eq(arith.acc_wr.data)
        with m.Else():
            m.d.comb += acc_wr.data.eq(wb.acc_wr.data)
        m.d.comb += [arith.acc_rd.data.eq(acc_rd.data), wb.acc_rd.data.eq(acc_rd.data)]

        # Tail of the arithmetic stages after S held a slice: S held one in one of the last ARITH_DRAIN - 1
        # cycles (a shift register of spmat.held).
        tail = Signal(ARITH_DRAIN - 1)
        m.d.sync += tail.eq(Cat(spmat.held, tail[:-1]))
        m.d.comb += [
            self.idle.eq(~queue.pending & ~ptr.busy & ~spmat.held & ~tail.any()),
            self.pop.eq(queue.o.valid & queue.o.ready),
            self.issue.eq(spmat.issue),
            self.word_read.eq(spmat.word_read),
            self.decode.eq(arith.decode),
            self.real.eq(arith.real),
            self.filler.eq(arith.filler),
            self.acc_write.eq(arith.acc_write),
            self.acc_saturated.eq(arith.saturated),
        ]
        return m
