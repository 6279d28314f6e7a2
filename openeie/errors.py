"""The error types of OpenEIE: one base class for every error a user can cause with bad input.

Every error OpenEIE raises on purpose (a bad value, file, configuration, network, image, board answer or tool
failure) is an :class:`OpenEIEError`; the command line prints those as one line and exits with status 2.
Anything else that escapes is a bug and shows its traceback.

The classes also derive from the built-in type that fits (``ValueError`` for bad values, ``TypeError`` for
bad types), so code that catches ``ValueError`` keeps working.

This module imports nothing but the standard library, so every layer can use it.
"""

from __future__ import annotations

import math
import numbers

__all__ = ["OpenEIEError", "InputError", "InputTypeError", "FileInputError", "OutputError", "check_type",
           "check_int", "check_number"]


class OpenEIEError(Exception):
    """Base class of every error a user can cause: the message names the offending value and what was expected."""


class InputError(OpenEIEError, ValueError):
    """A value given to a command or a public function is out of range or inconsistent."""


class InputTypeError(OpenEIEError, TypeError):
    """A value given to a public function has the wrong type."""


class FileInputError(OpenEIEError, ValueError):
    """An input file that cannot be used: missing, not a regular file, too large, unreadable or malformed."""


class OutputError(OpenEIEError):
    """An output that cannot be written without destroying something that is not OpenEIE's, or at all."""


def check_type(value, types, what: str):
    """``value`` if it is an instance of ``types`` (``bool`` never counts as an int); else :class:`InputTypeError`."""
    types = types if isinstance(types, tuple) else (types,)
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        names = " or ".join(t.__name__ for t in types)
        raise InputTypeError(f"{what} must be {names}, not {type(value).__name__} {value!r:.80}")
    return value


def _range_text(low, high) -> str:
    if low is not None and high is not None:
        return f"{low}..{high}"
    return f">= {low}" if low is not None else f"<= {high}"


def check_int(value, what: str, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` if it is an integer (Python or NumPy, not bool) in ``low..high`` (inclusive)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"{what} must be an integer, not {type(value).__name__} {value!r:.80}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise InputError(f"{what}={value} is out of range: expected {_range_text(low, high)}")
    return value


def check_number(value, what: str, low: float | None = None, high: float | None = None,
                 low_open: bool = False) -> float:
    """``value`` as a finite ``float`` in the given range (``low`` excluded when ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{what} must be a number, not {type(value).__name__} {value!r:.80}")
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{what}={value} is not a finite number")
    if (low is not None and (value < low or (low_open and value == low))) or (high is not None and value > high):
        bound = (f"> {low:g}" if low_open else f">= {low:g}") if low is not None else ""
        text = f"{bound} and <= {high:g}" if bound and high is not None else bound or f"<= {high:g}"
        raise InputError(f"{what}={value:g} is out of range: expected {text}")
    return value
