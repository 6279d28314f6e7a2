"""Markdown pages of the reports (the demo's and ``openeie report``'s, synthesis results, compare)."""

from __future__ import annotations

import json

__all__ = ["report_markdown", "synth_markdown", "compare_markdown"]

#: Accuracy rows of a report: key of the compression report's ``accuracy`` (and ``engine``), label.
_STAGES = (("float", "float"), ("low_rank", "low-rank factorised"), ("low_rank_tuned", "low-rank + fine-tuned"),
           ("pruned", "pruned + retrained"), ("shared_kmeans", "weight-shared (k-means)"),
           ("shared", "weight-shared + fine-tuned (float64)"), ("engine", "engine fixed point (golden model)"))


def report_markdown(r: dict) -> str:
    """``report.md`` of ``openeie demo`` and ``openeie report`` from its ``report.json`` contents."""
    c = r["config"]
    acc = r["accuracy"]
    engine = (f"Engine: {c['n_pe']} PEs, FIFO {c['fifo_depth']}, {c['code_bits']}-bit codes, {c['rel_index_bits']}-bit "
              f"relative indices, {c['weight_bits']}-bit weights, {c['act_bits']}-bit activations.")
    if "checkpoint" in r:                      # openeie report: a user's model
        lines = [f"# OpenEIE report: `{r['checkpoint']}`", "",
                 f"Model: {r['network']}. Data: {r['data']} ({r['test_images']} test inputs, {r['classes']} classes). "
                 + engine]
        lines += [f"- assumed: {note}" for note in r.get("assumptions", [])]
    else:
        network = r.get("network", "MLP 64-300-100-10 (LeNet-300-100 shape)")
        lines = ["# OpenEIE demo report", "",
                 f"Bundled model: {network} on scikit-learn's handwritten digits ({r['test_images']} test images). "
                 + engine]
    lines += ["", "## Accuracy", "", "| stage | top-1 accuracy |", "|---|---|"]
    for k, label in _STAGES:
        if k in acc:
            lines.append(f"| {label} | {100 * acc[k]:.2f} % |")
    if r.get("rtl"):
        rt = r["rtl"]
        n = rt["inputs"]
        lines.append(f"| RTL (Verilator), {n} test inputs | {rt['outputs_equal']}/{n} outputs bit-exact with the golden "
                     f"model, {rt['cycles_equal']}/{n} done cycles and {rt['counters_equal']}/{n} counter sets equal "
                     f"to the cycle model, {rt['correct']}/{n} correct |")
    widths = r.get("code_bits", {})
    lines += ["", "## Compression ([DC] Tables 2-3 format: one CSC matrix per layer, Huffman-coded streams)", "",
              "Weight bits: the layer's code width (its codebook has 2^bits entries, zero included) and Huffman-coded "
              "bits per stored entry; index bits likewise; rate: stored size / dense fp32 size.", "",
              "| layer | #W | weights kept | weight bits / +H | index bits / +H | total bits | with Huffman | rate / +H "
              "| compression / +H |", "|---|---|---|---|---|---|---|---|---|"]
    for l in r["compression"]["layers"] + [r["compression"]["total"]]:
        bits = widths.get(l["name"], l["code_width_bits"])
        lines.append(f"| {l['name']} | {_count(l['weights'])} | {l['kept_pct']:.2f} % | {bits} / "
                     f"{l['code_huffman_bits_per_entry']:.1f} | {l['index_width_bits']} / "
                     f"{l['index_huffman_bits_per_entry']:.1f} | {l['total_bits']} | {l['total_huffman_bits']} | "
                     f"{100 / l['compression_ratio']:.2f} % / {100 / l['compression_ratio_huffman']:.2f} % | "
                     f"{l['compression_ratio']:.1f}x / {l['compression_ratio_huffman']:.1f}x |")
    e = r["engine_storage"]
    lines += ["", f"On the engine's images ({c['n_pe']} PEs; pointers per PE; every code in a "
              f"{c['code_bits']}-bit field): {e['total_bits']} bits, {e['compression_ratio']:.1f}x vs dense fp32.", "",
              "## Performance and energy (cycle model, mean over test images)", "",
              "Ideal: non-zero multiply-adds / PEs; efficiency: ideal / cycles. Overhead: descriptor, accumulator "
              "initialisation and write-back (with pooling) cycles; walk words: activation words the broadcaster "
              "visits (padding included).", "",
              "| layer | cycles | ideal | efficiency | compute | overhead | walk words | non-zero broadcasts | "
              "energy (nJ) |", "|---|---|---|---|---|---|---|---|---|"]
    for l in r["layers"]:
        if "ideal_cycles" in l:
            lines.append(f"| {l['name']} | {l['cycles']:.1f} | {l['ideal_cycles']:.1f} | {l['efficiency']:.3f} | "
                         f"{l['compute_cycles']:.1f} | {l['overhead_cycles']:.1f} | {l['walk_words']} | "
                         f"{l['broadcasts']:.1f} | {l['energy_nj']:.2f} |")
        else:
            lines.append(f"| {l['name']} | {l['cycles']:.1f} | | {l['efficiency']:.3f} | | | | | |")
    lines += [f"| total | {r['cycles']:.1f} | | | | | | | {r['energy_per_inference_nj']:.2f} |", "",
              f"Energy per inference: {r['energy_per_inference_nj']:.2f} nJ (45 nm table); dense fp32 weights from DRAM "
              f"would take {r['energy_scenarios']['dense_fp32_dram_pj'] / 1e3:.1f} nJ.", "",
              _saturation_line(r), "",
              "![energy](energy_breakdown.png)", "", "![histograms](weight_histograms.png)", ""]
    if r.get("density_sweep"):
        lines += ["![accuracy vs density](accuracy_vs_density.png)", ""]
    lines += [f"Images: `{r['images']}`. Wall time {r['wall_s']:.1f} s.", ""]
    if r.get("stamp"):
        lines += _stamp_lines(r["stamp"])
    return "\n".join(lines)


