"""Benchmark layers: EIE Table III shapes and densities, and seeded random compressed layers of any size (their
seeded inputs: :func:`openeie.sim.inputs.random_activations`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openeie.dedup import sorted_unique
from openeie.errors import InputError

from .network import CompressedLayer

__all__ = ["BenchLayer", "EIE_LAYERS", "random_layer"]


@dataclass(frozen=True)
class BenchLayer:
    """One benchmark layer: ``n_in`` inputs, ``n_out`` outputs, weight and activation densities (0..1)."""
    name: str
    n_in: int
    n_out: int
    weight_density: float
    act_density: float


# [EIE] Table III
EIE_LAYERS = (
    BenchLayer("Alex-6", 9216, 4096, 0.09, 0.351),
    BenchLayer("Alex-7", 4096, 4096, 0.09, 0.353),
    BenchLayer("Alex-8", 4096, 1000, 0.25, 0.375),
    BenchLayer("VGG-6", 25088, 4096, 0.04, 0.183),
    BenchLayer("VGG-7", 4096, 4096, 0.04, 0.375),
    BenchLayer("VGG-8", 4096, 1000, 0.23, 0.411),
    BenchLayer("NT-We", 4096, 600, 0.10, 1.0),
    BenchLayer("NT-Wd", 600, 8791, 0.11, 1.0),
    BenchLayer("NT-LSTM", 1201, 2400, 0.10, 1.0),
)


def eie_layer(name: str) -> BenchLayer:
    """The EIE Table III layer called ``name``; one :class:`InputError` naming the known ones otherwise."""
    for layer in EIE_LAYERS:
        if layer.name == name:
            return layer
    raise InputError(f"unknown EIE layer {name!r}: expected one of {', '.join(l.name for l in EIE_LAYERS)}")


def _distinct_positions(rng, total: int, count: int) -> np.ndarray:
    """``count`` distinct uniformly random integers in ``0..total-1`` (sorted), fast for large ``total``."""
    if count * 4 > total:          # dense: a random subset via a permutation mask
        keep = np.zeros(total, dtype=bool)
        keep[rng.permutation(total)[:count]] = True
        return np.flatnonzero(keep)
    flat = sorted_unique(rng.integers(0, total, size=count + count // 16 + 16))
    while len(flat) < count:
        flat = sorted_unique(np.concatenate([flat, rng.integers(0, total, size=count - len(flat) + 16)]))
    if len(flat) > count:
        flat = np.sort(flat[rng.permutation(len(flat))[:count]])
    return flat


def random_layer(n_in: int, n_out: int, density: float, code_bits: int = 4, seed: int = 0,
                 name: str = "layer", relu: bool = False) -> CompressedLayer:
    """A layer with ``round(density * n_in * n_out)`` non-zeros at uniformly random distinct positions, uniformly
    random non-zero codes, and a linear codebook over [-1, 1] (entry 0 = 0)."""
    if not 0.0 <= density <= 1.0:
        raise InputError(f"weight density {density} is out of range: expected 0..1")
    rng = np.random.default_rng(seed)
    total = n_in * n_out
    nnz = int(round(density * total))
    flat = _distinct_positions(rng, total, nnz)
    rows, cols = np.divmod(flat.astype(np.int64), n_in)
    k = 1 << code_bits
    codes = rng.integers(1, k, size=nnz)
    codebook = np.concatenate([[0.0], np.linspace(-1.0, 1.0, k - 1)])
    return CompressedLayer((n_out, n_in), rows, cols, codes, codebook, None, relu, name)
