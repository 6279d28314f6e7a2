"""``openeie demo``: the whole flow on the bundled digits model, ending in a report.

train (or load the cached float model) -> Deep Compression (prune + retrain, k-means sharing, centroid
fine-tuning, Huffman storage count) -> lower to the engine's images -> golden model (fixed-point accuracy on the
test set) -> cycle model (cycles, efficiency) -> energy per inference -> the RTL on a few test images when the
simulator is available -> ``report.md``, ``report.json`` and plots.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .files import OutputKind

__all__ = ["run_demo", "default_demo_config", "DEMO"]

#: What a demo report directory holds (replaced only when it is one; see :mod:`openeie.files`).
DEMO = OutputKind(format="openeie-demo-report", marker="report.json",
                  patterns=("report.json", "report.md", "*.png", "images/manifest.json", "images/program.oeie",
                            "images/hex/*.hex"), what="demo report directory")


def default_demo_config():
    """The demo's engine: EIE's number formats on 4 PEs, 5-bit relative indices (as [DC] used for LeNet-300-100),
    memories sized for the digits model."""
    from .config import EngineConfig
    return EngineConfig(n_pe=4, rel_index_bits=5, entries_per_word=7, spmat_depth_words=2048, ptr_depth=512,
                        act_depth=128, bias_depth=256, max_layers=4)


def _plot_histograms(report, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
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


def _plot_density(points, baseline, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot([100 * p["density"] for p in points], [100 * p["accuracy"] for p in points], "o-", label="pruned + retrained")
    ax.axhline(100 * baseline, color="k", ls="--", lw=0.8, label="float, dense")
    ax.set(xscale="log", xlabel="weights kept (%)", ylabel="test accuracy (%)", title="Accuracy vs density")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_energy(breakdown, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    items = sorted(((k, v) for k, v in breakdown.items() if v > 0), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.barh([k for k, _ in items], [v / 1e3 for _, v in items], color="tab:green")
    ax.set(xlabel="energy per inference (nJ)", title="Energy breakdown (45 nm)")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _density_sweep(model, data, eval_data, multipliers, recipe, seed):
    """Accuracy after pruning + retraining at scaled versions of the recipe's per-layer densities."""
    from .compiler.prune import accuracy, clone_model, prune_and_retrain
    points = []
    total = sum(m.weight.numel() for m in model.modules() if hasattr(m, "weight"))
    for mult in multipliers:
        dens = {k: min(1.0, v * mult) for k, v in recipe["density"].items()}
        work = clone_model(model)
        prune_and_retrain(work, data, density=dens, steps=2, epochs_per_step=8, lr=recipe["lr"],
                          weight_decay=recipe["weight_decay"], seed=seed, squash=True, progress=False)
        kept = sum(int((m.weight != 0).sum()) for m in work.modules() if hasattr(m, "weight"))
        points.append({"multiplier": mult, "density": kept / total, "accuracy": accuracy(work, eval_data)})
    return points


