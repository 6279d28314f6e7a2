"""ECP5 PLL for running a board at another clock than its oscillator's.

The parameters come from Project Trellis' own calculator (``yowasp-ecppll``), which writes a Verilog module
around ``EHXPLLL``; the board top instantiates that module and adds its file to the build.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .tools import ToolError, find_tool

__all__ = ["Pll", "ecp5_pll"]

MODULE = "openeie_pll"


@dataclass(frozen=True)
class Pll:
    """A generated PLL: Verilog module ``module`` with ports ``clkin``, ``clkout0``, ``locked``."""

    module: str
    verilog: str
    clkin_mhz: float
    clkout_mhz: float     # what the PLL actually produces (the closest the dividers allow)


def ecp5_pll(clkin_mhz: float, clkout_mhz: float, work_dir) -> Pll:
    """Run ``yowasp-ecppll`` in ``work_dir`` for ``clkin_mhz`` -> ``clkout_mhz``.

    Raises
    ------
    ToolError
        The tool failed or the closest frequency it found is more than 1 % off.
    """
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    name = f"{MODULE}.v"
    proc = subprocess.run([find_tool("yowasp-ecppll"), "-n", MODULE, "-i", f"{clkin_mhz:g}", "-o", f"{clkout_mhz:g}",
                           "-f", name], cwd=work, capture_output=True, text=True)
    found = re.search(r"clkout0 frequency: ([0-9.]+) MHz", proc.stdout)
    if proc.returncode != 0 or not found or not (work / name).exists():
        raise ToolError(f"ecppll cannot make {clkout_mhz:g} MHz from {clkin_mhz:g} MHz: "
                         f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    actual = float(found.group(1))
    if abs(actual - clkout_mhz) > 0.01 * clkout_mhz:
        raise ToolError(f"the ECP5 PLL cannot make {clkout_mhz:g} MHz from {clkin_mhz:g} MHz (closest "
                         f"{actual:g} MHz); pick another clock")
    return Pll(MODULE, (work / name).read_text(), clkin_mhz, actual)
