"""Run a compiled program on the engine RTL (Verilator through cocotb) from Python.

Used by the demo and the lowering tests to hold the RTL to the golden model on real networks. The engine for
``program.config`` is built once under ``build_root`` and reused while its Verilog is unchanged.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from openeie.compiler.images import save_container
from openeie.program import Program
from openeie.stats import Stats

from .verilator import build_engine, rtl_available, run_cocotb_test, wave_format, waves_enabled

__all__ = ["rtl_available", "run_program"]


def run_program(program: Program, x_q, build_root="build/rtl", waves: bool | None = None, waves_path=None):
    """Run fixed-point inputs ``x_q`` (``(n_in,)`` or ``(batch, n_in)``) through the program on the RTL.

    With waveforms (``waves`` or ``OPENEIE_WAVES=1``) the dump stays in the run's directory under the build, or
    is moved to ``waves_path`` when given (its suffix the format :func:`~openeie.testbench.verilator.wave_format`
    names); its path is printed on stderr.

    Returns ``(outputs, stats)``: per input the last layer's storage-order outputs (int64 array) and the RTL's
    :class:`~openeie.stats.Stats`. Raises ``RuntimeError`` if the testbench saw an output differ from the golden
    model or the ``done`` timing disagree with the cycle counter.
    """
    if waves_path is not None:
        waves = True
    x = np.atleast_2d(np.asarray(x_q, dtype=np.int64))
    cfg = program.config
    name = "engine_" + cfg.hash().hex()[:12]
    build_dir, _ = build_engine(cfg, Path(build_root) / name, waves)
    # a directory per process (program, inputs, report, log), as the board simulation has: concurrent runs on
    # one build must not share files
    run_dir = build_dir / f"run-{os.getpid()}"
    run_dir.mkdir(exist_ok=True)
    prog_path, in_path = run_dir / "program.oeie", run_dir / "inputs.npy"
    save_container(program, prog_path)
    np.save(in_path, x, allow_pickle=False)
    report = run_cocotb_test(build_dir, "openeie.testbench.program_tb", "run_program",
                             {"OPENEIE_TB_PROGRAM": str(prog_path), "OPENEIE_TB_INPUTS": str(in_path)}, waves,
                             test_dir=run_dir)
    errors = [e for r in report["runs"] for e in r["errors"]]
    if report["run_failed"] or errors:
        raise RuntimeError(f"RTL run disagreed with the golden model: {errors[:3] or report['run_failed']} "
                           f"(log and files: {run_dir})")
    if not (waves_enabled() if waves is None else waves):
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        import sys
        dump = run_dir / f"run_program.{wave_format()}"
        if waves_path is not None:
            Path(waves_path).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(dump, waves_path)
            shutil.rmtree(run_dir, ignore_errors=True)
            dump = Path(waves_path)
        print(f"waveform: {dump}", file=sys.stderr)
    outputs = [np.asarray(r["outputs"], dtype=np.int64) for r in report["runs"]]
    stats = [Stats.from_dict(r["stats"]) for r in report["runs"]]
    return outputs, stats
