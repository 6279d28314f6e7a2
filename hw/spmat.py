"""Sparse-matrix read unit: one entry per cycle out of ``entries_per_word``-entry SRAM words."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from openeie.layout import Mem, act_shape, mem_depth, ptr_shape, spmat_word_layout

from .interfaces import column_layout, count_shape, index_shape, issue_layout, mem_addr_shape, mem_write_signature

__all__ = ["SparseMatrixReadUnit"]


class SparseMatrixReadUnit(wiring.Component):
    """Stage S of a PE: walks one column slice at a time, one entry per cycle, and reads the sparse-matrix
    SRAM only when an entry lies in another word than the last word this PE read in the run.

    Cycle semantics (docs/engine.md "Sparse-matrix read"):

    * S holds a slice for ``s = max(1, end - start)`` cycles: one entry per cycle, or one cycle for an empty
      slice. It takes the pointer result register (``i``) at the end of the last cycle of its slice, or at
      the end of any cycle in which it holds nothing (``i.ready``). ``held`` is high while it holds a slice.
    * At a cycle t in which S issues entry ``e`` (``issue``), it presents word ``e // entries_per_word`` to the
      SRAM, enabled (``word_read``) only if that word differs from the last word read since ``restart`` (the
      first entry after ``restart`` always reads). The entry is on ``o`` at t+1, selected from the SRAM output
      (which holds its data while not enabled). Word and lane are tracked incrementally; the only division by
      ``entries_per_word`` is of the slice's start pointer when the slice is taken.

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    i : In(stream.Signature(column_layout(cfg)))
        The pointer result register; a transfer loads a new slice.
    o : Out(stream.Signature(issue_layout(cfg), always_ready=True))
        The entry issued in the previous cycle (input of the arithmetic unit's entry register, stage E).
    mem_w : In(memory write)
        Load port of the sparse-matrix SRAM.
    restart : In(1)
        Forget the last word read (start of a run).
    held, issue, word_read : Out(1)
        S holds a slice / issues an entry / reads an SRAM word in this cycle.
    """

    def __init__(self, cfg):
        self._cfg = cfg
        super().__init__({
            "i": In(stream.Signature(column_layout(cfg))),
            "o": Out(stream.Signature(issue_layout(cfg), always_ready=True)),
            "mem_w": In(mem_write_signature(mem_addr_shape(cfg, Mem.SPMAT), spmat_word_layout(cfg))),
            "restart": In(1),
            "held": Out(1),
            "issue": Out(1),
            "word_read": Out(1),
        })

    def _split(self, address):
        """(word, lane) of an entry address."""
        epw = self._cfg.entries_per_word
        shift = epw.bit_length() - 1
        if epw == 1 << shift:
            return address >> shift, address[:shift] if shift else 0
        return address // epw, address % epw

    def elaborate(self, platform):
        cfg = self._cfg
        epw = cfg.entries_per_word
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=spmat_word_layout(cfg), depth=mem_depth(cfg, Mem.SPMAT),
                                               init=[])
        wr = mem.write_port()
        rd = mem.read_port()
        m.d.comb += [wr.addr.eq(self.mem_w.addr), wr.data.eq(self.mem_w.data), wr.en.eq(self.mem_w.en)]

        word_shape = count_shape(cfg.spmat_depth_words)
        held = Signal()
        left = Signal(ptr_shape(cfg))          # entries of the slice not issued yet (meaningless unless more)
        more = Signal()                        # left != 0: S issues an entry this cycle
        one_left = Signal()                    # left == 1: the last cycle of the slice (registered)
        word = Signal(word_shape)
        lane = Signal(index_shape(epw))
        act = Signal(act_shape(cfg))
        row = Signal(self.i.payload.row.shape()) if cfg.conv else None      # a convolution's row base
        first = Signal()
        last_word = Signal(word_shape)
        last_word_ok = Signal()

        # ``fresh``: ``word`` is not the last word read since ``restart`` (registered: the read enable is one
        # AND of flip-flops, since on the UP5K it is the chip select of an SPRAM at the die's edge).
        fresh = Signal()
        issue = held & more
        m.d.comb += [
            self.held.eq(held),
            self.issue.eq(issue),
            self.i.ready.eq(~held | ~more | one_left),      # holds nothing, or the last cycle of its slice
            rd.addr.eq(word),
            rd.en.eq(issue & fresh),
            self.word_read.eq(rd.en),
        ]
        with m.If(issue):
            m.d.sync += [last_word.eq(word), last_word_ok.eq(1)]

        # ``more`` and ``one_left`` are registered: on a load they are comparisons of the pointers, in parallel with
        # the subtraction; while issuing, ``one_left`` is ``left == 2`` of the cycle before.
        start, end = self.i.payload.start, self.i.payload.end
        start_word, start_lane = self._split(start)
        with m.If(self.i.valid & self.i.ready):
            read_before = issue | last_word_ok                          # the last word read, after this cycle
            m.d.sync += fresh.eq(~read_before | (start_word != Mux(issue, word, last_word)))
            m.d.sync += [
                held.eq(1), left.eq(end - start), more.eq(end > start), one_left.eq(end - start == 1),
                word.eq(start_word), lane.eq(start_lane), act.eq(self.i.payload.act), first.eq(1),
            ]
            if cfg.conv:
                m.d.sync += row.eq(self.i.payload.row)
        with m.Elif(self.i.ready):
            m.d.sync += held.eq(0)
        with m.Else():                                  # issuing, and more entries follow
            m.d.sync += [left.eq(left - 1), one_left.eq(left == 2), first.eq(0), fresh.eq(lane == epw - 1)]
            with m.If(lane == epw - 1):
                m.d.sync += [lane.eq(0), word.eq(word + 1)]
            with m.Else():
                m.d.sync += lane.eq(lane + 1)
        with m.If(self.restart):                        # last, so it wins over the updates above
            m.d.sync += [last_word_ok.eq(0), fresh.eq(1)]

        # The entry comes out of the SRAM one cycle after it was issued (the arithmetic unit registers it: E).
        out_valid = Signal()
        out_lane = Signal.like(lane)
        out_first = Signal()
        out_act = Signal.like(act)
        m.d.sync += [out_valid.eq(issue), out_lane.eq(lane), out_first.eq(first), out_act.eq(act)]
        m.d.comb += [
            self.o.valid.eq(out_valid),
            self.o.payload.entry.eq(rd.data[out_lane]),
            self.o.payload.first.eq(out_first),
            self.o.payload.act.eq(out_act),
        ]
        if cfg.conv:
            out_row = Signal.like(row)
            m.d.sync += out_row.eq(row)
            m.d.comb += self.o.payload.row.eq(out_row)
        return m
