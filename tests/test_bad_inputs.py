"""The battery of bad inputs: every command and the public API, each bad input one clear error.

Every command case runs ``openeie`` in-process in its own directory and asserts: exit status 2; the message is one
line (``openeie: error: ...``, or argparse's usage and one error line for a malformed option) without a traceback;
it names the offending value and what was expected; and the directory tree (every file's bytes, every directory,
FIFO and link) is the same before and after: nothing written, nothing removed. Pickle payloads write a marker
file when unpickled; the marker must never appear. Every API case asserts an :class:`~openeie.errors.OpenEIEError`
whose message names the value and the expectation.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from openeie.cli import main
from openeie.errors import OpenEIEError

MARKER = "pwned"


# ---- the harness ---------------------------------------------------------------------------------------------

def snapshot(root: Path) -> dict:
    """Every entry below ``root``: its kind, and a file's SHA-256."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            elif p.is_fifo():
                out[rel] = "fifo"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


chdir = contextlib.chdir          # the working directory for a block (Python 3.11)


def run_cli(argv, where: Path):
    out, err = io.StringIO(), io.StringIO()
    with chdir(where), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:              # argparse
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


@dataclass(frozen=True)
class Case:
    """One bad command line. ``build(tmp)`` writes the inputs and returns the arguments; ``expect`` are the parts
    the error message must contain (the offending value, what was expected); ``option``: argparse reports it."""
    id: str
    build: object
    expect: tuple
    option: bool = False


CASES: list = []


def case(id, expect, option=False):
    def register(build):
        CASES.append(Case(id, build, tuple(expect) if isinstance(expect, (list, tuple)) else (expect,), option))
        return build
    return register


def cli(id, argv, expect, option=False):
    """A case whose arguments need no input files (``{t}`` is the case's directory)."""
    CASES.append(Case(id, lambda t: [a.format(t=t) if isinstance(a, str) else a for a in argv],
                      tuple(expect) if isinstance(expect, (list, tuple)) else (expect,), option))


# ---- input files ---------------------------------------------------------------------------------------------

CB = np.concatenate([[0.0], np.linspace(-1, 1, 15)])


def net_arrays(**changes) -> dict:
    """A valid two-layer network file's arrays (6 -> 12 -> 3), with ``changes`` applied (None deletes a key)."""
    rng = np.random.default_rng(0)
    arrays = {
        "layer0.codes": (rng.integers(0, 16, (12, 6)) * (rng.random((12, 6)) < 0.5)).astype(np.uint8),
        "layer0.codebook": CB, "layer0.bias": rng.normal(0, 0.1, 12), "layer0.relu": np.array([1], np.int32),
        "layer1.codes": rng.integers(0, 16, (3, 12)).astype(np.uint8), "layer1.codebook": CB,
    }
    for k, v in changes.items():
        if v is None:
            arrays.pop(k, None)
        else:
            arrays[k] = v
    return arrays


def write_net(t: Path, name="net.npz", **changes) -> Path:
    path = t / name
    arrays = net_arrays(**changes)
    if name.endswith(".safetensors"):
        from safetensors.numpy import save_file
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path))
    else:
        np.savez(path, **arrays)
    return path


def write_float_net(t: Path, weight) -> Path:
    arrays = {"layer0.weight": np.asarray(weight, dtype=np.float64), "layer0.codebook": np.array([0.0, -0.5, 0.5, 1.0])}
    np.savez(t / "net.npz", **arrays)
    return t / "net.npz"


def write_cfg(t: Path, text, name="cfg.json") -> Path:
    path = t / name
    path.write_text(text if isinstance(text, str) else json.dumps(text))
    return path


SMALL_CFG = {"n_pe": 2, "spmat_depth_words": 64, "ptr_depth": 64, "act_depth": 16, "bias_depth": 32, "max_layers": 4}


def mkfifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


class Evil:
    """Unpickling this writes the marker file (pickle protocol: ``__reduce__``)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def state_dict(widths=(64, 16, 10), names=None, seed=0):
    import torch
    torch.manual_seed(seed)
    names = names or [f"fc{i + 1}" for i in range(len(widths) - 1)]
    sd = {}
    for name, a, b in zip(names, widths, widths[1:]):
        sd[f"{name}.weight"] = torch.randn(b, a) * 0.1
        sd[f"{name}.bias"] = torch.zeros(b)
    return sd


def write_ckpt(t: Path, sd=None, name="m.pt", metadata=None) -> Path:
    import torch
    path = t / name
    sd = state_dict() if sd is None else sd
    if name.endswith(".safetensors"):
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in sd.items()}, str(path), metadata=metadata)
    else:
        torch.save(sd, path)
    return path


def write_data(t: Path, **changes) -> Path:
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.random((40, 64)).astype(np.float32), "y_train": rng.integers(0, 10, 40),
              "x_test": rng.random((20, 64)).astype(np.float32), "y_test": rng.integers(0, 10, 20)}
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    np.savez(t / "data.npz", **arrays)
    return t / "data.npz"


def tiny_program():
    from openeie.compiler.lower import lower
    from openeie.compiler.netfile import load_network
    from openeie.config import EngineConfig
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        network = load_network(write_net(Path(d)))
    return lower(network, EngineConfig(**SMALL_CFG))


def write_images(t: Path, name="img") -> Path:
    from openeie.compiler.images import save_images
    return save_images(tiny_program(), t / name)


def crafted(t: Path, edit_meta=None, edit_arrays=None, name="crafted.oeie") -> Path:
    """A container of the tiny program with its metadata / arrays edited and the CRC made right again: what the
    CRC cannot catch, the metadata checks must."""
    from openeie.compiler.images import _HEADER, container_bytes
    raw = container_bytes(tiny_program())
    payload = raw[_HEADER.size:]
    (meta_len,) = struct.unpack_from("<I", payload)
    meta = json.loads(payload[4:4 + meta_len])
    area = bytearray(payload[4 + meta_len:])
    if edit_arrays:
        arrays = {e["name"]: e for e in meta["arrays"]}

        def view(name):
            e = arrays[name]
            dtype = {"<u8": np.uint64, "<i8": np.int64, "<f8": np.float64}[e["dtype"]]
            return np.frombuffer(area, dtype=dtype, count=e["nbytes"] // 8, offset=e["offset"]).reshape(e["shape"])
        edit_arrays(view)
    if edit_meta:
        edit_meta(meta)
    meta_raw = json.dumps(meta, sort_keys=True).encode()
    payload = struct.pack("<I", len(meta_raw)) + meta_raw + bytes(area)
    magic, version, hsize, flags, cfg_hash, _, _, res = _HEADER.unpack_from(raw)
    header = _HEADER.pack(magic, version, hsize, flags, cfg_hash, len(payload), zlib.crc32(payload), res)
    (t / name).write_bytes(header + payload)
    return t / name


def simulate(target, *more):
    return ["simulate", target, *more]


# ---- compile: network files ------------------------------------------------------------------------------------

def _compile(net, *more):
    return ["compile", net, "-o", "out", *more]


cli("compile_missing_net", _compile("{t}/nothing.npz"), ("nothing.npz", "does not exist"))
case("compile_net_is_dir", ("net.npz", "is a directory: expected a file"))(
    lambda t: (t.joinpath("net.npz").mkdir(), _compile(t / "net.npz"))[1])
case("compile_net_is_fifo", ("net.npz", "not a regular file"))(lambda t: _compile(mkfifo(t / "net.npz")))
case("compile_net_garbage", ("net.npz", "not a readable .npz file"))(
    lambda t: (t.joinpath("net.npz").write_bytes(b"PK\x03\x04 not really"), _compile(t / "net.npz"))[1])
case("compile_net_wrong_suffix", ("net.txt", "expected a .npz or .safetensors file"))(
    lambda t: (t.joinpath("net.txt").write_text("x"), _compile(t / "net.txt"))[1])


@case("compile_net_pickled_object", ("net.npz", "not a readable .npz file"))
def _(t):
    obj = np.empty(1, dtype=object)
    obj[0] = Evil(t / MARKER)
    np.savez(t / "net.npz", **{"layer0.codebook": obj})
    return _compile(t / "net.npz")


for _id, _changes, _expect in [
    ("unexpected_key", {"fc.weight": np.ones((2, 2))}, ("'fc.weight'", "expected layer<k>.codebook")),
    ("noncanonical_key", {"layer00.relu": np.array([1])}, ("'layer00.relu'", "no leading zeros")),
    ("gap_in_layers", {"layer1.codes": None, "layer1.codebook": None, "layer2.codes": np.ones((3, 12), np.uint8),
                       "layer2.codebook": CB}, ("found [0, 2]", "numbered 0..1")),
    ("missing_codebook", {"layer1.codebook": None}, ("layer1.codebook is missing",)),
    ("codes_and_weight", {"layer1.weight": np.ones((3, 12))}, ("layer1", "exactly one of .codes and .weight")),
    ("relu_seven", {"layer0.relu": np.array([7])}, ("layer0.relu = [7]", "expected a single integer 0 or 1")),
    ("relu_float", {"layer0.relu": np.array([1.0])}, ("layer0.relu = [1.0]", "0 or 1")),
    ("relu_two_values", {"layer0.relu": np.array([1, 0])}, ("layer0.relu = [1, 0]", "single integer")),
    ("codes_float", {"layer1.codes": np.full((3, 12), 1.7)}, ("layer1.codes is float64", "2-D integer array")),
    ("codes_3d", {"layer1.codes": np.ones((3, 12, 1), np.uint8)}, ("layer1.codes", "shape (3, 12, 1)",
                                                                  "2-D integer array")),
    ("codes_negative", {"layer1.codes": -np.ones((3, 12), np.int8)}, ("weight code -1", "out of range 1..15")),
    ("code_past_codebook", {"layer1.codes": np.full((3, 12), 20, np.uint8)}, ("weight code 20", "1..15")),
    ("codebook_entry0", {"layer0.codebook": CB + 0.5}, ("codebook[0] = 0.5", "expected 0.0")),
    ("codebook_nan", {"layer0.codebook": np.where(CB == CB[3], np.nan, CB)}, ("codebook[3] = nan",
                                                                            "expected a finite number")),
    ("codebook_2d", {"layer0.codebook": CB.reshape(4, 4)}, ("layer0.codebook", "shape (4, 4)", "1-D array")),
    ("codebook_strings", {"layer0.codebook": np.array(["0", "1"])}, ("layer0.codebook is <U1", "real numbers")),
    ("bias_length", {"layer0.bias": np.zeros(5)}, ("bias has 5 values", "expected 12")),
    ("bias_inf", {"layer0.bias": np.full(12, np.inf)}, ("bias[0] = inf", "expected a finite number")),
    ("layers_do_not_chain", {"layer1.codes": np.ones((3, 7), np.uint8)}, ("takes 7 inputs", "produces 12")),
    ("codebook_too_big", {"layer1.codebook": np.concatenate([[0.0], np.linspace(-1, 1, 16)])},
     ("codebook has 17 entries", "at most 16")),
    ("codebook_value_too_big", {"layer1.codebook": CB * 100}, ("codebook value -100", "does not fit signed 16-bit")),
    # layer0 as a 1x1 convolution of 6 channels on a 1 x 1 image: (in_channels, in_h, in_w, kernel, stride, pad,
    # pool, pool_size, groups)
    ("conv_float", {"layer0.conv": np.array([6, 1, 1, 1, 1, 0, 0, 1, 1.0])},
     ("layer0.conv is float64 of shape (9,)", "expected 9 integers")),
    ("conv_short", {"layer0.conv": np.array([6, 1, 1, 1, 1, 0, 0, 1])},
     ("layer0.conv is int64 of shape (8,)", "in_channels, in_h, in_w, kernel")),
    ("conv_pool_three", {"layer0.conv": np.array([6, 1, 1, 1, 1, 0, 3, 2, 1])},
     ("layer0.conv pool = 3", "expected 0 (none), 1 (max) or 2 (average)")),
    ("conv_stride_zero", {"layer0.conv": np.array([6, 1, 1, 1, 0, 0, 0, 1, 1])},
     ("layer0.conv", "stride=0", "integer >= 1")),
    ("conv_no_position", {"layer0.conv": np.array([6, 1, 1, 1, 1, 0, 1, 2, 1])},
     ("layer0.conv", "1 x 1 with kernel 1", "no output position")),
    ("conv_columns", {"layer0.conv": np.array([2, 1, 1, 1, 1, 0, 0, 1, 1])},
     ("6 weight columns", "convolution of 2 channels has 2")),
    ("conv_does_not_chain", {"layer0.conv": np.array([6, 2, 2, 1, 1, 0, 0, 1, 1])},
     ("takes 12 inputs", "produces 48")),
    # integer layers (docs/engine.md, "Requantisation")
    ("requant_shift_missing", {"layer1.requant_mult": np.ones(3, np.int64)},
     ("layer1.requant_shift is missing", "needs .requant_mult and .requant_shift")),
    ("requant_mult_missing", {"layer1.requant_shift": np.array([3]), "layer1.requant_bias": np.zeros(3, np.int64)},
     ("layer1.requant_mult is missing",)),
    ("requant_mult_float", {"layer1.requant_mult": np.ones(3), "layer1.requant_shift": np.array([3])},
     ("layer1.requant_mult is float64 of shape (3,)", "1-D integer array")),
    ("requant_mult_length", {"layer1.requant_mult": np.ones(4, np.int64), "layer1.requant_shift": np.array([3])},
     ("4 requantisation multipliers", "expected 3 integers >= 0")),
    ("requant_mult_negative", {"layer1.requant_mult": -np.ones(3, np.int64), "layer1.requant_shift": np.array([3])},
     ("with a negative one",)),
    ("requant_shift_two", {"layer1.requant_mult": np.ones(3, np.int64), "layer1.requant_shift": np.array([3, 4])},
     ("layer1.requant_shift is int64 of shape (2,)", "a single integer")),
    ("requant_shift_negative", {"layer1.requant_mult": np.ones(3, np.int64), "layer1.requant_shift": np.array([-3])},
     ("requantisation shift -3", "integer >= 0")),
    ("requant_bias_float", {"layer1.requant_mult": np.ones(3, np.int64), "layer1.requant_shift": np.array([3]),
                            "layer1.requant_bias": np.zeros(3)}, ("layer1.requant_bias is float64", "integer")),
    ("requant_on_plain_engine", {"layer1.requant_mult": np.ones(3, np.int64), "layer1.requant_shift": np.array([3])},
     ("carries an integer requantisation", "mult_bits > 0")),
]:
    case(f"compile_{_id}", _expect)(lambda t, c=_changes: _compile(write_net(t, **c)))

case("compile_conv_on_fc_engine", ("the network has convolution layers", "max_image_side=1",
                                   "need max_image_side=1, max_kernel=1, max_pool=1"))(
    lambda t: _compile(write_net(t, **{"layer0.conv": np.array([6, 1, 1, 1, 1, 0, 0, 1, 1], np.int32)})))
case("compile_weight_nan", ("weight[1, 2] = nan", "expected a finite number"))(
    lambda t: _compile(write_float_net(t, [[0, 0.5, 0], [0, 0, np.nan]])))
case("compile_weight_inf", ("weight[0, 0] = -inf", "expected a finite number"))(
    lambda t: _compile(write_float_net(t, [[-np.inf, 0.5, 0]])))
case("compile_weight_absurd", ("weight[0, 1] = 1e+30", "lies far outside the codebook (-0.5 .. 1)"))(
    lambda t: _compile(write_float_net(t, [[0.5, 1e30, 0]])))
case("compile_weight_ints", ("layer0.weight is int64", "2-D float array"))(
    lambda t: (np.savez(t / "net.npz", **{"layer0.weight": np.ones((2, 2), np.int64), "layer0.codebook": CB}),
               _compile(t / "net.npz"))[1])


@case("compile_duplicate_zip_member", ("'layer0.codes.npy' twice", "each array once"))
def _(t):
    write_net(t)
    with zipfile.ZipFile(t / "net.npz", "a") as z:
        buf = io.BytesIO()
        np.save(buf, np.zeros((12, 6), np.uint8))
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            z.writestr("layer0.codes.npy", buf.getvalue())
    return _compile(t / "net.npz")


@case("compile_duplicate_safetensors_key", ("'layer0.codebook' twice", "each array once"))
def _(t):
    arr = np.zeros(2, dtype=np.float64)
    head = ('{"layer0.codebook":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},'
            '"layer0.codebook":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}').encode()
    (t / "net.safetensors").write_bytes(struct.pack("<Q", len(head)) + head + arr.tobytes())
    return _compile(t / "net.safetensors")


case("compile_safetensors_garbage", ("net.safetensors", "not a readable .safetensors file"))(
    lambda t: (t.joinpath("net.safetensors").write_bytes(b"\xff" * 40), _compile(t / "net.safetensors"))[1])
case("compile_does_not_fit", ("act_depth=1",))(
    lambda t: _compile(write_net(t), "--config", write_cfg(t, {**SMALL_CFG, "act_depth": 1})))

# ---- compile: output directories (nothing of the user's is replaced) ---------------------------------------------

case("compile_output_is_file", ("'out'", "exists and is not a directory"))(
    lambda t: (t.joinpath("out").write_text("mine"), _compile(write_net(t)))[1])
case("compile_output_foreign", ("holds no readable manifest.json", "choose a new or empty directory"))(
    lambda t: (t.joinpath("out").mkdir(), t.joinpath("out", "thesis.tex").write_text("keep"),
               _compile(write_net(t)))[2])


@case("compile_output_foreign_with_manifest_named_file", ("manifest.json", "format 'openeie-images'"))
def _(t):
    """The data-loss regression: a user's directory that merely holds a file named manifest.json."""
    (t / "out").mkdir()
    (t / "out" / "manifest.json").write_text('{"my": "own notes"}')
    (t / "out" / "thesis.tex").write_text("years of work")
    return _compile(write_net(t))


