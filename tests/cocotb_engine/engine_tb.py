"""cocotb test module run inside the simulator by ``tests/test_hw_cocotb.py`` (through
:mod:`cocotb_engine.sim`). The case set comes from the environment:

``OPENEIE_TB_CONFIG``  configuration name (a key of ``engine_cases.ALL_CONFIGS``)
``OPENEIE_TB_SEED``    case seed; ``OPENEIE_TB_COUNT`` number of cases
``OPENEIE_TB_OUT``     JSON file the per-case results are written to (before any failure is raised)
"""

from __future__ import annotations

import json
import os
import random
import time

import cocotb
from cocotb.clock import Clock

from engine_cases import ALL_CONFIGS as CONFIGS, make_cases, speed_case

from openeie.testbench.tb import CLOCK_PERIOD_NS, EngineTB


@cocotb.test()
async def engine_cases(dut):
    """Every case of the configured set, bit-exact against the golden model, with counters recorded."""
    name = os.environ["OPENEIE_TB_CONFIG"]
    seed = int(os.environ.get("OPENEIE_TB_SEED", "0"))
    count = int(os.environ.get("OPENEIE_TB_COUNT", "40"))
    cfg = CONFIGS[name]
    cases = make_cases(name, seed, count)

    Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()
    tb = EngineTB(dut, cfg, random.Random(f"{name}/{seed}"))
    await tb.reset()

    results, errors = {}, {}
    run_cycles = sim_cycles = 0
    t0 = time.perf_counter()
    for case in cases:
        result = await tb.run_case(case)
        results[case.case_id] = {"stats": result.stats, "done_cycle": result.done_cycle,
                                 "n_layers": case.n_layers, "kind": case.kind}
        run_cycles += result.done_cycle
        sim_cycles += result.sim_cycles
        if result.errors:
            errors[case.case_id] = result.errors
            dut._log.error("%s: %s", case.case_id, "; ".join(result.errors))
    wall = time.perf_counter() - t0
    report = {"config": name, "seed": seed, "count": count, "results": results, "errors": errors,
              "wall_s": wall, "run_cycles": run_cycles, "sim_cycles": sim_cycles}
    with open(os.environ["OPENEIE_TB_OUT"], "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    dut._log.info("%d cases, %d run cycles, %d simulated cycles in %.2f s (%.0f cycles/s)", len(cases),
                  run_cycles, sim_cycles, wall, sim_cycles / wall)
    assert not errors, f"{len(errors)} of {len(cases)} cases failed: {sorted(errors)[:5]}"


@cocotb.test()
async def engine_speed(dut):
    """Simulation speed: one large layer (``engine_cases.speed_case``) loaded once and run
    ``OPENEIE_TB_RUNS`` times. Free-running cycles (start -> done, no Python per cycle) and Python-driven
    cycles (loading, input, output) are timed separately; outputs are still checked every run."""
    name = os.environ["OPENEIE_TB_CONFIG"]
    runs = int(os.environ.get("OPENEIE_TB_RUNS", "20"))
    case = speed_case(name)
    cfg = CONFIGS[name]
    Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()
    tb = EngineTB(dut, cfg, random.Random(0), gap_prob=0.0, stall_prob=0.0)
    await tb.reset()
    t0 = time.perf_counter()
    await tb.load.send(tb.load_words(case.program))
    load_wall = time.perf_counter() - t0
    load_cycles = tb.load.cycles
    free_cycles, free_wall, errors = 0, 0.0, []
    t_all = time.perf_counter()
    for _ in range(runs):
        result = await tb.run_case(case, reload=False, timing=True)
        free_cycles += result.done_cycle
        free_wall += result.run_wall_s
        errors += result.errors
    all_wall = time.perf_counter() - t_all
    report = {"config": name, "runs": runs, "run_cycles_each": free_cycles // runs,
              "free_running_cycles": free_cycles, "free_running_wall_s": free_wall,
              "free_running_cycles_per_s": free_cycles / free_wall,
              "load_cycles": load_cycles, "load_wall_s": load_wall, "driven_cycles_per_s": load_cycles / load_wall,
              "runs_wall_s": all_wall, "errors": errors}
    with open(os.environ["OPENEIE_TB_OUT"], "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    dut._log.info("speed: %s", report)
    assert not errors, errors[:5]
