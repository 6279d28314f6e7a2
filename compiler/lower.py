"""Lowering: a :class:`CompressedNetwork` -> engine memory images (:class:`Program`), and back.

Encoding of one layer in one PE (interleaved CSC, [EIE] section III):

* the PE holds output rows ``row_pe == p``, at slots ``row_slot`` (0, 1, 2, ... in row order by default);
* for every input column ``k`` (storage order), the PE's non-zeros of that column are listed in slot order as
  (code, rel) entries where ``rel`` is the number of zero slots skipped since the previous entry of the same
  column (or since slot 0); the row address advances by ``rel + 1`` per entry, starting from -1;
* a gap of ``z > max_rel`` zero slots is covered by ``z // 2**rel_index_bits`` filler entries ``(0, max_rel)``
  (code 0 decodes to the value zero), each advancing the address by ``2**rel_index_bits``; the real entry then
  carries ``rel = z % 2**rel_index_bits``;
* column pointers ``p[k]`` are absolute entry addresses in the PE's sparse-matrix memory: column ``k``'s entries
  are ``p[k] .. p[k+1]-1``; a layer's ``n_cols + 1`` pointers start at an even index ``ptr_base`` and are split
  into the even bank (``p[2m]``) and the odd bank (``p[2m+1]``) so that both ends of a column come in one cycle;
* entries of all layers are packed back to back, ``entries_per_word`` per word.
"""

from __future__ import annotations

import numpy as np

from openeie.config import EngineConfig
from openeie.errors import InputTypeError
from openeie.fixed import FixedRangeError, fixed_range, quantize
from openeie.layout import Mem, layer_desc_layout, mem_depth, pack_entries, pack_table, to_unsigned
from openeie.program import Program

from .network import CapacityError, CompressedLayer, CompressedNetwork, NetworkError
from .plan import modulo_assignment, plan_network

__all__ = ["lower", "decode", "decode_layer_coo", "modulo_assignment", "quantized_codebook", "quantized_bias",
           "bias_words_of"]


def quantized_codebook(cfg: EngineConfig, layer: CompressedLayer) -> np.ndarray:
    """The layer's codebook in the engine's weight format, padded with zeros to ``codebook_size``."""
    if len(layer.codebook) > cfg.codebook_size:
        raise NetworkError(f"layer {layer.name!r}: codebook has {len(layer.codebook)} entries but the engine's "
                           f"code_bits={cfg.code_bits} allows at most {cfg.codebook_size}")
    cb = np.zeros(cfg.codebook_size, dtype=np.int64)
    try:
        cb[:len(layer.codebook)] = quantize(layer.codebook, cfg.weight_bits, cfg.weight_frac_bits,
                                            what=f"layer {layer.name!r}: codebook value")
    except FixedRangeError as e:
        raise NetworkError(str(e)) from None
    return cb


def quantized_bias(cfg: EngineConfig, layer: CompressedLayer) -> np.ndarray:
    """The layer's bias in the activation format (zeros when the layer has none)."""
    try:
        return quantize(layer.bias_or_zeros(), cfg.act_bits, cfg.act_frac_bits,
                        what=f"layer {layer.name!r}: bias value")
    except FixedRangeError as e:
        raise NetworkError(str(e)) from None


def bias_words_of(cfg: EngineConfig, layer: CompressedLayer) -> np.ndarray:
    """The layer's bias-memory words, one per row (uint64): the activation-format bias; on a requantising engine
    the accumulator-format bias with the row's multiplier above it (the layer's :class:`Requant`, or bias
    ``<< weight_frac_bits`` and multiplier 1, which reproduce the fixed-point write-back)."""
    if not cfg.requant:
        return to_unsigned(quantized_bias(cfg, layer), cfg.act_bits)
    rq = layer.requant
    if rq is None:
        bias, mult = quantized_bias(cfg, layer) << cfg.weight_frac_bits, np.ones(layer.n_out, dtype=np.int64)
    else:
        bias = rq.bias if rq.bias is not None else np.zeros(layer.n_out, dtype=np.int64)
        mult = rq.multiplier
        lo, hi = fixed_range(cfg.acc_bits)
        for what, arr, low, high in (("accumulator-scale bias", bias, lo, hi),
                                     ("requantisation multiplier", mult, 0, (1 << cfg.mult_bits) - 1)):
            bad = (arr < low) | (arr > high)
            if bad.any():
                raise NetworkError(f"layer {layer.name!r}: {what} {int(arr[bad][0])} does not fit the engine: "
                                   f"expected {low}..{high}")
    return to_unsigned(bias, cfg.acc_bits) | (mult.astype(np.uint64) << np.uint64(cfg.acc_bits))


