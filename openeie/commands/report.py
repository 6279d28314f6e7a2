"""``openeie report CHECKPOINT --data D.npz -o DIR``: the demo's report for a user's model (an MLP, or a CNN with
its architecture): compressed as ``openeie compress`` does, compiled for an engine, measured on the golden,
cycle and energy models, optionally run on the Verilated engine.

Everything is checked before the first epoch: the compression's inputs (:func:`openeie.commands.compress.prepare`),
the engine configuration and that the network's shape fits it (the sparse-matrix memory, which the pruning
decides, excepted), the RTL toolchain when ``--rtl`` asks for it, and the output directory.
"""

from __future__ import annotations

from .arguments import add_config, int_in, load_config
from .compress import add_compression_options

__all__ = ["add_arguments", "run"]


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="compress, compile and measure your own model: the demo's report for a checkpoint",
        description="The demo's report for CHECKPOINT (what 'openeie compress' accepts: an MLP state dict, a "
                    "CNN with its architecture or --model, an ONNX graph): Deep Compression with the options "
                    "below, lowering to the engine, fixed-point accuracy on the data's test split (golden model), "
                    "cycles and efficiency per layer "
                    "(cycle model), energy per layer and per inference, and with --rtl N the first N test inputs "
                    "on the Verilated engine, held to the golden model (outputs) and the cycle model (done cycle, "
                    "every counter). Writes report.md, report.json, plots and the images into DIR, stamped with "
                    "the OpenEIE version, the git revision (in a checkout), the seeds, the date and the engine "
                    "configuration. DIR must be new, empty or an earlier report (which is replaced).")
    p.add_argument("checkpoint", metavar="CHECKPOINT")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="report directory")
    add_config(p, "4 PEs with EIE's number formats, --code-bits and --rel-index-bits, memories sized to the "
                  "compressed network")
    p.add_argument("--rtl", type=int_in(0, 100_000, "RTL inputs"), default=0, metavar="N",
                   help="test inputs run on the Verilated engine (default 0: none)")
    p.add_argument("--cycle-inputs", type=int_in(1, what="cycle inputs"), default=None, metavar="N",
                   help="test inputs run through the cycle model (default: all)")
    add_compression_options(p)
    p.set_defaults(run=run)


def run(args) -> None:
    from openeie.errors import InputError
    from openeie.files import check_output_dir
    from openeie.flows.report import REPORT, check_fits, run_report
    from openeie.flows.simulate import require_agreement
    from .compress import prepare
    from .simulate import require_rtl
    cfg = load_config(args.config)
    check_output_dir(args.output, REPORT)
    if args.rtl:
        require_rtl("report --rtl")
    job = prepare(args)
    if cfg is not None:
        widest = max(args.code_bits, args.conv_code_bits or 0)
        if widest > cfg.code_bits:
            raise InputError(f"--code-bits {widest} (the widest layer's codes) exceeds the engine's code_bits="
                             f"{cfg.code_bits} ({args.config}): expected at most {cfg.code_bits}")
        if job["options"]["low_rank"] is None:      # factorised layers are checked when they are lowered
            check_fits(job["layers"], cfg)
    from openeie.progress import note
    for text in job["notes"]:
        note(text)
    report = run_report(args.output, job, cfg=cfg, rtl=args.rtl, cycle_inputs=args.cycle_inputs,
                        checkpoint=args.checkpoint, data=args.data)
    print(f"report written to {args.output}/report.md and {args.output}/report.json")
    for line in report["summary_lines"]:
        print("  " + line)
    require_agreement(report["rtl"], f"{args.output}/report.json")
