"""``openeie run --board B (--port DEV | --simulate) IMAGES``: a compiled network on a board over the host link
(or on the Verilated board), every run held to the golden and cycle models; ``--program`` flashes the bitstream
first, ``--flash-help`` prints the steps by hand."""

from __future__ import annotations

import argparse

from .arguments import add_config, add_inputs, int_in

__all__ = ["add_arguments", "run"]

_EXAMPLES = """\
examples:
  openeie run --board icebreaker --flash-help                          # build, program and connect, step by step
  openeie run --board icebreaker --port /dev/ttyUSB1 out/net --input x.npy -o run.json
  openeie run --board icebreaker --port /dev/ttyUSB1 --program --bitstream out/synth-icebreaker out/net --input x.npy
  openeie run --board icebreaker --simulate out/net --input x.npy      # rehearse on the Verilated board
"""


def _boards() -> list:
    from openeie.fpga.presets import BOARD_PRESETS
    return list(BOARD_PRESETS)


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="run compiled images on an FPGA board (or the Verilated board) over the UART host link",
        description="Load IMAGES (written by 'openeie compile', or a network file compiled on the fly) into a board "
                    "built by 'openeie synth --board' once, run every input, print outputs, predicted class, cycles "
                    "and counters, and hold each run to the golden model (outputs) and the cycle model (cycles, "
                    "every counter): a disagreement exits with status 2 naming the first. The images must be "
                    "compiled for the configuration the bitstream was built with: the board's preset, or --config "
                    "over it as given to 'openeie synth --board --config'. Everything is checked before the port "
                    "is opened. --simulate runs the same host driver against the Verilated board (UART + command "
                    "decoder + engine; the first build takes minutes, then it is cached).",
        epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="IMAGES", nargs="?",
                   help="images directory or .oeie (or a .npz/.safetensors network, compiled for the board)")
    p.add_argument("--board", required=True, choices=_boards(), help="the board the bitstream was built for")
    link = p.add_argument_group("link (one of)").add_mutually_exclusive_group()
    link.add_argument("--port", metavar="DEV", help="serial port of the board's UART (e.g. /dev/ttyUSB1; see "
                                                    "--flash-help)")
    link.add_argument("--simulate", action="store_true", help="run on the Verilated board instead of a real one")
    p.add_argument("--baud", type=int_in(300, 10_000_000, "baud rate"), default=None,
                   help="--port: the UART's baud rate, as the bitstream was built with (default: with --program the "
                        "rate its report.json records, else 115200)")
    add_config(p, "the board's preset (as for 'openeie synth --board')")
    add_inputs(p, "run")
    p.add_argument("--fixed", action="store_true", help="--input holds the engine's fixed-point integers already "
                                                        "(act_bits wide), not real numbers")
    p.add_argument("-o", "--output", metavar="OUT.json", help="write outputs, cycles, counters and the comparison "
                                                              "with the models as JSON")
    p.add_argument("--program", action="store_true", help="program the board with the bitstream first "
                                                          "(openFPGALoader, else the board's amaranth-boards hook: "
                                                          "iceprog, dfu-util)")
    p.add_argument("--bitstream", metavar="FILE_OR_DIR", help="--program: the bitstream, or the directory 'openeie "
                                                              "synth --board B -o DIR' wrote (default "
                                                              "out/synth-BOARD)")
    p.add_argument("--flash-help", action="store_true", help="print how to build, program and connect the board, "
                                                             "then exit")
    p.set_defaults(run=run)


def run(args) -> None:
    from openeie.files import check_output_file, write_text
    from openeie.fpga.presets import board_preset
    if args.flash_help:
        from openeie.errors import InputError
        from openeie.fpga.flash import flash_instructions
        given = [name for name, value in (("IMAGES", args.target), ("--port", args.port), ("--simulate", args.simulate),
                                          ("--input", args.input), ("--program", args.program),
                                          ("--bitstream", args.bitstream), ("--output", args.output)) if value]
        if given:
            raise InputError(f"--flash-help prints the steps and runs nothing: give it with --board alone, not with "
                             f"{', '.join(given)}")
        print(flash_instructions(args.board))
        return
    _check_options(args)
    if args.output:
        check_output_file(args.output, "JSON report", inputs=[args.target, args.input, args.config, args.bitstream])
    _require_extras(args)
    cfg, cfg_name = _board_config(args, board_preset(args.board))
    bitstream = _bitstream(args, cfg, cfg_name) if args.program else None
    program = _program(args, cfg, cfg_name)
    x_q, source = _inputs(args, program)
    if bitstream is not None:
        from openeie.fpga.flash import flash
        from openeie.progress import say
        say(f"programming the {args.board} with {bitstream} ...")
        used = flash(args.board, bitstream)
        say(f"programmed: {used.command} ({used.via})")
    from openeie.flows.board import board_runs, require_board_agreement
    result = board_runs(program, x_q, board=args.board, port=args.port, baud=args.baud, simulate=args.simulate,
                        hello_attempts=3 if bitstream is not None else 1)   # a board just programmed may be booting
    result["input"] = source
    result["configuration"] = cfg_name
    print("\n".join(run_lines(result)))
    if args.output:
        import json
        write_text(args.output, json.dumps(result, indent=2) + "\n", "JSON report")
    require_board_agreement(result, args.output or "the table above")


