"""Compressed networks: what the compression front end produces and the lowering consumes.

A :class:`CompressedLayer` is a fully connected layer ``y = W x + b`` (optionally followed by ReLU) whose
weights are codes into a per-layer codebook: ``W[i, j] = codebook[code[i, j]]``, code 0 meaning zero (pruned).
Codes are held sparsely (row, column, code triplets of the non-zero codes) so layers the size of VGG-16's
fc6 (25088 x 4096) stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numbers

import numpy as np

from openeie.dedup import has_duplicates
from openeie.errors import OpenEIEError, check_type

__all__ = ["NetworkError", "CapacityError", "ConvSpec", "Requant", "CompressedLayer", "CompressedNetwork", "conv_patches"]


class NetworkError(OpenEIEError, ValueError):
    """A network or layer that is malformed or does not fit the engine."""


class CapacityError(NetworkError):
    """A network that needs more of an engine memory than the configuration has.

    Attributes: ``field`` (the :class:`~openeie.config.EngineConfig` field that bounds it, e.g.
    ``"spmat_depth_words"``), ``need`` and ``limit`` (in that field's units).
    """

    def __init__(self, message: str, field: str, need: int, limit: int):
        super().__init__(message)
        self.field, self.need, self.limit = field, int(need), int(limit)


@dataclass(frozen=True)
class ConvSpec:
    """The geometry of a convolution layer: ``in_channels`` x ``in_h`` x ``in_w`` inputs (PyTorch's (C, H, W)
    order), a ``kernel`` x ``kernel`` kernel with ``stride`` and zero padding ``pad``, then optionally a
    non-overlapping ``pool_size`` x ``pool_size`` pooling (``pool`` ``"max"`` or ``"avg"``; the last partial
    window dropped). The layer's weight matrix has one row per output channel and ``in_channels * kernel**2``
    columns in PyTorch's weight order (column ``(c * kernel + ky) * kernel + kx``); with ``groups`` > 1 (a
    grouped or depthwise convolution) output channel t of ``n_out`` sees only the input channels of its group,
    ``t // (n_out / groups)``: the matrix is zero elsewhere, and the dense reference counts only the group's
    weights."""

    in_channels: int
    in_h: int
    in_w: int
    kernel: int
    stride: int = 1
    pad: int = 0
    pool: str | None = None
    pool_size: int = 1
    groups: int = 1

    def __post_init__(self):
        for key in ("in_channels", "in_h", "in_w", "kernel", "stride", "pool_size", "groups"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise NetworkError(f"convolution {key}={value!r}: expected an integer >= 1")
        if isinstance(self.pad, bool) or not isinstance(self.pad, numbers.Integral) or not 0 <= self.pad < self.kernel:
            raise NetworkError(f"convolution pad={self.pad!r}: expected 0 .. kernel-1 = {self.kernel - 1}")
        if self.in_channels % self.groups:
            raise NetworkError(f"convolution of {self.in_channels} channels in groups={self.groups}: expected a "
                               f"divisor of the channels")
        if self.pool not in (None, "max", "avg"):
            raise NetworkError(f"pooling {self.pool!r}: expected None, 'max' or 'avg'")
        if (self.pool is None) != (self.pool_size == 1):
            raise NetworkError(f"pooling {self.pool!r} with pool_size={self.pool_size}: expected a window of 2 or "
                               f"more with a pool, 1 without")
        if self.pool == "avg" and self.pool_size & (self.pool_size - 1):
            raise NetworkError(f"average pooling over {self.pool_size} x {self.pool_size}: the engine averages "
                               f"power-of-two windows only")
        if self.out_h < 1 or self.out_w < 1 or self.pooled_h < 1 or self.pooled_w < 1:
            raise NetworkError(f"convolution of {self.in_h} x {self.in_w} with kernel {self.kernel}, stride "
                               f"{self.stride}, pad {self.pad}, pool {self.pool_size}: no output position")

    @property
    def out_h(self) -> int:
        return (self.in_h + 2 * self.pad - self.kernel) // self.stride + 1

    @property
    def out_w(self) -> int:
        return (self.in_w + 2 * self.pad - self.kernel) // self.stride + 1

    @property
    def pooled_h(self) -> int:
        return self.out_h // self.pool_size

    @property
    def pooled_w(self) -> int:
        return self.out_w // self.pool_size

    @property
    def in_size(self) -> int:
        return self.in_channels * self.in_h * self.in_w


def conv_patches(spec: ConvSpec) -> np.ndarray:
    """``(out_h * out_w, in_channels * kernel**2)`` indices into an input in (C, H, W) order of every output
    position's patch (rows in row-major position order, columns in PyTorch's weight order); -1 where the patch
    lies in the zero padding."""
    k = spec.kernel
    oy, ox = np.meshgrid(np.arange(spec.out_h), np.arange(spec.out_w), indexing="ij")
    c, ky, kx = np.meshgrid(np.arange(spec.in_channels), np.arange(k), np.arange(k), indexing="ij")
    iy = oy.reshape(-1, 1) * spec.stride - spec.pad + ky.reshape(1, -1)
    ix = ox.reshape(-1, 1) * spec.stride - spec.pad + kx.reshape(1, -1)
    inside = (iy >= 0) & (iy < spec.in_h) & (ix >= 0) & (ix < spec.in_w)
    index = (c.reshape(1, -1) * spec.in_h + iy) * spec.in_w + ix
    return np.where(inside, index, -1)


def _pool(y: np.ndarray, spec: ConvSpec) -> np.ndarray:
    """``(batch, channels, out_h, out_w)`` -> pooled ``(batch, channels, pooled_h, pooled_w)`` (float)."""
    if spec.pool is None:
        return y
    k, ph, pw = spec.pool_size, spec.pooled_h, spec.pooled_w
    windows = y[:, :, :ph * k, :pw * k].reshape(y.shape[0], y.shape[1], ph, k, pw, k)
    return windows.max(axis=(3, 5)) if spec.pool == "max" else windows.mean(axis=(3, 5))


def _integers(value, where: str, what: str) -> np.ndarray:
    """A 1-D int64 array of integer-typed ``value`` (floats are refused: they would be truncated)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise NetworkError(f"{where}: {what} are {arr.dtype}: expected integers")
    return arr.astype(np.int64).ravel()


