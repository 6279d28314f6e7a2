"""Weight sharing (Deep Compression stage 2, "trained quantization"; Han et al., ICLR 2016, section 3).

Per layer, the surviving (unpruned) weights are clustered by one-dimensional k-means into ``2**code_bits - 1``
shared values; code 0 is reserved for the value zero and marks every pruned weight. The codebook is then
fine-tuned by gradient descent with codes and mask fixed: with ``W_ij = C[I_ij]``,

    dL/dC_k = sum_ij dL/dW_ij * 1(I_ij = k)        (k >= 1; C_0 = 0 is never trained)

which is exactly what autograd computes through the gather ``C[I]``. Sharing is attached to each Linear as a
``torch.nn.utils.parametrize`` parametrisation (:class:`SharedWeights`) whose parameter is the codebook.

k-means follows its definition (Lloyd's algorithm): assign every value to its nearest centroid (ties to the
lowest centroid index), move every centroid to the mean of its values (a centroid with no value stays put),
stop when no assignment changes (or after ``max_iter`` rounds). Initialisations ([DC] figure 4): ``"linear"``
spaces the centroids evenly over [min, max] (the default, best in [DC]), ``"density"`` at evenly spaced
quantiles (the CDF), ``"random"`` picks observations with a seeded generator (Forgy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils import prune as torch_prune

from openeie.errors import OpenEIEError

from .frontend import extract_layers
from .network import CompressedLayer, CompressedNetwork
from .prune import train_epochs

__all__ = ["ShareError", "KMeansResult", "kmeans_1d", "nearest_centroid", "init_centroids", "cluster_weights",
           "SharedWeights", "share_weights", "finetune_centroids", "export_network"]

INITS = ("linear", "density", "random")


class ShareError(OpenEIEError, ValueError):
    """A weight-sharing setting or model state that does not make sense."""


@dataclass(frozen=True)
class KMeansResult:
    """Outcome of :func:`kmeans_1d`.

    Attributes
    ----------
    centroids : numpy.ndarray of float64, shape (k,)
    labels : numpy.ndarray of int64, shape (n,)
        Index of each value's centroid (0 .. k-1).
    n_iter : int
        Assignment rounds run.
    converged : bool
        The last round changed no assignment (centroids and labels are a fixed point of Lloyd's algorithm).
    inertia : float
        Sum of squared distances of the values to their centroids.
    """

    centroids: np.ndarray
    labels: np.ndarray
    n_iter: int
    converged: bool
    inertia: float


def _check_k(k):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ShareError(f"number of clusters k={k!r}: expected a positive integer")
    return int(k)


def init_centroids(values, k: int, init: str = "linear", seed: int = 0) -> np.ndarray:
    """Initial centroids (float64, shape ``(k,)``) for :func:`kmeans_1d`; all zeros for no values."""
    k = _check_k(k)
    v = np.asarray(values, dtype=np.float64).ravel()
    if init not in INITS:
        raise ShareError(f"k-means initialisation {init!r}: expected one of {INITS}")
    if len(v) == 0:
        return np.zeros(k)
    if init == "linear":
        return np.linspace(v.min(), v.max(), k)
    if init == "density":
        return np.quantile(v, np.linspace(0.0, 1.0, k))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(v, size=k, replace=len(v) < k))


def nearest_centroid(values, centroids) -> np.ndarray:
    """Index of the nearest centroid of each value, ties going to the lowest index (``argmin`` semantics).

    Exact and ``O(n log k)``: in one dimension the nearest centroid is one of the two that bracket the value
    in sorted order, so only those two distances are compared.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    c = np.asarray(centroids, dtype=np.float64).ravel()
    if len(c) == 0:
        raise ShareError("nearest_centroid with no centroids")
    order = np.argsort(c, kind="stable")
    cs = c[order]
    pos = np.searchsorted(cs, v, side="left")
    # Bracketing centroids, each moved to the first of its run of equal values (the lowest original index,
    # the sort being stable).
    hi = np.searchsorted(cs, cs[np.minimum(pos, len(cs) - 1)], side="left")
    lo = np.searchsorted(cs, cs[np.maximum(pos - 1, 0)], side="left")
    d_lo = np.abs(v - cs[lo])
    d_hi = np.abs(v - cs[hi])
    pick_lo = (d_lo < d_hi) | ((d_lo == d_hi) & (order[lo] <= order[hi]))
    return np.where(pick_lo, order[lo], order[hi]).astype(np.int64)


def kmeans_1d(values, k: int, init="linear", seed: int = 0, max_iter: int = 300) -> KMeansResult:
    """Lloyd's k-means on scalars.

    Parameters
    ----------
    values : array_like of float
        The observations (any shape; flattened).
    k : int
        Number of centroids.
    init : {"linear", "density", "random"} or array_like
        Initialisation (see the module docstring) or explicit initial centroids (``k`` values).
    seed : int
        Seed for ``init="random"``.
    max_iter : int
        Upper bound on assignment rounds.
    """
    k = _check_k(k)
    v = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(v)):
        raise ShareError("k-means over values that include a non-finite number")
    if isinstance(init, str):
        c = init_centroids(v, k, init, seed)
    else:
        c = np.asarray(init, dtype=np.float64).ravel().copy()
        if len(c) != k:
            raise ShareError(f"{len(c)} initial centroids given for k={k}")
    if len(v) == 0:
        return KMeansResult(c, np.zeros(0, dtype=np.int64), 0, True, 0.0)
    labels = nearest_centroid(v, c)
    converged = False
    n_iter = 1
    while n_iter < max_iter:
        counts = np.bincount(labels, minlength=k)
        sums = np.bincount(labels, weights=v, minlength=k)
        filled = counts > 0
        c[filled] = sums[filled] / counts[filled]
        new = nearest_centroid(v, c)
        n_iter += 1
        if np.array_equal(new, labels):
            converged = True
            break
        labels = new
    inertia = float(np.sum((v - c[labels]) ** 2))
    return KMeansResult(c, labels, n_iter, converged, inertia)


