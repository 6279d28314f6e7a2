"""Plots (PNG, and SVG where vectors help): they draw the data they are given and compute nothing.

Every plot names things as a reader would (:data:`COMPONENT_LABELS`, :data:`BLOCK_LABELS`, not the model's keys),
states its totals, keeps logarithmic axes to a few plainly written ticks (:func:`log_axis`) and labels the points
of its Pareto fronts with their configuration, each label placed where it overlaps no other (:func:`annotate`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["weight_histograms", "accuracy_vs_density", "energy_breakdown", "pareto_plots", "architecture_sweep_plot",
           "synth_sweep_plot", "compare_plots", "asic_breakdown_plot", "COMPONENT_LABELS", "BLOCK_LABELS",
           "component_label", "log_axis", "annotate", "point_label"]

# The utilisation series plotted per FPGA family (nextpnr bel names) and their labels.
_SERIES = {
    "ice40": {"ICESTORM_LC": "logic cells", "ICESTORM_RAM": "EBR", "ICESTORM_SPRAM": "SPRAM", "ICESTORM_DSP": "DSP"},
    "ecp5": {"TRELLIS_COMB": "LUT4", "TRELLIS_FF": "FF", "DP16KD": "block RAM", "MULT18X18D": "multipliers"},
}

#: Readable names of the energy model's components (``openeie.sim.energy.COMPONENTS``) and of the ASIC estimate's
#: other power terms.
COMPONENT_LABELS = {
    "pointer_sram": "pointer SRAM", "spmat_sram": "sparse-matrix SRAM", "codebook": "codebook (weight decode)",
    "activation_sram": "activation SRAM", "accumulators": "accumulators", "bias_sram": "bias SRAM",
    "queues": "activation queues", "mac": "multiply-accumulate", "dram": "DRAM", "clock": "clock tree",
    "leakage": "leakage",
}

#: Readable names of the engine's blocks in the ASIC estimate (``openeie.flows.asic``).
BLOCK_LABELS = {
    "broadcaster": "broadcaster (LNZD)", "queue": "activation queues", "pointer": "pointers",
    "spmat": "sparse matrix", "arith": "arithmetic", "writeback": "write-back / accumulators",
    "pe_glue": "PE glue", "counters": "counters", "controller": "controller", "activations": "activation banks",
    "engine_glue": "engine glue",
}

#: How a sweep's knobs are written in point labels.
_KNOB_TEXT = {"code_bits": "{}-bit codes", "rel_index_bits": "{}-bit index", "act_bits": "{}-bit acts",
              "n_pe": "{} PEs", "fifo_depth": "FIFO {}"}

_DPI = 120


def component_label(key: str) -> str:
    """The readable name of an energy component or ASIC block key (``spmat_sram`` -> ``sparse-matrix SRAM``)."""
    return COMPONENT_LABELS.get(key) or BLOCK_LABELS.get(key) or key.replace("_", " ")


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _release(fig) -> None:
    """Close a saved figure (a seam: the tests keep the figures to measure their text)."""
    import matplotlib.pyplot as plt
    plt.close(fig)


def _save(fig, paths, layout: bool = True) -> list:
    """Lay ``fig`` out (unless ``layout`` is False: already done), write it to every path in ``paths`` (a file
    name or a binary file object, PNG unless the name ends ``.svg``), close it; returns ``paths``."""
    if layout:
        fig.tight_layout()
    for path in paths:
        fmt = "svg" if str(getattr(path, "name", path)).endswith(".svg") else "png"
        fig.savefig(path, dpi=_DPI, format=fmt)
    _release(fig)
    return list(paths)


def _plain(value: float, _pos=None) -> str:
    """A tick label without exponents: 0.02, 0.5, 3, 40, 600, 8000, 120 000; 1.2e+06 only from a million on."""
    if value == 0:
        return "0"
    if abs(value) >= 1e6 or abs(value) < 1e-3:
        return f"{value:.2g}"
    return f"{value:,.6g}".replace(",", "\u2009")      # a thin space groups the thousands


def log_axis(ax, which: str, values) -> None:
    """A logarithmic ``which`` axis (``"x"`` or ``"y"``) of ``ax`` for ``values`` (include any axis limits set
    beyond the data) with a few plainly written major ticks and unlabelled minor ones: plain linear steps when the
    values span less than a factor of five (where powers of ten would leave no tick at all), 1-2-5 steps up to
    about a decade and a half, 1-3 steps up to two and a half decades, powers of ten beyond."""
    from matplotlib import ticker
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    v = np.asarray([x for x in values if x is not None and x > 0], dtype=float)
    decades = float(np.log10(v.max() / v.min())) if v.size else 1.0
    if decades < np.log10(5):
        axis.set_major_locator(ticker.MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    else:
        subs = (1.0, 2.0, 5.0) if decades <= 1.5 else (1.0, 3.0) if decades <= 2.5 else (1.0,)
        axis.set_major_locator(ticker.LogLocator(base=10, subs=subs, numticks=12))
    axis.set_major_formatter(ticker.FuncFormatter(_plain))
    axis.set_minor_locator(ticker.LogLocator(base=10, subs=np.arange(2, 10) * 1.0, numticks=12))
    axis.set_minor_formatter(ticker.NullFormatter())


def _energy_text(nj: float) -> str:
    """An energy given in nJ, written in nJ, uJ or mJ with three significant digits."""
    for factor, unit in ((1e6, "mJ"), (1e3, "\u00b5J")):
        if nj >= factor:
            return f"{nj / factor:.3g} {unit}"
    return f"{nj:.3g} nJ"


def _overlaps(box, boxes) -> bool:
    return any(box.overlaps(b) for b in boxes)


#: Offsets (points) tried in turn for a point's label: right-up first, then around the point, then further out.
_OFFSETS = [(6, 5), (6, -12), (-6, 5), (-6, -12), (6, 16), (-6, 16), (6, -23), (-6, -23), (14, 27), (-14, 27),
            (14, -34), (-14, -34)]


def annotate(ax, points, fontsize: float = 7, avoid=()) -> list:
    """Label each ``(x, y, text)`` of ``points`` (data coordinates) on ``ax`` beside its point, trying the offsets
    of :data:`_OFFSETS` until the label overlaps no earlier label and no marker (the labelled points and ``avoid``,
    more ``(x, y)`` in data coordinates) and stays inside the axes (else the first offset); call it after the
    figure's layout. Returns the annotation artists."""
    from matplotlib.transforms import Bbox
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    r = 3.5 * fig.dpi / 72                         # a marker's half width in pixels
    markers = [Bbox.from_extents(px - r, py - r, px + r, py + r)
               for px, py in ax.transData.transform([(x, y) for x, y, _ in points] + list(avoid))]
    placed, artists = list(markers), []
    for x, y, text in points:
        chosen = None
        for dx, dy in _OFFSETS:
            ann = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=fontsize,
                              ha="left" if dx > 0 else "right", va="bottom" if dy > 0 else "top",
                              arrowprops=dict(arrowstyle="-", lw=0.4, color="0.5") if abs(dy) > 12 else None)
            ann.set_in_layout(False)
            box = ann.get_window_extent(renderer).padded(3)     # a little air between labels
            fits = inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1
            if fits and not _overlaps(box, placed):
                chosen = (ann, box)
                break
            ann.remove()
        if chosen is None:
            ann = ax.annotate(text, (x, y), textcoords="offset points", xytext=_OFFSETS[0], fontsize=fontsize)
            ann.set_in_layout(False)
            chosen = (ann, ann.get_window_extent(renderer))
        placed.append(chosen[1])
        artists.append(chosen[0])
    return artists