def _stamp_lines(st: dict) -> list:
    """The provenance section of a report: version, git revision, date, seeds, the engine configuration."""
    git = st.get("git")
    if git:
        revision = f"git {git['commit']}" + (" with uncommitted changes" if git.get("dirty") else "")
    else:
        revision = "not from a git checkout"
    seeds = ", ".join(f"{k} {v}" for k, v in st["seeds"].items())
    return ["## Provenance", "", f"OpenEIE {st['openeie_version']}, {revision}; made {st['date_utc']}; seeds: {seeds}. "
            f"Engine configuration (hash `{st['config_hash']}`):", "", "```json",
            json.dumps(st["config"], indent=2, sort_keys=True), "```", ""]


def _count(n: int) -> str:
    return f"{n / 1000:.1f}K" if n >= 1000 else str(n)


def _saturation_line(r: dict) -> str:
    s = r["saturations"]
    c = r["config"]
    if not s["accumulations"] and not s["outputs"]:
        return (f"Saturation: none over the {s['inputs']} test images (no output clipped to the {c['act_bits']}-bit "
                f"activation range, no accumulation to {c['acc_bits']} bits).")
    return (f"Saturation over the {s['inputs']} test images: {s['outputs']} output(s) clipped to the {c['act_bits']}-bit "
            f"activation range, {s['accumulations']} accumulation(s) clipped to {c['acc_bits']} bits.")


def synth_markdown(result: dict) -> str:
    """A Markdown page of an estimate or board build result."""
    cfg = result["config"]
    title = f"{result['board']} ({result['part']})" if result.get("board") else result["part"]
    if result.get("block"):
        title += f", block `{result['block']}` alone"
    lines = [f"# OpenEIE synthesis: {title}", ""]
    met = "met" if result.get("timing_met") else "NOT met"
    estimate_note = ", routed" if result.get("routed", True) else \
        ", **post-placement estimate only: routing was stopped**"
    lines += [f"- Fmax: **{result['fmax_mhz']} MHz** (target {result['target_mhz']:g} MHz, {met}{estimate_note})",
              f"- engine: {cfg['n_pe']} PEs, {cfg['act_bits']}-bit activations, {cfg['weight_bits']}-bit weights, "
              f"{cfg['acc_bits']}-bit accumulators, {cfg['entries_per_word']} entries x "
              f"{cfg['spmat_depth_words']} words of sparse matrix per PE, fifo depth {cfg['fifo_depth']}"]
    if result.get("seeds"):
        lines.append(f"- seed sweep: best seed {result['seed']} of " + ", ".join(
            f"{r['seed']} ({r['fmax_mhz']} MHz{'' if r['routed'] else ', not routed'})" for r in result["seeds"]))
    if result.get("bitstream"):
        lines.append(f"- bitstream: `{result['bitstream']}` (clock {result['clock_mhz']:g} MHz, UART {result['baud']} "
                     f"baud)")
    lines += ["", "## Utilisation (nextpnr)", "", "| resource | used | available | % |", "|---|---:|---:|---:|"]
    for bel, u in result["utilization"].items():
        lines.append(f"| {bel} | {u['used']} | {u['available']} | {u['percent']} |")
    if result.get("memory_map"):
        lines += ["", "## Sparse-matrix memories", "", "| memory | width x depth | mapped to | SPRAM blocks |",
                  "|---|---|---|---:|"]
        for d in result["memory_map"]:
            lines.append(f"| {d['memory']} | {d['width_bits']} x {d['depth']} | {d['mapped_to']} | {d['blocks']} |")
    path = result.get("critical_path")
    if path:
        lines += ["", "## Critical path", "", f"`{path['from']}` -> `{path['to']}`: {path['delay_ns']} ns "
                  f"({path['logic_ns']} ns logic, {path['routing_ns']} ns routing), through "
                  + " -> ".join(f"`{b}`" for b in path["through"])]
    lines += ["", "## Engine configuration", "", "```json", json.dumps(cfg, indent=2, sort_keys=True), "```", ""]
    return "\n".join(lines)


