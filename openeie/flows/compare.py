"""``openeie compare``: compression methods side by side on one engine model.

Each method is a recipe of :func:`openeie.compiler.compress.compress` steps (pruning with retraining, k-means
sharing, low-rank factorisation, distillation, ternary/binary codebooks) applied to a bundled digits model
(:func:`openeie.compiler.digits.compress_digits`), or linear integer quantisation of the float model (``int8``,
``int4``: :func:`openeie.compiler.integer.integer_network`, run on the requantising version of the engine and
checked against :func:`openeie.compiler.quantize.int_reference` on every test image); every result is lowered
onto the same engine (the demo's, with the code width the method needs and memories grown to fit) and measured
the same way: storage (codes, indices, pointers, codebooks, biases), accuracy, cycles, PE efficiency and energy.

Splits: the float model and every compression see only the fitting part of the training images; the validation
part (20 % of the training images by default) gives the accuracies reported while compressing, and the test
images give the reported ones. The recipes are fixed in :data:`METHODS`: nothing is chosen by looking at the
test images.
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openeie.config import entries_that_fit
from openeie.errors import InputError
from openeie.files import OutputKind

__all__ = ["METHODS", "INTEGER_METHODS", "CompareContext", "evaluate_method", "run_compare", "COMPARE", "COLUMNS"]

#: What a compare directory holds (replaced only when it is one; see :mod:`openeie.files`).
COMPARE = OutputKind(format="openeie-compare", marker="compare.json",
                     patterns=("compare.json", "compare.md", "compare.csv", "*.png", "*.svg"),
                     what="compare directory")

_QUICK = dict(prune_steps=2, prune_epochs=6, finetune_epochs=4)


def _first_and_last(model: str) -> list:
    """Layers low-rank leaves alone: the first convolution (one input channel: nothing to factor) and the
    classifier (10 outputs; VBMF would cut it to rank 1)."""
    return ["conv1", "ip2"] if model == "lenet5" else ["fc3"]


def _low_rank(model, quick):
    return {"linear": "vbmf", "conv": "vbmf", "skip": _first_and_last(model), "epochs": 4 if quick else 15}


#: name -> (description, overrides(model, quick) of the model's recipe).
METHODS = {
    "deep-compression": ("magnitude pruning + retraining, k-means sharing, centroid fine-tuning, Huffman ([DC])",
                         lambda model, quick: {}),
    "distilled": ("deep-compression retrained with distillation from the float model (T = 4, alpha = 0.7)",
                  lambda model, quick: {"distill": {"temperature": 4.0, "alpha": 0.7}}),
    "low-rank": ("SVD / Tucker-2 with VBMF ranks and one fine-tuning run, then 8-bit sharing; no pruning",
                 lambda model, quick: {"low_rank": _low_rank(model, quick), "density": 1.0, "prune_steps": 1,
                                       "prune_epochs": 0, "code_bits": 8}),   # dense factors: sharing only
    "low-rank+dc": ("low rank as above, then pruning to 30 % and the recipe's sharing",
                    lambda model, quick: {"low_rank": _low_rank(model, quick), "density": 0.3}),
    "ternary": ("deep-compression's pruning, 2 shared values per layer (w_n, w_p trained): {0, w_n, w_p}",
                lambda model, quick: {"shared_values": 2, "code_bits": 2}),
    "binary": ("every weight kept, 2 shared values per layer (w_n, w_p trained)",
               lambda model, quick: {"shared_values": 2, "code_bits": 2, "density": 1.0, "prune_steps": 1,
                                     "prune_epochs": 0}),
}

#: Linear integer quantisation: name -> (description, bits, accumulator bits). Per-channel weight scales; the
#: activation calibration (max, 99.99th percentile or KL entropy) with the best validation accuracy.
INTEGER_METHODS = {
    "int8": ("linear INT8 (TensorRT-style): symmetric per-channel weights, calibrated activation scales, "
             "per-row fixed-point requantisation; every weight kept", 8, 32),
    "int4": ("linear INT4 as INT8 (4-bit weights and activations, 24-bit accumulators)", 4, 24),
}
#: Width of the requantisation multipliers of the integer methods' engine.
INTEGER_MULT_BITS = 16

METHODS.update({name: (desc, None) for name, (desc, _, _) in INTEGER_METHODS.items()})

#: The columns of ``compare.csv`` (and of the JSON rows).
COLUMNS = ("method", "parameters", "nonzero_weights", "weight_bits", "index_bits", "pointer_bits", "codebook_bits",
           "bias_bits", "total_bits", "total_huffman_bits", "dense_fp32_bits", "compression_ratio",
           "compression_ratio_huffman",
           "accuracy_float_val", "accuracy_engine_val", "accuracy_float_test", "accuracy_shared_test",
           "accuracy_engine_test", "code_bits", "cycles", "efficiency", "energy_onchip_nj", "energy_dram_nj",
           "rtl_images", "rtl_equal", "calibration", "int_reference_equal", "time_s")


@dataclass(frozen=True)
class CompareContext:
    """What every method's evaluation shares (picklable, for worker processes and Dask)."""
    model: str = "mlp"
    cache_dir: str = ".cache/openeie"
    seed: int = 0
    validation: float = 0.2
    cycle_inputs: int = 64
    quick: bool = False
    rtl_images: int = 0
    build_root: str = "build/rtl"


