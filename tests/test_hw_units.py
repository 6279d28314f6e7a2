"""Single blocks of the engine under Amaranth's simulator, each against a naive model (``ref_*``), plus a small
whole-engine smoke test that needs no Verilator."""

from __future__ import annotations

import collections
import random

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from openeie.config import EngineConfig
from openeie.fixed import fixed_range, round_shift, saturate
from openeie.hw.broadcast import LeadingNonZero
from openeie.hw.interfaces import acc_shape
from openeie.timing import COUNTER_LATENCY
from openeie.hw.pointer import PointerReadUnit
from openeie.hw.queue import ActivationQueue, QueueCredit
from openeie.hw.spmat import SparseMatrixReadUnit
from openeie.hw.writeback import round_saturate_relu
from openeie.layout import act_shape, pack_entries

from engine_cases import make_cases

SMALL = dict(spmat_depth_words=32, ptr_depth=64, act_depth=8, bias_depth=16, max_layers=2)


def _run(dut, bench, clocked=True):
    sim = Simulator(dut)
    if clocked:
        sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


# ---- LNZD ---------------------------------------------------------------------------------------------------

def ref_lnzd(mask: int, width: int):
    for i in range(width):
        if mask >> i & 1:
            return 1, i
    return 0, None


@pytest.mark.parametrize("width", [1, 2, 3, 5, 8])
def test_lnzd_exhaustive(width):
    dut = LeadingNonZero(width)
    seen = []

    async def bench(ctx):
        for mask in range(1 << width):
            ctx.set(dut.mask, mask)
            valid = ctx.get(dut.valid)
            seen.append((valid, ctx.get(dut.index) if valid else None))

    _run(dut, bench, clocked=False)
    assert seen == [ref_lnzd(mask, width) for mask in range(1 << width)]


def test_lnzd_rejects_bad_width():
    with pytest.raises(ValueError, match="positive integer"):
        LeadingNonZero(0)


# ---- write-back arithmetic -----------------------------------------------------------------------------------

class _WriteBackFunction(wiring.Component):
    def __init__(self, cfg):
        self._cfg = cfg
        super().__init__({"acc": In(acc_shape(cfg)), "relu": In(1), "y": Out(act_shape(cfg)), "clipped": Out(1)})

    def elaborate(self, platform):
        m = Module()
        y, clipped = round_saturate_relu(self._cfg, self.acc, self.relu)
        m.d.comb += [self.y.eq(y), self.clipped.eq(clipped)]
        return m


def ref_write_back(cfg, acc, relu):
    """(output, clipped) as openeie.sim.golden defines them: clipped = saturation changed the output."""
    rounded = int(round_shift(np.int64(acc), cfg.weight_frac_bits))
    y = int(saturate(np.int64(rounded), cfg.act_bits))
    lo, hi = fixed_range(cfg.act_bits)
    return (max(y, 0) if relu else y), int(rounded > hi or (rounded < lo and not relu))


@pytest.mark.parametrize("wf,af,act,acc", [(12, 8, 16, 32), (0, 2, 6, 12), (5, 3, 8, 16), (1, 0, 4, 8)])
def test_round_saturate_relu(wf, af, act, acc):
    cfg = EngineConfig(n_pe=1, weight_bits=max(wf + 1, acc - act), weight_frac_bits=wf, act_bits=act,
                       act_frac_bits=af, acc_bits=acc, **SMALL)
    lo, hi = fixed_range(acc)
    rng = random.Random(wf)
    values = [lo, hi, lo + 1, hi - 1, 0, 1, -1] + [rng.randint(lo, hi) for _ in range(300)]
    if wf:
        half = 1 << (wf - 1)
        values += [k * (1 << wf) + d for k in (-3, -1, 0, 2) for d in (half - 1, half, half + 1, -half)]
    values = [v for v in values if lo <= v <= hi]
    dut = _WriteBackFunction(cfg)
    got = []

    async def bench(ctx):
        for relu in (0, 1):
            ctx.set(dut.relu, relu)
            for v in values:
                ctx.set(dut.acc, v)
                got.append((ctx.get(dut.y), ctx.get(dut.clipped)))

    _run(dut, bench, clocked=False)
    assert got == [ref_write_back(cfg, v, relu) for relu in (0, 1) for v in values]
    assert any(c for _, c in got) and not all(c for _, c in got)


