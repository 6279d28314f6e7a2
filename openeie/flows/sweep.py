"""``openeie sweep``: design-space exploration over engine knobs -> storage, cycles, energy, accuracy.

A sweep is a grid over ``code_bits``, ``rel_index_bits``, ``act_bits``, ``n_pe`` and ``fifo_depth``. For every
point the network is lowered with that configuration and measured:

* ``storage_bits`` / ``compression_ratio`` from the images (:mod:`openeie.compiler.storage`);
* ``cycles`` (mean over ``cycle_inputs`` inputs) and ``energy_pj`` from the cycle model and the energy table;
* ``accuracy``: the engine's fixed-point (golden model) top-1 accuracy on the test set, where the target has
  labelled data (the bundled digits model; the EIE layers have none).
* with ``asic_clock_mhz`` (``--asic-clock-mhz``): ``asic_area_mm2``, ``asic_power_w`` and ``asic_sram_area_pct``,
  the 45 nm estimate of :mod:`openeie.flows.asic` over the point's mean run (gate counts cached per configuration).

Weight sharing depends on ``code_bits`` only, so the target compresses the network once per ``code_bits`` value
before the grid is dispatched. Points run in parallel on local processes by default, or on an existing Dask
cluster given its scheduler address. Results go to CSV and JSON, and Pareto plots (energy vs accuracy, storage vs
accuracy; or energy/storage vs cycles without accuracy) to PNG and SVG.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from openeie.errors import InputError, OpenEIEError
from openeie.files import OutputKind
from openeie.report.plots import pareto_plots

__all__ = ["KNOBS", "DEFAULT_GRID", "SweepContext", "point_config", "evaluate_point", "pareto_front",
           "run_sweep", "expand_grid"]

KNOBS = ("code_bits", "rel_index_bits", "act_bits", "n_pe", "fifo_depth")

#: What a sweep directory holds (replaced only when it is one; see :mod:`openeie.files`).
SWEEP = OutputKind(format="openeie-sweep", marker="sweep.json",
                   patterns=("sweep.json", "sweep.csv", "pareto_*.png", "pareto_*.svg", "area/*"),
                   what="sweep directory")
DEFAULT_GRID = {"code_bits": [2, 3, 4, 5, 6], "rel_index_bits": [3, 4, 5], "act_bits": [8, 12, 16],
                "n_pe": [4, 16, 64], "fifo_depth": [2, 8]}
ACT_INT_BITS = 6        # activation integer bits (sign included) kept when act_bits varies


@dataclass
class SweepContext:
    """What every point needs: networks by code_bits, test data, base configuration."""
    name: str
    networks: dict                      # code_bits -> CompressedNetwork
    x_test: np.ndarray | None = None    # float inputs (batch, n_in)
    y_test: np.ndarray | None = None    # integer labels, or None (no accuracy)
    base: dict = field(default_factory=dict)
    cycle_inputs: int = 8
    area_device: str | None = None      # "up5k" / "85k": also a board-less FPGA estimate per point (slow)
    area_dir: str = "out/sweep/area"
    asic_clock_mhz: float | None = None  # also an ASIC estimate (area mm2, power W) per point at this clock
    asic_cache: str = ".cache/openeie"   # gate counts of the ASIC estimate, cached per configuration


def expand_grid(grid: dict) -> list:
    unknown = sorted(set(grid) - set(KNOBS))
    if unknown:
        raise InputError(f"unknown sweep knob(s) {unknown}: expected some of {list(KNOBS)}")
    full = {k: list(grid.get(k, [None])) for k in KNOBS}
    return [dict(zip(KNOBS, values)) for values in itertools.product(*full.values())]


def point_config(point: dict, base: dict):
    """EngineConfig of a grid point: the base configuration with the point's knobs; when ``act_bits`` changes,
    the activation format keeps ``ACT_INT_BITS`` integer bits and the accumulator holds a full product."""
    from openeie.config import EngineConfig
    kw = dict(base)
    for k, v in point.items():
        if v is not None:
            kw[k] = v
    if point.get("act_bits") is not None:
        kw["act_frac_bits"] = max(0, point["act_bits"] - ACT_INT_BITS)
    if point.get("rel_index_bits") is not None or point.get("code_bits") is not None:
        entry = kw.get("code_bits", 4) + kw.get("rel_index_bits", 4)
        kw["entries_per_word"] = max(1, 64 // entry)
    kw["acc_bits"] = max(kw.get("acc_bits", 32), kw.get("weight_bits", 16) + kw.get("act_bits", 16))
    return EngineConfig(**kw)


def valid_points(grid: dict, base: dict) -> list:
    """The grid's points whose configuration is valid (each would make an :class:`EngineConfig`); raises
    :class:`~openeie.errors.InputError` when none is, naming why the first point is not."""
    from openeie.config import ConfigError
    points = expand_grid(grid)
    errors = []
    for p in points:
        try:
            point_config(p, base)
        except ConfigError as e:
            errors.append((p, e))
    if points and len(errors) == len(points):
        p, e = errors[0]
        raise InputError(f"no point of the sweep grid is a valid engine: e.g. "
                         f"{', '.join(f'{k}={v}' for k, v in p.items() if v is not None)}: {e}")
    return points


class SweepError(OpenEIEError):
    """A sweep that could not run (e.g. the Dask scheduler is unreachable)."""


def evaluate_point(point: dict, ctx: SweepContext) -> dict:
    """Measure one grid point (runs in a worker process)."""
    from openeie.compiler.lower import lower
    from openeie.compiler.network import NetworkError
    from openeie.compiler.storage import storage_report
    from openeie.config import ConfigError
    from openeie.sim import cycle, golden
    from openeie.sim.energy import energy
    row = dict(point)
    try:
        cfg = point_config(point, ctx.base)
        network = ctx.networks[cfg.code_bits]
        program = lower(network, cfg)
    except (ConfigError, NetworkError) as e:
        row["error"] = str(e)
        return row
    totals = storage_report(program).total
    row["storage_bits"] = totals.total_bits
    row["compression_ratio"] = totals.compression_ratio
    x_q = golden.quantize_input(cfg, ctx.x_test, saturate_ok=True)
    if ctx.y_test is not None:
        y = golden.run_logical(program, x_q)
        row["accuracy"] = float(np.mean(np.argmax(y, axis=1) == ctx.y_test))
    cyc, pj, parts = [], [], []
    for x in x_q[:ctx.cycle_inputs]:
        _, stats, _ = cycle.run(program, x)
        cyc.append(stats.cycles)
        parts.append(energy(stats, cfg))
        pj.append(sum(parts[-1].values()))
    row["cycles"] = float(np.mean(cyc))
    row["energy_pj"] = float(np.mean(pj))
    if ctx.area_device:
        row.update(_area(cfg, ctx))
    if ctx.asic_clock_mhz:
        row.update(_asic(cfg, {k: float(np.mean([p[k] for p in parts])) for k in parts[0]}, row["cycles"], ctx))
    return row


def _asic(cfg, dynamic_pj: dict, cycles: float, ctx) -> dict:
    """ASIC estimate at 45 nm of this point's engine (:func:`openeie.flows.asic.estimate_point`): area, and power
    over its mean run at ``ctx.asic_clock_mhz``."""
    from .asic import estimate_point
    from openeie.fpga.gates import GateError
    try:
        r = estimate_point(cfg, dynamic_pj, max(1, int(round(cycles))), ctx.asic_clock_mhz, cache_dir=ctx.asic_cache)
    except GateError as e:
        return {"asic_error": str(e)}
    return {"asic_area_mm2": r["area_mm2"], "asic_power_w": r["power_mw"] / 1e3,
            "asic_sram_area_pct": 100 * r["sram_area_fraction"]}


def _area(cfg, ctx) -> dict:
    """Board-less synthesis estimate of the engine (with its host link) for this point's configuration."""
    from openeie.fpga.synth import SynthError, estimate
    out = Path(ctx.area_dir) / f"{ctx.area_device}_{cfg.hash().hex()[:12]}"
    try:
        r = estimate(cfg, ctx.area_device, out)
    except SynthError as e:
        return {"fpga_fits": False, "fpga_error": str(e)}
    util = r.get("utilization", {})
    return {"fpga_fits": bool(r.get("fits", True)), "fpga_fmax_mhz": r.get("fmax_mhz"),
            "fpga_max_util_pct": max((u.get("percent", 0.0) for u in util.values()), default=None),
            "fpga_utilization": util}