def method_overrides(name: str, ctx: CompareContext) -> dict:
    if name not in METHODS:
        raise InputError(f"method {name!r}: expected one of {', '.join(METHODS)}")
    if name in INTEGER_METHODS:
        return {}
    over = dict(_QUICK) if ctx.quick else {}
    over.update(METHODS[name][1](ctx.model, ctx.quick))
    return over


def _engine(network, widths: dict, model: str):
    """The demo engine with the widest code a method uses and memories grown to fit."""
    from openeie.compiler.plan import plan_network
    from openeie.flows.demo import default_demo_config
    base = default_demo_config(model)
    bits = max(widths.values())
    base = base.replace(code_bits=bits, entries_per_word=entries_that_fit(bits, base.rel_index_bits, cap=8))
    return plan_network(network, base).fit(base, minimum=base.to_dict())


def evaluate_method(name: str, ctx: CompareContext) -> dict:
    """Compress the context's model with method ``name`` and measure it on the engine: one row of the table."""
    from openeie.compiler.compress import network_accuracy
    from openeie.compiler.digits import compress_digits, digits_splits
    from openeie.compiler.lower import lower
    from openeie.sim import golden
    t0 = time.perf_counter()
    overrides = method_overrides(name, ctx)
    if name in INTEGER_METHODS:
        return _evaluate_integer(name, ctx, t0)
    network, rep = compress_digits(ctx.cache_dir, seed=ctx.seed, model=ctx.model, validation=ctx.validation,
                                   **overrides)
    _, _, x_val, y_val, x_te, y_te = digits_splits(ctx.validation)
    float_model = rep["float_model"]                     # its test accuracy and size, from the trainer
    cfg = _engine(network, rep["code_bits"], ctx.model)
    program = lower(network, cfg)

    def engine_outputs(x):
        return program.output_logical(golden.run(program, golden.quantize_input(cfg, x))[-1])

    x_q = golden.quantize_input(cfg, x_te)
    row = {
        "method": name, "description": METHODS[name][0],
        **_storage_columns(network, rep["storage"], float_model),
        "accuracy_float_val": rep["accuracy"]["float"],
        "accuracy_engine_val": _accuracy(engine_outputs(x_val), y_val),
        "accuracy_float_test": float_model["test_accuracy"],
        "accuracy_shared_test": network_accuracy(network, (x_te, y_te)),
        "accuracy_engine_test": _accuracy(engine_outputs(x_te), y_te), "code_bits": rep["code_bits"],
        "stage_accuracy_val": rep["accuracy"], "low_rank": rep.get("low_rank", {}).get("layers"),
    }
    row.update(_engine_columns(program, network, x_q, ctx))
    row["time_s"] = time.perf_counter() - t0
    return row


def _accuracy(logits, labels) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def _storage_columns(network, storage: dict, float_model: dict) -> dict:
    """Parameters and storage by component, and the ratios against the float model's dense fp32 weights and
    biases (a factorised model's are fewer)."""
    layers, total = storage["layers"], storage["total"]
    dense_bits = 32 * float_model["parameters"]
    return {
        "parameters": int(sum(l.weight_count for l in network)), "nonzero_weights": int(sum(l.nnz for l in network)),
        "weight_bits": int(sum(r["entries"] * r["code_width_bits"] for r in layers)),
        "index_bits": int(sum(r["entries"] * r["index_width_bits"] for r in layers)),
        "pointer_bits": int(total["pointer_bits"]), "codebook_bits": int(total["codebook_bits"]),
        "bias_bits": int(total["bias_bits"]), "total_bits": int(total["total_bits"]),
        "total_huffman_bits": int(total["total_huffman_bits"]), "dense_fp32_bits": dense_bits,
        "compression_ratio": dense_bits / total["total_bits"],
        "compression_ratio_huffman": dense_bits / total["total_huffman_bits"],
    }


