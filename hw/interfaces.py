"""The engine blocks' internal word layouts, shapes and interfaces (signatures), and the controller's phases.

Every width here is derived from :class:`openeie.config.EngineConfig` and :mod:`openeie.layout`; nothing that
the spine already defines is typed again. Index signals are at least one bit wide (``bits_for``) so that
configurations with one PE, one layer or one entry per word need no special cases.
"""

from __future__ import annotations

from amaranth.hdl import Shape, signed, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from openeie.layout import (Mem, act_shape, bits_for, entry_layout, layer_desc_layout, load_word_layout,
                            mem_depth, ptr_shape)
from openeie.timing import REQUANT_LATENCY, WB_LATENCY

__all__ = [
    "Phase", "index_shape", "count_shape", "col_shape", "slot_shape", "layer_shape", "acc_shape", "acc_addr_shape",
    "act_word_layout", "bcast_layout", "ptr_index_shape", "column_layout", "issue_layout", "mem_addr_shape",
    "mem_write_signature", "mem_read_signature", "pe_load_signature", "control_signature",
]


class Phase(enum.Enum, shape=3):
    """Controller phase (see docs/engine.md, "Run sequencing")."""
    IDLE = 0
    DESC = 1
    INIT = 2
    COMPUTE = 3
    WB = 4
    DONE = 5      # the one cycle ``done`` is high
    DRAIN = 6     # the output stream is being produced


def index_shape(count: int) -> Shape:
    """An index 0 .. count-1 (at least one bit)."""
    return unsigned(bits_for(count - 1))


def count_shape(count: int) -> Shape:
    """A count 0 .. count inclusive (at least one bit)."""
    return unsigned(bits_for(count))


def col_shape(cfg) -> Shape:
    """A storage-order input column of a layer."""
    return index_shape(cfg.max_columns)


def slot_shape(cfg) -> Shape:
    """A phase step 0 .. out_slots + 2 (INIT lasts out_slots + 1 cycles, WB out_slots + 3); of a convolution
    engine 0 .. acc_slots + 3 (INIT lasts acc_slots + 1, WB at most acc_slots + 4). A requantising engine's WB
    lasts one cycle more (docs/engine.md, "Requantisation")."""
    if cfg.conv:
        return unsigned(bits_for(cfg.act_depth + 4 + cfg.requant))
    width = Shape.cast(layer_desc_layout(cfg)["out_slots"].shape).width
    if cfg.requant:
        return unsigned(bits_for((1 << width) - 1 + WB_LATENCY + REQUANT_LATENCY))
    return unsigned(width + 1)


def acc_addr_shape(cfg) -> Shape:
    """An accumulator slot (and a convolution's row base ``p * out_slots``)."""
    return index_shape(cfg.act_depth)


def _with_row(cfg, fields: dict) -> data.StructLayout:
    """``fields`` plus, on a convolution engine, ``row``: the row base ``p * out_slots`` of the output position
    the pair belongs to (docs/engine.md, "Broadcast walk")."""
    if cfg.conv:
        fields = {**fields, "row": acc_addr_shape(cfg)}
    return data.StructLayout(fields)


def layer_shape(cfg) -> Shape:
    """A layer-table index."""
    return index_shape(cfg.max_layers)


def acc_shape(cfg) -> Shape:
    return signed(cfg.acc_bits)


def act_word_layout(cfg) -> data.ArrayLayout:
    """One activation-bank word: lane ``p`` is storage position ``word * n_pe + p``."""
    return data.ArrayLayout(act_shape(cfg), cfg.n_pe)


def ptr_index_shape(cfg) -> Shape:
    """``ptr_base + j``: the pointer index of a layer's column j (wide enough for any such sum)."""
    ptr_base = Shape.cast(layer_desc_layout(cfg)["ptr_base"].shape)
    return unsigned(max(ptr_base.width, col_shape(cfg).width) + 1)


