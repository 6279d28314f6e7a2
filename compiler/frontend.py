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

__all__ = ["FrontendError", "extract_layers", "linear_modules", "effective_weight", "load_checkpoint", "load_into"]


class FrontendError(ValueError):
    """A model or checkpoint the front end cannot turn into engine layers."""


# Module types that compute nothing at inference on (batch, features) inputs.
_PASSTHROUGH = (nn.Dropout, nn.Identity, nn.Flatten)
_SUPPORTED = "Linear, ReLU, Flatten, Dropout, Identity"

# Functional forms accepted in a traced graph: target -> "relu" | "pass".
_FUNCTIONS = {
    F.relu: "relu", torch.relu: "relu", torch.nn.functional.dropout: "pass", torch.flatten: "pass",
}
_METHODS = {"relu": "relu", "flatten": "pass"}


def _op_of_module(mod: nn.Module):
    """``"linear"``, ``"relu"``, ``"pass"`` or None (unsupported) for one leaf module."""
    if isinstance(mod, nn.Linear):
        return "linear"
    if isinstance(mod, nn.ReLU):
        return "relu"
    if isinstance(mod, _PASSTHROUGH):
        return "pass"
    return None


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


def extract_layers(module: nn.Module) -> list:
    """The engine layers of a model, in execution order.

    Parameters
    ----------
    module : torch.nn.Module
        An ``nn.Sequential`` (nested allowed) or a module :func:`torch.fx.symbolic_trace` turns into a straight
        chain (a ``GraphModule`` is used as is).

    Returns
    -------
    list of dict
        One dict per ``Linear``: ``name`` (qualified module name), ``module`` (the ``nn.Linear`` itself, for
        pruning and retraining), ``weight`` (float64 ``(n_out, n_in)`` array, effective weights: a
        ``torch.nn.utils.prune`` mask is already applied), ``bias`` (float64 ``(n_out,)`` or None), ``relu``
        (bool), ``mask`` (bool ``(n_out, n_in)`` array of the ``torch.nn.utils.prune`` mask, or None when the
        weight carries no pruning mask).

    Raises
    ------
    FrontendError
        Naming every unsupported module (qualified name and type), a model without a Linear, a ReLU before the
        first Linear (the engine cannot rectify its input), or consecutive layers whose sizes do not chain.
    """
    ops = _ops(module)
    layers = []
    for op, qual, mod in ops:
        if op == "linear":
            mask = getattr(mod, "weight_mask", None)
            layers.append({
                "name": qual, "module": mod,
                "weight": _tensor_np(effective_weight(mod)),
                "bias": None if mod.bias is None else _tensor_np(mod.bias),
                "relu": False,
                "mask": None if mask is None else _tensor_np(mask) != 0,
            })
        elif op == "relu":
            if not layers:
                raise FrontendError(f"ReLU {qual!r} comes before the first Linear: the engine cannot apply ReLU "
                                    f"to its inputs")
            layers[-1]["relu"] = True
    if not layers:
        raise FrontendError(f"model of type {type(module).__name__} has no Linear layer")
    for a, b in zip(layers, layers[1:]):
        n_out = a["weight"].shape[0]
        if b["weight"].shape[1] != n_out:
            raise FrontendError(f"Linear {b['name']!r} takes {b['weight'].shape[1]} inputs but Linear "
                                f"{a['name']!r} produces {n_out} outputs")
    return layers


def linear_modules(module: nn.Module) -> list:
    """``[(qualified_name, nn.Linear), ...]`` of a model accepted by :func:`extract_layers`, in order."""
    return [(d["name"], d["module"]) for d in extract_layers(module)]


# ---- checkpoints ---------------------------------------------------------------------------------------------

_SAFE_SUFFIXES = (".safetensors", ".pt", ".pth")


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

    Raises
    ------
    FrontendError
        Naming the file, for a missing file, an unknown suffix, a malformed file, or contents that are not a
        mapping of names to tensors.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _SAFE_SUFFIXES:
        raise FrontendError(f"checkpoint {str(path)!r}: unknown suffix {path.suffix!r}: expected one of "
                            f"{', '.join(_SAFE_SUFFIXES)}")
    if not path.is_file():
        raise FrontendError(f"checkpoint {str(path)!r} does not exist or is not a file")
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:     # a malformed file raises many kinds of errors; report them all the same way
        raise FrontendError(f"checkpoint {str(path)!r} cannot be read safely ({type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else 'malformed'})") from None
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
