"""Plain-text tables and summaries printed by the commands."""

from __future__ import annotations

__all__ = ["compress_table", "bench_compile_lines", "bench_eie_lines", "simulate_lines", "energy_lines",
           "sweep_lines", "synth_summary", "asic_lines", "asic_markdown"]


def compress_table(report: dict) -> str:
    """A plain-text table of a :func:`openeie.compiler.compress.compress` report ([DC] Table 2 columns, plus pointers)."""
    head = (f"{'layer':<10}{'shape':>12}{'kept%':>7}{'fill':>6}{'w.bits':>7}{'i.bits':>7}{'w.huf':>7}"
            f"{'i.huf':>7}{'ptr b':>8}{'total b':>9}{'huff b':>9}{'rate':>7}{'rate H':>8}")
    lines = [head, "-" * len(head)]
    for r in report["storage"]["layers"] + [report["storage"]["total"]]:
        shape = "x".join(str(s) for s in r["shape"] or ()) or "-"
        lines.append(f"{r['name']:<10}{shape:>12}{r['kept_pct']:>7.2f}{r['fillers']:>6}{r['code_width_bits']:>7}"
                     f"{r['index_width_bits']:>7}{r['code_huffman_bits_per_entry']:>7.2f}"
                     f"{r['index_huffman_bits_per_entry']:>7.2f}{r['pointer_bits']:>8}{r['total_bits']:>9}"
                     f"{r['total_huffman_bits']:>9}{r['compression_ratio']:>6.1f}x{r['compression_ratio_huffman']:>7.1f}x")
    acc = report.get("accuracy") or {}
    if acc:
        lines.append("accuracy: " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in acc.items()))
    cfg = report["config"]
    lines.append(f"engine: n_pe={cfg['n_pe']} code_bits={cfg['code_bits']} rel_index_bits={cfg['rel_index_bits']} "
                 f"weight_bits={cfg['weight_bits']} act_bits={cfg['act_bits']} "
                 f"spmat_depth_words={cfg['spmat_depth_words']}")
    return "\n".join(lines)


def bench_compile_lines(r: dict) -> list:
    n_out, n_in = r["shape"]
    return [f"encode {r['layer']} ({n_out}x{n_in}, {r['density']:.0%} dense, {r['nnz']} non-zeros, {r['fillers']} "
            f"fillers) on {r['n_pe']} PEs: best of {len(r['seconds_all'])} = {r['seconds']:.3f} s",
            f"  {r['weights_per_s'] / 1e6:.1f} M weights/s (target >= {r['target_weights_per_s'] / 1e6:g} M weights/s: "
            f"{'met' if r['weights_per_s'] >= r['target_weights_per_s'] else 'NOT met'}), "
            f"{r['nnz_per_s'] / 1e6:.2f} M non-zeros/s"]


def bench_rtl_lines(r: dict) -> list:
    build = "reused" if r["build_s"] is None else f"{r['build_s']:.1f} s"
    met = "met" if r["cycles_per_s"] >= r["target_cycles_per_s"] else "NOT met"
    return [f"compiled RTL harness, {r['n_pe']} PEs: a {r['rows']}x{r['rows']} layer at {r['weight_density']:.0%}, "
            f"{r['inputs']} inputs at {r['act_density']:.0%} non-zero (build {build})",
            f"  free-running: {r['run_cycles']} cycles in {r['run_s']:.3f} s = {r['cycles_per_s'] / 1e6:.2f} M cycles/s "
            f"(target >= {r['target_cycles_per_s'] / 1e6:g} M at 8 PEs: {met if r['n_pe'] == 8 else 'n/a'})",
            f"  with loading, streams and counter reads: {r['sim_cycles']} cycles in {r['wall_s']:.3f} s = "
            f"{r['sim_cycles_per_s'] / 1e6:.2f} M cycles/s (the harness process and its job file)",
            f"  {r['equal']} of {r['inputs']} runs equal to the cycle model in outputs and every counter"]


