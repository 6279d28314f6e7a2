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

from .errors import InputError
from .files import OutputKind

__all__ = ["sweep_fifo", "sweep_pes", "sweep_rel", "run_sweeps"]


#: What a sweep-sim directory holds (replaced only when it is one; see :mod:`openeie.files`).
SWEEP_SIM = OutputKind(format="openeie-sweep-sim", marker="index.json",
                       patterns=("index.json", "sweep_fifo.*", "sweep_pes.*", "sweep_rel.*"),
                       what="sweep-sim directory")


def _layers(names):
    from .benchmarks import EIE_LAYERS
    chosen = [l for l in EIE_LAYERS if names is None or l.name in names]
    if names is not None:
        unknown = sorted(set(names) - {l.name for l in EIE_LAYERS})
        if unknown:
            raise InputError(f"unknown benchmark layer(s) {unknown}: expected some of "
                             f"{[l.name for l in EIE_LAYERS]}")
    return chosen


def _bar(total, desc, enabled):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)


def _simulate(program, x_q, fifo_depth=None):
    from .sim import cycle
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
                                 entries_per_word=max(1, 64 // (4 + b)))
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


def _plot(result: dict, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    kind = result["sweep"]
    if kind == "rel":
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        x = result["rel_index_bits"]
        for name, r in result["layers"].items():
            axes[0].plot(x, [100 * v for v in r["filler_overhead"]], marker="o", label=name)
            axes[1].plot(x, [c / r["cycles"][0] for c in r["cycles"]], marker="o", label=name)
        axes[0].set(xlabel="relative index bits", ylabel="filler entries / non-zeros (%)", yscale="symlog",
                    title="Filler overhead")
        axes[1].set(xlabel="relative index bits", ylabel=f"cycles / cycles at {x[0]} bits", title="Cycles")
        axes[1].legend(fontsize=7, ncol=2)
    else:
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        for name, r in result["layers"].items():
            if kind == "fifo":
                ax.plot(result["fifo_depths"], r["efficiency"], marker=".", label=name)
            else:
                ax.plot(result["n_pe"], r["speedup"], marker="o", label=name)
        if kind == "fifo":
            ax.set(xlabel="activation queue depth", ylabel="load-balance efficiency",
                   title=f"Efficiency vs FIFO depth ({result['n_pe']} PEs)", ylim=(0, 1.02))
        else:
            n = result["n_pe"]
            ax.plot(n, n, "k--", lw=0.8, label="linear")
            ax.set(xlabel="PEs", ylabel="speedup over 1 PE", xscale="log", yscale="log",
                   title=f"Scalability (FIFO {result['fifo_depth']})")
        ax.legend(fontsize=7, ncol=2)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_sweeps(out_dir, which=("fifo", "pes", "rel"), layers=None, seed=0, progress=True, printer=print,
               **ranges) -> dict:
    """Run the chosen sweeps, writing JSON and PNG per sweep (and ``index.json``) into ``out_dir``, which must
    be new, empty or an earlier sweep-sim directory (:data:`SWEEP_SIM`); it is written when all sweeps are done."""
    from .files import check_output_dir, staged_dir
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
            _plot(r, tmp / f"sweep_{name}.png")
            results[name] = r
        (tmp / "index.json").write_text(json.dumps({"format": SWEEP_SIM.format, "sweeps": list(which),
                                                     "layers": layers, "seed": seed}, indent=2) + "\n")
    for name, r in results.items():
        printer(f"{name} sweep: {Path(out_dir) / f'sweep_{name}.png'} and .json ({r['wall_s']:.1f} s)")
    return results
