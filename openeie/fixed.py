"""Fixed-point number formats of the engine and float <-> fixed conversion.

All engine numbers are signed two's complement integers with an implied binary point:
a value ``q`` with ``frac`` fractional bits means ``q * 2**-frac``.

Conversion from float rounds to nearest, ties towards +infinity (``floor(x * 2**frac + 0.5)``), and refuses a
value outside the format's range instead of truncating it silently.
"""

from __future__ import annotations

import numpy as np

from .errors import OpenEIEError

__all__ = ["FixedRangeError", "fixed_range", "quantize", "dequantize", "saturate", "round_shift"]


class FixedRangeError(OpenEIEError, ValueError):
    """A float value does not fit the fixed-point format it is converted to."""


def fixed_range(bits: int) -> tuple[int, int]:
    """Smallest and largest integer of a signed ``bits``-bit format."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def quantize(values, bits: int, frac: int, what: str = "value", saturate_ok: bool = False) -> np.ndarray:
    """Round float ``values`` to signed fixed point (``bits`` total, ``frac`` fractional), as int64.

    Raises :class:`FixedRangeError` naming the first offending value unless ``saturate_ok``, in which case
    out-of-range values saturate to the format's limits.
    """
    v = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        bad = v[~np.isfinite(v)].flat[0]
        raise FixedRangeError(f"{what} {bad} is not a finite number")
    q = np.floor(v * float(1 << frac) + 0.5)
    lo, hi = fixed_range(bits)
    out = (q < lo) | (q > hi)
    if np.any(out) and not saturate_ok:
        bad = v[out].flat[0]
        raise FixedRangeError(
            f"{what} {bad:g} does not fit signed {bits}-bit fixed point with {frac} fractional bits "
            f"(range {lo / (1 << frac):g} .. {hi / (1 << frac):g})")
    return np.clip(q, lo, hi).astype(np.int64)


def dequantize(q, frac: int) -> np.ndarray:
    return np.asarray(q, dtype=np.float64) / float(1 << frac)


def saturate(values, bits: int) -> np.ndarray:
    """Clamp integers to the signed ``bits``-bit range."""
    lo, hi = fixed_range(bits)
    return np.clip(np.asarray(values, dtype=np.int64), lo, hi)


def round_shift(values, shift: int) -> np.ndarray:
    """Arithmetic right shift by ``shift`` bits, rounding to nearest with ties towards +infinity.

    ``(v + 2**(shift-1)) >> shift`` for ``shift > 0``; identity for ``shift == 0``.
    """
    v = np.asarray(values, dtype=np.int64)
    if shift == 0:
        return v
    return (v + (1 << (shift - 1))) >> shift
