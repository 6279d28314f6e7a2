"""Plots (PNG, and SVG where vectors help): they draw the data they are given and compute nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["weight_histograms", "accuracy_vs_density", "energy_breakdown", "pareto_plots", "architecture_sweep_plot",
           "synth_sweep_plot", "asic_breakdown_plot"]

# The utilisation series plotted per FPGA family (nextpnr bel names) and their labels.
_SERIES = {
    "ice40": {"ICESTORM_LC": "logic cells", "ICESTORM_RAM": "EBR", "ICESTORM_SPRAM": "SPRAM", "ICESTORM_DSP": "DSP"},
    "ecp5": {"TRELLIS_COMB": "LUT4", "TRELLIS_FF": "FF", "DP16KD": "block RAM", "MULT18X18D": "multipliers"},
}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def weight_histograms(report, path) -> None:
    """Surviving weights per layer with the k-means centroids and the fine-tuned codebook."""
    plt = _pyplot()
    names = list(report["codebooks"])
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4))
    for ax, name in zip(np.atleast_1d(axes), names):
        w = report["pruned_weights"][name]
        ax.hist(w, bins=80, color="0.6")
        cb = report["codebooks"][name]
        for c in cb["kmeans"]:
            ax.axvline(c, color="tab:blue", lw=0.8, ls="--")
        for c in cb["finetuned"]:
            ax.axvline(c, color="tab:red", lw=0.8)
        ax.set(title=f"{name}: {len(w)} weights kept", xlabel="weight", ylabel="count")
    np.atleast_1d(axes)[0].plot([], [], color="tab:blue", ls="--", label="k-means centroids")
    np.atleast_1d(axes)[0].plot([], [], color="tab:red", label="after fine-tuning")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def accuracy_vs_density(points, baseline, path) -> None:
    """Accuracy after pruning and retraining against the fraction of weights kept."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot([100 * p["density"] for p in points], [100 * p["accuracy"] for p in points], "o-", label="pruned + retrained")
    ax.axhline(100 * baseline, color="k", ls="--", lw=0.8, label="float, dense")
    ax.set(xscale="log", xlabel="weights kept (%)", ylabel="test accuracy (%)", title="Accuracy vs density")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def energy_breakdown(breakdown, path) -> None:
    """Energy per inference by component (a horizontal bar each)."""
    plt = _pyplot()
    items = sorted(((k, v) for k, v in breakdown.items() if v > 0), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.barh([k for k, _ in items], [v / 1e3 for _, v in items], color="tab:green")
    ax.set(xlabel="energy per inference (nJ)", title="Energy breakdown (45 nm)")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _save_png_svg(plt, fig, out_dir: Path, stem: str) -> list:
    """Write ``fig`` as ``stem.png`` and ``stem.svg`` in ``out_dir``, close it, return the two paths."""
    fig.tight_layout()
    paths = [out_dir / f"{stem}.{ext}" for ext in ("png", "svg")]
    for path in paths:
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return paths


def pareto_plots(rows, fronts: dict, out_dir, has_accuracy: bool) -> list:
    """Scatter plots of a design-space sweep with each Pareto front (``fronts["x_key/y_key"]``: its rows), as PNG
    and SVG files in ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    plt = _pyplot()
    ok = [r for r in rows if "error" not in r]
    pairs = ([("energy_pj", "accuracy"), ("storage_bits", "accuracy")] if has_accuracy
             else [("energy_pj", "cycles"), ("storage_bits", "cycles")])
    written = []
    for x_key, y_key in pairs:
        maximize = y_key == "accuracy"
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        codes = sorted({r["code_bits"] for r in ok})
        for cb in codes:
            sel = [r for r in ok if r["code_bits"] == cb]
            ax.scatter([r[x_key] for r in sel], [r[y_key] for r in sel], s=14, alpha=0.6, label=f"{cb}-bit codes")
        front = fronts[f"{x_key}/{y_key}"]
        ax.plot([r[x_key] for r in front], [r[y_key] for r in front], "k-", lw=1.2, label="Pareto front")
        ax.set_xscale("log")
        ax.set(xlabel={"energy_pj": "energy per inference (pJ)", "storage_bits": "storage (bits)"}[x_key],
               ylabel={"accuracy": "engine accuracy (fixed point)", "cycles": "cycles per inference"}[y_key],
               title=f"{y_key} vs {x_key.split('_')[0]}")
        if not maximize:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        written += _save_png_svg(plt, fig, out_dir, f"pareto_{x_key.split('_')[0]}_{y_key}")
    return written


def architecture_sweep_plot(result: dict, path) -> None:
    """One ``openeie sweep-sim`` sweep (FIFO depth, PE count or relative-index width) as a PNG."""
    plt = _pyplot()
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


def synth_sweep_plot(result: dict, path) -> Path:
    """Utilisation (percent per resource) and Fmax against the PE count."""
    plt = _pyplot()
    family = result["family"]
    fits = [p for p in result["points"] if p["fits"]]
    fig, (ax_u, ax_f) = plt.subplots(1, 2, figsize=(10, 4))
    for bel, label in _SERIES[family].items():
        xs = [p["n_pe"] for p in fits if bel in p["utilization"]]
        ys = [p["utilization"][bel]["percent"] for p in fits if bel in p["utilization"]]
        if xs:
            ax_u.plot(xs, ys, marker="o", label=label)
    ax_u.axhline(100, color="grey", linestyle=":")
    ax_u.set(xlabel="PEs", ylabel="utilisation (%)", title=f"{result['part']}: resources")
    if ax_u.get_legend_handles_labels()[0]:
        ax_u.legend()
    ax_f.plot([p["n_pe"] for p in fits], [p["fmax_mhz"] for p in fits], marker="o", label="Fmax (nextpnr)")
    unrouted = [p for p in fits if not p.get("routed", True)]
    if unrouted:
        ax_f.plot([p["n_pe"] for p in unrouted], [p["fmax_mhz"] for p in unrouted], "o", mfc="white",
                  color="C0", label="post-placement estimate")
    if fits:
        ax_f.axhline(fits[0]["target_mhz"], color="grey", linestyle=":", label="target")
    ax_f.set(xlabel="PEs", ylabel="MHz", title=f"{result['part']}: Fmax")
    ax_f.legend()
    ticks = sorted({p["n_pe"] for p in result["points"]})
    for ax in (ax_u, ax_f):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.grid(True, alpha=0.3)
    ax_f.set_ylim(bottom=0)
    misses = [p["n_pe"] for p in result["points"] if p["fits"] is False]
    if misses:
        fig.text(0.5, 0.01, f"does not fit: {', '.join(map(str, misses))} PEs", ha="center")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def compare_plots(rows, fronts: dict, out_dir) -> list:
    """Engine test accuracy against energy on chip and against storage (Huffman), one annotated point per method
    and the Pareto front, as PNG and SVG in ``out_dir``; returns the paths."""
    out_dir = Path(out_dir)
    plt = _pyplot()
    written = []
    for x_key, stem, label in (("energy_onchip_nj", "energy", "energy per inference on chip (nJ)"),
                               ("total_huffman_bits", "storage", "storage with Huffman coding (KiB)")):
        scale = 1 / 8192 if x_key == "total_huffman_bits" else 1.0
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        xs = [r[x_key] * scale for r in rows]
        ys = [100 * r["accuracy_engine_test"] for r in rows]
        ax.scatter(xs, ys, s=30, zorder=3)
        for r, x, y in zip(rows, xs, ys):
            ax.annotate(r["method"], (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        front = [r for name in fronts[f"{x_key}/accuracy_engine_test"] for r in rows if r["method"] == name]
        ax.plot([r[x_key] * scale for r in front], [100 * r["accuracy_engine_test"] for r in front], "k--", lw=1,
                label="Pareto front", zorder=2)
        from matplotlib import ticker
        ax.set_xscale("log")
        ax.margins(x=0.15, y=0.08)
        plain = ticker.FuncFormatter(lambda v, _: f"{v:g}")
        ax.xaxis.set_major_formatter(plain)
        few = max(xs) / max(min(xs), 1e-12) < 10          # less than a decade: label the minor ticks too
        ax.xaxis.set_minor_formatter(plain if few else ticker.NullFormatter())
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.set(xlabel=label, ylabel="engine accuracy, test images (%)",
               title=f"accuracy vs {stem} ({len(rows)} methods)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="best")
        written += _save_png_svg(plt, fig, out_dir, f"pareto_{stem}")
    return written


def asic_breakdown_plot(result: dict, path) -> None:
    """Stacked bars of an ASIC estimate (``openeie asic``): area by block and power by component, each beside EIE's
    published chip (its area split into SRAM and the rest by its stated SRAM share). ``path``: a file name or a
    binary file object (PNG)."""
    plt = _pyplot()
    e = result["eie"]
    fig, (ax_a, ax_p) = plt.subplots(1, 2, figsize=(10, 4.6))
    blocks = sorted(result["blocks"].items(), key=lambda kv: -kv[1]["area_mm2"])
    colours = plt.get_cmap("tab20")
    bottom = 0.0
    for i, (name, b) in enumerate(blocks):
        for part, hatch in (("memory_area_mm2", ""), ("logic_area_mm2", "//")):
            if b[part] > 0:
                label = f"{name} ({'SRAM/RF' if part.startswith('memory') else 'logic'})"
                ax_a.bar(0, b[part], bottom=bottom, color=colours(i % 20), hatch=hatch, edgecolor="white", lw=0.3,
                         label=label if b[part] > 0.01 * result["area_mm2"] else None)
                bottom += b[part]
    sram = e["area_mm2"] * e["sram_area_fraction"]
    ax_a.bar(1, sram, color="0.55", label=f"EIE SRAM (~{100 * e['sram_area_fraction']:.0f} %)")
    ax_a.bar(1, e["area_mm2"] - sram, bottom=sram, color="0.8", label="EIE rest")
    ax_a.set_xticks([0, 1], ["ours", "EIE chip"])
    ax_a.set(ylabel="area (mm2)", title=f"Area: {result['area_mm2']:.1f} vs {e['area_mm2']} mm2")
    ax_a.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    parts = [(k, v) for k, v in result["dynamic_mw"].items() if v > 0] + [("clock", result["clock_mw"]),
                                                                          ("leakage", result["leakage_mw"])]
    bottom = 0.0
    for i, (k, v) in enumerate(sorted(parts, key=lambda kv: -kv[1])):
        ax_p.bar(0, v / 1e3, bottom=bottom, color=colours((2 * i + 1) % 20), label=k)
        bottom += v / 1e3
    ax_p.bar(1, e["power_w"], color="0.7", label="EIE chip")
    ax_p.set_xticks([0, 1], ["ours", "EIE chip"])
    ax_p.set(ylabel="power (W)", title=f"Power at {result['clock_mhz']:g} MHz: {result['power_mw'] / 1e3:.2f} vs "
                                      f"{e['power_w']} W")
    ax_p.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"ASIC estimate, 45 nm, {result['config']['n_pe']} PEs ({result['source']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)
