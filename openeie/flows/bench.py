"""Benchmarks behind ``openeie bench`` (speed targets live here, not in timed unit tests): they measure and
return their figures; :mod:`openeie.report.tables` prints them."""

from __future__ import annotations

import time

__all__ = ["bench_compile", "bench_eie", "eie_config", "fit_config", "lower_growing", "eie_layer_program"]


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


def _progress(items, enabled: bool, desc: str):
    if not enabled:
        return items
    from tqdm import tqdm
    return tqdm(items, desc=desc, unit="layer", leave=False)