def _markdown(r: dict) -> str:
    c = r["config"]
    acc = r["accuracy"]
    lines = [
        "# OpenEIE demo report", "",
        f"Bundled model: MLP 64-300-100-10 (LeNet-300-100 shape) on scikit-learn's handwritten digits "
        f"({r['test_images']} test images). Engine: {c['n_pe']} PEs, FIFO {c['fifo_depth']}, {c['code_bits']}-bit codes, "
        f"{c['rel_index_bits']}-bit relative indices, {c['weight_bits']}-bit weights, {c['act_bits']}-bit activations.",
        "", "## Accuracy", "", "| stage | top-1 accuracy |", "|---|---|"]
    for k, label in (("float", "float"), ("pruned", "pruned + retrained"), ("shared_kmeans", "weight-shared (k-means)"),
                     ("shared", "weight-shared + fine-tuned (float64)"), ("engine", "engine fixed point (golden model)")):
        if k in acc:
            lines.append(f"| {label} | {100 * acc[k]:.2f} % |")
    if r.get("rtl"):
        rt = r["rtl"]
        lines.append(f"| RTL (Verilator), {rt['images']} test images | {rt['matches']}/{rt['images']} outputs "
                     f"bit-exact with the golden model, {rt['correct']}/{rt['images']} correct |")
    lines += ["", "## Compression ([DC] Table 2 format: one CSC matrix per layer, Huffman-coded streams)", "",
              "| layer | weights kept | weight bits | index bits | total bits | with Huffman | rate | rate with Huffman |",
              "|---|---|---|---|---|---|---|---|"]
    for l in r["compression"]["layers"] + [r["compression"]["total"]]:
        lines.append(f"| {l['name']} | {l['kept_pct']:.2f} % | {l['code_bits']} | {l['index_bits']} | {l['total_bits']} | "
                     f"{l['total_bits_huffman']} | {l['rate']:.1f}x | {l['rate_huffman']:.1f}x |")
    e = r["engine_storage"]
    lines += ["", f"On the demo engine's images ({c['n_pe']} PEs; pointers per PE): {e['total_bits']} bits, "
              f"{e['compression_ratio']:.1f}x vs dense fp32.", "",
              "## Performance and energy (cycle model, mean over test images)", "",
              "| layer | cycles | efficiency |", "|---|---|---|"]
    for l in r["layers"]:
        lines.append(f"| {l['name']} | {l['cycles']:.1f} | {l['efficiency']:.3f} |")
    lines += [f"| total | {r['cycles']:.1f} | |", "",
              f"Energy per inference: {r['energy_per_inference_nj']:.2f} nJ (45 nm table); dense fp32 weights from DRAM "
              f"would take {r['energy_scenarios']['dense_fp32_dram_pj'] / 1e3:.1f} nJ.", "",
              _saturation_line(r), "",
              "![energy](energy_breakdown.png)", "", "![histograms](weight_histograms.png)", ""]
    if r.get("density_sweep"):
        lines += ["![accuracy vs density](accuracy_vs_density.png)", ""]
    lines += [f"Images: `{r['images']}`. Wall time {r['wall_s']:.1f} s.", ""]
    return "\n".join(lines)


def _saturation_line(r: dict) -> str:
    s = r["saturations"]
    c = r["config"]
    if not s["accumulations"] and not s["outputs"]:
        return (f"Saturation: none over the {s['inputs']} test images (no output clipped to the {c['act_bits']}-bit "
                f"activation range, no accumulation to {c['acc_bits']} bits).")
    return (f"Saturation over the {s['inputs']} test images: {s['outputs']} output(s) clipped to the {c['act_bits']}-bit "
            f"activation range, {s['accumulations']} accumulation(s) clipped to {c['acc_bits']} bits.")


def run_demo(out_dir, cfg=None, quick: bool = False, seed: int = 0, cache_dir=".cache/openeie",
             rtl: bool | None = None, progress: bool = True) -> dict:
    """Run the whole flow and write ``report.md``, ``report.json``, plots and the images into ``out_dir``.

    ``cfg``: the engine (default :func:`default_demo_config`). ``quick`` shortens training schedules and skips
    the density sweep (for tests). ``rtl``: run the RTL on a few test images (default: when Verilator is
    available and not ``quick``). ``out_dir`` must be new, empty or an earlier demo report (:data:`DEMO`);
    it is written all at once at the end, so a failed run leaves it as it was.
    """
    from .files import check_output_dir, staged_dir
    check_output_dir(out_dir, DEMO)
    with staged_dir(out_dir, DEMO) as tmp:
        return _demo(Path(tmp), Path(out_dir), cfg or default_demo_config(), quick, seed, cache_dir, rtl, progress)