# ---- activation queue ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [1, 2, 3, 8])
def test_activation_queue_matches_model(depth):
    """A pair on ``i`` at t (pushed at t-1, from the broadcast register) is poppable from t+1; ``i.ready`` is the
    FIFO not full, ``pending`` the FIFO not empty; no bypass."""
    cfg = EngineConfig(n_pe=2, fifo_depth=depth, **SMALL)
    dut = ActivationQueue(cfg)
    rng = random.Random(depth)
    trace, model_trace = [], []
    model = collections.deque()         # pairs in the FIFO
    inflight = None                     # the pair pushed in the previous cycle

    async def bench(ctx):
        nonlocal inflight
        value = 0
        for _ in range(400):
            want, pop = rng.random() < 0.6, rng.random() < 0.5
            level = len(model) + (inflight is not None)
            push = want and level < depth            # the broadcaster pushes only when its count has room
            ctx.set(dut.i.valid, inflight is not None)
            if inflight is not None:
                ctx.set(dut.i.payload, {"ptr": inflight[0], "act": inflight[1]})
            ctx.set(dut.o.ready, pop)
            ready, valid, pending = ctx.get(dut.i.ready), ctx.get(dut.o.valid), ctx.get(dut.pending)
            head = ctx.get(dut.o.payload) if valid else None
            trace.append((ready, valid, pending, None if head is None else (head.ptr, head.act)))
            model_trace.append((int(len(model) < depth), int(len(model) > 0), int(len(model) > 0),
                                model[0] if model else None))
            popped = bool(model) and pop
            if popped:
                model.popleft()
            if inflight is not None:
                model.append(inflight)
            inflight = (value % 16, value % 100 - 50) if push else None
            value += push
            await ctx.tick()

    _run(dut, bench)
    assert trace == model_trace


@pytest.mark.parametrize("depth", [1, 2, 3, 8])
def test_queue_credit_counts_pops_a_cycle_late(depth):
    """``room`` at t == pushes before t - pops before t-1 < depth, for pushes only when ``room`` and pops of pairs
    pushed at least two cycles earlier (as a queue allows)."""
    cfg = EngineConfig(n_pe=2, fifo_depth=depth, **SMALL)
    dut = QueueCredit(cfg)
    rng = random.Random(10 + depth)
    got, want = [], []
    pushed, popped = [], []             # the cycles of every push and pop

    async def bench(ctx):
        for t in range(500):
            count = len(pushed) - sum(1 for u in popped if u < t - 1)
            room = ctx.get(dut.room)
            got.append(room)
            want.append(int(count < depth))
            push = bool(room) and rng.random() < 0.7
            poppable = sum(1 for u in pushed if u <= t - 2) - len(popped)
            pop = poppable > 0 and rng.random() < 0.4
            ctx.set(dut.push, push)
            ctx.set(dut.pop, pop)
            if push:
                pushed.append(t)
            if pop:
                popped.append(t)
            await ctx.tick()

    _run(dut, bench)
    assert got == want
    assert 0 < sum(got) < len(got)                  # both full and not full were seen


# ---- pointer read unit -----------------------------------------------------------------------------------------