def _reals(value, where: str, what: str) -> np.ndarray:
    """A 1-D float64 array of finite real numbers."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise NetworkError(f"{where}: {what} is {arr.dtype}: expected real numbers")
    arr = arr.astype(np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise NetworkError(f"{where}: {what}[{i}] = {arr[i]}: expected a finite number")
    return arr


def _int64_vector(value, where: str, what: str) -> np.ndarray:
    """A 1-D integer-typed ``value`` as int64 (refusing other shapes, floats and values int64 cannot hold)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise NetworkError(f"{where}: {what} are {arr.dtype} of shape {arr.shape}: expected a 1-D integer array")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise NetworkError(f"{where}: {what}: {int(arr.max())} does not fit 64-bit signed integers")
    return arr.astype(np.int64)


@dataclass(frozen=True, eq=False)
class Requant:
    """The integer write-back of one layer on a requantising engine (docs/engine.md, "Requantisation"):
    ``y_i = sat_act((acc_i * multiplier[i] + 2**(shift-1)) >> shift)`` with the accumulator initialised to
    ``bias[i]`` (integers in the accumulator's scale) instead of the activation-format bias.

    Parameters
    ----------
    multiplier : (n_out,) integers >= 0
        Per output row (channel); equal for a per-tensor weight scale.
    shift : int >= 0
        The layer's right shift (it includes the ``log2(k*k)`` of an average pool).
    bias : (n_out,) integers, or None
        The bias in the accumulator's scale (None: zero).
    """

    multiplier: np.ndarray
    shift: int
    bias: np.ndarray | None = None

    def check(self, n_out: int, where: str) -> "Requant":
        """This requantisation with int64 arrays, checked against a layer of ``n_out`` rows."""
        mult = _int64_vector(self.multiplier, where, "requantisation multipliers")
        if len(mult) != n_out or (len(mult) and mult.min() < 0):
            raise NetworkError(f"{where}: {len(mult)} requantisation multipliers"
                               f"{' with a negative one' if len(mult) == n_out else ''}: expected {n_out} integers "
                               f">= 0")
        if isinstance(self.shift, bool) or not isinstance(self.shift, numbers.Integral) or self.shift < 0:
            raise NetworkError(f"{where}: requantisation shift {self.shift!r}: expected an integer >= 0")
        bias = None
        if self.bias is not None:
            bias = _int64_vector(self.bias, where, "accumulator-scale biases")
            if len(bias) != n_out:
                raise NetworkError(f"{where}: {len(bias)} accumulator-scale biases: expected {n_out}")
        return Requant(mult, int(self.shift), bias)


