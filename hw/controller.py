"""Run sequencer: layer table and the DESC / INIT / COMPUTE / WB phases of every layer."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from openeie.layout import Mem, bits_for, layer_desc_layout, mem_depth
from openeie.timing import POOL_LATENCY, REQUANT_LATENCY, WB_LATENCY, wb_latency

from .interfaces import Phase, control_signature, count_shape, mem_addr_shape, mem_write_signature

__all__ = ["Controller"]


class Controller(wiring.Component):
    """Sequences a run (docs/engine.md "Run sequencing"); owns the layer table.

    Cycle semantics: ``start`` is sampled in IDLE (cycle -1, ``ctl.start`` high) and latches ``n_layers``
    (clamped to ``max_layers``).
    Then for each layer l:

    * DESC, 2 cycles: step 0 reads table entry l; step 1 registers the descriptor (``ctl.desc``).
    * INIT, ``out_slots + 1`` cycles (steps 0 .. out_slots).
    * COMPUTE: step is 0 in its first cycle and 1 afterwards; it ends after the first cycle t in which
      ``compute_idle`` is high (the phase register changes at the end of t), so it lasts ``t + 1`` cycles.
    * WB, ``out_slots + WB_LATENCY`` cycles (steps 0 .. out_slots + 2); then DESC of layer l+1, or DONE.

    A convolution engine initialises ``acc_slots`` slots in INIT and reads ``wb_reads`` in WB, which lasts
    ``POOL_LATENCY`` cycle more with pooling; it also sequences the slots (``_conv_slots``). On a requantising
    engine WB lasts ``REQUANT_LATENCY`` cycle more (docs/engine.md, "Requantisation").

    DONE is the one cycle after the last WB cycle (``done`` high); then DRAIN until the output stream has
    been produced (``drain_active`` low), then IDLE. ``busy`` is high in every phase but IDLE. A run with
    ``n_layers == 0`` goes straight to DONE (``done`` at cycle 0) and back to IDLE without output.

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    start : In(1)
    n_layers : In(unsigned)
    busy, done : Out(1)
    table_w : In(memory write)
        Load port of the layer table.
    ctl : Out(control_signature(cfg))
    compute_idle : In(1)
        Broadcaster finished and every PE idle (combinational, this cycle).
    drain_active : In(1)
        The output stream still has outputs to produce.
    drain_begin : Out(1)
        Start the output stream (the DONE cycle of a run with at least one layer).
    desc_next : Out(layer_desc_layout(cfg))
        The layer table's read data: layer l's descriptor in DESC step 1 (one cycle before ``ctl.desc``).
    """

    def __init__(self, cfg):
        self._cfg = cfg
        super().__init__({
            "start": In(1),
            "n_layers": In(count_shape(cfg.max_layers)),
            "busy": Out(1),
            "done": Out(1),
            "table_w": In(mem_write_signature(mem_addr_shape(cfg, Mem.LAYERS), layer_desc_layout(cfg))),
            "ctl": Out(control_signature(cfg)),
            "compute_idle": In(1),
            "drain_active": In(1),
            "drain_begin": Out(1),
            "desc_next": Out(layer_desc_layout(cfg)),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        m.submodules.table = table = memory.Memory(shape=layer_desc_layout(cfg), depth=mem_depth(cfg, Mem.LAYERS),
                                                   init=[])
        wr = table.write_port()
        rd = table.read_port()
        m.d.comb += [wr.addr.eq(self.table_w.addr), wr.data.eq(self.table_w.data), wr.en.eq(self.table_w.en)]

        ctl = self.ctl
        phase = Signal(Phase)
        step = Signal.like(ctl.step)
        layer = Signal.like(ctl.layer)
        desc = Signal(layer_desc_layout(cfg))
        n_layers = Signal.like(self.n_layers)
        m.d.comb += [
            ctl.phase.eq(phase), ctl.step.eq(step), ctl.layer.eq(layer), ctl.desc.eq(desc),
            self.busy.eq(phase != Phase.IDLE),
            self.done.eq(phase == Phase.DONE),
            self.drain_begin.eq((phase == Phase.DONE) & (n_layers != 0)),
            rd.addr.eq(layer),
            self.desc_next.eq(rd.data),
        ]

        def enter(next_phase):
            m.d.sync += [phase.eq(next_phase), step.eq(0)]

        # Registered phase bookkeeping (no comparison against the descriptor on the way to the phase register):
        # ``remaining`` counts the cycles left in INIT / WB, ``slot_read`` is ``step < out_slots`` and
        # ``last_layer`` is ``layer + 1 == n_layers``.
        remaining = Signal(len(step))
        slot_read = Signal()
        last_layer = Signal()
        m.d.comb += ctl.slot_read.eq(slot_read)
        clamped = Mux(self.n_layers > cfg.max_layers, cfg.max_layers, self.n_layers)
        # a pooling write-back has POOL_LATENCY more, a requantising one REQUANT_LATENCY; a Python 0 folds away
        pooling = REQUANT_LATENCY if cfg.requant else 0
        if cfg.conv:
            pooling = (desc.pool != 0) * POOL_LATENCY + pooling if cfg.requant else (desc.pool != 0) * POOL_LATENCY
            self._conv_slots(m, phase, step, desc, slot_read)

        with m.Switch(phase):
            with m.Case(Phase.IDLE):
                with m.If(self.start):
                    m.d.comb += ctl.start.eq(1)
                    m.d.sync += [n_layers.eq(clamped), layer.eq(0), last_layer.eq(clamped == 1)]
                    enter(Phase.DONE)
                    with m.If(self.n_layers != 0):
                        enter(Phase.DESC)
            with m.Case(Phase.DESC):
                with m.If(step == 0):
                    m.d.comb += rd.en.eq(1)
                    m.d.sync += step.eq(1)
                with m.Else():
                    slots = rd.data.acc_slots if cfg.conv else rd.data.out_slots     # INIT initialises these
                    m.d.sync += [desc.eq(rd.data), remaining.eq(slots), slot_read.eq(slots != 0)]
                    enter(Phase.INIT)
            with m.Case(Phase.INIT):                 # out_slots + 1 cycles
                with m.If(remaining == 0):
                    enter(Phase.COMPUTE)
                with m.Else():
                    m.d.sync += [step.eq(step + 1), remaining.eq(remaining - 1), slot_read.eq(remaining >= 2)]
            with m.Case(Phase.COMPUTE):
                m.d.sync += step.eq(1)
                with m.If(self.compute_idle):
                    reads = desc.wb_reads if cfg.conv else desc.out_slots                # WB reads these
                    m.d.sync += [remaining.eq(reads + (WB_LATENCY - 1 + pooling)), slot_read.eq(reads != 0)]
                    enter(Phase.WB)
            with m.Case(Phase.WB):                   # out_slots + WB_LATENCY cycles (+ POOL_LATENCY pooling)
                with m.If(remaining != 0):
                    m.d.sync += [step.eq(step + 1), remaining.eq(remaining - 1),
                                 slot_read.eq(remaining >= WB_LATENCY + 1 + pooling)]
                with m.Elif(last_layer):
                    enter(Phase.DONE)
                with m.Else():
                    m.d.sync += [layer.eq(layer + 1), last_layer.eq(layer + 2 == n_layers)]
                    enter(Phase.DESC)
            with m.Case(Phase.DONE):
                enter(Phase.IDLE)
                with m.If(n_layers != 0):
                    enter(Phase.DRAIN)
            with m.Case(Phase.DRAIN):
                with m.If(~self.drain_active):
                    enter(Phase.IDLE)
        return m

    def _conv_slots(self, m, phase, step, desc, slot_read):
        """A convolution engine's INIT and WB slot sequencing (docs/engine.md, "Convolution layers"):

        * INIT: the bias read of step s is at offset ``s mod out_slots`` (``ctl.bias_slot``).
        * WB: the read of step r is at slot ``((qy*k + wy)*out_w + qx*k + wx)*out_slots + t`` for r in the order
          qy, qx, t, wy, wx (``ctl.wb_slot``; k = 1 without pooling, so r itself), walked with the descriptor's
          steps ``acc_line``, ``win_col``, ``win_row``; ``ctl.win_first`` marks a window's first read, and the
          read completing a window is written 3 cycles later (4 with pooling) at the next output word
          (``ctl.wb_write``, ``ctl.wb_word``).
        """
        cfg = self._cfg
        ctl = self.ctl
        addr_shape = unsigned(bits_for(cfg.act_depth) + 1)
        bias_slot = Signal(ctl.bias_slot.shape())
        with m.If(phase == Phase.DESC):
            m.d.sync += bias_slot.eq(0)
        with m.Elif((phase == Phase.INIT) & slot_read):
            m.d.sync += bias_slot.eq(Mux(bias_slot == desc.out_slots - 1, 0, bias_slot + 1))

        k = desc.pool_size
        wx, wy = Signal.like(k), Signal.like(k)
        t = Signal.like(desc.out_slots)
        qx = Signal.like(desc.pooled_w)
        base_qrow, base_q, base_t, row_a, addr = (Signal(addr_shape, name=f"wb_{n}") for n in
                                                  ("qrow", "q", "t", "row", "addr"))
        word = Signal(ctl.wb_word.shape())
        first, last = (wx == 0) & (wy == 0), (wx == k - 1) & (wy == k - 1)
        reading = (phase == Phase.WB) & slot_read
        with m.If(phase != Phase.WB):
            m.d.sync += [wx.eq(0), wy.eq(0), t.eq(0), qx.eq(0), base_qrow.eq(0), base_q.eq(0), base_t.eq(0),
                         row_a.eq(0), addr.eq(0), word.eq(0)]
        with m.Elif(reading):
            m.d.sync += word.eq(word + last)
            with m.If(wx != k - 1):
                m.d.sync += [wx.eq(wx + 1), addr.eq(addr + desc.out_slots)]
            with m.Elif(wy != k - 1):
                m.d.sync += [wx.eq(0), wy.eq(wy + 1), row_a.eq(row_a + desc.acc_line), addr.eq(row_a + desc.acc_line)]
            with m.Elif(t != desc.out_slots - 1):
                m.d.sync += [wx.eq(0), wy.eq(0), t.eq(t + 1), base_t.eq(base_t + 1), row_a.eq(base_t + 1),
                             addr.eq(base_t + 1)]
            with m.Elif(qx != desc.pooled_w - 1):
                nxt = base_q + desc.win_col
                m.d.sync += [wx.eq(0), wy.eq(0), t.eq(0), qx.eq(qx + 1), base_q.eq(nxt), base_t.eq(nxt),
                             row_a.eq(nxt), addr.eq(nxt)]
            with m.Else():
                nxt = base_qrow + desc.win_row
                m.d.sync += [wx.eq(0), wy.eq(0), t.eq(0), qx.eq(0), base_qrow.eq(nxt), base_q.eq(nxt),
                             base_t.eq(nxt), row_a.eq(nxt), addr.eq(nxt)]

        # The write of a window: 3 cycles after its last read (read, registered data, rounded), 4 with pooling;
        # one more on a requantising engine (the product).
        latency = wb_latency(cfg, pooled=False)
        delay_valid = Signal(latency + POOL_LATENCY)
        delay_word = [Signal.like(word, name=f"wb_word{i}") for i in range(latency + POOL_LATENCY)]
        m.d.sync += [delay_valid.eq(Cat(reading & last, delay_valid[:-1])), delay_word[0].eq(word)]
        m.d.sync += [delay_word[i].eq(delay_word[i - 1]) for i in range(1, len(delay_word))]
        pooled = desc.pool != 0
        m.d.comb += [
            ctl.bias_slot.eq(bias_slot),
            ctl.wb_slot.eq(addr),
            ctl.win_first.eq(first),
            ctl.wb_write.eq((phase == Phase.WB) & Mux(pooled, delay_valid[-1], delay_valid[-2])),
            ctl.wb_word.eq(Mux(pooled, delay_word[-1], delay_word[-2])),
        ]
        if cfg.requant:
            m.d.comb += ctl.wb_channel.eq(t)
