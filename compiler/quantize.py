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

import math
import numbers

import numpy as np

from openeie.errors import InputError

__all__ = ["qmax", "round_half_away", "symmetric_scale", "quantize_symmetric", "calibrate", "CALIBRATIONS",
           "fixed_multiplier", "int_reference"]

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


def fixed_multiplier(scale, mult_bits: int, max_shift: int) -> tuple:
    """Real requantisation factors ``scale`` (>= 0, one per row) as integers ``m`` of at most ``mult_bits`` bits
    and one shift: ``scale ~ m * 2**-shift`` with the largest ``shift <= max_shift`` for which the largest
    ``m = round_half_away(scale * 2**shift)`` fits (gemmlowp's and TensorRT's fixed-point multiplier, with one
    shift per layer). Returns ``(m as int64 array, shift)``."""
    for name, value, low in (("mult_bits", mult_bits, 1), ("max_shift", max_shift, 0)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= value <= 256:
            raise InputError(f"{name}={value!r}: expected an integer {low}..256")
    try:
        s = np.asarray(scale, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise InputError(f"requantisation scales {scale!r:.60}: expected real numbers") from None
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        raise InputError("requantisation scales must be finite and >= 0")
    top = (1 << mult_bits) - 1
    peak = float(s.max(initial=0.0))
    if peak == 0:
        return np.zeros(len(s), dtype=np.int64), 0
    # peak = f * 2**e with 0.5 <= f < 1, so peak * 2**(mult_bits - e) < 2**mult_bits
    shift = max(0, min(max_shift, mult_bits - math.frexp(peak)[1]))
    while shift > 0 and round_half_away(np.ldexp(peak, shift)) > top:
        shift -= 1
    if round_half_away(np.ldexp(peak, shift)) > top:
        raise InputError(f"requantisation scale {peak:g} needs more than mult_bits={mult_bits} bits: expected "
                         f"at most {top}")
    return round_half_away(np.ldexp(s, shift)), int(shift)


def _patches(h, spec):
    """``(batch, out_h * out_w, in_channels * k * k)`` patches of ``(batch, C * H * W)`` inputs (zero padding),
    columns in PyTorch's weight order (channel, ky, kx)."""
    b = len(h)
    img = h.reshape(b, spec.in_channels, spec.in_h, spec.in_w)
    p, k, st = spec.pad, spec.kernel, spec.stride
    img = np.pad(img, ((0, 0), (0, 0), (p, p), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(img, (k, k), axis=(2, 3))[:, :, ::st, ::st]
    win = win[:, :, :spec.out_h, :spec.out_w]                       # (b, C, oh, ow, k, k)
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(b, spec.out_h * spec.out_w, -1)


def _conv_acc(h, w_q, spec):
    """Integer convolution: ``(batch, out_c, out_h, out_w)`` sums of ``w_q`` (``(out_c, in_c/groups * k*k)``)."""
    cols = _patches(h, spec)
    g = spec.groups
    oc, per = len(w_q) // g, cols.shape[2] // g
    parts = [cols[:, :, i * per:(i + 1) * per] @ w_q[i * oc:(i + 1) * oc].T for i in range(g)]
    acc = np.concatenate(parts, axis=2)                              # (b, P, out_c)
    return acc.transpose(0, 2, 1).reshape(len(h), len(w_q), spec.out_h, spec.out_w)


def _check_reference_layer(k: int, h, w, spec) -> None:
    from .network import ConvSpec
    if w.ndim != 2:
        raise InputError(f"int_reference: layer {k}'s weights have shape {w.shape}: expected (n_out, fan_in)")
    if spec is None:
        if h.shape[1] != w.shape[1]:
            raise InputError(f"int_reference: layer {k} takes {w.shape[1]} inputs, given {h.shape[1]}")
        return
    if not isinstance(spec, ConvSpec):
        raise InputError(f"int_reference: convs[{k}] is {type(spec).__name__}: expected a ConvSpec or None")
    n_in = spec.in_channels * spec.in_h * spec.in_w
    if h.shape[1] != n_in or w.shape[1] * spec.groups != spec.in_channels * spec.kernel ** 2 or \
            len(w) % spec.groups:
        raise InputError(f"int_reference: layer {k}, a convolution of {spec.in_channels} x {spec.in_h} x "
                         f"{spec.in_w} inputs with {spec.kernel} x {spec.kernel} kernels in {spec.groups} groups, "
                         f"is given {h.shape[1]} inputs and weights of shape {w.shape}")


def int_reference(weights, biases, relus, x, weight_scales, act_scales, bits: int = 8,
                  acc_bits: int = 32, mult_bits: int | None = None, convs=None) -> tuple:
    """Symmetric integer inference of a chain of fully connected layers (and convolutions, ``convs``).

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
        Activation/weight width and the accumulator width (final sums beyond it raise: the engine saturates, this
        reference does not pretend to; it equals an engine's results when no partial sum saturates there either,
        which the engine counts in ``acc_saturations``).
    mult_bits : int, optional
        Requantise with :func:`fixed_multiplier`'s integer multipliers of this width and one shift per layer,
        rounding ``(v + 2**(shift-1)) >> shift`` (halves up) and saturating to the two's complement range
        ``-2**(bits-1) .. 2**(bits-1) - 1``, as an integer engine does; None: multiply by the real factor, round
        halves away from zero and saturate to the symmetric range.
    convs : list of ConvSpec or None, optional
        Per layer, the convolution it is (its pooling included; an average pool's ``1/(k*k)`` is part of the
        requantisation factor), or None for a fully connected layer. Inputs and outputs of convolutions are in
        (C, H, W) order, as PyTorch flattens them.

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
    convs = [None] * n if convs is None else list(convs)
    if len(convs) != n:
        raise InputError(f"int_reference: {len(convs)} convolution specs for {n} layers")
    m = qmax(bits)
    limit = 1 << (acc_bits - 1)
    h = quantize_symmetric(np.atleast_2d(x), float(act_scales[0]), bits)
    h = h.reshape(len(h), -1)
    acts = [h]
    for k in range(n):
        s_w = np.broadcast_to(np.asarray(weight_scales[k], dtype=np.float64), (len(weights[k]),))
        w_q = quantize_symmetric(weights[k], s_w, bits)
        s_acc = s_w * float(act_scales[k])                      # scale of the integer accumulator, per row
        spec = convs[k]
        _check_reference_layer(k, h, w_q, spec)
        if spec is None:
            acc = h @ w_q.T
            bias_shape, window = (1, -1), 1
        else:
            acc = _conv_acc(h, w_q, spec)                      # (batch, out_c, out_h, out_w)
            bias_shape, window = (1, -1, 1, 1), 1
        if biases[k] is not None:
            acc = acc + round_half_away(np.asarray(biases[k], dtype=np.float64) / s_acc).reshape(bias_shape)
        if np.abs(acc).max(initial=0) >= limit:
            raise InputError(f"layer {k}: an accumulation of {int(np.abs(acc).max())} does not fit {acc_bits} bits")
        if spec is not None and spec.pool is not None:
            q, ph, pw = spec.pool_size, spec.pooled_h, spec.pooled_w
            win = acc[:, :, :ph * q, :pw * q].reshape(len(acc), len(w_q), ph, q, pw, q)
            acc = win.max(axis=(3, 5)) if spec.pool == "max" else win.sum(axis=(3, 5))
            window = 1 if spec.pool == "max" else q * q
        factor = s_acc / float(act_scales[k + 1]) / window     # per row
        if mult_bits is None:
            y = round_half_away(acc * factor.reshape(bias_shape))
        else:
            mult, shift = fixed_multiplier(factor, mult_bits, acc_bits + mult_bits - 1)
            prod = acc * mult.reshape(bias_shape)
            y = (prod + ((1 << shift) >> 1)) >> shift
        y = y.reshape(len(y), -1)
        if relus[k]:
            y = np.maximum(y, 0)
        h = np.clip(y, -m, m) if mult_bits is None else np.clip(y, -m - 1, m)   # an engine's two's complement range
        acts.append(h)
    return h, acts