def bcast_layout(cfg) -> data.StructLayout:
    """A broadcast pair as held in the activation queues: ``ptr = ptr_base + j`` (column j's first pointer
    index) and a_j."""
    return _with_row(cfg, {"ptr": ptr_index_shape(cfg), "act": act_shape(cfg)})


def column_layout(cfg) -> data.StructLayout:
    """A PE's slice of one column: entry addresses ``start .. end-1`` and the column's activation."""
    return _with_row(cfg, {"start": ptr_shape(cfg), "end": ptr_shape(cfg), "act": act_shape(cfg)})


def issue_layout(cfg) -> data.StructLayout:
    """One sparse-matrix entry on its way to the arithmetic unit. ``first``: first entry of its slice."""
    return _with_row(cfg, {"entry": entry_layout(cfg), "first": unsigned(1), "act": act_shape(cfg)})


def mem_addr_shape(cfg, mem: Mem) -> Shape:
    return index_shape(mem_depth(cfg, mem))


def mem_write_signature(addr_shape, data_shape) -> wiring.Signature:
    """A memory write port as seen from the writer."""
    return wiring.Signature({"addr": Out(addr_shape), "data": Out(data_shape), "en": Out(1)})


def mem_read_signature(addr_shape, data_shape) -> wiring.Signature:
    """A synchronous memory read port as seen from the reader: address at t, data at t+1, data held while
    ``en`` is low."""
    return wiring.Signature({"addr": Out(addr_shape), "en": Out(1), "data": In(data_shape)})


def pe_load_signature(cfg) -> wiring.Signature:
    """The load port as fanned out to one PE: ``en`` is high when the load word targets this PE."""
    layout = load_word_layout(cfg)
    return wiring.Signature({"en": Out(1), "mem": Out(layout["mem"].shape), "addr": Out(layout["addr"].shape),
                             "data": Out(layout["data"].shape)})


def control_signature(cfg) -> wiring.Signature:
    """What the controller tells the datapath every cycle.

    ``phase``/``step``: current phase and cycle within it (0 .. out_slots in INIT, 0 .. out_slots + 2 in WB, + 1 on
    a requantising engine; in
    COMPUTE 0 only at its first cycle). ``layer``: current layer. ``desc``: its registered descriptor (valid from INIT on).
    ``start``: high in the cycle ``start`` is sampled (cycle -1); clears the counters and per-run state.
    ``slot_read``: ``step < out_slots`` in INIT and WB (registered; meaningless in the other phases).

    A convolution engine adds (docs/engine.md, "Convolution layers"): ``slot_read`` is ``step < acc_slots`` in
    INIT and ``step < wb_reads`` in WB; ``bias_slot``: the INIT bias read's offset ``step mod out_slots``;
    ``wb_slot``: the accumulator slot WB reads at this step; ``win_first``: that read starts a pooling window
    (every read without pooling); ``wb_write`` / ``wb_word``: write-back writes the destination bank at word
    ``wb_word`` this cycle (3 cycles after the read that completed a window, 4 with pooling). A requantising
    convolution engine also gives ``wb_channel``: the output channel slot ``t`` of the WB read (its multiplier's
    offset from ``bias_base``); the write comes one cycle later (docs/engine.md, "Requantisation").
    """
    fields = {
        "phase": Out(Phase), "step": Out(slot_shape(cfg)), "layer": Out(layer_shape(cfg)),
        "desc": Out(layer_desc_layout(cfg)), "start": Out(1), "slot_read": Out(1),
    }
    if cfg.conv:
        fields.update({"bias_slot": Out(acc_addr_shape(cfg)), "wb_slot": Out(acc_addr_shape(cfg)),
                       "win_first": Out(1), "wb_write": Out(1), "wb_word": Out(acc_addr_shape(cfg))})
        if cfg.requant:
            fields["wb_channel"] = Out(acc_addr_shape(cfg))
    return wiring.Signature(fields)