@case("compile_output_ours_plus_foreign_file", ("holds files OpenEIE did not write (notes.txt)",))
def _(t):
    write_images(t, "out")
    (t / "out" / "notes.txt").write_text("mine")
    return _compile(write_net(t))


# ---- engine configuration files (every command reads them the same way) ----------------------------------------

for _id, _text, _expect in [
    ("invalid_json", "{n_pe: 4", ("not valid JSON", "cfg.json")),
    ("unknown_key", '{"n_pes": 4}', ("['n_pes']", "expected some of")),
    ("out_of_range", '{"code_bits": 12}', ("code_bits=12", "expected 2..8")),
    ("duplicate_key", '{"n_pe": 4, "n_pe": 64}', ("'n_pe' twice", "each key once")),
    ("string_value", '{"n_pe": "4"}', ("n_pe must be an int", "'4'")),
    ("float_value", '{"n_pe": 4.0}', ("n_pe must be an int", "4.0")),
    ("bool_value", '{"n_pe": true}', ("n_pe must be an int", "True")),
    ("list", "[4]", ("must be a JSON object", "list")),
    ("narrow_acc", '{"acc_bits": 20}', ("acc_bits=20 is too narrow", "at least")),
    ("odd_ptr_depth", '{"ptr_depth": 33}', ("ptr_depth=33", "must be even")),
    ("wide_word", '{"entries_per_word": 16}', ("128 bits", "at most 64")),
    ("mult_bits_1", '{"mult_bits": 1}', ("mult_bits=1", "0 (no requantisation) or 2..24")),
    ("mult_bits_25", '{"mult_bits": 25}', ("mult_bits=25", "expected 0..24")),
    ("requant_too_wide", '{"acc_bits": 48, "mult_bits": 16}', ("64 bits", "at most 62")),
    ("not_utf8", "\udcff", ("not UTF-8", "expected a text file")),
]:
    if _id == "not_utf8":
        case(f"config_{_id}", _expect)(lambda t: (t.joinpath("cfg.json").write_bytes(b"\xff\xfe{"),
                                                  _compile(write_net(t), "--config", t / "cfg.json"))[1])
    else:
        case(f"config_{_id}", _expect)(lambda t, x=_text: _compile(write_net(t), "--config", write_cfg(t, x)))

cli("config_missing", ["rtl", "--config", "{t}/none.json", "-o", "e.v"], ("none.json", "does not exist"))
cli("config_dev_zero", ["rtl", "--config", "/dev/zero", "-o", "e.v"], ("/dev/zero", "not a regular file"))
case("config_fifo", ("cfg.json", "not a regular file"))(
    lambda t: ["rtl", "--config", mkfifo(t / "cfg.json"), "-o", "e.v"])
case("config_too_large", ("cfg.json", "expected at most 1048576"))(
    lambda t: ["rtl", "--config", write_cfg(t, " " * (2 << 20)), "-o", "e.v"])
case("config_is_dir", ("'{}'".format("cfgdir"), "is a directory"))(
    lambda t: (t.joinpath("cfgdir").mkdir(), ["rtl", "--config", "cfgdir", "-o", "e.v"])[1])

# ---- configuration overlays and 'openeie config show' (issue 17, config ergonomics) -----------------------------
# A --config file overlays the command's default or preset: derived fields must be consistent, values that came
# from the preset are named with it.
for _id, _text, _expect in [
    ("overlay_near_name", '{"rel_index_bit": 5}', ("['rel_index_bit']", "did you mean 'rel_index_bits'?")),
    ("overlay_word_not_entries", '{"spmat_word_bits": 64, "rel_index_bits": 5}',
     ("spmat_word_bits=64", "9-bit entries", "expected a multiple of 9 (e.g. 63)")),
    ("overlay_word_mismatch", '{"spmat_word_bits": 64, "entries_per_word": 7, "rel_index_bits": 5}',
     ("spmat_word_bits=64 does not match", "expected 63")),
    ("overlay_word_too_wide", '{"spmat_word_bits": 72}', ("spmat_word_bits=72 is out of range", "expected 1..64")),
    ("overlay_derived_type", '{"ptr_bank_depth": "8"}', ("ptr_bank_depth must be an int", "'8'")),
    ("overlay_bank_mismatch", '{"ptr_bank_depth": 8, "ptr_depth": 64}',
     ("ptr_bank_depth=8 does not match", "expected 32")),
]:
    case(f"config_{_id}", _expect)(lambda t, x=_text: _compile(write_net(t), "--config", write_cfg(t, x)))
case("config_overlay_names_preset", ("over the icebreaker / up5k preset", "acc_bits=16 is too narrow", "24"))(
    lambda t: ["synth", "--estimate", "--device", "up5k", "--config", write_cfg(t, '{"act_bits": 16}'), "-o", "est"])
cli("config_show_unknown_preset", ["config", "show", "--preset", "de10"],
    ("no preset 'de10'", "expected a board (icebreaker", "or a device (up5k"))
cli("config_show_no_action", ["config"], ("the following arguments are required: ACTION",), option=True)
case("config_show_bad_file", ("cfg.json", "(over the 85k preset)", "code_bits=9", "expected 2..8"))(
    lambda t: ["config", "show", "--preset", "85k", "--config", write_cfg(t, '{"code_bits": 9}')])
case("config_show_output_is_input", ("also an input", "refusing to overwrite"))(
    lambda t: ["config", "show", "--config", write_cfg(t, "{}"), "-o", t / "cfg.json"])
cli("config_show_json_is_output", ["config", "show", "-o", "c.json", "--json", "./c.json"],
    ("--json and -o both name './c.json'", "expected different files"))
case("config_show_output_is_dir", ("'saved' is a directory", "expected a file name"))(
    lambda t: (t.joinpath("saved").mkdir(), ["config", "show", "-o", "saved"])[1])

case("rtl_output_is_dir", ("'engine.v' is a directory", "expected a file name"))(
    lambda t: (t.joinpath("engine.v").mkdir(), ["rtl", "-o", "engine.v"])[1])
case("rtl_output_is_config", ("also an input", "refusing to overwrite"))(
    lambda t: ["rtl", "--config", write_cfg(t, SMALL_CFG), "-o", t / "cfg.json"])
cli("rtl_missing_output", ["rtl"], ("-o/--output",), option=True)


# ---- compress: checkpoints, options, data, outputs (all refused before the first epoch) ---------------------------

def _compress(ckpt, *more, out="net.npz"):
    return ["compress", ckpt, "-o", out, "--prune-steps", "1", "--prune-epochs", "1", "--finetune-epochs", "1", *more]


cli("compress_missing_checkpoint", _compress("{t}/none.pt"), ("none.pt", "does not exist"))
cli("compress_checkpoint_suffix", _compress("{t}/m.ckpt"), ("'.ckpt'", "expected one of .safetensors, .pt, .pth"))
case("compress_checkpoint_fifo", ("m.pt", "not a regular file"))(lambda t: _compress(mkfifo(t / "m.pt")))
case("compress_checkpoint_garbage", ("m.pt", "cannot be read"))(
    lambda t: (t.joinpath("m.pt").write_bytes(b"\x80\x02garbage"), _compress(t / "m.pt"))[1])
case("compress_checkpoint_garbage_safetensors", ("m.safetensors", "cannot be read"))(
    lambda t: (t.joinpath("m.safetensors").write_bytes(b"\x08" + b"\0" * 7 + b"{bad json"),
               _compress(t / "m.safetensors"))[1])


@case("compress_pickle_payload", ("holds pickled Python objects", "refused global 'io.open'", "state_dict()"))
def _(t):
    import torch
    torch.save({"fc1.weight": Evil(t / MARKER)}, t / "m.pt")
    return _compress(t / "m.pt")


@case("compress_whole_module_pickled", ("refused global 'torch.nn.modules.container.Sequential'",
                                        "save the weights alone"))
def _(t):
    import torch
    torch.save(torch.nn.Sequential(torch.nn.Linear(64, 10)), t / "m.pt")
    return _compress(t / "m.pt")


