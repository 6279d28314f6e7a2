"""``openeie synth``: board bitstreams, board-less estimates and PE sweeps (registered by
:func:`add_commands` into the ``openeie`` command line)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_commands", "cmd_synth"]

_EXAMPLES = """\
examples:
  openeie synth --board icebreaker -o out/icebreaker            # bitstream + report.json/.md
  openeie synth --estimate --device up5k --json out/up5k.json   # board-less resources and Fmax
  openeie synth --sweep --device 85k --pes 8 16 32 48 -o out/sweep-85k
"""


def _config(args, device: str | None = None, board: str | None = None):
    from openeie.config import EngineConfig
    from .presets import board_preset, preset
    if args.config:
        return EngineConfig.load(args.config)
    return board_preset(board) if board else preset(device)


def _say(text: str):
    print(text, file=sys.stderr, flush=True)


def _summary(result: dict) -> str:
    util = ", ".join(f"{bel} {u['used']}/{u['available']}" for bel, u in result["utilization"].items())
    met = "met" if result["timing_met"] else "NOT met"
    return f"Fmax {result['fmax_mhz']} MHz (target {result['target_mhz']:g} MHz, {met}); {util}"


def cmd_synth(args):
    from .boards import get_board, get_device
    from .synth import build_board, estimate, write_report
    from .protocol import DEFAULT_BAUD
    from .sweep import sweep_pes

    modes = [bool(args.board), args.estimate, args.sweep]
    if sum(modes) != 1:
        raise ValueError("openeie synth needs exactly one of --board BOARD, --estimate or --sweep")
    if args.board:
        board = get_board(args.board)
        cfg = _config(args, board=board.name)
        out = Path(args.output or f"out/synth-{board.name}")
        _say(f"building {board.name} ({cfg.n_pe} PEs) in {out}/ ...")
        result = build_board(board, cfg, out, baud=args.baud or DEFAULT_BAUD, clock_mhz=args.clock_mhz,
                             seed=args.seed)
        write_report(result, args.json or out / "report.json", out / "report.md")
        print(f"{result['bitstream']}: {_summary(result)}")
        return
    if not args.device:
        raise ValueError("--estimate and --sweep need --device (one of up5k, 25k, 85k)")
    device = get_device(args.device)
    cfg = _config(args, device=device.name)
    if args.estimate:
        out = Path(args.output or f"out/estimate-{device.name}")
        _say(f"estimating {cfg.n_pe} PEs on the {device.part} in {out}/ ...")
        result = estimate(cfg, device, out, freq_mhz=args.freq_mhz, seed=args.seed, block=args.block,
                          route_timeout_s=args.route_timeout_min and 60 * args.route_timeout_min)
        json_path = Path(args.json) if args.json else out / "report.json"
        write_report(result, json_path, json_path.with_suffix(".md"))
        what = f"block {args.block}" if args.block else "engine + link"
        print(f"{device.part}, {cfg.n_pe} PEs, {what}: {_summary(result)}")
        return
    out = Path(args.output or f"out/sweep-{device.name}")
    result = sweep_pes(cfg, device, out, pes=args.pes or (1, 2, 4, 8), freq_mhz=args.freq_mhz, seed=args.seed,
                       route_timeout_s=args.route_timeout_min and 60 * args.route_timeout_min, progress=_say)
    if args.json:
        Path(args.json).write_text((out / "sweep.json").read_text())
    best = result["largest_fit"]
    if best is None:
        print(f"{device.part}: no PE count of the sweep fits (see {out}/sweep.json)")
    else:
        print(f"{device.part}: largest fit {best['n_pe']} PEs at {best['fmax_mhz']} MHz; plot {result['plot']}")


def add_commands(subparsers) -> None:
    """Register ``synth`` on the ``openeie`` command line's subparsers."""
    p = subparsers.add_parser(
        "synth", help="FPGA bitstreams, board-less resource/Fmax estimates and PE sweeps (YoWASP tools)",
        description="Synthesize the engine with its UART host link. --board builds a bitstream for a board; "
                    "--estimate synthesizes and places the design for a bare device; --sweep estimates a range of "
                    "PE counts and plots utilisation and Fmax. Without --config the board's or device's preset "
                    "(openeie.fpga.presets) is used. Reports: JSON + Markdown.",
        epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_argument_group("mode (one of)")
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
    p.add_argument("--pes", type=int, nargs="+", metavar="N", help="--sweep: PE counts (default 1 2 4 8)")
    p.add_argument("--block", choices=["pe", "counters", "broadcaster", "controller", "decoder"],
                   help="--estimate: one block alone, every port behind a flip-flop (its own Fmax and critical "
                        "path)")
    p.add_argument("--freq-mhz", type=float, help="nextpnr clock target for estimates (default: 40 iCE40, "
                                                  "100 ECP5)")
    p.add_argument("--baud", type=int, default=None, help="UART baud rate of the board build (default 115200)")
    p.add_argument("--clock-mhz", type=float, help="--board: run the design at this clock from a PLL (ECP5 boards; "
                                                   "default: the board's oscillator)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    p.add_argument("--route-timeout-min", type=float, metavar="MIN",
                   help="--estimate/--sweep: stop routing after MIN minutes and report the post-placement Fmax "
                        "estimate (large ECP5 designs can take an hour to route)")
    p.set_defaults(func=cmd_synth)
