"""Architecture descriptions: the layer chain of a checkpoint, so that a bare state dict becomes a model.

A state dict records weights, not what connects them; a convolutional network cannot be guessed from them. An
architecture is a JSON object::

    {"input_shape": [1, 8, 8],
     "layers": [{"name": "conv1", "type": "Conv2d", "in_channels": 1, "out_channels": 20, "kernel_size": 5,
                 "padding": 2},
                {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2},
                {"name": "conv2", "type": "Conv2d", "in_channels": 20, "out_channels": 50, "kernel_size": 5,
                 "padding": 2},
                {"type": "ReLU"}, {"type": "Flatten"},
                {"name": "ip1", "type": "Linear", "in_features": 800, "out_features": 500}, {"type": "ReLU"},
                {"name": "ip2", "type": "Linear", "in_features": 500, "out_features": 10}]}

``input_shape`` is one sample's shape, ``[features]`` or ``[C, H, W]``. Each layer has a ``type`` of
:data:`LAYER_TYPES` and that type's fields (:data:`FIELDS`: required ones without a default); a layer with weights
(``Conv2d``, ``Linear``, ``BatchNorm1d``/``2d``) also has a ``name``, the prefix of its state-dict keys
(``conv1.weight``; dots allowed, as in ``features.0``). It comes from a JSON file (``openeie compress --arch``) or
the ``.safetensors`` metadata key :data:`METADATA_KEY` (:func:`save_checkpoint` writes it). Every field is checked:
unknown types and keys, wrong types and out-of-range values are refused naming the layer and the field.
"""

from __future__ import annotations

import json
import numbers
import re
from collections import OrderedDict

import torch
from torch import nn

from .frontend import FrontendError, extract_layers, fold_batchnorm

__all__ = ["METADATA_KEY", "LAYER_TYPES", "FIELDS", "parse_architecture", "read_architecture", "architecture_of",
           "model_from_architecture", "load_state", "model_of_checkpoint", "save_checkpoint"]

#: ``.safetensors`` metadata key holding the architecture as JSON text.
METADATA_KEY = "openeie.architecture"

_REQ = object()     # a required field
#: type -> {field: default (required fields have none)}; "int" fields are integers >= 1 unless noted.
FIELDS = {
    "Conv2d": {"in_channels": _REQ, "out_channels": _REQ, "kernel_size": _REQ, "stride": 1, "padding": 0,
               "groups": 1, "bias": True},
    "Linear": {"in_features": _REQ, "out_features": _REQ, "bias": True},
    "MaxPool2d": {"kernel_size": _REQ},
    "AvgPool2d": {"kernel_size": _REQ},
    "BatchNorm1d": {"num_features": _REQ, "eps": 1e-5},
    "BatchNorm2d": {"num_features": _REQ, "eps": 1e-5},
    "ReLU": {}, "Flatten": {}, "Dropout": {"p": 0.5}, "Identity": {},
}
LAYER_TYPES = tuple(FIELDS)
_WEIGHTED = ("Conv2d", "Linear", "BatchNorm1d", "BatchNorm2d")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
_MAX_LAYERS = 1000
_MAX_SIZE = 1 << 20         # channels, features, kernel: far above anything the engine holds
_MAX_PARAMETERS = 1 << 27   # 134M parameters (0.5 GB of float32)


def _int(value, where: str, low: int = 1, high: int = _MAX_SIZE) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= value <= high:
        raise FrontendError(f"{where} = {value!r}: expected an integer {low}..{high}")
    return int(value)


def _field(kind: str, key: str, value, where: str):
    if key == "bias":
        if not isinstance(value, bool):
            raise FrontendError(f"{where} = {value!r}: expected true or false")
        return value
    if key == "eps":
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
            raise FrontendError(f"{where} = {value!r}: expected a number > 0 and < 1")
        return float(value)
    if key == "p":
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
            raise FrontendError(f"{where} = {value!r}: expected a probability >= 0 and < 1")
        return float(value)
    return _int(value, where, 0 if key == "padding" else 1)