def compare_markdown(result: dict) -> str:
    """``compare.md`` of ``openeie compare`` from its ``compare.json`` contents."""
    rows = result["rows"]
    ctx = result["context"]
    plain = [r for r in rows if not r["config"].get("mult_bits")]
    cfg = (plain or rows)[0]["config"] if rows else {}
    integer = [r for r in rows if r["config"].get("mult_bits")]
    kb = lambda bits: f"{bits / 8192:.1f}"          # noqa: E731  (KiB)
    lines = [
        f"# OpenEIE compression methods compared: {result['model']}", "",
        f"Digits, seed {ctx['seed']}: the float model and every compression fit on the training images less a "
        f"{100 * ctx['validation']:.0f} % validation part; accuracies below are on the test images (validation in "
        f"`compare.json`). Engine: the demo's ({cfg.get('n_pe')} PEs, {cfg.get('rel_index_bits')}-bit relative "
        f"indices, {cfg.get('weight_bits')}-bit weights, {cfg.get('act_bits')}-bit activations) with each method's "
        f"widest code. Storage as one CSC matrix per layer ([DC]'s format), compression against the float model's "
        f"dense fp32 weights and biases; cycles and energy: cycle model, mean over "
        f"{rows[0]['cycle_inputs'] if rows else 0} test images; energy on chip (45 nm table) and with the compressed "
        f"weights streamed from DRAM." + (
            f" {', '.join(r['method'] for r in integer)}: the same engine requantising on write-back "
            f"({integer[0]['config']['mult_bits']}-bit per-row multipliers, docs/engine.md \"Requantisation\") with "
            f"integer weights, activations and codes of the method's width." if integer else ""), "",
        "| method | parameters | non-zero | weights KiB | indices KiB | pointers KiB | codebooks KiB | total KiB | "
        "compression / +Huffman | float acc. | engine acc. | cycles | PE efficiency | energy on chip (nJ) | "
        "weights from DRAM (nJ) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['method']} | {_count(r['parameters'])} | {_count(r['nonzero_weights'])} | {kb(r['weight_bits'])} | "
            f"{kb(r['index_bits'])} | {kb(r['pointer_bits'])} | {kb(r['codebook_bits'])} | {kb(r['total_bits'])} | "
            f"{r['compression_ratio']:.1f}x / {r['compression_ratio_huffman']:.1f}x | "
            f"{100 * r['accuracy_float_test']:.2f} % | {100 * r['accuracy_engine_test']:.2f} % | {r['cycles']:.0f} | "
            f"{r['efficiency']:.3f} | {r['energy_onchip_nj']:.1f} | {r['energy_dram_nj']:.1f} |")
    lines += ["", "Methods:", ""]
    for r in rows:
        extra = ""
        if r.get("low_rank"):
            ranks = ", ".join(f"{k} {v['ranks']}" for k, v in r["low_rank"].items() if v.get("ranks"))
            extra = f" Ranks: {ranks}."
        if r.get("calibration"):
            extra += (f" Activation calibration: {r['calibration']} (best on the validation images); engine outputs "
                      f"equal to the NumPy integer reference on {r['int_reference_equal']}/{r['int_reference_images']} "
                      f"test images; integer-reference test accuracy {100 * r['accuracy_shared_test']:.2f} %.")
        if r.get("rtl_images"):
            extra += f" RTL: {r['rtl_equal']}/{r['rtl_images']} test images equal to the cycle model."
        lines.append(f"- **{r['method']}**: {r['description']}; codes {r['code_bits']}.{extra}")
    lines += ["", "Pareto fronts (engine test accuracy against energy on chip, and against storage with Huffman "
              "coding): " + "; ".join(f"{k.split('/')[0]}: {', '.join(v)}" for k, v in result["pareto"].items()),
              "", "![accuracy vs energy](pareto_energy.png)", "", "![accuracy vs storage](pareto_storage.png)", "",
              f"Wall time {result['wall_s']:.0f} s ({result['executor']})."]
    return "\n".join(lines) + "\n"
