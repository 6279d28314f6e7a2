"""Load-port words of a program, as the testbenches drive them (packed by :meth:`Program.load_port_words`)."""

from __future__ import annotations

__all__ = ["load_port_words"]


def load_port_words(program) -> list:
    return program.load_port_words()
