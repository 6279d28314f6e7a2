"""The report of a compressed network on the engine: one code path for ``openeie demo`` (a bundled model) and
``openeie report`` (a user's checkpoint).

compressed network + compression report -> lower to the engine's images -> golden model (fixed-point accuracy on
the test set, saturations) -> cycle model (cycles and efficiency per layer) -> energy per layer and per
inference -> optionally the RTL on N test inputs, held to the golden and cycle models
(:func:`openeie.flows.simulate.rtl_check`) -> ``report.json``, ``report.md``, plots and the images, stamped with
the OpenEIE version, the git revision of the source tree (when it is a git checkout), the seeds, the date (UTC)
and the engine configuration (:func:`stamp`).
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from openeie.files import OutputKind
from openeie.report import plots
from openeie.report.markdown import report_markdown

__all__ = ["REPORT", "REPORT_FILES", "stamp", "git_revision", "engine_report", "finish_report", "run_report",
           "default_report_config", "check_fits", "describe_network"]

#: The files a report directory holds (the demo's and ``openeie report``'s).
REPORT_FILES = ("report.json", "report.md", "*.png", "images/manifest.json", "images/program.oeie",
                "images/hex/*.hex")

#: What an ``openeie report`` directory holds (replaced only when it is one; see :mod:`openeie.files`).
REPORT = OutputKind(format="openeie-model-report", marker="report.json", patterns=REPORT_FILES,
                    what="report directory")


def git_revision(root=None) -> dict | None:
    """``{"commit": sha1, "dirty": bool}`` of the git checkout at ``root`` (default: the source tree this package
    was imported from), or None when it is not one (an installed package) or git cannot say. ``dirty``: tracked
    files differ from the commit. Best effort: never raises."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        def git(*args):
            return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        head = git("rev-parse", "HEAD")
        if head.returncode:
            return None
        status = git("status", "--porcelain", "--untracked-files=no")
        return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip()) if not status.returncode else None}
    except (OSError, subprocess.SubprocessError):
        return None


def stamp(cfg, seeds: dict) -> dict:
    """Where a report came from: ``openeie_version`` (:data:`openeie.__version__`), ``git`` (:func:`git_revision`,
    None outside a git checkout), ``seeds`` (name -> seed), ``date_utc`` (ISO 8601, seconds), ``config`` (the
    engine configuration) and ``config_hash`` (its hash, as the image containers carry it)."""
    from openeie import __version__
    return {"openeie_version": __version__, "git": git_revision(), "seeds": dict(seeds),
            "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "config": cfg.to_dict(),
            "config_hash": cfg.hash().hex()}


def _progress(items, enabled: bool, desc: str):
    from openeie.progress import shown
    if not shown(enabled) or len(items) < 2:
        return items
    from tqdm import tqdm
    return tqdm(items, desc=desc, unit="input", leave=False)


