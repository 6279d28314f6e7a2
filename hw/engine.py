"""Top level of the OpenEIE engine."""

from __future__ import annotations

from amaranth.hdl import C, Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out, connect

from openeie.config import EngineConfig
from openeie.errors import InputTypeError
from openeie.layout import Mem, act_shape, load_word_layout
from openeie.stats import counter_index
from openeie.timing import wb_latency

from .actbank import ActivationBanks, ActivationDrain
from .broadcast import Broadcaster
from .interfaces import Phase, count_shape, index_shape
from .logic import lsb, popcount
from .controller import Controller
from .counters import COUNTER_BITS, Counters
from .pe import ProcessingElement
from .queue import QueueCredit
from .writeback import mult_read

__all__ = ["Engine"]


class Engine(wiring.Component):
    """An OpenEIE engine: ``n_pe`` PEs, a broadcaster, ping-pong activation banks, a run controller and
    performance counters, with the ports and cycle behaviour of docs/engine.md.

    Usage: load the memory images on ``load`` (:meth:`openeie.program.Program.load_words`), stream the
    storage-order input on ``act_in``, pulse ``start`` with ``n_layers``; ``done`` strobes in the cycle after
    the last write-back cycle, then ``act_out`` produces the last layer's outputs in storage order.

    Cycle behaviour (docs/engine.md): cycle 0 is the cycle after ``start`` is sampled. Each layer runs DESC
    (2 cycles), INIT (``out_slots + 1``), COMPUTE (``max(B, L + 5) + 1``) and WB (``out_slots + 3``); see
    :class:`~openeie.hw.controller.Controller`, :class:`~openeie.hw.broadcast.Broadcaster`,
    :class:`~openeie.hw.pe.ProcessingElement` and their units for the per-block semantics. The broadcast is
    a stream fork: a pair is pushed into every PE's queue in the same cycle, and only when every queue has room
    as the broadcaster counts it (pops reach it a cycle late); it is written one cycle later from a broadcast
    register.

    Interface choices the contract leaves open: ``busy`` is high from cycle 0 until the last output has been
    taken from ``act_out`` (plus one cycle); ``start`` is ignored while busy; ``load`` and ``act_in`` are
    ready exactly when not busy; ``counter_value`` shows the counter selected by ``counter_sel``
    :data:`~openeie.timing.COUNTER_LATENCY` (2) cycles earlier, for addresses given from the cycle after
    ``done`` on (during a run the counters are being flushed and the port shows none of them in particular),
    and is ``COUNTER_BITS`` wide; ``n_layers == 0`` gives ``done`` at
    cycle 0 and no output; ``n_layers > max_layers`` runs ``max_layers`` layers; an ``act_in`` word taken in
    the cycle ``start`` is sampled is written at the old position and the position still resets.

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    load : In(stream.Signature(load_word_layout(cfg)))
        Memory image words (memory, PE, address, data).
    act_in : In(stream.Signature(act_shape(cfg)))
        Input activations, written to bank 0 at storage positions 0, 1, 2, ... (reset at ``start``).
    start : In(1)
    n_layers : In(unsigned)
        Number of layers to run (latched at ``start``), 0 .. max_layers.
    busy, done : Out(1)
    act_out : Out(stream.Signature(act_shape(cfg)))
        The last layer's ``out_slots * n_pe`` outputs in storage order.
    counter_sel : In(unsigned)
        Counter address, :func:`openeie.stats.counter_index`.
    counter_value : Out(COUNTER_BITS)
    """

    def __init__(self, cfg: EngineConfig):
        if not isinstance(cfg, EngineConfig):
            self._MustUse__silence = True           # no "created but never used" warning on top of the error
            raise InputTypeError(f"Engine needs an EngineConfig, not {type(cfg).__name__}")
        self._cfg = cfg
        super().__init__({
            "load": In(stream.Signature(load_word_layout(cfg))),
            "act_in": In(stream.Signature(act_shape(cfg))),
            "start": In(1),
            "n_layers": In(count_shape(cfg.max_layers)),
            "busy": Out(1),
            "done": Out(1),
            "act_out": Out(stream.Signature(act_shape(cfg))),
            "counter_sel": In(index_shape(len(counter_index(cfg)))),
            "counter_value": Out(COUNTER_BITS),
        })

    @property
    def config(self) -> EngineConfig:
        return self._cfg

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        m.submodules.ctrl = ctrl = Controller(cfg)
        m.submodules.bcast = bcast = Broadcaster(cfg)
        m.submodules.banks = banks = ActivationBanks(cfg)
        m.submodules.drain = drain = ActivationDrain(cfg)
        m.submodules.counters = counters = Counters(cfg)
        pes = [ProcessingElement(cfg) for _ in range(cfg.n_pe)]
        for p, pe in enumerate(pes):
            m.submodules[f"pe{p}"] = pe
        ctl = ctrl.ctl
        # the broadcast register's valid bit: a pair pushed in the previous cycle, on its way into the queues
        bc_valid = Signal()

        m.d.comb += [
            ctrl.start.eq(self.start),
            ctrl.n_layers.eq(self.n_layers),
            self.busy.eq(ctrl.busy),
            self.done.eq(ctrl.done),
            ctrl.compute_idle.eq(bcast.finished & ~bc_valid & Cat(pe.idle for pe in pes).all()),
            ctrl.drain_active.eq(drain.active),
        ]
        self._load(m, ctrl, pes)
        self._broadcast(m, ctrl, bcast, pes, bc_valid)
        self._activations(m, ctrl, bcast, banks, drain, pes)
        self._counters(m, ctl, bcast, counters, pes)
        return m

    def _load(self, m, ctrl, pes):
        """Load stream -> layer table or one PE's memories."""
        load = self.load
        xfer = load.valid & load.ready
        m.d.comb += [
            load.ready.eq(~ctrl.busy),
            ctrl.table_w.addr.eq(load.payload.addr),
            ctrl.table_w.data.eq(load.payload.data),
            ctrl.table_w.en.eq(xfer & (load.payload.mem == Mem.LAYERS)),
        ]
        for p, pe in enumerate(pes):
            m.d.comb += [
                pe.load.mem.eq(load.payload.mem), pe.load.addr.eq(load.payload.addr),
                pe.load.data.eq(load.payload.data),
                pe.load.en.eq(xfer & (load.payload.pe == p) & (load.payload.mem != Mem.LAYERS)),
            ]

    def _broadcast(self, m, ctrl, bcast, pes, bc_valid):
        """Controller -> broadcaster; broadcaster -> every PE's queue (stream fork)."""
        ctl = ctrl.ctl
        # "No queue full" at cycle t: every PE's count at the broadcaster (pushes before t, pops before t-1) has
        # room, each from a flip-flop, so the push is an AND of registers and the queues' pops end at registers.
        credits = [QueueCredit(self._cfg) for _ in pes]
        for p, credit in enumerate(credits):
            m.submodules[f"credit{p}"] = credit
        all_ready = Cat(credit.room for credit in credits).all()
        m.d.comb += [
            bcast.load.eq((ctl.phase == Phase.DESC) & (ctl.step == 1)),
            bcast.in_groups.eq(ctrl.desc_next.in_groups),
            bcast.ptr_base.eq(ctrl.desc_next.ptr_base),
            bcast.run.eq(ctl.phase == Phase.COMPUTE),
            bcast.begin.eq((ctl.phase == Phase.COMPUTE) & (ctl.step == 0)),
            bcast.o.ready.eq(all_ready),
        ]
        if self._cfg.conv:
            m.d.comb += [bcast.desc_next.eq(ctrl.desc_next), bcast.desc.eq(ctl.desc)]
        # The broadcast register: a pair pushed at t reaches every queue at t+1 from one flip-flop stage, so
        # the fan-out to the queues starts at a register, and the push itself stays at the broadcaster.
        push = bcast.o.valid & all_ready
        bc_pair = Signal.like(bcast.o.payload)
        m.d.sync += [bc_valid.eq(push), bc_pair.eq(bcast.o.payload)]
        for pe, credit in zip(pes, credits):
            m.d.comb += [credit.push.eq(push), credit.pop.eq(pe.pop),
                         pe.i.valid.eq(bc_valid), pe.i.payload.eq(bc_pair)]
        connect(m, ctl, *[pe.ctl for pe in pes])

    def _activations(self, m, ctrl, bcast, banks, drain, pes):
        """Bank ports: broadcaster / drain reads, act_in / write-back writes."""
        cfg = self._cfg
        ctl = ctrl.ctl
        parity = lsb(ctl.layer)                     # layer l reads bank l % 2, writes bank (l + 1) % 2
        draining = ctl.phase.as_value().matches(Phase.DONE, Phase.DRAIN)
        m.d.comb += [
            drain.begin.eq(ctrl.drain_begin),
            drain.n_words.eq(ctl.desc.out_words if cfg.conv else ctl.desc.out_slots),
            self.act_out.valid.eq(drain.o.valid),
            self.act_out.payload.eq(drain.o.payload),
            drain.o.ready.eq(self.act_out.ready),
            banks.rd_bank.eq(Mux(draining, ~parity, parity)),
        ]
        with m.If(draining):                        # the broadcaster reads from DESC to COMPUTE
            m.d.comb += [banks.rd.addr.eq(drain.rd.addr), banks.rd.en.eq(drain.rd.en)]
        with m.Else():
            m.d.comb += [banks.rd.addr.eq(bcast.rd.addr), banks.rd.en.eq(bcast.rd.en)]
        m.d.comb += [bcast.rd.data.eq(banks.rd.data), drain.rd.data.eq(banks.rd.data)]

        # act_in position counter (word, lane), reset at start.
        in_word = Signal(index_shape(cfg.act_depth))
        in_lane = Signal(index_shape(cfg.n_pe))
        in_xfer = self.act_in.valid & self.act_in.ready
        m.d.comb += self.act_in.ready.eq(~ctrl.busy)
        with m.If(ctl.start):
            m.d.sync += [in_word.eq(0), in_lane.eq(0)]
        with m.Elif(in_xfer):
            with m.If(in_lane == cfg.n_pe - 1):
                m.d.sync += [in_lane.eq(0), in_word.eq(in_word + 1)]
            with m.Else():
                m.d.sync += in_lane.eq(in_lane + 1)

        with m.If(self._writing(ctl)):
            m.d.comb += [
                banks.wr_bank.eq(~parity),
                banks.wr_addr.eq(ctl.wb_word if cfg.conv else ctl.step - self._wb_latency),
                banks.wr_data.eq(Cat(pe.wb_data for pe in pes)),
                banks.wr_en.eq(C(-1, cfg.n_pe)),
            ]
        with m.Else():
            m.d.comb += [
                banks.wr_bank.eq(0),
                banks.wr_addr.eq(in_word),
                banks.wr_data.eq(Cat(self.act_in.payload for _ in range(cfg.n_pe))),
                banks.wr_en.eq(Mux(in_xfer, C(1, cfg.n_pe) << in_lane, 0)),
            ]

    def _writing(self, ctl):
        """Write-back writes the destination bank this cycle: from step WB_LATENCY on (one later on a requantising
        engine); on a convolution engine when the controller says so (a completed window)."""
        if self._cfg.conv:
            return ctl.wb_write
        return (ctl.phase == Phase.WB) & (ctl.step >= self._wb_latency)

    @property
    def _wb_latency(self) -> int:
        return wb_latency(self._cfg, pooled=False)

    def _counters(self, m, ctl, bcast, counters, pes):
        """Per-cycle increments of the counters of openeie.stats."""
        n = self._cfg.n_pe
        phase, step = ctl.phase, ctl.step
        push = bcast.o.valid & bcast.o.ready
        slot_read = ctl.slot_read
        slot_write = step != 0
        # The PEs' events (all in COMPUTE, at least WB's 4 cycles before ``done``) are registered as bits before
        # they are summed: no path runs from a PE's handshakes or its adder across the die into the counters.
        late = {}
        for name in ("pop", "real", "word_read", "decode", "filler", "acc_write", "acc_saturated"):
            late[name] = Signal(len(pes), name=f"pe_{name}")
            m.d.sync += late[name].eq(Cat(getattr(pe, name) for pe in pes))
        pops = popcount(late["pop"])
        reals = popcount(late["real"])
        inc = counters.inc
        counting = phase.as_value().matches(Phase.DESC, Phase.INIT, Phase.COMPUTE, Phase.WB)
        writing = self._writing(ctl)                                   # write-back writes the bank
        bias_read = (phase == Phase.INIT) & slot_read
        if self._cfg.requant:                                          # and the multipliers in WB
            bias_read = bias_read | mult_read(self._cfg, ctl)
        # scan takes effect one cycle later, from cycle 0 to the cycle after the last counting cycle: the last
        # increments are added then, and from the cycle after (the one after ``done``) the port reads.
        m.d.comb += [
            counters.clear.eq(ctl.start),
            counters.scan.eq(ctl.start | counting),
            counters.layer.eq(ctl.layer),
            counters.sel.eq(self.counter_sel),
            self.counter_value.eq(counters.value),
            counters.pe_busy.eq(Cat(pe.issue for pe in pes)),
            inc.cycles.eq(counting),
            inc.broadcasts.eq(push),
            inc.bcast_stalls.eq(bcast.stall),
            inc.fifo_pushes.eq(Mux(push, n, 0)),
            inc.ptr_reads.eq(pops << 1),
            inc.spmat_reads.eq(popcount(late["word_read"])),
            inc.codebook_reads.eq(popcount(late["decode"])),
            inc.macs.eq(reals),
            inc.fillers.eq(popcount(late["filler"])),
            inc.acc_reads.eq(reals + Mux((phase == Phase.WB) & slot_read, n, 0)),
            inc.acc_writes.eq(popcount(late["acc_write"]) +
                              Mux((phase == Phase.INIT) & slot_write, n, 0)),
            inc.bias_reads.eq(Mux(bias_read, n, 0)),
            inc.act_reads.eq(Mux(bcast.rd.en, n, 0)),
            inc.act_writes.eq(Mux(writing, n, 0)),
            inc.layer_reads.eq((phase == Phase.DESC) & (step == 0)),
            inc.acc_saturations.eq(popcount(late["acc_saturated"])),
            inc.out_saturations.eq(Mux(writing, popcount(pe.wb_clipped for pe in pes), 0)),
        ]
