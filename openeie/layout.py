"""Bit layout of every memory word of the engine, defined once.

The layouts are Amaranth ``data`` layouts (first field = least significant bits). The RTL uses them directly;
the NumPy packer/unpacker, the testbench and the storage accounting read field offsets and widths from them,
so no width or bit position is typed twice.

Memories (per PE unless noted)

============  ==================================  ===================================================
memory        word                                contents
============  ==================================  ===================================================
``spmat``     :func:`spmat_word_layout`           ``entries_per_word`` (code, rel) entries, entry 0 in
                                                  the LSBs; all layers back to back
``ptr_even``  ``unsigned(ptr_bits)``              column pointers p[2k] (absolute entry addresses)
``ptr_odd``   ``unsigned(ptr_bits)``              column pointers p[2k+1]
``codebook``  ``signed(weight_bits)``             layer l's codebook at ``l * codebook_size``
``bias``      :func:`bias_shape`                  one bias per output slot, per layer at ``bias_base``
                                                  (and its requantisation multiplier, ``cfg.requant``)
``layers``    :func:`layer_desc_layout` (global)  one descriptor per layer
============  ==================================  ===================================================
"""

from __future__ import annotations

import enum

import numpy as np
from amaranth.hdl import Shape, signed, unsigned
from amaranth.lib import data

__all__ = [
    "Mem", "entry_layout", "spmat_word_layout", "ptr_shape", "codebook_shape", "act_shape", "bias_shape",
    "bias_value_bits", "shift_bits",
    "layer_desc_layout", "mem_word_bits", "mem_depth", "bits_for",
    "pack_entries", "unpack_entries", "pack_struct", "pack_word", "unpack_struct", "to_unsigned", "to_signed",
    "load_word_layout", "CONV_DESC_FIELDS", "POOL_NONE", "POOL_MAX", "POOL_AVG", "table_limbs", "pack_table",
    "table_ints", "unpack_table",
]


def bits_for(value: int) -> int:
    """Width of an unsigned field holding 0..value inclusive (at least 1)."""
    return max(1, int(value).bit_length())


class Mem(enum.IntEnum):
    """Memory kinds; the value is the memory id on the engine's load port."""
    SPMAT = 0
    PTR_EVEN = 1
    PTR_ODD = 2
    CODEBOOK = 3
    BIAS = 4
    LAYERS = 5

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def per_pe(self) -> bool:
        return self is not Mem.LAYERS


def entry_layout(cfg) -> data.StructLayout:
    """One sparse-matrix entry: weight code (LSBs) and relative row index."""
    return data.StructLayout({"code": unsigned(cfg.code_bits), "rel": unsigned(cfg.rel_index_bits)})


def spmat_word_layout(cfg) -> data.ArrayLayout:
    """One sparse-matrix SRAM word: ``entries_per_word`` entries, entry 0 in the LSBs."""
    return data.ArrayLayout(entry_layout(cfg), cfg.entries_per_word)


def ptr_shape(cfg) -> Shape:
    return unsigned(cfg.ptr_bits)


def codebook_shape(cfg) -> Shape:
    return signed(cfg.weight_bits)


def act_shape(cfg) -> Shape:
    return signed(cfg.act_bits)


def bias_shape(cfg):
    """A bias word: ``signed(act_bits)``; of a requantising engine (``cfg.requant``) the bias in the accumulator
    format (``value``, ``signed(acc_bits)``, LSBs) and the row's requantisation multiplier (``mult``,
    ``unsigned(mult_bits)``)."""
    if cfg.requant:
        return data.StructLayout({"value": signed(cfg.acc_bits), "mult": unsigned(cfg.mult_bits)})
    return signed(cfg.act_bits)


def bias_value_bits(cfg) -> int:
    """Width of the bias value in a bias word (``acc_bits`` on a requantising engine, else ``act_bits``)."""
    return cfg.acc_bits if cfg.requant else cfg.act_bits


def shift_bits(cfg) -> int:
    """Width of a requantising engine's descriptor field ``shift`` (0 .. acc_bits + mult_bits - 1)."""
    return bits_for(cfg.acc_bits + cfg.mult_bits - 1)


#: The layer-table fields of a convolution engine beyond the fully connected ones (docs/engine.md,
#: "Convolution layers"), in layout order.
CONV_DESC_FIELDS = ("in_w", "in_h", "kernel", "stride", "pad", "out_w", "out_h", "acc_slots", "pool", "pool_size",
                    "pooled_w", "pooled_h", "out_words", "line_words", "col_step", "row_step", "pad_words",
                    "wb_reads", "acc_line", "win_col", "win_row")

#: ``pool`` field values.
POOL_NONE, POOL_MAX, POOL_AVG = 0, 1, 2