def engine_report(out_dir: Path, final_dir: Path, program, comp: dict, x_test, y_test, seeds: dict,
                  cycle_inputs: int | None = None, rtl: int = 0, progress: bool = True) -> dict:
    """Measure ``program`` (the compressed network lowered for its engine) on the test set and write its images
    and plots into ``out_dir``.

    Parameters
    ----------
    out_dir, final_dir : pathlib.Path
        The staging directory written to, and the directory it becomes (named in the report).
    program : openeie.program.Program
    comp : dict
        :func:`openeie.compiler.compress.compress`'s report (``pruned_weights`` included, for the histograms).
    x_test, y_test : numpy.ndarray
        Test inputs (floats, ``(n, n_in)``, images flattened in (C, H, W) order) and integer class labels.
    seeds : dict
        For the :func:`stamp`; ``seeds["rtl"]`` (default 0) also seeds the RTL harness's stream gaps.
    cycle_inputs : int, optional
        Test inputs run through the cycle model (default all).
    rtl : int
        Test inputs run on the Verilated engine (0: none).
    progress : bool
        tqdm bars.

    Returns
    -------
    dict
        JSON-ready: ``stamp``, ``config``, ``test_images``, ``code_bits``, ``density`` (per layer, after
        pruning), ``accuracy`` (compression stages and ``engine``), ``compression`` (the compression report's
        storage table, Huffman coded), ``engine_storage``, ``cycles``, ``cycle_inputs``, ``layers`` (per layer:
        cycles, efficiency, ideal and compute cycles, broadcasts, walk words, ``energy_nj``),
        ``energy_breakdown_pj``, ``energy_per_inference_nj`` / ``_uj``, ``energy_scenarios``, ``codebooks``,
        ``time_s`` (compression stages), ``images``, ``saturations``, ``compression_ratio`` (Huffman) and
        ``compression_ratio_plain``, ``rtl`` (:func:`openeie.flows.simulate.rtl_check`, or None).
    """
    from openeie.compiler.images import save_images
    from openeie.compiler.storage import storage_report
    from openeie.sim import cycle, golden
    from openeie.sim.energy import dense_work, energy, scenarios
    from .simulate import classify, rtl_check
    cfg = program.config
    save_images(program, out_dir / "images")
    x_q = golden.quantize_input(cfg, np.asarray(x_test).reshape(len(x_test), -1))
    outs, sats = golden.run_counted(program, x_q)
    y_engine = program.output_logical(outs[-1])
    acc = dict(comp["accuracy"])
    acc["engine"] = classify(y_engine, y_test)["accuracy"]

    n_cycle = min(cycle_inputs or len(x_q), len(x_q))
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
    report = {
        "stamp": stamp(cfg, seeds), "config": cfg.to_dict(), "test_images": int(len(y_test)),
        "code_bits": comp["code_bits"], "density": comp["density"],
        "accuracy": acc, "accuracy_float": acc.get("float"), "accuracy_engine": acc["engine"],
        "compression": comp["storage"], "engine_storage": storage_report(program).total.to_json(),
        "cycles": float(np.mean(total_cycles)), "cycle_inputs": n_cycle,
        "layers": [{"name": l.name, "kind": "conv" if l.is_conv else "fc", "cycles": float(c), "efficiency": float(e),
                    "macs": float(m), "ideal_cycles": float(i), "compute_cycles": float(cc),
                    "overhead_cycles": float(c - cc), "broadcasts": float(b),
                    "walk_words": l.out_h * l.out_w * l.kernel ** 2 * l.in_groups, "energy_nj": float(en) / 1e3,
                    "positions": l.out_h * l.out_w}
                   for l, (c, e, m, i, cc, b), en in zip(program.layers, per_layer, layer_energy)],
        "energy_breakdown_pj": breakdown, "energy_per_inference_nj": sum(breakdown.values()) / 1e3,
        "energy_per_inference_uj": sum(breakdown.values()) / 1e6,
        "energy_scenarios": {k: float(np.mean([s[k] for s in scen])) for k in scen[0]},
        "codebooks": comp["codebooks"], "time_s": comp["time_s"], "images": str(final_dir / "images"),
        "saturations": {"inputs": int(len(x_q)), "accumulations": int(sum(a.sum() for a, _ in sats)),
                        "outputs": int(sum(o.sum() for _, o in sats))},
        "rtl": None,
    }
    report["compression_ratio"] = report["compression"]["total"]["compression_ratio_huffman"]
    report["compression_ratio_plain"] = report["compression"]["total"]["compression_ratio"]
    if rtl:
        k = min(rtl, len(x_q))
        report["rtl"] = rtl_check(program, x_q[:k], labels=y_test[:k], seed=seeds.get("rtl", 0))
    plots.weight_histograms(comp, out_dir / "weight_histograms.png")
    plots.energy_breakdown(breakdown, out_dir / "energy_breakdown.png", report["energy_scenarios"])
    return report


def finish_report(out_dir: Path, report: dict, t0: float) -> dict:
    """Add ``wall_s`` (since ``t0``, a :func:`time.perf_counter` reading) and ``summary_lines``, then write
    ``report.json`` and ``report.md`` into ``out_dir``; returns ``report``."""
    acc = report["accuracy"]
    report["wall_s"] = time.perf_counter() - t0
    lines = [f"accuracy: float {100 * acc['float']:.2f} %, engine fixed point {100 * acc['engine']:.2f} %",
             f"compression vs dense fp32: {report['compression_ratio']:.1f}x with Huffman "
             f"({report['compression_ratio_plain']:.1f}x without)",
             f"cycles per inference: {report['cycles']:.0f}; energy {report['energy_per_inference_nj']:.1f} nJ",
             f"saturation on the test set: {report['saturations']['outputs']} output(s), "
             f"{report['saturations']['accumulations']} accumulation(s) clipped"]
    rtl = report.get("rtl")
    if rtl:
        n = rtl["inputs"]
        lines.append(f"RTL on {n} test input(s): outputs {rtl['outputs_equal']}/{n} equal to the golden model, done "
                     f"cycles {rtl['cycles_equal']}/{n} and counters {rtl['counters_equal']}/{n} equal to the cycle "
                     f"model, {rtl['correct']}/{n} correct")
    report["summary_lines"] = lines
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "report.md").write_text(report_markdown(report))
    return report


def default_report_config(network, code_bits: int, rel_index_bits: int):
    """``openeie report``'s engine when no configuration is given: the demo's shape (4 PEs, EIE's number formats)
    with ``code_bits`` and ``rel_index_bits``, as many entries per word as fit (at most 8) and every memory the
    smallest power of two that holds ``network`` (convolution limits as its layers need)."""
    from openeie.compiler.compress import report_config
    return report_config(network, code_bits, rel_index_bits, n_pe=4)


