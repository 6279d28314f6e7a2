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
import struct
import zlib
from pathlib import Path

import numpy as np

from openeie.config import ConfigError, EngineConfig
from openeie.errors import FileInputError
from openeie.layout import Mem, mem_depth, mem_word_bits, table_ints
from openeie.files import OutputKind, read_bytes, staged_dir, write_bytes
from openeie.program import CONV_GEOMETRY, LayerInfo, Program, ProgramError

__all__ = ["ImageError", "FORMAT_VERSION", "MAGIC", "IMAGES", "is_images",
           "container_bytes", "program_from_bytes", "save_container",
           "load_container", "hex_text", "write_hex", "hex_files", "manifest", "save_images", "check_directory",
           "load_program"]

MAGIC = b"OPENEIE\0"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sHHI32sQII")
assert _HEADER.size == 64
_DTYPES = {"<u8": np.uint64, "<i8": np.int64, "<f8": np.float64}
CONTAINER_NAME = "program.oeie"
MANIFEST_NAME = "manifest.json"

_LAYER_ARRAYS = ("row_pe", "row_slot", "in_pos", "entries", "fillers", "nnz_pe", "spmat_base", "codebook")
_LAYER_SCALARS = ("name", "n_in", "n_out", "in_groups", "out_slots", "ptr_base", "bias_base", "relu", "has_bias")


def _layer_scalars(cfg) -> tuple:
    """The metadata fields of a layer: a convolution engine's also carry the geometry, a requantising engine's the
    write-back shift."""
    return _LAYER_SCALARS + (CONV_GEOMETRY if cfg.conv else ()) + (("shift",) if cfg.requant else ())


class ImageError(ProgramError):
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
                    "entries": int(l.entries.sum()), "entries_per_pe_max": int(l.entries.max()),
                    **({k: getattr(l, k) for k in CONV_GEOMETRY} if l.is_conv else {}),
                    **({"shift": l.shift} if cfg.requant else {})}
                   for l in program.layers],
        "memories": mems,
        "storage": storage_report(program).to_json(),
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
                        for k in _layer_scalars(program.config)} for l in program.layers]}
    meta_raw = json.dumps(meta, sort_keys=True).encode()
    payload = struct.pack("<I", len(meta_raw)) + meta_raw + b"".join(blobs)
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, _HEADER.size, 0, program.config.hash(), len(payload),
                          zlib.crc32(payload), 0)
    return header + payload


def is_images(path) -> bool:
    """``path`` names compiled images (a directory of ``openeie compile``'s, or a ``.oeie`` container) rather than
    a network file."""
    path = Path(path)
    return path.is_dir() or path.suffix.lower() == ".oeie"


