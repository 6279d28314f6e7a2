"""Arithmetic unit: codebook lookup, relative-index address accumulation and the saturating MAC."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from openeie.layout import Mem, act_shape, codebook_shape, mem_depth

from .interfaces import (acc_shape, index_shape, issue_layout, layer_shape, mem_addr_shape, mem_read_signature,
                         mem_write_signature)
from .logic import saturate

__all__ = ["ArithmeticUnit"]


class ArithmeticUnit(wiring.Component):
    """Entry (E), decode (D), product (P) and accumulate (M) stages of a PE.

    Cycle semantics (docs/engine.md "Arithmetic"), for an entry issued by stage S at cycle t (it is on ``i``,
    selected out of the sparse-matrix word, at t+1):

    * t+1 (E): the entry, its slice's ``first`` flag and the activation are registered.
    * t+2 (D): ``row = (first ? row_base - 1 : previous row) + rel + 1`` (``row_base`` 0, or on a convolution
      engine the pair's ``p * out_slots``); the codebook SRAM is read at
      ``layer * codebook_size + code``; the accumulator is read at ``row`` unless the code is 0.
    * t+3 (P): ``codebook[code] * a`` and the accumulator's read data are registered.
    * t+4 (M): ``acc[row] = sat(acc_old + product)`` written at the end of t+4 (real entries only).
      ``acc_old`` is the value written at the end of t+3 if that write was to the same row, else the value
      written at the end of t+2 if that was, else the accumulator read data: the read at t+2 sees every write
      up to the end of t+1. The two row comparisons are made at P and registered.

    Filler entries (code 0) read the codebook and go down the pipeline but neither read nor write the
    accumulator. The unit never stalls; an entry's last write is 4 cycles after S issued it.

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    i : In(stream.Signature(issue_layout(cfg), always_ready=True))
        Entry the cycle after S issued it.
    layer : In(unsigned)
        Current layer (selects the codebook).
    codebook_w : In(memory write)
        Load port of the codebook SRAM.
    acc_rd : Out(read port), acc_wr : Out(write port)
        Accumulator RAM ports (owned by the PE).
    decode, real, filler : Out(1)
        An entry / a real entry / a filler entry is in its decode cycle.
    acc_write : Out(1)
        A real entry is accumulated this cycle.
    saturated : Out(1)
        That accumulation left the ``acc_bits`` range and was clamped (the ``acc_saturations`` counter).
    """

    def __init__(self, cfg):
        self._cfg = cfg
        super().__init__({
            "i": In(stream.Signature(issue_layout(cfg), always_ready=True)),
            "layer": In(layer_shape(cfg)),
            "codebook_w": In(mem_write_signature(mem_addr_shape(cfg, Mem.CODEBOOK), codebook_shape(cfg))),
            "acc_rd": Out(mem_read_signature(index_shape(cfg.act_depth), acc_shape(cfg))),
            "acc_wr": Out(mem_write_signature(index_shape(cfg.act_depth), acc_shape(cfg))),
            "decode": Out(1),
            "real": Out(1),
            "filler": Out(1),
            "acc_write": Out(1),
            "saturated": Out(1),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        m.submodules.codebook = cb_mem = memory.Memory(shape=codebook_shape(cfg),
                                                       depth=mem_depth(cfg, Mem.CODEBOOK), init=[])
        cb_wr = cb_mem.write_port()
        cb_rd = cb_mem.read_port()
        m.d.comb += [cb_wr.addr.eq(self.codebook_w.addr), cb_wr.data.eq(self.codebook_w.data),
                     cb_wr.en.eq(self.codebook_w.en)]

        # ---- E: register the entry ----
        e = Signal(issue_layout(cfg))
        e_valid = Signal()
        m.d.sync += [e_valid.eq(self.i.valid), e.eq(self.i.payload)]

        # ---- D: address accumulation, codebook and accumulator reads ----
        real = e_valid & (e.entry.code != 0)
        row_shape = index_shape(cfg.act_depth)
        row_base = Signal(row_shape)                       # previous row + 1
        row = Signal(row_shape)
        first_row = e.row if cfg.conv else 0               # a convolution's slice starts at its position's rows
        m.d.comb += [
            row.eq(Mux(e.first, first_row, row_base) + e.entry.rel),
            cb_rd.addr.eq(Cat(e.entry.code, self.layer)),  # layer * codebook_size + code
            cb_rd.en.eq(e_valid),
            self.acc_rd.addr.eq(row),
            self.acc_rd.en.eq(real),
            self.decode.eq(e_valid),
            self.real.eq(real),
            self.filler.eq(e_valid & (e.entry.code == 0)),
        ]
        with m.If(e_valid):
            m.d.sync += row_base.eq(row + 1)

        # ---- P: product, accumulator data, bypass matches ----
        p_real, p_row, p_act = Signal(), Signal(row_shape), Signal(act_shape(cfg))
        m.d.sync += [p_real.eq(real), p_row.eq(row), p_act.eq(e.act)]
        m_real, m_row = Signal(), Signal(row_shape)
        w1_ok, w1_row, w1_value = Signal(), Signal(row_shape), Signal(acc_shape(cfg))   # write at the end of t-1
        w2_value = Signal(acc_shape(cfg))                                              # write at the end of t-2
        product = Signal((cb_rd.data * p_act).shape())
        acc_data = Signal(acc_shape(cfg))
        match1, match2 = Signal(), Signal()
        m.d.sync += [
            m_real.eq(p_real), m_row.eq(p_row),
            product.eq(cb_rd.data * p_act),
            acc_data.eq(self.acc_rd.data),
            match1.eq(m_real & (m_row == p_row)),          # M's write now is the one just before P's M
            match2.eq(w1_ok & (w1_row == p_row)),          # the write before that
        ]

        # ---- M: accumulate with bypass, saturate, write ----
        acc_old = Mux(match1, w1_value, Mux(match2, w2_value, acc_data))
        acc_new = Signal(acc_shape(cfg))
        acc_sum, clamped = saturate(acc_old + product, cfg.acc_bits)
        m.d.comb += [
            acc_new.eq(acc_sum),
            self.saturated.eq(m_real & clamped),
            self.acc_wr.addr.eq(m_row),
            self.acc_wr.data.eq(acc_new),
            self.acc_wr.en.eq(m_real),
            self.acc_write.eq(m_real),
        ]
        m.d.sync += [w1_ok.eq(m_real), w1_row.eq(m_row), w1_value.eq(acc_new), w2_value.eq(w1_value)]
        return m
