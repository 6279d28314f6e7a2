"""``openeie`` command line: wires the library's parts together; every command is a thin shell around a function."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


def _config(path):
    from .config import EngineConfig
    return EngineConfig.load(path) if path else None


def _add_config(p, help_default="the engine defaults (EIE's)"):
    p.add_argument("--config", metavar="CFG.json", help=f"engine configuration JSON (default: {help_default})")


# ---- commands -------------------------------------------------------------------------------------------

def cmd_compile(args):
    from .config import EngineConfig
    from .compiler.images import save_images
    from .compiler.lower import lower
    from .compiler.netfile import load_network
    cfg = _config(args.config) or EngineConfig()
    network = load_network(args.net)
    program = lower(network, cfg)
    out = save_images(program, args.output)
    from .compiler.storage import storage_report
    t = storage_report(program)["totals"]
    print(f"compiled {len(network)} layer(s) for {cfg.n_pe} PEs into {out}/: {t['nnz']} non-zeros, "
          f"{t['fillers']} fillers, {t['total_bits'] / 8 / 1024:.1f} KiB, {t['compression_ratio']:.1f}x vs dense fp32")


def cmd_demo(args):
    from .demo import run_demo
    report = run_demo(Path(args.output), config_path=args.config, quick=args.quick, cache_dir=args.cache,
                      rtl=False if args.no_rtl else None)
    print(f"report written to {args.output}/report.md and {args.output}/report.json")
    for line in report.get("summary_lines", []):
        print("  " + line)


def cmd_bench(args):
    from . import bench
    if args.what == "compile":
        result = bench.bench_compile(seed=args.seed, repeats=args.repeats)
    elif args.what == "eie":
        result = bench.bench_eie(n_pe=args.pes, fifo_depth=args.fifo, clock_mhz=args.clock_mhz, seed=args.seed,
                                 balance=args.balance, progress=True)
    else:  # pragma: no cover - argparse restricts choices
        raise SystemExit(f"unknown benchmark {args.what!r}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


def cmd_simulate(args):
    from .simulate import simulate
    simulate(args.target, config_path=args.config, input_path=args.input, seed=args.seed, count=args.count,
             json_path=args.json)


def cmd_sweep_sim(args):
    from .sweep_sim import run_sweeps
    ranges = {}
    if args.fifo_max:
        ranges["depths"] = tuple(range(1, args.fifo_max + 1))
    if args.pes_max:
        ranges["pes"] = tuple(1 << k for k in range(args.pes_max.bit_length()) if 1 << k <= args.pes_max)
    run_sweeps(args.output, which=args.sweeps, layers=args.layers, seed=args.seed, **ranges)


def cmd_energy(args):
    from .energy_report import energy_report
    energy_report(args.target, config_path=args.config, bench=args.bench, layer=args.layer, table_path=args.table,
                  seed=args.seed, json_path=args.json)


def _int_list(text):
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers, e.g. 2,4,8") from None


def cmd_sweep(args):
    from .sweep import DEFAULT_GRID, KNOBS, run_sweep
    grid = {k: (getattr(args, k) or DEFAULT_GRID[k]) for k in KNOBS}
    if args.bench == "eie":
        from .sweep import eie_context
        ctx = eie_context(args.layer or "Alex-8", code_bits=tuple(grid["code_bits"]), seed=args.seed)
    else:
        from .sweep import digits_context
        ctx = digits_context(code_bits=tuple(grid["code_bits"]), cache_dir=args.cache, seed=args.seed)
    if args.area_device:
        ctx.area_device = args.area_device
        ctx.area_dir = str(Path(args.output) / "area")
    run_sweep(ctx, grid, args.output, workers=args.workers, dask_address=args.dask)


def _density(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a fraction of weights kept, e.g. 0.08") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"density {value} is out of range: expected 0 < density <= 1")
    return value


def cmd_compress(args):
    from .compress_cli import compress_checkpoint
    compress_checkpoint(args.checkpoint, args.output, density=args.density, code_bits=args.code_bits,
                        rel_index_bits=args.rel_index_bits, data=args.data, prune_steps=args.prune_steps,
                        prune_epochs=args.prune_epochs, finetune_epochs=args.finetune_epochs, seed=args.seed)


def cmd_rtl(args):
    from .config import EngineConfig
    from .hw.export import export_verilog
    cfg = _config(args.config) or EngineConfig()
    path = export_verilog(cfg, args.output)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB Verilog, top module 'openeie_engine', {cfg.n_pe} PEs)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openeie", description="OpenEIE: compress, compile, run, simulate and "
                                     "synthesize EIE-style compressed-network inference engines.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("compile", help="compile a network file (.npz/.safetensors) into memory images",
                       description="Compile NET into per-PE memory images: $readmemh hex files, a checked binary "
                                   "container (program.oeie) and manifest.json. NET schema: see "
                                   "openeie.compiler.netfile (layer<k>.codebook, layer<k>.codes or layer<k>.weight, "
                                   "optional layer<k>.bias and layer<k>.relu).")
    p.add_argument("net", metavar="NET", help=".npz or .safetensors network file")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    _add_config(p)
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("compress", help="Deep Compression of a checkpoint (prune, retrain, share weights)",
                       description="Compress a checkpoint of a Linear/ReLU network (.safetensors, or .pt/.pth read "
                                   "with torch.load(weights_only=True); never unpickled): iterative magnitude pruning "
                                   "with retraining, k-means weight sharing, centroid fine-tuning. Writes the network "
                                   "file NET (.npz/.safetensors, the schema 'openeie compile' reads) and NET.report.json.")
    p.add_argument("checkpoint", metavar="CHECKPOINT")
    p.add_argument("-o", "--output", required=True, metavar="NET", help="output network file (.npz or .safetensors)")
    p.add_argument("--density", type=_density, default=0.08, help="fraction of weights kept (default 0.08)")
    p.add_argument("--code-bits", type=int, default=4, help="weight code width (default 4)")
    p.add_argument("--rel-index-bits", type=int, default=4, help="relative index width of the report (default 4)")
    p.add_argument("--data", default="digits", help="'digits' or a .npz with x_train, y_train, x_test, y_test")
    p.add_argument("--prune-steps", type=int, default=3)
    p.add_argument("--prune-epochs", type=int, default=5)
    p.add_argument("--finetune-epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_compress)

    p = sub.add_parser("demo", help="run the whole flow on the built-in default network and write a report")
    p.add_argument("-o", "--output", default="out/demo", metavar="DIR", help="report directory (default: out/demo)")
    p.add_argument("--quick", action="store_true", help="shorter training schedules, no density sweep, no RTL")
    p.add_argument("--no-rtl", action="store_true", help="skip running the RTL on test images")
    p.add_argument("--cache", metavar="DIR", default=".cache/openeie", help="trained-model cache (default "
                   ".cache/openeie)")
    _add_config(p, "4 PEs with EIE's formats and 5-bit relative indices")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("rtl", help="export the engine as Verilog",
                       description="Elaborate openeie.hw.Engine for the configuration and write Verilog "
                                   "(Amaranth's built-in Yosys; top module openeie_engine).")
    _add_config(p)
    p.add_argument("-o", "--output", required=True, metavar="engine.v")
    p.set_defaults(func=cmd_rtl)

    p = sub.add_parser("simulate", help="cycle-accurate simulation of a compiled network or a network file",
                       description="Run NET_OR_IMAGES (a network file, compiled on the fly, or images written by "
                                   "'openeie compile') through the cycle model: per-layer cycles, efficiency, "
                                   "counters and outputs.")
    p.add_argument("target", metavar="NET_OR_IMAGES", help=".npz/.safetensors network, images directory or .oeie")
    _add_config(p)
    p.add_argument("--input", metavar="X.npy", help="float inputs, (n_in,) or (batch, n_in) (default: seeded "
                   "uniform [0, 1))")
    p.add_argument("--count", type=int, default=1, help="number of random inputs when --input is not given")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="write cycles, counters and outputs as JSON")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("sweep-sim", help="architecture sweeps on the EIE layers (FIFO depth, PEs, index bits)")
    p.add_argument("-o", "--output", default="out/sweep-sim", metavar="DIR")
    p.add_argument("--sweeps", nargs="+", choices=["fifo", "pes", "rel"], default=["fifo", "pes", "rel"])
    p.add_argument("--layers", nargs="+", metavar="NAME", help="EIE layers to use (default: all nine)")
    p.add_argument("--fifo-max", type=int, help="largest FIFO depth (default 32)")
    p.add_argument("--pes-max", type=int, help="largest PE count, powers of two from 1 (default 256)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_sweep_sim)

    p = sub.add_parser("energy", help="energy per inference (SRAM vs DRAM) of a network or an EIE layer",
                       description="Price the cycle model's access counts with an energy table (default: 45 nm, "
                                   "Horowitz ISSCC 2014 via EIE Table I; see openeie/sim/energy_45nm.yaml).")
    p.add_argument("target", nargs="?", metavar="NET_OR_IMAGES", help="network file or images (or use --bench)")
    p.add_argument("--bench", choices=["eie"], help="use the EIE benchmark layers instead of a network")
    p.add_argument("--layer", metavar="NAME", help="one layer only (e.g. Alex-7 with --bench eie)")
    p.add_argument("--table", metavar="TABLE.yaml", help="energy table of another technology (same format)")
    _add_config(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH")
    p.set_defaults(func=cmd_energy)

    p = sub.add_parser("sweep", help="design-space exploration: bit widths, PEs, FIFO -> storage, cycles, energy, "
                       "accuracy, with Pareto plots",
                       description="Grid over code_bits, rel_index_bits, act_bits, n_pe, fifo_depth (comma-separated "
                                   "values; defaults in openeie.sweep.DEFAULT_GRID) on the bundled digits model or an "
                                   "EIE layer. Writes sweep.csv, sweep.json and Pareto plots (PNG, SVG).")
    for knob in ("code_bits", "rel_index_bits", "act_bits", "n_pe", "fifo_depth"):
        p.add_argument(f"--{knob.replace('_', '-')}", dest=knob, type=_int_list, metavar="V1,V2,...")
    p.add_argument("--bench", choices=["eie"], help="sweep an EIE benchmark layer instead of the digits model")
    p.add_argument("--layer", metavar="NAME", help="EIE layer with --bench eie (default Alex-8)")
    p.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    p.add_argument("--dask", metavar="SCHEDULER", help="run on an existing Dask cluster (e.g. tcp://host:8786)")
    p.add_argument("--area-device", choices=["up5k", "85k"], help="also estimate FPGA utilisation and Fmax per "
                   "point with Yosys/nextpnr (slow: tens of seconds to minutes per point)")
    p.add_argument("--cache", metavar="DIR", default=".cache/openeie", help="model cache directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default="out/sweep", metavar="DIR")
    p.set_defaults(func=cmd_sweep)

    from .fpga.cli import add_commands as add_fpga_commands
    add_fpga_commands(sub)

    p = sub.add_parser("bench", help="benchmarks that print their figures")
    p.add_argument("what", choices=["compile", "eie"],
                   help="compile: encode throughput on a VGG-6-sized layer; eie: the nine layers of EIE Table III "
                        "through the cycle model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pes", type=int, default=64, help="eie: number of PEs (default 64)")
    p.add_argument("--fifo", type=int, default=8, help="eie: activation queue depth (default 8)")
    p.add_argument("--clock-mhz", type=float, default=800.0, help="eie: clock for the time column (default 800)")
    p.add_argument("--balance", action="store_true", help="eie: load-aware row assignment instead of i mod N")
    p.add_argument("--repeats", type=int, default=3, help="timed repetitions (the best is reported)")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv=None) -> int:
    from .errors import USER_ERRORS
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except USER_ERRORS as e:
        print(f"openeie: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("openeie: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
