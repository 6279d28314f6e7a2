"""Cycle-accurate runs of a compiled network over a batch of inputs (``openeie simulate``)."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["simulate_program"]


def simulate_program(program, x_q, progress: bool = True) -> dict:
    """Run every row of ``x_q`` (fixed-point inputs, ``(batch, n_in)``) through the cycle model.

    Returns a JSON-ready dict: ``config``, ``inputs`` (count), ``wall_s``, ``cycles`` (per input), ``layers``
    (per layer, lists over inputs: ``cycles``, ``compute_cycles``, ``broadcasts``, ``macs``, ``fillers``,
    ``ideal_cycles``, ``efficiency``, ``saturations``), ``stats`` (per input, the RTL's counters),
    ``saturations`` (``accumulations`` and ``outputs`` clamped, summed over inputs), ``outputs_fixed`` and
    ``outputs`` (logical outputs, fixed point and real).
    """
    from tqdm import tqdm
    from openeie.sim import cycle
    cfg = program.config
    x_q = np.atleast_2d(x_q)
    runs = []
    t0 = time.perf_counter()
    for row in tqdm(x_q, desc="simulating", unit="input", disable=not progress or len(x_q) < 2, leave=False):
        outputs, stats, timings = cycle.run(program, row)
        runs.append((program.output_logical(outputs[-1]), stats, timings))
    wall = time.perf_counter() - t0
    layers = []
    for i, info in enumerate(program.layers):
        t = [r[2][i] for r in runs]
        layers.append({"name": info.name, "shape": [info.n_out, info.n_in],
                       "cycles": [x.cycles for x in t], "compute_cycles": [x.compute_cycles for x in t],
                       "broadcasts": [x.broadcasts for x in t], "macs": [x.macs for x in t],
                       "fillers": [x.fillers for x in t], "ideal_cycles": [x.ideal_cycles for x in t],
                       "efficiency": [x.efficiency for x in t],
                       "saturations": [x.counters["acc_saturations"] + x.counters["out_saturations"] for x in t]})
    stats = [r[1].as_dict() for r in runs]
    return {"config": cfg.to_dict(), "inputs": len(runs), "wall_s": wall,
            "cycles": [r[1].cycles for r in runs], "layers": layers, "stats": stats,
            "saturations": {"accumulations": sum(s["acc_saturations"] for s in stats),
                            "outputs": sum(s["out_saturations"] for s in stats)},
            "outputs_fixed": [r[0].tolist() for r in runs],
            "outputs": [(r[0] / float(1 << cfg.act_frac_bits)).tolist() for r in runs]}
