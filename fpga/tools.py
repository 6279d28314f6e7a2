"""Discovery of the YoWASP tools (Yosys, nextpnr, the bitstream packers, the ECP5 PLL calculator) and the error
every tool flow raises when a tool is missing or fails."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from openeie.errors import OpenEIEError

__all__ = ["ToolError", "find_tool"]


class ToolError(OpenEIEError, ValueError):
    """A tool is missing or failed; the message says which, and where its log is."""


def find_tool(name: str) -> str:
    """Path of a YoWASP tool: the running virtualenv's ``bin`` first, then ``PATH``."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise ToolError(f"{name} not found next to {sys.executable} or on PATH: install the FPGA extra "
                        f"(pip install 'openeie[fpga]') or the yowasp-* packages")
    return found