def bench_sim_lines(r: dict) -> list:
    met = "met" if r["outputs_over_timing"] <= r["target_outputs_over_timing"] else "NOT met"
    return [f"cycle model on {r['layer']} ({r['shape'][0]}x{r['shape'][1]}, {r['weight_density']:.1%} weights, "
            f"{r['nonzero_inputs']} non-zero inputs), {r['n_pe']} PEs: CPU s, median of {r['repeats']}",
            f"  timing only:          {r['timing_s']:.4f} s  ({r['timing_over_scipy']:.1f} x SciPy)",
            f"  with outputs:         {r['outputs_s']:.4f} s  ({r['outputs_over_scipy']:.1f} x SciPy; first run after "
            f"decoding {r['first_outputs_s']:.4f} s)",
            f"  SciPy CSR mat-vec:    {r['scipy_s']:.5f} s",
            f"  with outputs / timing only: {r['outputs_over_timing']:.2f} "
            f"(target <= {r['target_outputs_over_timing']:g}: {met})"]


def bench_eie_lines(r: dict) -> list:
    c = r["config"]
    lines = [f"EIE benchmark suite: {c['n_pe']} PEs, FIFO {c['fifo_depth']}, {r['clock_mhz']:g} MHz, seed {r['seed']}"
             f"{', load-balanced rows' if r['balance'] else ''}",
             f"{'layer':<8} {'cycles':>9} {'time us':>9} {'ideal':>9} {'effic.':>7} {'fillers':>9}"]
    for row in r["layers"]:
        lines.append(f"{row['name']:<8} {row['cycles']:>9} {row['time_us']:>9.2f} {row['ideal_cycles']:>9} "
                     f"{row['efficiency']:>7.3f} {row['fillers']:>9}")
    lines.append(f"suite wall time: {r['wall_s']:.2f} s (target <= 10 s at 64 PEs), of which cycle-model simulation "
                 f"{r['simulate_s']:.2f} s and building + lowering the seeded layers the rest")
    return lines


def simulate_lines(result: dict) -> list:
    """The per-layer table of ``openeie simulate`` (means over the inputs), then the classification and the RTL
    check when they were run."""
    import numpy as np
    c = result["config"]
    lines = [f"{result['inputs']} input(s) through {len(result['layers'])} layer(s) on {c['n_pe']} PEs, FIFO "
             f"{c['fifo_depth']} ({result['wall_s']:.2f} s); input: {result['input']}",
             f"{'layer':<12} {'cycles':>9} {'compute':>9} {'bcasts':>7} {'MACs':>9} {'fillers':>8} {'effic.':>7} "
             f"{'sat.':>5} {'energy nJ':>10}"]
    for l in result["layers"]:
        lines.append(f"{l['name']:<12} {np.mean(l['cycles']):>9.0f} {np.mean(l['compute_cycles']):>9.0f} "
                     f"{np.mean(l['broadcasts']):>7.0f} {np.mean(l['macs']):>9.0f} {np.mean(l['fillers']):>8.0f} "
                     f"{np.mean(l['efficiency']):>7.3f} {np.mean(l['saturations']):>5.0f} "
                     f"{np.mean(l['energy_pj']) / 1e3:>10.2f}")
    lines.append(f"{'total':<12} {np.mean(result['cycles']):>9.0f} {'':>9} {'':>7} {'':>9} {'':>8} {'':>7} {'':>5} "
                 f"{np.mean(result['energy_pj']) / 1e3:>10.2f}" + ("  (mean over inputs)" if result["inputs"] > 1 else ""))
    sat = result["saturations"]
    if sat["outputs"] or sat["accumulations"]:
        lines.append(f"saturation: {sat['outputs']} output(s) clipped to the {c['act_bits']}-bit activation range, "
                     f"{sat['accumulations']} accumulation(s) clipped to {c['acc_bits']} bits (summed over inputs)")
    if "accuracy" in result:
        shown = result["predicted"][:20]
        more = f" ... ({result['inputs']} in all)" if result["inputs"] > len(shown) else ""
        lines.append(f"top-1 accuracy: {100 * result['accuracy']:.2f} % ({result['correct']}/{result['inputs']} "
                     f"correct); predicted classes: {' '.join(map(str, shown))}{more}")
    rtl = result.get("rtl")
    if rtl:
        n = rtl["inputs"]
        lines.append(f"RTL (Verilator, harness seed {rtl['seed']}): outputs {rtl['outputs_equal']}/{n} equal to the "
                     f"golden model, done cycles {rtl['cycles_equal']}/{n} and counters {rtl['counters_equal']}/{n} "
                     f"equal to the cycle model" + (f", {rtl['correct']}/{n} correct" if "correct" in rtl else ""))
        lines += [f"  {m}" for m in rtl["mismatches"]]
    return lines


