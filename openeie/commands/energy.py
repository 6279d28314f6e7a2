"""``openeie energy NET_OR_IMAGES | --bench eie``: energy per inference, SRAM vs DRAM."""

from __future__ import annotations

from .arguments import add_config, add_inputs, inputs_of, load_config

__all__ = ["add_arguments", "run"]


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser(
        "energy", help="energy per inference (SRAM vs DRAM) of a network or an EIE layer",
        description="Price the cycle model's access counts with an energy table (default: 45 nm, Horowitz ISSCC "
                    "2014 via EIE Table I; see openeie/sim/energy_45nm.yaml). With --bench eie the layers run on "
                    "--config's formats, PEs and queues (memories too small for a layer are grown, and said so).")
    p.add_argument("target", nargs="?", metavar="NET_OR_IMAGES", help="network file or images (or use --bench)")
    p.add_argument("--bench", choices=["eie"], help="use the EIE benchmark layers instead of a network")
    p.add_argument("--layer", metavar="NAME", help="one layer only (e.g. Alex-7 with --bench eie)")
    p.add_argument("--table", metavar="TABLE.yaml", help="energy table of another technology (same format)")
    add_config(p)
    add_inputs(p, "price (mean per inference)")
    p.add_argument("--json", metavar="PATH")
    p.set_defaults(run=run)


def run(args) -> None:
    import json
    from openeie.config import EngineConfig
    from openeie.flows.energy import eie_energy, network_energy, summarise
    from openeie.errors import InputError
    from openeie.files import check_output_file, write_text
    from openeie.sim.energy import load_table
    if (args.target is None) == (args.bench is None):
        raise InputError("give a network/images path or --bench eie (one of them)")
    if args.bench and args.input:
        raise InputError("--input prices a network; the EIE benchmark layers use their own seeded inputs")
    if args.json:
        check_output_file(args.json, "JSON report", inputs=[args.target, args.input, args.config, args.table])
    table = load_table(args.table)
    cfg = load_config(args.config)
    if args.bench:
        rows, grown = eie_energy(cfg or EngineConfig(), table, args.layer, args.seed)
        result = summarise(rows, table, f"EIE benchmark ({args.layer or 'all layers'})")
        result["grown_memories"] = grown
        inputs = "each layer's own seeded input at its Table III activation density"
    else:
        from .targets import load_target
        program = load_target(args.target, cfg)
        x_q, inputs = inputs_of(args, program)
        rows = network_energy(program, x_q, table, args.layer)
        result = summarise(rows, table, str(args.target))
    result["input"] = inputs
    from openeie.report.tables import energy_lines
    print("\n".join(energy_lines(result)))
    if args.json:
        write_text(args.json, json.dumps(result, indent=2) + "\n", "JSON report")
