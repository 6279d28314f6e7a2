"""``openeie simulate NET_OR_IMAGES``: cycle-accurate runs of a compiled network."""

from __future__ import annotations

from .arguments import add_config, int_in, load_config, number_in, seed

__all__ = ["add_arguments", "run"]


def add_arguments(subparsers) -> None:
    from openeie.sim.inputs import DEFAULT_ACT_DENSITY
    p = subparsers.add_parser(
        "simulate", help="cycle-accurate simulation of a compiled network or a network file",
        description="Run NET_OR_IMAGES (a network file, compiled on the fly, or images written by 'openeie compile') "
                    "through the cycle model: per-layer cycles, efficiency, counters (saturations included) and "
                    "outputs.")
    p.add_argument("target", metavar="NET_OR_IMAGES", help=".npz/.safetensors network, images directory or .oeie")
    add_config(p)
    p.add_argument("--input", metavar="X.npy", help="float inputs, (n_in,) or (batch, n_in) (default: seeded random "
                   f"inputs with --act-density non-zero)")
    p.add_argument("--count", type=int_in(1, 100_000, "count"), default=1,
                   help="number of random inputs when --input is not given (default 1)")
    p.add_argument("--act-density", type=number_in(0.0, 1.0, "activation density"), default=DEFAULT_ACT_DENSITY,
                   help=f"fraction of non-zero random inputs (default {DEFAULT_ACT_DENSITY}, EIE Table III's fc layers)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--json", metavar="PATH", help="write cycles, counters and outputs as JSON")
    p.set_defaults(run=run)


def run(args) -> None:
    import numpy as np
    from openeie.files import check_output_file, write_text
    from openeie.sim import golden
    from openeie.sim.inputs import describe_density, load_inputs, random_inputs
    from openeie.simulate import simulate_program
    from .targets import load_target
    if args.json:
        check_output_file(args.json, "JSON report", inputs=[args.target, args.input, args.config])
    cfg = load_config(args.config)
    program = load_target(args.target, cfg)
    cfg = program.config
    if args.input:
        x = load_inputs(args.input, program.n_in)
        source = f"{args.input} ({len(x)} input(s), {describe_density(x)})"
    else:
        x = random_inputs(program.n_in, args.count, args.act_density, args.seed)
        source = f"seeded random inputs (seed {args.seed}, {describe_density(x)})"
    result = simulate_program(program, golden.quantize_input(cfg, x))
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