def cluster_weights(weight, mask=None, code_bits: int = 4, init="linear", seed: int = 0, max_iter: int = 300,
                    values: int | None = None):
    """Weight sharing of one matrix.

    Parameters
    ----------
    weight : array_like of float, shape (n_out, n_in)
    mask : array_like of bool, optional
        True where the weight survives pruning (default: ``weight != 0``).
    code_bits : int
        Code width; ``2**code_bits - 1`` shared non-zero values plus code 0 = zero.
    init, seed, max_iter : see :func:`kmeans_1d`
    values : int, optional
        Non-zero shared values, 1 .. ``2**code_bits - 1`` (the default).

    Returns
    -------
    codes : numpy.ndarray of int64, shape (n_out, n_in)
        0 where pruned, 1 .. 2**code_bits - 1 elsewhere.
    codebook : numpy.ndarray of float64, shape (values + 1,) (``2**code_bits`` by default)
        ``codebook[0] = 0.0``, then the k-means centroids.
    result : KMeansResult
    """
    if isinstance(code_bits, bool) or not isinstance(code_bits, (int, np.integer)) or not 1 <= code_bits <= 16:
        raise ShareError(f"code_bits={code_bits!r}: expected an integer in 1..16")
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 2:
        raise ShareError(f"weight matrix must be 2-D, got shape {w.shape}")
    m = (w != 0) if mask is None else np.asarray(mask, dtype=bool)
    if m.shape != w.shape:
        raise ShareError(f"mask shape {m.shape} does not match weight shape {w.shape}")
    k = (1 << code_bits) - 1
    if values is not None:
        if isinstance(values, bool) or not isinstance(values, (int, np.integer)) or not 1 <= values <= k:
            raise ShareError(f"values={values!r}: expected an integer 1..{k} (2**code_bits - 1)")
        k = int(values)
    res = kmeans_1d(w[m], k, init=init, seed=seed, max_iter=max_iter)
    codes = np.zeros(w.shape, dtype=np.int64)
    codes[m] = res.labels + 1
    return codes, np.concatenate([[0.0], res.centroids]), res


# ---- fine-tuning ---------------------------------------------------------------------------------------------

class SharedWeights(nn.Module):
    """Parametrisation ``weight = C[codes]`` with ``C[0]`` held at zero; the trainable tensor is the codebook ``C``.

    Parameters
    ----------
    codes : torch.Tensor of int64, shape (n_out, n_in)
        Fixed code of every weight (0 = pruned).
    codebook_size : int
        Number of codebook entries (``2**code_bits``).
    """

    def __init__(self, codes: torch.Tensor, codebook_size: int):
        super().__init__()
        self.register_buffer("codes", codes.to(torch.int64))
        keep = torch.ones(codebook_size)
        keep[0] = 0.0
        self.register_buffer("keep", keep)     # multiplying by 0 also zeroes the gradient reaching C[0]

    def forward(self, codebook: torch.Tensor) -> torch.Tensor:
        return (codebook * self.keep.to(codebook.dtype))[self.codes]

    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        """Codebook that best reproduces ``weight`` for the fixed codes: the mean weight of each code."""
        n = self.keep.numel()
        flat = self.codes.flatten()
        sums = torch.zeros(n, dtype=weight.dtype).index_add_(0, flat, weight.detach().flatten())
        counts = torch.bincount(flat, minlength=n).to(weight.dtype)
        out = torch.where(counts > 0, sums / counts.clamp(min=1), torch.zeros_like(sums))
        out[0] = 0.0
        return out


