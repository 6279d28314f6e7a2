"""``openeie energy``: energy per inference of a network or an EIE benchmark layer, with the SRAM-vs-DRAM
comparison."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["energy_report"]


def _sum(dicts):
    out = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0.0) + v
    return out


def energy_report(target=None, config_path=None, bench=None, layer=None, table_path=None, seed=0, json_path=None,
                  printer=print) -> dict:
    """Energy of one inference. ``target``: network file or images; or ``bench='eie'`` with an optional ``layer``
    name (default: every EIE layer, each on its own seeded input)."""
    from .config import EngineConfig
    from .sim import cycle
    from .sim.energy import energy, load_table, scenarios
    table = load_table(table_path)
    cfg = EngineConfig.load(config_path) if config_path else None
    items = []     # (name, cfg, layer stats, (n_in, n_out))
    if bench is not None:
        if bench != "eie":
            raise ValueError(f"unknown benchmark {bench!r}: expected 'eie'")
        from .bench import eie_config, eie_layer_program
        from .benchmarks import EIE_LAYERS
        names = [l.name for l in EIE_LAYERS]
        if layer is not None and layer not in names:
            raise ValueError(f"unknown EIE layer {layer!r}: expected one of {names}")
        base = eie_config(cfg.n_pe if cfg else 64, cfg.fifo_depth if cfg else 8)
        for i, bl in enumerate(EIE_LAYERS):
            if layer is not None and bl.name != layer:
                continue
            program, x_q, used = eie_layer_program(bl, base, seed=seed + 10 * i)
            _, stats, timing = cycle.run(program, x_q, values=False)
            items.append((bl.name, used, stats, (bl.n_in, bl.n_out)))
        source = f"EIE benchmark ({layer or 'all layers'})"
    else:
        if target is None:
            raise ValueError("give a network/images path or --bench eie")
        from .sim import golden
        from .simulate import load_inputs, load_target
        program = load_target(target, cfg)
        x_q = golden.quantize_input(program.config, load_inputs(None, program, seed))[0]
        _, stats, timings = cycle.run(program, x_q)
        names = [l.name for l in program.layers]
        if layer is not None and layer not in names:
            raise ValueError(f"unknown layer {layer!r}: expected one of {names}")
        for info, t in zip(program.layers, timings):
            if layer is None or info.name == layer:
                items.append((info.name, program.config, t.stats(), (info.n_in, info.n_out)))
        source = str(target)
    per_layer = []
    for name, c, stats, shape in items:
        b = energy(stats, c, table)
        per_layer.append({"name": name, "total_pj": sum(b.values()), "breakdown_pj": b,
                          "scenarios": scenarios(stats, c, [shape], table), "cycles": stats.cycles})
    breakdown = _sum(l["breakdown_pj"] for l in per_layer)
    sc = _sum({k: v for k, v in l["scenarios"].items() if k.endswith("_pj")} for l in per_layer)
    sc["dense_over_sram"] = sc["dense_fp32_dram_pj"] / sc["compressed_sram_pj"]
    sc["compressed_dram_over_sram"] = sc["compressed_dram_pj"] / sc["compressed_sram_pj"]
    total = sum(breakdown.values())
    result = {"source": source, "table": table.name, "total_pj": total, "per_inference_uj": total / 1e6,
              "breakdown_pj": breakdown, "scenarios": sc, "layers": per_layer}
    printer(f"energy of one inference, {source}, table: {table.name}")
    for k, v in sorted(breakdown.items(), key=lambda kv: -kv[1]):
        if v:
            printer(f"  {k:<16} {v / 1e3:>12.2f} nJ  {100 * v / total:5.1f} %")
    printer(f"  {'total':<16} {total / 1e3:>12.2f} nJ  ({total / 1e6:.4f} uJ per inference)")
    printer(f"  dense fp32 weights from DRAM: {sc['dense_fp32_dram_pj'] / 1e3:.1f} nJ "
            f"({sc['dense_over_sram']:.0f}x the on-chip engine); compressed weights from DRAM: "
            f"{sc['compressed_dram_pj'] / 1e3:.1f} nJ ({sc['compressed_dram_over_sram']:.1f}x)")
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2) + "\n")
    return result
