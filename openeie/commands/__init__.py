"""The ``openeie`` command line: one module per command, each with ``add_arguments(subparsers)`` (which
registers the command and sets ``run``) and ``run(args)``: parse and check every input, call the domain, render.
"""

from __future__ import annotations

__all__ = ["COMMANDS"]

#: Module names under :mod:`openeie.commands`, in the order ``openeie --help`` lists them.
COMMANDS = ("compress", "compile", "simulate", "energy", "rtl", "sweep", "sweep_sim", "synth", "run", "asic", "bench",
            "compare", "demo", "report", "config")
