"""Benchmarks behind ``openeie bench`` (speed targets live here, not in timed unit tests): they measure and
return their figures; :mod:`openeie.report.tables` prints them."""

from __future__ import annotations

import time

__all__ = ["bench_compile", "bench_eie", "bench_rtl", "bench_sim", "eie_config", "fit_config", "lower_growing",
           "eie_layer_program"]


def bench_compile(seed: int = 0, repeats: int = 3, n_in: int = 25088, n_out: int = 4096, density: float = 0.04) -> dict:
    """Encode throughput of :func:`openeie.compiler.lower.lower` on a VGG-6-sized layer (25088 x 4096 at 4 %
    density, seeded) with EIE's formats on 64 PEs. Reports dense weights per second (the figure the target
    refers to) and non-zeros per second; the best of ``repeats`` runs."""
    from openeie.compiler.benchmarks import random_layer
    from openeie.compiler.lower import lower
    from openeie.config import EngineConfig
    cfg = EngineConfig(n_pe=64, spmat_depth_words=16384, ptr_depth=65536, act_depth=512)
    layer = random_layer(n_in, n_out, density, cfg.code_bits, seed=seed, name="VGG-6")
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        program = lower([layer], cfg)
        times.append(time.perf_counter() - t0)
    best = min(times)
    dense = n_in * n_out
    result = {"layer": "VGG-6", "shape": [n_out, n_in], "density": density, "nnz": layer.nnz,
              "fillers": program.layers[0].n_fillers, "seconds": best, "seconds_all": times,
              "weights_per_s": dense / best, "nnz_per_s": layer.nnz / best, "target_weights_per_s": 10e6,
              "n_pe": cfg.n_pe}
    return result


def eie_config(n_pe: int = 64, fifo_depth: int = 8, **overrides):
    """EIE's engine (formats, 128 KB sparse-matrix SRAM per PE) with pointer and activation memories sized for
    the largest benchmark layer (VGG-6: 25088 inputs)."""
    from openeie.compiler.benchmarks import EIE_LAYERS
    from openeie.compiler.plan import layer_geometry
    from openeie.config import EngineConfig
    widest = max(max(l.n_in, l.n_out) for l in EIE_LAYERS)
    groups, _, n_pointers = layer_geometry(widest, widest, n_pe)
    kw = dict(n_pe=n_pe, fifo_depth=fifo_depth, act_depth=groups, ptr_depth=n_pointers,
              bias_depth=max(1024, groups), max_layers=1)
    kw.update(overrides)
    return EngineConfig(**kw)


def fit_config(cfg, n_in: int, n_out: int):
    """``cfg`` with the activation, pointer and bias depths grown (never shrunk) to hold an ``n_in x n_out``
    layer; every other field as given. Returns ``(config, grown)``: ``grown`` maps each grown field to its new
    value (the sparse-matrix depth is grown by :func:`lower_growing`, which knows the entries)."""
    from openeie.compiler.plan import layer_geometry
    in_groups, out_slots, n_pointers = layer_geometry(n_in, n_out, cfg.n_pe)
    need = {"act_depth": max(in_groups, out_slots), "ptr_depth": n_pointers, "bias_depth": out_slots}
    grown = {k: v for k, v in need.items() if v > getattr(cfg, k)}
    return cfg.replace(**grown), grown


def lower_growing(network, cfg, assignments=None):
    """Lower ``network``; if the sparse-matrix SRAM is too small (small n_pe), double it until the network's
    memory plan fits. Returns ``(program, cfg_used)``."""
    from openeie.compiler.lower import lower
    from openeie.compiler.plan import plan_network
    plan = plan_network(network, cfg, assignments)
    depth, need = cfg.spmat_depth_words, plan.needs["spmat_depth_words"]
    while depth < need and depth < 1 << 24:
        depth *= 2
    cfg = cfg.replace(spmat_depth_words=depth)
    return lower(network, cfg, assignments, plan=plan), cfg


