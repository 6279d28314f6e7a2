"""``openeie compress CHECKPOINT -o NET``: Deep Compression of a checkpoint (an MLP, or a CNN with its
architecture) into a network file.

Everything is checked before the first epoch: the checkpoint (read without unpickling), the architecture (or the
layer order and the activations assumed for a bare Linear state dict), the training data (integer class labels,
one class per output of the last layer: the retraining's loss is cross-entropy), every option's range, the layer
names of per-layer options and the output path. :func:`add_compression_options` and :func:`prepare` are shared
with ``openeie report``, which compresses the same way.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from .arguments import config_int, density, int_in, seed

__all__ = ["add_arguments", "run", "add_compression_options", "prepare", "check_classifier", "layer_densities",
           "Densities", "REPORT_FORMAT", "model_spec", "model_of_class"]

#: ``format`` tag of ``NET.report.json`` (it is replaced only when it carries this tag).
REPORT_FORMAT = "openeie-compress-report"


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser(
        "compress", help="Deep Compression of a checkpoint (prune, retrain, share weights)",
        description="Compress a checkpoint (.safetensors, or .pt/.pth read with torch.load(weights_only=True); "
                    "never unpickled) or an ONNX graph (.onnx, a straight chain of Gemm/MatMul/Conv/Relu/pool/"
                    "BatchNormalization/Flatten; needs openeie[onnx]): iterative magnitude pruning with "
                    "retraining, k-means weight sharing, centroid fine-tuning. Writes the network file NET "
                    "(.npz/.safetensors, the schema 'openeie compile' reads) and NET.report.json. A CNN (Conv2d, "
                    "MaxPool2d/AvgPool2d, BatchNorm, Flatten, "
                    "ReLU, Linear) needs its architecture: --arch ARCH.json, the .safetensors metadata "
                    "'openeie.architecture' (see openeie.compiler.architecture; save_checkpoint writes it) or "
                    "--model MODULE:CLASS (your model class; the state dict is loaded into it). A bare "
                    "Linear state dict records no activations: ReLU after every layer but the last is assumed and "
                    "said so (or set in .safetensors metadata 'openeie.activations'). The model must be a "
                    "classifier: one output per class of the data's integer labels (retraining uses a "
                    "cross-entropy loss). Optional steps: low-rank "
                    "factorisation first (--low-rank), distillation from the float model in every retraining "
                    "(--distill), ternary/binary codebooks (--shared-values 2).")
    p.add_argument("checkpoint", metavar="CHECKPOINT")
    p.add_argument("-o", "--output", required=True, metavar="NET", help="output network file (.npz or .safetensors)")
    add_compression_options(p)
    p.set_defaults(run=run)


def add_compression_options(p) -> None:
    """The options of the compression (every one but the checkpoint and the output), as ``compress`` and
    ``report`` take them."""
    p.add_argument("--density", type=layer_densities, default=0.08, metavar="D|NAME=D,...",
                   help="fraction of weights kept, 0 < d <= 1: one for every layer (default 0.08), or per layer as "
                        "NAME=D,... (e.g. fc1=0.08,fc2=0.09; layers not named keep all their weights, unless one "
                        "bare D among them gives the rest, e.g. fc1=0.5,0.08)")
    p.add_argument("--arch", metavar="ARCH.json", help="the checkpoint's architecture (input_shape and layers; "
                   "default: the checkpoint's metadata, else a Linear/ReLU chain)")
    p.add_argument("--model", type=model_spec, metavar="MODULE:CLASS",
                   help="the checkpoint's model class: MODULE (imported from the current directory or sys.path; its "
                        "code runs) and CLASS in it, a torch.nn.Module class or zero-argument factory; the state "
                        "dict is loaded into it strictly (instead of --arch)")
    p.add_argument("--input-shape", type=_input_shape, metavar="C,H,W|F",
                   help="one sample's shape for --model (default: a Linear's in_features, or a convolution's "
                        "channels and a square image of the data's features)")
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
    p.add_argument("--data", default="digits", help="'digits' or a .npz with x_train, y_train, x_test, y_test "
                   "(integer class labels 0..classes-1, one class per output of the last layer)")
    p.add_argument("--prune-steps", type=int_in(1, 1000, "prune steps"), default=3)
    p.add_argument("--prune-epochs", type=int_in(0, 100_000, "epochs"), default=5)
    p.add_argument("--finetune-epochs", type=int_in(0, 100_000, "epochs"), default=5)
    p.add_argument("--seed", type=seed, default=0)


def prepare(args) -> dict:
    """Read and check everything :func:`add_compression_options` names, before any training.

    Returns a dict: ``model`` (the float ``torch.nn.Module``), ``input_shape`` (of one sample), ``notes`` (what was
    assumed, one sentence each), ``layers`` (:func:`openeie.compiler.frontend.extract_layers` of the folded
    model), ``data`` (``(x_train, y_train, x_test, y_test)``, images shaped ``(n, C, H, W)`` for a CNN),
    ``classes`` (the number of classes) and ``options`` (keyword arguments of
    :func:`openeie.compiler.compress.compress` besides the model and the data).
    """
    import numpy as np
    from openeie.compiler.architecture import model_of_checkpoint, read_architecture
    from openeie.compiler.datasets import load_dataset
    from openeie.compiler.frontend import extract_layers, fold_batchnorm, load_checkpoint
    from openeie.errors import InputError
    from pathlib import Path
    onnx_graph = Path(args.checkpoint).suffix.lower() == ".onnx"
    for given, what in ((args.arch, "--arch"), (args.model, "--model")):
        if given and onnx_graph:
            raise InputError(f"{what} {given}: the ONNX graph {str(args.checkpoint)!r} carries its own architecture "
                             f"(give {what} with a state dict only)")
    if args.arch and args.model:
        raise InputError(f"--arch {args.arch} and --model {args.model} both give the architecture: expected one")
    if args.input_shape is not None and not args.model:
        raise InputError(f"--input-shape {','.join(map(str, args.input_shape))} is for --model: an ONNX graph, "
                         f"an --arch file or a state dict state their input")
    if onnx_graph:
        from openeie.compiler.onnx_import import model_of_onnx
        model, shape, notes = model_of_onnx(args.checkpoint)
    elif args.model:
        model, shape, notes = model_of_class(args.model, args.checkpoint, args.input_shape, args.data)
    else:
        arch = read_architecture(args.arch) if args.arch else None
        state = load_checkpoint(args.checkpoint)
        model, shape, notes = model_of_checkpoint(args.checkpoint, state, arch)
    layers = extract_layers(fold_batchnorm(model), shape)
    names = [l["name"] for l in layers]
    code_bits = args.code_bits
    if args.conv_code_bits is not None:
        if not any(l["conv"] is not None for l in layers):
            raise InputError(f"--conv-code-bits {args.conv_code_bits}: the network has no convolution layer")
        code_bits = {l["name"]: args.conv_code_bits if l["conv"] is not None else args.code_bits for l in layers}
    dens = args.density
    if isinstance(dens, Densities):
        unknown = sorted(set(dens.per_layer) - set(names))
        if unknown:
            raise InputError(f"--density {dens.text}: unknown layer(s) {unknown}: expected names among {names}")
        kept = [n for n in names if n not in dens.per_layer]
        if kept and dens.others is None:
            notes = notes + [f"--density names no density for {', '.join(kept)}: all their weights are kept"]
        dens = {n: dens.per_layer.get(n, dens.others) for n in names
                if n in dens.per_layer or dens.others is not None}
    low_rank = None
    if args.low_rank is not None:
        low_rank = {"linear": args.low_rank, "conv": args.low_rank, "skip": args.low_rank_skip,
                    "epochs": args.low_rank_epochs}
        unknown = sorted(set(args.low_rank_skip) - set(names))
        if unknown:
            raise InputError(f"--low-rank-skip {','.join(args.low_rank_skip)}: unknown layer(s) {unknown}: expected "
                             f"names among {names}")
    elif args.low_rank_skip:
        raise InputError("--low-rank-skip names layers of --low-rank: give --low-rank too")
    most = (1 << max(args.code_bits, args.conv_code_bits or 0)) - 1          # the widest layer's non-zero codes
    if args.shared_values is not None and args.shared_values > most:
        raise InputError(f"--shared-values {args.shared_values}: expected at most 2**code_bits - 1 = {most}")
    n_out = layers[-1]["weight"].shape[0]
    if n_out < 2:
        check_classifier(layers, 0)
    x_tr, y_tr, x_te, y_te = load_dataset(args.data, n_features=int(np.prod(shape)), n_classes=n_out)
    where = "the digits" if args.data == "digits" else f"data file {str(args.data)!r}"
    classes = check_classifier(layers, int(max(y_tr.max(), y_te.max())) + 1, where)
    if len(shape) == 3:                       # images in (C, H, W) order, flattened in the data file
        x_tr, x_te = (x.reshape((len(x),) + tuple(shape)) for x in (x_tr, x_te))
    options = dict(density=dens, code_bits=code_bits, rel_index_bits=args.rel_index_bits,
                   prune_steps=args.prune_steps, prune_epochs=args.prune_epochs,
                   finetune_epochs=args.finetune_epochs, seed=args.seed,
                   input_shape=tuple(shape) if len(shape) == 3 else None, low_rank=low_rank, distill=args.distill,
                   shared_values=args.shared_values)
    return {"model": model, "input_shape": tuple(shape), "notes": list(notes), "layers": layers,
            "data": (x_tr, y_tr, x_te, y_te), "classes": classes, "options": options}


# ---- --model MODULE:CLASS ---------------------------------------------------------------------------------------

_SPEC = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"


def model_spec(text: str) -> str:
    """An argparse type: ``MODULE:CLASS`` (dotted names, e.g. ``mymodels:Net`` or ``pkg.nets:Zoo.small``)."""
    import re
    if not re.fullmatch(f"{_SPEC}:{_SPEC}", text):
        raise argparse.ArgumentTypeError(f"{text!r}: expected MODULE:CLASS, e.g. mymodels:Net (a module importable "
                                         f"from the current directory or sys.path, and a torch.nn.Module class or "
                                         f"zero-argument factory in it)")
    return text


def _input_shape(text: str) -> tuple:
    """An argparse type: ``C,H,W`` or ``F`` (integers >= 1)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (1, 3) or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r}: expected C,H,W (an image, e.g. 1,8,8) or F (features, e.g. "
                                         f"64), integers >= 1")
    return tuple(int(p) for p in parts)


