"""Network files for ``openeie compile``: ``.npz`` or ``.safetensors`` holding per-layer arrays.

Schema (layers numbered 0, 1, 2, ... with no gaps; layer k's outputs feed layer k+1)::

    layer<k>.codebook  float (K,)           K <= 2**code_bits; entry 0 must be 0.0          required
    layer<k>.codes     integer (n_out, n_in)  weight codes, 0 = pruned                        one of these two
    layer<k>.weight    float (n_out, n_in)    weights, quantised to the nearest non-zero
                                              codebook entry (0.0 = pruned)
    layer<k>.bias      float (n_out,)         bias                                             optional
    layer<k>.relu      integer, shape () or (1,): 1 = ReLU after the layer                   optional (0)

``.npz`` files are read with ``allow_pickle=False``; nothing is ever unpickled.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .network import CompressedLayer, CompressedNetwork, NetworkError

__all__ = ["load_network", "save_network"]

_KEY = re.compile(r"^layer(\d+)\.(codebook|codes|weight|bias|relu)$")


def _read_arrays(path: Path) -> dict:
    suffix = path.suffix.lower()
    if not path.exists():
        raise NetworkError(f"network file {str(path)!r} does not exist")
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        if suffix == ".safetensors":
            from safetensors.numpy import load_file
            return dict(load_file(str(path)))
    except Exception as e:   # corrupt zip / header: one clear message, no deep trace
        raise NetworkError(f"network file {str(path)!r} is not a readable {suffix} file: {e}") from None
    raise NetworkError(f"network file {str(path)!r}: expected a .npz or .safetensors file")


def load_network(path) -> CompressedNetwork:
    """Read a network file (schema in the module docstring)."""
    path = Path(path)
    arrays = _read_arrays(path)
    by_layer: dict[int, dict] = {}
    for key, value in arrays.items():
        m = _KEY.match(key)
        if not m:
            raise NetworkError(f"network file {str(path)!r}: unexpected key {key!r}: expected layer<k>.codebook, "
                               f".codes or .weight, .bias, .relu")
        by_layer.setdefault(int(m.group(1)), {})[m.group(2)] = value
    if not by_layer:
        raise NetworkError(f"network file {str(path)!r} holds no layers")
    if sorted(by_layer) != list(range(len(by_layer))):
        raise NetworkError(f"network file {str(path)!r}: layers must be numbered 0..{len(by_layer) - 1}, "
                           f"found {sorted(by_layer)}")
    layers = []
    for k in range(len(by_layer)):
        d = by_layer[k]
        name = f"layer{k}"
        if "codebook" not in d:
            raise NetworkError(f"network file {str(path)!r}: {name}.codebook is missing")
        if ("codes" in d) == ("weight" in d):
            raise NetworkError(f"network file {str(path)!r}: {name} needs exactly one of .codes and .weight")
        relu = d.get("relu", np.zeros(()))
        if np.size(relu) != 1:
            raise NetworkError(f"network file {str(path)!r}: {name}.relu must be a single value")
        relu = bool(np.ravel(relu)[0])
        if "codes" in d:
            layers.append(CompressedLayer.from_dense_codes(d["codes"], d["codebook"], d.get("bias"), relu, name))
        else:
            layers.append(CompressedLayer.from_float(d["weight"], d["codebook"], d.get("bias"), relu, name))
    return CompressedNetwork(layers)


def save_network(network: CompressedNetwork, path) -> None:
    """Write a network in the ``.codes`` form of the schema (``.npz`` or ``.safetensors`` by suffix)."""
    path = Path(path)
    arrays = {}
    for k, layer in enumerate(network):
        codes = layer.dense_codes()
        arrays[f"layer{k}.codes"] = codes.astype(np.uint8 if codes.max(initial=0) < 256 else np.int32)
        arrays[f"layer{k}.codebook"] = layer.codebook.astype(np.float64)
        if layer.bias is not None:
            arrays[f"layer{k}.bias"] = layer.bias.astype(np.float64)
        arrays[f"layer{k}.relu"] = np.array([int(layer.relu)], dtype=np.int32)
    if path.suffix.lower() == ".npz":
        np.savez_compressed(path, **arrays)
    elif path.suffix.lower() == ".safetensors":
        from safetensors.numpy import save_file
        save_file(arrays, str(path))
    else:
        raise NetworkError(f"network file {str(path)!r}: expected a .npz or .safetensors suffix")
