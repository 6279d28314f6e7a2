"""Energy model: a pure function of the engine's access counters and a sourced energy table.

``energy(stats, cfg, table)`` prices every counted access and operation (counter names in
:mod:`openeie.stats`) with the table's laws (``sim/energy_45nm.yaml`` by default; the laws are stated there) and
returns picojoules per component. Memory sizes come from the configuration: each PE's sparse-matrix SRAM is
``spmat_depth_words x spmat_word_bits``, a pointer bank ``ptr_bank_depth x ptr_bits``, and so on.

Components: ``pointer_sram``, ``spmat_sram``, ``codebook``, ``activation_sram``, ``accumulators``, ``bias_sram``,
``queues``, ``mac`` (on a requantising engine also the write-back's product and rounding add per output),
``dram``.

Scenarios for the same work (:func:`scenarios`):

* ``dense_fp32_dram``: the uncompressed layer, fp32 weights streamed from DRAM, an fp32 multiply-add per weight
  (every weight, every input: no sparsity is exploited);
* ``compressed_dram``: the engine, but sparse-matrix words and pointers are read from DRAM;
* ``compressed_sram``: the engine as built: everything on chip (the EIE case).
"""

from __future__ import annotations

import math
from importlib import resources

import yaml

from openeie.config import EngineConfig
from openeie.errors import FileInputError, OpenEIEError, check_type
from openeie.files import read_text
from openeie.layout import Mem, mem_word_bits
from openeie.stats import Stats

__all__ = ["EnergyTable", "EnergyTableError", "load_table", "energy", "sram_sizes", "per_access_pj", "scenarios",
           "dense_work", "dense_fp32_dram_pj", "COMPONENTS"]

COMPONENTS = ("pointer_sram", "spmat_sram", "codebook", "activation_sram", "accumulators", "bias_sram", "queues",
              "mac", "dram")


class EnergyTableError(OpenEIEError, ValueError):
    """An energy table that is missing a figure or holds one the laws cannot use."""


class EnergyTable:
    """Energy laws read from a table file (see ``sim/energy_45nm.yaml`` for the format).

    Every figure must be a finite number >= 0; the ones the laws divide by (``ref_bits``, ``ref_bytes``,
    ``ref_width_bits``) must be > 0."""

    _REQUIRED = {"int_add": ("ref_bits", "ref_pj"), "int_mult": ("ref_bits", "ref_pj"),
                 "float32": ("add_pj", "mult_pj"),
                 "sram": ("ref_bytes", "ref_width_bits", "ref_pj", "exponent", "min_bytes"),
                 "dram": ("pj_per_bit",)}
    _DIVISORS = {("int_add", "ref_bits"), ("int_mult", "ref_bits"), ("sram", "ref_bytes"),
                 ("sram", "ref_width_bits")}

    def __init__(self, data: dict, origin: str = "table"):
        if not isinstance(data, dict):
            raise EnergyTableError(f"energy table {origin}: holds a {type(data).__name__}: expected a mapping at "
                                   f"the top level")
        for section, keys in self._REQUIRED.items():
            if not isinstance(data.get(section), dict):
                raise EnergyTableError(f"energy table {origin}: section {section!r} is missing")
            for k in keys:
                v = data[section].get(k)
                positive = (section, k) in self._DIVISORS
                if (not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0
                        or (positive and v == 0)):
                    raise EnergyTableError(f"energy table {origin}: {section}.{k} = {v!r}: expected a finite number "
                                           f"{'> 0' if positive else '>= 0'}")
        self.data = data
        self.name = str(data.get("name", origin))

    def add_pj(self, bits: int) -> float:
        t = self.data["int_add"]
        return t["ref_pj"] * bits / t["ref_bits"]

    def mult_pj(self, a_bits: int, b_bits: int) -> float:
        t = self.data["int_mult"]
        return t["ref_pj"] * a_bits * b_bits / t["ref_bits"] ** 2

    def sram_pj(self, size_bytes: float, width_bits: int) -> float:
        """Energy of one access of ``width_bits`` to an array of ``size_bytes``, in pJ."""
        t = self.data["sram"]
        return t["ref_pj"] * (width_bits / t["ref_width_bits"]) * \
            (max(size_bytes, t["min_bytes"]) / t["ref_bytes"]) ** t["exponent"]

    def dram_pj(self, bits: int) -> float:
        return self.data["dram"]["pj_per_bit"] * bits

    @property
    def fp32_mac_pj(self) -> float:
        return self.data["float32"]["add_pj"] + self.data["float32"]["mult_pj"]


def read_table(path, default: str, what: str, error=None) -> tuple:
    """``(data, origin)`` of a YAML/JSON table: the packaged file ``default`` when ``path`` is None, else the
    user's file; one ``error`` (default :class:`EnergyTableError`) naming the file when it cannot be read or
    parsed."""
    error = error or EnergyTableError
    if path is None:
        text = resources.files("openeie.sim").joinpath(default).read_text()
        origin = default
    else:
        try:
            text = read_text(path, what)
        except FileInputError as e:
            raise error(str(e)) from None
        origin = repr(str(path))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise error(f"{what} {origin} is not valid YAML/JSON: {' '.join(str(e).split())}") from None
    return data, origin


