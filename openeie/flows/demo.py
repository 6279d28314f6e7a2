"""``openeie demo``: the whole flow on a bundled digits model (the MLP, or LeNet-5 with ``--model lenet5``), ending
in a report.

train (or load the cached float model) -> Deep Compression (prune + retrain, k-means sharing, centroid
fine-tuning, Huffman storage count) -> lower to the engine's images -> golden model (fixed-point accuracy on the
test set) -> cycle model (cycles, efficiency) -> energy per inference -> the RTL on a few test images when the
simulator is available -> ``report.md``, ``report.json`` and plots. Everything after the compression is
:func:`openeie.flows.report.engine_report`, the path ``openeie report`` takes for a user's checkpoint.
"""

from __future__ import annotations

import time
from pathlib import Path

from openeie.files import OutputKind
from openeie.report import plots

from .report import REPORT_FILES

__all__ = ["run_demo", "default_demo_config", "DEMO"]


#: What a demo report directory holds (replaced only when it is one; see :mod:`openeie.files`).
DEMO = OutputKind(format="openeie-demo-report", marker="report.json", patterns=REPORT_FILES,
                  what="demo report directory")


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
    and skips the density sweep (for tests). ``rtl``: run 8 test images on the RTL (the compiled harness, held
    to the golden and cycle models; default: when Verilator is available and not ``quick``; skipped, ``rtl``
    None in the report, when it is not available). ``cycle_inputs``: test images run through the cycle model
    (default all, 32 when ``quick``). ``out_dir`` must be new, empty or an earlier demo report (:data:`DEMO`); it
    is written all at once at the end, so a failed run leaves it as it was. An RTL run that disagrees with the
    models raises :class:`~openeie.flows.simulate.RTLMismatchError` once the report recording it is written.
    """
    from openeie.compiler.digits import DIGITS_MODELS
    from openeie.errors import InputError, check_int
    from openeie.files import check_output_dir, staged_dir
    if model not in DIGITS_MODELS:
        raise InputError(f"model {model!r}: expected one of {sorted(DIGITS_MODELS)}")
    if cycle_inputs is not None:
        check_int(cycle_inputs, "cycle_inputs", 1)
    check_output_dir(out_dir, DEMO)
    from .simulate import require_agreement
    with staged_dir(out_dir, DEMO) as tmp:
        report = _demo(Path(tmp), Path(out_dir), cfg or default_demo_config(model), quick, seed, cache_dir, rtl,
                       progress, model, cycle_inputs)
    require_agreement(report["rtl"], f"{out_dir}/report.json")
    return report


def _demo(out_dir: Path, final_dir: Path, cfg, quick, seed, cache_dir, rtl, progress, model, cycle_inputs) -> dict:
    """The demo's work, written into ``out_dir`` (the staging directory of ``final_dir``): the bundled model
    compressed with its recipe, then :func:`openeie.flows.report.engine_report` (the path ``openeie report``
    takes), then the density sweep."""
    from openeie.compiler.digits import (DIGITS_MODELS, DIGITS_RECIPE, LENET5_RECIPE, compress_digits, digits_inputs,
                                         load_digits_split, single_thread, train_digits)
    from openeie.compiler.lower import lower
    from .report import engine_report, finish_report
    t0 = time.perf_counter()
    recipe = LENET5_RECIPE if model == "lenet5" else DIGITS_RECIPE
    overrides = dict(prune_steps=2, prune_epochs=6, finetune_epochs=4) if quick else {}
    if isinstance(recipe["code_bits"], dict):      # per-layer widths, none wider than the engine's codes
        overrides["code_bits"] = {k: min(v, cfg.code_bits) for k, v in recipe["code_bits"].items()}
    else:
        overrides["code_bits"] = cfg.code_bits
    network, comp = compress_digits(cache_dir, seed=seed, progress=progress, model=model, **overrides)
    x_tr, y_tr, x_te, y_te = load_digits_split()

    if rtl is None:
        rtl = not quick
    if rtl:
        from openeie.testbench.verilator import rtl_available
        rtl = rtl_available()
    seeds = {"compression": seed, "float_model": comp["float_model"]["settings"]["seed"], "rtl": seed}
    report = {"format": DEMO.format, "model": model, "network": DIGITS_MODELS[model][2]}
    report.update(engine_report(out_dir, final_dir, lower(network, cfg), comp, x_te, y_te, seeds,
                                cycle_inputs=min(cycle_inputs or (32 if quick else len(x_te)), len(x_te)),
                                rtl=8 if rtl else 0, progress=progress))
    if not quick:
        float_model, _ = train_digits(model, cache_dir)
        with single_thread():
            pts = _density_sweep(float_model, (digits_inputs(x_tr, model), y_tr), (digits_inputs(x_te, model), y_te),
                                 (0.25, 0.5, 1.0, 2.0, 4.0), recipe, seed)
        report["density_sweep"] = pts
        plots.accuracy_vs_density(pts, report["accuracy"]["float"], out_dir / "accuracy_vs_density.png")
    return finish_report(out_dir, report, t0)
