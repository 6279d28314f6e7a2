"""Front end: a PyTorch model (or checkpoint) -> the chain of fully connected layers the engine runs.

The engine runs chains of ``y = W x + b`` layers, each optionally followed by ReLU. :func:`extract_layers`
accepts an ``nn.Sequential`` (nested ones are flattened) or any module that :mod:`torch.fx` traces into a
straight chain, built only of ``Linear``, ``ReLU``, ``Flatten``, ``Dropout`` and ``Identity`` (plus the
functional ``relu`` / ``flatten`` / ``dropout`` forms in a traced graph). Dropout, Identity and Flatten are
inference-time no-ops for row-vector inputs; a ReLU directly after a Linear (no-ops in between allowed) sets that
layer's ``relu`` flag. Anything else is refused with a single :class:`FrontendError` that names every offending
module by qualified name and type.

:func:`load_checkpoint` reads weights without ever executing a pickle: ``.safetensors`` through
:mod:`safetensors`, ``.pt`` / ``.pth`` only through ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from openeie.errors import OpenEIEError

__all__ = ["FrontendError", "extract_layers", "fold_batchnorm", "linear_modules", "effective_weight", "load_checkpoint",
           "checkpoint_metadata", "load_into", "layer_order", "mlp_from_state_dict"]


class FrontendError(OpenEIEError, ValueError):
    """A model or checkpoint the front end cannot turn into engine layers."""


# Module types that compute nothing at inference (Flatten: the engine's storage order makes it free).
_PASSTHROUGH = (nn.Dropout, nn.Identity, nn.Flatten)
_SUPPORTED = ("Linear, Conv2d, MaxPool2d, AvgPool2d, BatchNorm (folded: fold_batchnorm), ReLU, Flatten, Dropout, "
              "Identity")

# Functional forms accepted in a traced graph: target -> "relu" | "pass".
_FUNCTIONS = {
    F.relu: "relu", torch.relu: "relu", torch.nn.functional.dropout: "pass", torch.flatten: "pass",
}
_METHODS = {"relu": "relu", "flatten": "pass"}


def _op_of_module(mod: nn.Module):
    """``"linear"``, ``"conv"``, ``"maxpool"``, ``"avgpool"``, ``"bn"``, ``"relu"``, ``"pass"`` or None
    (unsupported) for one leaf module."""
    for kind, op in ((nn.Linear, "linear"), (nn.Conv2d, "conv"), (nn.MaxPool2d, "maxpool"),
                     (nn.AvgPool2d, "avgpool"), ((nn.BatchNorm1d, nn.BatchNorm2d), "bn"), (nn.ReLU, "relu"),
                     (_PASSTHROUGH, "pass")):
        if isinstance(mod, kind):
            return op
    return None


def _pair(value, what: str, name: str) -> int:
    """One int of an int or a pair of equal ints (a square kernel, the same stride both ways)."""
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise FrontendError(f"{name!r}: {what} {tuple(value)}: the engine takes the same value in both "
                                f"directions")
        value = value[0]
    return int(value)


def _conv_geometry(mod: nn.Conv2d, name: str) -> dict:
    if mod.padding_mode != "zeros" or isinstance(mod.padding, str):
        raise FrontendError(f"Conv2d {name!r}: padding {mod.padding!r} / mode {mod.padding_mode!r}: the engine pads "
                            f"with zeros by a number of pixels")
    if _pair(mod.dilation, "dilation", name) != 1:
        raise FrontendError(f"Conv2d {name!r}: dilation {mod.dilation}: expected 1")
    kernel, pad = _pair(mod.kernel_size, "kernel", name), _pair(mod.padding, "padding", name)
    if pad >= kernel:
        raise FrontendError(f"Conv2d {name!r}: padding {pad} >= kernel {kernel}: expected at most kernel - 1")
    return {"kernel": kernel, "stride": _pair(mod.stride, "stride", name), "pad": pad, "groups": mod.groups}


def _pool_geometry(mod, name: str) -> int:
    k = _pair(mod.kernel_size, "window", name)
    stride = k if mod.stride is None else _pair(mod.stride, "stride", name)
    pad = _pair(mod.padding, "padding", name)
    if stride != k or pad != 0 or mod.ceil_mode or (isinstance(mod, nn.MaxPool2d) and _pair(mod.dilation,
                                                                                            "dilation", name) != 1):
        raise FrontendError(f"{type(mod).__name__} {name!r}: window {k}, stride {stride}, padding {pad}, ceil_mode "
                            f"{mod.ceil_mode}: the engine pools non-overlapping windows (stride = window, no padding, "
                            f"floor mode)")
    return k


def _sequential_ops(seq: nn.Sequential, prefix: str, ops: list, bad: list) -> None:
    for name, child in seq.named_children():
        qual = f"{prefix}.{name}" if prefix else name
        if type(child) is nn.Sequential:
            _sequential_ops(child, qual, ops, bad)
            continue
        op = _op_of_module(child)
        if op is None:
            bad.append(f"{qual!r} ({type(child).__name__})")
        else:
            ops.append((op, qual, child))


def _graph_ops(gm: torch.fx.GraphModule, ops: list, bad: list) -> None:
    """Walk a traced graph that must be a single chain from the one input to the output."""
    prev = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if prev is not None:
                bad.append(f"input {node.name!r} (a second model input)")
            prev = node
            continue
        if node.op == "output":
            if node.args[0] is not prev:
                bad.append(f"output {node.name!r} (the output is not the end of the layer chain)")
            continue
        mod = gm.get_submodule(node.target) if node.op == "call_module" else None
        if mod is not None:
            op, what = _op_of_module(mod), f"{node.target!r} ({type(mod).__name__})"
        elif node.op == "call_function":
            op, what = _FUNCTIONS.get(node.target), f"{node.name!r} (function {_target_name(node)})"
        elif node.op == "call_method":
            op, what = _METHODS.get(node.target), f"{node.name!r} (method {_target_name(node)})"
        else:
            op, what = None, f"{node.name!r} ({node.op} {_target_name(node)})"
        if op is None:
            bad.append(what)
        elif list(node.all_input_nodes) != [prev]:
            bad.append(f"{what[:-1]}, not in a straight chain)")
        ops.append((op, node.target if mod is not None else node.name, mod))
        prev = node


def _target_name(node) -> str:
    t = node.target
    if isinstance(t, str):
        return t
    return getattr(t, "__qualname__", None) or getattr(t, "__name__", None) or repr(t)


def _ops(module: nn.Module) -> list:
    if not isinstance(module, nn.Module):
        raise FrontendError(f"expected a torch.nn.Module, got {type(module).__name__}")
    ops, bad = [], []
    if type(module) is nn.Sequential:
        _sequential_ops(module, "", ops, bad)
    else:
        if isinstance(module, torch.fx.GraphModule):
            gm = module
        else:
            try:
                gm = torch.fx.symbolic_trace(module)
            except Exception as e:     # tracing runs user code: any failure is "not a simple graph"
                raise FrontendError(f"model of type {type(module).__name__} is neither an nn.Sequential nor "
                                    f"traceable by torch.fx ({type(e).__name__}: {e}); supported layers: "
                                    f"{_SUPPORTED}") from None
        _graph_ops(gm, ops, bad)
    if bad:
        raise FrontendError(f"unsupported: {', '.join(bad)}; the engine runs straight chains of {_SUPPORTED} only")
    return ops


def _tensor_np(t) -> np.ndarray:
    return t.detach().to(torch.float64).cpu().numpy().copy()


def effective_weight(mod: nn.Linear) -> torch.Tensor:
    """The weight a forward pass uses, detached. Under ``torch.nn.utils.prune`` this is recomputed as
    ``weight_orig * weight_mask``: the ``weight`` attribute is only refreshed by the next forward pass, so it is
    stale right after an optimiser step."""
    if hasattr(mod, "weight_orig") and hasattr(mod, "weight_mask"):
        return (mod.weight_orig * mod.weight_mask).detach()
    return mod.weight.detach()


def extract_layers(module: nn.Module, input_shape=None) -> list:
    """The engine layers of a model, in execution order.

    Parameters
    ----------
    module : torch.nn.Module
        An ``nn.Sequential`` (nested allowed) or a module :func:`torch.fx.symbolic_trace` turns into a straight
        chain (a ``GraphModule`` is used as is). Convolutions (``Conv2d``: square kernel, zero padding, groups),
        ``MaxPool2d`` / ``AvgPool2d`` (non-overlapping windows, after the convolution they pool), ``Flatten``;
        ``BatchNorm`` must be folded first (:func:`fold_batchnorm`).
    input_shape : (C, H, W), optional
        The image a convolutional model takes: each convolution's :class:`~openeie.compiler.network.ConvSpec`
        is derived from it (``conv`` is None without it).

    Returns
    -------
    list of dict
        One dict per ``Linear`` or ``Conv2d``: ``name`` (qualified module name), ``module`` (the module itself,
        for pruning and retraining), ``weight`` (float64 ``(n_out, fan_in)`` array of the effective weights: a
        ``torch.nn.utils.prune`` mask is already applied; a convolution's ``(out_c, in_c / groups * k * k)`` in
        PyTorch's order), ``bias`` (float64 ``(n_out,)`` or None), ``relu`` (bool), ``mask`` (bool array shaped
        like ``weight``, or None without a pruning mask), ``groups`` (1 for Linear), ``conv`` (a ``ConvSpec``
        with the pooling that follows, or None), ``pool`` (``(kind, window)`` or None).

    Raises
    ------
    FrontendError
        Naming every unsupported module (qualified name and type), a model without a Linear or Conv2d, a ReLU or
        pool before the first layer, a ReLU before an average pool (the engine pools before ReLU), a BatchNorm,
        a Linear after a convolution whose sizes differ, or consecutive layers whose sizes do not chain.
    """
    from .network import ConvSpec
    ops = _ops(module)
    layers = []
    for op, qual, mod in ops:
        if op in ("linear", "conv"):
            mask = getattr(mod, "weight_mask", None)
            weight = _tensor_np(effective_weight(mod))
            layers.append({
                "name": qual, "module": mod, "weight": weight.reshape(weight.shape[0], -1),
                "bias": None if mod.bias is None else _tensor_np(mod.bias), "relu": False,
                "mask": None if mask is None else (_tensor_np(mask) != 0).reshape(weight.shape[0], -1),
                "groups": mod.groups if op == "conv" else 1, "conv": None, "pool": None,
                "geometry": _conv_geometry(mod, qual) if op == "conv" else None,
            })
        elif op == "bn":
            raise FrontendError(f"BatchNorm {qual!r}: fold batch norms into the layer before them first "
                                f"(openeie.compiler.frontend.fold_batchnorm; compress() does)")
        elif not layers and op != "pass":
            raise FrontendError(f"{type(mod).__name__ if mod is not None else op} {qual!r} comes before the first "
                                f"layer: the engine cannot apply it to its inputs")
        elif op == "relu":
            layers[-1]["relu"] = True
        elif op in ("maxpool", "avgpool"):
            last = layers[-1]
            if last["geometry"] is None or last["pool"] is not None:
                raise FrontendError(f"{type(mod).__name__} {qual!r} follows {'a pool' if last['pool'] else 'a Linear'}: "
                                    f"the engine pools the output of a convolution, once")
            if op == "avgpool" and last["relu"]:
                raise FrontendError(f"AvgPool2d {qual!r} follows a ReLU: the engine pools before ReLU, which is the "
                                    f"same only for max pooling")
            k = _pool_geometry(mod, qual)
            if op == "avgpool" and k & (k - 1):
                raise FrontendError(f"AvgPool2d {qual!r}: window {k}: the engine averages power-of-two windows only")
            last["pool"] = ("max" if op == "maxpool" else "avg", k)
    if not layers:
        raise FrontendError(f"model of type {type(module).__name__} has no Linear or Conv2d layer")
    shape = None if input_shape is None else tuple(int(v) for v in input_shape)
    if shape is not None and len(shape) not in (1, 3):
        raise FrontendError(f"input shape {shape}: expected (features,) or (C, H, W)")
    for i, d in enumerate(layers):
        if d["geometry"] is not None:
            g = d["geometry"]
            if shape is None:
                continue
            if len(shape) != 3 or shape[0] != d["module"].in_channels:
                raise FrontendError(f"Conv2d {d['name']!r} takes {d['module'].in_channels} channels but its input "
                                    f"is {shape}")
            pool, k = d["pool"] or (None, 1)
            spec = ConvSpec(shape[0], shape[1], shape[2], g["kernel"], g["stride"], g["pad"], pool, k)
            d["conv"] = spec
            shape = (d["weight"].shape[0], spec.pooled_h, spec.pooled_w)
        else:
            n_in = d["weight"].shape[1]
            if shape is not None and int(np.prod(shape)) != n_in:
                raise FrontendError(f"Linear {d['name']!r} takes {n_in} inputs but the layer before it produces "
                                    f"{int(np.prod(shape))} ({' x '.join(map(str, shape))})")
            shape = (d["weight"].shape[0],)
        if i and layers[i - 1]["geometry"] is None and d["geometry"] is None:
            a = layers[i - 1]
            if d["weight"].shape[1] != a["weight"].shape[0]:
                raise FrontendError(f"Linear {d['name']!r} takes {d['weight'].shape[1]} inputs but Linear "
                                    f"{a['name']!r} produces {a['weight'].shape[0]} outputs")
    return layers


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of a model with every BatchNorm folded into the Linear or Conv2d right before it, using its running
    statistics and affine parameters (``w' = w * g / sqrt(var + eps)``, ``b' = (b - mean) * g / sqrt(var + eps) +
    beta``) and replaced by an ``nn.Identity``, so that every other module keeps its qualified name; a model
    without BatchNorm is returned unchanged (not copied).

    Raises
    ------
    FrontendError
        A BatchNorm that does not directly follow a Linear or Conv2d (naming both), or one in a model that is
        not an ``nn.Sequential`` (nested ones allowed).
    """
    import copy
    bns = (nn.BatchNorm1d, nn.BatchNorm2d)
    if not any(isinstance(m, bns) for m in model.modules()):
        return model
    if type(model) is not nn.Sequential:
        raise FrontendError(f"BatchNorm folding needs an nn.Sequential model, not {type(model).__name__}")
    work = copy.deepcopy(model)
    leaves = []

    def walk(seq, prefix):
        for name, child in seq.named_children():
            qual = f"{prefix}.{name}" if prefix else name
            if type(child) is nn.Sequential:
                walk(child, qual)
            else:
                leaves.append((seq, name, qual, child))
    walk(work, "")
    for i, (parent, name, qual, child) in enumerate(leaves):
        if not isinstance(child, bns):
            continue
        prev = leaves[i - 1][3] if i else None
        if not isinstance(prev, (nn.Linear, nn.Conv2d)):
            what = f"{leaves[i - 1][2]!r} ({type(prev).__name__})" if i else "the model's input"
            raise FrontendError(f"BatchNorm {qual!r} follows {what}: it folds only into a Linear or Conv2d right "
                                f"before it")
        if child.running_mean is None or child.num_features != prev.weight.shape[0]:
            raise FrontendError(f"BatchNorm {qual!r}: {child.num_features} features without running statistics "
                                f"or unlike the {prev.weight.shape[0]} outputs of {leaves[i - 1][2]!r}")
        with torch.no_grad():
            scale = (child.weight if child.affine else torch.ones_like(child.running_var)) / torch.sqrt(
                child.running_var + child.eps)
            shift = child.bias if child.affine else torch.zeros_like(child.running_mean)
            target = prev.weight_orig if hasattr(prev, "weight_orig") else prev.weight    # under a pruning mask
            target.mul_(scale.reshape(-1, *([1] * (target.dim() - 1))).to(target.dtype))
            bias = prev.bias if prev.bias is not None else torch.zeros_like(child.running_mean)
            prev.bias = nn.Parameter(((bias - child.running_mean) * scale + shift).to(prev.weight.dtype))
        setattr(parent, name, nn.Identity())
    return work


