"""Transaction-level cocotb testbench of :class:`openeie.hw.Engine`.

Components (one concept each):

* :class:`StreamDriver` drives a valid/ready stream from a list of words, with seeded random gaps;
* :class:`StreamMonitor` collects transfers of an output stream under seeded random backpressure;
* :class:`Scoreboard` compares observed transactions in order with the golden model's;
* :class:`CounterReader` reads the counter port into a ``Stats.as_dict()``-shaped dict;
* :class:`EngineTB` ties them to the DUT and runs one case: load -> act_in -> start -> done -> drain -> counters.

Sampling convention: inputs are written just after a rising edge and hold for the cycle that edge starts.
Under cocotb + Verilator a value read when ``RisingEdge(clk)`` resumes is the value *before* that edge, i.e.
what the flip-flops sampled; so a transfer is recorded at an edge when ``valid`` and ``ready`` read there are
both high (the usual synchronous sampling).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import numpy as np
from cocotb.simtime import get_sim_time
from cocotb.triggers import RisingEdge, with_timeout

from openeie.layout import to_signed, to_unsigned
from openeie.sim import golden
from openeie.stats import Stats, counter_index

from openeie.timing import COUNTER_LATENCY

__all__ = ["StreamDriver", "StreamMonitor", "Scoreboard", "CounterReader", "CaseResult", "EngineTB"]

CLOCK_PERIOD_NS = 10


class StreamDriver:
    """Source of a valid/ready stream: one word per transfer, a random idle gap before each word with
    probability ``gap_prob`` (gaps of 1..3 cycles)."""

    def __init__(self, clk, valid, payload, ready, rng: random.Random, gap_prob: float = 0.0):
        self.clk, self.valid, self.payload, self.ready = clk, valid, payload, ready
        self.rng, self.gap_prob = rng, gap_prob
        self.cycles = 0

    async def send(self, words):
        clk, rng = self.clk, self.rng
        edge = RisingEdge(clk)
        for word in words:
            if self.gap_prob and rng.random() < self.gap_prob:
                self.valid.value = 0
                for _ in range(rng.randint(1, 3)):
                    await edge
                    self.cycles += 1
            self.payload.value = int(word)
            self.valid.value = 1
            while True:
                await edge
                self.cycles += 1
                if int(self.ready.value):
                    break
        self.valid.value = 0


class StreamMonitor:
    """Sink of a valid/ready stream: ``ready`` is low in a cycle with probability ``stall_prob``; returns the
    payloads of ``count`` transfers as unsigned ints."""

    def __init__(self, clk, valid, payload, ready, rng: random.Random, stall_prob: float = 0.0):
        self.clk, self.valid, self.payload, self.ready = clk, valid, payload, ready
        self.rng, self.stall_prob = rng, stall_prob
        self.cycles = 0

    async def receive(self, count: int, timeout_cycles: int = 1_000_000):
        edge = RisingEdge(self.clk)
        out = []
        waited = 0
        while len(out) < count:
            ready = not (self.stall_prob and self.rng.random() < self.stall_prob)
            self.ready.value = int(ready)
            await edge
            self.cycles += 1
            waited += 1
            if ready and int(self.valid.value):
                out.append(int(self.payload.value))
            if waited > timeout_cycles:
                raise TimeoutError(f"only {len(out)} of {count} outputs after {timeout_cycles} cycles")
        self.ready.value = 0
        return out


@dataclass
class Scoreboard:
    """In-order comparison of observed with expected transactions of one case."""

    expected: list
    observed: list = field(default_factory=list)

    def mismatches(self, limit: int = 8) -> list:
        errors = []
        if len(self.observed) != len(self.expected):
            errors.append(f"{len(self.observed)} outputs observed, {len(self.expected)} expected")
        for k, (got, want) in enumerate(zip(self.observed, self.expected)):
            if got != want:
                errors.append(f"output {k}: got {got}, expected {want}")
                if len(errors) >= limit:
                    break
        return errors


class CounterReader:
    """Reads the counter port, pipelined: the address set before edge k is sampled at edge k and its value,
    :data:`~openeie.timing.COUNTER_LATENCY` cycles later, is read at edge ``k + COUNTER_LATENCY``
    (cocotb sees a register's value before the edge's update)."""

    def __init__(self, dut, cfg):
        self.dut, self.cfg = dut, cfg
        self.index = counter_index(cfg)

    async def read_all(self) -> dict:
        edge = RisingEdge(self.dut.clk)
        names = list(self.index)
        values = {}
        for step in range(len(names) + COUNTER_LATENCY):
            if step < len(names):
                self.dut.counter_sel.value = self.index[names[step]]
            await edge
            if step >= COUNTER_LATENCY:
                values[names[step - COUNTER_LATENCY]] = int(self.dut.counter_value.value)
        return values

    def as_stats(self, values: dict, n_layers: int) -> dict:
        """``Stats.as_dict()`` of the run (see :meth:`Stats.from_counter_values`)."""
        return Stats.from_counter_values(self.cfg, values, n_layers).as_dict()


@dataclass
class CaseResult:
    case_id: str
    stats: dict
    done_cycle: int          # cycles from cycle 0 to the cycle ``done`` was high
    errors: list
    sim_cycles: int          # every clock cycle the case took (loading, input, run, output, counters)
    run_wall_s: float = 0.0  # wall time of the free-running part (start -> done)
    outputs: list = field(default_factory=list)   # observed last-layer outputs, storage order, signed


class EngineTB:
    """Drives one engine instance through cases; ``rng`` seeds gaps and backpressure."""

    def __init__(self, dut, cfg, rng: random.Random, gap_prob: float = 0.2, stall_prob: float = 0.3):
        self.dut, self.cfg, self.rng = dut, cfg, rng
        self.load = StreamDriver(dut.clk, dut.load__valid, dut.load__payload, dut.load__ready, rng, gap_prob)
        self.act_in = StreamDriver(dut.clk, dut.act_in__valid, dut.act_in__payload, dut.act_in__ready, rng,
                                   gap_prob)
        self.act_out = StreamMonitor(dut.clk, dut.act_out__valid, dut.act_out__payload, dut.act_out__ready, rng,
                                     stall_prob)
        self.counters = CounterReader(dut, cfg)

    async def reset(self):
        dut = self.dut
        for sig in (dut.load__valid, dut.act_in__valid, dut.act_out__ready, dut.start, dut.n_layers,
                    dut.counter_sel):
            sig.value = 0
        dut.rst.value = 1
        for _ in range(3):
            await RisingEdge(dut.clk)
        dut.rst.value = 0
        await RisingEdge(dut.clk)

    def load_words(self, program) -> list:
        return program.load_port_words()

    async def run_case(self, case, timeout_cycles: int = 2_000_000, reload: bool = True,
                       timing: bool = False) -> CaseResult:
        """Load (unless ``reload`` is false: the memories already hold the program), stream the input, run,
        collect and check the outputs, read the counters."""
        dut, cfg = self.dut, self.cfg
        program = case.program
        expected = [int(v) for v in golden.run(program, case.x_q)[-1]]
        t_case = _now(dut)

        if reload:
            await self.load.send(self.load_words(program))
        await self.act_in.send(to_unsigned(program.input_storage(case.x_q), cfg.act_bits))

        dut.n_layers.value = program.n_layers
        dut.start.value = 1
        await RisingEdge(dut.clk)                       # start sampled: cycle 0 begins
        t_start = _now(dut)
        wall = time.perf_counter() if timing else 0.0
        dut.start.value = 0
        await with_timeout(RisingEdge(dut.done), timeout_cycles * CLOCK_PERIOD_NS, "ns")
        wall = time.perf_counter() - wall if timing else 0.0
        done_cycle = round((_now(dut) - t_start) / CLOCK_PERIOD_NS)

        raw = await self.act_out.receive(program.layers[-1].out_words * cfg.n_pe)
        observed = [int(v) for v in to_signed(np.array(raw, dtype=np.uint64), cfg.act_bits)]
        board = Scoreboard(expected, observed)
        await RisingEdge(dut.clk)                       # the counter port reads from the cycle after done
        values = await self.counters.read_all()
        stats = self.counters.as_stats(values, program.n_layers)
        errors = board.mismatches()
        if done_cycle != stats["cycles"]:
            errors.append(f"done came {done_cycle} cycles after start but the cycles counter says {stats['cycles']}")
        extra = [l for l in range(program.n_layers, cfg.max_layers) if values[f"layer_cycles[{l}]"]]
        if extra:
            errors.append(f"layer_cycles of unused layers {extra} are not zero")
        while int(dut.busy.value):
            await RisingEdge(dut.clk)
        sim_cycles = round((_now(dut) - t_case) / CLOCK_PERIOD_NS)
        return CaseResult(case.case_id, stats, done_cycle, errors, sim_cycles, wall, observed)


def _now(dut) -> float:
    return get_sim_time("ns")
