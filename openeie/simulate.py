"""``openeie simulate``: run a compiled network (or a network file, compiled on the fly) through the cycle model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

__all__ = ["load_target", "load_inputs", "simulate"]


def load_target(target, cfg=None):
    """A Program from images (directory or ``.oeie``) or a network file (``.npz``/``.safetensors``), which is
    lowered with ``cfg`` (default: EIE's engine)."""
    from .compiler.images import load_program
    from .compiler.lower import lower
    from .compiler.netfile import load_network
    from .config import EngineConfig
    path = Path(target)
    if path.is_dir() or path.suffix.lower() == ".oeie":
        return load_program(path, cfg)
    return lower(load_network(path), cfg or EngineConfig())


def load_inputs(path, program, seed: int = 0, count: int = 1) -> np.ndarray:
    """Float inputs ``(batch, n_in)`` from a ``.npy`` file (1-D or 2-D, no pickles), or seeded uniform [0, 1)."""
    n_in = program.n_in
    if path is None:
        return np.random.default_rng(seed).uniform(0, 1, size=(count, n_in))
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"input file {str(path)!r} is not a readable .npy array: {e}") from None
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(f"input file {str(path)!r} has shape {x.shape}: expected ({n_in},) or (batch, {n_in})")
    return x


def simulate(target, config_path=None, input_path=None, seed=0, count=1, json_path=None, progress=True,
             printer=print) -> dict:
    from tqdm import tqdm
    from .config import EngineConfig
    from .sim import cycle, golden
    cfg = EngineConfig.load(config_path) if config_path else None
    program = load_target(target, cfg)
    cfg = program.config
    x = load_inputs(input_path, program, seed, count)
    x_q = golden.quantize_input(cfg, x)
    streams = cycle._PeStreams(program)
    runs = []
    t0 = time.perf_counter()
    for row in tqdm(x_q, desc="simulating", unit="input", disable=not progress or len(x_q) < 2, leave=False):
        outputs, stats, timings = cycle.run(program, row, streams=streams)
        runs.append((program.output_logical(outputs[-1]), stats, timings))
    wall = time.perf_counter() - t0
    layers = []
    for i, info in enumerate(program.layers):
        t = [r[2][i] for r in runs]
        layers.append({"name": info.name, "shape": [info.n_out, info.n_in],
                       "cycles": [x.cycles for x in t], "compute_cycles": [x.compute_cycles for x in t],
                       "broadcasts": [x.broadcasts for x in t], "macs": [x.macs for x in t],
                       "fillers": [x.fillers for x in t], "ideal_cycles": [x.ideal_cycles for x in t],
                       "efficiency": [x.efficiency for x in t]})
    result = {"config": cfg.to_dict(), "inputs": len(runs), "wall_s": wall,
              "cycles": [r[1].cycles for r in runs], "layers": layers,
              "stats": [r[1].as_dict() for r in runs],
              "outputs_fixed": [r[0].tolist() for r in runs],
              "outputs": [(r[0] / float(1 << cfg.act_frac_bits)).tolist() for r in runs]}
    printer(f"{len(runs)} input(s) through {program.n_layers} layer(s) on {cfg.n_pe} PEs, FIFO {cfg.fifo_depth} "
            f"({wall:.2f} s)")
    printer(f"{'layer':<12} {'cycles':>9} {'compute':>9} {'bcasts':>7} {'MACs':>9} {'fillers':>8} {'effic.':>7}")
    for l in layers:
        printer(f"{l['name']:<12} {np.mean(l['cycles']):>9.0f} {np.mean(l['compute_cycles']):>9.0f} "
                f"{np.mean(l['broadcasts']):>7.0f} {np.mean(l['macs']):>9.0f} {np.mean(l['fillers']):>8.0f} "
                f"{np.mean(l['efficiency']):>7.3f}")
    printer(f"{'total':<12} {np.mean(result['cycles']):>9.0f}" + ("  (mean over inputs)" if len(runs) > 1 else ""))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2) + "\n")
    return result
