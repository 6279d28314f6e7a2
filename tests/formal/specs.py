"""Formal specs: each block beside a naive reference model, driven by free inputs (``AnySeq``).

Every spec assumes reset in the first cycle (``ResetSignal() == Initial()``) and never afterwards, and takes
the block's class as a parameter so that :mod:`.mutants` can substitute a faulty copy.
"""

from __future__ import annotations

from amaranth.hdl import Array, Assert, Assume, C, Cat, Elaboratable, Module, Mux, ResetSignal, \
    Signal, signed
from amaranth.hdl._ast import AnyConst, AnySeq, Initial   # the formal primitives are private in 0.5
from amaranth.lib import memory

from openeie.fixed import fixed_range
from openeie.hw.arith import ArithmeticUnit
from openeie.hw.broadcast import LeadingNonZero
from openeie.hw.interfaces import acc_shape
from openeie.hw.pointer import PointerReadUnit
from openeie.hw.queue import ActivationQueue, QueueCredit
from openeie.layout import act_shape, codebook_shape, ptr_shape

__all__ = ["QueueSpec", "CreditSpec", "PointerSpec", "LnzdSpec", "ArithBypassSpec"]


def _reset_first(m):
    m.d.comb += Assume(ResetSignal() == Initial())


def _any(m, shape, name):
    sig = Signal(shape, name=name)
    m.d.comb += sig.eq(AnySeq(sig.shape()))
    return sig


class _BlockSpec(Elaboratable):
    """A spec around one block of engine configuration ``cfg`` (``dut_cls``: the block's class or a mutant's)."""

    def __init__(self, cfg, dut_cls):
        self.cfg, self.dut_cls = cfg, dut_cls

    def _start(self):
        """A module whose reset is asserted only in the initial state, with the block as ``dut``."""
        m = Module()
        _reset_first(m)
        m.submodules.dut = dut = self.dut_cls(self.cfg)
        return m, dut


class QueueSpec(_BlockSpec):
    """ActivationQueue == a naive FIFO of ``fifo_depth`` entries with the broadcast register in front.

    The environment pushes only while the model's level (entries + the pair in flight) is below the depth (as
    the broadcaster's count guarantees) and presents the pair on ``i`` the next cycle; pops are arbitrary.
    Checked every cycle: ``i.ready == (model not full)``, ``pending == o.valid == (model not empty)`` and
    ``o.payload ==`` the model's head. So no pair is lost, duplicated, reordered or bypassed.
    """

    def __init__(self, cfg, dut_cls=ActivationQueue):
        super().__init__(cfg, dut_cls)

    def elaborate(self, platform):
        m, dut = self._start()
        depth = self.cfg.fifo_depth
        width = len(dut.i.payload.as_value())
        want, pop_req = _any(m, 1, "want"), _any(m, 1, "pop_req")
        word = _any(m, width, "word")
        store = Array(Signal(width, name=f"model{k}") for k in range(depth))
        head, count = Signal(range(depth)), Signal(range(depth + 1))
        tail = Signal(range(depth))
        flight_valid, flight = Signal(), Signal(width)           # the broadcast register
        level = count + flight_valid
        push = want & (level < depth)
        m.d.sync += [flight_valid.eq(push), flight.eq(word)]
        m.d.comb += [dut.i.valid.eq(flight_valid), dut.i.payload.eq(flight), dut.o.ready.eq(pop_req)]
        m.d.comb += tail.eq(Mux(head + count >= depth, head + count - depth, head + count))
        pop = (count != 0) & pop_req
        m.d.comb += [
            Assert(level <= depth, "overflow"),
            Assert(dut.i.ready == (count != depth), "i.ready is not 'model not full'"),
            Assert(dut.pending == (count != 0), "pending is not 'model not empty'"),
            Assert(dut.o.valid == (count != 0), "o.valid is not 'model not empty'"),
        ]
        with m.If(count != 0):
            m.d.comb += Assert(dut.o.payload.as_value() == store[head], "wrong head")
        with m.If(pop):
            m.d.sync += head.eq(Mux(head == depth - 1, 0, head + 1))
        with m.If(flight_valid):
            m.d.sync += store[tail].eq(flight)
        m.d.sync += count.eq(count + flight_valid - pop)
        return m


