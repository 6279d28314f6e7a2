"""Cycle-accurate runs of a compiled network over a batch of inputs (``openeie simulate``), their energy per layer,
their accuracy against class labels, and the same inputs on the Verilated engine (the compiled harness,
:mod:`openeie.testbench.harness`) held to the golden and cycle models. The demo and ``openeie report`` run
their RTL check through :func:`rtl_check` too."""

from __future__ import annotations

import time

import numpy as np

from openeie.errors import InputError, OpenEIEError

__all__ = ["simulate_program", "classify", "rtl_check", "require_agreement", "RTLMismatchError"]


class RTLMismatchError(OpenEIEError):
    """The Verilated engine disagreed with the golden or the cycle model (a bug in OpenEIE, reported as one
    line after the report that records it is written)."""


def simulate_program(program, x_q, progress: bool = True, labels=None, table=None) -> dict:
    """Run every row of ``x_q`` (fixed-point inputs, ``(batch, n_in)``) through the cycle model.

    Parameters
    ----------
    program : openeie.program.Program
    x_q : numpy.ndarray
        Fixed-point inputs, ``(n_in,)`` or ``(batch, n_in)``.
    progress : bool
        A tqdm bar over the inputs.
    labels : numpy.ndarray, optional
        Integer class labels, one per input: adds :func:`classify`'s keys.
    table : openeie.sim.energy.EnergyTable, optional
        Energy table (default: the 45 nm one).

    Returns
    -------
    dict
        JSON-ready: ``config``, ``inputs`` (count), ``wall_s``, ``cycles`` (per input), ``layers`` (per layer,
        lists over inputs: ``cycles``, ``compute_cycles``, ``broadcasts``, ``macs``, ``fillers``,
        ``ideal_cycles``, ``efficiency``, ``saturations``, ``energy_pj``), ``stats`` (per input, the RTL's
        counters), ``saturations`` (``accumulations`` and ``outputs`` clamped, summed over inputs),
        ``energy_pj`` (per input, pJ), ``energy_breakdown_pj`` (mean per component, pJ), ``outputs_fixed`` and
        ``outputs`` (logical outputs, fixed point and real); with ``labels`` also ``predicted``, ``correct`` and
        ``accuracy``.
    """
    from tqdm import tqdm
    from openeie.progress import shown
    from openeie.sim import cycle
    from openeie.sim.energy import energy, load_table
    cfg = program.config
    table = table or load_table()
    x_q = np.atleast_2d(x_q)
    if labels is not None and len(labels) != len(x_q):
        raise InputError(f"{len(labels)} labels for {len(x_q)} inputs: expected one label per input")
    runs = []
    t0 = time.perf_counter()
    for row in tqdm(x_q, desc="simulating", unit="input", disable=not shown(progress) or len(x_q) < 2, leave=False):
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
                       "saturations": [x.counters["acc_saturations"] + x.counters["out_saturations"] for x in t],
                       "energy_pj": [sum(energy(x.stats(), cfg, table).values()) for x in t]})
    stats = [r[1].as_dict() for r in runs]
    breakdowns = [energy(r[1], cfg, table) for r in runs]
    result = {"config": cfg.to_dict(), "inputs": len(runs), "wall_s": wall,
              "cycles": [r[1].cycles for r in runs], "layers": layers, "stats": stats,
              "saturations": {"accumulations": sum(s["acc_saturations"] for s in stats),
                              "outputs": sum(s["out_saturations"] for s in stats)},
              "energy_pj": [sum(b.values()) for b in breakdowns],
              "energy_breakdown_pj": {k: float(np.mean([b[k] for b in breakdowns])) for k in breakdowns[0]},
              "outputs_fixed": [r[0].tolist() for r in runs],
              "outputs": [(r[0] / float(1 << cfg.act_frac_bits)).tolist() for r in runs]}
    if labels is not None:
        result.update(classify(np.asarray([r[0] for r in runs]), labels))
    return result


