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
from openeie.dedup import has_duplicates
from openeie.fixed import FixedRangeError, quantize
from openeie.layout import Mem, layer_desc_layout, mem_depth, pack_entries, pack_struct, to_unsigned
from openeie.program import LayerInfo, Program

from .network import CapacityError, CompressedLayer, CompressedNetwork, NetworkError

__all__ = ["lower", "decode", "decode_layer_coo", "modulo_assignment", "quantized_codebook", "quantized_bias"]


def modulo_assignment(n_out: int, n_pe: int):
    """EIE's interleaving: row ``i`` to PE ``i mod n_pe``, slot ``i // n_pe``."""
    r = np.arange(n_out, dtype=np.int64)
    return r % n_pe, r // n_pe


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


def _check_assignment(layer, assignment, n_pe):
    if not isinstance(assignment, (list, tuple)) or len(assignment) != 2:
        raise NetworkError(f"layer {layer.name!r}: a row assignment is a pair (row_pe, row_slot), not "
                           f"{type(assignment).__name__}")
    row_pe, row_slot = (np.asarray(a) for a in assignment)
    if row_pe.dtype.kind not in "iu" or row_slot.dtype.kind not in "iu":
        raise NetworkError(f"layer {layer.name!r}: row assignment must be integers, not {row_pe.dtype}/{row_slot.dtype}")
    row_pe, row_slot = row_pe.astype(np.int64), row_slot.astype(np.int64)
    if row_pe.shape != (layer.n_out,) or row_slot.shape != (layer.n_out,):
        raise NetworkError(f"layer {layer.name!r}: row assignment must give a PE and a slot for each of "
                           f"{layer.n_out} rows")
    if row_pe.min() < 0 or row_pe.max() >= n_pe or row_slot.min() < 0:
        raise NetworkError(f"layer {layer.name!r}: row assignment uses PE outside 0..{n_pe - 1} or a negative slot")
    pos = row_slot * n_pe + row_pe
    if has_duplicates(pos):
        raise NetworkError(f"layer {layer.name!r}: row assignment puts two rows in the same PE slot")
    return row_pe, row_slot


