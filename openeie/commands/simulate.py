"""``openeie simulate NET_OR_IMAGES``: cycle-accurate runs of a compiled network."""

from __future__ import annotations

from .arguments import add_config, add_inputs, inputs_of, load_config

__all__ = ["add_arguments", "run"]


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate", help="cycle-accurate simulation of a compiled network or a network file",
        description="Run NET_OR_IMAGES (a network file, compiled on the fly, or images written by 'openeie compile') "
                    "through the cycle model: per-layer cycles, efficiency, counters (saturations included) and "
                    "outputs.")
    p.add_argument("target", metavar="NET_OR_IMAGES", help=".npz/.safetensors network, images directory or .oeie")
    add_config(p)
    add_inputs(p, "simulate")
    p.add_argument("--json", metavar="PATH", help="write cycles, counters and outputs as JSON")
    p.set_defaults(run=run)


def run(args) -> None:
    from openeie.files import check_output_file, write_text
    from openeie.flows.simulate import simulate_program
    from .targets import load_target
    if args.json:
        check_output_file(args.json, "JSON report", inputs=[args.target, args.input, args.config])
    cfg = load_config(args.config)
    program = load_target(args.target, cfg)
    cfg = program.config
    x_q, source = inputs_of(args, program)
    result = simulate_program(program, x_q)
    result["input"] = source
    from openeie.report.tables import simulate_lines
    print("\n".join(simulate_lines(result)))
    if args.json:
        import json
        write_text(args.json, json.dumps(result, indent=2) + "\n", "JSON report")