def parse_architecture(arch, where: str = "architecture") -> dict:
    """Check an architecture (a dict, or JSON text) and return it normalised: every field present, names given
    to the layers without weights (``relu3``, the type in lower case and the layer's position).

    Raises
    ------
    FrontendError
        Malformed JSON, a missing or unknown key, an unknown layer type (naming the supported ones), a value of
        the wrong type or range, a weighted layer without a name, or a duplicate name.
    """
    if isinstance(arch, (str, bytes)):
        try:
            arch = json.loads(arch)
        except ValueError as e:
            raise FrontendError(f"{where} is not valid JSON ({e})") from None
    if not isinstance(arch, dict):
        raise FrontendError(f"{where} is a JSON {type(arch).__name__}: expected an object with input_shape and "
                            f"layers")
    unknown = sorted(set(arch) - {"input_shape", "layers"})
    missing = sorted({"input_shape", "layers"} - set(arch))
    if unknown or missing:
        raise FrontendError(f"{where}: {'unknown keys ' + str(unknown) if unknown else 'missing ' + str(missing)}: "
                            f"expected exactly input_shape and layers")
    shape = arch["input_shape"]
    if not isinstance(shape, list) or len(shape) not in (1, 3):
        raise FrontendError(f"{where} input_shape = {shape!r}: expected [features] or [C, H, W]")
    shape = [_int(v, f"{where} input_shape[{i}]") for i, v in enumerate(shape)]
    layers = arch["layers"]
    if not isinstance(layers, list) or not 1 <= len(layers) <= _MAX_LAYERS:
        raise FrontendError(f"{where} layers = {str(layers)[:80]}: expected a list of 1..{_MAX_LAYERS} layer objects")
    out, names = [], set()
    for i, layer in enumerate(layers):
        at = f"{where} layer {i}"
        if not isinstance(layer, dict):
            raise FrontendError(f"{at} is a JSON {type(layer).__name__}: expected an object with a type")
        kind = layer.get("type")
        if kind not in FIELDS:
            raise FrontendError(f"{at} type {kind!r}: expected one of {', '.join(LAYER_TYPES)}")
        fields = FIELDS[kind]
        extra = sorted(set(layer) - set(fields) - {"type", "name"})
        if extra:
            raise FrontendError(f"{at} ({kind}): unknown fields {extra}: expected {sorted(fields) + ['name', 'type']}")
        name = layer.get("name")
        if name is None:
            if kind in _WEIGHTED:
                raise FrontendError(f"{at} ({kind}) has no name: a layer with weights is named by its state-dict "
                                    f"prefix (e.g. 'conv1' for conv1.weight)")
            name = f"{kind.lower()}{i}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise FrontendError(f"{at} name {name!r}: expected a state-dict prefix such as 'conv1' or 'features.0'")
        if name in names:
            raise FrontendError(f"{at} name {name!r} is used twice: expected unique names")
        names.add(name)
        entry = {"name": name, "type": kind}
        for key, default in fields.items():
            if key not in layer:
                if default is _REQ:
                    need = sorted(k for k, d in fields.items() if d is _REQ)
                    raise FrontendError(f"{at} ({kind} {name!r}) lacks {key}: expected {need}")
                entry[key] = default
            else:
                entry[key] = _field(kind, key, layer[key], f"{at} ({kind} {name!r}) {key}")
        out.append(entry)
    return {"input_shape": shape, "layers": out}


def read_architecture(path) -> dict:
    """:func:`parse_architecture` of a JSON file (read as text, at most 1 MB)."""
    from openeie.errors import FileInputError
    from openeie.files import read_text
    try:
        text = read_text(path, "architecture file")
    except FileInputError as e:
        raise FrontendError(str(e)) from None
    return parse_architecture(text, f"architecture file {str(path)!r}")


def _module(entry: dict) -> nn.Module:
    kind = entry["type"]
    if kind == "Conv2d":
        if entry["in_channels"] % entry["groups"] or entry["out_channels"] % entry["groups"]:
            raise FrontendError(f"Conv2d {entry['name']!r}: groups={entry['groups']} must divide in_channels="
                                f"{entry['in_channels']} and out_channels={entry['out_channels']}")
        return nn.Conv2d(entry["in_channels"], entry["out_channels"], entry["kernel_size"], entry["stride"],
                         entry["padding"], groups=entry["groups"], bias=entry["bias"])
    if kind == "Linear":
        return nn.Linear(entry["in_features"], entry["out_features"], bias=entry["bias"])
    if kind in ("MaxPool2d", "AvgPool2d"):
        return getattr(nn, kind)(entry["kernel_size"])
    if kind in ("BatchNorm1d", "BatchNorm2d"):
        return getattr(nn, kind)(entry["num_features"], eps=entry["eps"])
    if kind == "Dropout":
        return nn.Dropout(entry["p"])
    return getattr(nn, kind)()