def linear_modules(module: nn.Module) -> list:
    """``[(qualified_name, module), ...]`` of the Linear and Conv2d layers of a model accepted by
    :func:`extract_layers`, in order."""
    return [(d["name"], d["module"]) for d in extract_layers(module)]


# ---- checkpoints ---------------------------------------------------------------------------------------------

_SAFE_SUFFIXES = (".safetensors", ".pt", ".pth")


def _pickle_globals(path: Path) -> list:
    """The ``module.name`` globals a checkpoint's pickle would import, read with :mod:`pickletools` (which only
    parses the opcodes: nothing is imported or executed)."""
    import pickletools
    import zipfile
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                data = b"".join(z.read(n) for n in z.namelist() if n.endswith(".pkl"))
        else:
            data = path.read_bytes()
        found, strings = [], []
        for op, arg, _ in pickletools.genops(data):
            if op.name == "GLOBAL":
                found.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            if isinstance(arg, str):
                strings.append(arg)
        return found
    except Exception:          # a malformed pickle: nothing to name
        return []


def _refused_globals(path: Path) -> list:
    """The globals of the checkpoint that ``torch.load(weights_only=True)`` does not allow."""
    try:
        from torch._weights_only_unpickler import _get_allowed_globals
        allowed = set(_get_allowed_globals())
    except Exception:
        allowed = None
    names = list(dict.fromkeys(_pickle_globals(path)))
    if allowed is None:
        return [n for n in names if not n.startswith(("torch.", "collections.OrderedDict"))]
    return [n for n in names if n not in allowed]


