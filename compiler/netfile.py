"""Network files for ``openeie compile``: ``.npz`` or ``.safetensors`` holding per-layer arrays.

Schema (layers numbered 0, 1, 2, ... with no gaps; layer k's outputs feed layer k+1)::

    layer<k>.codebook  float (K,)           K <= 2**code_bits; entry 0 must be 0.0          required
    layer<k>.codes     integer (n_out, n_in)  weight codes, 0 = pruned                        one of these two
    layer<k>.weight    float (n_out, n_in)    weights, quantised to the nearest non-zero
                                              codebook entry (0.0 = pruned)
    layer<k>.bias      float (n_out,)         bias                                             optional
    layer<k>.relu      integer, shape () or (1,): 1 = ReLU after the layer                   optional (0)
    layer<k>.conv      integer (9,): a convolution's in_channels, in_h, in_w, kernel, stride,   optional
                       pad, pool (0 none, 1 max, 2 average), pool_size, groups; its codes
                       are (out_channels, in_channels * kernel**2) in PyTorch's weight order
    layer<k>.requant_mult  integer (n_out,): per-row multipliers >= 0 of an integer layer   optional, with
    layer<k>.requant_shift integer, shape () or (1,): its write-back shift                  .requant_mult
    layer<k>.requant_bias  integer (n_out,): its bias in the accumulator's scale             optional
                       (an integer layer runs on a requantising engine, docs/engine.md "Requantisation")

``.npz`` files are read with ``allow_pickle=False``; nothing is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from openeie.errors import FileInputError
from openeie.files import input_file, write_bytes

from .network import CompressedLayer, CompressedNetwork, ConvSpec, NetworkError, Requant

__all__ = ["load_network", "save_network", "CONV_FIELDS"]

_KEY = re.compile(r"^layer(0|[1-9][0-9]*)\.(codebook|codes|weight|bias|relu|conv|requant_mult|requant_shift|"
                  r"requant_bias)$")

#: The fields of ``layer<k>.conv``, in order.
CONV_FIELDS = ("in_channels", "in_h", "in_w", "kernel", "stride", "pad", "pool", "pool_size", "groups")
_POOLS = (None, "max", "avg")


def _npz_arrays(path: Path) -> dict:
    import zipfile
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    seen = set()
    for name in names:
        if name in seen:
            raise NetworkError(f"network file {str(path)!r} holds {name!r} twice: expected each array once")
        seen.add(name)
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _safetensors_arrays(path: Path) -> dict:
    import json
    import struct
    from safetensors.numpy import load_file

    def unique(pairs):
        keys = [k for k, _ in pairs]
        dup = next((k for k in keys if keys.count(k) > 1), None)
        if dup is not None:
            raise NetworkError(f"network file {str(path)!r} holds {dup!r} twice: expected each array once")
        return dict(pairs)

    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) == 8:
            (n,) = struct.unpack("<Q", head)
            if n <= 100 << 20:
                try:
                    json.loads(f.read(n).decode("utf-8"), object_pairs_hook=unique)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    pass            # safetensors itself reports a malformed header below
    return dict(load_file(str(path)))


def _read_arrays(path: Path) -> dict:
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".safetensors"):
        raise NetworkError(f"network file {str(path)!r}: expected a .npz or .safetensors file")
    try:
        input_file(path, "network file")
    except FileInputError as e:
        raise NetworkError(str(e)) from None
    try:
        return _npz_arrays(path) if suffix == ".npz" else _safetensors_arrays(path)
    except NetworkError:
        raise
    except Exception as e:   # corrupt zip / header: one clear message, no deep trace
        raise NetworkError(f"network file {str(path)!r} is not a readable {suffix} file: "
                           f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'malformed'}") from None


def _relu(value, where: str) -> bool:
    arr = np.asarray(value)
    if arr.size != 1 or arr.ndim > 1 or arr.dtype.kind not in "biu" or int(arr.ravel()[0]) not in (0, 1):
        shown = arr.ravel()[:3].tolist() if arr.size else "[]"
        raise NetworkError(f"{where}.relu = {shown} ({arr.dtype}, shape {arr.shape}): expected a single integer "
                           f"0 or 1")
    return bool(arr.ravel()[0])


def _conv(value, where: str):
    """The :class:`ConvSpec` of a ``layer<k>.conv`` array."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu" or arr.shape != (len(CONV_FIELDS),):
        raise NetworkError(f"{where}.conv is {arr.dtype} of shape {arr.shape}: expected {len(CONV_FIELDS)} integers "
                           f"({', '.join(CONV_FIELDS)})")
    fields = dict(zip(CONV_FIELDS, (int(v) for v in arr)))
    if fields["pool"] not in (0, 1, 2):
        raise NetworkError(f"{where}.conv pool = {fields['pool']}: expected 0 (none), 1 (max) or 2 (average)")
    fields["pool"] = _POOLS[fields["pool"]]
    try:
        return ConvSpec(**fields)
    except NetworkError as e:
        raise NetworkError(f"{where}.conv: {e}") from None


