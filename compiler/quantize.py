"""Linear (TensorRT-style) quantisation: symmetric scales for weights, calibrated thresholds for activations,
and an independent NumPy reference of symmetric integer inference.

A tensor is ``scale * q`` with ``q`` a signed ``bits``-bit integer in ``-(2**(bits-1) - 1) .. 2**(bits-1) - 1``
(symmetric: the most negative code is not used) and values beyond ``threshold = scale * (2**(bits-1) - 1)``
saturated. Weights take ``threshold = max |w|`` per tensor or per output channel; activations take a threshold
calibrated on sample data (:func:`calibrate`): the maximum, a percentile of ``|x|``, or the threshold whose
quantised histogram is closest to the float one in Kullback-Leibler divergence (``"entropy"``, TensorRT's
calibration: 2048 histogram bins of ``|x|``, candidate thresholds from bin 128 on, the clipped mass folded into
the last bin). Rounding is to the nearest integer, halves away from zero.

:func:`int_reference` runs a chain of fully connected layers the way an integer engine would: integer inputs,
int32-range accumulation of integer weights times integer activations plus the bias in the accumulator's scale,
one requantisation per layer to the next layer's activation scale, ReLU, saturation. It is written from these
definitions alone, as the oracle an engine's integer path is checked against.
"""

from __future__ import annotations

import numbers

import numpy as np

from openeie.errors import InputError

__all__ = ["qmax", "round_half_away", "symmetric_scale", "quantize_symmetric", "calibrate", "CALIBRATIONS",
           "int_reference"]

#: Activation calibration methods of :func:`calibrate`.
CALIBRATIONS = ("max", "percentile", "entropy")


def _bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or not 2 <= bits <= 16:
        raise InputError(f"bits={bits!r}: expected an integer 2..16")
    return int(bits)


def qmax(bits: int) -> int:
    """The largest code of a symmetric ``bits``-bit quantiser, ``2**(bits-1) - 1`` (127 for 8 bits)."""
    return (1 << (_bits(bits) - 1)) - 1