def _import_module(name: str, spec: str):
    """``importlib.import_module(name)`` with the current directory on ``sys.path`` and no ``__pycache__``
    written (the user's folder is left as it was)."""
    import importlib
    import os
    import sys
    from openeie.errors import InputError
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        return importlib.import_module(name)
    except Exception as e:        # ImportError, SyntaxError, or whatever the module raises as it runs
        first = str(e).splitlines()[0][:200] if str(e) else "no message"
        raise InputError(f"--model {spec}: cannot import module {name!r} ({type(e).__name__}: {first}): expected a "
                         f"module importable from the current directory {cwd!r} or sys.path") from None
    finally:
        sys.dont_write_bytecode = bytecode
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def model_of_class(spec: str, checkpoint, input_shape=None, data="digits") -> tuple:
    """The model of ``--model MODULE:CLASS``: ``CLASS()`` of the imported ``MODULE`` with the checkpoint's state
    dict loaded strictly (:func:`openeie.compiler.frontend.load_into`, never unpickled).

    Parameters
    ----------
    spec : str
        ``MODULE:CLASS`` (:func:`model_spec`); CLASS is a ``torch.nn.Module`` class or a zero-argument factory.
    checkpoint : str or os.PathLike
        The state dict (``.safetensors``, ``.pt``, ``.pth``).
    input_shape : tuple of int, optional
        One sample's shape (``--input-shape``). Default: ``(in_features,)`` when the first layer is a Linear;
        for a convolution, its input channels and the square image the data's feature count makes.
    data : str
        ``--data``, read for its feature count when a convolution's input shape must be found.

    Returns
    -------
    model : torch.nn.Module
    input_shape : tuple of int
    notes : list of str

    Raises
    ------
    openeie.errors.OpenEIEError
        The module cannot be imported, lacks CLASS, CLASS is not callable, fails, or makes no nn.Module, the state
        dict does not fit it, or no input shape can be found.
    """
    import math
    from torch import nn
    from openeie.compiler.datasets import load_dataset
    from openeie.compiler.frontend import extract_layers, fold_batchnorm, load_into
    from openeie.errors import InputError
    module_name, _, attr = spec.partition(":")
    module = _import_module(module_name, spec)
    target = module
    for i, part in enumerate(attr.split(".")):
        if not hasattr(target, part):
            classes = sorted(n for n, v in vars(module).items() if isinstance(v, type) and issubclass(v, nn.Module)
                             and v.__module__ == module.__name__)
            found = f" (its nn.Module classes: {', '.join(classes)})" if classes else " (it defines no nn.Module class)"
            raise InputError(f"--model {spec}: module {module_name!r} has no attribute "
                             f"{'.'.join(attr.split('.')[:i + 1])!r}{found}")
        target = getattr(target, part)
    if not callable(target):
        raise InputError(f"--model {spec}: {attr} is a {type(target).__name__}: expected a torch.nn.Module class or "
                         f"a zero-argument factory")
    try:
        model = target()
    except Exception as e:        # the user's constructor: a TypeError for required arguments, or its own errors
        first = str(e).splitlines()[0][:200] if str(e) else "no message"
        raise InputError(f"--model {spec}: {attr}() failed ({type(e).__name__}: {first}): expected a class or "
                         f"factory that takes no arguments") from None
    if not isinstance(model, nn.Module):
        raise InputError(f"--model {spec}: {attr}() made a {type(model).__name__}: expected a torch.nn.Module")
    load_into(model, checkpoint)
    model.eval()
    notes = [f"architecture from --model {spec} ({type(model).__name__}, {getattr(module, '__file__', module_name)})"]
    if input_shape is not None:
        return model, tuple(input_shape), notes
    first = extract_layers(fold_batchnorm(model))[0]["module"]
    if isinstance(first, nn.Linear):
        return model, (first.in_features,), notes
    features = int(load_dataset(data)[0].shape[1])
    channels = first.in_channels
    side = math.isqrt(features // channels) if features % channels == 0 else 0
    if side * side * channels != features:
        raise InputError(f"--model {spec}: the first layer is a convolution of {channels} channels and the data has "
                         f"{features} features, not a square image: give --input-shape C,H,W")
    return model, (channels, side, side), notes + [f"input shape {channels} x {side} x {side}: the convolution's "
                                                   f"channels and a square image of the data's {features} features"]


def check_classifier(layers, classes: int, where: str = "the data") -> int:
    """``classes`` when the network is a classifier of that many classes (its last layer has one output per
    class, at least 2), else :class:`~openeie.errors.InputError`: compression retrains with a cross-entropy loss
    and reports top-1 accuracy, which mean nothing for a regression or an embedding."""
    from openeie.errors import InputError
    last = layers[-1]
    n_out = int(last["weight"].shape[0])
    if n_out < 2:
        raise InputError(f"the network's last layer {last['name']!r} has {n_out} output: expected a classifier with "
                         f"one output per class, at least 2 (compression retrains with a cross-entropy loss)")
    if classes != n_out:
        raise InputError(f"{where} has {classes} classes (labels 0..{classes - 1}) but the network's last layer "
                         f"{last['name']!r} has {n_out} outputs: expected a classifier with one output per class "
                         f"(compression retrains with a cross-entropy loss)")
    return classes


def run(args) -> None:
    import json
    from pathlib import Path
    from openeie.compiler.compress import compress
    from openeie.report.tables import compress_table
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
    job = prepare(args)
    x_tr, y_tr, x_te, y_te = job["data"]
    from openeie.progress import note
    for text in job["notes"]:
        note(text)
    with single_thread():
        network, report = compress(job["model"], (x_tr, y_tr), eval_data=(x_te, y_te), progress=True,
                                   **job["options"])
    save_network(network, output)
    plain = {"format": REPORT_FORMAT, "checkpoint": str(args.checkpoint), "assumptions": job["notes"],
             "input_shape": list(job["input_shape"]),
             **{k: v for k, v in report.items() if k != "pruned_weights"}}
    write_text(report_path, json.dumps(plain, indent=2, default=str) + "\n", "compression report")
    print(compress_table(report))
    print(f"wrote {output} and {report_path}")


@dataclass(frozen=True)
class Densities:
    """Per-layer densities of ``--density NAME=D,...``: ``per_layer`` (name -> fraction kept), ``others`` (the
    fraction for the layers not named, or None: they keep all their weights) and the option's ``text``."""

    per_layer: dict
    others: float | None
    text: str


def layer_densities(text: str):
    """An argparse type: a fraction kept (a float in (0, 1]) or :class:`Densities` (``NAME=D,...``, at most one
    bare ``D`` among them for the layers not named)."""
    if "=" not in text:
        return density(text)
    per_layer, others = {}, None
    for part in (p.strip() for p in text.split(",")):
        name, eq, value = (s.strip() for s in part.partition("="))
        if not part or (eq and not name):
            raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=D,... with a layer name before each '=', "
                                             f"e.g. fc1=0.08,fc2=0.09")
        if not eq:
            if others is not None:
                raise argparse.ArgumentTypeError(f"{text!r} gives two densities for the layers not named: expected "
                                                 f"at most one bare D")
            others = density(name)
        elif name in per_layer:
            raise argparse.ArgumentTypeError(f"{text!r} names layer {name!r} twice: expected each layer once")
        else:
            per_layer[name] = density(value)
    return Densities(per_layer, others, text)


def _rank_rule(text: str):
    """``vbmf``, an energy fraction in (0, 1), or an integer rank >= 1."""
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
    names = [t.strip() for t in text.split(",")]
    if not text.strip() or not all(names):
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated layer names")
    return names


def _distill(text: str) -> dict:
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
