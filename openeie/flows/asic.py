"""ASIC estimate of the engine at 45 nm (``openeie asic``): area and power with breakdowns, beside EIE's chip.

* Logic: :func:`openeie.fpga.gates.block_gates` (Yosys generic synthesis per block, memories kept apart), priced
  by :meth:`openeie.sim.area.AreaTable.logic` (NanGate 45 nm cells, utilisation, wiring, leakage, clock).
* Memories: every ``$mem_v2`` the synthesis reports, priced by :meth:`~openeie.sim.area.AreaTable.memory` (CACTI
  7.0 fits; register files below the table's threshold), so memory area tracks the configured depths.
* Power: the energy model's per-access energies times the access counts of real cycle-model runs
  (:func:`openeie.sim.energy.energy` through :mod:`openeie.flows.energy`), over the runs' time at ``clock_mhz``,
  plus the clock of every flip-flop and the leakage (:func:`openeie.sim.area.power`).

Not modelled: the switching of registers and gates other than the priced operations (the energy model prices
memory accesses, queue pushes and pops, and the multiply-adds), wires between blocks, I/O pads, and the
placement of the SRAM macros (their area is summed, not floor-planned).
"""

from __future__ import annotations

__all__ = ["EIE_CHIP", "PER_PE_COMPONENTS", "asic_estimate", "bench_workload", "network_workload", "estimate_point"]

#: EIE's chip as published ([EIE] Han et al., ISCA 2016): 64 PEs at 45 nm and 800 MHz; about 93 % of a PE's
#: area is SRAM (the paper's breakdown).
EIE_CHIP = {"n_pe": 64, "node_nm": 45, "clock_mhz": 800.0, "area_mm2": 40.8, "power_w": 0.59,
            "sram_area_fraction": 0.93,
            "source": "Han et al., 'EIE: Efficient Inference Engine on Compressed Deep Neural Network', ISCA 2016"}

#: Energy-model components that belong to the PEs (the rest, activation banks and DRAM, are shared).
PER_PE_COMPONENTS = ("pointer_sram", "spmat_sram", "codebook", "accumulators", "bias_sram", "queues", "mac")


def bench_workload(cfg, table, layer: str | None = None, seed: int = 0) -> dict:
    """Dynamic energy and cycles of EIE benchmark layers on ``cfg`` (each on its seeded input, back to back), and
    the configuration whose memories hold every layer run (depths grown as ``openeie energy`` grows them)."""
    from .energy import eie_energy
    rows, grown = eie_energy(cfg, table, layer, seed)
    need = {}
    for changes in grown.values():
        for k, v in changes.items():
            need[k] = max(need.get(k, 0), v)
    return {"source": f"EIE benchmark ({layer or 'all layers'}, seed {seed})", "rows": rows, "grown_memories": grown,
            "config": cfg.replace(**{k: v for k, v in need.items() if v > getattr(cfg, k)})}


def network_workload(program, x_q, table, layer: str | None = None, source: str = "network") -> dict:
    """Dynamic energy and cycles per inference of a compiled network (means over the inputs ``x_q``)."""
    from .energy import network_energy
    return {"source": source, "rows": network_energy(program, x_q, table, layer), "grown_memories": {},
            "config": program.config}


def _priced_blocks(gates: dict, cfg, area_table) -> dict:
    out = {}
    for name, b in gates["blocks"].items():
        copies = cfg.n_pe if b["per_pe"] else 1
        logic = area_table.logic(b["gates"])
        memories = []
        for m in b["memories"]:
            cost = area_table.memory(m["depth"], m["width_bits"], max(1, m["read_ports"]))
            memories.append({"name": m["name"], "depth": m["depth"], "width_bits": m["width_bits"], "kind": cost.kind,
                             "arrays": cost.arrays, "area_mm2": cost.area_mm2, "read_pj": cost.read_pj,
                             "write_pj": cost.write_pj, "leakage_mw": cost.leakage_mw,
                             "clock_pj_per_cycle": cost.clock_pj_per_cycle})
        mem_area = sum(m["area_mm2"] for m in memories)
        out[name] = {
            "per_pe": b["per_pe"], "copies": copies, "gate_count": b["gate_count"], "flip_flops": b["flip_flops"],
            "cell_area_um2": logic.cell_area_um2, "logic_area_mm2": copies * logic.area_mm2,
            "memory_area_mm2": copies * mem_area, "area_mm2": copies * (logic.area_mm2 + mem_area),
            "leakage_mw": copies * (logic.leakage_mw + sum(m["leakage_mw"] for m in memories)),
            "clock_pj_per_cycle": copies * (logic.clock_pj_per_cycle + sum(m["clock_pj_per_cycle"] for m in memories)),
            "memories": memories,
        }
    return out