def _flag(value, what: str) -> bool:
    """A bool from ``True``/``False`` or the integers 0/1 (anything else is refused, not taken as truthy)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(value)
    raise NetworkError(f"{what} = {value!r}: expected True/False or 0/1")


@dataclass(frozen=True, eq=False)
class CompressedLayer:
    """One weight-shared, pruned fully connected layer.

    Parameters
    ----------
    shape : (int, int)
        ``(n_out, n_in)``.
    rows, cols, codes : numpy.ndarray
        Positions and codes (1 .. len(codebook)-1) of the non-zero weights; any order, no duplicates.
    codebook : numpy.ndarray of float
        Shared weight values; ``codebook[0]`` must be 0.0.
    bias : numpy.ndarray of float, or None
        Per-output bias (``n_out`` values), or None for no bias.
    relu : bool
        Apply ReLU to the layer's outputs.
    name : str
        Layer name used in reports and error messages.
    conv : ConvSpec or None
        The convolution this layer is (None: fully connected).
    requant : Requant or None
        Its integer write-back on a requantising engine (None: the fixed-point one, which a requantising engine
        reproduces with multiplier 1 and shift ``weight_frac_bits``).
    """

    shape: tuple
    rows: np.ndarray
    cols: np.ndarray
    codes: np.ndarray
    codebook: np.ndarray
    bias: np.ndarray | None = None
    relu: bool = False
    name: str = "layer"
    conv: ConvSpec | None = None
    requant: Requant | None = None

    def __post_init__(self):
        check_type(self.name, str, "layer name")
        where = f"layer {self.name!r}"
        if self.conv is not None:
            check_type(self.conv, ConvSpec, f"{where}: conv")
        shape = self.shape
        if (not isinstance(shape, (tuple, list)) or len(shape) != 2
                or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in shape)):
            raise NetworkError(f"{where}: shape {shape!r} must be two integers (n_out, n_in)")
        n_out, n_in = (int(d) for d in shape)
        object.__setattr__(self, "shape", (n_out, n_in))
        if n_out < 1 or n_in < 1:
            raise NetworkError(f"{where}: shape {self.shape} must have at least one row and column")
        rows = _integers(self.rows, where, "row indices")
        cols = _integers(self.cols, where, "column indices")
        codes = _integers(self.codes, where, "weight codes")
        if not (len(rows) == len(cols) == len(codes)):
            raise NetworkError(f"{where}: rows/cols/codes lengths differ ({len(rows)}, {len(cols)}, {len(codes)})")
        codebook = _reals(self.codebook, where, "codebook")
        if len(codebook) < 2:
            raise NetworkError(f"{where}: codebook has {len(codebook)} entries: expected at least 2")
        if codebook[0] != 0.0:
            raise NetworkError(f"{where}: codebook[0] = {float(codebook[0]):g}: expected 0.0 "
                               f"(code 0 is reserved for zero)")
        if len(rows):
            for what, arr, limit in (("row", rows, n_out), ("column", cols, n_in)):
                bad = (arr < 0) | (arr >= limit)
                if bad.any():
                    raise NetworkError(f"{where}: {what} index {arr[bad][0]} out of range 0..{limit - 1}")
            bad = (codes < 1) | (codes >= len(codebook))
            if bad.any():
                raise NetworkError(f"{where}: weight code {codes[bad][0]} out of range "
                                   f"1..{len(codebook) - 1} (code 0 means zero and is not stored)")
            key = rows * n_in + cols
            if has_duplicates(key):
                raise NetworkError(f"{where}: duplicate (row, column) positions")
        if self.bias is not None:
            bias = _reals(self.bias, where, "bias")
            if len(bias) != n_out:
                raise NetworkError(f"{where}: bias has {len(bias)} values: expected {n_out}")
            object.__setattr__(self, "bias", bias)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "cols", cols)
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "codebook", codebook)
        object.__setattr__(self, "relu", _flag(self.relu, f"{where}: relu"))
        if self.requant is not None:
            check_type(self.requant, Requant, f"{where}: requant")
            object.__setattr__(self, "requant", self.requant.check(n_out, where))
            if self.bias is not None and self.requant.bias is None:
                raise NetworkError(f"{where}: a float bias and an integer requantisation without a bias in the "
                                   f"accumulator's scale: expected the requantisation's bias too (the engine adds "
                                   f"only that one), or no float bias")
        if self.conv is not None and n_in != self.conv.in_channels * self.conv.kernel ** 2:
            raise NetworkError(f"{where}: {n_in} weight columns: a {self.conv.kernel} x {self.conv.kernel} "
                               f"convolution of {self.conv.in_channels} channels has "
                               f"{self.conv.in_channels * self.conv.kernel ** 2}")
        if self.conv is not None and self.conv.groups > 1:
            g = self.conv.groups
            if n_out % g:
                raise NetworkError(f"{where}: {n_out} output channels in groups={g}: expected a multiple of {g}")
            group_of_col = cols // (n_in // g)
            group_of_row = rows // (n_out // g)
            bad = np.flatnonzero(group_of_col != group_of_row)
            if len(bad):
                raise NetworkError(f"{where}: weight ({rows[bad[0]]}, {cols[bad[0]]}) joins output group "
                                   f"{group_of_row[bad[0]]} to input group {group_of_col[bad[0]]}: expected a "
                                   f"grouped convolution's weights within their group")

    # ---- constructors -----------------------------------------------------------------------------------
    @classmethod
    def from_dense_codes(cls, codes, codebook, bias=None, relu=False, name="layer", conv=None,
                         requant=None) -> "CompressedLayer":
        """From a dense ``(n_out, n_in)`` integer matrix of codes (0 = zero weight)."""
        codes = np.asarray(codes)
        if codes.ndim != 2:
            raise NetworkError(f"layer {name!r}: code matrix must be 2-D, got shape {codes.shape}")
        if not np.issubdtype(codes.dtype, np.integer):
            raise NetworkError(f"layer {name!r}: code matrix must be integers, got {codes.dtype}")
        r, c = np.nonzero(codes)
        return cls(codes.shape, r, c, codes[r, c], codebook, bias, relu, name, conv, requant)

    @classmethod
    def from_float(cls, weights, codebook, bias=None, relu=False, name="layer", conv=None) -> "CompressedLayer":
        """Quantise a float matrix against ``codebook``: zeros stay zero (code 0); every non-zero weight takes
        the nearest non-zero-code entry (a pruned weight is never created by quantisation).

        Raises :class:`NetworkError` for a non-finite weight, and for a weight far outside the codebook: farther
        from its nearest entry than the codebook's span (the distance between its smallest and largest non-zero
        entries, or their magnitude when they are equal), which no nearest-entry rounding should explain."""
        where = f"layer {check_type(name, str, 'layer name')!r}"
        w = np.asarray(weights)
        if w.dtype.kind not in "iuf":
            raise NetworkError(f"{where}: weight matrix is {w.dtype}: expected real numbers")
        w = w.astype(np.float64)
        if w.ndim != 2:
            raise NetworkError(f"{where}: weight matrix must be 2-D, got shape {w.shape}")
        if not np.all(np.isfinite(w)):
            r, c = (int(v[0]) for v in np.nonzero(~np.isfinite(w)))
            raise NetworkError(f"{where}: weight[{r}, {c}] = {w[r, c]}: expected a finite number")
        cb = _reals(codebook, where, "codebook")
        if len(cb) < 2:
            raise NetworkError(f"{where}: codebook has {len(cb)} entries: expected at least 2")
        r, c = np.nonzero(w)
        vals = w[r, c]
        order = np.argsort(cb[1:], kind="stable")
        sorted_cb = cb[1:][order]
        idx = np.clip(np.searchsorted(sorted_cb, vals), 1, len(sorted_cb) - 1) if len(sorted_cb) > 1 else \
            np.zeros(len(vals), dtype=np.int64)
        if len(sorted_cb) > 1:
            left = sorted_cb[idx - 1]
            right = sorted_cb[idx]
            idx = np.where(np.abs(vals - left) <= np.abs(vals - right), idx - 1, idx)
        if len(vals):
            span = float(sorted_cb[-1] - sorted_cb[0]) or float(np.abs(sorted_cb).max())
            err = np.abs(vals - sorted_cb[idx])
            far = np.flatnonzero(err > span)
            if len(far):
                k = int(far[np.argmax(err[far])])
                raise NetworkError(f"{where}: weight[{int(r[k])}, {int(c[k])}] = {vals[k]:g} lies far outside the "
                                   f"codebook ({sorted_cb[0]:g} .. {sorted_cb[-1]:g}): expected weights the codebook "
                                   f"was made for")
        codes = order[idx] + 1
        return cls(w.shape, r, c, codes, cb, bias, relu, name, conv)

    # ---- views --------------------------------------------------------------------------------------------
    @property
    def n_out(self) -> int:
        return self.shape[0]

    @property
    def n_in(self) -> int:
        return self.shape[1]

    @property
    def in_size(self) -> int:
        """Input activations (``n_in`` of a fully connected layer; ``C * H * W`` of a convolution)."""
        return self.conv.in_size if self.conv else self.n_in

    @property
    def out_size(self) -> int:
        """Output activations (``n_out``; of a convolution, channels x pooled positions)."""
        return self.n_out * self.conv.pooled_h * self.conv.pooled_w if self.conv else self.n_out

    @property
    def weight_count(self) -> int:
        """Dense weights of the layer (``n_out * n_in``; of a grouped convolution ``n_out * n_in / groups``)."""
        return self.n_out * self.n_in // (self.conv.groups if self.conv else 1)

    @property
    def nnz(self) -> int:
        return len(self.codes)

    def dense_codes(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=np.int64)
        out[self.rows, self.cols] = self.codes
        return out

    def dense_weights(self) -> np.ndarray:
        """Float weight matrix ``codebook[codes]`` (zeros where pruned)."""
        return self.codebook[self.dense_codes()]

    def bias_or_zeros(self) -> np.ndarray:
        return self.bias if self.bias is not None else np.zeros(self.n_out)


@dataclass(eq=False)
class CompressedNetwork:
    """A chain of compressed layers; layer k's outputs are layer k+1's inputs."""

    layers: list = field(default_factory=list)

    def __post_init__(self):
        if isinstance(self.layers, (CompressedLayer, str, bytes)) or not hasattr(self.layers, "__iter__"):
            raise NetworkError(f"a network is a list of CompressedLayer, not {type(self.layers).__name__}")
        self.layers = list(self.layers)
        if not self.layers:
            raise NetworkError("network has no layers")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, CompressedLayer):
                raise NetworkError(f"network layer {i} is a {type(layer).__name__}: expected a CompressedLayer")
        for a, b in zip(self.layers, self.layers[1:]):
            if a.out_size != b.in_size:
                raise NetworkError(f"layer {b.name!r} takes {b.in_size} inputs but layer {a.name!r} "
                                   f"produces {a.out_size} outputs")
            if b.conv is not None and a.conv is not None and (b.conv.in_channels, b.conv.in_h, b.conv.in_w) != (
                    a.n_out, a.conv.pooled_h, a.conv.pooled_w):
                raise NetworkError(f"layer {b.name!r} takes {b.conv.in_channels} x {b.conv.in_h} x {b.conv.in_w} "
                                   f"inputs but layer {a.name!r} produces {a.n_out} x {a.conv.pooled_h} x "
                                   f"{a.conv.pooled_w}")

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, k):
        return self.layers[k]

    @property
    def n_in(self) -> int:
        """Input activations of the network."""
        return self.layers[0].in_size

    @property
    def n_out(self) -> int:
        """Output activations of the network."""
        return self.layers[-1].out_size

    def float_forward(self, x) -> np.ndarray:
        """Float64 reference of the network (codebook values, float bias, pooling, ReLU), for one input vector or
        a batch of row vectors (a convolution's activations in PyTorch's (C, H, W) order, flattened)."""
        h = np.asarray(x, dtype=np.float64)
        single = h.ndim == 1
        h = np.atleast_2d(h)
        for layer in self.layers:
            w = layer.dense_weights()
            if layer.conv is None:
                h = h @ w.T + layer.bias_or_zeros()
            else:
                spec = layer.conv
                idx = conv_patches(spec)
                patches = np.where(idx >= 0, h[:, np.maximum(idx, 0)], 0.0)           # (batch, P, C*k*k)
                y = patches @ w.T + layer.bias_or_zeros()                               # (batch, P, out_c)
                y = y.transpose(0, 2, 1).reshape(h.shape[0], layer.n_out, spec.out_h, spec.out_w)
                h = _pool(y, spec).reshape(h.shape[0], -1)
            if layer.relu:
                h = np.maximum(h, 0.0)
        return h[0] if single else h
