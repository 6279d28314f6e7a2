"""``openeie demo``: the whole flow on a bundled digits model (the MLP, or LeNet-5 with ``--model lenet5``), ending
in a report.

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

from openeie.files import OutputKind
from openeie.report import plots
from openeie.report.markdown import demo_markdown

__all__ = ["run_demo", "default_demo_config", "DEMO"]


def _progress(items, enabled: bool, desc: str):
    if not enabled or len(items) < 2:
        return items
    from tqdm import tqdm
    return tqdm(items, desc=desc, unit="image", leave=False)

#: What a demo report directory holds (replaced only when it is one; see :mod:`openeie.files`).
DEMO = OutputKind(format="openeie-demo-report", marker="report.json",
                  patterns=("report.json", "report.md", "*.png", "images/manifest.json", "images/program.oeie",
                            "images/hex/*.hex"), what="demo report directory")


def default_demo_config(model: str = "mlp"):
    """The demo's engine for ``model``: EIE's number formats on 4 PEs, 5-bit relative indices (as [DC] used for
    LeNet-300-100 and LeNet-5), memories sized for the bundled model; for ``lenet5`` also 8-bit codes (its
    convolutions' width, [DC] Table 3) and the convolution limits of its layers (8 x 8 images, 5 x 5 kernels,
    2 x 2 pooling)."""
    from openeie.config import EngineConfig
    if model == "lenet5":
        return EngineConfig(n_pe=4, code_bits=8, rel_index_bits=5, entries_per_word=4, spmat_depth_words=2048,
                            ptr_depth=2048, act_depth=512, bias_depth=256, max_layers=4, max_image_side=8,
                            max_kernel=5, max_pool=2)
    return EngineConfig(n_pe=4, rel_index_bits=5, entries_per_word=7, spmat_depth_words=2048, ptr_depth=512,
                        act_depth=128, bias_depth=256, max_layers=4)


def _density_sweep(model, data, eval_data, multipliers, recipe, seed):
    """Accuracy after pruning + retraining at scaled versions of the recipe's per-layer densities."""
    from openeie.compiler.prune import accuracy, clone_model, prune_and_retrain
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


def run_demo(out_dir, cfg=None, quick: bool = False, seed: int = 0, cache_dir=".cache/openeie",
             rtl: bool | None = None, progress: bool = True, model: str = "mlp", cycle_inputs: int | None = None) -> dict:
    """Run the whole flow and write ``report.md``, ``report.json``, plots and the images into ``out_dir``.

    ``model``: a bundled digits model (``"mlp"`` or ``"lenet5"``, :data:`openeie.compiler.digits.DIGITS_MODELS`).
    ``cfg``: the engine (default :func:`default_demo_config` of the model). ``quick`` shortens training schedules
    and skips the density sweep (for tests). ``rtl``: run the RTL on a few test images (default: when Verilator
    is available and not ``quick``). ``cycle_inputs``: test images run through the cycle model (default all, 32
    when ``quick``). ``out_dir`` must be new, empty or an earlier demo report (:data:`DEMO`); it is written all
    at once at the end, so a failed run leaves it as it was.
    """
    from openeie.compiler.digits import DIGITS_MODELS
    from openeie.errors import InputError, check_int
    from openeie.files import check_output_dir, staged_dir
    if model not in DIGITS_MODELS:
        raise InputError(f"model {model!r}: expected one of {sorted(DIGITS_MODELS)}")
    if cycle_inputs is not None:
        check_int(cycle_inputs, "cycle_inputs", 1)
    check_output_dir(out_dir, DEMO)
    with staged_dir(out_dir, DEMO) as tmp:
        return _demo(Path(tmp), Path(out_dir), cfg or default_demo_config(model), quick, seed, cache_dir, rtl,
                     progress, model, cycle_inputs)


