"""Compressed networks: what the compression front end produces and the lowering consumes.

A :class:`CompressedLayer` is a fully connected layer ``y = W x + b`` (optionally followed by ReLU) whose
weights are codes into a per-layer codebook: ``W[i, j] = codebook[code[i, j]]``, code 0 meaning zero (pruned).
Codes are held sparsely (row, column, code triplets of the non-zero codes) so layers the size of VGG-16's
fc6 (25088 x 4096) stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from openeie._np import has_duplicates

__all__ = ["NetworkError", "CompressedLayer", "CompressedNetwork"]


class NetworkError(ValueError):
    """A network or layer that is malformed or does not fit the engine."""


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
    """

    shape: tuple
    rows: np.ndarray
    cols: np.ndarray
    codes: np.ndarray
    codebook: np.ndarray
    bias: np.ndarray | None = None
    relu: bool = False
    name: str = "layer"

    def __post_init__(self):
        n_out, n_in = (int(s) for s in self.shape)
        object.__setattr__(self, "shape", (n_out, n_in))
        if n_out < 1 or n_in < 1:
            raise NetworkError(f"layer {self.name!r}: shape {self.shape} must have at least one row and column")
        rows = np.asarray(self.rows, dtype=np.int64).ravel()
        cols = np.asarray(self.cols, dtype=np.int64).ravel()
        codes = np.asarray(self.codes, dtype=np.int64).ravel()
        if not (len(rows) == len(cols) == len(codes)):
            raise NetworkError(f"layer {self.name!r}: rows/cols/codes lengths differ "
                               f"({len(rows)}, {len(cols)}, {len(codes)})")
        codebook = np.asarray(self.codebook, dtype=np.float64).ravel()
        if len(codebook) < 2:
            raise NetworkError(f"layer {self.name!r}: codebook has {len(codebook)} entries: expected at least 2")
        if codebook[0] != 0.0:
            raise NetworkError(f"layer {self.name!r}: codebook[0] = {float(codebook[0]):g}: expected 0.0 "
                               f"(code 0 is reserved for zero)")
        if not np.all(np.isfinite(codebook)):
            raise NetworkError(f"layer {self.name!r}: codebook holds a non-finite value")
        if len(rows):
            for what, arr, limit in (("row", rows, n_out), ("column", cols, n_in)):
                bad = (arr < 0) | (arr >= limit)
                if bad.any():
                    raise NetworkError(f"layer {self.name!r}: {what} index {arr[bad][0]} out of range 0..{limit - 1}")
            bad = (codes < 1) | (codes >= len(codebook))
            if bad.any():
                raise NetworkError(f"layer {self.name!r}: weight code {codes[bad][0]} out of range "
                                   f"1..{len(codebook) - 1} (code 0 means zero and is not stored)")
            key = rows * n_in + cols
            if has_duplicates(key):
                raise NetworkError(f"layer {self.name!r}: duplicate (row, column) positions")
        if self.bias is not None:
            bias = np.asarray(self.bias, dtype=np.float64).ravel()
            if len(bias) != n_out:
                raise NetworkError(f"layer {self.name!r}: bias has {len(bias)} values: expected {n_out}")
            if not np.all(np.isfinite(bias)):
                raise NetworkError(f"layer {self.name!r}: bias holds a non-finite value")
            object.__setattr__(self, "bias", bias)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "cols", cols)
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "codebook", codebook)
        object.__setattr__(self, "relu", bool(self.relu))

    # ---- constructors -----------------------------------------------------------------------------------
    @classmethod
    def from_dense_codes(cls, codes, codebook, bias=None, relu=False, name="layer") -> "CompressedLayer":
        """From a dense ``(n_out, n_in)`` integer matrix of codes (0 = zero weight)."""
        codes = np.asarray(codes)
        if codes.ndim != 2:
            raise NetworkError(f"layer {name!r}: code matrix must be 2-D, got shape {codes.shape}")
        if not np.issubdtype(codes.dtype, np.integer):
            raise NetworkError(f"layer {name!r}: code matrix must be integers, got {codes.dtype}")
        r, c = np.nonzero(codes)
        return cls(codes.shape, r, c, codes[r, c], codebook, bias, relu, name)

    @classmethod
    def from_float(cls, weights, codebook, bias=None, relu=False, name="layer") -> "CompressedLayer":
        """Quantise a float matrix against ``codebook``: zeros stay zero (code 0); every non-zero weight takes
        the nearest non-zero-code entry (a pruned weight is never created by quantisation)."""
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 2:
            raise NetworkError(f"layer {name!r}: weight matrix must be 2-D, got shape {w.shape}")
        cb = np.asarray(codebook, dtype=np.float64).ravel()
        r, c = np.nonzero(w)
        vals = w[r, c]
        if len(cb) < 2:
            raise NetworkError(f"layer {name!r}: codebook has {len(cb)} entries: expected at least 2")
        order = np.argsort(cb[1:], kind="stable")
        sorted_cb = cb[1:][order]
        idx = np.clip(np.searchsorted(sorted_cb, vals), 1, len(sorted_cb) - 1) if len(sorted_cb) > 1 else \
            np.zeros(len(vals), dtype=np.int64)
        if len(sorted_cb) > 1:
            left = sorted_cb[idx - 1]
            right = sorted_cb[idx]
            idx = np.where(np.abs(vals - left) <= np.abs(vals - right), idx - 1, idx)
        codes = order[idx] + 1
        return cls(w.shape, r, c, codes, cb, bias, relu, name)

    # ---- views --------------------------------------------------------------------------------------------
    @property
    def n_out(self) -> int:
        return self.shape[0]

    @property
    def n_in(self) -> int:
        return self.shape[1]

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
        self.layers = list(self.layers)
        if not self.layers:
            raise NetworkError("network has no layers")
        for a, b in zip(self.layers, self.layers[1:]):
            if a.n_out != b.n_in:
                raise NetworkError(f"layer {b.name!r} takes {b.n_in} inputs but layer {a.name!r} "
                                   f"produces {a.n_out} outputs")

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, k):
        return self.layers[k]

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    def float_forward(self, x) -> np.ndarray:
        """Float64 reference of the network (codebook values, float bias, ReLU), for one input vector or a
        batch of row vectors."""
        h = np.asarray(x, dtype=np.float64)
        for layer in self.layers:
            w = layer.dense_weights()
            h = h @ w.T + layer.bias_or_zeros()
            if layer.relu:
                h = np.maximum(h, 0.0)
        return h