def pareto_front(rows, x_key: str, y_key: str, maximize_y: bool = True) -> list:
    """Indices of the rows not dominated in (minimise ``x_key``, maximise/minimise ``y_key``)."""
    pts = [(i, r[x_key], r[y_key] if maximize_y else -r[y_key]) for i, r in enumerate(rows)
           if r.get(x_key) is not None and r.get(y_key) is not None]
    front = []
    for i, x, y in pts:
        if not any((x2 <= x and y2 >= y) and (x2 < x or y2 > y) for _, x2, y2 in pts):
            front.append(i)
    return sorted(front, key=lambda i: rows[i][x_key])


def _run_local(points, ctx, workers, progress):
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from tqdm import tqdm
    from openeie.progress import shown
    results = [None] * len(points)
    if workers <= 1:
        for i, p in enumerate(tqdm(points, desc="sweep", disable=not shown(progress), leave=False)):
            results[i] = evaluate_point(p, ctx)
        return results
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(evaluate_point, p, ctx): i for i, p in enumerate(points)}
        for f in tqdm(as_completed(futures), total=len(points), desc="sweep", disable=not shown(progress), leave=False):
            results[futures[f]] = f.result()
    return results


def _client(address: str, timeout_s: float = 15.0):
    from distributed import Client
    try:
        return Client(address, timeout=f"{timeout_s:g}s")
    except (OSError, TimeoutError) as e:
        raise SweepError(f"cannot reach the Dask scheduler at {address!r}: {e}") from None


