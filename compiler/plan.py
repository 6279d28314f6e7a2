"""The memory plan of a network: every sizing rule of the engine's images, computed once.

:func:`plan_network` lays a network out for an engine's formats and PE count (row assignment, storage order,
input groups and output slots, pointers with the pad that keeps each layer's base even, biases, and every PE's
entry stream with its filler entries) without looking at the memory depths. :meth:`MemoryPlan.needs` states what
each memory must hold, in the units of its :class:`~openeie.config.EngineConfig` field; :meth:`MemoryPlan.check`
raises a :class:`~openeie.compiler.network.CapacityError` (the field, the need and the limit as attributes) for the
first that does not fit; :meth:`MemoryPlan.fit` grows a configuration to hold the network. :func:`lower` writes
the words of a plan; the storage report's configuration and the benchmark configurations size themselves from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openeie.config import EngineConfig
from openeie.dedup import has_duplicates

from openeie.layout import POOL_AVG, POOL_MAX, POOL_NONE
from openeie.program import LayerInfo

from .network import CapacityError, CompressedLayer, CompressedNetwork, NetworkError

__all__ = ["LayerPlan", "MemoryPlan", "plan_network", "layer_geometry", "modulo_assignment", "CAPACITY_FIELDS",
           "CONV_FIELDS"]

#: The configuration fields that bound a network, in the order :meth:`MemoryPlan.check` checks them.
CAPACITY_FIELDS = ("max_layers", "act_depth", "spmat_depth_words", "ptr_depth", "bias_depth")
#: The limits of a convolution engine (docs/engine.md, "Convolution layers"): needed by networks with convolutions.
CONV_FIELDS = ("max_image_side", "max_kernel", "max_pool")


def layer_geometry(n_in: int, n_out: int, n_pe: int):
    """``(in_groups, out_slots, n_pointers)`` of an ``n_in x n_out`` layer on ``n_pe`` PEs with EIE's
    interleaving: activation words read and written per PE, and the layer's pointers per PE (``n_cols + 1``, plus
    one when that is odd, so that the next layer's base is even)."""
    in_groups, out_slots = -(-n_in // n_pe), -(-n_out // n_pe)
    n_cols = in_groups * n_pe
    return in_groups, out_slots, n_cols + 1 + (n_cols + 1) % 2


def modulo_assignment(n_out: int, n_pe: int):
    """EIE's interleaving: row ``i`` to PE ``i mod n_pe``, slot ``i // n_pe``."""
    r = np.arange(n_out, dtype=np.int64)
    return r % n_pe, r // n_pe


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


def _encode_layer(cfg, layer: CompressedLayer, in_pos, n_cols, row_pe, row_slot):
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


@dataclass(eq=False)
class LayerPlan:
    """One layer laid out on the PEs: its :class:`~openeie.program.LayerInfo` (geometry, row assignment,
    storage positions, entry counts; the one place the images' geometry formulas live), ``streams[p]``: PE p's
    ``(codes, rels)`` entries, and ``ptr``: each PE's ``n_cols + 1`` column pointers relative to the layer's first
    entry in that PE (``info.spmat_base``)."""
    layer: CompressedLayer
    info: LayerInfo
    streams: list
    ptr: np.ndarray

    @property
    def n_cols(self) -> int:
        return self.ptr.shape[1] - 1

    @property
    def n_pointers(self) -> int:
        """Pointers per PE, with the pad that keeps the next layer's base even."""
        return self.n_cols + 1 + (self.n_cols + 1) % 2


@dataclass(eq=False)
class MemoryPlan:
    """A network laid out for an engine's formats and PE count (see the module docstring)."""
    n_pe: int
    entries_per_word: int
    layers: list

    @property
    def entries_per_pe(self) -> np.ndarray:
        return sum((l.info.entries for l in self.layers), np.zeros(self.n_pe, dtype=np.int64))

    @property
    def words_per_pe(self) -> np.ndarray:
        """Sparse-matrix words each PE needs (entries of all layers back to back)."""
        return -(-self.entries_per_pe // self.entries_per_word)

    @property
    def needs(self) -> dict:
        """What the network needs of each :data:`CAPACITY_FIELDS` field, and of each :data:`CONV_FIELDS` field
        when it has convolutions."""
        last = self.layers[-1]
        need = {"max_layers": len(self.layers),
                "act_depth": max(max(l.info.in_words, l.info.acc_slots, l.info.out_words) for l in self.layers),
                "spmat_depth_words": int(self.words_per_pe.max()),
                "ptr_depth": last.info.ptr_base + last.n_pointers,
                "bias_depth": last.info.bias_base + last.info.out_slots}
        specs = [l.layer.conv for l in self.layers if l.layer.conv is not None]
        if specs:
            need.update(max_image_side=max(max(s.in_h, s.in_w) for s in specs),
                        max_kernel=max(s.kernel for s in specs), max_pool=max(s.pool_size for s in specs))
        return need

    def check(self, cfg: EngineConfig) -> None:
        """Raise :class:`CapacityError` for the first memory of ``cfg`` too small for the network."""
        need = self.needs
        if need["max_layers"] > cfg.max_layers:
            raise CapacityError(f"network has {need['max_layers']} layers: the engine's layer table holds "
                                f"max_layers={cfg.max_layers}", "max_layers", need["max_layers"], cfg.max_layers)
        for l in self.layers:
            for what, value in (("input words per PE", l.info.in_words),
                                ("accumulator slots per PE", l.info.acc_slots),
                                ("output words per PE", l.info.out_words)):
                if value > cfg.act_depth:
                    raise CapacityError(f"layer {l.layer.name!r}: {value} {what} exceed act_depth={cfg.act_depth}",
                                        "act_depth", value, cfg.act_depth)
        if not cfg.conv and any(l.layer.conv is not None for l in self.layers):
            raise CapacityError(f"the network has convolution layers: the engine has max_image_side=1 (a fully "
                                f"connected engine); they need max_image_side={need['max_image_side']}, max_kernel="
                                f"{need['max_kernel']}, max_pool={need['max_pool']}", "max_image_side",
                                need["max_image_side"], cfg.max_image_side)
        for l in self.layers:
            spec = l.layer.conv
            if spec is None:
                continue
            for what, field, value in (("image side", "max_image_side", max(spec.in_h, spec.in_w)),
                                       ("kernel side", "max_kernel", spec.kernel),
                                       ("pooling window", "max_pool", spec.pool_size)):
                if value > getattr(cfg, field):
                    raise CapacityError(f"layer {l.layer.name!r}: {what} {value} exceeds {field}="
                                        f"{getattr(cfg, field)}", field, value, getattr(cfg, field))
        for what, field in (("sparse-matrix words per PE", "spmat_depth_words"), ("column pointers per PE", "ptr_depth"),
                            ("biases per PE", "bias_depth")):
            limit = getattr(cfg, field)
            if need[field] > limit:
                raise CapacityError(f"network needs {need[field]} {what}: the engine has {field}={limit}", field,
                                    need[field], limit)

    def fit(self, cfg: EngineConfig, round_up=None, minimum: dict | None = None) -> EngineConfig:
        """``cfg`` with every :data:`CAPACITY_FIELDS` depth set to what the network needs (``round_up(need)``,
        at least ``minimum[field]``); pass ``minimum=cfg.to_dict()`` to grow a configuration without
        shrinking it."""
        changes = {}
        for field, need in self.needs.items():
            value = round_up(need) if round_up and field not in ("max_layers",) + CONV_FIELDS else need
            if field == "ptr_depth":
                value += value % 2
            changes[field] = max(value, (minimum or {}).get(field, 1))
        return cfg.replace(**changes)


def plan_network(network, cfg: EngineConfig, assignments=None) -> MemoryPlan:
    """Lay ``network`` out with ``cfg``'s PE count, index width and word size (its memory depths are not looked
    at: see :meth:`MemoryPlan.check`). ``assignments``: per-layer ``(row_pe, row_slot)``, or None for
    ``i mod n_pe``."""
    if not isinstance(network, CompressedNetwork):
        network = CompressedNetwork(network)
    n = cfg.n_pe
    if assignments is not None and not isinstance(assignments, (list, tuple)):
        from openeie.errors import InputTypeError
        raise InputTypeError(f"assignments must be a list of (row_pe, row_slot) pairs or None, not "
                             f"{type(assignments).__name__}")
    assignments = list(assignments) if assignments is not None else [None] * len(network)
    if len(assignments) != len(network):
        raise NetworkError(f"{len(assignments)} row assignments given for {len(network)} layers")
    layers = []
    pe_entries = np.zeros(n, dtype=np.int64)
    ptr_base = bias_base = 0
    in_pos = np.arange(network.n_in, dtype=np.int64)       # storage position of each logical input activation
    for index, layer in enumerate(network):
        prev = layers[-1].info if layers else None
        if layer.conv is not None:      # words per input pixel
            in_groups = prev.out_slots if prev else -(-layer.conv.in_channels // n)
        else:                           # all input words
            in_groups = prev.out_words if prev else -(-layer.n_in // n)
        if layer.conv is not None:
            if assignments[index] is not None:
                raise NetworkError(f"layer {layer.name!r}: a convolution's channels sit in PE t mod n_pe: no other row "
                                   f"assignment")
            spec = layer.conv
            if index == 0:   # the image itself: pixel (y, x), channel c at (y * in_w + x) * in_groups * n_pe + c
                pixels = np.arange(spec.in_h * spec.in_w, dtype=np.int64) * (in_groups * n)
                in_pos = (np.arange(spec.in_channels, dtype=np.int64)[:, None] + pixels[None, :]).reshape(-1)
            elif in_groups * (spec.in_h * spec.in_w) != layers[-1].info.out_words:
                raise NetworkError(f"layer {layer.name!r} reads {spec.in_h} x {spec.in_w} pixels of {in_groups} words "
                                   f"but layer {layers[-1].layer.name!r} writes {layers[-1].info.out_words} words")
            channel_pos = in_pos.reshape(spec.in_channels, -1)[:, 0]      # a channel's position within a pixel
            k2 = spec.kernel ** 2
            col_pos = (np.arange(k2, dtype=np.int64)[None, :] * (in_groups * n) + channel_pos[:, None]).reshape(-1)
            # the stride moves the walk between positions: of a single position only "past the image" matters,
            # so it is stored as the smallest stride that says so (the descriptor field is narrow)
            stride = spec.stride if spec.out_h * spec.out_w > 1 else \
                min(spec.stride, max(spec.in_h, spec.in_w) + 2 * spec.pad - spec.kernel + 1)
            geometry = dict(in_w=spec.in_w, in_h=spec.in_h, kernel=spec.kernel, stride=stride, pad=spec.pad,
                            out_w=spec.out_w, out_h=spec.out_h, pool={None: POOL_NONE, "max": POOL_MAX,
                                                                        "avg": POOL_AVG}[spec.pool],
                            pool_size=spec.pool_size, groups=spec.groups)
            n_cols = k2 * in_groups * n
            row_pe, row_slot = modulo_assignment(layer.n_out, n)
        else:
            geometry, col_pos, n_cols = {}, in_pos, in_groups * n
            if assignments[index] is None:
                row_pe, row_slot = modulo_assignment(layer.n_out, n)
            else:
                row_pe, row_slot = _check_assignment(layer, assignments[index], n)
        out_slots = int(row_slot.max()) + 1
        if cfg.requant:
            geometry["shift"] = _requant_shift(cfg, layer)
        elif layer.requant is not None:
            raise NetworkError(f"layer {layer.name!r} carries an integer requantisation: expected an engine with "
                               f"mult_bits > 0 (a requantising write-back)")
        streams, ptr, entries, fillers, nnz_pe = _encode_layer(cfg, layer, col_pos, n_cols, row_pe, row_slot)
        info = LayerInfo(
            name=layer.name, n_in=layer.in_size, n_out=layer.out_size, in_groups=in_groups, out_slots=out_slots,
            ptr_base=ptr_base, bias_base=bias_base, relu=layer.relu, row_pe=row_pe, row_slot=row_slot,
            in_pos=in_pos, entries=entries, fillers=fillers, nnz_pe=nnz_pe, spmat_base=pe_entries.copy(),
            codebook=np.concatenate([layer.codebook, np.zeros(max(0, cfg.codebook_size - len(layer.codebook)))]),
            has_bias=layer.bias is not None, **geometry)
        layers.append(LayerPlan(layer, info, streams, ptr))
        pe_entries = pe_entries + entries
        ptr_base += layers[-1].n_pointers
        bias_base += info.out_slots
        in_pos = info.out_pos
    return MemoryPlan(n, cfg.entries_per_word, layers)


def _requant_shift(cfg, layer) -> int:
    """The write-back shift of ``layer`` on a requantising engine: its :class:`Requant`'s, or the fixed-point
    write-back's ``weight_frac_bits`` (+ log2(k*k) for an average pool) with multiplier 1."""
    if layer.requant is not None:
        shift = layer.requant.shift
    else:
        shift = cfg.weight_frac_bits
        if layer.conv is not None and layer.conv.pool == "avg":
            shift += (layer.conv.pool_size ** 2).bit_length() - 1
    if shift >= cfg.acc_bits + cfg.mult_bits:
        raise NetworkError(f"layer {layer.name!r}: requantisation shift {shift}: expected at most "
                           f"{cfg.acc_bits + cfg.mult_bits - 1} (acc_bits + mult_bits - 1)")
    return shift