def classify(outputs, labels) -> dict:
    """Top-1 classification of logical outputs ``(batch, classes)`` against integer ``labels`` ``(batch,)``:
    ``predicted`` (the index of each row's largest output, the first on a tie), ``correct`` (count) and
    ``accuracy`` (fraction)."""
    outputs = np.atleast_2d(np.asarray(outputs))
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.argmax(outputs, axis=1)
    correct = int(np.sum(predicted == labels))
    return {"predicted": predicted.tolist(), "correct": correct, "accuracy": correct / len(labels)}


def rtl_check(program, x_q, labels=None, seed: int = 0, build_root=None) -> dict:
    """Run the rows of ``x_q`` on the Verilated engine (the compiled harness, with seeded idle gaps on its input
    streams and backpressure on its output stream) and hold each to the models: the last layer's outputs
    bit-exact with the golden model, ``done`` in the cycle the cycle model counts, every counter equal.

    Parameters
    ----------
    program : openeie.program.Program
    x_q : numpy.ndarray
        Fixed-point inputs, ``(n_in,)`` or ``(batch, n_in)``.
    labels : numpy.ndarray, optional
        Class labels: adds ``correct`` (the RTL's outputs classified).
    seed : int
        Seed of the harness's stream gaps and backpressure.
    build_root : path, optional
        Where the harness is built (default: :func:`openeie.testbench.harness.build_harness`'s).

    Returns
    -------
    dict
        ``inputs``, ``outputs_equal``, ``cycles_equal``, ``counters_equal`` (counts of inputs), ``agree`` (all
        three for every input), ``disagreeing`` (inputs with any difference), ``mismatches`` (the first five,
        one sentence each), ``cycles`` (per input, the
        cycle ``done`` came in), ``sim_cycles`` (every clock cycle simulated, loading included), ``seed``,
        ``wall_s`` (seconds, the harness build included) and with ``labels`` ``correct``.
    """
    from openeie.sim import cycle, golden
    from openeie.testbench.harness import run_harness
    x_q = np.atleast_2d(np.asarray(x_q, dtype=np.int64))
    t0 = time.perf_counter()
    runs = run_harness([(program, x) for x in x_q], seed=seed, build_root=build_root)
    wall = time.perf_counter() - t0
    counts = {"outputs_equal": 0, "cycles_equal": 0, "counters_equal": 0}
    mismatches = []
    for i, (x, run) in enumerate(zip(x_q, runs)):
        want = golden.run(program, x)[-1]
        _, stats, _ = cycle.run(program, x)
        model, rtl = stats.as_dict(), run.stats.as_dict()
        checks = {"outputs_equal": np.array_equal(run.outputs, want),
                  "cycles_equal": run.done_cycle == stats.counters["cycles"],
                  "counters_equal": all(rtl.get(k) == v for k, v in model.items())}
        for key, ok in checks.items():
            counts[key] += int(ok)
        if not all(checks.values()):
            what = [k.replace("_equal", "") for k, ok in checks.items() if not ok]
            mismatches.append(f"input {i}: {', '.join(what)} differ (done after {run.done_cycle} cycles, the cycle "
                              f"model says {stats.counters['cycles']})")
    out = {"inputs": len(runs), **counts, "agree": not mismatches, "disagreeing": len(mismatches),
           "mismatches": mismatches[:5],
           "cycles": [r.done_cycle for r in runs], "sim_cycles": int(sum(r.sim_cycles for r in runs)),
           "seed": seed, "wall_s": wall}
    if labels is not None:
        got = np.asarray([program.output_logical(r.outputs) for r in runs])
        out["correct"] = classify(got, np.asarray(labels)[:len(runs)])["correct"]
    return out


def require_agreement(rtl: dict | None, record: str) -> None:
    """Raise :class:`RTLMismatchError` when :func:`rtl_check`'s result ``rtl`` found a disagreement; ``record``
    names the file that records it."""
    if rtl and not rtl["agree"]:
        n = rtl["inputs"]
        raise RTLMismatchError(f"the RTL disagreed with the models on {rtl['disagreeing']} of {n} "
                               f"inputs (outputs {rtl['outputs_equal']}/{n}, done cycles {rtl['cycles_equal']}/{n}, "
                               f"counters {rtl['counters_equal']}/{n} equal; first: {rtl['mismatches'][0]}); "
                               f"{record} records it")