def lower(network, cfg: EngineConfig, assignments=None, plan=None) -> Program:
    """Compile a network into engine images: the words of its :func:`~openeie.compiler.plan.plan_network`.

    Parameters
    ----------
    network : CompressedNetwork or list of CompressedLayer
    cfg : EngineConfig
    assignments : list of (row_pe, row_slot) or None
        Per-layer row assignment; ``None`` (or a ``None`` item) means ``i mod n_pe``.
    plan : MemoryPlan, optional
        The network's plan when the caller has made it already (with ``cfg``'s PE count and formats).

    Raises
    ------
    NetworkError
        If a layer does not fit the configuration: codebook size, value ranges, or memory depths
        (:class:`CapacityError`, naming the memory, the need and the limit).
    """
    if not isinstance(cfg, EngineConfig):
        raise InputTypeError(f"lower() needs an EngineConfig, not {type(cfg).__name__}")
    if not isinstance(network, CompressedNetwork):
        network = CompressedNetwork(network)
    if len(network) > cfg.max_layers:          # before the work of planning
        raise CapacityError(f"network has {len(network)} layers: the engine's layer table holds max_layers="
                            f"{cfg.max_layers}", "max_layers", len(network), cfg.max_layers)
    if plan is None:
        plan = plan_network(network, cfg, assignments)
    elif (plan.n_pe, plan.entries_per_word, len(plan.layers)) != (cfg.n_pe, cfg.entries_per_word, len(network)):
        raise NetworkError("the memory plan was made for another network or PE count than lower() is given")
    plan.check(cfg)
    n = cfg.n_pe
    infos, descs, codebook_words = [], [], []
    ptr_words = [[] for _ in range(n)]
    bias_words = [[] for _ in range(n)]
    desc_fields = layer_desc_layout(cfg)
    for lp in plan.layers:
        layer, info = lp.layer, lp.info
        codebook_words.append(quantized_codebook(cfg, layer))
        # one bias per output slot (a convolution's INIT reuses them at every output position)
        bias_slots = np.zeros((n, info.out_slots), dtype=np.uint64)
        bias_slots[info.row_pe, info.row_slot] = bias_words_of(cfg, layer)
        for p in range(n):
            ptr_words[p].append(lp.ptr[p] + info.spmat_base[p])
            if lp.n_pointers > lp.n_cols + 1:
                ptr_words[p].append(lp.ptr[p][-1:] + info.spmat_base[p])   # keep the next layer's base even
            bias_words[p].append(bias_slots[p])
        infos.append(info)
        descs.append({name: int(getattr(info, name)) for name, _ in desc_fields})
    need = plan.needs

    mems, used = {}, {}
    need_words = plan.words_per_pe
    width = max(need["spmat_depth_words"], 1)
    spmat = np.zeros((n, width), dtype=np.uint64)
    for p in range(n):
        codes = np.concatenate([lp.streams[p][0] for lp in plan.layers])
        rels = np.concatenate([lp.streams[p][1] for lp in plan.layers])
        words = pack_entries(cfg, codes, rels)
        spmat[p, :len(words)] = words
    mems[Mem.SPMAT], used[Mem.SPMAT] = spmat, need_words
    ptr_all = np.stack([np.concatenate(ptr_words[p]) for p in range(n)])
    mems[Mem.PTR_EVEN], mems[Mem.PTR_ODD] = (to_unsigned(ptr_all[:, 0::2], cfg.ptr_bits),
                                             to_unsigned(ptr_all[:, 1::2], cfg.ptr_bits))
    used[Mem.PTR_EVEN] = used[Mem.PTR_ODD] = np.full(n, need["ptr_depth"] // 2, dtype=np.int64)
    codebook = to_unsigned(np.concatenate(codebook_words), cfg.weight_bits)
    mems[Mem.CODEBOOK] = np.tile(codebook, (n, 1))
    used[Mem.CODEBOOK] = np.full(n, len(codebook), dtype=np.int64)
    mems[Mem.BIAS] = np.stack([np.concatenate(bias_words[p]) for p in range(n)])
    used[Mem.BIAS] = np.full(n, need["bias_depth"], dtype=np.int64)
    mems[Mem.LAYERS] = pack_table(desc_fields, descs)
    used[Mem.LAYERS] = np.array([len(descs)], dtype=np.int64)
    for mem in Mem:
        depth = mems[mem].shape[0] if mem is Mem.LAYERS else mems[mem].shape[-1]     # the table: (n[, limbs])
        assert depth <= mem_depth(cfg, mem) or mem is Mem.SPMAT and width == 1
    return Program(config=cfg, layers=infos, mems=mems, used=used)


# ---- decoding -------------------------------------------------------------------------------------------

def _weight_columns(info):
    """Storage column -> logical weight column of a layer (-1 where none), and the number of weight columns."""
    pos_to_col = np.full(info.n_cols, -1, dtype=np.int64)
    if not info.is_conv:
        pos_to_col[info.in_pos] = np.arange(info.n_in)
        return pos_to_col, info.n_in
    k2 = info.kernel ** 2
    in_c = info.n_in // (info.in_h * info.in_w)
    channel_pos = info.in_pos.reshape(in_c, -1)[:, 0]
    for offset in range(k2):
        pos_to_col[offset * info.in_groups * info.n_pe + channel_pos] = np.arange(in_c) * k2 + offset
    return pos_to_col, in_c * k2


def decode_layer_coo(program: Program, index: int):
    """Non-zero codes of one layer as logical ``(rows, cols, codes)`` of its weight matrix (a convolution's in
    PyTorch's weight order), re-derived from the memory images (through :attr:`Program.decoded`, which has
    already refused entries that address holes)."""
    cfg = program.config
    info = program.layers[index]
    layer = program.decoded.layers[index]
    slot_to_row = np.full((cfg.n_pe, info.out_slots), -1, dtype=np.int64)
    slot_to_row[info.row_pe, info.row_slot] = np.arange(len(info.row_pe))
    pos_to_col, _ = _weight_columns(info)
    real = layer.code != 0
    return slot_to_row[layer.pe[real], layer.slot[real]], pos_to_col[layer.col[real]], layer.code[real]


def decode(program: Program) -> list:
    """Dense code matrices (rows x weight columns) of every layer, re-derived from the memory images."""
    out = []
    for index, info in enumerate(program.layers):
        r, c, k = decode_layer_coo(program, index)
        m = np.zeros((len(info.row_pe), _weight_columns(info)[1]), dtype=np.int64)
        m[r, c] = k
        out.append(m)
    return out