def load_checkpoint(path) -> dict:
    """Read a state dict without executing any pickled code.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.safetensors`` file, or a ``.pt`` / ``.pth`` file readable by ``torch.load(weights_only=True)``
        holding a flat ``{name: tensor}`` mapping (or such a mapping under the key ``"state_dict"``).

    Returns
    -------
    dict of str -> torch.Tensor
        In the file's order (a ``.pt`` state dict keeps the module order; see :func:`layer_order`).

    Raises
    ------
    FrontendError
        Naming the file, for a missing file, an unknown suffix, a malformed file, a pickle that holds Python
        objects other than tensors (naming the refused global; nothing is executed), or contents that are not
        a mapping of names to tensors.
    """
    import pickle
    from openeie.errors import FileInputError
    from openeie.files import input_file
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _SAFE_SUFFIXES:
        raise FrontendError(f"checkpoint {str(path)!r}: unknown suffix {path.suffix!r}: expected one of "
                            f"{', '.join(_SAFE_SUFFIXES)}")
    try:
        input_file(path, "checkpoint")
    except FileInputError as e:
        raise FrontendError(str(e)) from None
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:     # a malformed file raises many kinds of errors; report them all the same way
        refused = _refused_globals(path) if isinstance(e, pickle.UnpicklingError) else []
        if refused:
            raise FrontendError(f"checkpoint {str(path)!r} holds pickled Python objects (refused global "
                                f"{refused[0]!r}); OpenEIE never unpickles them: save the weights alone with "
                                f"torch.save(model.state_dict(), path), or as .safetensors") from None
        if isinstance(e, pickle.UnpicklingError):
            raise FrontendError(f"checkpoint {str(path)!r} cannot be read: not a PyTorch state dict (the pickle is "
                                f"malformed)") from None
        first = str(e).splitlines()[0] if str(e) else "malformed"
        raise FrontendError(f"checkpoint {str(path)!r} cannot be read ({type(e).__name__}: {first[:200]})") from None
    if isinstance(state, dict) and set(state) == {"state_dict"}:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise FrontendError(f"checkpoint {str(path)!r} holds a {type(state).__name__}: expected a mapping of "
                            f"parameter names to tensors")
    for k, v in state.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            raise FrontendError(f"checkpoint {str(path)!r}: entry {k!r} is a {type(v).__name__}: expected a "
                                f"tensor under a string name")
    return dict(state)