def _check_options(args) -> None:
    from openeie.errors import InputError
    if not args.port and not args.simulate:
        raise InputError(f"give --port DEV (the {args.board}'s serial port) or --simulate (the Verilated board)")
    if not args.target:
        raise InputError("give IMAGES: an images directory or .oeie written by 'openeie compile' (or a network file)")
    if args.simulate and args.baud is not None:
        raise InputError(f"--baud {args.baud} applies to --port (the Verilated board's UART runs at its own rate)")
    if args.simulate and args.program:
        raise InputError("--program writes a bitstream to a real board: not with --simulate")
    if args.bitstream and not args.program:
        raise InputError(f"--bitstream {args.bitstream} applies to --program")
    if args.fixed and not args.input:
        raise InputError("--fixed describes the --input file: give --input X.npy too")


def _require_extras(args) -> None:
    from .arguments import require_extra
    if args.simulate:
        from .simulate import require_rtl
        require_rtl("openeie run --simulate")
    else:
        require_extra("fpga", "openeie run --port", modules=("serial",))


def _board_config(args, preset):
    """``(cfg, description)``: the board's preset, or ``--config`` over it."""
    from .arguments import load_config
    name = f"the {args.board} preset"
    if not args.config:
        return preset, name
    return load_config(args.config, preset, name), f"--config {args.config} over {name}"


def _bitstream(args, cfg, cfg_name):
    """The bitstream ``--program`` writes, checked against the board configuration when its synthesis report says
    what it was built with."""
    from openeie.errors import InputError
    from openeie.fpga.flash import bitstream_baud, bitstream_config, find_bitstream
    path = find_bitstream(args.board, args.bitstream)
    baud = bitstream_baud(path)
    if baud is not None and args.baud is not None and args.baud != baud:
        raise InputError(f"--baud {args.baud}: the bitstream {str(path)!r} was built for {baud} baud (its "
                         f"report.json): expected --baud {baud} or none")
    if baud is not None:
        args.baud = baud                    # the link runs at the rate the bitstream's UART was built with
    built = bitstream_config(path)
    if built is not None and built != cfg:
        raise InputError(f"bitstream {str(path)!r} was built for another engine configuration than {cfg_name} "
                         f"({built.diff(cfg, 'in the bitstream', 'expected')}): give the --config it was built "
                         f"with (its report.json's config)")
    return path


def _program(args, cfg, cfg_name):
    """The images, compiled for the board's configuration (a network file is lowered with it)."""
    from pathlib import Path
    from openeie.compiler.images import is_images
    from openeie.errors import InputError
    from .targets import load_target
    path = Path(args.target)
    if is_images(path):
        program = load_target(path)
        if program.config != cfg:
            raise InputError(f"images {args.target} were compiled for another engine configuration than the "
                             f"{args.board} bitstream's ({cfg_name}): "
                             f"{program.config.diff(cfg, 'in the images', 'on the board')}; compile them for the "
                             f"board ('openeie config show --preset {args.board} -o cfg.json', then 'openeie compile "
                             f"NET --config cfg.json'), or give the --config the bitstream was built with")
        return program
    return load_target(path, cfg)


def _inputs(args, program):
    """``(x_q, description)``: fixed-point inputs of ``--input`` (real numbers, or integers with ``--fixed``) or
    seeded random ones, checked against the network's input width."""
    if not args.fixed:
        from .arguments import inputs_of
        return inputs_of(args, program)
    import numpy as np
    from openeie.errors import InputError
    from openeie.fixed import fixed_range
    from openeie.sim.inputs import describe_density, load_inputs
    x = load_inputs(args.input, program.n_in)
    if not np.array_equal(x, np.round(x)):
        i = tuple(int(v[0]) for v in np.nonzero(x != np.round(x)))
        raise InputError(f"--fixed: input file {args.input!r} holds the fraction {x[i]:g} at {list(i)}: expected the "
                         f"engine's fixed-point integers (leave out --fixed for real numbers)")
    lo, hi = fixed_range(program.config.act_bits)
    if x.min() < lo or x.max() > hi:
        bad = x.min() if x.min() < lo else x.max()
        raise InputError(f"--fixed: input file {args.input!r} holds {bad:g}: expected {program.config.act_bits}-bit "
                         f"activations {lo}..{hi}")
    return x.astype(np.int64), f"{args.input} ({len(x)} fixed-point input(s), {describe_density(x)})"


def run_lines(result: dict) -> list:
    """What ``openeie run`` prints: one block per input (outputs, class, cycles, counters), then the comparison."""
    from openeie.stats import COUNTERS
    where = "the Verilated board" if result["link"] == "simulated" else f"{result['link']} at {result['baud']} baud"
    c = result["config"]
    lines = [f"{result['board']} ({where}, {c['n_pe']} PEs, {result['configuration']}): {result['load_words']} "
             f"memory words loaded once, {result['inputs']} input(s) run in {result['wall_s']:.2f} s; input: "
             f"{result['input']}"]
    for i, r in enumerate(result["runs"]):
        shown = r["outputs"][:12]
        more = f" ... ({len(r['outputs'])} in all)" if len(r["outputs"]) > len(shown) else ""
        cls = f", class {r['predicted']}" if "predicted" in r else ""
        ok = "ok" if r["golden_equal"] and r["cycle_equal"] else "MISMATCH"
        lines.append(f"input {i}: {r['cycles']} cycles{cls} [{ok}]; outputs {' '.join(f'{v:g}' for v in shown)}{more}")
        counters = " ".join(f"{k}={r['stats'][k]}" for k in COUNTERS if k != "cycles")
        lines.append(f"  counters: {counters}; layer_cycles={r['stats']['layer_cycles']}")
    n = result["inputs"]
    lines.append(f"outputs {result['golden_equal']}/{n} equal to the golden model, cycles and counters "
                 f"{result['cycle_equal']}/{n} equal to the cycle model")
    lines += [f"  {m}" for m in result["mismatches"]]
    return lines
