"""``openeie demo [-o DIR]``: the whole flow on the bundled digits model, ending in a report."""

from __future__ import annotations

from .arguments import add_config, int_in, load_config, seed

__all__ = ["add_arguments", "run"]


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="run the whole flow on the built-in default network and write a report",
        description="Train (or load from the cache) a bundled digits model (the MLP, or LeNet-5 with --model "
                    "lenet5), deep-compress it, compile it, measure "
                    "accuracy (golden model), cycles and energy (cycle model), run test images on the RTL, and "
                    "write report.md, report.json, plots and the images into DIR. DIR must be new, empty or an "
                    "earlier demo report (which is replaced).")
    p.add_argument("-o", "--output", default="out/demo", metavar="DIR", help="report directory (default: out/demo)")
    p.add_argument("--model", choices=("mlp", "lenet5"), default="mlp",
                   help="bundled model: mlp (64-300-100-10, default) or lenet5 (conv-pool-conv-fc-fc)")
    p.add_argument("--quick", action="store_true", help="shorter training schedules, no density sweep, no RTL")
    p.add_argument("--cycle-inputs", type=int_in(1, what="cycle inputs"), default=None, metavar="N",
                   help="test images run through the cycle model (default: all; 32 with --quick)")
    p.add_argument("--no-rtl", action="store_true", help="skip running the RTL on test images")
    p.add_argument("--cache", metavar="DIR", default=".cache/openeie", help="trained-model cache (default "
                   ".cache/openeie)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the compression pipeline (default 0)")
    add_config(p, "4 PEs with EIE's formats and 5-bit relative indices; for lenet5 8-bit codes and the "
                  "convolution limits of its layers")
    p.set_defaults(run=run)


def run(args) -> None:
    from openeie.flows.demo import DEMO, default_demo_config, run_demo
    from openeie.files import check_output_dir
    cfg = load_config(args.config, default_demo_config(args.model))
    check_output_dir(args.output, DEMO)
    report = run_demo(args.output, cfg=cfg, quick=args.quick, seed=args.seed, cache_dir=args.cache,
                      rtl=False if args.no_rtl else None, model=args.model, cycle_inputs=args.cycle_inputs)
    print(f"report written to {args.output}/report.md and {args.output}/report.json")
    for line in report.get("summary_lines", []):
        print("  " + line)
