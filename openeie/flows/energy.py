"""Energy per inference of a compiled network or of EIE benchmark layers, with the SRAM-vs-DRAM comparison
(``openeie energy``)."""

from __future__ import annotations

import numpy as np

__all__ = ["network_energy", "eie_energy", "summarise"]


def _sum(dicts):
    out = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0.0) + v
    return out


def _layer_row(name, cfg, stats, work, table) -> dict:
    from openeie.sim.energy import energy, scenarios
    b = energy(stats, cfg, table)
    return {"name": name, "total_pj": sum(b.values()), "breakdown_pj": b,
            "scenarios": scenarios(stats, cfg, [work], table), "cycles": stats.cycles,
            "saturations": int(stats.counters["acc_saturations"] + stats.counters["out_saturations"])}


def network_energy(program, x_q, table, layer: str | None = None) -> list:
    """Per-layer energy rows of ``program``, each the mean over the inputs ``x_q`` (``(batch, n_in)`` fixed
    point); ``layer`` picks one layer by name."""
    from openeie.errors import InputError
    from openeie.sim import cycle
    from openeie.sim.energy import dense_work
    names = [l.name for l in program.layers]
    if layer is not None and layer not in names:
        raise InputError(f"unknown layer {layer!r}: expected one of {names}")
    rows = {name: [] for name in names}
    for x in np.atleast_2d(x_q):
        _, _, timings = cycle.run(program, x)
        for info, t in zip(program.layers, timings):
            rows[info.name].append(_layer_row(info.name, program.config, t.stats(), dense_work(info), table))
    out = []
    for name in names:
        if layer is None or name == layer:
            runs = rows[name]
            mean = {k: float(np.mean([r[k] for r in runs])) for k in ("total_pj", "cycles", "saturations")}
            mean.update(name=name, breakdown_pj={k: float(np.mean([r["breakdown_pj"][k] for r in runs]))
                                                 for k in runs[0]["breakdown_pj"]},
                        scenarios={k: float(np.mean([r["scenarios"][k] for r in runs])) for k in runs[0]["scenarios"]})
            out.append(mean)
    return out


def eie_energy(cfg, table, layer: str | None = None, seed: int = 0) -> tuple:
    """Energy rows of the EIE benchmark layers (each on its own seeded input at the layer's activation density)
    on ``cfg``'s formats, PEs and queues. Memory depths too small for a layer are grown to fit it (never
    shrunk). Returns ``(rows, grown)``: ``grown[layer]`` names the depths that were grown, with their values."""
    from openeie.flows.bench import eie_layer_program, fit_config
    from openeie.compiler.benchmarks import EIE_LAYERS, eie_layer
    from openeie.sim import cycle
    if layer is not None:
        eie_layer(layer)
    rows, grown = [], {}
    for i, bl in enumerate(EIE_LAYERS):
        if layer is not None and bl.name != layer:
            continue
        layer_cfg, changes = fit_config(cfg, bl.n_in, bl.n_out)
        program, x_q, used = eie_layer_program(bl, layer_cfg, seed=seed + 10 * i)
        if used.spmat_depth_words != layer_cfg.spmat_depth_words:
            changes["spmat_depth_words"] = used.spmat_depth_words
        grown[bl.name] = changes
        _, stats, _ = cycle.run(program, x_q)
        rows.append(_layer_row(bl.name, used, stats, (bl.n_in * bl.n_out,) * 2, table))
    return rows, grown


def summarise(rows: list, table, source: str) -> dict:
    """Totals of per-layer energy rows (JSON-ready)."""
    breakdown = _sum(r["breakdown_pj"] for r in rows)
    sc = _sum({k: v for k, v in r["scenarios"].items() if k.endswith("_pj")} for r in rows)
    sc["dense_over_sram"] = sc["dense_fp32_dram_pj"] / sc["compressed_sram_pj"]
    sc["compressed_dram_over_sram"] = sc["compressed_dram_pj"] / sc["compressed_sram_pj"]
    total = sum(breakdown.values())
    return {"source": source, "table": table.name, "total_pj": total, "per_inference_uj": total / 1e6,
            "breakdown_pj": breakdown, "scenarios": sc, "layers": rows,
            "saturations": int(sum(r["saturations"] for r in rows))}
