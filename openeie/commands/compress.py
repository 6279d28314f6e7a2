"""``openeie compress CHECKPOINT -o NET``: Deep Compression of a checkpoint (an MLP, or a CNN with its
architecture) into a network file.

Everything is checked before the first epoch: the checkpoint (read without unpickling), the architecture (or the
layer order and the activations assumed for a bare Linear state dict), the training data, every option's range and
the output path.
"""

from __future__ import annotations

from .arguments import config_int, density, int_in, seed

__all__ = ["add_arguments", "run", "REPORT_FORMAT"]

#: ``format`` tag of ``NET.report.json`` (it is replaced only when it carries this tag).
REPORT_FORMAT = "openeie-compress-report"


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser(
        "compress", help="Deep Compression of a checkpoint (prune, retrain, share weights)",
        description="Compress a checkpoint (.safetensors, or .pt/.pth read with torch.load(weights_only=True); "
                    "never unpickled): iterative magnitude pruning with retraining, k-means weight sharing, "
                    "centroid fine-tuning. Writes the network file NET (.npz/.safetensors, the schema 'openeie "
                    "compile' reads) and NET.report.json. A CNN (Conv2d, MaxPool2d/AvgPool2d, BatchNorm, Flatten, "
                    "ReLU, Linear) needs its architecture: --arch ARCH.json or the .safetensors metadata "
                    "'openeie.architecture' (see openeie.compiler.architecture; save_checkpoint writes it). A bare "
                    "Linear state dict records no activations: ReLU after every layer but the last is assumed and "
                    "said so (or set in .safetensors metadata 'openeie.activations'). Optional steps: low-rank "
                    "factorisation first (--low-rank), distillation from the float model in every retraining "
                    "(--distill), ternary/binary codebooks (--shared-values 2).")
    p.add_argument("checkpoint", metavar="CHECKPOINT")
    p.add_argument("-o", "--output", required=True, metavar="NET", help="output network file (.npz or .safetensors)")
    p.add_argument("--density", type=density, default=0.08, help="fraction of weights kept, 0 < d <= 1 (default 0.08)")
    p.add_argument("--arch", metavar="ARCH.json", help="the checkpoint's architecture (input_shape and layers; "
                   "default: the checkpoint's metadata, else a Linear/ReLU chain)")
    p.add_argument("--code-bits", type=config_int("code_bits"), default=4, help="weight code width (default 4)")
    p.add_argument("--conv-code-bits", type=config_int("code_bits"), metavar="BITS",
                   help="weight code width of the convolution layers (default: --code-bits; Deep Compression "
                        "uses 8 for convolutions, 5 for fully connected layers)")
    p.add_argument("--rel-index-bits", type=config_int("rel_index_bits"), default=4,
                   help="relative index width of the storage report (default 4)")
    p.add_argument("--low-rank", type=_rank_rule, metavar="RULE",
                   help="factorise first (SVD of Linear, Tucker-2 of Conv2d): 'vbmf' (ranks by VBMF), an energy "
                        "fraction 0 < e < 1, or a rank >= 1")
    p.add_argument("--low-rank-skip", type=_names, default=[], metavar="NAME,...",
                   help="layers --low-rank leaves alone (e.g. the first convolution and the classifier)")
    p.add_argument("--low-rank-epochs", type=int_in(0, 100_000, "epochs"), default=10,
                   help="fine-tuning epochs after the factorisation (default 10)")
    p.add_argument("--distill", type=_distill, metavar="T,ALPHA",
                   help="retrain with distillation from the float model: temperature T > 0 and soft-target "
                        "weight 0 <= ALPHA <= 1, e.g. 4,0.7")
    p.add_argument("--shared-values", type=int_in(1, 255, "shared values"), metavar="N",
                   help="non-zero shared values per layer instead of 2**code_bits - 1 (2: ternary weights)")
    p.add_argument("--data", default="digits", help="'digits' or a .npz with x_train, y_train, x_test, y_test")
    p.add_argument("--prune-steps", type=int_in(1, 1000, "prune steps"), default=3)
    p.add_argument("--prune-epochs", type=int_in(0, 100_000, "epochs"), default=5)
    p.add_argument("--finetune-epochs", type=int_in(0, 100_000, "epochs"), default=5)
    p.add_argument("--seed", type=seed, default=0)
    p.set_defaults(run=run)


