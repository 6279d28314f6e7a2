"""Small combinational building blocks of the engine: population count, saturation, least significant bit."""

from __future__ import annotations

from amaranth.hdl import C, Mux, Value, signed

from openeie.fixed import fixed_range

__all__ = ["popcount", "saturate", "lsb"]


def popcount(bits) -> Value:
    """Number of set bits among ``bits`` (an iterable of 1-bit values), as a balanced adder tree."""
    values = [Value.cast(b) for b in bits]
    if not values:
        return C(0, 1)
    while len(values) > 1:
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


def saturate(value, bits: int):
    """``value`` clamped to the signed ``bits``-bit range, and whether it was clamped: ``(result, clamped)``
    (the result may be wider; truncate on assignment).

    Built from the value's top bits rather than comparisons with the range's ends: a signed value is in range
    exactly when its bits ``bits-1`` and up are all equal (an unsigned one when they are all zero), so no carry
    chain follows the one that produced the value."""
    lo, hi = fixed_range(bits)
    value = Value.cast(value)
    width, signed_value = len(value), value.shape().signed
    if width < bits or (width == bits and signed_value):
        return value, C(0, 1)
    top = value[bits - 1:]
    if signed_value:
        in_range = top.all() | ~top.any()
        clamp = Mux(value[-1], C(lo, signed(bits)), C(hi, signed(bits)))
    else:
        in_range = ~top.any()
        clamp = C(hi, signed(bits))
    return Mux(in_range, value[:bits].as_signed(), clamp), ~in_range


def lsb(value) -> Value:
    """Least significant bit of ``value`` (0 for a zero-width value)."""
    value = Value.cast(value)
    return value[0] if len(value) else C(0, 1)