def eie_layer_program(bench_layer, cfg, seed: int = 0, balance: bool = False):
    """Build one EIE benchmark layer (seeded weights and input) and lower it. Returns ``(program, x_q, cfg)``."""
    from openeie.compiler.benchmarks import random_layer
    from openeie.sim.inputs import random_activations
    layer = random_layer(bench_layer.n_in, bench_layer.n_out, bench_layer.weight_density, cfg.code_bits,
                         seed=seed, name=bench_layer.name)
    x_q = random_activations(bench_layer.n_in, bench_layer.act_density, cfg.act_bits, seed=seed + 1)
    assignments = None
    if balance:
        from openeie.compiler.balance import balanced_assignment
        assignments = [balanced_assignment(layer, cfg.n_pe, cfg.rel_index_bits)]
    program, cfg = lower_growing([layer], cfg, assignments)
    return program, x_q, cfg


def bench_eie(n_pe: int = 64, fifo_depth: int = 8, clock_mhz: float = 800.0, seed: int = 0, layers=None,
              balance: bool = False, progress: bool = False) -> dict:
    """The nine layers of EIE Table III through the cycle model. Per layer: cycles, time at ``clock_mhz``, ideal
    cycles (useful MACs / n_pe), load-balance efficiency (useful MACs / (cycles * n_pe)), filler entries; and the
    suite's wall time (building the seeded layers, lowering and simulating)."""
    from openeie.compiler.benchmarks import EIE_LAYERS
    from openeie.sim import cycle
    t0 = time.perf_counter()
    cfg = eie_config(n_pe, fifo_depth)
    chosen = [l for l in EIE_LAYERS if layers is None or l.name in layers]
    rows = []
    sim_s = 0.0
    for i, bl in enumerate(_progress(chosen, progress, "EIE layers")):
        program, x_q, used_cfg = eie_layer_program(bl, cfg, seed=seed + 10 * i, balance=balance)
        t_sim = time.perf_counter()
        _, stats, timing = cycle.run(program, x_q, values=False)
        sim_s += time.perf_counter() - t_sim
        t = timing[0]
        rows.append({"name": bl.name, "cycles": t.cycles, "ideal_cycles": int(round(t.ideal_cycles)),
                     "time_us": t.cycles / clock_mhz, "efficiency": t.efficiency,
                     "fillers": program.layers[0].n_fillers, "compute_cycles": t.compute_cycles,
                     "macs": t.macs, "bcast_stalls": int(stats.counters["bcast_stalls"]),
                     "spmat_depth_words": used_cfg.spmat_depth_words})
    wall = time.perf_counter() - t0
    result = {"config": cfg.to_dict(), "clock_mhz": clock_mhz, "seed": seed, "balance": balance, "wall_s": wall,
              "simulate_s": sim_s, "layers": rows}
    return result


def bench_rtl(n_pe: int = 8, seed: int = 0, inputs: int = 100, rows_per_pe: int = 64, weight_density: float = 0.1,
              act_density: float = 0.35, build_root="build/harness") -> dict:
    """Simulation speed of the compiled RTL harness (:mod:`openeie.testbench.harness`) on EIE's formats with
    ``n_pe`` PEs: a seeded square layer of ``rows_per_pe * n_pe`` rows at ``weight_density``, loaded once and run on
    ``inputs`` seeded inputs at ``act_density`` (with the streams' random gaps and backpressure). Reports the
    simulated cycles per second of the free-running runs (``start`` to ``done``) and of everything the harness
    simulated (loading, input and output streams, counter reads), the build time, and how many runs equal the
    cycle model in outputs and every counter."""
    from openeie.compiler.benchmarks import random_layer
    from openeie.sim import cycle
    from openeie.sim.inputs import random_activations
    from openeie.testbench.harness import build_harness, run_harness
    size = rows_per_pe * n_pe
    cfg, _ = fit_config(eie_config(n_pe, spmat_depth_words=1024, max_layers=1), size, size)
    layer = random_layer(size, size, weight_density, cfg.code_bits, seed=seed, name="speed")
    program, cfg = lower_growing([layer], cfg)
    xs = [random_activations(size, act_density, cfg.act_bits, seed=seed + 1 + k) for k in range(inputs)]
    _, build_s = build_harness(cfg, build_root)
    t0 = time.perf_counter()
    runs = run_harness([(program, x) for x in xs], seed=seed, build_root=build_root)
    wall = time.perf_counter() - t0
    equal = 0
    for x, r in zip(xs, runs):
        want, stats, _ = cycle.run(program, x)
        equal += int(r.outputs.tolist() == want[-1].tolist() and r.stats.as_dict() == stats.as_dict())
    run_cycles = sum(r.done_cycle for r in runs)
    run_s = sum(r.run_seconds for r in runs)
    sim_cycles = sum(r.sim_cycles for r in runs)
    return {"n_pe": n_pe, "rows": size, "weight_density": weight_density, "act_density": act_density,
            "inputs": inputs, "seed": seed, "build_s": build_s, "run_cycles": run_cycles, "run_s": run_s,
            "cycles_per_s": run_cycles / run_s if run_s else 0.0, "run_cpu_s": sum(r.run_cpu_seconds for r in runs), "sim_cycles": sim_cycles, "wall_s": wall,
            "sim_cycles_per_s": sim_cycles / wall if wall else 0.0, "equal": equal,
            "target_cycles_per_s": 1e6, "config": cfg.to_dict()}