def check_scheduler(address: str) -> None:
    """Connect to the Dask scheduler once (before any work), or raise :class:`SweepError`."""
    _client(address, timeout_s=5.0).close()


def run_on_dask(fn, items, ctx, address, progress, desc="sweep (dask)") -> list:
    """``[fn(item, ctx) for item in items]`` on the Dask cluster at ``address`` (``ctx`` scattered once), with a
    progress bar; results in the order of ``items``."""
    from distributed import as_completed
    from tqdm import tqdm
    from openeie.progress import shown
    results = [None] * len(items)
    with _client(address) as client:
        ctx_future = client.scatter(ctx, broadcast=True)
        futures = [client.submit(fn, item, ctx_future, pure=False) for item in items]
        index = {f.key: i for i, f in enumerate(futures)}
        for f in tqdm(as_completed(futures), total=len(items), desc=desc, disable=not shown(progress), leave=False):
            results[index[f.key]] = f.result()
    return results


def _run_dask(points, ctx, address, progress):
    return run_on_dask(evaluate_point, points, ctx, address, progress)


def run_sweep(ctx: SweepContext, grid: dict, out_dir, workers: int | None = None, dask_address: str | None = None,
              progress: bool = True) -> dict:
    """Evaluate every grid point; write ``sweep.csv``, ``sweep.json`` and Pareto plots into ``out_dir``.

    ``out_dir`` must be new, empty or an earlier sweep (:data:`SWEEP`); it is written when the sweep is complete
    (a failed sweep leaves nothing behind)."""
    import dataclasses
    from openeie.files import check_output_dir, staged_dir
    check_output_dir(out_dir, SWEEP)
    points = valid_points(grid, ctx.base)
    with staged_dir(out_dir, SWEEP) as tmp:
        if ctx.area_device:
            ctx = dataclasses.replace(ctx, area_dir=str(tmp / "area"))
        t0 = time.perf_counter()
        if dask_address:
            rows = _run_dask(points, ctx, dask_address, progress)
        else:
            rows = _run_local(points, ctx, workers or os.cpu_count() or 1, progress)
        wall = time.perf_counter() - t0
        result = _write_results(rows, ctx, grid, tmp, wall, dask_address, workers)
    return result