class CreditSpec(_BlockSpec):
    """QueueCredit == event counts: ``room`` at t is (pushes before t) - (pops before t-1) < ``fifo_depth``.

    The environment pushes only when the model says there is room, and pops only a pair pushed two or more
    cycles before that is not popped yet (as a queue allows); both are otherwise free. The counts are of events,
    not a level, so the one-cycle-late pop is the spec's own statement."""

    def __init__(self, cfg, dut_cls=QueueCredit):
        super().__init__(cfg, dut_cls)

    def elaborate(self, platform):
        m, dut = self._start()
        depth = self.cfg.fifo_depth
        want, pop_want = _any(m, 1, "want"), _any(m, 1, "pop_want")
        pushes = Signal(8)                  # pushes before t
        pushes_old = Signal(8)              # pushes before t-1: the pairs poppable at t
        pops = Signal(8)                    # pops before t
        pops_old = Signal(8)                # pops before t-1
        count = pushes - pops_old
        push = want & (count < depth)
        pop = pop_want & (pushes_old != pops)
        m.d.comb += [dut.push.eq(push), dut.pop.eq(pop)]
        m.d.sync += [pushes.eq(pushes + push), pushes_old.eq(pushes), pops.eq(pops + pop), pops_old.eq(pops)]
        m.d.comb += [
            Assume(pushes != 255),
            Assert(count <= depth, "count beyond the depth"),
            Assert(dut.room == (count < depth), "room is not 'pushes before t - pops before t-1 < depth'"),
        ]
        return m


class PointerSpec(_BlockSpec):
    """PointerReadUnit == the naive read ``(ptr[index], ptr[index+1])`` of one flat pointer memory.

    A shadow array of ``ptr_depth`` words takes every write of the even (word ``2a``) and odd (word ``2a+1``)
    banks, at any time. A pop at t is answered from the shadow as it is at t (non-transparent SRAMs: a write
    in the pop cycle is not seen). The answers go through a two-entry model queue (P, Q); checked every cycle:
    ``o`` shows the model's head, ``busy`` is "model not empty", ``i.ready`` is "fewer than two or Q consumed",
    and the latency: a pop into an empty unit is on ``o`` two cycles later.
    """

    def __init__(self, cfg, dut_cls=PointerReadUnit):
        super().__init__(cfg, dut_cls)

    def elaborate(self, platform):
        cfg = self.cfg
        m, dut = self._start()
        for port in (dut.even_w, dut.odd_w):
            m.d.comb += [port.addr.eq(_any(m, port.addr.shape(), "w_addr")), port.data.eq(_any(m, port.data.shape(),
                         "w_data")), port.en.eq(_any(m, 1, "w_en")),
                         Assume(~(port.en & ResetSignal())), Assume(port.addr < cfg.ptr_bank_depth)]
        shadow = Array(Signal(ptr_shape(cfg), name=f"ptr{k}") for k in range(cfg.ptr_depth))
        for bank, port in ((0, dut.even_w), (1, dut.odd_w)):
            with m.If(port.en):
                m.d.sync += shadow[port.addr * 2 + bank].eq(port.data)

        index = _any(m, dut.i.payload.ptr.shape(), "index")
        act = _any(m, act_shape(cfg), "act")
        m.d.comb += [Assume(index + 1 < cfg.ptr_depth), dut.i.payload.ptr.eq(index), dut.i.payload.act.eq(act),
                     dut.i.valid.eq(_any(m, 1, "i_valid")), dut.o.ready.eq(_any(m, 1, "o_ready"))]

        item = ptr_shape(cfg).width * 2 + len(act)
        store = [Signal(item, name=f"model{k}") for k in range(2)]
        count = Signal(range(3))
        pop = dut.i.valid & dut.i.ready
        take = dut.o.valid & dut.o.ready
        expected = Cat(shadow[index], shadow[index + 1], act)
        m.d.comb += [
            Assert(dut.i.ready == ((count < 2) | dut.o.ready), "i.ready"),
            Assert(dut.busy == (count != 0), "busy"),
            Assert(~dut.o.valid | (count != 0), "o.valid without a popped column"),
        ]
        with m.If(dut.o.valid):
            m.d.comb += Assert(Cat(dut.o.payload.start, dut.o.payload.end, dut.o.payload.act) == store[0],
                               "start/end/act differ from the naive pointer read")
        # latency: a pop into an empty unit is on o two cycles later, not earlier
        pop_empty_1, pop_empty_2 = Signal(), Signal()
        m.d.sync += [pop_empty_1.eq(pop & (count == 0)), pop_empty_2.eq(pop_empty_1)]
        with m.If(pop_empty_2):
            m.d.comb += Assert(dut.o.valid, "not on o two cycles after the pop")
        with m.If(pop_empty_1):
            m.d.comb += Assert(~dut.o.valid, "on o one cycle after the pop")
        m.d.sync += count.eq(count + pop - take)
        with m.If(take):
            m.d.sync += store[0].eq(store[1])
        with m.If(pop):
            slot = count - take
            with m.If(slot == 0):
                m.d.sync += store[0].eq(expected)
            with m.Else():
                m.d.sync += store[1].eq(expected)
        return m