def bench_sim(layer: str = "Alex-8", n_pe: int = 64, fifo_depth: int = 8, seed: int = 0, repeats: int = 7,
              scale: int = 1) -> dict:
    """CPU time (``time.process_time``, median of ``repeats``) of the cycle model on one EIE Table III layer
    (default Alex-8: 4096 inputs, 1000 outputs, 25 % weights, 37.5 % non-zero inputs), timing only
    (``values=False``) and with the golden model's outputs, against a SciPy CSR mat-vec of the same fixed-point
    weights (float64). ``scale`` divides the layer's sides (quick runs). The first run with outputs after
    decoding is reported apart (``first_outputs_s``: it builds the golden model's per-layer accumulation
    order)."""
    import dataclasses
    import statistics
    import numpy as np
    import scipy.sparse
    from openeie.compiler.benchmarks import EIE_LAYERS, eie_layer
    from openeie.sim import cycle, golden
    bl = eie_layer(layer)
    index = EIE_LAYERS.index(bl)
    if scale > 1:
        bl = dataclasses.replace(bl, n_in=max(1, bl.n_in // scale), n_out=max(1, bl.n_out // scale))
    cfg = eie_config(n_pe, fifo_depth)
    program, x_q, cfg = eie_layer_program(bl, cfg, seed=seed + 10 * index)   # bench_eie's seed for this layer
    program.decoded

    def cpu(f):
        t0 = time.process_time()
        f()
        return time.process_time() - t0

    first = cpu(lambda: cycle.run(program, x_q))
    timing, outputs = [], []
    for _ in range(max(1, repeats)):                   # interleaved, so drifts of the machine's speed hit both
        timing.append(cpu(lambda: cycle.run(program, x_q, values=False)))
        outputs.append(cpu(lambda: cycle.run(program, x_q)))
    info = program.layers[0]
    pos, col, w = golden.layer_entries(program, 0)
    n_local = info.out_slots * cfg.n_pe
    matrix = scipy.sparse.csr_matrix((w.astype(np.float64), (pos, col)), shape=(n_local, info.n_cols))
    x_storage = program.input_storage(x_q).astype(np.float64)
    scipy_s = [cpu(lambda: matrix @ x_storage) for _ in range(max(1, repeats))]
    t_s, o_s, c_s = (statistics.median(v) for v in (timing, outputs, scipy_s))
    return {"layer": bl.name, "shape": [bl.n_out, bl.n_in], "weight_density": len(pos) / (bl.n_in * bl.n_out),
            "nonzero_inputs": int(np.count_nonzero(x_q)), "n_pe": cfg.n_pe, "seed": seed, "repeats": repeats,
            "timing_s": t_s, "outputs_s": o_s, "first_outputs_s": first, "scipy_s": c_s,
            "outputs_over_timing": o_s / t_s if t_s else 0.0, "timing_over_scipy": t_s / c_s if c_s else 0.0,
            "outputs_over_scipy": o_s / c_s if c_s else 0.0, "target_outputs_over_timing": 1.25,
            "timing_all_s": timing, "outputs_all_s": outputs, "scipy_all_s": scipy_s}


def _progress(items, enabled: bool, desc: str):
    from openeie.progress import shown
    if not shown(enabled):
        return items
    from tqdm import tqdm
    return tqdm(items, desc=desc, unit="layer", leave=False)