def _demo(out_dir: Path, final_dir: Path, cfg, quick, seed, cache_dir, rtl, progress) -> dict:
    """The demo's work, written into ``out_dir`` (the staging directory of ``final_dir``)."""
    from .compiler.compress import storage_table
    from .compiler.digits import DIGITS_RECIPE, compress_digits, load_digits_split, single_thread, train_digits_mlp
    from .compiler.images import save_images
    from .compiler.lower import lower
    from .compiler.storage import storage_report
    from .config import EngineConfig
    from .sim import cycle, golden
    from .sim.energy import energy, scenarios
    t0 = time.perf_counter()
    overrides = dict(prune_steps=2, prune_epochs=6, finetune_epochs=4) if quick else {}
    network, comp = compress_digits(cache_dir, seed=seed, progress=progress, code_bits=cfg.code_bits, **overrides)
    x_tr, y_tr, x_te, y_te = load_digits_split()

    program = lower(network, cfg)
    save_images(program, out_dir / "images")
    x_q = golden.quantize_input(cfg, x_te)
    outs, sats = golden.run_counted(program, x_q)
    y_engine = program.output_logical(outs[-1])
    acc = dict(comp["accuracy"])
    acc["engine"] = float(np.mean(np.argmax(y_engine, axis=1) == y_te))

    n_cycle = 32 if quick else len(x_q)
    per_layer = np.zeros((program.n_layers, 2))
    total_cycles, breakdowns, scen = [], [], []
    for x in x_q[:n_cycle]:
        _, stats, timings = cycle.run(program, x)
        total_cycles.append(stats.cycles)
        per_layer += [(t.cycles, t.efficiency) for t in timings]
        breakdowns.append(energy(stats, cfg))
        scen.append(scenarios(stats, cfg, [(l.n_in, l.n_out) for l in program.layers]))
    per_layer /= n_cycle
    breakdown = {k: float(np.mean([b[k] for b in breakdowns])) for k in breakdowns[0]}
    scen_mean = {k: float(np.mean([s[k] for s in scen])) for k in scen[0]}

    report = {
        "format": DEMO.format, "network": "digits MLP 64-300-100-10", "config": cfg.to_dict(), "test_images": int(len(y_te)),
        "accuracy": acc, "accuracy_float": acc["float"], "accuracy_engine": acc["engine"],
        "compression": storage_table(lower(network, EngineConfig.from_dict(comp["config"]))),
        "engine_storage": storage_report(program)["totals"],
        "cycles": float(np.mean(total_cycles)), "cycle_inputs": n_cycle,
        "layers": [{"name": l.name, "cycles": float(c), "efficiency": float(e)}
                   for l, (c, e) in zip(program.layers, per_layer)],
        "energy_breakdown_pj": breakdown, "energy_per_inference_nj": sum(breakdown.values()) / 1e3,
        "energy_per_inference_uj": sum(breakdown.values()) / 1e6, "energy_scenarios": scen_mean,
        "codebooks": comp["codebooks"], "time_s": comp["time_s"], "images": str(final_dir / "images"),
        "saturations": {"inputs": int(len(x_q)), "accumulations": int(sum(a.sum() for a, _ in sats)),
                        "outputs": int(sum(o.sum() for _, o in sats))},
    }
    report["compression_ratio"] = report["compression"]["total"]["rate_huffman"]
    report["compression_ratio_plain"] = report["compression"]["total"]["rate"]

    if rtl is None:
        rtl = not quick
    if rtl:
        from .hw.run import rtl_available, run_program
        if not rtl_available():
            report["rtl"] = None
        else:
            k = 8
            outs, _ = run_program(program, x_q[:k])
            got = np.asarray([program.output_logical(o) for o in outs])
            report["rtl"] = {"images": k, "matches": int(np.sum(np.all(got == y_engine[:k], axis=1))),
                             "correct": int(np.sum(np.argmax(got, axis=1) == y_te[:k]))}

    _plot_histograms(comp, out_dir / "weight_histograms.png")
    _plot_energy(breakdown, out_dir / "energy_breakdown.png")
    if not quick:
        model, _ = train_digits_mlp(cache_dir)
        with single_thread():
            pts = _density_sweep(model, (x_tr, y_tr), (x_te, y_te), (0.25, 0.5, 1.0, 2.0, 4.0), DIGITS_RECIPE, seed)
        report["density_sweep"] = pts
        _plot_density(pts, acc["float"], out_dir / "accuracy_vs_density.png")
    report["wall_s"] = time.perf_counter() - t0
    report["summary_lines"] = [
        f"accuracy: float {100 * acc['float']:.2f} %, engine fixed point {100 * acc['engine']:.2f} %",
        f"compression vs dense fp32: {report['compression_ratio']:.1f}x with Huffman "
        f"({report['compression_ratio_plain']:.1f}x without)",
        f"cycles per inference: {report['cycles']:.0f}; energy {report['energy_per_inference_nj']:.1f} nJ",
        f"saturation on the test set: {report['saturations']['outputs']} output(s), "
        f"{report['saturations']['accumulations']} accumulation(s) clipped"]
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "report.md").write_text(_markdown(report))
    return report