def _demo(out_dir: Path, final_dir: Path, cfg, quick, seed, cache_dir, rtl, progress, model, cycle_inputs) -> dict:
    """The demo's work, written into ``out_dir`` (the staging directory of ``final_dir``)."""
    from openeie.compiler.digits import (DIGITS_MODELS, DIGITS_RECIPE, LENET5_RECIPE, compress_digits, digits_inputs,
                                         load_digits_split, single_thread, train_digits)
    from openeie.compiler.images import save_images
    from openeie.compiler.lower import lower
    from openeie.compiler.storage import storage_report
    from openeie.config import EngineConfig
    from openeie.sim import cycle, golden
    from openeie.sim.energy import dense_work, energy, scenarios
    t0 = time.perf_counter()
    recipe = LENET5_RECIPE if model == "lenet5" else DIGITS_RECIPE
    overrides = dict(prune_steps=2, prune_epochs=6, finetune_epochs=4) if quick else {}
    if isinstance(recipe["code_bits"], dict):      # per-layer widths, none wider than the engine's codes
        overrides["code_bits"] = {k: min(v, cfg.code_bits) for k, v in recipe["code_bits"].items()}
    else:
        overrides["code_bits"] = cfg.code_bits
    network, comp = compress_digits(cache_dir, seed=seed, progress=progress, model=model, **overrides)
    x_tr, y_tr, x_te, y_te = load_digits_split()

    program = lower(network, cfg)
    save_images(program, out_dir / "images")
    x_q = golden.quantize_input(cfg, x_te)
    outs, sats = golden.run_counted(program, x_q)
    y_engine = program.output_logical(outs[-1])
    acc = dict(comp["accuracy"])
    acc["engine"] = float(np.mean(np.argmax(y_engine, axis=1) == y_te))

    n_cycle = min(cycle_inputs or (32 if quick else len(x_q)), len(x_q))
    per_layer = np.zeros((program.n_layers, 6))
    total_cycles, breakdowns, scen, layer_energy = [], [], [], np.zeros(program.n_layers)
    work = [dense_work(l) for l in program.layers]
    for x in _progress(x_q[:n_cycle], progress, "cycle model"):
        _, stats, timings = cycle.run(program, x)
        total_cycles.append(stats.cycles)
        per_layer += [(t.cycles, t.efficiency, t.macs, t.ideal_cycles, t.compute_cycles, t.broadcasts)
                      for t in timings]
        layer_energy += [sum(energy(t.stats(), cfg).values()) for t in timings]
        breakdowns.append(energy(stats, cfg))
        scen.append(scenarios(stats, cfg, work))
    per_layer /= n_cycle
    layer_energy /= n_cycle
    breakdown = {k: float(np.mean([b[k] for b in breakdowns])) for k in breakdowns[0]}
    scen_mean = {k: float(np.mean([s[k] for s in scen])) for k in scen[0]}

    report = {
        "format": DEMO.format, "model": model, "network": DIGITS_MODELS[model][2], "config": cfg.to_dict(),
        "test_images": int(len(y_te)), "code_bits": comp["code_bits"],
        "accuracy": acc, "accuracy_float": acc["float"], "accuracy_engine": acc["engine"],
        "compression": storage_report(lower(network, EngineConfig.from_dict(comp["config"])), huffman=True).to_json(),
        "engine_storage": storage_report(program).total.to_json(),
        "cycles": float(np.mean(total_cycles)), "cycle_inputs": n_cycle,
        "layers": [{"name": l.name, "kind": "conv" if l.is_conv else "fc", "cycles": float(c), "efficiency": float(e),
                    "macs": float(m), "ideal_cycles": float(i), "compute_cycles": float(cc),
                    "overhead_cycles": float(c - cc), "broadcasts": float(b),
                    "walk_words": l.out_h * l.out_w * l.kernel ** 2 * l.in_groups, "energy_nj": float(en) / 1e3,
                    "positions": l.out_h * l.out_w}
                   for l, (c, e, m, i, cc, b), en in zip(program.layers, per_layer, layer_energy)],
        "energy_breakdown_pj": breakdown, "energy_per_inference_nj": sum(breakdown.values()) / 1e3,
        "energy_per_inference_uj": sum(breakdown.values()) / 1e6, "energy_scenarios": scen_mean,
        "codebooks": comp["codebooks"], "time_s": comp["time_s"], "images": str(final_dir / "images"),
        "saturations": {"inputs": int(len(x_q)), "accumulations": int(sum(a.sum() for a, _ in sats)),
                        "outputs": int(sum(o.sum() for _, o in sats))},
    }
    report["compression_ratio"] = report["compression"]["total"]["compression_ratio_huffman"]
    report["compression_ratio_plain"] = report["compression"]["total"]["compression_ratio"]

    if rtl is None:
        rtl = not quick
    if rtl:
        from openeie.testbench.run import rtl_available, run_program
        if not rtl_available():
            report["rtl"] = None
        else:
            k = 8
            outs, _ = run_program(program, x_q[:k])
            got = np.asarray([program.output_logical(o) for o in outs])
            report["rtl"] = {"images": k, "matches": int(np.sum(np.all(got == y_engine[:k], axis=1))),
                             "correct": int(np.sum(np.argmax(got, axis=1) == y_te[:k]))}

    plots.weight_histograms(comp, out_dir / "weight_histograms.png")
    plots.energy_breakdown(breakdown, out_dir / "energy_breakdown.png")
    if not quick:
        float_model, _ = train_digits(model, cache_dir)
        with single_thread():
            pts = _density_sweep(float_model, (digits_inputs(x_tr, model), y_tr), (digits_inputs(x_te, model), y_te),
                                 (0.25, 0.5, 1.0, 2.0, 4.0), recipe, seed)
        report["density_sweep"] = pts
        plots.accuracy_vs_density(pts, acc["float"], out_dir / "accuracy_vs_density.png")
    report["wall_s"] = time.perf_counter() - t0
    report["summary_lines"] = [
        f"accuracy: float {100 * acc['float']:.2f} %, engine fixed point {100 * acc['engine']:.2f} %",
        f"compression vs dense fp32: {report['compression_ratio']:.1f}x with Huffman "
        f"({report['compression_ratio_plain']:.1f}x without)",
        f"cycles per inference: {report['cycles']:.0f}; energy {report['energy_per_inference_nj']:.1f} nJ",
        f"saturation on the test set: {report['saturations']['outputs']} output(s), "
        f"{report['saturations']['accumulations']} accumulation(s) clipped"]
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "report.md").write_text(demo_markdown(report))
    return report