class LnzdSpec(Elaboratable):
    """LeadingNonZero: ``valid == (mask != 0)``; when valid, ``mask[index]`` is set, no lower bit is, and
    ``index`` is the bit that ``mask & (mask - 1)`` (the broadcaster's "push it, clear it") removes: so
    repeated detect-and-clear offers every non-zero of a group exactly once, in lane order."""

    def __init__(self, width, dut_cls=LeadingNonZero):
        self.width, self.dut_cls = width, dut_cls

    def elaborate(self, platform):
        m = Module()
        w = self.width
        m.submodules.dut = dut = self.dut_cls(w)
        mask = Signal(w)
        m.d.comb += [mask.eq(AnyConst(w)), dut.mask.eq(mask)]
        one_hot = Signal(w)
        m.d.comb += one_hot.eq(C(1, w) << dut.index)
        m.d.comb += Assert(dut.valid == (mask != 0), "valid")
        with m.If(mask != 0):
            m.d.comb += [
                Assert(dut.index < w, "index out of range"),
                Assert((mask & one_hot) != 0, "selected lane is zero"),
                Assert((mask & (one_hot - 1)) == 0, "a lower lane is non-zero"),
                Assert((mask ^ (mask & (mask - 1))) == one_hot, "not the lane the broadcaster clears"),
            ]
        return m