def energy_lines(result: dict) -> list:
    """The breakdown of ``openeie energy`` (components by size, then the DRAM comparison)."""
    total = result["total_pj"]
    sc = result["scenarios"]
    lines = [f"energy of one inference, {result['source']}, table: {result['table']}", f"  input: {result['input']}"]
    grown = "; ".join(f"{name}: {', '.join(f'{k}={v}' for k, v in g.items())}"
                      for name, g in result.get("grown_memories", {}).items() if g)
    if grown:
        lines.append(f"  memories grown to fit: {grown}")
    for k, v in sorted(result["breakdown_pj"].items(), key=lambda kv: -kv[1]):
        if v:
            lines.append(f"  {k:<16} {v / 1e3:>12.2f} nJ  {100 * v / total:5.1f} %")
    lines += [f"  {'total':<16} {total / 1e3:>12.2f} nJ  ({total / 1e6:.4f} uJ per inference)",
              f"  dense fp32 weights from DRAM: {sc['dense_fp32_dram_pj'] / 1e3:.1f} nJ "
              f"({sc['dense_over_sram']:.0f}x the on-chip engine); compressed weights from DRAM: "
              f"{sc['compressed_dram_pj'] / 1e3:.1f} nJ ({sc['compressed_dram_over_sram']:.1f}x)"]
    if result["saturations"]:
        lines.append(f"  saturation: {result['saturations']:g} clipped accumulation(s) and output(s) per inference")
    return lines


def sweep_lines(result: dict, out_dir, knobs) -> list:
    lines = [f"sweep over {result['points']} points ({result['failed']} did not fit) in {result['wall_s']:.1f} s on "
             f"{result['executor']}: {out_dir}/sweep.csv, {result['n_plots']} plots"]
    for key, front in result["pareto"].items():
        lines.append(f"  Pareto front {key}: " + ", ".join(
            "(" + " ".join(f"{k}={r[k]}" for k in knobs) + ")" for r in front[:6]) + (" ..." if len(front) > 6 else ""))
    return lines


def synth_summary(result: dict) -> str:
    """One line: Fmax against the target and the utilisation."""
    util = ", ".join(f"{bel} {u['used']}/{u['available']}" for bel, u in result["utilization"].items())
    met = "met" if result["timing_met"] else "NOT met"
    routed = "routed" if result.get("routed", True) else "POST-PLACEMENT ONLY, not routed"
    seeds = result.get("seeds")
    best = f", best of {len(seeds)} seeds: seed {result['seed']}" if seeds else ""
    return f"Fmax {result['fmax_mhz']} MHz ({routed}{best}; target {result['target_mhz']:g} MHz, {met}); {util}"


#: Labels of the ASIC estimate's blocks, in the order they are listed.
ASIC_BLOCKS = {"spmat": "sparse-matrix read", "pointer": "pointer read", "arith": "arithmetic (+ codebook)",
               "writeback": "write-back (+ bias)", "pe_glue": "PE glue (+ accumulators)", "queue": "activation queue",
               "activations": "activation banks + drain", "broadcaster": "broadcaster (LNZD)",
               "counters": "counters", "controller": "controller (+ layer table)", "engine_glue": "engine top glue"}


def _asic_rows(result: dict) -> list:
    """``(label, copies, gates, flip-flops, logic mm2, memory mm2, total mm2, leakage mW)`` per block, largest first."""
    rows = []
    for name, b in result["blocks"].items():
        rows.append((ASIC_BLOCKS.get(name, name), b["copies"], b["gate_count"], b["flip_flops"], b["logic_area_mm2"],
                     b["memory_area_mm2"], b["area_mm2"], b["leakage_mw"]))
    return sorted(rows, key=lambda r: -r[6])