def estimate_point(cfg, dynamic_pj: dict, cycles: int, clock_mhz: float, area_table=None,
                   cache_dir=".cache/openeie") -> dict:
    """Area and power of ``Engine(cfg)`` for a run of ``cycles`` that spent ``dynamic_pj`` (per energy-model
    component) at ``clock_mhz``: the core of :func:`asic_estimate` (also used by the sweep's ASIC columns)."""
    from openeie.errors import check_number
    from openeie.fpga.gates import block_gates
    from openeie.sim.area import load_area_table, power
    clock_mhz = check_number(clock_mhz, "clock_mhz", 0.0, low_open=True)
    area_table = area_table or load_area_table()
    gates = block_gates(cfg, cache_dir)
    blocks = _priced_blocks(gates, cfg, area_table)
    clock_pj = sum(b["clock_pj_per_cycle"] for b in blocks.values())
    leakage = sum(b["leakage_mw"] for b in blocks.values())
    p = power(dynamic_pj, int(round(cycles)), clock_mhz, clock_pj, leakage)
    area = sum(b["area_mm2"] for b in blocks.values())
    memory_area = sum(b["memory_area_mm2"] for b in blocks.values())
    sram_area = sum(b["copies"] * m["area_mm2"] for b in blocks.values() for m in b["memories"] if m["kind"] == "sram")
    n = cfg.n_pe
    pe_blocks = [b for b in blocks.values() if b["per_pe"]]
    pe_share_clock = sum(b["clock_pj_per_cycle"] for b in pe_blocks) * clock_mhz * 1e-3
    per_pe = {"area_mm2": sum(b["area_mm2"] for b in pe_blocks) / n,
              "power_mw": (sum(v for k, v in p["dynamic_mw"].items() if k in PER_PE_COMPONENTS) + pe_share_clock
                           + sum(b["leakage_mw"] for b in pe_blocks)) / n}
    return {"area_mm2": area, "memory_area_mm2": memory_area, "sram_area_mm2": sram_area,
            "logic_area_mm2": area - memory_area, "sram_area_fraction": sram_area / area,
            "power_mw": p["total_mw"], "dynamic_mw": p["dynamic_mw"], "clock_mw": p["clock_mw"],
            "leakage_mw": p["leakage_mw"], "time_us": p["time_us"], "cycles": int(round(cycles)),
            "per_pe": per_pe, "blocks": blocks, "gates_cached": gates["cached"], "gates_seconds": gates["seconds"],
            "gate_flow": gates["script"], "area_table": area_table.name}


def asic_estimate(workload: dict, clock_mhz: float, energy_table, area_table=None, cache_dir=".cache/openeie") -> dict:
    """Area and power of the engine that ran ``workload`` (:func:`bench_workload` or :func:`network_workload`) at
    ``clock_mhz``, with EIE's published figures beside it (JSON-ready)."""
    cfg = workload["config"]
    rows = workload["rows"]
    dynamic = {}
    for r in rows:
        for k, v in r["breakdown_pj"].items():
            dynamic[k] = dynamic.get(k, 0.0) + v
    cycles = sum(r["cycles"] for r in rows)
    result = estimate_point(cfg, dynamic, cycles, clock_mhz, area_table, cache_dir)
    result.update({"source": workload["source"], "config": cfg.to_dict(), "clock_mhz": clock_mhz,
                   "energy_table": energy_table.name, "grown_memories": workload["grown_memories"],
                   "energy_pj": sum(dynamic.values()), "layers": [{"name": r["name"], "cycles": r["cycles"],
                                                                   "energy_pj": r["total_pj"]} for r in rows]})
    comparable = cfg.n_pe == EIE_CHIP["n_pe"] and clock_mhz == EIE_CHIP["clock_mhz"]
    result["eie"] = {**EIE_CHIP, "comparable": comparable,
                     "area_ratio": result["area_mm2"] / EIE_CHIP["area_mm2"],
                     "power_ratio": result["power_mw"] / 1e3 / EIE_CHIP["power_w"]}
    return result