def round_half_away(x) -> np.ndarray:
    """Round to the nearest integer, halves away from zero (as int64)."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def symmetric_scale(weight, bits: int = 8, per_channel: bool = False) -> np.ndarray:
    """``max |w| / qmax(bits)`` of the whole tensor (shape ``()``) or of each output channel (row 0 of the first
    axis; shape ``(n_out,)``). An all-zero tensor or channel gets scale 1 (its codes are all 0 anyway)."""
    w = np.asarray(weight, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise InputError("weights to quantise hold non-finite values: expected finite numbers")
    peak = np.abs(w).reshape(len(w), -1).max(axis=1) if per_channel else np.abs(w).max(initial=0.0)
    peak = np.where(peak > 0, peak, qmax(bits))
    return peak / qmax(bits)


def quantize_symmetric(x, scale, bits: int = 8) -> np.ndarray:
    """``clip(round(x / scale), -qmax, qmax)`` (``scale`` broadcast over the first axis when it has one value per
    channel)."""
    x = np.asarray(x, dtype=np.float64)
    s = np.asarray(scale, dtype=np.float64)
    if np.any(~(s > 0)):
        raise InputError(f"quantisation scale {float(s.ravel()[np.argmin(s > 0)])!r}: expected > 0")
    if s.ndim == 1:
        s = s.reshape((-1,) + (1,) * (x.ndim - 1))
    m = qmax(bits)
    return np.clip(round_half_away(x / s), -m, m)


def _entropy_threshold(values: np.ndarray, bits: int, bins: int = 2048) -> float:
    levels = qmax(bits) + 1                       # quantised bins of |x|: 128 for 8 bits
    hist, edges = np.histogram(values, bins=bins, range=(0.0, float(values.max())))
    hist = hist.astype(np.float64)
    best, best_i = np.inf, bins
    for i in range(levels, bins + 1):
        p = hist[:i].copy()
        p[-1] += hist[i:].sum()                   # clipped values land in the last bin
        src = hist[:i]
        # merge into `levels` bins (np.array_split's groups) and spread each back over its non-empty source bins
        sizes = np.full(levels, i // levels)
        sizes[:i % levels] += 1
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nz = src != 0
        sums, counts = np.add.reduceat(src, starts), np.add.reduceat(nz.astype(np.float64), starts)
        q = np.repeat(np.divide(sums, counts, out=np.zeros(levels), where=counts > 0), sizes) * nz
        ps, qs = p.sum(), q.sum()
        if ps == 0 or qs == 0:
            continue
        p, q = p / ps, q / qs
        mask = p > 0
        kl = float(np.sum(p[mask] * np.log(p[mask] / np.where(q[mask] > 0, q[mask], 1e-12))))
        if kl < best:
            best, best_i = kl, i
    return float(edges[best_i - 1] + edges[best_i]) / 2 if best_i < bins else float(edges[-1])


def calibrate(samples, method: str = "entropy", bits: int = 8, percentile: float = 99.99) -> float:
    """The saturation threshold of an activation tensor from calibration ``samples`` (any shape).

    ``"max"``: ``max |x|``; ``"percentile"``: that percentile of ``|x|``; ``"entropy"``: the KL-optimal threshold
    (see the module docstring). The activation scale is ``threshold / qmax(bits)``.
    """
    if method not in CALIBRATIONS:
        raise InputError(f"calibration {method!r}: expected one of {', '.join(CALIBRATIONS)}")
    bits = _bits(bits)
    x = np.abs(np.asarray(samples, dtype=np.float64)).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise InputError(f"calibration samples: {x.size} values{' with non-finite ones' if x.size else ''}: "
                         f"expected finite numbers")
    if x.max() == 0:
        return 1.0
    if method == "max":
        return float(x.max())
    if method == "percentile":
        if isinstance(percentile, bool) or not isinstance(percentile, numbers.Real) or not 0 < percentile <= 100:
            raise InputError(f"percentile={percentile!r}: expected 0 < p <= 100")
        t = float(np.percentile(x, percentile))
        return t if t > 0 else float(x.max())
    return _entropy_threshold(x, bits)


def int_reference(weights, biases, relus, x, weight_scales, act_scales, bits: int = 8,
                  acc_bits: int = 32) -> tuple:
    """Symmetric integer inference of a chain of fully connected layers.

    Parameters
    ----------
    weights : list of (n_out, n_in) float arrays
    biases : list of (n_out,) float arrays or None
    relus : list of bool
    x : (batch, n_in) float array
        Float inputs, quantised with ``act_scales[0]``.
    weight_scales : list of float or (n_out,) arrays
        Per tensor or per output channel (:func:`symmetric_scale`).
    act_scales : list of float, one more than the layers
        ``act_scales[k]`` is the scale of layer k's input; the last one that of the network's output.
    bits, acc_bits : int
        Activation/weight width and the accumulator width (sums beyond it raise: the engine saturates, this
        reference does not pretend to).

    Returns
    -------
    outputs : (batch, n_out) int64 array
        The last layer's integer outputs (value = ``act_scales[-1] * outputs``).
    activations : list of int64 arrays
        Every layer's integer input, then the output.
    """
    n = len(weights)
    if not (len(biases) == len(relus) == len(weight_scales) == n and len(act_scales) == n + 1):
        raise InputError(f"int_reference: {n} weights, {len(biases)} biases, {len(relus)} relus, "
                         f"{len(weight_scales)} weight scales, {len(act_scales)} activation scales: expected "
                         f"{n}, {n}, {n}, {n} and {n + 1}")
    m = qmax(bits)
    limit = 1 << (acc_bits - 1)
    h = quantize_symmetric(np.atleast_2d(x), float(act_scales[0]), bits)
    acts = [h]
    for k in range(n):
        s_w = np.broadcast_to(np.asarray(weight_scales[k], dtype=np.float64), (len(weights[k]),))
        w_q = quantize_symmetric(weights[k], s_w, bits)
        s_acc = s_w * float(act_scales[k])                      # scale of the integer accumulator, per row
        acc = h @ w_q.T
        if biases[k] is not None:
            acc = acc + round_half_away(np.asarray(biases[k], dtype=np.float64) / s_acc)
        if np.abs(acc).max(initial=0) >= limit:
            raise InputError(f"layer {k}: an accumulation of {int(np.abs(acc).max())} does not fit {acc_bits} bits")
        y = round_half_away(acc * (s_acc / float(act_scales[k + 1])))
        if relus[k]:
            y = np.maximum(y, 0)
        h = np.clip(y, -m, m)
        acts.append(h)
    return h, acts
