"""``openeie demo``: the whole flow on a built-in default network, ending in ``report.md`` and ``report.json``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

__all__ = ["run_demo", "default_demo_config"]


def default_demo_config():
    """The demo's engine: EIE's number formats on 8 PEs with memories sized for the demo network."""
    from .config import EngineConfig
    return EngineConfig(n_pe=8, spmat_depth_words=4096, ptr_depth=1024, act_depth=64, bias_depth=256,
                        max_layers=4)


def _synthetic_network(seed: int = 0):
    """A seeded 64-300-100-10 MLP (LeNet-300-100 shape) with 8 % / 8 % / 20 % weights kept and 4-bit codes."""
    from .benchmarks import random_layer
    from .compiler.network import CompressedLayer, CompressedNetwork
    rng = np.random.default_rng(seed)
    layers = []
    for k, (n_in, n_out, d) in enumerate(((64, 300, 0.08), (300, 100, 0.08), (100, 10, 0.2))):
        l = random_layer(n_in, n_out, d, 4, seed=seed + k, name=f"fc{k + 1}", relu=k < 2)
        cb = l.codebook * 0.5
        layers.append(CompressedLayer(l.shape, l.rows, l.cols, l.codes, cb, rng.normal(0, 0.1, n_out), l.relu,
                                      l.name))
    return CompressedNetwork(layers)


def _markdown(report: dict) -> str:
    lines = ["# OpenEIE demo report", "", f"Network: {report['network']}; engine: {report['config']['n_pe']} PEs, "
             f"{report['config']['code_bits']}-bit codes, {report['config']['rel_index_bits']}-bit relative "
             f"indices, {report['config']['weight_bits']}-bit weights, {report['config']['act_bits']}-bit "
             f"activations.", "", "## Storage", "",
             "| layer | shape | non-zeros | fillers | spmat bits | pointer bits | total bits | vs dense fp32 |",
             "|---|---|---|---|---|---|---|---|"]
    for l in report["storage"]["layers"]:
        lines.append(f"| {l['name']} | {l['shape'][0]}x{l['shape'][1]} | {l['nnz']} | {l['fillers']} | "
                     f"{l['spmat_bits']} | {l['ptr_bits']} | {l['total_bits']} | {l['compression_ratio']:.1f}x |")
    t = report["storage"]["totals"]
    lines += [f"| **total** | | {t['nnz']} | {t['fillers']} | {t['spmat_bits']} | {t['ptr_bits']} | "
              f"{t['total_bits']} | {t['compression_ratio']:.1f}x |", "", "## Fixed point vs float", "",
              "| layer | max abs error | rms error | bound |", "|---|---|---|---|"]
    for l in report["fixed_point_error"]["layers"]:
        lines.append(f"| {l['name']} | {l['max_abs']:.3g} | {l['rms']:.3g} | {l['bound']:.3g} |")
    f = report["fixed_point_error"]["final"]
    lines += [f"| network output | {f['max_abs']:.3g} | {f['rms']:.3g} | |", "",
              f"Images: `{report['images']}` (manifest.json, program.oeie, hex/).", "",
              f"Wall time: {report['wall_s']:.2f} s.", ""]
    return "\n".join(lines)


def run_demo(out_dir: Path, config_path=None, quick: bool = False, seed: int = 0) -> dict:
    """Build the default network, compile it, run the golden model against the float reference, and write the
    images plus ``report.md`` / ``report.json`` into ``out_dir``. Returns the report dict."""
    from .config import EngineConfig
    from .compiler.images import save_images
    from .compiler.lower import lower
    from .compiler.storage import storage_report
    from .sim import golden
    t0 = time.perf_counter()
    cfg = EngineConfig.load(config_path) if config_path else default_demo_config()
    network = _synthetic_network(seed)
    program = lower(network, cfg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = save_images(program, out_dir / "images")
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(16 if quick else 256, network.n_in))
    err = golden.fixed_point_error(network, program, x)
    report = {"network": "synthetic 64-300-100-10 MLP (seeded)", "config": cfg.to_dict(),
              "storage": storage_report(program), "fixed_point_error": err, "images": str(images),
              "inputs": int(x.shape[0])}
    report["compression_ratio"] = report["storage"]["totals"]["compression_ratio"]
    report["wall_s"] = time.perf_counter() - t0
    report["summary_lines"] = [
        f"compression vs dense fp32: {report['compression_ratio']:.1f}x",
        f"fixed-point output error vs float: max {err['final']['max_abs']:.3g}, rms {err['final']['rms']:.3g}"]
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "report.md").write_text(_markdown(report))
    return report