def check_fits(layers, cfg) -> None:
    """Raise :class:`~openeie.compiler.plan.CapacityError` when ``cfg`` cannot hold the network of ``layers``
    (:func:`openeie.compiler.frontend.extract_layers`' dicts) whatever its pruning: its layer table, activation,
    pointer and bias memories and convolution limits are checked on a dense stand-in (every weight kept); the
    sparse-matrix memory, which the pruning decides, is checked when the compressed network is lowered."""
    from openeie.compiler.network import CompressedLayer, CompressedNetwork
    from openeie.compiler.plan import plan_network
    from openeie.config import CONFIG_RANGES
    stand_in = []
    for l in layers:
        spec, groups = l["conv"], l["groups"]
        codes = np.ones(l["weight"].shape, dtype=np.int64)
        if spec is not None and groups > 1:        # a grouped convolution's matrix is zero outside its groups
            n_out, per_group, kk = codes.shape[0], spec.in_channels // groups, spec.kernel ** 2
            group = np.arange(n_out) // (n_out // groups)
            col_group = np.arange(spec.in_channels * kk) // (per_group * kk)
            codes = (group[:, None] == col_group[None, :]).astype(np.int64)
        stand_in.append(CompressedLayer.from_dense_codes(codes, np.array([0.0, 1.0]), l["bias"], l["relu"],
                                                         l["name"], conv=spec))
    plan_network(CompressedNetwork(stand_in), cfg).check(
        cfg.replace(spmat_depth_words=CONFIG_RANGES["spmat_depth_words"][1]))


def describe_network(network) -> str:
    """One line per layer joined by ``->``: ``fc1 fc 64x16 ReLU`` or ``conv1 conv 1->6 3x3 stride 1 pad 1, max
    pool 2``."""
    parts = []
    for layer in network:
        spec = layer.conv
        if spec is None:
            text = f"{layer.name} fc {layer.n_in}x{layer.n_out}"
        else:
            text = (f"{layer.name} conv {spec.in_channels}->{layer.n_out} {spec.kernel}x{spec.kernel} on "
                    f"{spec.in_h}x{spec.in_w}" + (f" stride {spec.stride}" if spec.stride != 1 else "")
                    + (f" pad {spec.pad}" if spec.pad else "") + (f" groups {spec.groups}" if spec.groups > 1 else "")
                    + (f", {spec.pool} pool {spec.pool_size}" if spec.pool else ""))
        parts.append(text + (" ReLU" if layer.relu else ""))
    return " -> ".join(parts)


def run_report(out_dir, job: dict, cfg=None, rtl: int = 0, cycle_inputs: int | None = None, progress: bool = True,
               checkpoint: str = "", data: str = "") -> dict:
    """Compress a checkpoint, compile it and measure it: ``openeie report``.

    Parameters
    ----------
    out_dir : path
        New, empty or an earlier report (:data:`REPORT`); written all at once at the end, so a failed run leaves
        it as it was.
    job : dict
        :func:`openeie.commands.compress.prepare`'s checked model, data and compression options.
    cfg : openeie.config.EngineConfig, optional
        The engine (default :func:`default_report_config`); its ``code_bits`` must hold the widest code.
    rtl, cycle_inputs, progress : see :func:`engine_report`
    checkpoint, data : str
        What the model and the data were read from (for the report).

    Returns
    -------
    dict
        :func:`engine_report`'s report with ``format``, ``checkpoint``, ``data``, ``network`` (one line),
        ``input_shape``, ``classes``, ``assumptions``, ``wall_s`` and ``summary_lines``.
    """
    from openeie.compiler.compress import compress
    from openeie.compiler.lower import lower
    from openeie.compiler.prune import single_thread
    from openeie.files import check_output_dir, staged_dir
    check_output_dir(out_dir, REPORT)
    t0 = time.perf_counter()
    x_tr, y_tr, x_te, y_te = job["data"]
    options = job["options"]
    with single_thread():
        network, comp = compress(job["model"], (x_tr, y_tr), eval_data=(x_te, y_te), progress=progress, **options)
    widths = comp["code_bits"]
    if cfg is None:
        cfg = default_report_config(network, max(widths.values()), options["rel_index_bits"])
    program = lower(network, cfg)
    with staged_dir(out_dir, REPORT) as tmp:
        report = {"format": REPORT.format, "checkpoint": str(checkpoint), "data": str(data),
                  "network": describe_network(network), "input_shape": list(job["input_shape"]),
                  "classes": job["classes"], "assumptions": job["notes"]}
        report.update(engine_report(Path(tmp), Path(out_dir), program, comp, x_te, y_te,
                                    seeds={"compression": options["seed"], "rtl": options["seed"]},
                                    cycle_inputs=cycle_inputs, rtl=rtl, progress=progress))
        return finish_report(Path(tmp), report, t0)