def point_label(row: dict, knobs) -> str:
    """A sweep point's configuration in words, for the ``knobs`` that vary: ``2-bit codes, 4-bit index, 64 PEs``."""
    return ", ".join(_KNOB_TEXT[k].format(row[k]) for k in knobs if row.get(k) is not None)


def _scaled(values, unit: str, steps):
    """``(factor, unit)``: the largest of ``steps`` (``(factor, name)``, ascending) that keeps the smallest of
    ``values`` at 1 or more, so that axes read ``16 uJ``, not ``1.6e7 pJ``."""
    low = min((v for v in values if v), default=1.0)
    best = (1.0, unit)
    for factor, name in steps:
        if low >= factor:
            best = (factor, name)
    return best


_ENERGY_PJ = ((1e3, "nJ"), (1e6, "\u00b5J"), (1e9, "mJ"))
_BITS = ((8 * 1024, "KiB"), (8 * 1024 ** 2, "MiB"))


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
        ax.set(title=f"{name}: {len(w):,} weights kept, {len(cb['finetuned'])} shared values".replace(",", "\u2009"),
               xlabel="weight", ylabel="count")
        ax.title.set_fontsize(9)
    first = np.atleast_1d(axes)[0]
    first.plot([], [], color="tab:blue", ls="--", label="k-means centroids")
    first.plot([], [], color="tab:red", label="after fine-tuning")
    first.legend(fontsize=7)
    _save(fig, [path])


