"""Ping-pong activation banks and the output stream that drains them."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from openeie.layout import act_shape, layer_desc_layout

from .interfaces import act_word_layout, index_shape, mem_read_signature

__all__ = ["ActivationBanks", "ActivationDrain"]


class ActivationBanks(wiring.Component):
    """Two activation banks of ``act_depth`` words of ``n_pe`` lanes (lane p of word a is storage position
    ``a * n_pe + p``). Layer l reads bank ``l % 2`` and writes bank ``(l + 1) % 2``, so consecutive layers run
    back to back on chip.

    One synchronous read port (address at t, data at t+1, data held while not enabled; ``rd_bank`` is
    sampled with the address) and one lane-granular write port, both steered to either bank.

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    rd_bank : In(1)
    rd : In(read port)
        ``addr``, ``en`` in; ``data`` (one activation word) out.
    wr_bank : In(1)
    wr_addr : In(unsigned)
    wr_data : In(act_word_layout(cfg))
    wr_en : In(n_pe)
        One write enable per lane.
    """

    def __init__(self, cfg):
        self._cfg = cfg
        super().__init__({
            "rd_bank": In(1),
            "rd": In(mem_read_signature(index_shape(cfg.act_depth), act_word_layout(cfg))),
            "wr_bank": In(1),
            "wr_addr": In(index_shape(cfg.act_depth)),
            "wr_data": In(act_word_layout(cfg)),
            "wr_en": In(cfg.n_pe),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        rd_bank = Signal()
        with m.If(self.rd.en):
            m.d.sync += rd_bank.eq(self.rd_bank)
        data = []
        for bank in range(2):
            m.submodules[f"bank{bank}"] = mem = memory.Memory(shape=act_word_layout(cfg), depth=cfg.act_depth,
                                                               init=[])
            wr = mem.write_port(granularity=1)
            rd = mem.read_port()
            selected = self.wr_bank == bank
            m.d.comb += [
                wr.addr.eq(self.wr_addr), wr.data.eq(self.wr_data), wr.en.eq(Mux(selected, self.wr_en, 0)),
                rd.addr.eq(self.rd.addr), rd.en.eq(self.rd.en & (self.rd_bank == bank)),
            ]
            data.append(rd.data)
        m.d.comb += self.rd.data.eq(Mux(rd_bank, data[1], data[0]))
        return m


class ActivationDrain(wiring.Component):
    """Produces the last layer's ``out_slots * n_pe`` outputs in storage order on a stream.

    Cycle semantics: ``begin`` (the DONE cycle) reads word 0; from the next cycle ``o`` offers lane 0 of it,
    one lane per transfer; the transfer of the last lane of a word reads the next word in the same cycle,
    so an always-ready sink takes one output per cycle. ``active`` is high while outputs remain.

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    begin : In(1)
    n_words : In(unsigned)
        Words to drain (the last layer's ``out_slots``).
    rd : Out(read port)
        Bank read port.
    o : Out(stream.Signature(act_shape(cfg)))
    active : Out(1)
    """

    def __init__(self, cfg):
        self._cfg = cfg
        super().__init__({
            "begin": In(1),
            "n_words": In(layer_desc_layout(cfg)["out_slots"].shape),
            "rd": Out(mem_read_signature(index_shape(cfg.act_depth), act_word_layout(cfg))),
            "o": Out(stream.Signature(act_shape(cfg))),
            "active": Out(1),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        active = Signal()
        word = Signal(self.n_words.shape())
        last_word = Signal()                   # word + 1 == n_words, registered
        lane = Signal(index_shape(cfg.n_pe))
        m.d.comb += [
            self.active.eq(active),
            self.o.valid.eq(active),
            self.o.payload.eq(self.rd.data[lane]),
        ]
        with m.If(self.begin):
            m.d.comb += [self.rd.addr.eq(0), self.rd.en.eq(self.n_words != 0)]
            m.d.sync += [word.eq(0), lane.eq(0), active.eq(self.n_words != 0), last_word.eq(self.n_words == 1)]
        with m.Elif(self.o.valid & self.o.ready):
            with m.If(lane != cfg.n_pe - 1):
                m.d.sync += lane.eq(lane + 1)
            with m.Elif(last_word):
                m.d.sync += active.eq(0)
            with m.Else():
                m.d.comb += [self.rd.addr.eq(word + 1), self.rd.en.eq(1)]
                m.d.sync += [word.eq(word + 1), lane.eq(0), last_word.eq(word + 2 == self.n_words)]
        return m