def test_pointer_read_unit():
    cfg = EngineConfig(n_pe=2, **SMALL)
    dut = PointerReadUnit(cfg)
    ptrs = np.cumsum([0] + [random.Random(k).randint(0, 5) for k in range(cfg.ptr_depth - 1)])
    ptr_base = 10
    cols = [0, 1, 2, 7, 6, 3, 3, 12, 5]
    rng = random.Random(1)
    out, pops, valids = [], [], []

    async def bench(ctx):
        for bank, port in ((0, dut.even_w), (1, dut.odd_w)):
            for addr in range(cfg.ptr_depth // 2):
                ctx.set(port.addr, addr)
                ctx.set(port.data, int(ptrs[2 * addr + bank]))
                ctx.set(port.en, 1)
                await ctx.tick()
            ctx.set(port.en, 0)
        pending = list(cols)
        for cycle in range(200):
            ctx.set(dut.i.valid, bool(pending))
            if pending:
                ctx.set(dut.i.payload, {"ptr": ptr_base + pending[0], "act": pending[0] + 1})
            take = rng.random() < 0.4
            ctx.set(dut.o.ready, take)
            if ctx.get(dut.o.valid) and take:
                p = ctx.get(dut.o.payload)
                out.append((p.start, p.end, p.act))
            valids.append(ctx.get(dut.o.valid))
            if pending and ctx.get(dut.i.ready):
                pops.append(cycle)
                pending.pop(0)
            await ctx.tick()

    _run(dut, bench)
    assert out == [(ptrs[ptr_base + j], ptrs[ptr_base + j + 1], j + 1) for j in cols]
    assert all(valids[t + 2] for t in pops), "pointer result register must be valid two cycles after a pop"


# ---- sparse-matrix read unit -----------------------------------------------------------------------------------

@pytest.mark.parametrize("epw", [1, 3, 4])
def test_sparse_matrix_read_unit(epw):
    cfg = EngineConfig(n_pe=1, entries_per_word=epw, code_bits=4, rel_index_bits=2,
                       **{**SMALL, "spmat_depth_words": 64})
    dut = SparseMatrixReadUnit(cfg)
    rng = np.random.default_rng(epw)
    n = 40
    codes, rels = rng.integers(0, 16, n), rng.integers(0, 4, n)
    words = pack_entries(cfg, codes, rels)
    slices = [(0, 3), (3, 3), (3, 4), (4, 11), (11, 11), (11, 12), (20, 29), (29, 40)]
    issued, entries, ready_cycles, loads = [], [], [], []

    async def bench(ctx):
        for addr, word in enumerate(words):
            ctx.set(dut.mem_w.addr, addr)
            ctx.set(dut.mem_w.data.as_value(), int(word))
            ctx.set(dut.mem_w.en, 1)
            await ctx.tick()
        ctx.set(dut.mem_w.en, 0)
        ctx.set(dut.restart, 1)
        await ctx.tick()
        ctx.set(dut.restart, 0)
        pending = list(slices)
        word_reads = 0
        for cycle in range(120):
            ctx.set(dut.i.valid, bool(pending))
            if pending:
                ctx.set(dut.i.payload, {"start": pending[0][0], "end": pending[0][1], "act": len(pending)})
            if ctx.get(dut.o.valid):
                e = ctx.get(dut.o.payload)
                entries.append((e.entry.code, e.entry.rel, e.first, e.act))
            issued.append(ctx.get(dut.issue))
            word_reads += ctx.get(dut.word_read)
            if pending and ctx.get(dut.i.ready):
                loads.append(cycle)
                pending.pop(0)
            await ctx.tick()
        ready_cycles.append(word_reads)

    _run(dut, bench)
    expect = []
    for k, (s, e) in enumerate(slices):
        expect += [(int(codes[a]), int(rels[a]), int(a == s), len(slices) - k) for a in range(s, e)]
    assert entries == expect
    # one slice held per max(1, entries) cycles, back to back
    spans = [max(1, e - s) for s, e in slices]
    assert np.diff(loads).tolist() == spans[:-1]
    assert sum(issued) == sum(e - s for s, e in slices)
    touched = [a // epw for s, e in slices for a in range(s, e)]
    assert ready_cycles[0] == 1 + sum(1 for a, b in zip(touched, touched[1:]) if a != b)


# ---- the whole engine, without Verilator ---------------------------------------------------------------------

def test_engine_smoke_amaranth_sim():
    from cocotb_engine.amaranth_tb import rtl_run
    from cocotb_engine.reference import ref_stats
    from openeie.sim import golden

    for case in make_cases("pe1_c2_r2", 0, 23)[::3]:
        outputs, stats, done_cycle = rtl_run(case.program, case.x_q)
        assert outputs.tolist() == golden.run(case.program, case.x_q)[-1].tolist(), case.case_id
        assert stats == ref_stats(case.program, case.x_q), case.case_id
        assert done_cycle == stats["cycles"]


def _random_network(cfg, rng, sizes, density=0.5):
    from openeie.compiler.network import CompressedLayer, CompressedNetwork
    layers = []
    for i, (n_out, n_in) in enumerate(zip(sizes[1:], sizes[:-1])):
        codes = rng.integers(1, cfg.codebook_size, (n_out, n_in)) * (rng.random((n_out, n_in)) < density)
        cb = np.concatenate([[0.0], rng.integers(-8, 8, cfg.codebook_size - 1) / (1 << cfg.weight_frac_bits)])
        bias = rng.integers(-16, 16, n_out) / (1 << cfg.act_frac_bits)
        layers.append(CompressedLayer.from_dense_codes(codes, cb, bias, relu=i == 0, name=f"l{i}"))
    return CompressedNetwork(layers)


@pytest.mark.parametrize("n_pe,epw,act_depth,max_layers", [(3, 5, 6, 2), (5, 2, 3, 3), (1, 16, 1, 1)])
def test_engine_odd_configs_amaranth_sim(n_pe, epw, act_depth, max_layers):
    """Non-power-of-two PE counts and word sizes, a single activation word, a single layer-table entry."""
    from cocotb_engine.amaranth_tb import rtl_run
    from cocotb_engine.reference import ref_stats
    from openeie.compiler.lower import lower
    from openeie.sim import golden

    cfg = EngineConfig(n_pe=n_pe, fifo_depth=2, code_bits=2 if epw == 16 else 3, rel_index_bits=2,
                       entries_per_word=epw, weight_bits=8, weight_frac_bits=3, act_bits=8, act_frac_bits=2,
                       acc_bits=16, spmat_depth_words=64, ptr_depth=64, act_depth=act_depth, bias_depth=8,
                       max_layers=max_layers)
    rng = np.random.default_rng(n_pe)
    sizes = [n_pe * act_depth - 1 or 1] + [int(rng.integers(1, n_pe * act_depth + 1)) for _ in range(max_layers)]
    network = _random_network(cfg, rng, sizes)
    program = lower(network, cfg)
    x = rng.integers(-20, 20, sizes[0]) * (rng.random(sizes[0]) < 0.7)
    outputs, stats, done_cycle = rtl_run(program, x)
    assert outputs.tolist() == golden.run(program, x)[-1].tolist()
    assert stats == ref_stats(program, x)
    assert done_cycle == stats["cycles"]


def test_engine_zero_layers_and_counter_port():
    """n_layers = 0: done at cycle 0, no output, busy drops; counter port: registered, 0 past the end."""
    from openeie.hw import Engine
    from openeie.stats import counter_index

    cfg = EngineConfig(n_pe=2, **SMALL)
    dut = Engine(cfg)
    trace = {}

    async def bench(ctx):
        ctx.set(dut.n_layers, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        trace["done0"] = ctx.get(dut.done)
        trace["busy0"] = ctx.get(dut.busy)
        await ctx.tick()
        trace["busy1"] = ctx.get(dut.busy)
        trace["valid1"] = ctx.get(dut.act_out.valid)
        ctx.set(dut.counter_sel, counter_index(cfg)["layer_reads"])
        await ctx.tick().repeat(COUNTER_LATENCY)
        trace["layer_reads"] = ctx.get(dut.counter_value)
        ctx.set(dut.counter_sel, len(counter_index(cfg)))
        await ctx.tick().repeat(COUNTER_LATENCY)
        trace["past_end"] = ctx.get(dut.counter_value)

    _run(dut, bench)
    assert trace == {"done0": 1, "busy0": 1, "busy1": 0, "valid1": 0, "layer_reads": 0, "past_end": 0}


# ---- counters ------------------------------------------------------------------------------------------------

def test_counters_low_parts_and_read_port():
    """Largest increments every cycle, scan on and off, a clear in the middle: every counter equals the sum of
    its increments (mod 2**32), read through the port COUNTER_LATENCY cycles after its address."""
    from openeie.hw.counters import COUNTER_BITS, Counters
    from openeie.stats import COUNTERS, counter_index

    cfg = EngineConfig(n_pe=3, **SMALL)
    dut = Counters(cfg)
    index = counter_index(cfg)
    largest = (1 << len(dut.inc.cycles)) - 1
    rng = random.Random(3)
    expect = dict.fromkeys(index, 0)
    got = {}

    async def bench(ctx):
        pending = None                        # increments set in the previous cycle (registered inputs)
        for cycle in range(700):
            clear = cycle == 250
            scan = not (400 <= cycle < 430)   # a quiet spell with scan off (reads select what is flushed)
            incs = {name: largest if rng.random() < 0.8 else rng.randint(0, largest) for name in COUNTERS}
            busy = rng.getrandbits(cfg.n_pe)
            layer = rng.randrange(cfg.max_layers)
            if cycle >= 600 or not scan:      # no increments while scan is low
                incs, busy = dict.fromkeys(COUNTERS, 0), 0
            ctx.set(dut.clear, clear)
            ctx.set(dut.scan, scan and cycle < 600)
            ctx.set(dut.sel, rng.randrange(len(index)))
            ctx.set(dut.inc, incs)
            ctx.set(dut.pe_busy, busy)
            ctx.set(dut.layer, layer)
            if clear:
                for name in expect:
                    expect[name] = 0
            elif pending is not None:
                for name, value in pending.items():
                    expect[name] += value
            pending = dict(incs)
            pending.update({f"pe_busy[{p}]": busy >> p & 1 for p in range(cfg.n_pe)})
            pending.update({f"layer_cycles[{l}]": incs["cycles"] if l == layer else 0
                            for l in range(cfg.max_layers)})
            await ctx.tick()
        ctx.set(dut.scan, 0)
        for name, address in list(index.items()) + [("past_end", len(index))]:
            ctx.set(dut.sel, address)
            await ctx.tick().repeat(COUNTER_LATENCY)
            got[name] = ctx.get(dut.value)

    _run(dut, bench)
    assert got == {**{name: value % (1 << COUNTER_BITS) for name, value in expect.items()}, "past_end": 0}
    assert max(expect.values()) > 1000


# ---- saturation ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("width,signed_in,bits", [(7, True, 4), (4, True, 4), (6, False, 4), (4, False, 4),
                                                  (3, True, 4)])
def test_saturate_exhaustive(width, signed_in, bits):
    from amaranth.hdl import signed, unsigned
    from openeie.hw.logic import saturate as hw_saturate

    class Sat(wiring.Component):
        def __init__(self):
            super().__init__({"x": In(signed(width) if signed_in else unsigned(width)), "y": Out(signed(bits)),
                              "clamped": Out(1)})

        def elaborate(self, platform):
            m = Module()
            y, clamped = hw_saturate(self.x, bits)
            m.d.comb += [self.y.eq(y), self.clamped.eq(clamped)]
            return m

    dut = Sat()
    values = range(-(1 << (width - 1)), 1 << (width - 1)) if signed_in else range(1 << width)
    got = []

    async def bench(ctx):
        for v in values:
            ctx.set(dut.x, v)
            got.append((ctx.get(dut.y), ctx.get(dut.clamped)))

    _run(dut, bench, clocked=False)
    lo, hi = fixed_range(bits)
    assert got == [(int(saturate(np.int64(v), bits)), int(not lo <= v <= hi)) for v in values]


# ---- the engine's load port -------------------------------------------------------------------------------------

@pytest.mark.parametrize("late_mem", ["bias", "table"])
def test_load_word_taken_with_start_lands_in_time(late_mem):
    """A load word taken in the very cycle ``start`` is sampled (the port is ready then) is written before the run
    reads it (docs/engine.md "Ports"; a register stage on the port would have to keep that). Amaranth simulation:
    the last PE's bias word for output slot 0 (read in INIT's first cycle, cycle 2) or the layer table's first
    word (read at cycle 0) is sent with ``start``; the outputs equal the golden model's."""
    import dataclasses
    from openeie.compiler.benchmarks import random_layer
    from openeie.flows.bench import lower_growing
    from openeie.hw.engine import Engine
    from openeie.layout import Mem, to_unsigned
    from openeie.sim import golden
    from openeie.sim.inputs import random_activations
    cfg = EngineConfig(n_pe=5, fifo_depth=2, **{**SMALL, "max_layers": 1})
    layer = random_layer(10, 2 * cfg.n_pe, 0.5, cfg.code_bits, seed=3, name="t")
    layer = dataclasses.replace(layer, bias=np.linspace(-0.9, 0.9, layer.shape[0]))
    program, cfg = lower_growing([layer], cfg)
    x = random_activations(10, 0.7, cfg.act_bits, seed=4)
    items = list(program.load_words())
    words = program.load_port_words()
    late = next(i for i, (mem, pe, addr, _) in enumerate(items)
                if (mem, pe, addr) == ((Mem.BIAS, cfg.n_pe - 1, 0) if late_mem == "bias" else (Mem.LAYERS, 0, 0)))
    assert items[late][3] != 0
    order = [w for i, w in enumerate(words) if i != late]
    acts = to_unsigned(program.input_storage(x), cfg.act_bits).tolist()
    n_out = program.layers[-1].out_words * cfg.n_pe
    dut = Engine(cfg)
    got = []

    async def bench(ctx):
        for w in order:
            ctx.set(dut.load.valid, 1)
            ctx.set(dut.load.payload.as_value(), w)
            await ctx.tick()
        ctx.set(dut.load.valid, 0)
        for a in acts:
            ctx.set(dut.act_in.valid, 1)
            ctx.set(dut.act_in.payload, a)
            await ctx.tick()
        ctx.set(dut.act_in.valid, 0)
        ctx.set(dut.n_layers, 1)
        ctx.set(dut.start, 1)
        ctx.set(dut.load.valid, 1)                  # the last word, in the cycle start is sampled
        ctx.set(dut.load.payload.as_value(), words[late])
        assert ctx.get(dut.load.ready)
        await ctx.tick()
        ctx.set(dut.start, 0)
        ctx.set(dut.load.valid, 0)
        for _ in range(5000):                       # done, then the outputs (bounded: a hang fails)
            if ctx.get(dut.done):
                break
            await ctx.tick()
        ctx.set(dut.act_out.ready, 1)
        for _ in range(5000):
            if len(got) == n_out:
                break
            if ctx.get(dut.act_out.valid):
                got.append(ctx.get(dut.act_out.payload))
            await ctx.tick()

    _run(dut, bench)
    want = golden.run(program, x)[-1]
    assert got == want.tolist()
    if late_mem == "bias":                                              # the late word matters
        missing = dataclasses.replace(program, mems={**program.mems, Mem.BIAS: program.mems[Mem.BIAS].copy()})
        missing.mems[Mem.BIAS][cfg.n_pe - 1, 0] = 0
        assert golden.run(missing, x)[-1].tolist() != want.tolist()