def accuracy_vs_density(points, baseline, path) -> None:
    """Accuracy after pruning and retraining against the fraction of weights kept, each point labelled."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    xs = [100 * p["density"] for p in points]
    ys = [100 * p["accuracy"] for p in points]
    ax.plot(xs, ys, "o-", label="pruned + retrained")
    ax.axhline(100 * baseline, color="k", ls="--", lw=0.8, label=f"float, dense ({100 * baseline:.2f} %)")
    log_axis(ax, "x", xs)
    ax.margins(x=0.12, y=0.15)
    ax.set(xlabel="weights kept (%)", ylabel="test accuracy (%)", title="Accuracy vs density")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    annotate(ax, [(x, y, f"{y:.1f} %") for x, y in zip(xs, ys)])
    _save(fig, [path], layout=False)


def energy_breakdown(breakdown, path, scenarios=None) -> None:
    """Energy per inference by component (a horizontal bar each, its nJ and share written beside it, the total in
    the title); with ``scenarios`` (:func:`openeie.sim.energy.scenarios`' keys, pJ) a second panel sets the
    engine as built beside the same accesses with the sparse matrix and pointers read from DRAM and beside the
    dense fp32 layer streamed from DRAM (logarithmic, each bar with its nJ and its ratio to the engine)."""
    plt = _pyplot()
    items = sorted(((k, v) for k, v in breakdown.items() if v > 0), key=lambda kv: kv[1])
    total = sum(v for _, v in items)
    if scenarios:
        fig, (ax, ax_d) = plt.subplots(1, 2, figsize=(11, 3.9), gridspec_kw={"width_ratios": [1.25, 1]})
    else:
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
    labels = [component_label(k) for k, _ in items]
    values = [v / 1e3 for _, v in items]
    ax.barh(labels, values, color="tab:green")
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.3g} nJ ({100 * v / (total / 1e3):.0f} %)", va="center", fontsize=7)
    ax.set_xlim(0, 1.3 * max(values, default=1))
    ax.set(xlabel="energy per inference (nJ)", title=f"Energy by component (45 nm): {total / 1e3:.3g} nJ in all")
    ax.grid(alpha=0.3, axis="x")
    if scenarios:
        sram = scenarios["compressed_sram_pj"]
        bars = [("engine as built\n(all on chip)", sram, "tab:green"),
                ("sparse matrix + pointers\nfrom DRAM", scenarios["compressed_dram_pj"], "tab:orange"),
                ("dense fp32 weights\nfrom DRAM", scenarios["dense_fp32_dram_pj"], "tab:red")]
        nj = [v / 1e3 for _, v, _ in bars]
        ax_d.barh([b[0] for b in bars], nj, color=[b[2] for b in bars])
        limits = (min(nj) / 2, max(nj) * 12)
        log_axis(ax_d, "x", nj + list(limits))
        ax_d.set_xlim(*limits)
        for i, (v, (_, pj, _)) in enumerate(zip(nj, bars)):
            ratio = "" if i == 0 else f", {pj / sram:.3g}x"
            ax_d.text(v, i, f" {_energy_text(v)}{ratio}", va="center", fontsize=7)
        ax_d.set(xlabel="energy per inference (nJ, log)", title="The same work from DRAM")
        ax_d.grid(alpha=0.3, axis="x", which="major")
        ax_d.tick_params(axis="y", labelsize=8)
    _save(fig, [path])


def pareto_plots(rows, fronts: dict, out_dir, has_accuracy: bool) -> list:
    """Scatter plots of a design-space sweep with each Pareto front (``fronts["x_key/y_key"]``: its rows), each
    front point labelled with its configuration (the knobs the sweep varies), as PNG and SVG files in
    ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    plt = _pyplot()
    ok = [r for r in rows if "error" not in r]
    knobs = [k for k in _KNOB_TEXT if len({r.get(k) for r in ok}) > 1]
    pairs = ([("energy_pj", "accuracy"), ("storage_bits", "accuracy")] if has_accuracy
             else [("energy_pj", "cycles"), ("storage_bits", "cycles")])
    written = []
    for x_key, y_key in pairs:
        maximize = y_key == "accuracy"
        factor, unit = _scaled([r[x_key] for r in ok], *(("pJ", _ENERGY_PJ) if x_key == "energy_pj"
                                                          else ("bits", _BITS)))
        y_factor = 0.01 if maximize else 1.0          # accuracy as a percentage
        fig, ax = plt.subplots(figsize=(7.5, 5))
        for cb in sorted({r["code_bits"] for r in ok}):
            sel = [r for r in ok if r["code_bits"] == cb]
            ax.scatter([r[x_key] / factor for r in sel], [r[y_key] / y_factor for r in sel], s=14, alpha=0.6,
                       label=f"{cb}-bit codes")
        front = fronts[f"{x_key}/{y_key}"]
        fx, fy = [r[x_key] / factor for r in front], [r[y_key] / y_factor for r in front]
        ax.plot(fx, fy, "k-", lw=1.2, marker="o", ms=3, label=f"Pareto front ({len(front)} points)")
        log_axis(ax, "x", [r[x_key] / factor for r in ok])
        if not maximize:
            log_axis(ax, "y", [r[y_key] for r in ok])
        ax.margins(x=0.25, y=0.2)
        what = {"energy_pj": "energy", "storage_bits": "storage"}[x_key]
        ax.set(xlabel={"energy_pj": f"energy per inference ({unit})", "storage_bits": f"storage ({unit})"}[x_key],
               ylabel={"accuracy": "engine accuracy, fixed point (%)", "cycles": "cycles per inference"}[y_key],
               title=f"{'accuracy' if maximize else 'cycles'} vs {what}: {len(ok)} configurations")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left" if maximize else "upper right")
        fig.tight_layout()
        annotate(ax, [(x, y, point_label(r, knobs) or "base") for x, y, r in zip(fx, fy, front)],
                 avoid=[(r[x_key] / factor, r[y_key] / y_factor) for r in ok])
        written += _save(fig, [out_dir / f"pareto_{x_key.split('_')[0]}_{y_key}.{ext}" for ext in ("png", "svg")],
                         layout=False)
    return written


def architecture_sweep_plot(result: dict, path) -> None:
    """One ``openeie sweep-sim`` sweep (FIFO depth, PE count or relative-index width) as a PNG."""
    from matplotlib import ticker
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
        axes[0].yaxis.set_major_formatter(ticker.FuncFormatter(_plain))
        axes[1].set(xlabel="relative index bits", ylabel=f"cycles / cycles at {x[0]} bits", title="Cycles")
        axes[1].legend(fontsize=7, ncol=2)
        for ax in axes:
            ax.set_xticks(x, [str(b) for b in x])
            ax.grid(alpha=0.3)
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
            ax.set(xlabel="PEs", ylabel="speedup over 1 PE", title=f"Scalability (FIFO {result['fifo_depth']})")
            ax.set_xscale("log", base=2)
            ax.set_xticks(n, [str(p) for p in n])
            ax.xaxis.set_minor_locator(ticker.NullLocator())
            log_axis(ax, "y", [s for r in result["layers"].values() for s in r["speedup"]] + list(n))
        ax.legend(fontsize=7, ncol=2)
        ax.grid(alpha=0.3)
    _save(fig, [path])


def synth_sweep_plot(result: dict, path) -> Path:
    """Utilisation (percent per resource) and Fmax against the PE count."""
    plt = _pyplot()
    fits = [p for p in result["points"] if p["fits"]]
    bels = {bel for p in fits for bel in p["utilization"]}
    family = result.get("family") or ("ecp5" if any(b.startswith("TRELLIS") for b in bels) else "ice40")
    fig, (ax_u, ax_f) = plt.subplots(1, 2, figsize=(10, 4))
    for bel, label in _SERIES[family].items():
        xs = [p["n_pe"] for p in fits if bel in p["utilization"]]
        ys = [p["utilization"][bel]["percent"] for p in fits if bel in p["utilization"]]
        if xs:
            ax_u.plot(xs, ys, marker="o", label=label)
    ax_u.axhline(100, color="grey", linestyle=":")
    ax_u.set(xlabel="PEs", ylabel="utilisation (%)", title=f"{result['part']}: resources", ylim=(0, 110))
    if ax_u.get_legend_handles_labels()[0]:
        ax_u.legend(fontsize=8, loc="upper left")
    ax_f.plot([p["n_pe"] for p in fits], [p["fmax_mhz"] for p in fits], marker="o", label="Fmax (nextpnr)")
    for p in fits:
        ax_f.annotate(f"{p['fmax_mhz']:.1f}", (p["n_pe"], p["fmax_mhz"]), textcoords="offset points",
                      xytext=(0, 6), ha="center", fontsize=7)
    unrouted = [p for p in fits if not p.get("routed", True)]
    if unrouted:
        ax_f.plot([p["n_pe"] for p in unrouted], [p["fmax_mhz"] for p in unrouted], "o", mfc="white",
                  color="C0", label="post-placement estimate")
    if fits:
        ax_f.axhline(fits[0]["target_mhz"], color="grey", linestyle=":", label="target")
    ax_f.set(xlabel="PEs", ylabel="MHz", title=f"{result['part']}: Fmax")
    ax_f.legend(fontsize=8, loc="lower left")
    ticks = sorted({p["n_pe"] for p in result["points"]})
    for ax in (ax_u, ax_f):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.grid(True, alpha=0.3)
    ax_f.set_ylim(0, 1.15 * max([p["fmax_mhz"] or 0 for p in fits] + [fits[0]["target_mhz"] if fits else 1]))
    misses = [p["n_pe"] for p in result["points"] if p["fits"] is False]
    if misses:
        fig.text(0.5, 0.01, f"does not fit: {', '.join(map(str, misses))} PEs", ha="center")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    _save(fig, [path], layout=False)
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
        on_front = set(fronts[f"{x_key}/accuracy_engine_test"])
        ax.scatter(xs, ys, s=30, zorder=3, c=["k" if r["method"] in on_front else "tab:blue" for r in rows])
        front = [r for name in fronts[f"{x_key}/accuracy_engine_test"] for r in rows if r["method"] == name]
        ax.plot([r[x_key] * scale for r in front], [100 * r["accuracy_engine_test"] for r in front], "k--", lw=1,
                label="Pareto front (black points)", zorder=2)
        log_axis(ax, "x", xs)
        ax.margins(x=0.25, y=0.12)
        ax.set(xlabel=label, ylabel="engine accuracy, test images (%)",
               title=f"accuracy vs {stem} ({len(rows)} methods)")
        ax.grid(alpha=0.3, which="major")
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        annotate(ax, [(x, y, r["method"]) for r, x, y in zip(rows, xs, ys)], fontsize=8)
        written += _save(fig, [out_dir / f"pareto_{stem}.{ext}" for ext in ("png", "svg")], layout=False)
    return written


def asic_breakdown_plot(result: dict, path) -> None:
    """Stacked bars of an ASIC estimate (``openeie asic``): area by block and power by component, each beside EIE's
    published chip (its area split into SRAM and the rest by its stated SRAM share), each bar's total written on
    it. ``path``: a file name or a binary file object (PNG)."""
    plt = _pyplot()
    e = result["eie"]
    fig, (ax_a, ax_p) = plt.subplots(1, 2, figsize=(11, 4.8))
    blocks = sorted(result["blocks"].items(), key=lambda kv: -kv[1]["area_mm2"])
    colours = plt.get_cmap("tab20")
    bottom = 0.0
    for i, (name, b) in enumerate(blocks):
        for part, hatch in (("memory_area_mm2", ""), ("logic_area_mm2", "//")):
            if b[part] > 0:
                label = f"{component_label(name)} ({'SRAM/RF' if part.startswith('memory') else 'logic'})"
                ax_a.bar(0, b[part], bottom=bottom, color=colours(i % 20), hatch=hatch, edgecolor="white", lw=0.3,
                         label=label if b[part] > 0.01 * result["area_mm2"] else None)
                bottom += b[part]
    sram = e["area_mm2"] * e["sram_area_fraction"]
    ax_a.bar(1, sram, color="0.55", label=f"EIE SRAM (~{100 * e['sram_area_fraction']:.0f} %)")
    ax_a.bar(1, e["area_mm2"] - sram, bottom=sram, color="0.8", label="EIE rest")
    for x, total in ((0, result["area_mm2"]), (1, e["area_mm2"])):
        ax_a.text(x, total, f"{total:.1f} mm\u00b2", ha="center", va="bottom", fontsize=8)
    ax_a.set_xticks([0, 1], ["ours", "EIE chip"])
    ax_a.set_ylim(0, 1.12 * max(result["area_mm2"], e["area_mm2"]))
    ax_a.set(ylabel="area (mm\u00b2)", title=f"Area: {result['area_mm2']:.1f} vs {e['area_mm2']} mm\u00b2")
    ax_a.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    parts = [(k, v) for k, v in result["dynamic_mw"].items() if v > 0] + [("clock", result["clock_mw"]),
                                                                          ("leakage", result["leakage_mw"])]
    bottom = 0.0
    for i, (k, v) in enumerate(sorted(parts, key=lambda kv: -kv[1])):
        ax_p.bar(0, v / 1e3, bottom=bottom, color=colours((2 * i + 1) % 20), label=component_label(k))
        bottom += v / 1e3
    ax_p.bar(1, e["power_w"], color="0.7", label="EIE chip")
    for x, total in ((0, result["power_mw"] / 1e3), (1, e["power_w"])):
        ax_p.text(x, total, f"{total:.2f} W", ha="center", va="bottom", fontsize=8)
    ax_p.set_xticks([0, 1], ["ours", "EIE chip"])
    ax_p.set_ylim(0, 1.12 * max(result["power_mw"] / 1e3, e["power_w"]))
    ax_p.set(ylabel="power (W)", title=f"Power at {result['clock_mhz']:g} MHz: {result['power_mw'] / 1e3:.2f} vs "
                                      f"{e['power_w']} W")
    ax_p.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"ASIC estimate, 45 nm, {result['config']['n_pe']} PEs ({result['source']})", fontsize=9)
    _save(fig, [path])
