"""Run sequencer: layer table and the DESC / INIT / COMPUTE / WB phases of every layer."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from openeie.layout import Mem, layer_desc_layout, mem_depth
from openeie.timing import WB_LATENCY

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
                    m.d.sync += [desc.eq(rd.data), remaining.eq(rd.data.out_slots),
                                 slot_read.eq(rd.data.out_slots != 0)]
                    enter(Phase.INIT)
            with m.Case(Phase.INIT):                 # out_slots + 1 cycles
                with m.If(remaining == 0):
                    enter(Phase.COMPUTE)
                with m.Else():
                    m.d.sync += [step.eq(step + 1), remaining.eq(remaining - 1), slot_read.eq(remaining >= 2)]
            with m.Case(Phase.COMPUTE):
                m.d.sync += step.eq(1)
                with m.If(self.compute_idle):
                    m.d.sync += [remaining.eq(desc.out_slots + (WB_LATENCY - 1)),
                                 slot_read.eq(desc.out_slots != 0)]
                    enter(Phase.WB)
            with m.Case(Phase.WB):                   # out_slots + WB_LATENCY cycles
                with m.If(remaining != 0):
                    m.d.sync += [step.eq(step + 1), remaining.eq(remaining - 1),
                                 slot_read.eq(remaining >= WB_LATENCY + 1)]
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
