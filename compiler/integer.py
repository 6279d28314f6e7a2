"""Linear (INT8 / INT4) quantisation of a float model into an integer network for a requantising engine.

:func:`integer_network` calibrates every layer's input activation scale on sample data (:func:`~openeie.compiler.
quantize.calibrate`: max, percentile or KL entropy), takes symmetric weight scales per tensor or per output
channel, and builds a :class:`~openeie.compiler.network.CompressedNetwork` the engine runs exactly:

* weight scales per tensor, or per output channel floored at the per-tensor scale / 2**8 (a channel of tiny
  weights would otherwise need a bias far beyond the accumulator);
* codes: the integer weights ``q`` (``-qmax .. qmax``, 0 not stored) through a uniform codebook of the integers
  (code ``c`` is ``c - qmax - 1`` for ``c <= qmax``, else ``c - qmax``), so ``weight_frac_bits = 0``;
* each layer's :class:`~openeie.compiler.network.Requant`: the bias ``round_half_away(b / (s_w * s_x))`` in the
  accumulator's scale and the fixed-point multipliers of ``s_w * s_x / s_y`` (per row; an average pool's
  ``1 / (k*k)`` included) with one shift (:func:`~openeie.compiler.quantize.fixed_multiplier`).

The engine it needs (:func:`integer_config`) has ``weight_bits = act_bits = code_bits = bits``, no fractional
bits and ``mult_bits > 0``. :func:`~openeie.compiler.quantize.int_reference` computes the same inference densely
from the float weights and the scales (``reference_args``), as the check of the engine's integer path.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from openeie.errors import InputError

from .network import CompressedLayer, CompressedNetwork, Requant
from .quantize import (CALIBRATIONS, calibrate, fixed_multiplier, qmax, quantize_symmetric, round_half_away,
                       symmetric_scale)

__all__ = ["integer_network", "integer_config", "uniform_codebook", "layer_inputs", "CHANNEL_FLOOR_BITS"]

#: A per-channel weight scale is at least the per-tensor scale / 2**CHANNEL_FLOOR_BITS.
CHANNEL_FLOOR_BITS = 8


def uniform_codebook(bits: int) -> np.ndarray:
    """The codebook of the integers of a symmetric ``bits``-bit quantiser: ``[0, -qmax .. -1, 1 .. qmax]``."""
    m = qmax(bits)
    return np.concatenate([[0.0], np.arange(-m, 0), np.arange(1, m + 1)]).astype(np.float64)


def _codes(q: np.ndarray, bits: int) -> np.ndarray:
    m = qmax(bits)
    return np.where(q < 0, q + m + 1, np.where(q > 0, q + m, 0)).astype(np.int64)


def layer_inputs(model: nn.Module, layers: list, x: np.ndarray) -> list:
    """Float activations at every layer's input (``(batch, fan-in)`` flattened), then the model's output, for
    inputs ``x`` (shaped as the model takes them)."""
    seen = {}
    hooks = [d["module"].register_forward_pre_hook(
        lambda mod, args, i=i: seen.__setitem__(i, args[0].detach().reshape(len(args[0]), -1).double().numpy()))
        for i, d in enumerate(layers)]
    try:
        with torch.no_grad():
            out = model(torch.as_tensor(x, dtype=torch.float32))
    finally:
        for h in hooks:
            h.remove()
    return [seen[i] for i in range(len(layers))] + [out.detach().reshape(len(out), -1).double().numpy()]


def integer_network(model: nn.Module, calib_x: np.ndarray, bits: int = 8, per_channel: bool = True,
                    calibration: str = "entropy", mult_bits: int = 16, acc_bits: int = 32,
                    input_shape=None) -> tuple:
    """A float model as an integer network for a requantising engine (module docstring).

    Parameters
    ----------
    model : torch.nn.Module
        A model :func:`~openeie.compiler.frontend.extract_layers` accepts (BatchNorm folded).
    calib_x : array
        Calibration inputs, shaped as the model takes them (held-out training images: never the test set).
    bits : int
        Weight and activation width (8 or 4 typically).
    per_channel : bool
        One weight scale per output channel (else one per tensor).
    calibration : str
        ``"max"``, ``"percentile"`` or ``"entropy"``.
    mult_bits, acc_bits : int
        The engine's multiplier and accumulator widths.
    input_shape : (C, H, W), optional
        A convolutional model's input image.

    Returns
    -------
    network : CompressedNetwork
    info : dict
        ``act_scales`` (one per layer input, then the output), ``weight_scales``, ``shifts``, and
        ``reference_args``: the keyword arguments of :func:`~openeie.compiler.quantize.int_reference` (without
        ``x``) for the same inference.
    """
    from .frontend import extract_layers
    if calibration not in CALIBRATIONS:
        raise InputError(f"calibration {calibration!r}: expected one of {', '.join(CALIBRATIONS)}")
    qmax(bits)                                                   # bits checked
    for name, value, low, high in (("mult_bits", mult_bits, 2, 24), ("acc_bits", acc_bits, 4, 48)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InputError(f"{name}={value!r}: expected an integer {low}..{high}")
    if not isinstance(model, nn.Module):
        raise InputError(f"integer_network needs a torch.nn.Module, not {type(model).__name__}")
    try:
        calib = np.asarray(calib_x, dtype=np.float32)
    except (TypeError, ValueError):
        raise InputError(f"calibration inputs {type(calib_x).__name__}: expected an array of real numbers") from None
    if calib.ndim < 2 or len(calib) == 0 or not np.all(np.isfinite(calib)):
        raise InputError(f"calibration inputs of shape {calib.shape}: expected a non-empty batch of finite samples")
    model.eval()
    layers = extract_layers(model, input_shape)
    try:
        acts = layer_inputs(model, layers, calib)
    except RuntimeError as e:
        raise InputError(f"calibration inputs of shape {calib.shape} do not fit the model: "
                         f"{str(e).splitlines()[0]}") from None
    act_scales = [calibrate(a, calibration, bits) / qmax(bits) for a in acts]
    codebook = uniform_codebook(bits)
    out, weight_scales, shifts = [], [], []
    for k, d in enumerate(layers):
        w = d["weight"]
        s_w = np.broadcast_to(symmetric_scale(w, bits, per_channel), (len(w),)).astype(np.float64)
        if per_channel:       # a row of tiny weights would put its bias far beyond the accumulator: floor its scale
            s_w = np.maximum(s_w, float(symmetric_scale(w, bits)) * 2.0 ** -CHANNEL_FLOOR_BITS)
        q = quantize_symmetric(w, s_w, bits)
        s_acc = s_w * act_scales[k]
        window = 1
        if d["conv"] is not None and d["conv"].pool == "avg":
            window = d["conv"].pool_size ** 2
        mult, shift = fixed_multiplier(s_acc / act_scales[k + 1] / window, mult_bits, acc_bits + mult_bits - 1)
        bias = None if d["bias"] is None else round_half_away(d["bias"] / s_acc)
        out.append(CompressedLayer.from_dense_codes(_codes(q, bits), codebook, bias=d["bias"], relu=d["relu"],
                                                    name=d["name"].replace(".", "_"), conv=d["conv"],
                                                    requant=Requant(mult, shift, bias)))
        weight_scales.append(s_w if per_channel else float(s_w[0]))
        shifts.append(shift)
    ref = {"weights": [d["weight"] for d in layers], "biases": [d["bias"] for d in layers],
           "relus": [d["relu"] for d in layers], "weight_scales": weight_scales, "act_scales": act_scales,
           "bits": bits, "acc_bits": acc_bits, "mult_bits": mult_bits, "convs": [d["conv"] for d in layers]}
    return CompressedNetwork(out), {"act_scales": act_scales, "weight_scales": weight_scales, "shifts": shifts,
                                    "reference_args": ref}


def integer_config(base, bits: int, mult_bits: int = 16, acc_bits: int = 32):
    """``base`` (an :class:`~openeie.config.EngineConfig`) as the requantising engine of a ``bits``-bit integer
    network: integer weights, activations and codes of ``bits`` bits, ``acc_bits`` accumulators, ``mult_bits``
    multipliers."""
    from openeie.config import entries_that_fit
    return base.replace(code_bits=bits, weight_bits=bits, weight_frac_bits=0, act_bits=bits, act_frac_bits=0,
                        acc_bits=acc_bits, mult_bits=mult_bits,
                        entries_per_word=entries_that_fit(bits, base.rel_index_bits, cap=8))