def load_table(path=None) -> EnergyTable:
    """The default 45 nm table, or a user's YAML/JSON table file."""
    return EnergyTable(*read_table(path, "energy_45nm.yaml", "energy table"))


def sram_sizes(cfg) -> dict:
    """The SRAM arrays the energy model prices, per PE: component -> ``(size in bytes, word width in bits)``."""
    act_words = cfg.act_depth
    bias_bits = mem_word_bits(cfg, Mem.BIAS)      # a requantising engine's words also hold the multipliers
    col_bits = max(1, (cfg.max_columns - 1).bit_length())
    return {
        "pointer_sram": (cfg.ptr_bank_depth * cfg.ptr_bits / 8, cfg.ptr_bits),
        "spmat_sram": (cfg.spmat_depth_words * cfg.spmat_word_bits / 8, cfg.spmat_word_bits),
        "codebook": (cfg.codebook_depth * cfg.weight_bits / 8, cfg.weight_bits),
        "activation_sram": (act_words * cfg.act_bits / 8, cfg.act_bits),
        "accumulators": (act_words * cfg.acc_bits / 8, cfg.acc_bits),
        "bias_sram": (cfg.bias_depth * bias_bits / 8, bias_bits),
        "queue": (cfg.fifo_depth * (cfg.act_bits + col_bits) / 8, cfg.act_bits + col_bits),
    }


def per_access_pj(cfg, table: EnergyTable) -> dict:
    """Energy per counted access in pJ, per component (the keys of :func:`sram_sizes`, ``mac`` and ``requant``):
    the one place the table's laws meet the memory sizes."""
    return {
        **{name: table.sram_pj(size, width) for name, (size, width) in sram_sizes(cfg).items()},
        "mac": table.mult_pj(cfg.weight_bits, cfg.act_bits) + table.add_pj(cfg.acc_bits),
        # a requantising write-back: one accumulator x multiplier product and its rounding add per output
        "requant": (table.mult_pj(cfg.acc_bits, cfg.mult_bits) + table.add_pj(cfg.acc_bits + cfg.mult_bits)
                    if cfg.requant else 0.0),
    }


def energy(stats: Stats, cfg, table: EnergyTable | None = None, weights_in_dram: bool = False) -> dict:
    """Energy breakdown in pJ of the work counted in ``stats`` (one run), per component in :data:`COMPONENTS`.

    With ``weights_in_dram`` the sparse-matrix words and pointers are read from DRAM instead of SRAM.
    """
    check_type(stats, Stats, "stats")
    check_type(cfg, EngineConfig, "cfg")
    table = check_type(table, EnergyTable, "table") if table is not None else load_table()
    e = per_access_pj(cfg, table)
    c = stats.counters
    out = dict.fromkeys(COMPONENTS, 0.0)
    if weights_in_dram:
        out["dram"] = table.dram_pj(c["spmat_reads"] * cfg.spmat_word_bits + c["ptr_reads"] * cfg.ptr_bits)
    else:
        out["pointer_sram"] = c["ptr_reads"] * e["pointer_sram"]
        out["spmat_sram"] = c["spmat_reads"] * e["spmat_sram"]
    out["codebook"] = c["codebook_reads"] * e["codebook"]
    out["activation_sram"] = (c["act_reads"] + c["act_writes"]) * e["activation_sram"]
    out["accumulators"] = (c["acc_reads"] + c["acc_writes"]) * e["accumulators"]
    out["bias_sram"] = c["bias_reads"] * e["bias_sram"]
    out["queues"] = 2 * c["fifo_pushes"] * e["queue"]           # every pushed pair is also popped
    out["mac"] = c["macs"] * e["mac"] + c["act_writes"] * e["requant"]
    return out


def dense_work(info) -> tuple:
    """``(weights, macs)`` of the uncompressed version of a compiled layer (a :class:`~openeie.program.LayerInfo`):
    its dense weights, and one multiply-add per weight per output position (a fully connected layer has one)."""
    return info.weight_count, info.weight_count * info.out_h * info.out_w


def dense_fp32_dram_pj(weights: int, macs: int | None = None, table: EnergyTable | None = None) -> float:
    """The uncompressed layer: each of its ``weights`` fp32 weights read once from DRAM, and ``macs`` fp32
    multiply-adds (default one per weight, as in a fully connected layer), in pJ."""
    table = table or load_table()
    return weights * table.dram_pj(32) + (weights if macs is None else macs) * table.fp32_mac_pj


def scenarios(stats: Stats, cfg, work, table: EnergyTable | None = None) -> dict:
    """The SRAM-vs-DRAM comparison for the work in ``stats``. ``work`` lists ``(weights, macs)`` of the dense
    layers the run covered (:func:`dense_work`). Energies in pJ; ratios relative to the on-chip (EIE) case."""
    table = table or load_table()
    sram = sum(energy(stats, cfg, table).values())
    dram = sum(energy(stats, cfg, table, weights_in_dram=True).values())
    dense = sum(dense_fp32_dram_pj(w, m, table) for w, m in work)
    return {"dense_fp32_dram_pj": dense, "compressed_dram_pj": dram, "compressed_sram_pj": sram,
            "dense_over_sram": dense / sram, "compressed_dram_over_sram": dram / sram}