def _encode_layer(cfg: EngineConfig, layer: CompressedLayer, in_pos, n_cols, row_pe, row_slot):
    """Per-PE entry streams and per-PE column pointers (relative to the PE's layer start) of one layer."""
    n = cfg.n_pe
    radix = 1 << cfg.rel_index_bits
    pe = row_pe[layer.rows]
    slot = row_slot[layer.rows]
    col = in_pos[layer.cols]
    group = pe * n_cols + col                       # (PE, column) pair, PE-major
    max_slot = int(row_slot.max()) + 1
    order = np.argsort(group * max_slot + slot, kind="stable")
    group, slot, codes = group[order], slot[order], layer.codes[order]
    nnz = len(codes)

    prev = np.empty(nnz, dtype=np.int64)
    if nnz:
        prev[0] = -1
        prev[1:] = np.where(group[1:] == group[:-1], slot[:-1], -1)
    gap = slot - prev - 1
    fill = gap // radix
    rel = gap % radix

    # Position of each real entry in the concatenated entry stream (all PEs, PE-major).
    pos = np.arange(nnz, dtype=np.int64) + np.cumsum(fill)
    total = nnz + int(fill.sum())
    out_code = np.zeros(total, dtype=np.int64)
    out_rel = np.full(total, cfg.max_rel_index, dtype=np.int64)
    out_code[pos] = codes
    out_rel[pos] = rel

    per_group = np.bincount(group, weights=fill + 1, minlength=n * n_cols).astype(np.int64).reshape(n, n_cols)
    per_pe_entries = per_group.sum(axis=1)
    per_pe_fillers = np.bincount(group // n_cols, weights=fill, minlength=n).astype(np.int64)
    per_pe_nnz = np.bincount(group // n_cols, minlength=n).astype(np.int64)
    ptr = np.zeros((n, n_cols + 1), dtype=np.int64)
    np.cumsum(per_group, axis=1, out=ptr[:, 1:])
    starts = np.concatenate([[0], np.cumsum(per_pe_entries)])
    streams = [(out_code[starts[p]:starts[p + 1]], out_rel[starts[p]:starts[p + 1]]) for p in range(n)]
    return streams, ptr, per_pe_entries, per_pe_fillers, per_pe_nnz


def lower(network, cfg: EngineConfig, assignments=None) -> Program:
    """Compile a network into engine images.

    Parameters
    ----------
    network : CompressedNetwork or list of CompressedLayer
    cfg : EngineConfig
    assignments : list of (row_pe, row_slot) or None
        Per-layer row assignment; ``None`` (or a ``None`` item) means ``i mod n_pe``.

    Raises
    ------
    NetworkError
        If a layer does not fit the configuration (codebook size, value ranges, memory depths).
    """
    if not isinstance(cfg, EngineConfig):
        raise InputTypeError(f"lower() needs an EngineConfig, not {type(cfg).__name__}")
    if not isinstance(network, CompressedNetwork):
        network = CompressedNetwork(network)
    n = cfg.n_pe
    if len(network) > cfg.max_layers:
        raise CapacityError(f"network has {len(network)} layers: the engine's layer table holds max_layers="
                            f"{cfg.max_layers}", "max_layers", len(network), cfg.max_layers)
    if assignments is not None and not isinstance(assignments, (list, tuple)):
        raise InputTypeError(f"assignments must be a list of (row_pe, row_slot) pairs or None, not "
                             f"{type(assignments).__name__}")
    assignments = list(assignments) if assignments is not None else [None] * len(network)
    if len(assignments) != len(network):
        raise NetworkError(f"{len(assignments)} row assignments given for {len(network)} layers")

    streams = [[] for _ in range(n)]     # per PE: list of (codes, rels) per layer
    pe_entries = np.zeros(n, dtype=np.int64)
    ptr_words = [[] for _ in range(n)]
    bias_words = [[] for _ in range(n)]
    codebook_words = []
    infos, descs = [], []
    ptr_base = bias_base = 0
    in_pos = np.arange(network.n_in, dtype=np.int64)
    in_groups = -(-network.n_in // n)
    for index, layer in enumerate(network):
        if assignments[index] is None:
            row_pe, row_slot = modulo_assignment(layer.n_out, n)
        else:
            row_pe, row_slot = _check_assignment(layer, assignments[index], n)
        out_slots = int(row_slot.max()) + 1
        for what, value in (("input groups (inputs / n_pe)", in_groups), ("output rows per PE", out_slots)):
            if value > cfg.act_depth:
                raise CapacityError(f"layer {layer.name!r}: {value} {what} exceed act_depth={cfg.act_depth}",
                                    "act_depth", value, cfg.act_depth)
        n_cols = in_groups * n
        cb_q = quantized_codebook(cfg, layer)
        bias_q = quantized_bias(cfg, layer)
        layer_streams, ptr, entries, fillers, nnz_pe = _encode_layer(cfg, layer, in_pos, n_cols, row_pe, row_slot)

        bias_slots = np.zeros((n, out_slots), dtype=np.int64)
        bias_slots[row_pe, row_slot] = bias_q
        for p in range(n):
            streams[p].append(layer_streams[p])
            ptr_words[p].append(ptr[p] + pe_entries[p])
            if len(ptr[p]) % 2:
                ptr_words[p].append(ptr[p][-1:] + pe_entries[p])   # keep the next layer's base even
            bias_words[p].append(bias_slots[p])
        infos.append(LayerInfo(
            name=layer.name, n_in=layer.n_in, n_out=layer.n_out, in_groups=in_groups, out_slots=out_slots,
            ptr_base=ptr_base, bias_base=bias_base, relu=layer.relu, row_pe=row_pe, row_slot=row_slot,
            in_pos=in_pos, entries=entries, fillers=fillers, nnz_pe=nnz_pe, spmat_base=pe_entries.copy(),
            codebook=np.concatenate([layer.codebook, np.zeros(cfg.codebook_size - len(layer.codebook))]),
            has_bias=layer.bias is not None))
        descs.append((in_groups, out_slots, ptr_base, bias_base, int(layer.relu)))
        codebook_words.append(cb_q)
        pe_entries = pe_entries + entries
        ptr_base += n_cols + 1 + ((n_cols + 1) % 2)
        bias_base += out_slots
        in_pos = row_slot * n + row_pe
        in_groups = out_slots

    # Capacity checks, naming the memory, the need and the limit.
    need_words = -(-pe_entries // cfg.entries_per_word)
    for what, field_name, need in (("sparse-matrix words per PE", "spmat_depth_words", int(need_words.max())),
                                   ("column pointers per PE", "ptr_depth", ptr_base),
                                   ("biases per PE", "bias_depth", bias_base)):
        limit = getattr(cfg, field_name)
        if need > limit:
            raise CapacityError(f"network needs {need} {what}: the engine has {field_name}={limit}", field_name,
                                need, limit)

    mems, used = {}, {}
    width = max(int(need_words.max()), 1)
    spmat = np.zeros((n, width), dtype=np.uint64)
    for p in range(n):
        codes = np.concatenate([s[0] for s in streams[p]])
        rels = np.concatenate([s[1] for s in streams[p]])
        words = pack_entries(cfg, codes, rels)
        spmat[p, :len(words)] = words
    mems[Mem.SPMAT], used[Mem.SPMAT] = spmat, need_words
    ptr_all = np.stack([np.concatenate(ptr_words[p]) for p in range(n)])
    mems[Mem.PTR_EVEN], mems[Mem.PTR_ODD] = (to_unsigned(ptr_all[:, 0::2], cfg.ptr_bits),
                                             to_unsigned(ptr_all[:, 1::2], cfg.ptr_bits))
    used[Mem.PTR_EVEN] = used[Mem.PTR_ODD] = np.full(n, ptr_base // 2, dtype=np.int64)
    codebook = to_unsigned(np.concatenate(codebook_words), cfg.weight_bits)
    mems[Mem.CODEBOOK] = np.tile(codebook, (n, 1))
    used[Mem.CODEBOOK] = np.full(n, len(codebook), dtype=np.int64)
    mems[Mem.BIAS] = to_unsigned(np.stack([np.concatenate(bias_words[p]) for p in range(n)]), cfg.act_bits)
    used[Mem.BIAS] = np.full(n, bias_base, dtype=np.int64)
    d = np.array(descs, dtype=np.int64)
    mems[Mem.LAYERS] = pack_struct(layer_desc_layout(cfg), in_groups=d[:, 0], out_slots=d[:, 1],
                                   ptr_base=d[:, 2], bias_base=d[:, 3], relu=d[:, 4])
    used[Mem.LAYERS] = np.array([len(d)], dtype=np.int64)
    for mem in Mem:
        assert mems[mem].shape[-1] <= mem_depth(cfg, mem) or mem is Mem.SPMAT and width == 1
    return Program(config=cfg, layers=infos, mems=mems, used=used)


# ---- decoding -------------------------------------------------------------------------------------------

def decode_layer_coo(program: Program, index: int):
    """Non-zero codes of one layer as logical ``(rows, cols, codes)``, re-derived from the memory images (through
    :attr:`Program.decoded`, which has already refused entries that address holes)."""
    cfg = program.config
    info = program.layers[index]
    layer = program.decoded.layers[index]
    slot_to_row = np.full((cfg.n_pe, info.out_slots), -1, dtype=np.int64)
    slot_to_row[info.row_pe, info.row_slot] = np.arange(info.n_out)
    pos_to_col = np.full(info.n_cols, -1, dtype=np.int64)
    pos_to_col[info.in_pos] = np.arange(info.n_in)
    real = layer.code != 0
    return slot_to_row[layer.pe[real], layer.slot[real]], pos_to_col[layer.col[real]], layer.code[real]


def decode(program: Program) -> list:
    """Dense code matrices ``(n_out, n_in)`` of every layer, re-derived from the memory images."""
    out = []
    for index, info in enumerate(program.layers):
        r, c, k = decode_layer_coo(program, index)
        m = np.zeros((info.n_out, info.n_in), dtype=np.int64)
        m[r, c] = k
        out.append(m)
    return out