def _requant(d: dict, where: str):
    """The :class:`Requant` of a layer's ``requant_*`` arrays (None without them)."""
    keys = {"requant_mult", "requant_shift", "requant_bias"} & set(d)
    if not keys:
        return None
    if not {"requant_mult", "requant_shift"} <= keys:
        missing = sorted({"requant_mult", "requant_shift"} - keys)[0]
        raise NetworkError(f"{where}.{missing} is missing: an integer layer needs .requant_mult and .requant_shift")
    mult = _array(d, "requant_mult", where, "iu", 1, "a 1-D integer array (n_out,)")
    bias = _array(d, "requant_bias", where, "iu", 1, "a 1-D integer array (n_out,)")
    shift = np.asarray(d["requant_shift"])
    if shift.size != 1 or shift.ndim > 1 or shift.dtype.kind not in "iu":
        raise NetworkError(f"{where}.requant_shift is {shift.dtype} of shape {shift.shape}: expected a single integer")
    return Requant(mult, int(shift.ravel()[0]), bias)


def _array(d: dict, key: str, where: str, kinds: str, ndim: int, what: str):
    arr = d.get(key)
    if arr is None:
        return None
    if arr.dtype.kind not in kinds or arr.ndim != ndim:
        raise NetworkError(f"{where}.{key} is {arr.dtype} of shape {arr.shape}: expected {what}")
    return arr


def load_network(path) -> CompressedNetwork:
    """Read a network file (schema in the module docstring).

    Raises
    ------
    NetworkError
        Naming the file, the key and the offending value: unknown or non-canonical keys (``layer00``), gaps in
        the numbering, wrong dtypes or shapes, a ``relu`` other than 0/1, non-finite values, weights far outside
        their codebook.
    """
    path = Path(path)
    arrays = _read_arrays(path)
    by_layer: dict[int, dict] = {}
    for key, value in arrays.items():
        m = _KEY.match(key)
        if not m:
            raise NetworkError(f"network file {str(path)!r}: unexpected key {key!r}: expected layer<k>.codebook, "
                               f".codes or .weight, .bias, .relu, .conv, .requant_mult/_shift/_bias with k = 0, 1, 2, ... (no leading zeros)")
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
        where = f"network file {str(path)!r}: {name}"
        if "codebook" not in d:
            raise NetworkError(f"network file {str(path)!r}: {name}.codebook is missing")
        if ("codes" in d) == ("weight" in d):
            raise NetworkError(f"network file {str(path)!r}: {name} needs exactly one of .codes and .weight")
        codebook = _array(d, "codebook", where, "iuf", 1, "a 1-D array of real numbers")
        bias = _array(d, "bias", where, "iuf", 1, "a 1-D array of real numbers")
        relu = _relu(d["relu"], where) if "relu" in d else False
        conv = _conv(d["conv"], where) if "conv" in d else None
        codes = _array(d, "codes", where, "iu", 2, "a 2-D integer array (n_out, n_in)")
        weight = _array(d, "weight", where, "f", 2, "a 2-D float array (n_out, n_in)")
        requant = _requant(d, where)
        try:
            if codes is not None:
                layer = CompressedLayer.from_dense_codes(codes, codebook, bias, relu, name, conv=conv)
            else:
                layer = CompressedLayer.from_float(weight, codebook, bias, relu, name, conv=conv)
            if requant is not None:
                layer = dataclasses.replace(layer, requant=requant)
            layers.append(layer)
        except NetworkError as e:
            raise NetworkError(f"network file {str(path)!r}: {e}") from None
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
        if layer.conv is not None:
            spec = layer.conv
            values = [getattr(spec, f) for f in CONV_FIELDS]
            values[CONV_FIELDS.index("pool")] = _POOLS.index(spec.pool)
            arrays[f"layer{k}.conv"] = np.array(values, dtype=np.int32)
        if layer.requant is not None:
            arrays[f"layer{k}.requant_mult"] = layer.requant.multiplier.astype(np.int64)
            arrays[f"layer{k}.requant_shift"] = np.array([layer.requant.shift], dtype=np.int64)
            if layer.requant.bias is not None:
                arrays[f"layer{k}.requant_bias"] = layer.requant.bias.astype(np.int64)
    if path.suffix.lower() == ".npz":
        import io
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        data = buffer.getvalue()
    elif path.suffix.lower() == ".safetensors":
        from safetensors.numpy import save
        data = save(arrays)
    else:
        raise NetworkError(f"network file {str(path)!r}: expected a .npz or .safetensors suffix")
    write_bytes(path, data, "network file")