def _engine_columns(program, network, x_q, ctx: CompareContext) -> dict:
    """Cycles, PE efficiency and energy (on chip, and with the weights in DRAM) per inference over the first
    ``ctx.cycle_inputs`` test inputs ``x_q`` (engine format), and the RTL check on ``ctx.rtl_images`` of them."""
    from openeie.sim import cycle
    from openeie.sim.energy import dense_work, energy, scenarios
    cfg = program.config
    n = min(ctx.cycle_inputs, len(x_q))
    cycles, ideal, onchip, dram = [], [], [], []
    work = [dense_work(l) for l in program.layers]
    for x in x_q[:n]:
        _, stats, timings = cycle.run(program, x)
        cycles.append(stats.cycles)
        ideal.append(sum(t.ideal_cycles for t in timings))
        onchip.append(sum(energy(stats, cfg).values()))
        dram.append(scenarios(stats, cfg, work)["compressed_dram_pj"])
    row = {"cycles": float(np.mean(cycles)), "efficiency": float(np.sum(ideal) / np.sum(cycles)),
           "energy_onchip_nj": float(np.mean(onchip)) / 1e3, "energy_dram_nj": float(np.mean(dram)) / 1e3,
           "cycle_inputs": n, "config": cfg.to_dict(), "layers": [l.name for l in network],
           "rtl_images": 0, "rtl_equal": None}
    if ctx.rtl_images:
        from openeie.testbench.run import run_program
        k = min(ctx.rtl_images, len(x_q))
        outs, stats = run_program(program, x_q[:k], build_root=ctx.build_root)
        equal = 0
        for x, out, st in zip(x_q[:k], outs, stats):
            want, want_stats, _ = cycle.run(program, x)
            equal += int(out.tolist() == want[-1].tolist() and st.as_dict() == want_stats.as_dict())
        row.update(rtl_images=k, rtl_equal=equal)
    return row


def _evaluate_integer(name: str, ctx: CompareContext, t0: float) -> dict:
    """An integer method's row: the float model quantised (:func:`openeie.compiler.integer.integer_network`)
    with the calibration that does best on the validation images, on the requantising engine, its outputs
    checked against :func:`openeie.compiler.quantize.int_reference` on every test image."""
    from openeie.compiler.compress import report_config
    from openeie.compiler.digits import digits_inputs, digits_splits, train_digits
    from openeie.compiler.integer import integer_config, integer_network
    from openeie.compiler.lower import lower
    from openeie.compiler.plan import plan_network
    from openeie.compiler.quantize import CALIBRATIONS, int_reference, quantize_symmetric
    from openeie.compiler.storage import storage_report
    from openeie.sim import golden
    from .demo import default_demo_config
    _, bits, acc_bits = INTEGER_METHODS[name]
    model, info = train_digits(ctx.model, ctx.cache_dir, validation=ctx.validation)
    x_fit, _, x_val, y_val, x_te, y_te = digits_splits(ctx.validation)
    shape = (1, 8, 8) if ctx.model == "lenet5" else None
    float_val = _accuracy(model(_torch_inputs(x_val, ctx.model)).detach().numpy(), y_val)
    base = integer_config(default_demo_config(ctx.model), bits, INTEGER_MULT_BITS, acc_bits)
    tried = {}
    for calibration in CALIBRATIONS:          # the calibration is chosen on the validation images
        network, q = integer_network(model, digits_inputs(x_fit, ctx.model), bits=bits, calibration=calibration,
                                     mult_bits=INTEGER_MULT_BITS, acc_bits=acc_bits, input_shape=shape)
        cfg = plan_network(network, base).fit(base, minimum=base.to_dict())
        program = lower(network, cfg)
        outputs = lambda x, p=program, s=q["act_scales"][0]: p.output_logical(          # noqa: E731
            golden.run(p, quantize_symmetric(x, s, bits))[-1])
        tried[calibration] = (_accuracy(outputs(x_val), y_val), network, q, program, outputs)
    calibration = max(CALIBRATIONS, key=lambda c: tried[c][0])     # ties: the first (max) wins
    val_acc, network, q, program, outputs = tried[calibration]
    x_test = digits_inputs(x_te, ctx.model)
    engine_test = outputs(x_te)
    reference, _ = int_reference(x=x_test, **q["reference_args"])
    storage_cfg = report_config(network, bits, default_demo_config(ctx.model).rel_index_bits,
                                **{k: v for k, v in base.to_dict().items()
                                   if k in ("weight_bits", "weight_frac_bits", "act_bits", "act_frac_bits",
                                            "acc_bits", "mult_bits")})
    storage = storage_report(lower(network, storage_cfg), huffman=True).to_json()
    row = {
        "method": name, "description": METHODS[name][0],
        **_storage_columns(network, storage, info),
        "accuracy_float_val": float_val, "accuracy_engine_val": val_acc,
        "accuracy_float_test": info["test_accuracy"],
        "accuracy_shared_test": _accuracy(reference, y_te),
        "accuracy_engine_test": _accuracy(engine_test, y_te), "code_bits": {l.name: bits for l in network},
        "calibration": calibration, "calibration_val_accuracy": {c: tried[c][0] for c in CALIBRATIONS},
        "act_scales": [float(s) for s in q["act_scales"]], "shifts": q["shifts"],
        "int_reference_images": len(x_te), "int_reference_equal": int(np.sum(np.all(reference == engine_test, axis=1))),
        "stage_accuracy_val": {"float": float_val, "integer": val_acc}, "low_rank": None,
    }
    x_q = quantize_symmetric(x_te, q["act_scales"][0], bits)
    _, saturations = golden.run_counted(program, x_q)
    row["acc_saturations"] = int(sum(int(np.sum(acc)) for acc, _ in saturations))   # 0: int_reference's premise
    row.update(_engine_columns(program, network, x_q, ctx))
    row["time_s"] = time.perf_counter() - t0
    return row