def run(args) -> None:
    import json
    from pathlib import Path
    from openeie.compiler.compress import compress
    from openeie.report.tables import compress_table
    from openeie.compiler.datasets import load_dataset
    import numpy as np
    from openeie.compiler.architecture import model_of_checkpoint, read_architecture
    from openeie.compiler.frontend import extract_layers, fold_batchnorm, load_checkpoint
    from openeie.compiler.netfile import save_network
    from openeie.compiler.prune import single_thread
    from openeie.errors import InputError
    from openeie.files import check_output_file, write_text
    output = Path(args.output)
    if output.suffix.lower() not in (".npz", ".safetensors"):
        raise InputError(f"output {str(output)!r}: expected a .npz or .safetensors file name")
    data_file = None if args.data == "digits" else args.data
    check_output_file(output, "network file", inputs=[args.checkpoint, data_file])
    report_path = Path(str(output) + ".report.json")
    check_output_file(report_path, "compression report", inputs=[args.checkpoint, data_file])
    _check_own_report(report_path)
    arch = read_architecture(args.arch) if args.arch else None
    state = load_checkpoint(args.checkpoint)
    model, shape, notes = model_of_checkpoint(args.checkpoint, state, arch)
    layers = extract_layers(fold_batchnorm(model), shape)
    code_bits = args.code_bits
    if args.conv_code_bits is not None:
        if not any(l["conv"] is not None for l in layers):
            raise InputError(f"--conv-code-bits {args.conv_code_bits}: the network has no convolution layer")
        code_bits = {l["name"]: args.conv_code_bits if l["conv"] is not None else args.code_bits for l in layers}
    low_rank = None
    if args.low_rank is not None:
        low_rank = {"linear": args.low_rank, "conv": args.low_rank, "skip": args.low_rank_skip,
                    "epochs": args.low_rank_epochs}
        unknown = sorted(set(args.low_rank_skip) - {l["name"] for l in layers})
        if unknown:
            raise InputError(f"--low-rank-skip {','.join(args.low_rank_skip)}: unknown layer(s) {unknown}: expected "
                             f"names among {[l['name'] for l in layers]}")
    elif args.low_rank_skip:
        raise InputError("--low-rank-skip names layers of --low-rank: give --low-rank too")
    most = (1 << max(args.code_bits, args.conv_code_bits or 0)) - 1          # the widest layer's non-zero codes
    if args.shared_values is not None and args.shared_values > most:
        raise InputError(f"--shared-values {args.shared_values}: expected at most 2**code_bits - 1 = {most}")
    x_tr, y_tr, x_te, y_te = load_dataset(args.data, n_features=int(np.prod(shape)),
                                          n_classes=layers[-1]["weight"].shape[0])
    if len(shape) == 3:                       # images in (C, H, W) order, flattened in the data file
        x_tr, x_te = (x.reshape((len(x),) + tuple(shape)) for x in (x_tr, x_te))
    for note in notes:
        print(f"note: {note}")
    with single_thread():
        network, report = compress(model, (x_tr, y_tr), density=args.density, code_bits=code_bits,
                                   rel_index_bits=args.rel_index_bits, eval_data=(x_te, y_te),
                                   prune_steps=args.prune_steps, prune_epochs=args.prune_epochs,
                                   finetune_epochs=args.finetune_epochs, seed=args.seed, progress=True,
                                   input_shape=tuple(shape) if len(shape) == 3 else None, low_rank=low_rank,
                                   distill=args.distill, shared_values=args.shared_values)
    save_network(network, output)
    plain = {"format": REPORT_FORMAT, "checkpoint": str(args.checkpoint), "assumptions": notes,
             "input_shape": list(shape),
             **{k: v for k, v in report.items() if k != "pruned_weights"}}
    write_text(report_path, json.dumps(plain, indent=2, default=str) + "\n", "compression report")
    print(compress_table(report))
    print(f"wrote {output} and {report_path}")


def _rank_rule(text: str):
    """``vbmf``, an energy fraction in (0, 1), or an integer rank >= 1."""
    import argparse
    import math
    if text == "vbmf":
        return text
    if text.isdigit() and int(text) >= 1:
        return int(text)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 'vbmf', an energy fraction 0 < e < 1 or a rank >= 1")
    return value


def _names(text: str) -> list:
    import argparse
    names = [t.strip() for t in text.split(",")]
    if not text.strip() or not all(names):
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated layer names")
    return names


def _distill(text: str) -> dict:
    import argparse
    import math
    parts = text.split(",")
    try:
        t, alpha = (float(p) for p in parts) if len(parts) == 2 else (math.nan, math.nan)
    except ValueError:
        t = alpha = math.nan
    if not (t > 0 and math.isfinite(t) and 0 <= alpha <= 1):
        raise argparse.ArgumentTypeError(f"{text!r}: expected T,ALPHA with T > 0 and 0 <= ALPHA <= 1, e.g. 4,0.7")
    return {"temperature": t, "alpha": alpha}


def _check_own_report(path) -> None:
    """A report file that exists must be one of ours (it is a side output the user did not name)."""
    import json
    from openeie.errors import OutputError
    if not path.exists():
        return
    try:
        ours = json.loads(path.read_text()).get("format") == REPORT_FORMAT
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise OutputError(f"{str(path)!r} exists and is not an OpenEIE compression report: refusing to replace it")