def checkpoint_metadata(path) -> dict:
    """The string metadata of a ``.safetensors`` checkpoint (``{}`` for other files or none)."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        return {}
    try:
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception:
        return {}


def load_into(module: nn.Module, path) -> nn.Module:
    """Load a checkpoint read by :func:`load_checkpoint` into ``module`` (strict: names and shapes must match).

    Raises
    ------
    FrontendError
        Naming the file and the missing, unexpected or mis-shaped entries.
    """
    state = load_checkpoint(path)
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k} {tuple(state[k].shape)} (expected {tuple(own[k].shape)})"
              for k in sorted(set(own) & set(state)) if state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = [f"missing {missing}" if missing else "", f"unexpected {unexpected}" if unexpected else "",
                 f"mis-shaped {shapes}" if shapes else ""]
        raise FrontendError(f"checkpoint {str(path)!r} does not fit the model: "
                            f"{'; '.join(p for p in parts if p)}")
    module.load_state_dict(state)
    return module


# ---- a Linear/ReLU model from a bare state dict ----------------------------------------------------------------

def _natural_key(name: str):
    import re
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name) if t]


def _chains(shapes: dict, n_in, limit: int = 2, budget: int = 100_000) -> list:
    """Orders of the layers in which each layer's outputs feed the next one's inputs (at most ``limit``;
    ``None`` when the search ran out of ``budget`` steps)."""
    names = list(shapes)
    found, steps = [], [0]

    def extend(order, used, width):
        if len(found) >= limit:
            return
        steps[0] += 1
        if steps[0] > budget:
            raise TimeoutError
        if len(order) == len(names):
            found.append(list(order))
            return
        for name in names:
            if name not in used and (width is None or shapes[name][1] == width):
                used.add(name)
                order.append(name)
                extend(order, used, shapes[name][0])
                order.pop()
                used.discard(name)
    try:
        extend([], set(), n_in)
    except TimeoutError:
        return None
    return found


def layer_order(state: dict, ordered: bool, metadata: dict | None = None, n_in: int | None = None) -> list:
    """The order of the Linear layers (``<name>.weight`` 2-D tensors) of a state dict.

    * ``metadata["openeie.layer_order"]`` (a JSON list of layer names, e.g. written into a ``.safetensors``
      file's metadata) decides when present;
    * ``ordered`` (a ``.pt`` state dict: its keys are in module order): the file's order, which must chain;
    * otherwise (``.safetensors`` sorts its keys, so the file order says nothing): the only order in which the
      shapes chain (layer k's outputs = layer k+1's inputs, the first taking ``n_in`` inputs when given); if
      several chain, the natural order of the names (``2`` before ``10``) when the names differ only in their
      numbers (``fc1, fc2``; ``0, 2, 4``); anything else is ambiguous and refused.

    Raises
    ------
    FrontendError
        No chaining order, or an ambiguous one (the message says how to state the order).
    """
    import json
    import re
    shapes = {k[:-len(".weight")]: tuple(v.shape) for k, v in state.items() if k.endswith(".weight")}
    if not shapes:
        raise FrontendError("checkpoint holds no '<name>.weight' tensors")
    for name, shape in shapes.items():
        if len(shape) != 2:
            raise FrontendError(f"checkpoint tensor {name}.weight has shape {shape}: expected a 2-D Linear weight "
                                f"(only Linear/ReLU networks are supported)")
    names = list(shapes)
    stated = (metadata or {}).get("openeie.layer_order")
    if stated is not None:
        try:
            order = json.loads(stated)
        except ValueError:
            order = None
        if not isinstance(order, list) or sorted(map(str, order)) != sorted(names):
            raise FrontendError(f"checkpoint metadata openeie.layer_order = {stated!r:.200}: expected a JSON list "
                                f"of the layers {sorted(names)}")
        candidates = [order]
    elif ordered:
        candidates = [names]
    else:
        candidates = None
    if candidates is not None:
        _check_chain(candidates[0], shapes, n_in)
        return candidates[0]
    chains = _chains(shapes, n_in)
    natural = sorted(names, key=_natural_key)
    if chains is not None and len(chains) == 1:
        return chains[0]
    if chains == []:
        _check_chain(natural, shapes, n_in)          # raises, naming the first mismatch
    alike = len({re.sub(r"\d+", "#", n) for n in names}) == 1
    if alike:
        _check_chain(natural, shapes, n_in)
        return natural
    raise FrontendError(f"checkpoint layers {natural} can be chained in more than one order and the file does not "
                        f"record theirs (.safetensors sorts its keys): save it as .pt (torch.save(model.state_dict()"
                        f", path)) or add metadata {{'openeie.layer_order': json.dumps([...])}}")


def _check_chain(order, shapes, n_in):
    width = n_in
    for i, name in enumerate(order):
        out_f, in_f = shapes[name]
        if width is not None and in_f != width:
            what = "the data has" if i == 0 else f"the previous layer {order[i - 1]!r} produces"
            raise FrontendError(f"checkpoint layer {name!r} takes {in_f} inputs but {what} {width}")
        width = out_f


def mlp_from_state_dict(state: dict, ordered: bool = True, metadata: dict | None = None, n_in: int | None = None):
    """An ``nn.Sequential`` of Linear layers holding ``state``, and what was assumed about it.

    A state dict holds no activation functions: ReLU is assumed after every layer but the last (the engine
    applies ReLU or nothing), unless ``metadata["openeie.activations"]`` (a JSON list of ``"relu"`` /
    ``"none"``, one per layer) says otherwise. The layer order comes from :func:`layer_order`.

    Returns
    -------
    model : torch.nn.Sequential
    notes : list of str
        The order used and the activations assumed, for the user and the report.
    """
    import json
    from collections import OrderedDict
    order = layer_order(state, ordered, metadata, n_in)
    acts = (metadata or {}).get("openeie.activations")
    if acts is not None:
        try:
            acts = json.loads(acts)
        except ValueError:
            acts = None
        if not isinstance(acts, list) or len(acts) != len(order) or any(a not in ("relu", "none") for a in acts):
            raise FrontendError(f"checkpoint metadata openeie.activations = {(metadata or {}).get('openeie.activations')!r:.200}: "
                                f"expected a JSON list of {len(order)} entries 'relu' or 'none' (the engine applies "
                                f"ReLU or nothing)")
        notes = [f"activations from the checkpoint's metadata: {', '.join(acts)}"]
    else:
        acts = ["relu"] * (len(order) - 1) + ["none"]
        notes = ["activations assumed (a state dict records none): ReLU after every layer but the last"]
    notes.insert(0, f"layer order: {' -> '.join(order)}")
    mods = OrderedDict()
    used = set()
    for name, act in zip(order, acts):
        w = state[f"{name}.weight"]
        bias = state.get(f"{name}.bias")
        for t, what in ((w, "weight"), (bias, "bias")):
            if t is not None and not t.is_floating_point():
                raise FrontendError(f"checkpoint tensor {name}.{what} is {t.dtype}: expected floating point")
        lin = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
        with torch.no_grad():
            lin.weight.copy_(w.float())
            if bias is not None:
                if tuple(bias.shape) != (w.shape[0],):
                    raise FrontendError(f"checkpoint tensor {name}.bias has shape {tuple(bias.shape)}: expected "
                                        f"({w.shape[0]},)")
                lin.bias.copy_(bias.float())
        for t, what in ((w, "weight"), (bias, "bias")):
            if t is not None and not bool(torch.isfinite(t).all()):
                bad = torch.nonzero(~torch.isfinite(t))[0].tolist()
                raise FrontendError(f"checkpoint tensor {name}.{what}{bad} = {t[tuple(bad)].item()}: expected finite "
                                    f"numbers")
        safe = name.replace(".", "_")
        mods[safe] = lin
        used |= {f"{name}.weight", f"{name}.bias"}
        if act == "relu":
            mods[f"relu_{safe}"] = nn.ReLU()
    extra = sorted(set(state) - used)
    if extra:
        raise FrontendError(f"checkpoint tensors {extra[:4]} are not Linear weights or biases")
    return nn.Sequential(mods), notes
