"""Memory images on disk: ``$readmemh`` hex files, a checked binary container and a JSON manifest.

Binary container (``program.oeie``), little-endian::

    offset  size  field
    0       8     magic  b"OPENEIE\\0"
    8       2     format version (FORMAT_VERSION)
    10      2     header size in bytes (64)
    12      4     flags (0)
    16      32    SHA-256 of the engine configuration's canonical JSON
    48      8     payload length in bytes
    56      4     CRC-32 of the payload
    60      4     reserved (0)
    64      ...   payload: u32 manifest length, manifest JSON (UTF-8), then raw arrays

The manifest's ``arrays`` list names every raw array (``name``, ``dtype`` one of ``<u8 <i8 <f8``, ``shape``,
``offset`` from the start of the array area, ``nbytes``). Loading checks magic, version, length, CRC,
configuration hash (against the manifest's configuration and, if given, the expected one) and array bounds,
and refuses any mismatch with :class:`ImageError`. Nothing is ever unpickled.

Hex files (``hex/pe<P>_<memory>.hex``, ``hex/layers.hex``): one word per line, ``ceil(bits/4)`` hex digits,
first word at address 0, readable by Verilog's ``$readmemh``.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from openeie.config import ConfigError, EngineConfig
from openeie.layout import Mem, mem_depth, mem_word_bits
from openeie.program import LayerInfo, Program

__all__ = ["ImageError", "FORMAT_VERSION", "MAGIC", "container_bytes", "program_from_bytes", "save_container",
           "load_container", "write_hex", "manifest", "save_images", "load_program"]

MAGIC = b"OPENEIE\0"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sHHI32sQII")
assert _HEADER.size == 64
_DTYPES = {"<u8": np.uint64, "<i8": np.int64, "<f8": np.float64}
CONTAINER_NAME = "program.oeie"
MANIFEST_NAME = "manifest.json"

_LAYER_ARRAYS = ("row_pe", "row_slot", "in_pos", "entries", "fillers", "nnz_pe", "spmat_base", "codebook")
_LAYER_SCALARS = ("name", "n_in", "n_out", "in_groups", "out_slots", "ptr_base", "bias_base", "relu", "has_bias")


class ImageError(ValueError):
    """Memory images that are corrupt, truncated, of another format version or for another configuration."""


# ---- manifest -------------------------------------------------------------------------------------------

def manifest(program: Program) -> dict:
    """Human-readable description of the images: configuration, per-layer shapes and counts, per-memory bits."""
    from .storage import storage_report
    cfg = program.config
    mems = {}
    for mem in Mem:
        bits = mem_word_bits(cfg, mem)
        used = program.used[mem]
        mems[mem.key] = {"id": int(mem), "word_bits": bits, "depth_words": mem_depth(cfg, mem),
                         "per_pe": mem.per_pe, "used_words": [int(u) for u in np.atleast_1d(used)],
                         "used_bits": int(np.sum(used)) * bits}
    return {
        "format": "openeie-images", "format_version": FORMAT_VERSION,
        "config": cfg.to_dict(), "config_sha256": cfg.hash().hex(),
        "n_in": program.n_in, "n_out": program.n_out,
        "layers": [{"name": l.name, "n_in": l.n_in, "n_out": l.n_out, "in_groups": l.in_groups,
                    "out_slots": l.out_slots, "ptr_base": l.ptr_base, "bias_base": l.bias_base,
                    "relu": bool(l.relu), "has_bias": bool(l.has_bias), "nnz": l.nnz, "fillers": l.n_fillers,
                    "entries": int(l.entries.sum()), "entries_per_pe_max": int(l.entries.max())}
                   for l in program.layers],
        "memories": mems,
        "storage": storage_report(program),
    }


# ---- binary container -----------------------------------------------------------------------------------

def _program_arrays(program: Program):
    arrays = []
    for mem in Mem:
        arrays.append((f"mem.{mem.key}", program.mems[mem]))
        arrays.append((f"used.{mem.key}", np.asarray(program.used[mem], dtype=np.int64)))
    for i, layer in enumerate(program.layers):
        for name in _LAYER_ARRAYS:
            arrays.append((f"layer{i}.{name}", getattr(layer, name)))
    return arrays


def container_bytes(program: Program) -> bytes:
    """The binary container of a program."""
    table, blobs, offset = [], [], 0
    for name, arr in _program_arrays(program):
        arr = np.asarray(arr)
        kind = {"u": "<u8", "i": "<i8", "f": "<f8", "b": "<i8"}[arr.dtype.kind]
        raw = np.ascontiguousarray(arr, dtype=_DTYPES[kind]).tobytes()
        table.append({"name": name, "dtype": kind, "shape": list(arr.shape), "offset": offset, "nbytes": len(raw)})
        blobs.append(raw)
        offset += len(raw)
    meta = {"config": program.config.to_dict(), "arrays": table,
            "layers": [{k: (bool(getattr(l, k)) if k in ("relu", "has_bias") else getattr(l, k))
                        for k in _LAYER_SCALARS} for l in program.layers]}
    meta_raw = json.dumps(meta, sort_keys=True).encode()
    payload = struct.pack("<I", len(meta_raw)) + meta_raw + b"".join(blobs)
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, _HEADER.size, 0, program.config.hash(), len(payload),
                          zlib.crc32(payload), 0)
    return header + payload


def _config_diff(a: EngineConfig, b: EngineConfig) -> str:
    da, db = a.to_dict(), b.to_dict()
    return ", ".join(f"{k}={da[k]} in the images vs {db[k]} expected" for k in da if da[k] != db[k])


def program_from_bytes(raw: bytes, expected_config: EngineConfig | None = None, what: str = "images") -> Program:
    """Parse and check a binary container."""
    if len(raw) < _HEADER.size:
        raise ImageError(f"{what}: file is {len(raw)} bytes, shorter than the {_HEADER.size}-byte header (truncated?)")
    magic, version, header_size, _flags, cfg_hash, payload_len, crc, _ = _HEADER.unpack_from(raw)
    if magic != MAGIC:
        raise ImageError(f"{what}: bad magic {magic!r}: expected {MAGIC!r} (not an OpenEIE image container)")
    if version != FORMAT_VERSION:
        raise ImageError(f"{what}: format version {version}: this OpenEIE reads version {FORMAT_VERSION}")
    if header_size != _HEADER.size:
        raise ImageError(f"{what}: header size {header_size}: expected {_HEADER.size}")
    payload = raw[_HEADER.size:]
    if len(payload) != payload_len:
        raise ImageError(f"{what}: payload is {len(payload)} bytes but the header says {payload_len} (truncated or "
                         f"extended file)")
    if zlib.crc32(payload) != crc:
        raise ImageError(f"{what}: CRC-32 mismatch (0x{zlib.crc32(payload):08x} vs 0x{crc:08x} in the header): "
                         f"the file is corrupt")
    try:
        (meta_len,) = struct.unpack_from("<I", payload)
        meta = json.loads(payload[4:4 + meta_len].decode())
        cfg = EngineConfig.from_dict(meta["config"])
    except (struct.error, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ConfigError) as e:
        raise ImageError(f"{what}: unreadable manifest: {e}") from None
    if cfg.hash() != cfg_hash:
        raise ImageError(f"{what}: the header's configuration hash does not match the stored configuration")
    if expected_config is not None and expected_config.hash() != cfg_hash:
        raise ImageError(f"{what}: compiled for another engine configuration ({_config_diff(cfg, expected_config)})")
    area = payload[4 + meta_len:]
    arrays = {}
    try:
        for entry in meta["arrays"]:
            dtype = _DTYPES[entry["dtype"]]
            start, nbytes = int(entry["offset"]), int(entry["nbytes"])
            shape = tuple(int(s) for s in entry["shape"])
            if start < 0 or start + nbytes > len(area) or nbytes != int(np.prod(shape)) * 8:
                raise ImageError(f"{what}: array {entry['name']!r} lies outside the file or has a wrong size")
            arrays[entry["name"]] = np.frombuffer(area, dtype=dtype, count=nbytes // 8, offset=start).reshape(shape).copy()
        mems = {mem: arrays[f"mem.{mem.key}"] for mem in Mem}
        used = {mem: arrays[f"used.{mem.key}"] for mem in Mem}
        layers = []
        for i, scalars in enumerate(meta["layers"]):
            kw = {k: scalars[k] for k in _LAYER_SCALARS}
            kw.update({k: arrays[f"layer{i}.{k}"] for k in _LAYER_ARRAYS})
            layers.append(LayerInfo(**kw))
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, ImageError):
            raise
        raise ImageError(f"{what}: malformed array table: {e}") from None
    return Program(config=cfg, layers=layers, mems=mems, used=used)


def _atomic_write(path: Path, raw: bytes):
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_container(program: Program, path) -> None:
    _atomic_write(Path(path), container_bytes(program))


def load_container(path, expected_config: EngineConfig | None = None) -> Program:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ImageError(f"cannot read images {str(path)!r}: {e.strerror}") from None
    return program_from_bytes(raw, expected_config, what=str(path))


# ---- hex files ------------------------------------------------------------------------------------------

def write_hex(words, bits: int, path, comment: str = "") -> None:
    """Write words as a ``$readmemh`` file (``ceil(bits/4)`` digits per line)."""
    digits = -(-bits // 4)
    lines = [f"// {comment}"] if comment else []
    lines += [f"{int(w):0{digits}x}" for w in words]
    Path(path).write_text("\n".join(lines) + "\n")


def save_images(program: Program, out_dir) -> Path:
    """Write ``manifest.json``, ``program.oeie`` and ``hex/*.hex`` into ``out_dir``, all or nothing.

    ``out_dir`` must not exist, be empty, or hold earlier OpenEIE images (a ``manifest.json``), which are replaced.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise ImageError(f"output {str(out_dir)!r} exists and is not a directory")
        if any(out_dir.iterdir()) and not (out_dir / MANIFEST_NAME).exists():
            raise ImageError(f"output directory {str(out_dir)!r} is not empty and holds no OpenEIE images; "
                             f"refusing to overwrite it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".", suffix=".tmp", dir=out_dir.parent))
    try:
        cfg = program.config
        (tmp / "hex").mkdir()
        for mem in Mem:
            bits = mem_word_bits(cfg, mem)
            if mem.per_pe:
                for pe in range(cfg.n_pe):
                    write_hex(program.mems[mem][pe, :int(program.used[mem][pe])], bits,
                              tmp / "hex" / f"pe{pe:03d}_{mem.key}.hex", f"{mem.key} PE {pe}, {bits}-bit words")
            else:
                write_hex(program.mems[mem], bits, tmp / "hex" / f"{mem.key}.hex", f"{mem.key}, {bits}-bit words")
        (tmp / CONTAINER_NAME).write_bytes(container_bytes(program))
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest(program), indent=2) + "\n")
        old = None
        if out_dir.exists():
            old = out_dir.with_name(out_dir.name + f".old-{os.getpid()}")
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def load_program(path, expected_config: EngineConfig | None = None) -> Program:
    """Load images from a container file or from a directory written by :func:`save_images`."""
    path = Path(path)
    if path.is_dir():
        path = path / CONTAINER_NAME
    return load_container(path, expected_config)
