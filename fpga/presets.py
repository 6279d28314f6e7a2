"""Engine configurations sized for each FPGA (the defaults of ``openeie synth`` when no ``--config`` is given).

Sizing rules, from the block RAM geometry (every per-PE memory and each activation lane costs whole blocks):

* ``up5k`` (iCE40UP5K: 5280 LCs, 30 EBRs of 256 x 16, 4 SPRAMs of 16384 x 16, 8 DSPs): 2 entries per
  sparse-matrix word make a 16-bit word, so each PE's sparse matrix is exactly one SPRAM (32768 entries per PE).
  EBRs hold the rest: per PE two pointer banks, codebook, bias and accumulators, plus the activation banks and
  two for the counters' high parts; 30 EBRs allow 4 PEs only with 8-bit activations and weights and 16-bit
  accumulators (one EBR wide each: 26 EBRs; 16-bit activations need 34).
  A small queue and layer table save logic cells, which are the tightest resource; the layer table still holds
  the three layers of the bundled digits MLP (64-300-100-10), and 128 activations per PE and bank hold its
  300-wide layer (75 rows per PE) in the same EBRs as 64 did (an EBR is 256 deep).
* ``85k`` / ``25k`` (ECP5: DP16KD blocks of 512 x 36 / 1024 x 18, 18x18 multipliers): EIE's 16-bit formats and
  8 entries per 64-bit word; 512 words (4096 entries) per PE take two blocks, each pointer bank of up to 1024
  pointers one block, accumulators one block; biases and codebooks are small enough for LUT RAM.
"""

from __future__ import annotations

from openeie.config import EngineConfig
from openeie.errors import InputError

__all__ = ["PRESETS", "BOARD_PRESETS", "preset", "board_preset", "named_preset", "preset_names"]

PRESETS = {
    "up5k": EngineConfig(n_pe=4, fifo_depth=4, code_bits=4, rel_index_bits=4, weight_bits=8, weight_frac_bits=6,
                         act_bits=8, act_frac_bits=4, acc_bits=16, entries_per_word=2, spmat_depth_words=16384,
                         ptr_depth=512, act_depth=128, bias_depth=128, max_layers=3),
    "25k": EngineConfig(n_pe=8, fifo_depth=8, entries_per_word=8, spmat_depth_words=512, ptr_depth=2048,
                        act_depth=64, bias_depth=32, max_layers=4),
    "85k": EngineConfig(n_pe=32, fifo_depth=8, entries_per_word=8, spmat_depth_words=512, ptr_depth=2048,
                        act_depth=64, bias_depth=32, max_layers=4),
}


#: What ``openeie synth --board`` builds by default: configurations that route in minutes and close timing at
#: the board's clock (the 32-PE 85k preset fits the ECP5-85F but takes far longer to place and route; see
#: fpga/README.md).
BOARD_PRESETS = {
    "icebreaker": PRESETS["up5k"],
    "ulx3s-85f": PRESETS["85k"].replace(n_pe=16),
    "orangecrab-85f": PRESETS["85k"].replace(n_pe=16),
}


def _lookup(table: dict, kind: str, key: str) -> EngineConfig:
    try:
        return table[key]
    except KeyError:
        raise InputError(f"no preset configuration for {kind} {key!r}: expected one of "
                         f"{', '.join(table)}") from None


def board_preset(board: str) -> EngineConfig:
    """The engine configuration ``openeie synth --board`` builds by default."""
    return _lookup(BOARD_PRESETS, "board", board)


def preset(device: str) -> EngineConfig:
    """The engine configuration sized for ``device``."""
    return _lookup(PRESETS, "device", device)


def named_preset(name: str) -> tuple:
    """``(kind, config)`` of the preset ``name``, a board (:data:`BOARD_PRESETS`) or a device (:data:`PRESETS`);
    ``kind`` is ``"board"`` or ``"device"``."""
    if name in BOARD_PRESETS:
        return "board", BOARD_PRESETS[name]
    if name in PRESETS:
        return "device", PRESETS[name]
    raise InputError(f"no preset {name!r}: expected a board ({', '.join(BOARD_PRESETS)}) or a device "
                     f"({', '.join(PRESETS)})")


def preset_names(cfg: EngineConfig) -> list:
    """The names of the presets equal to ``cfg`` (boards first; e.g. ``["icebreaker", "up5k"]``)."""
    return [name for name, c in {**BOARD_PRESETS, **PRESETS}.items() if c == cfg]
