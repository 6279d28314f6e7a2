"""The engine under Amaranth's own simulator: a slow but dependency-free twin of the cocotb testbench, used for
small smoke tests and for debugging (``rtl_run(program, x_q)`` returns plain values)."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from openeie.hw import Engine
from openeie.timing import COUNTER_LATENCY
from openeie.layout import to_signed, to_unsigned
from openeie.stats import COUNTERS, counter_index



__all__ = ["rtl_run"]


def rtl_run(program, x_q, *, max_cycles: int = 200_000, vcd: str | None = None):
    """Run ``program`` on logical input ``x_q``; return ``(outputs, stats_dict, done_cycle)`` where
    ``outputs`` is the last layer's storage-order output, ``stats_dict`` has the shape of ``Stats.as_dict()``
    and ``done_cycle`` is the cycle (counted from cycle 0 after ``start``) at which ``done`` was high."""
    cfg = program.config
    dut = Engine(cfg)
    words = program.load_port_words()
    x_storage = to_unsigned(program.input_storage(x_q), cfg.act_bits)
    n_out = program.layers[-1].out_words * cfg.n_pe
    index = counter_index(cfg)
    result = {}

    async def bench(ctx):
        for word in words:
            ctx.set(dut.load.payload.as_value(), word)
            ctx.set(dut.load.valid, 1)
            await ctx.tick()
        ctx.set(dut.load.valid, 0)
        for value in x_storage:
            ctx.set(dut.act_in.payload, int(value))
            ctx.set(dut.act_in.valid, 1)
            await ctx.tick()
        ctx.set(dut.act_in.valid, 0)
        ctx.set(dut.n_layers, program.n_layers)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        cycle = 0
        while not ctx.get(dut.done):
            await ctx.tick()
            cycle += 1
            if cycle > max_cycles:
                raise TimeoutError(f"engine not done after {max_cycles} cycles")
        result["done_cycle"] = cycle
        ctx.set(dut.act_out.ready, 1)
        outputs = []
        while len(outputs) < n_out:
            if ctx.get(dut.act_out.valid):
                outputs.append(ctx.get(dut.act_out.payload))
            await ctx.tick()
        result["outputs"] = to_signed(np.asarray(outputs, dtype=np.int64) & ((1 << cfg.act_bits) - 1),
                                      cfg.act_bits)
        await ctx.tick()                              # the counter port reads from the cycle after done
        values = {}
        for name, address in index.items():
            ctx.set(dut.counter_sel, address)
            for _ in range(COUNTER_LATENCY):
                await ctx.tick()
            values[name] = ctx.get(dut.counter_value)
        result["counters"] = values

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    values = result["counters"]
    stats = {name: values[name] for name in COUNTERS}
    stats["pe_busy"] = [values[f"pe_busy[{p}]"] for p in range(cfg.n_pe)]
    stats["layer_cycles"] = [values[f"layer_cycles[{l}]"] for l in range(program.n_layers)]
    return result["outputs"], stats, result["done_cycle"]