def share_weights(model: nn.Module, code_bits=4, init="linear", seed: int = 0, max_iter: int = 300,
                  values: int | None = None) -> dict:
    """Cluster every Linear and Conv2d weight of ``model`` (in place) and attach :class:`SharedWeights`.

    ``code_bits``: one width for every layer, or ``{layer name: width}`` (Deep Compression gives convolutions
    8-bit and fully connected layers 5-bit codes). ``values``: non-zero shared values per layer, at most
    ``2**code_bits - 1`` (the default); 2 = ternary (with pruning) or binary weights. The mask is the
    ``torch.nn.utils.prune`` mask when the layer carries one (it is squashed first), else the non-zero weights.
    Returns ``{layer name: KMeansResult}``.
    """
    results = {}
    layers = extract_layers(model)
    widths = _per_layer_bits(code_bits, [l["name"] for l in layers])
    for layer in layers:
        name, mod = layer["name"], layer["module"]
        bits = widths[name]
        if parametrize.is_parametrized(mod, "weight"):
            raise ShareError(f"layer {name!r}: weight already carries a parametrization "
                                f"({type(mod.parametrizations.weight[0]).__name__})")
        mask = layer["mask"] if layer["mask"] is not None else layer["weight"] != 0
        if layer["mask"] is not None:
            torch_prune.remove(mod, "weight")
        codes, codebook, res = cluster_weights(layer["weight"], mask, bits, init, seed, max_iter, values)
        codes = codes.reshape(tuple(mod.weight.shape))
        with torch.no_grad():
            # Centroids are the means of their weights, so registering with these weights yields exactly the
            # k-means codebook through right_inverse.
            mod.weight.copy_(torch.as_tensor(codebook[codes], dtype=mod.weight.dtype))
        parametrize.register_parametrization(mod, "weight", SharedWeights(torch.as_tensor(codes), len(codebook)))
        with torch.no_grad():   # exact float64 -> float32 centroids (the means were recomputed in float32)
            mod.parametrizations.weight.original.copy_(torch.as_tensor(codebook, dtype=mod.weight.dtype))
        results[name] = res
    return results


def _per_layer_bits(code_bits, names) -> dict:
    if isinstance(code_bits, dict):
        unknown = sorted(set(code_bits) - set(names))
        missing = sorted(set(names) - set(code_bits))
        if unknown or missing:
            raise ShareError(f"code widths {code_bits}: expected one for each of the layers {names}")
        return dict(code_bits)
    return dict.fromkeys(names, code_bits)


def _expand_groups(codes: np.ndarray, groups: int, in_channels: int, k2: int) -> np.ndarray:
    """A grouped convolution's ``(out_c, in_c / groups * k2)`` codes as the full ``(out_c, in_c * k2)`` matrix
    (zeros outside each group's channels)."""
    if groups == 1:
        return codes
    out_c = codes.shape[0]
    per_out, per_in = out_c // groups, in_channels // groups
    full = np.zeros((out_c, in_channels * k2), dtype=codes.dtype)
    for g in range(groups):
        rows = slice(g * per_out, (g + 1) * per_out)
        full[rows, g * per_in * k2:(g + 1) * per_in * k2] = codes[rows]
    return full


def _shared(model, input_shape=None):
    out = []
    for layer in extract_layers(model, input_shape):
        mod = layer["module"]
        if not parametrize.is_parametrized(mod, "weight") or \
                not isinstance(mod.parametrizations.weight[0], SharedWeights):
            raise ShareError(f"layer {layer['name']!r} is not weight-shared: run share_weights() first")
        out.append((layer, mod))
    return out


def finetune_centroids(model: nn.Module, train_data, epochs: int = 3, lr: float = 1e-4, train_bias: bool = True,
                       batch_size: int = 64, seed: int = 0, loss_fn=None, progress: bool = False) -> list:
    """Retrain the shared codebooks (and, with ``train_bias``, the biases) of a :func:`share_weights` model.

    Codes and the zero mask stay fixed; ``C[0]`` stays 0. Returns the mean loss per epoch (see
    :func:`openeie.compiler.prune.train_epochs`, which runs Adam with learning rate ``lr``).
    """
    params = []
    for _, mod in _shared(model):
        params.append(mod.parametrizations.weight.original)
        if train_bias and mod.bias is not None:
            params.append(mod.bias)
    return train_epochs(model, train_data, epochs, lr=lr, batch_size=batch_size, seed=seed, params=params,
                        loss_fn=loss_fn, progress=progress, desc="finetune centroids")


def export_network(model: nn.Module, input_shape=None) -> CompressedNetwork:
    """The :class:`CompressedNetwork` of a :func:`share_weights` model (codes, float codebook, bias, ReLU; a
    convolution's geometry and pooling from ``input_shape``, ``(C, H, W)``, which a convolutional model needs)."""
    layers = []
    for layer, mod in _shared(model, input_shape):
        p = mod.parametrizations.weight
        codebook = p.original.detach().to(torch.float64).numpy().copy()
        codebook[0] = 0.0
        codes = p[0].codes.numpy().reshape(mod.weight.shape[0], -1)
        spec = layer["conv"]
        if layer["geometry"] is not None:
            if spec is None:
                raise ShareError(f"layer {layer['name']!r} is a convolution: export_network needs the input shape")
            codes = _expand_groups(codes, layer["groups"], spec.in_channels, spec.kernel ** 2)
        layers.append(CompressedLayer.from_dense_codes(codes, codebook, layer["bias"], layer["relu"], layer["name"],
                                                       conv=spec))
    return CompressedNetwork(layers)