class ArithBypassSpec(_BlockSpec):
    """ArithmeticUnit + its accumulator RAM == a naive accumulate-per-row model.

    Free inputs: entries on ``i`` every cycle (code, rel, first, act) and codebook writes at any time. The
    model follows docs/engine.md "Arithmetic" from its interface only: the row address ``(first ? -1 : prev)
    + rel + 1`` and the product ``codebook[code] * a`` with the codebook as written up to the end of t+1 (read
    at D), and an accumulator array updated at once by every write (no pipeline, so no hazards). Checked at
    M (4 cycles after ``i``... 3 after E): write enable == real entry, address == row, data == ``sat(model[row]
    + product)`` with a naive saturation; and the RAM agrees with the model.
    """

    def __init__(self, cfg, dut_cls=ArithmeticUnit):
        super().__init__(cfg, dut_cls)

    def elaborate(self, platform):
        cfg = self.cfg
        m, dut = self._start()
        m.submodules.acc = acc = memory.Memory(shape=acc_shape(cfg), depth=cfg.act_depth, init=[])
        wr, rd = acc.write_port(), acc.read_port()
        m.d.comb += [wr.addr.eq(dut.acc_wr.addr), wr.data.eq(dut.acc_wr.data), wr.en.eq(dut.acc_wr.en),
                     rd.addr.eq(dut.acc_rd.addr), rd.en.eq(dut.acc_rd.en), dut.acc_rd.data.eq(rd.data),
                     dut.layer.eq(0)]
        cb = dut.codebook_w
        cb_addr, cb_data, cb_en = _any(m, cb.addr.shape(), "cb_addr"), _any(m, codebook_shape(cfg), "cb_data"), \
            _any(m, 1, "cb_en")
        m.d.comb += [cb.addr.eq(cb_addr), cb.data.eq(cb_data), cb.en.eq(cb_en), Assume(cb_addr < cfg.codebook_size),
                     Assume(~(cb_en & ResetSignal()))]      # the shadow is reset with the registers; the SRAM is not
        codebook = Array(Signal(codebook_shape(cfg), name=f"cb{k}") for k in range(cfg.codebook_size))
        with m.If(cb_en):
            m.d.sync += codebook[cb_addr].eq(cb_data)

        valid = _any(m, 1, "valid")
        entry = _any(m, dut.i.payload.as_value().shape(), "entry")
        m.d.comb += [dut.i.valid.eq(valid), dut.i.payload.eq(entry)]
        code, rel, first, a = dut.i.payload.entry.code, dut.i.payload.entry.rel, dut.i.payload.first, \
            dut.i.payload.act

        rows = cfg.act_depth
        row_w = len(dut.acc_wr.addr)
        # entry on i at t; model stages: t+1 (E), t+2 (D: row, codebook read), t+3 (P), t+4 (M: write)
        e_valid, e_code, e_rel, e_first, e_act = Signal(), Signal.like(code), Signal.like(rel), Signal(), \
            Signal.like(a)
        m.d.sync += [e_valid.eq(valid), e_code.eq(code), e_rel.eq(rel), e_first.eq(first), e_act.eq(a)]
        prev = Signal(row_w + 1, init=(1 << (row_w + 1)) - 1)          # the previous row (-1 at a slice start)
        row = Signal(row_w + 1)
        m.d.comb += row.eq(Mux(e_first, -1, prev) + e_rel + 1)
        with m.If(e_valid):
            m.d.sync += prev.eq(row)
            m.d.comb += Assume(row < rows)                       # the compiler keeps rows inside the RAM
        p_real, p_row, p_prod = Signal(), Signal(row_w), Signal(signed(cfg.weight_bits + cfg.act_bits))
        m.d.sync += [p_real.eq(e_valid & (e_code != 0)), p_row.eq(row), p_prod.eq(codebook[e_code] * e_act)]
        m_real, m_row, m_prod = Signal(), Signal(row_w), Signal.like(p_prod)
        m.d.sync += [m_real.eq(p_real), m_row.eq(p_row), m_prod.eq(p_prod)]

        model = Array(Signal(acc_shape(cfg), name=f"acc{k}") for k in range(rows))
        lo, hi = fixed_range(cfg.acc_bits)
        total = Signal(signed(cfg.acc_bits + 2))
        m.d.comb += total.eq(model[m_row] + m_prod)
        want = Signal(acc_shape(cfg))
        m.d.comb += want.eq(Mux(total > hi, hi, Mux(total < lo, lo, total)))
        m.d.comb += [Assert(dut.acc_wr.en == m_real, "write enable"), Assert(dut.acc_write == m_real)]
        with m.If(m_real):
            m.d.comb += [Assert(dut.acc_wr.addr == m_row, "write address"),
                         Assert(dut.acc_wr.data == want, "accumulated value"),
                         Assert(dut.saturated == ((total > hi) | (total < lo)), "saturated flag")]
            m.d.sync += model[m_row].eq(want)
        return m
