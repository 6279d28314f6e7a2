"""Storage accounting of compiled images: bits per memory per layer, filler overhead, compression ratio.

Typed records (:class:`LayerStorage`, :class:`StorageReport`) whose names carry their units: ``*_bits`` is a
total number of bits stored, ``*_width_bits`` the width of one field (the two never share a name). Counted per
layer (all totals are what the engine stores, summed over PEs):

* ``spmat_bits``: entries x (code + relative-index width), filler entries included;
* ``filler_bits``: the part of ``spmat_bits`` spent on filler entries;
* ``pointer_bits``: the layer's pointers per PE (``n_cols + 1``, plus the pad that keeps the next layer's base
  even) x the pointer width;
* ``codebook_bits``: one codebook (``2**code_bits`` x ``weight_bits``; the engine holds a copy per PE:
  ``codebook_onchip_bits``);
* ``bias_bits``: ``out_slots`` x ``n_pe`` x the bias word (``act_bits``; on a requantising engine the
  accumulator-format bias and the multiplier, kept with or without a bias);
* ``dense_fp32_bits``: the dense weights x 32 (+ 32 per bias), the uncompressed reference: ``n_in x n_out``
  weights of a fully connected layer, ``out_c x in_c / groups x D x D`` of a convolution, one bias per output
  (per output channel).

``total_bits`` = spmat + pointer + codebook + bias bits; ``compression_ratio`` = dense_fp32_bits / total_bits.
With Huffman accounting (:mod:`openeie.compiler.huffman`) the code and relative-index streams are also counted
Huffman-coded, code tables included: ``code_huffman_bits``, ``index_huffman_bits``, ``total_huffman_bits``,
``compression_ratio_huffman``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from openeie.layout import Mem, mem_word_bits
from openeie.program import Program

__all__ = ["LayerStorage", "StorageReport", "layer_storage", "storage_report"]


@dataclass(frozen=True)
class LayerStorage:
    """Storage of one compiled layer (or, named ``"total"``, of a network), in bits (see the module docstring)."""

    name: str
    weights: int                  # dense weights (LayerInfo.weight_count)
    nnz: int
    entries: int
    fillers: int
    code_width_bits: int
    index_width_bits: int
    spmat_bits: int
    filler_bits: int
    pointer_bits: int
    codebook_bits: int
    codebook_onchip_bits: int
    bias_bits: int
    dense_fp32_bits: int
    code_huffman_bits: int | None = None
    index_huffman_bits: int | None = None
    shape: tuple | None = None    # (n_out, n_in) of a layer

    @property
    def density(self) -> float:
        return self.nnz / self.weights

    @property
    def kept_pct(self) -> float:
        return 100.0 * self.density

    @property
    def total_bits(self) -> int:
        return self.spmat_bits + self.pointer_bits + self.codebook_bits + self.bias_bits

    @property
    def total_huffman_bits(self) -> int | None:
        if self.code_huffman_bits is None:
            return None
        return self.code_huffman_bits + self.index_huffman_bits + self.pointer_bits + self.codebook_bits + \
            self.bias_bits

    @property
    def compression_ratio(self) -> float:
        return self.dense_fp32_bits / self.total_bits

    @property
    def compression_ratio_huffman(self) -> float | None:
        total = self.total_huffman_bits
        return None if total is None else self.dense_fp32_bits / total

    @property
    def filler_overhead(self) -> float:
        return self.fillers / max(self.nnz, 1)

    @property
    def bits_per_weight(self) -> float:
        """Stored bits per non-zero weight."""
        return self.total_bits / max(self.nnz, 1)

    @property
    def code_huffman_bits_per_entry(self) -> float | None:
        return None if self.code_huffman_bits is None else self.code_huffman_bits / max(self.entries, 1)

    @property
    def index_huffman_bits_per_entry(self) -> float | None:
        return None if self.index_huffman_bits is None else self.index_huffman_bits / max(self.entries, 1)

    _DERIVED = ("density", "kept_pct", "total_bits", "total_huffman_bits", "compression_ratio",
                "compression_ratio_huffman", "filler_overhead", "bits_per_weight", "code_huffman_bits_per_entry",
                "index_huffman_bits_per_entry")

    def to_json(self) -> dict:
        """Every field and derived figure (None where Huffman accounting was not asked for)."""
        out = dataclasses.asdict(self)
        out["shape"] = list(self.shape) if self.shape is not None else None
        out.update({k: getattr(self, k) for k in self._DERIVED})
        return out


@dataclass(frozen=True)
class StorageReport:
    """Per-layer storage of a compiled network and the network's total."""

    layers: tuple
    total: LayerStorage

    def to_json(self) -> dict:
        return {"layers": [l.to_json() for l in self.layers], "total": self.total.to_json()}


def layer_storage(program: Program, index: int, huffman: bool = False) -> LayerStorage:
    """The storage of layer ``index`` of ``program``."""
    cfg = program.config
    info = program.layers[index]
    n_ptr = info.n_cols + 1 + ((info.n_cols + 1) % 2)
    entries = int(info.entries.sum())
    h = {}
    if huffman:
        from .huffman import layer_huffman_bits
        counted = layer_huffman_bits(program, index)
        h = {"code_huffman_bits": counted["code_bits_huffman"] + counted["code_table_bits"],
             "index_huffman_bits": counted["index_bits_huffman"] + counted["index_table_bits"]}
    return LayerStorage(
        name=info.name, shape=(info.n_out, info.n_in), weights=info.weight_count, nnz=info.nnz,
        entries=entries, fillers=info.n_fillers, code_width_bits=cfg.code_bits,
        index_width_bits=cfg.rel_index_bits, spmat_bits=entries * cfg.entry_bits,
        filler_bits=info.n_fillers * cfg.entry_bits, pointer_bits=n_ptr * cfg.n_pe * cfg.ptr_bits,
        codebook_bits=cfg.codebook_size * cfg.weight_bits,
        codebook_onchip_bits=cfg.codebook_size * cfg.weight_bits * cfg.n_pe,
        bias_bits=info.out_slots * cfg.n_pe * mem_word_bits(cfg, Mem.BIAS) if info.has_bias or cfg.requant else 0,
        dense_fp32_bits=32 * info.weight_count + (32 * _bias_count(info) if info.has_bias else 0), **h)


def _bias_count(info) -> int:
    """Biases of the dense reference: one per output (per output channel of a convolution)."""
    return len(np.asarray(info.row_pe).reshape(-1)) if info.is_conv else info.n_out


_SUMMED = ("weights", "nnz", "entries", "fillers", "spmat_bits", "filler_bits", "pointer_bits", "codebook_bits",
           "codebook_onchip_bits", "bias_bits", "dense_fp32_bits")


def storage_report(program: Program, huffman: bool = False) -> StorageReport:
    """Per-layer storage and the network's total (see the module docstring)."""
    layers = tuple(layer_storage(program, i, huffman) for i in range(program.n_layers))
    total = {k: sum(getattr(l, k) for l in layers) for k in _SUMMED}
    if huffman:
        total.update({k: sum(getattr(l, k) for l in layers) for k in ("code_huffman_bits", "index_huffman_bits")})
    cfg = program.config
    return StorageReport(layers, LayerStorage(name="total", code_width_bits=cfg.code_bits,
                                              index_width_bits=cfg.rel_index_bits, **total))