def _torch_inputs(x, model: str):
    import torch
    from openeie.compiler.digits import digits_inputs
    return torch.as_tensor(digits_inputs(x, model), dtype=torch.float32)


def _run_local(names, ctx, workers, progress):
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from tqdm import tqdm
    from openeie.progress import shown
    rows = [None] * len(names)
    if workers <= 1:
        for i, name in enumerate(tqdm(names, desc="compare", unit="method", disable=not shown(progress), leave=False)):
            rows[i] = evaluate_method(name, ctx)
        return rows
    import multiprocessing
    # spawn, not fork: this process has run torch (its thread pools do not survive a fork)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(evaluate_method, name, ctx): i for i, name in enumerate(names)}
        for f in tqdm(as_completed(futures), total=len(names), desc="compare", unit="method",
                      disable=not shown(progress), leave=False):
            rows[futures[f]] = f.result()
    return rows


def run_compare(out_dir, methods=None, ctx: CompareContext | None = None, workers: int | None = None,
                dask_address: str | None = None, progress: bool = True) -> dict:
    """Evaluate ``methods`` (default all of :data:`METHODS`) and write ``compare.json``, ``compare.csv``,
    ``compare.md`` and the Pareto plots (accuracy vs energy, accuracy vs storage; PNG and SVG) into ``out_dir``,
    which must be new, empty or an earlier compare directory (:data:`COMPARE`); it is written all at once at the
    end. Returns the JSON contents."""
    from openeie.files import check_output_dir, staged_dir
    from openeie.report.markdown import compare_markdown
    from openeie.report.plots import compare_plots
    from .sweep import pareto_front
    ctx = ctx or CompareContext()
    names = list(METHODS) if methods is None else list(methods)
    if not names:
        raise InputError("methods: expected at least one of " + ", ".join(METHODS))
    for name in names:
        method_overrides(name, ctx)                    # unknown names are refused before any work
    if len(set(names)) != len(names):
        raise InputError(f"methods {names}: each at most once")
    check_output_dir(out_dir, COMPARE)
    from openeie.compiler.digits import train_digits
    train_digits(ctx.model, ctx.cache_dir, progress=progress, validation=ctx.validation)   # once, before the workers
    with staged_dir(out_dir, COMPARE) as tmp:
        t0 = time.perf_counter()
        if dask_address:
            from .sweep import run_on_dask
            rows = run_on_dask(evaluate_method, names, ctx, dask_address, progress, desc="compare (dask)")
        else:
            rows = _run_local(names, ctx, min(workers or os.cpu_count() or 1, len(names)), progress)
        fronts = {f"{x}/accuracy_engine_test": [rows[i]["method"]
                                                for i in pareto_front(rows, x, "accuracy_engine_test")]
                  for x in ("energy_onchip_nj", "total_huffman_bits")}
        result = {"format": COMPARE.format, "model": ctx.model, "context": ctx.__dict__, "rows": rows,
                  "pareto": fronts, "wall_s": time.perf_counter() - t0,
                  "executor": f"dask {dask_address}" if dask_address else
                  f"{min(workers or os.cpu_count() or 1, len(names))} local processes"}
        tmp = Path(tmp)
        (tmp / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
        with open(tmp / "compare.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({**r, "code_bits": json.dumps(r["code_bits"], sort_keys=True)})
        (tmp / "compare.md").write_text(compare_markdown(result))
        compare_plots(rows, fronts, tmp)
    return result
