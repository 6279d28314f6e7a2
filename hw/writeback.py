"""Bias initialisation and write-back of one PE's accumulators."""

from __future__ import annotations

from amaranth.hdl import C, Cat, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from openeie.layout import POOL_AVG, POOL_MAX, POOL_NONE, Mem, act_shape, bias_shape, mem_depth

from .interfaces import (Phase, acc_shape, control_signature, index_shape, mem_addr_shape, mem_read_signature,
                         mem_write_signature)
from .logic import saturate

__all__ = ["round_saturate_relu", "mult_read", "WriteBack"]


def mult_read(cfg, ctl):
    """A requantising engine's WB reads the bias SRAM (the row's multiplier) this cycle: with every accumulator
    read, on a convolution engine with the first read of each window (docs/engine.md, "Requantisation")."""
    reading = (ctl.phase == Phase.WB) & ctl.slot_read
    return reading & ctl.win_first if cfg.conv else reading


def round_saturate_relu(cfg, acc, relu):
    """Accumulator -> activation exactly as :mod:`openeie.sim.golden`: ``sat_act((acc + 2**(wf-1)) >> wf)``
    (no rounding term when wf = 0, arithmetic shift), then ``max(y, 0)`` when ``relu``. The sum is formed one
    bit wider than the accumulator so the rounding term cannot overflow.

    Returns ``(y, clipped)``: ``clipped`` is high when saturation changed the output (the ``out_saturations``
    counter): the rounded value left the activation range, except below it under ReLU (0 either way)."""
    return _round_saturate_relu_shift(cfg, acc, cfg.weight_frac_bits, relu)


