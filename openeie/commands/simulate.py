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
    import numpy as np
    from openeie.files import check_output_file, write_text
    from openeie.simulate import simulate_program
    from .targets import load_target
    if args.json:
        check_output_file(args.json, "JSON report", inputs=[args.target, args.input, args.config])
    cfg = load_config(args.config)
    program = load_target(args.target, cfg)
    cfg = program.config
    x_q, source = inputs_of(args, program)
    result = simulate_program(program, x_q)
    result["input"] = source
    print(f"{result['inputs']} input(s) through {program.n_layers} layer(s) on {cfg.n_pe} PEs, FIFO "
          f"{cfg.fifo_depth} ({result['wall_s']:.2f} s); input: {source}")
    print(f"{'layer':<12} {'cycles':>9} {'compute':>9} {'bcasts':>7} {'MACs':>9} {'fillers':>8} {'effic.':>7} "
          f"{'sat.':>5}")
    for l in result["layers"]:
        print(f"{l['name']:<12} {np.mean(l['cycles']):>9.0f} {np.mean(l['compute_cycles']):>9.0f} "
              f"{np.mean(l['broadcasts']):>7.0f} {np.mean(l['macs']):>9.0f} {np.mean(l['fillers']):>8.0f} "
              f"{np.mean(l['efficiency']):>7.3f} {np.mean(l['saturations']):>5.0f}")
    print(f"{'total':<12} {np.mean(result['cycles']):>9.0f}" + ("  (mean over inputs)" if result["inputs"] > 1 else ""))
    sat = result["saturations"]
    if sat["outputs"] or sat["accumulations"]:
        print(f"saturation: {sat['outputs']} output(s) clipped to the {cfg.act_bits}-bit activation range, "
              f"{sat['accumulations']} accumulation(s) clipped to {cfg.acc_bits} bits (summed over inputs)")
    if args.json:
        import json
        write_text(args.json, json.dumps(result, indent=2) + "\n", "JSON report")
