"""Bias initialisation and write-back of one PE's accumulators."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from openeie.layout import Mem, act_shape, bias_shape, mem_depth

from .interfaces import (Phase, acc_shape, control_signature, index_shape, mem_addr_shape, mem_read_signature,
                         mem_write_signature)
from .logic import saturate

__all__ = ["round_saturate_relu", "WriteBack"]



def round_saturate_relu(cfg, acc, relu):
    """Accumulator -> activation exactly as :mod:`openeie.sim.golden`: ``sat_act((acc + 2**(wf-1)) >> wf)``
    (no rounding term when wf = 0, arithmetic shift), then ``max(y, 0)`` when ``relu``. The sum is formed one
    bit wider than the accumulator so the rounding term cannot overflow.

    Returns ``(y, clipped)``: ``clipped`` is high when saturation changed the output (the ``out_saturations``
    counter): the rounded value left the activation range, except below it under ReLU (0 either way)."""
    wf = cfg.weight_frac_bits
    acc = Value.cast(acc)
    rounded = (acc + (1 << (wf - 1))) >> wf if wf else acc
    y, clamped = saturate(rounded, cfg.act_bits)
    negative = rounded < 0
    return Mux(relu & (y < 0), 0, y), clamped & ~(relu & negative)


class WriteBack(wiring.Component):
    """INIT and WB phases of a PE: bias SRAM and the accumulator's slot-by-slot initialisation / read-out.

    Cycle semantics (docs/engine.md "Run sequencing"), with ``s`` the controller's step:

    * INIT, ``s < out_slots``: read ``bias[bias_base + s]``; INIT, ``s >= 1``: write
      ``acc[s-1] = bias << weight_frac_bits`` (the bias SRAM data read in the previous cycle).
    * WB, ``s < out_slots``: read ``acc[s]``; at ``s + 1`` the read data is registered, at ``s + 2``
      round/saturate/ReLU of it; at ``s + 3`` it is on ``o`` and the engine writes it to lane p, word ``s`` of
      the destination bank (WB lasts ``out_slots + WB_LATENCY`` cycles).

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    ctl : In(control_signature(cfg))
        Controller state.
    bias_w : In(memory write)
        Load port of the bias SRAM.
    acc_rd : Out(read port), acc_wr : Out(write port)
        Accumulator RAM ports (owned by the PE).
    o : Out(act_shape(cfg))
        Output activation of slot ``step - WB_LATENCY`` during WB (registered).
    clipped : Out(1)
        ``o`` was clamped to the activation range (registered with ``o``; see :func:`round_saturate_relu`).
    """

    def __init__(self, cfg):
        self._cfg = cfg
        super().__init__({
            "ctl": In(control_signature(cfg)),
            "bias_w": In(mem_write_signature(mem_addr_shape(cfg, Mem.BIAS), bias_shape(cfg))),
            "acc_rd": Out(mem_read_signature(index_shape(cfg.act_depth), acc_shape(cfg))),
            "acc_wr": Out(mem_write_signature(index_shape(cfg.act_depth), acc_shape(cfg))),
            "o": Out(act_shape(cfg)),
            "clipped": Out(1),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        m.submodules.bias = bias_mem = memory.Memory(shape=bias_shape(cfg), depth=mem_depth(cfg, Mem.BIAS), init=[])
        wr = bias_mem.write_port()
        rd = bias_mem.read_port()
        m.d.comb += [wr.addr.eq(self.bias_w.addr), wr.data.eq(self.bias_w.data), wr.en.eq(self.bias_w.en)]

        ctl = self.ctl
        step, desc = ctl.step, ctl.desc
        reading = ctl.slot_read
        m.d.comb += [
            rd.addr.eq(desc.bias_base + step),
            rd.en.eq((ctl.phase == Phase.INIT) & reading),
            self.acc_wr.addr.eq(step - 1),
            self.acc_wr.data.eq(rd.data << cfg.weight_frac_bits),
            self.acc_wr.en.eq((ctl.phase == Phase.INIT) & (step != 0)),
            self.acc_rd.addr.eq(step),
            self.acc_rd.en.eq((ctl.phase == Phase.WB) & reading),
        ]
        acc = Signal(acc_shape(cfg))
        y, clipped = round_saturate_relu(cfg, acc, desc.relu)
        m.d.sync += [acc.eq(self.acc_rd.data), self.o.eq(y), self.clipped.eq(clipped)]
        return m