def asic_lines(result: dict) -> list:
    """The summary of ``openeie asic``: area by block, power by component, EIE's chip beside it."""
    c, e = result["config"], result["eie"]
    lines = [f"ASIC estimate, 45 nm, {c['n_pe']} PEs at {result['clock_mhz']:g} MHz; run: {result['source']} "
             f"({result['cycles']} cycles, {result['time_us']:.2f} us); area table: {result['area_table']}",
             f"  area {result['area_mm2']:.2f} mm2 (SRAM {100 * result['sram_area_fraction']:.1f} %, logic "
             f"{result['logic_area_mm2']:.2f} mm2); per PE {result['per_pe']['area_mm2']:.4f} mm2",
             f"  {'block':<28} {'copies':>6} {'gates':>7} {'FFs':>6} {'logic mm2':>10} {'memory mm2':>11} "
             f"{'total mm2':>10}"]
    for label, copies, gates, ffs, logic, mem, total, _ in _asic_rows(result):
        lines.append(f"  {label:<28} {copies:>6} {gates:>7} {ffs:>6} {logic:>10.4f} {mem:>11.4f} {total:>10.4f}")
    total_mw = result["power_mw"]
    lines.append(f"  power {total_mw / 1e3:.3f} W; per PE {result['per_pe']['power_mw']:.2f} mW")
    parts = [(k, v) for k, v in result["dynamic_mw"].items() if v] + [("clock", result["clock_mw"]),
                                                                      ("leakage", result["leakage_mw"])]
    for k, v in sorted(parts, key=lambda kv: -kv[1]):
        lines.append(f"  {k:<28} {v:>10.2f} mW {100 * v / total_mw:5.1f} %")
    lines.append(f"  EIE chip ({e['n_pe']} PEs, {e['node_nm']} nm, {e['clock_mhz']:g} MHz): {e['area_mm2']} mm2, "
                 f"{e['power_w']} W; ours / EIE: area {e['area_ratio']:.2f}x, power {e['power_ratio']:.2f}x"
                 + ("" if e["comparable"] else " (not EIE's PE count and clock: not comparable)"))
    grown = "; ".join(f"{name}: {', '.join(f'{k}={v}' for k, v in g.items())}"
                      for name, g in result.get("grown_memories", {}).items() if g)
    if grown:
        lines.append(f"  memories grown to hold the layers run (area includes them): {grown}")
    return lines


def asic_markdown(result: dict) -> str:
    """The Markdown report of ``openeie asic``."""
    c, e = result["config"], result["eie"]
    out = [f"# ASIC estimate: {c['n_pe']} PEs, 45 nm, {result['clock_mhz']:g} MHz", "",
           f"Run: {result['source']}; input: {result.get('input', '-')}; {result['cycles']} cycles "
           f"({result['time_us']:.2f} us), {result['energy_pj'] / 1e3:.1f} nJ dynamic.", "",
           "| | ours | EIE chip | ours / EIE |", "|---|---|---|---|",
           f"| area (mm2) | {result['area_mm2']:.2f} | {e['area_mm2']} | {e['area_ratio']:.2f} |",
           f"| power (W) | {result['power_mw'] / 1e3:.3f} | {e['power_w']} | {e['power_ratio']:.2f} |",
           f"| SRAM share of area | {100 * result['sram_area_fraction']:.1f} % | ~{100 * e['sram_area_fraction']:.0f} % | |",
           "", "| block | copies | gates | flip-flops | logic mm2 | memory mm2 | total mm2 |", "|---|---|---|---|---|---|---|"]
    for label, copies, gates, ffs, logic, mem, total, _ in _asic_rows(result):
        out.append(f"| {label} | {copies} | {gates} | {ffs} | {logic:.4f} | {mem:.4f} | {total:.4f} |")
    out += ["", "| power component | mW | % |", "|---|---|---|"]
    parts = [(k, v) for k, v in result["dynamic_mw"].items() if v] + [("clock", result["clock_mw"]),
                                                                      ("leakage", result["leakage_mw"])]
    for k, v in sorted(parts, key=lambda kv: -kv[1]):
        out.append(f"| {k} | {v:.2f} | {100 * v / result['power_mw']:.1f} |")
    out += ["", "| memory | depth x width | kind | copies | mm2 each |", "|---|---|---|---|---|"]
    for b in result["blocks"].values():
        for m in b["memories"]:
            kind = m["kind"] + (f" ({m['arrays']} arrays)" if m["arrays"] > 1 else "")
            out.append(f"| {m['name']} | {m['depth']} x {m['width_bits']} | {kind} | {b['copies']} | "
                       f"{m['area_mm2']:.5f} |")
    out += ["", f"Area table: {result['area_table']}; energy table: {result['energy_table']}. "
            f"EIE: {e['source']}.", ""]
    return "\n".join(out)