def _parameters(entry: dict) -> int:
    """Weights and biases a layer would allocate (checked before allocating them)."""
    kind = entry["type"]
    if kind == "Conv2d":
        return entry["out_channels"] * (entry["in_channels"] // max(1, entry["groups"]) * entry["kernel_size"] ** 2 + 1)
    if kind == "Linear":
        return entry["out_features"] * (entry["in_features"] + 1)
    return 4 * entry.get("num_features", 0)


def _safe(name: str) -> str:
    return name.replace(".", "_")


def model_from_architecture(arch, where: str = "architecture") -> tuple:
    """A freshly initialised ``nn.Sequential`` of an architecture (its modules named like the layers, dots as
    underscores), and the input shape; checked by :func:`~openeie.compiler.frontend.extract_layers` (supported
    chain, sizes that chain from the input shape).

    Returns
    -------
    model : torch.nn.Sequential
    input_shape : tuple of int
    """
    arch = parse_architecture(arch, where)
    params = sum(_parameters(entry) for entry in arch["layers"])
    if params > _MAX_PARAMETERS:
        raise FrontendError(f"{where}: {params:,} parameters: expected at most {_MAX_PARAMETERS:,}")
    mods = OrderedDict()
    for entry in arch["layers"]:
        if _safe(entry["name"]) in mods:
            raise FrontendError(f"{where}: layer names {entry['name']!r} and another become the same module "
                                f"name {_safe(entry['name'])!r}: expected names that differ in more than . vs _")
        mods[_safe(entry["name"])] = _module(entry)
    model = nn.Sequential(mods)
    shape = tuple(arch["input_shape"])
    try:
        extract_layers(fold_batchnorm(model), shape)
    except FrontendError as e:
        raise FrontendError(f"{where}: {e}") from None
    return model, shape


def load_state(model: nn.Sequential, state: dict, arch, where: str = "checkpoint") -> nn.Sequential:
    """Load a state dict whose keys are the architecture's names (``conv1.weight``, ``features.0.bias``) into
    ``model`` (built by :func:`model_from_architecture`). Strict: every tensor used, every parameter and buffer
    given (a BatchNorm's ``num_batches_tracked`` may be absent), shapes equal, floating point and finite.

    Raises
    ------
    FrontendError
        Naming the missing, unexpected, mis-shaped, non-float or non-finite tensors.
    """
    arch = parse_architecture(arch)
    own = model.state_dict()
    rename = {}
    for entry in arch["layers"]:
        for key in own:
            if key.split(".")[0] == _safe(entry["name"]):
                rename[f"{entry['name']}.{key.split('.', 1)[1]}"] = key
    missing = sorted(k for k in set(rename) - set(state) if not k.endswith(".num_batches_tracked"))
    unexpected = sorted(set(state) - set(rename))
    shapes = [f"{k} {tuple(state[k].shape)} (expected {tuple(own[rename[k]].shape)})"
              for k in sorted(set(rename) & set(state)) if tuple(state[k].shape) != tuple(own[rename[k]].shape)]
    if missing or unexpected or shapes:
        parts = [f"missing {missing[:6]}" if missing else "", f"unexpected {unexpected[:6]}" if unexpected else "",
                 f"mis-shaped {shapes[:4]}" if shapes else ""]
        raise FrontendError(f"{where} does not fit its architecture: {'; '.join(p for p in parts if p)}")
    for key in sorted(set(rename) & set(state)):
        t = state[key]
        if key.endswith(".num_batches_tracked"):
            continue
        if not t.is_floating_point():
            raise FrontendError(f"{where} tensor {key} is {t.dtype}: expected floating point")
        if not bool(torch.isfinite(t).all()):
            bad = torch.nonzero(~torch.isfinite(t))[0].tolist()
            raise FrontendError(f"{where} tensor {key}{bad} = {t[tuple(bad)].item()}: expected finite numbers")
    with torch.no_grad():
        model.load_state_dict({rename[k]: v.to(own[rename[k]].dtype) for k, v in state.items()}, strict=False)
    return model


def model_of_checkpoint(path, state: dict, arch=None) -> tuple:
    """The model a checkpoint holds: built from ``arch`` (e.g. :func:`read_architecture` of ``--arch``), else from
    the ``.safetensors`` metadata :data:`METADATA_KEY`, else a Linear/ReLU chain
    (:func:`~openeie.compiler.frontend.mlp_from_state_dict`).

    Returns
    -------
    model : torch.nn.Sequential
    input_shape : tuple of int
    notes : list of str
        Where the architecture came from, and what was assumed.

    Raises
    ------
    FrontendError
        A malformed architecture, a state dict that does not fit it, or a convolution's 4-D weight in a
        checkpoint without one.
    """
    from pathlib import Path
    from .frontend import checkpoint_metadata, mlp_from_state_dict
    where = f"checkpoint {str(path)!r}"
    metadata = checkpoint_metadata(path)
    from_metadata = arch is None and METADATA_KEY in metadata
    where_arch = f"{where} metadata {METADATA_KEY}" if from_metadata else "architecture"
    if from_metadata:
        arch = metadata[METADATA_KEY]
    if arch is None:
        conv = sorted(k for k, v in state.items() if v.dim() == 4)
        if conv:
            raise FrontendError(f"{where}: tensor {conv[0]} is {tuple(state[conv[0]].shape)}, a convolution's weight: "
                                f"give the architecture with --arch ARCH.json or the .safetensors metadata "
                                f"{METADATA_KEY} (openeie.compiler.architecture)")
        ordered = Path(path).suffix.lower() != ".safetensors"
        model, notes = mlp_from_state_dict(state, ordered=ordered, metadata=metadata)
        return model, (model[0].in_features,), notes
    arch = parse_architecture(arch, where_arch)
    model, shape = model_from_architecture(arch, where_arch)
    load_state(model, state, arch, where)
    kinds = [e["type"] if e["type"] not in _WEIGHTED else f"{e['name']} {e['type']}" for e in arch["layers"]]
    return model, shape, [f"architecture from the {'checkpoint metadata' if from_metadata else '--arch file'}"
                          f": input {' x '.join(map(str, shape))} -> {' -> '.join(kinds)}"]


def architecture_of(model: nn.Module, input_shape) -> dict:
    """The architecture of an ``nn.Sequential`` (nested ones flattened; names are the qualified module names)
    of :data:`LAYER_TYPES`, as :func:`parse_architecture` returns it.

    Raises
    ------
    FrontendError
        A module of another type, or one whose settings the description cannot carry (a non-square kernel, a
        pool with its own stride, ...).
    """
    if type(model) is not nn.Sequential:
        raise FrontendError(f"architecture_of needs an nn.Sequential, not {type(model).__name__}")
    layers = []
    for qual, mod in model.named_modules():
        if type(mod) is nn.Sequential:
            continue
        kind = type(mod).__name__
        if kind not in FIELDS:
            raise FrontendError(f"{qual!r} ({kind}): an architecture holds {', '.join(LAYER_TYPES)} only")
        entry = {"name": qual, "type": kind}
        if kind == "Conv2d":
            one = {k: getattr(mod, k) for k in ("kernel_size", "stride", "padding")}
            for k, v in one.items():
                if isinstance(v, str) or len(set(v)) != 1:
                    raise FrontendError(f"Conv2d {qual!r}: {k} {v}: an architecture holds square kernels")
            entry.update(in_channels=mod.in_channels, out_channels=mod.out_channels, groups=mod.groups,
                         bias=mod.bias is not None, **{k: int(v[0]) for k, v in one.items()})
        elif kind == "Linear":
            entry.update(in_features=mod.in_features, out_features=mod.out_features, bias=mod.bias is not None)
        elif kind in ("MaxPool2d", "AvgPool2d"):
            k = mod.kernel_size if isinstance(mod.kernel_size, int) else mod.kernel_size[0]
            plain = _module({"type": kind, "name": qual, "kernel_size": k})
            if any(getattr(plain, a, None) != getattr(mod, a, None) for a in
                   ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "count_include_pad")):
                raise FrontendError(f"{kind} {qual!r}: {mod}: an architecture holds pools with stride = window, "
                                    f"no padding")
            entry.update(kernel_size=int(k))
        elif kind.startswith("BatchNorm"):
            entry.update(num_features=mod.num_features, eps=float(mod.eps))
        elif kind == "Dropout":
            entry.update(p=float(mod.p))
        layers.append(entry)
    return parse_architecture({"input_shape": [int(v) for v in input_shape], "layers": layers})


def save_checkpoint(model: nn.Module, path, input_shape) -> None:
    """Write ``model``'s state dict as ``.safetensors`` with its architecture in the metadata
    (:data:`METADATA_KEY`), so that ``openeie compress`` rebuilds the model from the file alone."""
    from pathlib import Path
    from safetensors.torch import save as save_bytes
    from openeie.files import write_bytes
    arch = architecture_of(model, input_shape)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    write_bytes(Path(path), save_bytes(state, metadata={METADATA_KEY: json.dumps(arch)}), "checkpoint")
