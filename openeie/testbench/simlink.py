"""The board without a board: the linked engine (UART + command decoder + engine, with the board's memory
mapping and behavioural SPRAM models) compiled by Verilator and driven through its UART pins by the host driver
:mod:`openeie.fpga.host`, via a bit-level simulated UART (:mod:`openeie.testbench.sim_uart`, a cocotb transport).

``simulate_runs(program, inputs)`` returns, for each input vector, what :func:`openeie.fpga.host.run` would
return on a board: ``(outputs, stats)``. Builds are cached by the hash of the Verilog (``build_root``, default
``build/fpga-sim`` or ``$OPENEIE_SIM_BUILD``). Set ``OPENEIE_WAVES=1`` for a waveform dump (kept with the
run directory under the build directory).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from amaranth.back import verilog

from openeie.compiler.images import save_container
from openeie.config import EngineConfig
from openeie.fpga.boards import get_device
from openeie.fpga.link import LinkedEngine
from openeie.hw.export import builtin_yosys
from openeie.program import Program
from openeie.stats import Stats

from .verilator import build, run_cocotb_test, wave_format, waves_enabled

__all__ = ["SIM_TOP", "DEFAULT_SIM_DIVISOR", "sim_verilog", "build_sim", "simulate_runs", "simulate_error_probes"]

SIM_TOP = "openeie_link"
#: UART clock cycles per bit in simulation (a real board uses clk / baud, e.g. 104 at 12 MHz / 115200).
DEFAULT_SIM_DIVISOR = 4


def sim_verilog(cfg: EngineConfig, *, divisor: int = DEFAULT_SIM_DIVISOR, device: str = "up5k") -> str:
    """Verilog of the linked engine with ``device``'s memory mapping (SPRAMs as behavioural models)."""
    mapper = get_device(device).memory_mapper(cfg, model=True)
    with builtin_yosys():
        return verilog.convert(LinkedEngine(cfg, divisor), name=SIM_TOP, platform=mapper, emit_src=False)


def build_sim(cfg: EngineConfig, *, divisor: int = DEFAULT_SIM_DIVISOR, device: str = "up5k",
              build_root=None, builds_kept: int = 3) -> Path:
    """Compile the simulation with Verilator (:func:`openeie.testbench.verilator.build`, cached by the Verilog's
    hash); keeps the newest ``builds_kept`` builds under ``build_root``. Returns the build directory."""
    import hashlib
    text = sim_verilog(cfg, divisor=divisor, device=device)
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    root = Path(build_root or os.environ.get("OPENEIE_SIM_BUILD", "build/fpga-sim")).resolve()
    build_dir, seconds = build(text, SIM_TOP, root / key)
    if seconds is not None:
        builds = sorted((d for d in root.iterdir() if (d / SIM_TOP).exists() and d != build_dir),
                        key=lambda d: (d / SIM_TOP).stat().st_mtime, reverse=True)
        for old in builds[builds_kept - 1:]:
            shutil.rmtree(old, ignore_errors=True)
    return build_dir


def _simulate(kind: str, program: Program, inputs, *, divisor, device, build_root, max_cycles):
    build_dir = build_sim(program.config, divisor=divisor, device=device, build_root=build_root)
    run_dir = build_dir / f"run-{os.getpid()}"
    run_dir.mkdir(exist_ok=True)
    job, image = run_dir / "job.json", run_dir / "program.oeie"
    save_container(program, image)
    job.write_text(json.dumps({"kind": kind, "program": str(image), "inputs": [list(map(int, x)) for x in inputs],
                               "divisor": divisor, "max_cycles": max_cycles}))
    report = run_cocotb_test(build_dir, "openeie.testbench.sim_uart", "host_session", {"OPENEIE_LINK_JOB": str(job)},
                             top=SIM_TOP, test_dir=run_dir)
    outcome = _unplain({k: v for k, v in report.items() if k not in ("test_wall_s", "run_failed")})
    if "error" not in outcome and report["run_failed"]:
        raise RuntimeError(report["run_failed"])
    if "error" in outcome:
        raise RuntimeError(f"the link simulation failed:\n{outcome['error']}\n(log: {run_dir / 'host_session.log'})")
    if not waves_enabled():
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        import sys
        print(f"waveform: {run_dir}/host_session.{wave_format()}", file=sys.stderr)
    return outcome["result"]


def _unplain(value):
    """Inverse of ``sim_uart._plain``: ``{"outputs", "stats", "storage_outputs"}`` back to ``(outputs, Stats)``."""
    if isinstance(value, dict) and set(value) == {"outputs", "stats", "storage_outputs"}:
        stats = Stats.from_dict(value["stats"])
        stats.extra["storage_outputs"] = np.asarray(value["storage_outputs"], dtype=np.int64)
        return np.asarray(value["outputs"], dtype=np.int64), stats
    if isinstance(value, dict):
        return {k: _unplain(v) for k, v in value.items()}
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [_unplain(v) for v in value]
    if isinstance(value, list):
        return np.asarray(value, dtype=np.int64)
    return value


def simulate_runs(program: Program, inputs, *, divisor: int = DEFAULT_SIM_DIVISOR, device: str = "up5k",
                  build_root=None, max_cycles: int = 5_000_000):
    """Load ``program`` into the simulated board through the host driver and run each input vector.

    Returns a list of ``(outputs, stats)``, one per vector of ``inputs`` (logical fixed-point ints), exactly as
    :meth:`openeie.fpga.host.BoardLink.infer` returns them. ``max_cycles`` bounds each response wait.
    """
    return _simulate("runs", program, inputs, divisor=divisor, device=device, build_root=build_root,
                     max_cycles=max_cycles)


def simulate_error_probes(program: Program, x_q, *, divisor: int = DEFAULT_SIM_DIVISOR, device: str = "up5k",
                          build_root=None, max_cycles: int = 200_000):
    """Provoke every error status of the protocol on a fresh simulated board, then run ``x_q`` normally.

    Returns ``{probe: LinkError message or None}`` for the probes ``wait_before_start``, ``read_before_start``,
    ``bad_opcode``, ``start_while_busy``, ``read_past_end``, plus ``storage_outputs`` (read between the last two)
    and ``after_errors`` (``(outputs, stats)`` of a normal run afterwards).
    """
    return _simulate("errors", program, [x_q], divisor=divisor, device=device, build_root=build_root,
                     max_cycles=max_cycles)