def layer_desc_layout(cfg) -> data.StructLayout:
    """One layer-table entry.

    ``in_groups``: input columns / n_pe (storage order: column k is activation address k // n_pe of PE
    k % n_pe; of a convolution engine: the words of one input pixel). ``out_slots``: output rows held by each PE
    (of a convolution: per output position). ``ptr_base``: index of the layer's first pointer (even).
    ``bias_base``: address of the layer's first bias. ``relu``: apply ReLU on write-back. A convolution engine
    (``cfg.conv``) adds the fields of :data:`CONV_DESC_FIELDS` (docs/engine.md, "Convolution layers"); a
    requantising engine (``cfg.requant``) adds ``shift``, the write-back's right shift (docs/engine.md,
    "Requantisation").
    """
    fields = {
        "in_groups": unsigned(bits_for(cfg.act_depth)),
        "out_slots": unsigned(bits_for(cfg.act_depth)),
        "ptr_base": unsigned(bits_for(cfg.ptr_depth)),
        "bias_base": unsigned(bits_for(cfg.bias_depth)),
        "relu": unsigned(1),
    }
    if cfg.conv:
        side = unsigned(bits_for(cfg.max_image_side))
        out_side = unsigned(bits_for(cfg.max_image_side + cfg.max_kernel - 1))    # padding can add kernel - 1
        words = unsigned(bits_for(cfg.act_depth))
        steps = unsigned(bits_for(cfg.act_depth * max(cfg.max_image_side + 2 * cfg.max_kernel, 2 * cfg.max_kernel)))
        fields.update({
            "in_w": side, "in_h": side, "kernel": unsigned(bits_for(cfg.max_kernel)),
            "stride": unsigned(bits_for(cfg.max_image_side + 2 * cfg.max_kernel)),
            "pad": unsigned(bits_for(cfg.max_kernel - 1)), "out_w": out_side, "out_h": out_side, "acc_slots": words,
            "pool": unsigned(2), "pool_size": unsigned(bits_for(cfg.max_pool)), "pooled_w": out_side,
            "pooled_h": out_side,
            "out_words": words, "line_words": steps, "col_step": steps, "row_step": steps, "pad_words": steps,
            "wb_reads": words, "acc_line": words, "win_col": words, "win_row": words,
        })
    if cfg.requant:
        fields["shift"] = unsigned(shift_bits(cfg))
    return data.StructLayout(fields)


