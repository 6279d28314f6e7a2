"""``openeie sweep-sim``: architecture sweeps on the EIE benchmark layers through the cycle model, with plots.

Three sweeps (each writes ``<name>.json`` and ``<name>.png`` into the output directory):

* ``fifo``: activation-queue depth (default 1..32) vs load-balance efficiency, per layer;
* ``pes``: number of PEs (default 1..256, powers of two) vs speedup over one PE, per layer;
* ``rel``: relative-index width (default 2..8 bits) vs filler overhead (fillers / non-zeros) and cycles.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from openeie.config import EngineConfig, entries_that_fit
from openeie.errors import InputError
from openeie.files import OutputKind
from openeie.report.plots import architecture_sweep_plot

__all__ = ["sweep_fifo", "sweep_pes", "sweep_rel", "run_sweeps"]


#: What a sweep-sim directory holds (replaced only when it is one; see :mod:`openeie.files`).
SWEEP_SIM = OutputKind(format="openeie-sweep-sim", marker="index.json",
                       patterns=("index.json", "sweep_fifo.*", "sweep_pes.*", "sweep_rel.*"),
                       what="sweep-sim directory")


def _layers(names):
    from openeie.compiler.benchmarks import EIE_LAYERS
    chosen = [l for l in EIE_LAYERS if names is None or l.name in names]
    if names is not None:
        unknown = sorted(set(names) - {l.name for l in EIE_LAYERS})
        if unknown:
            raise InputError(f"unknown benchmark layer(s) {unknown}: expected some of "
                             f"{[l.name for l in EIE_LAYERS]}")
    return chosen


def _bar(total, desc, enabled):
    from tqdm import tqdm
    from openeie.progress import shown
    return tqdm(total=total, desc=desc, disable=not shown(enabled), leave=False)


def _simulate(program, x_q, fifo_depth=None):
    from openeie.sim import cycle
    _, stats, timing = cycle.run(program, x_q, values=False, fifo_depth=fifo_depth)
    return timing[0], stats


def sweep_fifo(depths=tuple(range(1, 33)), n_pe=64, layers=None, seed=0, progress=True) -> dict:
    """Efficiency vs activation-queue depth. The images do not depend on the depth, so each layer is lowered
    once and simulated per depth."""
    from .bench import eie_config, eie_layer_program
    chosen = _layers(layers)
    out = {"sweep": "fifo", "n_pe": n_pe, "seed": seed, "fifo_depths": list(depths), "layers": {}}
    with _bar(len(chosen) * len(depths), "fifo sweep", progress) as bar:
        for i, bl in enumerate(chosen):
            program, x_q, cfg = eie_layer_program(bl, eie_config(n_pe), seed=seed + 10 * i)
            eff, cyc = [], []
            for d in depths:
                t, _ = _simulate(program, x_q, fifo_depth=d)
                eff.append(t.efficiency)
                cyc.append(t.cycles)
                bar.update()
            out["layers"][bl.name] = {"efficiency": eff, "cycles": cyc}
    return out


def sweep_pes(pes=(1, 2, 4, 8, 16, 32, 64, 128, 256), fifo_depth=8, layers=None, seed=0, progress=True) -> dict:
    """Speedup over one PE vs number of PEs (same seeded layer and input for every PE count)."""
    from .bench import eie_config, eie_layer_program
    chosen = _layers(layers)
    out = {"sweep": "pes", "fifo_depth": fifo_depth, "seed": seed, "n_pe": list(pes), "layers": {}}
    with _bar(len(chosen) * len(pes), "PE sweep", progress) as bar:
        for i, bl in enumerate(chosen):
            cyc, eff = [], []
            for n in pes:
                program, x_q, _ = eie_layer_program(bl, eie_config(n, fifo_depth), seed=seed + 10 * i)
                t, _ = _simulate(program, x_q)
                cyc.append(t.cycles)
                eff.append(t.efficiency)
                bar.update()
            out["layers"][bl.name] = {"cycles": cyc, "efficiency": eff, "speedup": [cyc[0] / c for c in cyc]}
    return out


def sweep_rel(bits=(2, 3, 4, 5, 6, 7, 8), n_pe=64, fifo_depth=8, layers=None, seed=0, progress=True) -> dict:
    """Filler overhead and cycles vs relative-index width."""
    from .bench import eie_config, eie_layer_program
    chosen = _layers(layers)
    out = {"sweep": "rel", "n_pe": n_pe, "fifo_depth": fifo_depth, "seed": seed, "rel_index_bits": list(bits),
           "layers": {}}
    with _bar(len(chosen) * len(bits), "rel-index sweep", progress) as bar:
        for i, bl in enumerate(chosen):
            rows = {"fillers": [], "filler_overhead": [], "cycles": [], "spmat_bits": []}
            for b in bits:
                cfg = eie_config(n_pe, fifo_depth, rel_index_bits=b,
                                 entries_per_word=entries_that_fit(EngineConfig.code_bits, b))
                program, x_q, cfg = eie_layer_program(bl, cfg, seed=seed + 10 * i)
                t, _ = _simulate(program, x_q)
                info = program.layers[0]
                rows["fillers"].append(info.n_fillers)
                rows["filler_overhead"].append(info.n_fillers / max(info.nnz, 1))
                rows["cycles"].append(t.cycles)
                rows["spmat_bits"].append(int(info.entries.sum()) * cfg.entry_bits)
                bar.update()
            out["layers"][bl.name] = rows
    return out


def run_sweeps(out_dir, which=("fifo", "pes", "rel"), layers=None, seed=0, progress=True, **ranges) -> dict:
    """Run the chosen sweeps, writing JSON and PNG per sweep (and ``index.json``) into ``out_dir``, which must
    be new, empty or an earlier sweep-sim directory (:data:`SWEEP_SIM`); it is written when all sweeps are done."""
    from openeie.files import check_output_dir, staged_dir
    funcs = {"fifo": sweep_fifo, "pes": sweep_pes, "rel": sweep_rel}
    unknown = sorted(set(which) - set(funcs))
    if unknown or not which:
        raise InputError(f"sweeps {list(which)}: expected some of {list(funcs)}")
    _layers(layers)
    check_output_dir(out_dir, SWEEP_SIM)
    results = {}
    with staged_dir(out_dir, SWEEP_SIM) as tmp:
        for name in which:
            t0 = time.perf_counter()
            kwargs = {k: v for k, v in ranges.items() if k in funcs[name].__code__.co_varnames}
            r = funcs[name](layers=layers, seed=seed, progress=progress, **kwargs)
            r["wall_s"] = time.perf_counter() - t0
            (tmp / f"sweep_{name}.json").write_text(json.dumps(r, indent=2) + "\n")
            architecture_sweep_plot(r, tmp / f"sweep_{name}.png")
            results[name] = r
        (tmp / "index.json").write_text(json.dumps({"format": SWEEP_SIM.format, "sweeps": list(which),
                                                     "layers": layers, "seed": seed}, indent=2) + "\n")
    return results
