"""``openeie compress``: Deep Compression of a checkpointed Linear/ReLU network into an OpenEIE network file."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import numpy as np

__all__ = ["mlp_from_state_dict", "load_training_data", "compress_checkpoint"]


def mlp_from_state_dict(state: dict):
    """An ``nn.Sequential`` of Linear layers (ReLU between them, none after the last) holding ``state``.

    The Linear layers are the 2-D ``<name>.weight`` tensors in the checkpoint's order; each may have a
    ``<name>.bias``. Consecutive shapes must chain (layer k's outputs = layer k+1's inputs).
    """
    import torch
    from torch import nn
    from .compiler.frontend import FrontendError
    weights = [(k[:-len(".weight")], v) for k, v in state.items() if k.endswith(".weight")]
    if not weights:
        raise FrontendError("checkpoint holds no '<name>.weight' tensors")
    mods = OrderedDict()
    used = set()
    for i, (name, w) in enumerate(weights):
        if w.ndim != 2:
            raise FrontendError(f"checkpoint tensor {name}.weight has shape {tuple(w.shape)}: expected a 2-D Linear "
                                f"weight (only Linear/ReLU networks are supported)")
        if i and weights[i - 1][1].shape[0] != w.shape[1]:
            raise FrontendError(f"checkpoint layer {name!r} takes {w.shape[1]} inputs but the previous layer "
                                f"produces {weights[i - 1][1].shape[0]}")
        bias = state.get(f"{name}.bias")
        lin = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
        with torch.no_grad():
            lin.weight.copy_(w.float())
            if bias is not None:
                if bias.shape != (w.shape[0],):
                    raise FrontendError(f"checkpoint tensor {name}.bias has shape {tuple(bias.shape)}: expected "
                                        f"({w.shape[0]},)")
                lin.bias.copy_(bias.float())
        safe = name.replace(".", "_")
        mods[safe] = lin
        used |= {f"{name}.weight", f"{name}.bias"}
        if i < len(weights) - 1:
            mods[f"relu_{safe}"] = nn.ReLU()
    extra = sorted(set(state) - used)
    if extra:
        raise FrontendError(f"checkpoint tensors {extra[:4]} are not Linear weights or biases")
    return nn.Sequential(mods)


def load_training_data(spec: str):
    """``digits`` (the bundled set, fixed split) or a ``.npz`` with ``x_train, y_train, x_test, y_test``."""
    if spec == "digits":
        from .compiler.digits import load_digits_split
        return load_digits_split()
    path = Path(spec)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = [f[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"training data {spec!r}: expected 'digits' or a .npz with x_train, y_train, x_test, "
                         f"y_test ({e})") from None
    return (arrays[0].astype(np.float32), arrays[1].astype(np.int64), arrays[2].astype(np.float32),
            arrays[3].astype(np.int64))


def compress_checkpoint(checkpoint, output, density=0.08, code_bits=4, rel_index_bits=4, data="digits",
                        prune_steps=3, prune_epochs=5, finetune_epochs=5, seed=0, progress=True, printer=print):
    """Compress a checkpoint and write the network file ``output`` plus ``<output>.report.json``."""
    from .compiler.compress import compress, format_report
    from .compiler.digits import single_thread
    from .compiler.frontend import load_checkpoint
    from .compiler.netfile import save_network
    output = Path(output)
    if output.suffix.lower() not in (".npz", ".safetensors"):
        raise ValueError(f"output {str(output)!r}: expected a .npz or .safetensors file name")
    model = mlp_from_state_dict(load_checkpoint(checkpoint))
    x_tr, y_tr, x_te, y_te = load_training_data(data)
    if x_tr.shape[1] != model[0].in_features:
        raise ValueError(f"training data has {x_tr.shape[1]} features but the network takes {model[0].in_features}")
    with single_thread():
        network, report = compress(model, (x_tr, y_tr), density=density, code_bits=code_bits,
                                   rel_index_bits=rel_index_bits, eval_data=(x_te, y_te), prune_steps=prune_steps,
                                   prune_epochs=prune_epochs, finetune_epochs=finetune_epochs, seed=seed,
                                   progress=progress)
    save_network(network, output)
    plain = {k: v for k, v in report.items() if k != "pruned_weights"}
    Path(str(output) + ".report.json").write_text(json.dumps(plain, indent=2, default=str) + "\n")
    printer(format_report(report))
    printer(f"wrote {output} and {output}.report.json")
    return network, report