def table_limbs(layout) -> int:
    """uint64 limbs per word of a table whose words are ``layout`` (1 up to 64 bits)."""
    return max(1, -(-layout.size // 64))


def pack_table(layout, rows: list) -> np.ndarray:
    """Words of ``rows`` (dicts of field values) as uint64: shape ``(n,)`` for words of at most 64 bits, else
    ``(n, limbs)`` with limb 0 in the least significant bits."""
    ints = [pack_word(layout, **row) for row in rows]
    limbs = table_limbs(layout)
    if limbs == 1:
        return np.array(ints, dtype=np.uint64)
    return np.array([[(w >> (64 * k)) & ((1 << 64) - 1) for k in range(limbs)] for w in ints], dtype=np.uint64)


def table_ints(words) -> list:
    """Python ints of table words (1-D uint64, or 2-D uint64 limbs as :func:`pack_table` makes them)."""
    words = np.asarray(words, dtype=np.uint64)
    if words.ndim == 1:
        return [int(w) for w in words]
    return [sum(int(limb) << (64 * k) for k, limb in enumerate(row)) for row in words]


def unpack_table(layout, words) -> list:
    """Inverse of :func:`pack_table`: one dict of ints per word."""
    out = []
    for w in table_ints(words):
        out.append({name: (w >> field.offset) & ((1 << _shape_width(field.shape)) - 1) for name, field in layout})
    return out


def _shape_width(shape) -> int:
    if isinstance(shape, data.Layout):
        return shape.size
    return Shape.cast(shape).width


def mem_word_bits(cfg, mem: Mem) -> int:
    """Word width of a memory, in bits."""
    return _shape_width({
        Mem.SPMAT: spmat_word_layout(cfg), Mem.PTR_EVEN: ptr_shape(cfg), Mem.PTR_ODD: ptr_shape(cfg),
        Mem.CODEBOOK: codebook_shape(cfg), Mem.BIAS: bias_shape(cfg), Mem.LAYERS: layer_desc_layout(cfg),
    }[mem])


def mem_depth(cfg, mem: Mem) -> int:
    """Depth of a memory (per PE, or global for the layer table), in words."""
    return {
        Mem.SPMAT: cfg.spmat_depth_words, Mem.PTR_EVEN: cfg.ptr_bank_depth, Mem.PTR_ODD: cfg.ptr_bank_depth,
        Mem.CODEBOOK: cfg.codebook_depth, Mem.BIAS: cfg.bias_depth, Mem.LAYERS: cfg.max_layers,
    }[mem]


# ---- NumPy packing, derived from the layouts ---------------------------------------------------------------

def to_unsigned(values, width: int) -> np.ndarray:
    """Two's complement bit pattern of signed ``values`` in ``width`` bits, as uint64."""
    v = np.asarray(values, dtype=np.int64)
    return (v & ((1 << width) - 1)).astype(np.uint64)


def to_signed(words, width: int) -> np.ndarray:
    """Signed value of ``width``-bit two's complement patterns."""
    w = np.asarray(words, dtype=np.uint64).astype(np.int64) & ((1 << width) - 1)
    return np.where(w >= (1 << (width - 1)), w - (1 << width), w)


def pack_word(layout: data.StructLayout, **fields) -> int:
    """Pack one word of any width (a Python int) from unsigned field values; a value that does not fit its
    field raises ``ValueError`` naming the field."""
    word = 0
    for name, field in layout:
        value = int(fields[name])
        width = _shape_width(field.shape)
        if not 0 <= value < (1 << width):
            raise ValueError(f"field {name!r} value {value} does not fit {width} bits")
        word |= value << field.offset
    return word


def pack_struct(layout: data.StructLayout, **fields) -> np.ndarray:
    """Pack per-field integer arrays (unsigned fields) into uint64 words according to ``layout``.

    Layouts wider than 64 bits are refused (NumPy's uint64 would drop the upper fields): use :func:`pack_word`.
    """
    if layout.size > 64:
        raise ValueError(f"a {layout.size}-bit layout does not fit uint64 words: use pack_word for wide words")
    out = None
    for name, field in layout:
        value = np.asarray(fields[name], dtype=np.uint64)
        width = _shape_width(field.shape)
        if np.any(value >> np.uint64(width)):
            bad = int(value[np.argmax(value >> np.uint64(width) != 0)] if value.ndim else value)
            raise ValueError(f"field {name!r} value {bad} does not fit {width} bits")
        part = value << np.uint64(field.offset)
        out = part if out is None else out | part
    return out


def unpack_struct(layout: data.StructLayout, words) -> dict:
    """Field arrays of packed uint64 ``words`` according to ``layout`` (at most 64 bits wide)."""
    if layout.size > 64:
        raise ValueError(f"a {layout.size}-bit layout does not fit uint64 words")
    words = np.asarray(words, dtype=np.uint64)
    return {name: (words >> np.uint64(field.offset)) & np.uint64((1 << _shape_width(field.shape)) - 1)
            for name, field in layout}


def pack_entries(cfg, codes, rels) -> np.ndarray:
    """Pack a flat entry stream into sparse-matrix words (zero entries pad the last word)."""
    word_layout = spmat_word_layout(cfg)
    elem = word_layout.elem_shape
    n = len(codes)
    n_words = -(-n // cfg.entries_per_word)
    padded = np.zeros(n_words * cfg.entries_per_word, dtype=np.uint64)
    padded[:n] = pack_struct(elem, code=codes, rel=rels)
    lanes = padded.reshape(n_words, cfg.entries_per_word)
    words = np.zeros(n_words, dtype=np.uint64)
    for k in range(cfg.entries_per_word):
        words |= lanes[:, k] << np.uint64(k * elem.size)
    return words


def unpack_entries(cfg, words, n_entries: int | None = None):
    """Inverse of :func:`pack_entries`: ``(codes, rels)`` arrays of the first ``n_entries`` entries."""
    word_layout = spmat_word_layout(cfg)
    elem = word_layout.elem_shape
    words = np.asarray(words, dtype=np.uint64)
    mask = np.uint64((1 << elem.size) - 1)
    lanes = np.stack([(words >> np.uint64(k * elem.size)) & mask for k in range(cfg.entries_per_word)], axis=1)
    flat = lanes.reshape(-1)
    if n_entries is not None:
        flat = flat[:n_entries]
    f = unpack_struct(elem, flat)
    return f["code"].astype(np.int64), f["rel"].astype(np.int64)


def load_word_layout(cfg) -> data.StructLayout:
    """One word on the engine's load port: write ``data`` to ``addr`` of memory ``mem`` (a :class:`Mem`) of
    PE ``pe`` (ignored for the global layer table). ``data`` holds the word right-aligned."""
    return data.StructLayout({
        "data": unsigned(max(mem_word_bits(cfg, m) for m in Mem)),
        "addr": unsigned(max(bits_for(mem_depth(cfg, m) - 1) for m in Mem)),
        "pe": unsigned(bits_for(cfg.n_pe - 1)),
        "mem": unsigned(bits_for(len(Mem) - 1)),
    })
