"""``openeie sweep-sim``: FIFO depth / PE count / index width sweeps on the EIE layers."""

from __future__ import annotations

from openeie.config import CONFIG_RANGES

from .arguments import int_in, seed

__all__ = ["add_arguments", "run"]


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser("sweep-sim", help="architecture sweeps on the EIE layers (FIFO depth, PEs, index bits)",
                              description="Cycle-model sweeps on the EIE benchmark layers, JSON and PNG per sweep "
                                          "into DIR (new, empty or an earlier sweep-sim directory).")
    p.add_argument("-o", "--output", default="out/sweep-sim", metavar="DIR")
    p.add_argument("--sweeps", nargs="+", choices=["fifo", "pes", "rel"], default=["fifo", "pes", "rel"])
    p.add_argument("--layers", nargs="+", metavar="NAME", help="EIE layers to use (default: all nine)")
    p.add_argument("--fifo-max", type=int_in(1, CONFIG_RANGES["fifo_depth"][1], "largest FIFO depth"),
                   help="largest FIFO depth (default 32)")
    p.add_argument("--pes-max", type=int_in(1, CONFIG_RANGES["n_pe"][1], "largest PE count"),
                   help="largest PE count, powers of two from 1 (default 256)")
    p.add_argument("--seed", type=seed, default=0)
    p.set_defaults(run=run)


def run(args) -> None:
    from openeie.flows.sweep_sim import run_sweeps
    ranges = {}
    if args.fifo_max:
        ranges["depths"] = tuple(range(1, args.fifo_max + 1))
    if args.pes_max:
        ranges["pes"] = tuple(1 << k for k in range(args.pes_max.bit_length()) if 1 << k <= args.pes_max)
    results = run_sweeps(args.output, which=list(dict.fromkeys(args.sweeps)), layers=args.layers, seed=args.seed,
                         **ranges)
    for name, r in results.items():
        print(f"{name} sweep: {args.output}/sweep_{name}.png and .json ({r['wall_s']:.1f} s)")