for _id, _sd, _expect in [
    ("conv_weight", lambda: {"conv.weight": __import__("torch").zeros(4, 3, 3, 3)},
     ("tensor conv.weight is (4, 3, 3, 3), a convolution's weight", "--arch ARCH.json", "openeie.architecture")),
    ("shapes_do_not_chain", lambda: {"a.weight": __import__("torch").zeros(16, 64), "b.weight": __import__("torch").zeros(10, 8)},
     ("layer 'b' takes 8 inputs", "'a' produces 16")),
    ("extra_tensor", lambda: {**state_dict(), "bn.running_mean": __import__("torch").zeros(16)},
     ("['bn.running_mean']", "are not Linear weights or biases")),
    ("nan_weight", lambda: {k: (v.fill_(float("nan")) if k == "fc2.weight" else v) for k, v in state_dict().items()},
     ("fc2.weight[0, 0] = nan", "expected finite numbers")),
    ("int_weight", lambda: {k: (v.long() if k == "fc1.weight" else v) for k, v in state_dict().items()},
     ("fc1.weight is torch.int64", "expected floating point")),
    ("no_weights", lambda: {"x.bias": __import__("torch").zeros(3)}, ("no '<name>.weight' tensors",)),
    ("bias_shape", lambda: {**state_dict(), "fc2.bias": __import__("torch").zeros(3)},
     ("fc2.bias has shape (3,)", "expected (10,)")),
    ("features_vs_data", lambda: state_dict((32, 16, 10)), ("has 64 features", "the network takes 32")),
    ("classes_vs_data", lambda: state_dict((64, 16, 4)), ("label", "expected class labels 0..3")),
]:
    case(f"compress_{_id}", _expect)(lambda t, f=_sd: _compress(write_ckpt(t, f())))


@case("compress_ambiguous_order", ("can be chained in more than one order", "openeie.layer_order"))
def _(t):
    """b (64x64) and a (64x64) chain in either order before c: .safetensors keeps no order, the names none."""
    return _compress(write_ckpt(t, state_dict((64, 64, 64, 10), names=["b", "a", "c"]), name="m.safetensors"))


case("compress_bad_layer_order_metadata", ("openeie.layer_order", "expected a JSON list of the layers"))(
    lambda t: _compress(write_ckpt(t, name="m.safetensors", metadata={"openeie.layer_order": '["fc1", "x"]'})))
case("compress_unsupported_activation", ("openeie.activations", "ReLU or nothing"))(
    lambda t: _compress(write_ckpt(t, name="m.safetensors", metadata={"openeie.activations": '["tanh", "none"]'})))

for _id, _opt, _expect in [
    ("code_bits_0", ["--code-bits", "0"], ("code_bits 0 is out of range", "expected 2..8")),
    ("code_bits_1", ["--code-bits", "1"], ("code_bits 1 is out of range", "expected 2..8")),
    ("code_bits_9", ["--code-bits", "9"], ("code_bits 9 is out of range", "expected 2..8")),
    ("code_bits_text", ["--code-bits", "four"], ("'four' is not an integer", "expected code_bits 2..8")),
    ("rel_index_bits_0", ["--rel-index-bits", "0"], ("rel_index_bits 0", "expected 2..8")),
    ("density_0", ["--density", "0"], ("density", "0 is out of range", "> 0 and <= 1")),
    ("density_1_5", ["--density", "1.5"], ("1.5 is out of range", "> 0 and <= 1")),
    ("density_nan", ["--density", "nan"], ("nan is out of range", "> 0 and <= 1")),
    ("density_text", ["--density", "most"], ("'most' is not a number", "> 0 and <= 1")),
    ("prune_steps_0", ["--prune-steps", "0"], ("prune steps 0 is out of range", "expected 1..1000")),
    ("prune_epochs_negative", ["--prune-epochs", "-1"], ("epochs -1 is out of range", "0..100000")),
    ("seed_negative", ["--seed", "-1"], ("seed -1 is out of range", "expected 0..4294967295")),
]:
    case(f"compress_{_id}", _expect, option=True)(lambda t, o=_opt: _compress(write_ckpt(t), *o))

for _id, _opt, _expect in [
    ("low_rank_rule", ["--low-rank", "high"], ("'high': expected 'vbmf', an energy fraction 0 < e < 1 or a rank",)),
    ("low_rank_zero", ["--low-rank", "0"], ("'0': expected 'vbmf'",)),
    ("low_rank_one_point_five", ["--low-rank", "1.5"], ("'1.5'", "a rank >= 1")),
    ("low_rank_skip_empty", ["--low-rank", "vbmf", "--low-rank-skip", "a,,b"], ("'a,,b'", "comma-separated layer")),
    ("distill_one_value", ["--distill", "4"], ("'4': expected T,ALPHA", "e.g. 4,0.7")),
    ("distill_alpha", ["--distill", "4,1.5"], ("'4,1.5'", "0 <= ALPHA <= 1")),
    ("distill_temperature", ["--distill", "0,0.5"], ("'0,0.5'", "T > 0")),
    ("shared_values_0", ["--shared-values", "0"], ("shared values 0 is out of range", "1..255")),
]:
    case(f"compress_{_id}", _expect, option=True)(lambda t, o=_opt: _compress(write_ckpt(t), *o))
case("compress_low_rank_skip_unknown", ("--low-rank-skip fc9", "unknown layer(s) ['fc9']", "['fc1', 'fc2']"))(
    lambda t: _compress(write_ckpt(t), "--low-rank", "vbmf", "--low-rank-skip", "fc9"))
case("compress_low_rank_skip_alone", ("--low-rank-skip names layers of --low-rank", "give --low-rank too"))(
    lambda t: _compress(write_ckpt(t), "--low-rank-skip", "fc1"))
case("compress_shared_values_too_many", ("--shared-values 9", "at most 2**code_bits - 1 = 7"))(
    lambda t: _compress(write_ckpt(t), "--code-bits", "3", "--shared-values", "9"))

case("compress_output_suffix", ("net.txt", "expected a .npz or .safetensors file name"))(
    lambda t: _compress(write_ckpt(t), out="net.txt"))
case("compress_output_is_dir", ("'net.npz' is a directory", "expected a file name"))(
    lambda t: (t.joinpath("net.npz").mkdir(), _compress(write_ckpt(t)))[1])
case("compress_output_is_input", ("also an input of this command", "refusing to overwrite"))(
    lambda t: _compress(write_ckpt(t, name="m.safetensors"), out="m.safetensors"))
case("compress_output_under_a_file", ("notadir/net.npz", "notadir' is not a directory"))(
    lambda t: (t.joinpath("notadir").write_text("x"), _compress(write_ckpt(t), out="notadir/net.npz"))[1])
case("compress_foreign_report", ("net.npz.report.json", "not an OpenEIE compression report"))(
    lambda t: (t.joinpath("net.npz.report.json").write_text('{"mine": 1}'), _compress(write_ckpt(t)))[1])

for _id, _data, _expect in [
    ("missing", lambda t: t / "none.npz", ("none.npz", "does not exist")),
    ("suffix", lambda t: t / "data.csv", ("data.csv", "expected 'digits' or a .npz file")),
    ("missing_keys", lambda t: write_data(t, y_test=None), ("lacks ['y_test']", "expected x_train")),
    ("nan", lambda t: write_data(t, x_train=np.full((40, 64), np.nan, np.float32)),
     ("x_train[0, 0] = nan", "expected finite numbers")),
    ("empty_test", lambda t: write_data(t, x_test=np.zeros((0, 64), np.float32), y_test=np.zeros(0, np.int64)),
     ("x_test", "shape (0, 64)", "samples >= 1")),
    ("float_labels", lambda t: write_data(t, y_train=np.full(40, 1.5)), ("y_train is float64", "integer labels")),
    ("label_out_of_range", lambda t: write_data(t, y_test=np.full(20, 10)), ("label 10", "expected class labels 0..9")),
    ("feature_mismatch", lambda t: write_data(t, x_test=np.zeros((20, 63), np.float32)),
     ("64 features but x_test 63",)),
    ("pickled", lambda t: (np.savez(t / "data.npz", x_train=np.array([Evil(t / MARKER)], dtype=object),
                                    y_train=np.zeros(1, int), x_test=np.zeros((1, 64)), y_test=np.zeros(1, int)),
                           t / "data.npz")[1], ("data.npz", "not a readable .npz")),
]:
    case(f"compress_data_{_id}", _expect)(lambda t, f=_data: _compress(write_ckpt(t), "--data", f(t)))


# ---- compress: CNN checkpoints and their architectures ---------------------------------------------------------

