"""Amaranth RTL of the OpenEIE engine (see docs/engine.md)."""

from .engine import Engine
from .export import export_verilog

__all__ = ["Engine", "export_verilog"]
