"""ASIC area and static power at 45 nm: pure functions of memory shapes, gate counts and a sourced table.

``load_area_table()`` reads ``sim/area_45nm.yaml`` (or a user's table in its format); every law and coefficient is
stated and sourced there:

* :meth:`AreaTable.memory` prices one memory of ``depth x width`` bits: an SRAM macro from the CACTI 7.0 fits
  (area, read and write energy per access, leakage), or below ``register_file.max_bits`` a register file of
  flip-flops and multiplexers priced with the NanGate 45 nm cells;
* :meth:`AreaTable.logic` prices a gate count (Yosys generic gate types -> NanGate X1 cells), with the placement
  utilisation, the wiring factor, the leakage per um2 and the clock energy of its flip-flops;
* :func:`power` combines a run's dynamic energy (the energy model's per-access energies times the cycle model's
  access counts, :func:`openeie.sim.energy.energy`) over its run time with the clock and leakage terms.

Nothing here runs a tool: the gate counts come from :mod:`openeie.fpga.gates`, the access counts from
:mod:`openeie.sim.cycle`; :mod:`openeie.flows.asic` joins them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from openeie.errors import check_int, check_number

from .energy import EnergyTableError, read_table

__all__ = ["AreaTable", "AreaTableError", "MemoryCost", "LogicCost", "load_area_table", "power"]


class AreaTableError(EnergyTableError):
    """An area table that is missing a figure or holds one the laws cannot use (an energy-table error: the two
    tables are read and refused the same way)."""


@dataclass(frozen=True)
class MemoryCost:
    """One memory: ``kind`` ``"sram"`` (``arrays`` macros side by side) or ``"register_file"``."""
    kind: str
    depth: int
    width_bits: int
    arrays: int
    area_mm2: float
    read_pj: float
    write_pj: float
    leakage_mw: float
    clock_pj_per_cycle: float = 0.0     # a register file's flip-flops (SRAM clocking is in its access energies)

    @property
    def bits(self) -> int:
        return self.depth * self.width_bits


@dataclass(frozen=True)
class LogicCost:
    """Standard-cell logic: cell area, placed area (cells / utilisation x wiring), flip-flops, leakage and the
    clock energy per cycle of its flip-flops (tree included)."""
    cell_area_um2: float
    area_mm2: float
    flip_flops: int
    leakage_mw: float
    clock_pj_per_cycle: float


def _finite(v, positive: bool) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and (v > 0 if positive else v >= 0))


class AreaTable:
    """Area, leakage and clock laws read from a table file (see ``sim/area_45nm.yaml`` for the format)."""

    # section -> {key: must be > 0}
    _REQUIRED = {"sram": {"area_per_bit_um2": True, "periphery_um2": False, "max_width_bits": True},
                 "register_file": {"max_bits": False},
                 "logic": {"utilisation": True, "wiring_factor": True, "leakage_nw_per_um2": False},
                 "clock": {"ff_energy_fj": False, "tree_factor": False}}
    _LAWS = ("read", "write", "leak")
    #: Generic gate types every table must price (what :mod:`openeie.fpga.gates` maps to).
    GATES = ("$_NOT_", "$_BUF_", "$_NAND_", "$_NOR_", "$_AND_", "$_OR_", "$_XOR_", "$_XNOR_", "$_MUX_", "$_AOI3_",
             "$_OAI3_", "$_AOI4_", "$_OAI4_", "$_DFF_P_")

    def __init__(self, data, origin: str = "table"):
        def fail(what):
            raise AreaTableError(f"area table {origin}: {what}")
        if not isinstance(data, dict):
            fail(f"holds a {type(data).__name__}: expected a mapping at the top level")
        for section, keys in self._REQUIRED.items():
            if not isinstance(data.get(section), dict):
                fail(f"section {section!r} is missing")
            for key, positive in keys.items():
                v = data[section].get(key)
                if not _finite(v, positive):
                    fail(f"{section}.{key} = {v!r}: expected a finite number {'> 0' if positive else '>= 0'}")
        for law in self._LAWS:
            spec = data["sram"].get(law)
            if not isinstance(spec, dict):
                fail(f"sram.{law} is missing: expected {{coef, bits_exp{'' if law == 'leak' else ', width_exp'}}}")
            for key in ("coef", "bits_exp") + (() if law == "leak" else ("width_exp",)):
                if not _finite(spec.get(key), False):
                    fail(f"sram.{law}.{key} = {spec.get(key)!r}: expected a finite number >= 0")
        if data["logic"]["utilisation"] > 1:
            fail(f"logic.utilisation = {data['logic']['utilisation']!r}: expected a fraction in (0, 1]")
        cells = data["logic"].get("cell_area_um2")
        if not isinstance(cells, dict):
            fail("logic.cell_area_um2 is missing: expected a mapping of gate types to um2")
        for gate in self.GATES:
            if not _finite(cells.get(gate), True):
                fail(f"logic.cell_area_um2[{gate!r}] = {cells.get(gate)!r}: expected a finite number > 0")
        self.data = data
        self.name = str(data.get("name", origin))

    # ---- SRAM macros -----------------------------------------------------------------------------------------
    def sram_area_mm2(self, bits: float, width_bits: float) -> float:
        s = self.data["sram"]
        return (s["area_per_bit_um2"] * bits + s["periphery_um2"] * math.sqrt(bits * width_bits)) * 1e-6

    def _law(self, law: str, bits: float, width_bits: float = 1.0) -> float:
        s = self.data["sram"][law]
        return s["coef"] * bits ** s["bits_exp"] * width_bits ** s.get("width_exp", 0.0)

    def sram_read_pj(self, bits: float, width_bits: float) -> float:
        return self._law("read", bits, width_bits)

    def sram_write_pj(self, bits: float, width_bits: float) -> float:
        return self._law("write", bits, width_bits)

    def sram_leak_mw(self, bits: float) -> float:
        return self._law("leak", bits)

    # ---- memories ------------------------------------------------------------------------------------------
    def memory(self, depth: int, width_bits: int, read_ports: int = 1) -> MemoryCost:
        """The cost of a ``depth x width_bits`` memory with ``read_ports`` read ports (a register file's read
        multiplexers are per port; an SRAM macro is single-ported here: the engine's memories have one read and
        one write port, which the CACTI runs model as one read-write port)."""
        depth = check_int(depth, "memory depth", 1)
        width_bits = check_int(width_bits, "memory width_bits", 1)
        read_ports = check_int(read_ports, "memory read_ports", 0)
        bits = depth * width_bits
        if bits < self.data["register_file"]["max_bits"]:
            cells = self.data["logic"]["cell_area_um2"]
            um2 = (bits * (cells["$_DFF_P_"] + cells["$_MUX_"])
                   + read_ports * width_bits * (depth - 1) * cells["$_MUX_"])
            logic = self._placed(um2, flip_flops=bits)
            # Per-access energies: none of its own here (the energy model prices every access).
            return MemoryCost("register_file", depth, width_bits, 1, logic.area_mm2, 0.0, 0.0, logic.leakage_mw,
                              logic.clock_pj_per_cycle)
        arrays = -(-width_bits // int(self.data["sram"]["max_width_bits"]))
        w = width_bits / arrays
        b = depth * w
        return MemoryCost("sram", depth, width_bits, arrays, arrays * self.sram_area_mm2(b, w),
                          arrays * self.sram_read_pj(b, w), arrays * self.sram_write_pj(b, w),
                          arrays * self.sram_leak_mw(b))

    # ---- logic ---------------------------------------------------------------------------------------------
    def _placed(self, cell_area_um2: float, flip_flops: int) -> LogicCost:
        lg, ck = self.data["logic"], self.data["clock"]
        return LogicCost(cell_area_um2=cell_area_um2,
                         area_mm2=cell_area_um2 / lg["utilisation"] * lg["wiring_factor"] * 1e-6,
                         flip_flops=flip_flops,
                         leakage_mw=cell_area_um2 * lg["leakage_nw_per_um2"] * 1e-6,
                         clock_pj_per_cycle=flip_flops * ck["ff_energy_fj"] * ck["tree_factor"] * 1e-3)

    def logic(self, gates: dict) -> LogicCost:
        """The cost of a gate count ``{generic gate type: count}`` (:data:`GATES`; an unknown type is refused)."""
        cells = self.data["logic"]["cell_area_um2"]
        unknown = sorted(set(gates) - set(cells))
        if unknown:
            raise AreaTableError(f"area table {self.name!r} prices no gate type {unknown}: expected some of "
                                 f"{sorted(cells)}")
        um2 = sum(cells[g] * check_int(n, f"count of {g}", 0) for g, n in gates.items())
        return self._placed(um2, flip_flops=int(gates.get("$_DFF_P_", 0)))


def load_area_table(path=None) -> AreaTable:
    """The default 45 nm table, or a user's YAML/JSON table file."""
    return AreaTable(*read_table(path, "area_45nm.yaml", "area table", AreaTableError))


def power(dynamic_pj: dict, cycles: int, clock_mhz: float, clock_pj_per_cycle: float, leakage_mw: float) -> dict:
    """Average power of a run in mW: each dynamic component's energy (pJ, over the whole run) divided by the run
    time ``cycles / clock_mhz``, plus the clock (``clock_pj_per_cycle`` every cycle) and ``leakage_mw``.

    Returns ``{"dynamic_mw": {component: mW}, "clock_mw", "leakage_mw", "total_mw", "time_us"}``."""
    cycles = check_int(cycles, "cycles", 1)
    clock_mhz = check_number(clock_mhz, "clock_mhz", 0.0, low_open=True)
    time_us = cycles / clock_mhz
    dyn = {k: v / time_us * 1e-3 for k, v in dynamic_pj.items()}          # pJ / us = uW
    clock_mw = clock_pj_per_cycle * clock_mhz * 1e-3                        # pJ x MHz = uW
    total = sum(dyn.values()) + clock_mw + leakage_mw
    return {"dynamic_mw": dyn, "clock_mw": clock_mw, "leakage_mw": leakage_mw, "total_mw": total, "time_us": time_us}