def _write_results(rows, ctx, grid, out_dir: Path, wall, dask_address, workers) -> dict:
    has_acc = ctx.y_test is not None
    ok = [r for r in rows if "error" not in r]
    fronts = {}
    if ok:
        for x_key, y_key in ([("energy_pj", "accuracy"), ("storage_bits", "accuracy")] if has_acc
                             else [("energy_pj", "cycles"), ("storage_bits", "cycles")]):
            fronts[f"{x_key}/{y_key}"] = [ok[i] for i in pareto_front(ok, x_key, y_key, y_key == "accuracy")]
    result = {"format": SWEEP.format, "target": ctx.name, "grid": grid, "base_config": ctx.base, "points": len(rows),
              "failed": len(rows) - len(ok), "wall_s": wall,
              "executor": f"dask {dask_address}" if dask_address else f"{workers or os.cpu_count()} local processes",
              "rows": rows, "pareto": fronts}
    (out_dir / "sweep.json").write_text(json.dumps(result, indent=2) + "\n")
    columns = list(KNOBS) + ["storage_bits", "compression_ratio", "cycles", "energy_pj", "accuracy",
                             "fpga_fits", "fpga_fmax_mhz", "fpga_max_util_pct", "asic_area_mm2", "asic_power_w",
                             "asic_sram_area_pct", "error"]
    with open(out_dir / "sweep.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    result["n_plots"] = len(pareto_plots(rows, fronts, out_dir, has_acc)) if ok else 0
    return result


def eie_context(layer_name: str = "Alex-8", code_bits=(4,), seed: int = 0, cycle_inputs: int = 1,
                n_inputs: int = 1) -> SweepContext:
    """One EIE benchmark layer as a sweep target (seeded weights per ``code_bits``; no accuracy)."""
    from .bench import eie_config
    from openeie.compiler.benchmarks import eie_layer, random_layer
    from openeie.compiler.network import CompressedNetwork
    bl = eie_layer(layer_name)
    nets = {cb: CompressedNetwork([random_layer(bl.n_in, bl.n_out, bl.weight_density, cb, seed=seed, name=bl.name)])
            for cb in code_bits}
    rng = np.random.default_rng(seed + 1)
    x = rng.uniform(-1, 1, size=(n_inputs, bl.n_in)) * (rng.random((n_inputs, bl.n_in)) < bl.act_density)
    return SweepContext(name=f"EIE {layer_name}", networks=nets, x_test=x, y_test=None, base=eie_base(),
                        cycle_inputs=cycle_inputs)


def eie_base() -> dict:
    """The configuration fields (all but the knobs) of an EIE-layer sweep."""
    from .bench import eie_config
    base = {k: v for k, v in eie_config(64).to_dict().items() if k not in KNOBS}
    base["spmat_depth_words"] = 1 << 20
    return base


def digits_base() -> dict:
    """The configuration fields (all but the knobs) of a digits-model sweep."""
    from .demo import default_demo_config
    base = {k: v for k, v in default_demo_config().to_dict().items() if k not in KNOBS}
    base.update(ptr_depth=2048, act_depth=512, bias_depth=1024)
    return base


def digits_context(code_bits=(2, 3, 4, 5, 6), cache_dir=".cache/openeie", seed: int = 0, cycle_inputs: int = 8,
                   progress: bool = True) -> SweepContext:
    """The bundled digits model as a sweep target: compressed once per ``code_bits`` (cached as network files
    under ``cache_dir``), with the labelled test split for accuracy."""
    import hashlib
    from tqdm import tqdm
    from openeie.progress import shown
    from openeie.compiler.digits import DIGITS_RECIPE, compress_digits, load_digits_split, numerics
    from openeie.compiler.netfile import load_network, save_network
    nets = {}
    for cb in tqdm(code_bits, desc="compressing per code width", disable=not shown(progress), leave=False):
        key = hashlib.sha256(json.dumps({**DIGITS_RECIPE, "code_bits": cb, "seed": seed, "numerics": numerics()},
                                        sort_keys=True).encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"digits_net_{cb}bit_{key}.npz"
        if path.is_file():
            nets[cb] = load_network(path)
        else:
            nets[cb], _ = compress_digits(cache_dir, seed=seed, code_bits=cb)
            save_network(nets[cb], path)
    _, _, x_te, y_te = load_digits_split()
    return SweepContext(name="digits MLP", networks=nets, x_test=x_te, y_test=y_te, base=digits_base(),
                        cycle_inputs=cycle_inputs)
