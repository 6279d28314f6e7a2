"""Arithmetic unit: codebook lookup, relative-index address accumulation and the saturating MAC."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from openeie.layout import Mem, act_shape, codebook_shape, mem_depth

from .common import (acc_shape, index_shape, issue_layout, layer_shape, mem_addr_shape, mem_read_signature,
                     mem_write_signature, saturate)

__all__ = ["ArithmeticUnit"]


class ArithmeticUnit(wiring.Component):
    """Decode (D) and accumulate (M) stages of a PE.

    Cycle semantics (docs/engine.md "Arithmetic"), for an entry issued by stage S at cycle t:

    * t+1 (D, the entry is on ``i``): ``row = (first ? -1 : previous row) + rel + 1``; the codebook SRAM is
      read at ``layer * codebook_size + code``; the accumulator is read at ``row`` unless the code is 0.
    * t+2 (M): ``acc[row] = sat(acc_old + codebook[code] * a)`` written at the end of t+2 (real entries only).
      ``acc_old`` is the bypass register (the value written at t+1) when the entry before it wrote the same
      row at t+1, else the accumulator read data: a read at t+1 does not see the write at the end of t+1.

    Filler entries (code 0) read the codebook and go down the pipeline but neither read nor write the
    accumulator. The unit never stalls.

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    i : In(stream.Signature(issue_layout(cfg), always_ready=True))
        Entry in its decode cycle.
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

        # ---- D: address accumulation, codebook and accumulator reads ----
        entry = self.i.payload.entry
        real = self.i.valid & (entry.code != 0)
        row_shape = index_shape(cfg.act_depth)
        prev_row = Signal(row_shape)
        row = Signal(row_shape)
        m.d.comb += [
            row.eq(Mux(self.i.payload.first, 0, prev_row + 1) + entry.rel),
            cb_rd.addr.eq(Cat(entry.code, self.layer)),     # layer * codebook_size + code
            cb_rd.en.eq(self.i.valid),
            self.acc_rd.addr.eq(row),
            self.acc_rd.en.eq(real),
            self.decode.eq(self.i.valid),
            self.real.eq(real),
            self.filler.eq(self.i.valid & (entry.code == 0)),
        ]
        with m.If(self.i.valid):
            m.d.sync += prev_row.eq(row)

        # ---- M: multiply, accumulate with bypass, saturate, write ----
        m_real = Signal()
        m_row = Signal(row_shape)
        m_act = Signal(act_shape(cfg))
        m.d.sync += [m_real.eq(real), m_row.eq(row), m_act.eq(self.i.payload.act)]

        bypass_ok = Signal()
        bypass_row = Signal(row_shape)
        bypass_value = Signal(acc_shape(cfg))
        acc_old = Mux(bypass_ok & (bypass_row == m_row), bypass_value, self.acc_rd.data)
        acc_new = Signal(acc_shape(cfg))
        m.d.comb += [
            acc_new.eq(saturate(acc_old + cb_rd.data * m_act, cfg.acc_bits)),
            self.acc_wr.addr.eq(m_row),
            self.acc_wr.data.eq(acc_new),
            self.acc_wr.en.eq(m_real),
            self.acc_write.eq(m_real),
        ]
        m.d.sync += [bypass_ok.eq(m_real), bypass_row.eq(m_row), bypass_value.eq(acc_new)]
        return m