def _container_meta(payload: bytes, what: str):
    """The container's metadata object and its array area, or :class:`ImageError`."""
    if len(payload) < 4:
        raise ImageError(f"{what}: payload of {len(payload)} bytes holds no metadata length")
    (meta_len,) = struct.unpack_from("<I", payload)
    if meta_len > len(payload) - 4:
        raise ImageError(f"{what}: metadata length {meta_len} exceeds the payload ({len(payload) - 4} bytes)")
    try:
        meta = json.loads(payload[4:4 + meta_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ImageError(f"{what}: unreadable metadata: {e}") from None
    if not isinstance(meta, dict) or set(meta) != {"config", "arrays", "layers"}:
        keys = sorted(meta) if isinstance(meta, dict) else type(meta).__name__
        raise ImageError(f"{what}: metadata holds {keys}: expected exactly arrays, config and layers")
    return meta, payload[4 + meta_len:]


def _container_arrays(meta: dict, area: bytes, what: str) -> dict:
    table = meta["arrays"]
    if not isinstance(table, list):
        raise ImageError(f"{what}: the array table is a {type(table).__name__}: expected a list")
    arrays = {}
    for entry in table:
        if not isinstance(entry, dict) or set(entry) != {"name", "dtype", "shape", "offset", "nbytes"}:
            raise ImageError(f"{what}: array table entry {entry!r:.80} is malformed: expected name, dtype, shape, "
                             f"offset and nbytes")
        name, dtype, shape = entry["name"], entry["dtype"], entry["shape"]
        if not isinstance(name, str) or name in arrays:
            raise ImageError(f"{what}: array name {name!r:.80} is not a string or appears twice")
        if dtype not in _DTYPES:
            raise ImageError(f"{what}: array {name!r} has dtype {dtype!r:.20}: expected one of {sorted(_DTYPES)}")
        if (not isinstance(shape, list) or len(shape) > 2
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
            raise ImageError(f"{what}: array {name!r} has shape {shape!r:.40}: expected at most two sizes >= 0")
        start, nbytes = entry["offset"], entry["nbytes"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, nbytes)):
            raise ImageError(f"{what}: array {name!r}: offset and nbytes must be integers")
        count = int(np.prod(shape, dtype=np.int64))
        if start < 0 or nbytes != count * 8 or start + nbytes > len(area):
            raise ImageError(f"{what}: array {name!r} lies outside the file or has a wrong size")
        arrays[name] = np.frombuffer(area, dtype=_DTYPES[dtype], count=count, offset=start).reshape(shape).copy()
    return arrays


def _layer_infos(meta: dict, arrays: dict, what: str, cfg) -> list:
    layers = meta["layers"]
    if not isinstance(layers, list) or not layers:
        raise ImageError(f"{what}: the layer list is empty or not a list")
    infos = []
    expected_arrays = {f"mem.{m.key}" for m in Mem} | {f"used.{m.key}" for m in Mem}
    for i, scalars in enumerate(layers):
        if not isinstance(scalars, dict) or set(scalars) != set(_layer_scalars(cfg)):
            raise ImageError(f"{what}: layer {i}'s metadata is malformed: expected exactly {list(_layer_scalars(cfg))}")
        names = [f"layer{i}.{k}" for k in _LAYER_ARRAYS]
        missing = [n for n in names if n not in arrays]
        if missing:
            raise ImageError(f"{what}: array {missing[0]!r} is missing")
        expected_arrays.update(names)
        kw = dict(scalars)
        kw.update({k: arrays[f"layer{i}.{k}"] for k in _LAYER_ARRAYS})
        infos.append(LayerInfo(**kw))
    extra = sorted(set(arrays) - expected_arrays)
    missing = sorted(expected_arrays - set(arrays))
    if extra or missing:
        raise ImageError(f"{what}: array table has {'unexpected ' + repr(extra[:3]) if extra else ''}"
                         f"{' and ' if extra and missing else ''}{'missing ' + repr(missing[:3]) if missing else ''}")
    return infos


def program_from_bytes(raw: bytes, expected_config: EngineConfig | None = None, what: str = "images") -> Program:
    """Parse and check a binary container: header, CRC, configuration, the type and range of every metadata
    field, and the agreement of the metadata with the memory words (:attr:`Program.decoded`)."""
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
    meta, area = _container_meta(payload, what)
    try:
        cfg = EngineConfig.from_dict(meta["config"], "stored configuration")
    except ConfigError as e:
        raise ImageError(f"{what}: {e}") from None
    if cfg.hash() != cfg_hash:
        raise ImageError(f"{what}: the header's configuration hash does not match the stored configuration")
    if expected_config is not None and expected_config.hash() != cfg_hash:
        raise ImageError(f"{what}: compiled for another engine configuration ({cfg.diff(expected_config, 'in the images', 'expected')})")
    arrays = _container_arrays(meta, area, what)
    layers = _layer_infos(meta, arrays, what, cfg)
    program = Program(config=cfg, layers=layers, mems={mem: arrays[f"mem.{mem.key}"] for mem in Mem},
                      used={mem: arrays[f"used.{mem.key}"] for mem in Mem})
    try:
        program.check()
    except ProgramError as e:
        raise ImageError(f"{what}: {e}") from None
    return program


def save_container(program: Program, path) -> Path:
    """Write the binary container atomically (nothing is left half-written)."""
    return write_bytes(path, container_bytes(program), "image container")


def load_container(path, expected_config: EngineConfig | None = None) -> Program:
    """Read and check a binary container (a regular file; see :func:`program_from_bytes`)."""
    try:
        raw = read_bytes(path, "images")
    except FileInputError as e:
        raise ImageError(str(e)) from None
    return program_from_bytes(raw, expected_config, what=str(path))


# ---- hex files ------------------------------------------------------------------------------------------

def hex_text(words, bits: int, comment: str = "") -> str:
    """Words as a ``$readmemh`` file (``ceil(bits/4)`` digits per line, an optional ``//`` comment first)."""
    digits = -(-bits // 4)
    lines = [f"// {comment}"] if comment else []
    lines += [f"{int(w):0{digits}x}" for w in words]
    return "\n".join(lines) + "\n"


def write_hex(words, bits: int, path, comment: str = "") -> None:
    """Write words as a ``$readmemh`` file."""
    Path(path).write_text(hex_text(words, bits, comment))


def hex_files(program: Program) -> dict:
    """``{relative path: text}`` of every hex file of the images (``hex/pe<P>_<memory>.hex``, ``hex/layers.hex``)."""
    cfg = program.config
    files = {}
    for mem in Mem:
        bits = mem_word_bits(cfg, mem)
        if mem.per_pe:
            for pe in range(cfg.n_pe):
                files[f"hex/pe{pe:03d}_{mem.key}.hex"] = hex_text(
                    program.mems[mem][pe, :int(program.used[mem][pe])], bits, f"{mem.key} PE {pe}, {bits}-bit words")
        else:
            files[f"hex/{mem.key}.hex"] = hex_text(table_ints(program.mems[mem]), bits, f"{mem.key}, {bits}-bit words")
    return files


#: What an images directory holds (see :mod:`openeie.files` for the replace-only-our-own rule).
IMAGES = OutputKind(format="openeie-images", marker=MANIFEST_NAME,
                    patterns=(MANIFEST_NAME, CONTAINER_NAME, "hex/pe[0-9][0-9][0-9]_*.hex", "hex/layers.hex"),
                    what="images directory")


def save_images(program: Program, out_dir) -> Path:
    """Write ``manifest.json``, ``program.oeie`` and ``hex/*.hex`` into ``out_dir``, all or nothing.

    ``out_dir`` must not exist, be empty, or hold earlier OpenEIE images and nothing else (its
    ``manifest.json`` says format ``openeie-images``), which are replaced; anything else is refused with
    :class:`~openeie.errors.OutputError` and left untouched.
    """
    program.check()
    with staged_dir(out_dir, IMAGES) as tmp:
        (tmp / "hex").mkdir()
        for rel, text in hex_files(program).items():
            (tmp / rel).write_text(text)
        (tmp / CONTAINER_NAME).write_bytes(container_bytes(program))
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest(program), indent=2) + "\n")
    return Path(out_dir)


def _first_difference(a, b, path="") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                return f"{path}.{k}".lstrip(".")
            if a[k] != b[k]:
                return _first_difference(a[k], b[k], f"{path}.{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return path.lstrip(".") or "the whole file"


def check_directory(program: Program, directory) -> None:
    """Check that ``manifest.json`` and every hex file of an images directory say what its container says.

    Raises
    ------
    ImageError
        Naming the first file (and manifest field) that disagrees, or is missing.
    """
    directory = Path(directory)
    try:
        found = json.loads(read_bytes(directory / MANIFEST_NAME, "images manifest", 64 << 20).decode("utf-8"))
    except FileInputError as e:
        raise ImageError(str(e)) from None
    except (UnicodeDecodeError, ValueError) as e:
        raise ImageError(f"{str(directory / MANIFEST_NAME)!r} is not valid JSON: {e}") from None
    expected = json.loads(json.dumps(manifest(program)))
    if found != expected:
        raise ImageError(f"{str(directory / MANIFEST_NAME)!r} disagrees with {CONTAINER_NAME} at "
                         f"{_first_difference(found, expected)!r}: the directory was edited or mixed up")
    for rel, text in hex_files(program).items():
        path = directory / rel
        try:
            data = read_bytes(path, "hex file", 4 * len(text) + 1024)
        except FileInputError as e:
            raise ImageError(f"{e} (the images directory is incomplete)") from None
        if data != text.encode():
            raise ImageError(f"hex file {str(path)!r} disagrees with {CONTAINER_NAME}: the directory was edited "
                             f"or mixed up")


def load_program(path, expected_config: EngineConfig | None = None) -> Program:
    """Load images from a container file, or from a directory written by :func:`save_images` (then the
    directory's manifest and hex files are checked against its container, see :func:`check_directory`)."""
    path = Path(path)
    if path.is_dir():
        program = load_container(path / CONTAINER_NAME, expected_config)
        check_directory(program, path)
        return program
    return load_container(path, expected_config)