class WriteBack(wiring.Component):
    """INIT and WB phases of a PE: bias SRAM and the accumulator's slot-by-slot initialisation / read-out.

    Cycle semantics (docs/engine.md "Run sequencing"), with ``s`` the controller's step:

    * INIT, ``s < out_slots``: read ``bias[bias_base + s]``; INIT, ``s >= 1``: write
      ``acc[s-1] = bias << weight_frac_bits`` (the bias SRAM data read in the previous cycle).
    * WB, ``s < out_slots``: read ``acc[s]``; at ``s + 1`` the read data is registered, at ``s + 2``
      round/saturate/ReLU of it; at ``s + 3`` it is on ``o`` and the engine writes it to lane p, word ``s`` of
      the destination bank (WB lasts ``out_slots + WB_LATENCY`` cycles).

    On a convolution engine INIT reads bias ``bias_base + ctl.bias_slot`` and initialises ``acc_slots`` slots,
    and WB reads ``ctl.wb_slot``; with pooling the rounding takes the window register one cycle later
    (``_pool``), and the engine writes ``o`` when ``ctl.wb_write`` says so.

    On a requantising engine (``cfg.requant``) a bias word also holds the row's multiplier and its bias is in the
    accumulator format (INIT writes it unshifted); WB reads the word beside the accumulator (:func:`mult_read`,
    at ``bias_base`` + the slot, or + ``ctl.wb_channel``), registers the multiplier with the accumulator's data,
    registers their product (or the window's and the window's multiplier) one cycle later and rounds it with the
    descriptor's ``shift``: one cycle more than the fixed-point write-back (``_requantize``).

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
        Output activation of slot ``step - WB_LATENCY`` during WB (``step - WB_LATENCY - REQUANT_LATENCY`` on a
        requantising engine; registered).
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
        if cfg.requant:                     # WB reads the multipliers too: at the channel's offset (FC: the slot)
            offset = Mux(ctl.phase == Phase.INIT, ctl.bias_slot, ctl.wb_channel) if cfg.conv else step
            bias_addr, bias_en = desc.bias_base + offset, ((ctl.phase == Phase.INIT) & reading) | mult_read(cfg, ctl)
            acc_init = rd.data.value                          # already in the accumulator format
        else:
            bias_addr = desc.bias_base + (ctl.bias_slot if cfg.conv else step)
            bias_en, acc_init = (ctl.phase == Phase.INIT) & reading, rd.data << cfg.weight_frac_bits
        m.d.comb += [
            rd.addr.eq(bias_addr),
            rd.en.eq(bias_en),
            self.acc_wr.addr.eq(step - 1),
            self.acc_wr.data.eq(acc_init),
            self.acc_wr.en.eq((ctl.phase == Phase.INIT) & (step != 0)),
            self.acc_rd.addr.eq(ctl.wb_slot if cfg.conv else step),
            self.acc_rd.en.eq((ctl.phase == Phase.WB) & reading),
        ]
        acc = Signal(acc_shape(cfg))
        m.d.sync += acc.eq(self.acc_rd.data)
        if cfg.requant:
            y, clipped = self._requantize(m, cfg, ctl, acc, rd.data.mult)
        elif cfg.conv:
            y, clipped = self._pool(m, cfg, ctl, acc)
        else:
            y, clipped = round_saturate_relu(cfg, acc, desc.relu)
        m.d.sync += [self.o.eq(y), self.clipped.eq(clipped)]
        return m

    def _requantize(self, m, cfg, ctl, acc, mult_data):
        """A requantising engine's write-back arithmetic: the multiplier read beside the accumulator is
        registered with its data (``mult``); the product of the accumulator (or, pooling, of the window register)
        and its multiplier is registered (``product``); then ``sat_act((product + 2**(shift-1)) >> shift)`` and
        ReLU. A window's multiplier, read with its first slot, is held from the window's first combination on
        (``win_mult``)."""
        desc = ctl.desc
        mult = Signal(unsigned(cfg.mult_bits), name="mult")
        m.d.sync += mult.eq(mult_data)
        value, factor = acc, mult
        if cfg.conv and cfg.max_pool > 1:
            window, first = _window(m, cfg, ctl, acc)
            win_mult = Signal.like(mult, name="win_mult")
            with m.If(first[1]):
                m.d.sync += win_mult.eq(mult)
            pooled = desc.pool != POOL_NONE
            value, factor = Mux(pooled, window, acc), Mux(pooled, win_mult, mult)
        product = Signal(signed(len(Value.cast(value)) + cfg.mult_bits), name="product")
        m.d.sync += product.eq(value * factor)
        shift = desc.shift
        half = Signal(unsigned(len(product)), name="half")   # 2**(shift-1), 0 when shift = 0 (shift < its width)
        m.d.comb += half.eq((C(1, len(product)) << shift) >> 1)
        rounded = (product + half) >> shift
        y, clamped = saturate(rounded, cfg.act_bits)
        return Mux(desc.relu & (y < 0), 0, y), clamped & ~(desc.relu & (rounded < 0))

    def _pool(self, m, cfg, ctl, acc):
        """A convolution engine's write-back arithmetic: without pooling as :func:`round_saturate_relu`; with
        pooling a window register combines the window's reads (maximum, or exact sum) and the rounding takes it
        one cycle later, shifting an average's sum by ``wf + log2(k*k)`` (docs/engine.md, "Write-back with
        pooling")."""
        desc = ctl.desc
        pool_log = max(cfg.max_pool, 1).bit_length() - 1      # log2 of the largest power-of-two window
        window, _ = _window(m, cfg, ctl, acc)
        value = Mux(desc.pool != POOL_NONE, window, acc)
        # e = log2(k*k) for an average over a k x k (power-of-two) window, else 0
        shifts = [(POOL_AVG, 1 << j, 2 * j) for j in range(1, pool_log + 1)]
        e_results = {0: _round_saturate_relu_shift(cfg, value, cfg.weight_frac_bits, desc.relu)}
        for _, _, e in shifts:
            e_results[e] = _round_saturate_relu_shift(cfg, value, cfg.weight_frac_bits + e, desc.relu)
        y, clipped = e_results[0]
        for _, k, e in shifts:
            chosen = (desc.pool == POOL_AVG) & (desc.pool_size == k)
            y = Mux(chosen, e_results[e][0], y)
            clipped = Mux(chosen, e_results[e][1], clipped)
        return y, clipped


def _window(m, cfg, ctl, acc):
    """The pooling window register of a convolution engine's write-back: from the read data's register on, the
    maximum or exact sum of the window's reads so far (``ctl.win_first`` restarts it). Returns ``(window, first)``,
    ``first[1]`` being high in the cycle the window takes its first read."""
    pool_log = max(cfg.max_pool, 1).bit_length() - 1          # log2 of the largest power-of-two window
    window = Signal(signed(cfg.acc_bits + 2 * pool_log), name="window")
    first = Signal(2)                                         # win_first, delayed to the read data's register
    m.d.sync += first.eq(Cat(ctl.win_first, first[0]))
    combined = Mux(ctl.desc.pool == POOL_MAX, Mux(acc > window, acc, window), window + acc)
    m.d.sync += window.eq(Mux(first[1], acc, combined))
    return window, first


def _round_saturate_relu_shift(cfg, value, shift: int, relu):
    """:func:`round_saturate_relu` with the shift ``shift`` instead of ``weight_frac_bits``."""
    value = Value.cast(value)
    rounded = (value + (1 << (shift - 1))) >> shift if shift else value
    y, clamped = saturate(rounded, cfg.act_bits)
    negative = rounded < 0
    return Mux(relu & (y < 0), 0, y), clamped & ~(relu & negative)