def cnn_arch(**changes) -> dict:
    """A small CNN for the 8 x 8 digits: conv 1 -> 4 3x3 pad 1, BatchNorm, ReLU, max pool 2, flatten, fc 64 -> 10;
    ``changes`` edit layer fields (``"1.type": "X"``) or the top level (``input_shape``; None deletes)."""
    arch = {"input_shape": [1, 8, 8], "layers": [
        {"name": "conv", "type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "bn", "type": "BatchNorm2d", "num_features": 4}, {"type": "ReLU"},
        {"type": "MaxPool2d", "kernel_size": 2}, {"type": "Flatten"},
        {"name": "fc", "type": "Linear", "in_features": 64, "out_features": 10}]}
    for key, value in changes.items():
        where, field = (arch["layers"][int(key.split(".")[0])], key.split(".")[1]) if "." in key else (arch, key)
        if value is None:
            where.pop(field)
        else:
            where[field] = value
    return arch


def cnn_state(drop=(), **replace):
    import torch
    from openeie.compiler.architecture import model_from_architecture
    torch.manual_seed(0)
    sd = model_from_architecture(cnn_arch())[0].state_dict()
    return {**{k: v for k, v in sd.items() if k not in drop}, **replace}


def write_cnn(t: Path, arch=None, sd=None, metadata=True, name="cnn.safetensors") -> Path:
    meta = {"openeie.architecture": arch if isinstance(arch, str) else json.dumps(arch or cnn_arch())} \
        if metadata else None
    return write_ckpt(t, cnn_state() if sd is None else sd, name=name, metadata=meta)


def write_arch(t: Path, arch) -> Path:
    (t / "arch.json").write_text(arch if isinstance(arch, str) else json.dumps(arch))
    return t / "arch.json"


for _id, _arch, _expect in [
    ("not_json", "{layers: 1", ("is not valid JSON",)),
    ("a_list", [1, 2], ("is a JSON list", "expected an object with input_shape and layers")),
    ("unknown_key", {**cnn_arch(), "optimizer": "adam"}, ("unknown keys ['optimizer']", "exactly input_shape")),
    ("no_layers", cnn_arch(layers=None), ("missing ['layers']", "exactly input_shape and layers")),
    ("empty_layers", cnn_arch(layers=[]), ("layers = []", "a list of 1..1000 layer objects")),
    ("shape_2d", cnn_arch(input_shape=[8, 8]), ("input_shape = [8, 8]", "[features] or [C, H, W]")),
    ("shape_zero", cnn_arch(input_shape=[1, 0, 8]), ("input_shape[1] = 0", "an integer 1..1048576")),
    ("unknown_type", cnn_arch(**{"2.type": "GELU"}), ("layer 2 type 'GELU'", "expected one of Conv2d, Linear")),
    ("layer_not_object", cnn_arch(layers=["Conv2d"]), ("layer 0 is a JSON str", "an object with a type")),
    ("unknown_field", cnn_arch(**{"0.dilation": 2}), ("layer 0 (Conv2d): unknown fields ['dilation']",)),
    ("missing_field", cnn_arch(**{"0.kernel_size": None}), ("(Conv2d 'conv') lacks kernel_size",
                                                            "['in_channels', 'kernel_size', 'out_channels']")),
    ("unnamed_conv", cnn_arch(**{"0.name": None}), ("layer 0 (Conv2d) has no name", "state-dict prefix")),
    ("bad_name", cnn_arch(**{"0.name": "conv/1"}), ("name 'conv/1'", "expected a state-dict prefix")),
    ("duplicate_name", cnn_arch(**{"5.name": "conv"}), ("name 'conv' is used twice", "unique names")),
    ("kernel_text", cnn_arch(**{"0.kernel_size": "3"}), ("kernel_size = '3'", "expected an integer 1..1048576")),
    ("bias_int", cnn_arch(**{"0.bias": 1}), ("bias = 1", "expected true or false")),
    ("dropout_one", cnn_arch(layers=cnn_arch()["layers"] + [{"type": "Dropout", "p": 1.0}]),
     ("p = 1.0", "a probability >= 0 and < 1")),
    ("groups_do_not_divide", cnn_arch(**{"0.groups": 3}), ("groups=3 must divide in_channels=1",)),
    ("huge", cnn_arch(**{"0.out_channels": 1 << 20, "0.in_channels": 1 << 20}), ("parameters", "at most 134,217,728")),
    ("sizes_do_not_chain", cnn_arch(**{"5.in_features": 60}), ("Linear 'fc' takes 60 inputs", "produces 64")),
    ("unsupported_geometry", cnn_arch(**{"0.padding": 3}), ("padding 3 >= kernel 3",)),
    ("pool_after_linear", cnn_arch(layers=cnn_arch()["layers"] + [{"type": "MaxPool2d", "kernel_size": 2}]),
     ("MaxPool2d", "follows a Linear", "pools the output of a convolution")),
]:
    case(f"compress_arch_{_id}", _expect)(lambda t, a=_arch: _compress(write_ckpt(t, cnn_state()), "--arch",
                                                                     write_arch(t, a)))
    if _id in ("not_json", "unknown_type", "sizes_do_not_chain"):
        case(f"compress_metadata_arch_{_id}", ("metadata openeie.architecture",) + _expect[:1])(
            lambda t, a=_arch: _compress(write_cnn(t, a)))

cli("compress_arch_missing", _compress("{t}/none.pt", "--arch", "{t}/none.json"), ("none.json", "does not exist"))
case("compress_arch_is_dir", ("arch.json", "is a directory"))(
    lambda t: (t.joinpath("arch.json").mkdir(), _compress(write_ckpt(t, cnn_state()), "--arch", t / "arch.json"))[1])
case("compress_cnn_missing_tensor", ("does not fit its architecture", "missing ['bn.running_var']"))(
    lambda t: _compress(write_cnn(t, sd=cnn_state(drop=("bn.running_var",)))))
case("compress_cnn_unexpected_tensor", ("does not fit its architecture", "unexpected ['fc2.weight']"))(
    lambda t: _compress(write_cnn(t, sd=cnn_state(**{"fc2.weight": __import__("torch").zeros(2, 2)}))))
case("compress_cnn_misshaped", ("mis-shaped ['conv.weight (4, 1, 5, 5) (expected (4, 1, 3, 3))']",))(
    lambda t: _compress(write_cnn(t, sd=cnn_state(**{"conv.weight": __import__("torch").zeros(4, 1, 5, 5)}))))
case("compress_cnn_nan", ("conv.weight[0, 0, 0, 0] = nan", "expected finite numbers"))(
    lambda t: _compress(write_cnn(t, sd=cnn_state(**{"conv.weight": __import__("torch").full((4, 1, 3, 3),
                                                                                             float("nan"))}))))
case("compress_cnn_data_features", ("has 64 features", "the network takes 16"))(
    lambda t: _compress(write_cnn(t, cnn_arch(input_shape=[1, 4, 4], **{"5.in_features": 16}),
                                  cnn_state(**{"fc.weight": __import__("torch").zeros(10, 16)}))))
case("compress_conv_code_bits_on_mlp", ("--conv-code-bits 8", "has no convolution layer"))(
    lambda t: _compress(write_ckpt(t), "--conv-code-bits", "8"))
case("compress_conv_code_bits_9", ("code_bits 9 is out of range", "expected 2..8"), option=True)(
    lambda t: _compress(write_cnn(t), "--conv-code-bits", "9"))


# ---- simulate / energy: images, crafted containers, inputs --------------------------------------------------------

cli("simulate_missing_target", simulate("{t}/none.oeie"), ("none.oeie", "does not exist"))
case("simulate_garbage_container", ("bad magic", "not an OpenEIE image container"))(
    lambda t: (t.joinpath("x.oeie").write_bytes(b"NOTANIMAGE" * 10), simulate(t / "x.oeie"))[1])


@case("simulate_truncated_container", ("truncated",))
def _(t):
    from openeie.compiler.images import container_bytes
    (t / "x.oeie").write_bytes(container_bytes(tiny_program())[:-9])
    return simulate(t / "x.oeie")


@case("simulate_flipped_byte", ("CRC-32 mismatch", "corrupt"))
def _(t):
    from openeie.compiler.images import container_bytes
    raw = bytearray(container_bytes(tiny_program()))
    raw[-5] ^= 1
    (t / "x.oeie").write_bytes(bytes(raw))
    return simulate(t / "x.oeie")


def _set_layer(i, key, value):
    def edit(meta):
        meta["layers"][i][key] = value
    return edit


for _id, _meta, _arrays, _expect in [
    ("n_out_vs_arrays", _set_layer(1, "n_out", 5), None, ("metadata says 5 outputs", "holds 3 rows")),
    ("rows_do_not_fit", None, lambda v: v("layer1.row_slot").__setitem__(2, 7), ("slot outside 0..1",)),
    ("n_in_text", _set_layer(0, "n_in", "6"), None, ("n_in = '6'", "expected an integer")),
    ("relu_vs_table", _set_layer(0, "relu", False), None, ("relu=0", "layer-table word says 1")),
    ("in_groups_vs_table", _set_layer(1, "in_groups", 7), None, ("in_groups=7", "layer-table word says 6")),
    ("name_not_text", _set_layer(0, "name", 5), None, ("name = 5", "expected a string")),
    ("relu_text", _set_layer(0, "relu", "yes"), None, ("relu = 'yes'", "expected true or false")),
    ("missing_field", lambda m: m["layers"][0].pop("ptr_base"), None, ("layer 0's metadata", "expected exactly")),
    ("no_layers", lambda m: m.update(layers=[]), None, ("layer list is empty",)),
    ("config_changed", lambda m: m["config"].update(n_pe=4), None, ("configuration hash does not match",)),
    ("config_unknown_key", lambda m: m["config"].update(bogus=1), None, ("['bogus']", "expected some of")),
    ("array_outside_file", lambda m: m["arrays"][0].update(offset=10 ** 9), None, ("lies outside the file",)),
    ("array_bad_dtype", lambda m: m["arrays"][0].update(dtype="<f4"), None, ("'<f4'", "expected one of")),
    ("array_bad_shape", lambda m: m["arrays"][0].update(shape=[-1]), None, ("shape [-1]", "sizes >= 0")),
    ("array_duplicated", lambda m: m["arrays"].append(dict(m["arrays"][0])), None, ("appears twice",)),
    ("array_missing", lambda m: m["arrays"].pop(), None, ("missing",)),
    ("extra_meta_key", lambda m: m.update(extra=1), None, ("expected exactly arrays, config and layers",)),
    ("pointer_decreases", None, lambda v: v("mem.ptr_odd").__setitem__((0, 1), 0), ("column pointers decrease",)),
    ("pointer_past_entries", None, lambda v: (v("mem.ptr_even").__setitem__((1, slice(6, None)), 999),
                                              v("mem.ptr_odd").__setitem__((1, slice(5, None)), 999)),
     ("pointers reach entry 999", "the PE stores")),
    ("row_pe_out_of_range", None, lambda v: v("layer0.row_pe").__setitem__(0, 9), ("row assignment", "0..1")),
    ("row_slot_collision", None, lambda v: v("layer0.row_slot").__setitem__(2, 0), ("two rows in the same PE slot",)),
    ("entries_count", None, lambda v: v("layer0.entries").__setitem__(0, 1), ("entries=1", "the words give")),
    ("fillers_count", None, lambda v: v("layer1.fillers").__setitem__(1, 3), ("fillers=3", "the words give 0")),
    ("codebooks_differ", None, lambda v: v("mem.codebook").__setitem__((1, 3), 5), ("the PEs hold different codebooks",)),
    ("codebook_word_too_wide", None, lambda v: v("mem.codebook").__setitem__((0, 3), 1 << 40),
     ("does not fit its 16 bits",)),
    ("used_past_words", None, lambda v: v("used.bias").__setitem__(0, 99), ("used word counts", "lie outside")),
    ("float_codebook_disagrees", None, lambda v: v("layer0.codebook").__setitem__(3, 0.123),
     ("float codebook of the metadata does not round to the codebook words",)),
    ("in_pos_mismatch", None, lambda v: v("layer1.in_pos").__setitem__(0, 11),
     ("input positions",)),
]:
    case(f"simulate_crafted_{_id}", _expect)(lambda t, m=_meta, a=_arrays: simulate(crafted(t, m, a)))


@case("simulate_dir_manifest_edited", ("manifest.json", "disagrees with program.oeie", "layers[0].nnz"))
def _(t):
    img = write_images(t)
    man = json.loads((img / "manifest.json").read_text())
    man["layers"][0]["nnz"] += 1
    (img / "manifest.json").write_text(json.dumps(man))
    return simulate(img)


@case("simulate_dir_hex_edited", ("pe001_spmat.hex", "disagrees with program.oeie"))
def _(t):
    img = write_images(t)
    path = img / "hex" / "pe001_spmat.hex"
    path.write_text(path.read_text().replace("0", "1", 1))
    return simulate(img)


case("simulate_dir_hex_missing", ("pe000_bias.hex", "does not exist", "incomplete"))(
    lambda t: (write_images(t), t.joinpath("img", "hex", "pe000_bias.hex").unlink(), simulate(t / "img"))[2])
case("simulate_images_other_config", ("n_pe=2 in the images vs 64 expected",))(
    lambda t: simulate(write_images(t), "--config", write_cfg(t, {})))

for _id, _x, _expect in [
    ("wrong_shape", np.zeros(5), ("x.npy", "has shape (5,)", "expected (6,) or (batch >= 1, 6)")),
    ("empty", np.zeros((0, 6)), ("has shape (0, 6)", "batch >= 1")),
    ("nan", np.array([0.1, np.nan, 0, 0, 0, 0]), ("value [0, 1] = nan", "expected finite numbers")),
    ("too_large", np.full(6, 1e6), ("input activation 1e+06", "does not fit signed 16-bit")),
    ("strings", np.array(["a"] * 6), ("holds <U1", "expected real numbers")),
    ("three_d", np.zeros((1, 1, 6)), ("shape (1, 1, 6)", "expected (6,)")),
]:
    case(f"simulate_input_{_id}", _expect)(
        lambda t, x=_x: (np.save(t / "x.npy", x), simulate(write_net(t), "--input", t / "x.npy",
                                                           "--config", write_cfg(t, SMALL_CFG)))[1])


@case("simulate_input_pickled", ("x.npy", "not a readable .npy array"))
def _(t):
    np.save(t / "x.npy", np.array([Evil(t / MARKER)], dtype=object), allow_pickle=True)
    return simulate(write_net(t), "--input", t / "x.npy", "--config", write_cfg(t, SMALL_CFG))


case("simulate_input_fifo", ("x.npy", "not a regular file"))(
    lambda t: simulate(write_net(t), "--input", mkfifo(t / "x.npy")))
cli("simulate_input_missing", simulate("{t}/n.npz", "--input", "{t}/none.npy"), ("n.npz", "does not exist"))
for _id, _opt, _expect in [
    ("count_0", ["--count", "0"], ("count 0 is out of range", "expected 1..100000")),
    ("count_negative", ["--count", "-1"], ("count -1", "1..100000")),
    ("seed_negative", ["--seed", "-1"], ("seed -1", "0..4294967295")),
    ("density_0", ["--act-density", "0"], ("activation density 0 is out of range", "> 0 and <= 1")),
]:
    case(f"simulate_{_id}", _expect, option=True)(lambda t, o=_opt: simulate(write_net(t), *o))
case("simulate_json_is_dir", ("'r.json' is a directory", "expected a file name"))(
    lambda t: (t.joinpath("r.json").mkdir(), simulate(write_net(t), "--json", "r.json"))[1])
case("simulate_json_is_input", ("also an input", "refusing to overwrite"))(
    lambda t: simulate(write_net(t), "--json", t / "net.npz"))

# ---- energy ------------------------------------------------------------------------------------------------------

def _table(t, **changes):
    import yaml
    from openeie.sim.energy import load_table
    data = json.loads(json.dumps(load_table().data))
    for key, value in changes.items():
        section, field = key.split("__")
        data[section][field] = value
    (t / "t.yaml").write_text(yaml.safe_dump(data))
    return t / "t.yaml"


cli("energy_no_target", ["energy"], ("give a network/images path or --bench eie",))
case("energy_target_and_bench", ("one of them",))(lambda t: ["energy", write_net(t), "--bench", "eie"])
cli("energy_unknown_eie_layer", ["energy", "--bench", "eie", "--layer", "Alex-9"], ("'Alex-9'", "expected one of"))
cli("energy_unknown_bench", ["energy", "--bench", "mlperf"], ("invalid choice: 'mlperf'",), option=True)
case("energy_unknown_layer", ("'fc9'", "expected one of ['layer0', 'layer1']"))(
    lambda t: ["energy", write_net(t), "--layer", "fc9", "--config", write_cfg(t, SMALL_CFG)])
case("energy_bench_with_input", ("--input prices a network",))(
    lambda t: (np.save(t / "x.npy", np.zeros(6)), ["energy", "--bench", "eie", "--input", t / "x.npy"])[1])
cli("energy_table_missing", ["energy", "--bench", "eie", "--table", "{t}/none.yaml"], ("none.yaml", "does not exist"))
cli("energy_table_dev_zero", ["energy", "--bench", "eie", "--table", "/dev/zero"], ("/dev/zero", "not a regular file"))
case("energy_table_fifo", ("t.yaml", "not a regular file"))(
    lambda t: ["energy", "--bench", "eie", "--table", mkfifo(t / "t.yaml")])
for _id, _changes, _expect in [
    ("ref_bits_0", {"int_add__ref_bits": 0}, ("int_add.ref_bits = 0", "expected a finite number > 0")),
    ("ref_bytes_0", {"sram__ref_bytes": 0}, ("sram.ref_bytes = 0", "> 0")),
    ("width_0", {"sram__ref_width_bits": 0}, ("sram.ref_width_bits = 0", "> 0")),
    ("nan", {"dram__pj_per_bit": float("nan")}, ("dram.pj_per_bit = nan", "finite number >= 0")),
    ("inf", {"sram__ref_pj": float("inf")}, ("sram.ref_pj = inf", "finite number >= 0")),
    ("negative", {"float32__add_pj": -1.0}, ("float32.add_pj = -1.0", ">= 0")),
    ("text", {"int_mult__ref_pj": "ten"}, ("int_mult.ref_pj = 'ten'", "finite number")),
    ("bool", {"sram__exponent": True}, ("sram.exponent = True", "finite number")),
]:
    case(f"energy_table_{_id}", _expect)(lambda t, c=_changes: ["energy", "--bench", "eie", "--layer", "NT-We",
                                                               "--table", _table(t, **c)])
case("energy_table_list", ("holds a list", "expected a mapping"))(
    lambda t: (t.joinpath("t.yaml").write_text("- 1\n- 2\n"), ["energy", "--bench", "eie", "--table", "t.yaml"])[1])
case("energy_table_bad_yaml", ("not valid YAML/JSON",))(
    lambda t: (t.joinpath("t.yaml").write_text("a: [1,\n"), ["energy", "--bench", "eie", "--table", "t.yaml"])[1])
case("energy_table_missing_section", ("section 'dram' is missing",))(
    lambda t: (t.joinpath("t.yaml").write_text("int_add: {ref_bits: 32, ref_pj: 0.1}\nint_mult: {ref_bits: 32, "
                                               "ref_pj: 3.1}\nfloat32: {add_pj: 1, mult_pj: 1}\nsram: {ref_bytes: 1, "
                                               "ref_width_bits: 1, ref_pj: 1, exponent: 0.5, min_bytes: 1}\n"),
               ["energy", "--bench", "eie", "--table", "t.yaml"])[1])
for _id, _opt, _expect in [
    ("count_0", ["--count", "0"], ("count 0 is out of range",)),
    ("density_2", ["--act-density", "2"], ("activation density 2 is out of range", "<= 1")),
    ("seed_text", ["--seed", "x"], ("'x' is not an integer", "seed 0..4294967295")),
]:
    case(f"energy_{_id}", _expect, option=True)(lambda t, o=_opt: ["energy", write_net(t), *o])
case("energy_json_is_table", ("also an input", "refusing to overwrite"))(
    lambda t: ["energy", "--bench", "eie", "--table", _table(t), "--json", t / "t.yaml"])

# ---- asic --------------------------------------------------------------------------------------------------------

cli("asic_no_target", ["asic"], ("give --net NET_OR_IMAGES or --bench eie",))
case("asic_target_and_bench", ("one of them",))(lambda t: ["asic", "--net", write_net(t), "--bench", "eie"])
cli("asic_unknown_eie_layer", ["asic", "--bench", "eie", "--layer", "Alex-9"], ("'Alex-9'", "expected one of"))
cli("asic_clock_0", ["asic", "--bench", "eie", "--clock-mhz", "0"], ("clock (MHz) 0 is out of range", "> 0"),
    option=True)
cli("asic_clock_text", ["asic", "--bench", "eie", "--clock-mhz", "fast"], ("'fast' is not a number",), option=True)
cli("asic_config_missing", ["asic", "--bench", "eie", "--config", "{t}/none.json"], ("none.json", "does not exist"))
cli("asic_area_table_missing", ["asic", "--bench", "eie", "--area-table", "{t}/none.yaml"],
    ("none.yaml", "does not exist"))
def _area_table(t, **logic):
    import yaml
    from openeie.sim.area import load_area_table
    data = json.loads(json.dumps(load_area_table().data))
    data["logic"].update(logic)
    (t / "t.yaml").write_text(yaml.safe_dump(data))
    return t / "t.yaml"


case("asic_area_table_bad", ("logic.utilisation = 0", "expected a finite number > 0"))(
    lambda t: ["asic", "--bench", "eie", "--area-table", _area_table(t, utilisation=0)])
case("asic_unknown_layer", ("'fc9'", "expected one of ['layer0', 'layer1']"))(
    lambda t: ["asic", "--net", write_net(t), "--layer", "fc9", "--config", write_cfg(t, SMALL_CFG)])
case("asic_json_is_plot", ("the same file",))(
    lambda t: ["asic", "--bench", "eie", "--json", "r.out", "--plot", "r.out"])

# ---- sweep / sweep-sim -------------------------------------------------------------------------------------------

for _id, _opt, _expect in [
    ("code_bits_0", ["--code-bits", "0,2"], ("code_bits 0 is out of range", "expected 2..8")),
    ("code_bits_empty", ["--code-bits", ""], ("''", "expected comma-separated integers 2..8")),
    ("code_bits_text", ["--code-bits", "2,x"], ("'x' is not an integer",)),
    ("code_bits_repeat", ["--code-bits", "2,2"], ("repeats a value",)),
    ("n_pe_0", ["--n-pe", "0"], ("n_pe 0 is out of range", "expected 1..256")),
    ("fifo_65", ["--fifo-depth", "65"], ("fifo_depth 65 is out of range", "expected 1..64")),
    ("act_bits_1", ["--act-bits", "1"], ("act_bits 1 is out of range", "2..24")),
    ("workers_0", ["--workers", "0"], ("workers 0 is out of range", "1..256")),
    ("dask_address", ["--dask", "localhost"], ("'localhost' is not a Dask scheduler address", "tcp://host:8786")),
    ("dask_port", ["--dask", "tcp://host:99999"], ("port 99999 is out of range", "1..65535")),
    ("area_device", ["--area-device", "xc7"], ("invalid choice: 'xc7'",)),
    ("seed_negative", ["--seed", "-3"], ("seed -3 is out of range",)),
]:
    cli(f"sweep_{_id}", ["sweep", *_opt], _expect, option=True)
cli("sweep_layer_without_bench", ["sweep", "--layer", "Alex-7"], ("--layer names an EIE layer", "--bench eie"))
cli("sweep_unknown_layer", ["sweep", "--bench", "eie", "--layer", "Alex-9"], ("'Alex-9'", "expected one of"))
case("sweep_output_foreign", ("sweep directory 'mine'", "holds no readable sweep.json"))(
    lambda t: (t.joinpath("mine").mkdir(), t.joinpath("mine", "sweep.csv").write_text("my data"),
               ["sweep", "--bench", "eie", "-o", "mine"])[2])
cli("sweep_dask_unreachable", ["sweep", "--bench", "eie", "--layer", "NT-We", "--dask", "tcp://127.0.0.1:9",
                               "-o", "s"], ("cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'",))

for _id, _opt, _expect in [
    ("fifo_max_negative", ["--fifo-max", "-1"], ("largest FIFO depth -1 is out of range", "1..64")),
    ("fifo_max_0", ["--fifo-max", "0"], ("largest FIFO depth 0", "1..64")),
    ("fifo_max_100", ["--fifo-max", "100"], ("largest FIFO depth 100", "1..64")),
    ("pes_max_0", ["--pes-max", "0"], ("largest PE count 0 is out of range", "1..256")),
    ("sweeps_unknown", ["--sweeps", "area"], ("invalid choice: 'area'",)),
    ("seed_negative", ["--seed", "-1"], ("seed -1",)),
]:
    cli(f"sweep_sim_{_id}", ["sweep-sim", *_opt], _expect, option=True)
cli("sweep_sim_unknown_layer", ["sweep-sim", "--layers", "Alex-9"], ("['Alex-9']", "expected some of"))
case("sweep_sim_output_foreign", ("sweep-sim directory 'mine'", "holds no readable index.json"))(
    lambda t: (t.joinpath("mine").mkdir(), t.joinpath("mine", "sweep_fifo.json").write_text("{}"),
               ["sweep-sim", "--layers", "NT-We", "-o", "mine"])[2])

# ---- compare ------------------------------------------------------------------------------------------------------

for _id, _opt, _expect in [
    ("methods_unknown", ["--methods", "deep-compression,magic"], ("unknown method 'magic'", "expected comma-separated "
                                                                 "names among deep-compression")),
    ("methods_empty", ["--methods", ""], ("''", "expected comma-separated names")),
    ("methods_twice", ["--methods", "ternary,ternary"], ("'ternary,ternary': a method is named twice",)),
    ("model", ["--model", "vgg"], ("invalid choice: 'vgg'",)),
    ("validation_big", ["--validation", "0.7"], ("validation fraction 0.7 is out of range", "> 0 and <= 0.5")),
    ("validation_zero", ["--validation", "0"], ("validation fraction 0 is out of range",)),
    ("rtl_65", ["--rtl", "65"], ("RTL images 65 is out of range", "0..64")),
    ("cycle_inputs_0", ["--cycle-inputs", "0"], ("cycle inputs 0 is out of range",)),
    ("workers_0", ["--workers", "0"], ("workers 0 is out of range", "1..256")),
    ("dask_address", ["--dask", "localhost"], ("'localhost' is not a Dask scheduler address",)),
]:
    cli(f"compare_{_id}", ["compare", *_opt], _expect, option=True)
case("compare_output_foreign", ("compare directory 'mine'", "holds no readable compare.json"))(
    lambda t: (t.joinpath("mine").mkdir(), t.joinpath("mine", "compare.csv").write_text("my data"),
               ["compare", "-o", "mine"])[2])
cli("compare_dask_unreachable", ["compare", "--dask", "tcp://127.0.0.1:9", "-o", "c"],
    ("cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'",))

# ---- synth -------------------------------------------------------------------------------------------------------

for _id, _argv, _expect in [
    ("no_mode", [], ("one of the arguments --board --estimate --sweep is required",)),
    ("two_modes", ["--estimate", "--sweep", "--device", "up5k"], ("not allowed with argument",)),
    ("freq_0", ["--estimate", "--device", "up5k", "--freq-mhz", "0"], ("clock target (MHz) 0 is out of range", "> 0")),
    ("freq_negative", ["--estimate", "--device", "up5k", "--freq-mhz", "-5"], ("-5 is out of range",)),
    ("freq_inf", ["--estimate", "--device", "up5k", "--freq-mhz", "inf"], ("inf is out of range",)),
    ("clock_0", ["--board", "icebreaker", "--clock-mhz", "0"], ("clock (MHz) 0 is out of range",)),
    ("baud_0", ["--board", "icebreaker", "--baud", "0"], ("baud rate 0 is out of range", "300..10000000")),
    ("seed_negative", ["--estimate", "--device", "up5k", "--seed", "-1"], ("placement seed -1",)),
    ("pes_0", ["--sweep", "--device", "up5k", "--pes", "0", "2"], ("n_pe 0 is out of range", "1..256")),
    ("timeout_0", ["--estimate", "--device", "up5k", "--route-timeout-min", "0"], ("minutes 0 is out of range",)),
    ("unknown_device", ["--estimate", "--device", "xc7a35t"], ("invalid choice: 'xc7a35t'",)),
    ("unknown_board", ["--board", "de10"], ("invalid choice: 'de10'",)),
    ("seeds_negative", ["--estimate", "--device", "up5k", "--seeds", "1", "-2"], ("placement seed -2",)),
    ("jobs_0", ["--estimate", "--device", "up5k", "--seeds", "1", "--jobs", "0"], ("parallel jobs 0 is out of range",)),
]:
    cli(f"synth_{_id}", ["synth", *_argv], _expect, option=True)
cli("synth_estimate_without_device", ["synth", "--estimate"], ("need --device",))
cli("synth_board_with_device", ["synth", "--board", "icebreaker", "--device", "up5k"], ("--device does not apply",))
cli("synth_seeds_with_sweep", ["synth", "--sweep", "--device", "up5k", "--seeds", "1", "2"],
    ("--seeds and --jobs apply to --estimate only",))
cli("synth_jobs_without_seeds", ["synth", "--estimate", "--device", "up5k", "--jobs", "2"], ("--jobs needs --seeds",))
cli("synth_estimate_with_baud", ["synth", "--estimate", "--device", "up5k", "--baud", "9600"],
    ("--baud applies to --board builds only",))
case("synth_bad_config", ("n_pe=0 is out of range", "1..256"))(
    lambda t: ["synth", "--estimate", "--device", "up5k", "--config", write_cfg(t, '{"n_pe": 0}'), "-o", "est"])
case("synth_output_foreign", ("synthesis directory 'est'", "holds no readable openeie-synth.json"))(
    lambda t: (t.joinpath("est").mkdir(), t.joinpath("est", "top.v").write_text("module mine;"),
               ["synth", "--estimate", "--device", "up5k", "-o", "est"])[2])

# ---- openeie run (issue 17 point 6: board runs from the CLI): all refused before a port is opened ------------------

def _run_images(t: Path, **changes) -> Path:
    """Images of the battery's network compiled for the icebreaker preset with ``changes``."""
    from openeie.compiler.images import save_images
    from openeie.compiler.lower import lower
    from openeie.compiler.netfile import load_network
    from openeie.fpga.presets import board_preset
    save_images(lower(load_network(write_net(t)), board_preset("icebreaker").replace(**changes)), t / "images")
    return t / "images"


_RUN = ["run", "--board", "icebreaker", "--port", "{t}/ttyNONE"]
cli("run_unknown_board", ["run", "--board", "de10", "--simulate", "x.oeie"], ("invalid choice: 'de10'",), option=True)
cli("run_port_and_simulate", [*_RUN, "--simulate", "x.oeie"], ("--simulate: not allowed with argument --port",),
    option=True)
cli("run_neither_port_nor_simulate", ["run", "--board", "icebreaker", "x.oeie"], ("give --port DEV", "--simulate"))
cli("run_no_images", _RUN, ("give IMAGES",))
cli("run_missing_images", [*_RUN, "nope.oeie"], ("images 'nope.oeie' does not exist",))
cli("run_baud_with_simulate", ["run", "--board", "icebreaker", "--simulate", "--baud", "9600", "x.oeie"],
    ("--baud 9600 applies to --port",))
cli("run_baud_0", [*_RUN, "--baud", "0", "x.oeie"], ("baud rate 0 is out of range",), option=True)
cli("run_bitstream_without_program", [*_RUN, "--bitstream", "b.bin", "x.oeie"], ("--bitstream b.bin applies to "
                                                                                "--program",))
cli("run_fixed_without_input", [*_RUN, "--fixed", "x.oeie"], ("--fixed describes the --input file",))
cli("run_program_with_simulate", ["run", "--board", "icebreaker", "--simulate", "--program", "x.oeie"],
    ("--program writes a bitstream to a real board: not with --simulate",))
case("run_images_of_another_config", ("compiled for another engine configuration than the icebreaker bitstream's",
                                      "n_pe=2 in the images vs 4 on the board"))(
    lambda t: [*(a.format(t=t) for a in _RUN), _run_images(t, n_pe=2)])
case("run_input_shape", ("has shape (5,): expected (6,)",))(
    lambda t: (np.save(t / "x.npy", np.zeros(5)),
               [*(a.format(t=t) for a in _RUN), write_net(t), "--input", "x.npy"])[1])
case("run_fixed_fraction", ("--fixed", "holds the fraction 0.5", "fixed-point integers"))(
    lambda t: (np.save(t / "x.npy", np.full(6, 0.5)),
               [*(a.format(t=t) for a in _RUN), write_net(t), "--input", "x.npy", "--fixed"])[1])
case("run_fixed_out_of_range", ("--fixed", "holds 200", "8-bit activations -128..127"))(
    lambda t: (np.save(t / "x.npy", np.full(6, 200)),
               [*(a.format(t=t) for a in _RUN), write_net(t), "--input", "x.npy", "--fixed"])[1])
case("run_missing_bitstream", ("bitstream 'nope' not found", "openeie synth --board icebreaker -o DIR"))(
    lambda t: [*(a.format(t=t) for a in _RUN), "--program", "--bitstream", "nope", write_net(t)])
case("run_bitstream_wrong_family", ("not a .bin file: the icebreaker takes top.bin",))(
    lambda t: (t.joinpath("top.bit").write_bytes(b"x"),
               [*(a.format(t=t) for a in _RUN), "--program", "--bitstream", "top.bit", write_net(t)])[1])
case("run_port_cannot_be_opened", ("cannot open serial port", "ttyNONE", "--flash-help"))(
    lambda t: [*(a.format(t=t) for a in _RUN), write_net(t)])
case("run_output_is_dir", ("JSON report 'r.json' is a directory",))(
    lambda t: (t.joinpath("r.json").mkdir(), [*(a.format(t=t) for a in _RUN), write_net(t), "-o", "r.json"])[1])

# ---- bench / demo ------------------------------------------------------------------------------------------------

for _id, _opt, _expect in [
    ("pes_0", ["eie", "--pes", "0"], ("n_pe 0 is out of range", "1..256")),
    ("pes_257", ["eie", "--pes", "257"], ("n_pe 257", "1..256")),
    ("fifo_0", ["eie", "--fifo", "0"], ("fifo_depth 0", "1..64")),
    ("clock_0", ["eie", "--clock-mhz", "0"], ("clock (MHz) 0 is out of range",)),
    ("clock_nan", ["eie", "--clock-mhz", "nan"], ("nan is out of range",)),
    ("repeats_0", ["compile", "--repeats", "0"], ("repeats 0 is out of range", "1..1000")),
    ("seed_negative", ["eie", "--seed", "-1"], ("seed -1",)),
    ("unknown", ["dhrystone"], ("invalid choice: 'dhrystone'",)),
]:
    cli(f"bench_{_id}", ["bench", *_opt], _expect, option=True)
case("bench_json_is_dir", ("'b.json' is a directory",))(
    lambda t: (t.joinpath("b.json").mkdir(), ["bench", "eie", "--json", "b.json"])[1])


@case("demo_output_foreign_report", ("demo report directory 'report'", "holds no readable report.json"))
def _(t):
    """The overwrite regression: a user's directory with a report.md of their own."""
    (t / "report").mkdir()
    (t / "report" / "report.md").write_text("# my own report")
    return ["demo", "--quick", "-o", "report"]


case("demo_output_is_file", ("'report' exists and is not a directory",))(
    lambda t: (t.joinpath("report").write_text("x"), ["demo", "--quick", "-o", "report"])[1])
case("demo_bad_config", ("fifo_depth=0 is out of range",))(
    lambda t: ["demo", "--quick", "--config", write_cfg(t, '{"fifo_depth": 0}')])
cli("demo_seed_negative", ["demo", "--seed", "-1"], ("seed -1",), option=True)
cli("unknown_command", ["frobnicate"], ("invalid choice: 'frobnicate'",), option=True)

# ---- bring-your-own-model report (issue 17): openeie report, compress --density NAME=D, classifiers only,
# simulate --labels / --data / --rtl ----------------------------------------------------------------------------

for _id, _opt, _expect in [
    ("density_item_empty", "fc1=0.1,,fc2=0.2", ("'fc1=0.1,,fc2=0.2'", "expected NAME=D")),
    ("density_no_name", "=0.1", ("'=0.1'", "a layer name before each '='")),
    ("density_layer_twice", "fc1=0.1,fc1=0.2", ("names layer 'fc1' twice",)),
    ("density_layer_out_of_range", "fc1=1.5", ("1.5 is out of range", "> 0 and <= 1")),
    ("density_layer_text", "fc1=most", ("'most' is not a number",)),
    ("density_two_rests", "0.1,fc1=0.2,0.3", ("two densities for the layers not named", "at most one bare D")),
]:
    case(f"compress_{_id}", _expect, option=True)(lambda t, o=_opt: _compress(write_ckpt(t), "--density", o))
case("compress_density_unknown_layer", ("--density fc1=0.1,fc9=0.2", "unknown layer(s) ['fc9']",
                                        "expected names among ['fc1', 'fc2']"))(
    lambda t: _compress(write_ckpt(t), "--density", "fc1=0.1,fc9=0.2"))
case("compress_fewer_classes_than_outputs", ("has 10 classes (labels 0..9)", "'fc2' has 12 outputs",
                                             "one output per class"))(
    lambda t: _compress(write_ckpt(t, state_dict((64, 16, 12))), "--data", write_data(t)))
case("compress_one_output", ("'fc2' has 1 output", "one output per class, at least 2"))(
    lambda t: _compress(write_ckpt(t, state_dict((64, 16, 1))), "--data", write_data(t)))
case("compress_regression_targets", ("y_train is float32", "integer labels"))(
    lambda t: _compress(write_ckpt(t), "--data", write_data(t, y_train=np.linspace(0, 1, 40, dtype=np.float32))))


def _report(t, *more, ckpt=None, out="rep"):
    return ["report", ckpt or write_ckpt(t), "--data", write_data(t), "-o", out, "--prune-steps", "1",
            "--prune-epochs", "1", "--finetune-epochs", "1", *more]


cli("report_missing_checkpoint", ["report", "{t}/none.pt", "-o", "rep"], ("none.pt", "does not exist"))
cli("report_missing_output", ["report", "{t}/m.pt"], ("-o/--output",), option=True)
# ---- simulate --waves: only with --rtl, in the format this machine writes, never onto a directory or an input
cli("run_flash_help_with_a_run", ["run", "--board", "icebreaker", "--flash-help", "--port", "/dev/null", "x.oeie"],
    ("--flash-help", "--board alone", "IMAGES, --port"))
cli("simulate_missing_target_no_suffix", ["simulate", "{t}/nothing"], ("nothing", "does not exist", "images directory"))
cli("simulate_waves_without_rtl", ["simulate", "{t}/net.npz", "--waves", "{t}/w.fst"],
    ("--waves", "give --rtl too"))
cli("simulate_waves_wrong_suffix", ["simulate", "{t}/net.npz", "--rtl", "--waves", "{t}/w.txt"],
    ("--waves", "expected a ."))
cli("simulate_waves_directory", ["simulate", "{t}/net.npz", "--rtl", "--waves", "{t}"],
    ("--waves",))
cli("report_rtl_negative", ["report", "{t}/m.pt", "-o", "rep", "--rtl", "-1"], ("RTL inputs -1 is out of range",),
    option=True)
cli("report_cycle_inputs_0", ["report", "{t}/m.pt", "-o", "rep", "--cycle-inputs", "0"],
    ("cycle inputs 0 is out of range",), option=True)
case("report_output_foreign", ("report directory 'rep'", "holds no readable report.json"))(
    lambda t: (t.joinpath("rep").mkdir(), t.joinpath("rep", "notes.txt").write_text("mine"), _report(t))[2])
case("report_output_is_demo", ("report directory 'rep'",))(
    lambda t: (t.joinpath("rep").mkdir(), t.joinpath("rep", "report.json").write_text(
        '{"format": "openeie-demo-report"}'), _report(t))[2])
case("report_bad_config", ("fifo_depth=0 is out of range",))(
    lambda t: _report(t, "--config", write_cfg(t, '{"fifo_depth": 0}')))
case("report_code_bits_wider_than_engine", ("--code-bits 4", "exceeds the engine's code_bits=3", "at most 3"))(
    lambda t: _report(t, "--config", write_cfg(t, '{"code_bits": 3}')))
case("report_engine_too_small", ("layer 'fc1'", "exceed act_depth=2"))(
    lambda t: _report(t, "--config", write_cfg(t, '{"n_pe": 4, "act_depth": 2}')))
case("report_conv_on_fc_engine", ("the network has convolution layers", "max_image_side=1"))(
    lambda t: _report(t, "--config", write_cfg(t, '{"n_pe": 4}'), ckpt=write_cnn(t)))
case("report_density_unknown_layer", ("--density fc3=0.1", "unknown layer(s) ['fc3']"))(
    lambda t: _report(t, "--density", "fc3=0.1"))
case("report_classes_vs_outputs", ("has 10 classes", "'fc2' has 16 outputs"))(
    lambda t: _report(t, ckpt=write_ckpt(t, state_dict((64, 16, 16)))))
case("report_float_labels", ("y_test is float64", "integer labels"))(
    lambda t: ["report", write_ckpt(t), "--data", write_data(t, y_test=np.full(20, 1.5)), "-o", "rep"])
case("report_data_features", ("has 64 features", "the network takes 32"))(
    lambda t: _report(t, ckpt=write_ckpt(t, state_dict((32, 16, 10)))))

case("simulate_labels_without_input", ("--labels y.npy labels the rows of --input", "give --input X.npy"))(
    lambda t: simulate(write_net(t), "--labels", "y.npy"))
case("simulate_data_and_input", ("brings its own inputs", "give --data or --input, not both"))(
    lambda t: (np.save(t / "x.npy", np.zeros(6)), simulate(write_net(t), "--data", write_data(t), "--input",
                                                           t / "x.npy"))[1])
for _id, _labels, _expect in [
    ("labels_float", np.array([0.0, 1.0]), ("holds float64", "integer class labels of shape (2,)")),
    ("labels_count", np.array([0, 1, 2]), ("shape (3,)", "expected integer class labels of shape (2,)")),
    ("labels_out_of_range", np.array([0, 3]), ("label 3", "expected class labels 0..2")),
    ("labels_negative", np.array([-1, 0]), ("label -1", "expected class labels 0..2")),
]:
    case(f"simulate_{_id}", _expect)(
        lambda t, y=_labels: (np.save(t / "x.npy", np.zeros((2, 6))), np.save(t / "y.npy", y),
                              simulate(write_net(t), "--input", t / "x.npy", "--labels", t / "y.npy"))[2])
case("simulate_labels_pickled", ("y.npy", "not a readable .npy array"))(
    lambda t: (np.save(t / "x.npy", np.zeros((1, 6))), np.save(t / "y.npy", np.array([Evil(t / MARKER)]),
                                                               allow_pickle=True),
               simulate(write_net(t), "--input", t / "x.npy", "--labels", t / "y.npy"))[2])
case("simulate_labels_one_output", ("the network has 1 output", "at least 2"))(
    lambda t: (np.save(t / "x.npy", np.zeros((1, 6))), np.save(t / "y.npy", np.zeros(1, np.int64)),
               simulate(write_net(t, **{"layer1.codes": np.ones((1, 12), np.uint8)}), "--input", t / "x.npy",
                        "--labels", t / "y.npy"))[2])
case("simulate_data_features", ("has 64 features", "the network takes 6"))(
    lambda t: simulate(write_net(t), "--data", write_data(t, y_train=np.zeros(40, np.int64),
                                                          y_test=np.ones(20, np.int64))))
case("simulate_data_labels_vs_outputs", ("label 9", "expected class labels 0..2"))(
    lambda t: simulate(write_net(t), "--data", write_data(t, x_train=np.zeros((40, 6), np.float32),
                                                          x_test=np.zeros((20, 6), np.float32))))
cli("simulate_data_missing", simulate("{t}/n.npz", "--data", "{t}/none.npz"), ("n.npz", "does not exist"))

# ---- ONNX / --model (issue 17 point 5): an ONNX graph as the model; --model MODULE:CLASS for a state dict -------
# Every bad graph is refused before any training; --model imports the user's module from the case's directory
# (each case a module name of its own: imports are cached per name) and writes no __pycache__ there.

def write_onnx(t: Path, nodes=None, inits=None, name="m.onnx", external=False) -> Path:
    """A small ONNX graph x (1, 64) -> Gemm -> Relu -> Gemm -> y (1, 10), or ``nodes`` over ``inits``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    inits = inits if inits is not None else {"W1": rng.normal(size=(16, 64)), "W2": rng.normal(size=(10, 16))}
    nodes = nodes or [helper.make_node("Gemm", ["x", "W1"], ["h"], transB=1, name="fc1"),
                      helper.make_node("Relu", ["h"], ["r"], name="relu"),
                      helper.make_node("Gemm", ["r", "W2"], ["y"], transB=1, name="fc2")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
                              [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save_model(model, str(t / name), save_as_external_data=external, location="weights.bin",
                    size_threshold=0)
    return t / name


def _onnx_nodes(*specs):
    from onnx import helper
    return [helper.make_node(op, ins, outs, name=n, **attrs) for op, ins, outs, n, attrs in specs]


def write_user_module(t: Path, name: str) -> str:
    (t / f"{name}.py").write_text("from torch import nn\n\n\nclass Net(nn.Sequential):\n    def __init__(self):\n"
                                  "        super().__init__(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))\n\n\n"
                                  "def make():\n    return 'not a model'\n")
    return name


case("onnx_unsupported_op", ("node 1 'squash' (Sigmoid): unsupported operator", "supported: Gemm"))(
    lambda t: _compress(write_onnx(t, _onnx_nodes(("Gemm", ["x", "W1"], ["h"], "fc1", {"transB": 1}),
                                                  ("Sigmoid", ["h"], ["r"], "squash", {}),
                                                  ("Gemm", ["r", "W2"], ["y"], "fc2", {"transB": 1})))))
case("onnx_unsupported_attribute", ("'fc1' (Gemm): attribute alpha=0.5", "expected 1.0"))(
    lambda t: _compress(write_onnx(t, _onnx_nodes(("Gemm", ["x", "W1"], ["h"], "fc1", {"transB": 1, "alpha": 0.5}),
                                                  ("Relu", ["h"], ["r"], "relu", {}),
                                                  ("Gemm", ["r", "W2"], ["y"], "fc2", {"transB": 1})))))
case("onnx_branch", ("tensor 'x' feeds 2 nodes", "a branch; expected a straight chain", "'join' (Add)"))(
    lambda t: _compress(write_onnx(t, _onnx_nodes(("Gemm", ["x", "W1"], ["a"], "left", {"transB": 1}),
                                                  ("Gemm", ["x", "W1"], ["b"], "right", {"transB": 1}),
                                                  ("Add", ["a", "b"], ["c"], "join", {}),
                                                  ("Gemm", ["c", "W2"], ["y"], "fc2", {"transB": 1})))))
case("onnx_external_data", ("keeps tensors", "external data files", "save_as_external_data=False"))(
    lambda t: _compress(write_onnx(t, external=True)))
case("onnx_not_onnx", ("ONNX model", "m.onnx", "not an ONNX model"))(
    lambda t: (t.joinpath("m.onnx").write_text("hello, not a graph"), _compress(t / "m.onnx"))[1])
case("onnx_empty_file", ("m.onnx", "holds no graph", "not an ONNX model"))(
    lambda t: (t.joinpath("m.onnx").write_bytes(b""), _compress(t / "m.onnx"))[1])
cli("onnx_missing", _compress("{t}/none.onnx"), ("none.onnx", "does not exist"))
case("onnx_with_arch", ("--arch", "carries its own architecture"))(
    lambda t: _compress(write_onnx(t), "--arch", write_arch(t, cnn_arch())))
case("onnx_with_model", ("--model mod:Net", "carries its own architecture"))(
    lambda t: _compress(write_onnx(t), "--model", "mod:Net"))
case("onnx_classes_vs_data", ("label 9", "expected class labels 0..3"))(
    lambda t: _compress(write_onnx(t, inits={"W1": np.ones((16, 64)), "W2": np.ones((4, 16))}), "--data",
                        write_data(t)))
case("report_onnx_unsupported_op", ("(Tanh): unsupported operator",))(
    lambda t: _report(t, ckpt=write_onnx(t, _onnx_nodes(("Gemm", ["x", "W1"], ["h"], "fc1", {"transB": 1}),
                                                        ("Tanh", ["h"], ["r"], "", {}),
                                                        ("Gemm", ["r", "W2"], ["y"], "fc2", {"transB": 1})))))
for _id, _spec in [("no_colon", "mymodels"), ("two_colons", "a:b:c"), ("path", "./models.py:Net"), ("empty", ":Net")]:
    cli(f"model_bad_spec_{_id}", _compress("{t}/m.pt", "--model", _spec), ("expected MODULE:CLASS",), option=True)
cli("model_bad_input_shape", _compress("{t}/m.pt", "--input-shape", "1,8"), ("expected C,H,W",), option=True)
case("model_missing_module", ("cannot import module 'bi_no_such_models'", "No module named 'bi_no_such_models'"))(
    lambda t: _compress(write_ckpt(t), "--model", "bi_no_such_models:Net"))
case("model_module_fails", ("cannot import module 'bi_broken_models'", "ZeroDivisionError"))(
    lambda t: (t.joinpath("bi_broken_models.py").write_text("1 / 0\n"),
               _compress(write_ckpt(t), "--model", "bi_broken_models:Net"))[1])
case("model_wrong_class", ("has no attribute 'Nett'", "its nn.Module classes: Net"))(
    lambda t: _compress(write_ckpt(t), "--model", f"{write_user_module(t, 'bi_models_wrong')}:Nett"))
case("model_constructor_fails", ("Linear() failed", "TypeError", "takes no arguments"))(
    lambda t: _compress(write_ckpt(t), "--model", f"{write_user_module(t, 'bi_models_args')}:nn.Linear"))
case("model_not_a_module", ("make() made a str", "expected a torch.nn.Module"))(
    lambda t: _compress(write_ckpt(t), "--model", f"{write_user_module(t, 'bi_models_str')}:make"))
case("model_shape_mismatch", ("does not fit the model", "mis-shaped", "0.weight (16, 32) (expected (16, 64))"))(
    lambda t: _compress(write_ckpt(t, {"0.weight": __import__("torch").zeros(16, 32),
                                       "0.bias": __import__("torch").zeros(16),
                                       "2.weight": __import__("torch").zeros(10, 16),
                                       "2.bias": __import__("torch").zeros(10)}),
                        "--model", f"{write_user_module(t, 'bi_models_shape')}:Net"))
case("model_state_keys", ("does not fit the model", "missing ['0.bias', '0.weight'", "unexpected ['fc1.bias'"))(
    lambda t: _compress(write_ckpt(t), "--model", f"{write_user_module(t, 'bi_models_keys')}:Net"))
case("model_with_arch", ("--arch", "--model", "both give the architecture"))(
    lambda t: _compress(write_ckpt(t), "--arch", write_arch(t, cnn_arch()), "--model", "bi_models_x:Net"))
case("input_shape_without_model", ("--input-shape 1,8,8 is for --model",))(
    lambda t: _compress(write_ckpt(t), "--input-shape", "1,8,8"))
case("report_model_missing_module", ("cannot import module 'bi_no_such_report_models'",))(
    lambda t: _report(t, "--model", "bi_no_such_report_models:Net"))

# ---- the Python API --------------------------------------------------------------------------------------------

def _layer(**kw):
    from openeie.compiler.network import CompressedLayer
    args = dict(shape=(2, 3), rows=np.array([0, 1]), cols=np.array([0, 2]), codes=np.array([1, 2]),
                codebook=np.array([0.0, 0.5, -0.5]), bias=None, relu=False, name="l")
    args.update(kw)
    return CompressedLayer(**args)


def _net():
    from openeie.compiler.network import CompressedNetwork
    return CompressedNetwork([_layer()])


def _cfg(**kw):
    from openeie.config import EngineConfig
    return EngineConfig(**{**SMALL_CFG, **kw})


def _lower(*args, **kw):
    from openeie.compiler.lower import lower
    return lower(*args, **kw)


def _golden(program, x):
    from openeie.sim import golden
    return golden.run(program, x)


def _cycle(program, x):
    from openeie.sim import cycle
    return cycle.run(program, x)


def _energy(stats, cfg, table=None):
    from openeie.sim.energy import energy
    return energy(stats, cfg, table)


def _stats():
    from openeie.stats import COUNTERS, Stats
    return Stats(counters=dict.fromkeys(COUNTERS, 0), pe_busy=np.zeros(2), layer_cycles=[0])


def _random_inputs(**kw):
    from openeie.sim.inputs import random_inputs
    return random_inputs(**{"n_in": 4, **kw})


def _from_bytes(raw):
    from openeie.compiler.images import program_from_bytes
    return program_from_bytes(raw)


def _export(cfg, tmp):
    from openeie.hw.export import export_verilog
    return export_verilog(cfg, tmp / "e.v")


def _save_images(tmp):
    from openeie.compiler.images import save_images
    (tmp / "mine").mkdir()
    (tmp / "mine" / "data.csv").write_text("1,2")
    return save_images(tiny_program(), tmp / "mine")


def _compress_bad(**kw):
    from torch import nn
    from openeie.compiler.compress import compress
    model = nn.Sequential(nn.Linear(4, 3))
    data = (np.zeros((4, 4), np.float32), np.zeros(4, np.int64))
    return compress(model, data, **kw)


def _from_float(w, cb):
    from openeie.compiler.network import CompressedLayer
    return CompressedLayer.from_float(w, cb)


def _run_board(**kw):
    import openeie
    return openeie.run_board(tiny_program(), np.zeros((1, 6), dtype=np.int64), fixed=True, **kw)


def _quantize_input(x):
    from openeie.sim import golden
    return golden.quantize_input(_cfg(), x)


def _energy_table(data):
    from openeie.sim.energy import EnergyTable
    return EnergyTable(data)


API_CASES = [
    ("run_board_no_port", lambda t: _run_board(board="icebreaker"), ("give port=...", "simulate=True")),
    ("run_board_port_and_simulate", lambda t: _run_board(board="icebreaker", port="/dev/null", simulate=True),
     ("one of them",)),
    ("run_board_unknown_board", lambda t: _run_board(board="nexys", port=str(t / "tty")),
     ("board 'nexys'", "expected one of icebreaker")),
    ("run_board_baud", lambda t: _run_board(board="icebreaker", port=str(t / "tty"), baud=10),
     ("baud=10", "300..10000000")),
    ("run_board_timeout_zero", lambda t: _run_board(board="icebreaker", port=str(t / "tty"), timeout_s=0),
     ("timeout_s", "0")),
    ("run_board_missing_port", lambda t: _run_board(board="icebreaker", port=str(t / "tty")),
     ("cannot open serial port", "tty", "plugged in")),
    ("lower_not_a_network", lambda t: _lower("net", _cfg()), ("a network is a list of CompressedLayer", "str")),
    ("lower_list_of_junk", lambda t: _lower([1, 2], _cfg()), ("network layer 0 is a int", "expected a CompressedLayer")),
    ("lower_cfg_not_config", lambda t: _lower(_net(), {"n_pe": 2}), ("needs an EngineConfig", "dict")),
    ("lower_assignments_text", lambda t: _lower(_net(), _cfg(), assignments="mod"), ("assignments must be a list",)),
    ("lower_assignment_floats", lambda t: _lower(_net(), _cfg(), assignments=[(np.zeros(2), np.zeros(2))]),
     ("row assignment must be integers", "float64")),
    ("layer_float_rows", lambda t: _layer(rows=np.array([0.7, 1.2])), ("row indices are float64", "expected integers")),
    ("layer_float_codes", lambda t: _layer(codes=np.array([1.0, 2.0])), ("weight codes are float64", "integers")),
    ("layer_relu_text", lambda t: _layer(relu="no"), ("relu = 'no'", "expected True/False or 0/1")),
    ("layer_relu_seven", lambda t: _layer(relu=7), ("relu = 7", "0/1")),
    ("layer_name_int", lambda t: _layer(name=5), ("layer name must be str", "int 5")),
    ("layer_shape_one", lambda t: _layer(shape=(2,)), ("shape (2,)", "two integers")),
    ("layer_shape_float", lambda t: _layer(shape=(2.0, 3)), ("shape (2.0, 3)", "two integers")),
    ("layer_codebook_text", lambda t: _layer(codebook=["0", "1", "2"]), ("codebook is <U1", "real numbers")),
    ("layer_bias_nan", lambda t: _layer(bias=[np.nan, 0]), ("bias[0] = nan", "finite")),
    ("network_of_one_layer", lambda t: __import__("openeie.compiler.network", fromlist=["x"]).CompressedNetwork(_layer()),
     ("a network is a list of CompressedLayer", "not CompressedLayer")),
    ("network_empty", lambda t: __import__("openeie.compiler.network", fromlist=["x"]).CompressedNetwork([]),
     ("network has no layers",)),
    ("golden_float_inputs", lambda t: _golden(tiny_program(), np.full(6, 0.7)),
     ("input activations are float64", "quantize_input")),
    ("golden_not_a_program", lambda t: _golden("program", np.zeros(6, int)), ("expected a compiled Program", "str")),
    ("golden_wrong_shape", lambda t: _golden(tiny_program(), np.zeros(5, int)), ("network takes 6 inputs", "(5,)")),
    ("golden_out_of_range", lambda t: _golden(tiny_program(), np.full(6, 1 << 20)),
     ("input activation 1048576", "-32768..32767")),
    ("cycle_batch", lambda t: _cycle(tiny_program(), np.zeros((2, 6), int)), ("one input vector at a time", "(2, 6)")),
    ("cycle_float", lambda t: _cycle(tiny_program(), np.zeros(6)), ("float64", "fixed-point integers")),
    ("config_float_field", lambda t: _cfg(n_pe=4.0), ("n_pe must be an int", "4.0")),
    ("config_bool_field", lambda t: _cfg(code_bits=True), ("code_bits must be an int", "True")),
    ("config_from_list", lambda t: __import__("openeie.config", fromlist=["x"]).EngineConfig.from_dict([1]),
     ("must be a JSON object", "list")),
    ("images_from_garbage", lambda t: _from_bytes(b"\0" * 100), ("bad magic",)),
    ("images_from_short", lambda t: _from_bytes(b"OPENEIE"), ("7 bytes", "64-byte header")),
    ("energy_stats_dict", lambda t: _energy({}, _cfg()), ("stats must be Stats", "dict")),
    ("energy_cfg_dict", lambda t: _energy(_stats(), {}), ("cfg must be EngineConfig", "dict")),
    ("energy_table_text", lambda t: _energy(_stats(), _cfg(), "45nm"), ("table must be EnergyTable", "str")),
    ("energy_table_zero_divisor", lambda t: _energy_table({"int_add": {"ref_bits": 0, "ref_pj": 1}}),
     ("int_add.ref_bits = 0", "> 0")),
    ("random_inputs_density_0", lambda t: _random_inputs(density=0.0), ("activation density=0", "> 0 and <= 1")),
    ("random_inputs_count_0", lambda t: _random_inputs(count=0), ("count=0", ">= 1")),
    ("random_inputs_float_n", lambda t: _random_inputs(n_in=4.5), ("n_in must be an integer", "4.5")),
    ("export_not_a_config", lambda t: _export("cfg", t), ("needs an EngineConfig", "str")),
    ("save_images_foreign_dir", lambda t: _save_images(t), ("holds no readable manifest.json",)),
    ("compress_code_bits_9", lambda t: _compress_bad(code_bits=9), ("code_bits=9 is out of range", "2..8")),
    ("compress_epochs_negative", lambda t: _compress_bad(prune_epochs=-1), ("prune_epochs=-1", ">= 0")),
    ("compress_lr_zero", lambda t: _compress_bad(lr=0.0), ("lr=0 is out of range", "> 0")),
    ("compress_init", lambda t: _compress_bad(init="kmeans++"), ("'kmeans++'", "expected one of")),
    ("from_float_nan", lambda t: _from_float([[np.nan]], [0.0, 1.0]), ("weight[0, 0] = nan", "finite")),
    ("from_float_far", lambda t: _from_float([[1e9]], [0.0, 1.0, 2.0]), ("1e+09 lies far outside", "(1 .. 2)")),
    ("quantize_input_nan", lambda t: _quantize_input([np.nan]), ("input activation nan", "not a finite number")),
    ("calibrate_method", lambda t: _quant().calibrate([1.0], "kl"), ("calibration 'kl'", "max, percentile, entropy")),
    ("calibrate_bits", lambda t: _quant().calibrate([1.0], "max", bits=1), ("bits=1", "2..16")),
    ("calibrate_nan", lambda t: _quant().calibrate([1.0, np.nan]), ("non-finite", "finite numbers")),
    ("calibrate_empty", lambda t: _quant().calibrate([]), ("0 values", "finite numbers")),
    ("calibrate_percentile", lambda t: _quant().calibrate([1.0], "percentile", percentile=0),
     ("percentile=0", "0 < p <= 100")),
    ("quantize_scale_zero", lambda t: _quant().quantize_symmetric([1.0], 0.0), ("scale 0.0", "> 0")),
    ("weight_scale_inf", lambda t: _quant().symmetric_scale([[np.inf]]), ("non-finite", "finite numbers")),
    ("int_reference_lengths", lambda t: _quant().int_reference([np.ones((2, 2))], [None], [True], np.ones((1, 2)),
                                                               [1.0], [1.0]),
     ("1 activation scales", "expected 1, 1, 1, 1 and 2")),
    ("int_reference_convs", lambda t: _quant().int_reference([np.ones((2, 2))], [None], [True], np.ones((1, 2)),
                                                             [1.0], [1.0, 1.0], convs=[None, None]),
     ("2 convolution specs", "1 layers")),
    ("fixed_multiplier_negative", lambda t: _quant().fixed_multiplier([-0.5], 16, 40), ("finite and >= 0",)),
    ("fixed_multiplier_too_big", lambda t: _quant().fixed_multiplier([70000.0], 16, 40),
     ("70000", "more than mult_bits=16", "at most 65535")),
    ("requant_lengths", lambda t: _rq_layer(multiplier=[1, 2]), ("2 requantisation multipliers", "expected 3")),
    ("requant_negative_multiplier", lambda t: _rq_layer(multiplier=[1, -2, 3]),
     ("with a negative one", "integers >= 0")),
    ("requant_float_multiplier", lambda t: _rq_layer(multiplier=[1.5, 2.0, 3.0]),
     ("requantisation multipliers are float64 of shape (3,)", "expected a 1-D integer array")),
    ("requant_2d_multiplier", lambda t: _rq_layer(multiplier=[[1, 2, 3]]),
     ("requantisation multipliers are int64 of shape (1, 3)", "1-D integer array")),
    ("requant_uint64_bias", lambda t: _rq_layer(bias=np.array([0, 1, 2 ** 64 - 1], dtype=np.uint64)),
     ("18446744073709551615 does not fit 64-bit signed integers",)),
    ("requant_float_bias_dropped", lambda t: _rq_layer(float_bias=True),
     ("a float bias and an integer requantisation without a bias", "expected the requantisation's bias too")),
    ("requant_conv_product_too_wide", lambda t: _cfg(acc_bits=40, mult_bits=21, max_image_side=4, max_kernel=3,
                                                     max_pool=2),
     ("acc_bits=40 + mult_bits=21 + 2 (pooling windows up to max_pool=2) is 63", "at most 62")),
    ("requant_shift_negative", lambda t: _rq_layer(shift=-1), ("requantisation shift -1", "integer >= 0")),
    ("requant_shift_bool", lambda t: _rq_layer(shift=True), ("requantisation shift True", "integer >= 0")),
    ("requant_bias_length", lambda t: _rq_layer(bias=[1]), ("1 accumulator-scale biases", "expected 3")),
    ("requant_not_a_requant", lambda t: _rq_layer(raw="m"), ("requant", "Requant")),
    ("requant_on_plain_engine", lambda t: _lower([_rq_layer()], _cfg()),
     ("'rq' carries an integer requantisation", "mult_bits > 0")),
    ("requant_multiplier_too_wide", lambda t: _lower([_rq_layer(multiplier=[1, 2, 1 << 12])], _cfg(mult_bits=12)),
     ("requantisation multiplier 4096", "expected 0..4095")),
    ("requant_bias_too_wide", lambda t: _lower([_rq_layer(bias=[0, 1 << 40, 0])], _cfg(mult_bits=8)),
     ("accumulator-scale bias 1099511627776", "expected -2147483648..2147483647")),
    ("requant_shift_too_large", lambda t: _lower([_rq_layer(shift=40)], _cfg(mult_bits=8)),
     ("requantisation shift 40", "at most 39")),
    ("integer_network_calibration", lambda t: _integer_network(calibration="kl"),
     ("calibration 'kl'", "max, percentile, entropy")),
    ("integer_network_mult_bits", lambda t: _integer_network(mult_bits=0), ("mult_bits=0", "2..24")),
    ("integer_network_calib_shape", lambda t: _integer_network(calib_x=np.ones((2, 5), np.float32)),
     ("calibration inputs of shape (2, 5) do not fit the model",)),
    ("integer_network_calib_empty", lambda t: _integer_network(calib_x=np.ones((0, 4), np.float32)),
     ("shape (0, 4)", "non-empty batch of finite samples")),
    ("integer_network_calib_strings", lambda t: _integer_network(calib_x=[["a"]]),
     ("calibration inputs list", "real numbers")),
    ("fixed_multiplier_bits_0", lambda t: _quant().fixed_multiplier([0.5], 0, 40), ("mult_bits=0", "1..256")),
    ("fixed_multiplier_strings", lambda t: _quant().fixed_multiplier(["x"], 16, 40), ("expected real numbers",)),
    ("fixed_multiplier_shift", lambda t: _quant().fixed_multiplier([0.5], 16, -1), ("max_shift=-1", "0..256")),
    ("int_reference_conv_type", lambda t: _quant().int_reference([np.ones((2, 4))], [None], [True], np.ones((1, 4)),
                                                                 [1.0], [1.0, 1.0], convs=["conv"]),
     ("convs[0] is str", "a ConvSpec or None")),
    ("int_reference_conv_size", lambda t: _int_reference_conv(), ("is given 5 inputs", "2 x 2 inputs")),
    ("int_reference_fc_size", lambda t: _quant().int_reference([np.ones((2, 4))], [None], [True], np.ones((1, 3)),
                                                               [1.0], [1.0, 1.0]),
     ("layer 0 takes 4 inputs, given 3",)),
]


def _rq_layer(multiplier=(1, 2, 3), shift=4, bias=None, raw=None, float_bias=False):
    from openeie.compiler.network import CompressedLayer, Requant
    rq = raw if raw is not None else Requant(np.asarray(multiplier), shift, None if bias is None else np.asarray(bias))
    return CompressedLayer.from_dense_codes(np.ones((3, 4), dtype=np.int64), [0.0, 0.5], name="rq", requant=rq,
                                            bias=np.ones(3) if float_bias else None)


def _integer_network(calib_x=None, **kw):
    from torch import nn
    from openeie.compiler.integer import integer_network
    calib = np.ones((2, 4), dtype=np.float32) if calib_x is None else calib_x
    return integer_network(nn.Sequential(nn.Linear(4, 3)), calib, **kw)


def _int_reference_conv():
    from openeie.compiler.network import ConvSpec
    spec = ConvSpec(1, 2, 2, 1, 1, 0)
    return _quant().int_reference([np.ones((3, 1))], [None], [True], np.ones((1, 5)), [1.0], [1.0, 1.0], convs=[spec])


def _quant():
    import openeie.compiler.quantize as q
    return q


# ---- the tests ---------------------------------------------------------------------------------------------------

def test_case_names_are_unique():
    """A repeated name would hide a case behind another in reports (pytest only appends a counter)."""
    for ids in ([c.id for c in CASES], [c[0] for c in API_CASES]):
        assert sorted({i for i in ids if ids.count(i) > 1}) == []


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_command_refuses_bad_input(bad, tmp_path):
    argv = bad.build(tmp_path)
    before = snapshot(tmp_path)
    rc, out, err = run_cli(argv, tmp_path)
    after = snapshot(tmp_path)
    assert "Traceback" not in err + out
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, f"exit status {rc}; stderr: {err}"
    if bad.option:
        assert lines and lines[-1].startswith("usage:") is False and ": error: argument" in lines[-1] or \
            ": error:" in lines[-1], err
    else:
        assert len(lines) == 1 and lines[0].startswith("openeie: error: "), err
    message = lines[-1]
    for part in bad.expect:
        assert part in message, f"{part!r} not in {message!r}"
    assert before == after, "the command wrote or removed something: " + ", ".join(
        sorted(set(before) ^ set(after)) or [k for k in before if before[k] != after[k]])
    assert not (tmp_path / MARKER).exists()


@pytest.mark.parametrize("name, call, expect", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_refuses_bad_input(name, call, expect, tmp_path):
    before = snapshot(tmp_path)
    with pytest.raises(OpenEIEError) as info:
        call(tmp_path)
    message = str(info.value)
    for part in expect:
        assert part in message, f"{part!r} not in {message!r}"
    if name != "save_images_foreign_dir":
        assert snapshot(tmp_path) == before
    else:
        assert (tmp_path / "mine" / "data.csv").read_text() == "1,2"


def test_battery_size():
    assert len(CASES) + len(API_CASES) >= 150
