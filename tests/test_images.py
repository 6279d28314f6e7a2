import json
import struct

import numpy as np
import pytest

from openeie.compiler.images import (ImageError, container_bytes, load_program, program_from_bytes, save_images)
from openeie.compiler.lower import decode, lower
from openeie.compiler.network import CompressedLayer, CompressedNetwork
from openeie.config import EngineConfig
from openeie.errors import OutputError
from openeie.layout import Mem, mem_word_bits


@pytest.fixture
def program():
    cfg = EngineConfig(n_pe=4, spmat_depth_words=256, ptr_depth=256, act_depth=32, bias_depth=64, max_layers=4)
    rng = np.random.default_rng(0)
    m1 = rng.integers(1, 16, (20, 9)) * (rng.random((20, 9)) < 0.3)
    m2 = rng.integers(1, 16, (6, 20)) * (rng.random((6, 20)) < 0.3)
    cb = np.concatenate([[0], np.linspace(-1, 1, 15)])
    net = CompressedNetwork([CompressedLayer.from_dense_codes(m1, cb, bias=rng.normal(size=20), relu=True, name="a"),
                             CompressedLayer.from_dense_codes(m2, cb, name="b")])
    return lower(net, cfg)


def test_container_round_trip(program):
    raw = container_bytes(program)
    back = program_from_bytes(raw, program.config)
    for mem in Mem:
        assert np.array_equal(back.mems[mem], program.mems[mem])
        assert np.array_equal(back.used[mem], program.used[mem])
    assert [l.name for l in back.layers] == ["a", "b"]
    for a, b in zip(decode(back), decode(program)):
        assert np.array_equal(a, b)
    assert container_bytes(back) == raw


def test_flipped_byte_is_refused(program):
    raw = bytearray(container_bytes(program))
    for pos in (100, len(raw) // 2, len(raw) - 1):
        bad = bytearray(raw)
        bad[pos] ^= 0x40
        with pytest.raises(ImageError, match="CRC-32 mismatch"):
            program_from_bytes(bytes(bad))


def test_truncated_file_is_refused(program):
    raw = container_bytes(program)
    with pytest.raises(ImageError, match="truncated"):
        program_from_bytes(raw[:-10])
    with pytest.raises(ImageError, match="shorter than the 64-byte header"):
        program_from_bytes(raw[:30])


def test_wrong_magic_and_version_are_refused(program):
    raw = bytearray(container_bytes(program))
    bad = bytearray(raw)
    bad[0:8] = b"NOTEIE\0\0"
    with pytest.raises(ImageError, match="bad magic"):
        program_from_bytes(bytes(bad))
    bad = bytearray(raw)
    struct.pack_into("<H", bad, 8, 99)
    with pytest.raises(ImageError, match="format version 99: this OpenEIE reads version 1"):
        program_from_bytes(bytes(bad))


def test_wrong_config_is_refused(program):
    raw = container_bytes(program)
    other = program.config.replace(n_pe=8)
    with pytest.raises(ImageError, match="n_pe=4 in the images vs 8 expected"):
        program_from_bytes(raw, other)
    other = program.config.replace(fifo_depth=3)
    with pytest.raises(ImageError, match="fifo_depth=8 in the images vs 3 expected"):
        program_from_bytes(raw, other)


def test_save_images_writes_hex_manifest_and_container(program, tmp_path):
    out = save_images(program, tmp_path / "img")
    man = json.loads((out / "manifest.json").read_text())
    assert man["format_version"] == 1 and man["config"]["n_pe"] == 4
    assert [l["nnz"] for l in man["layers"]] == [program.layers[0].nnz, program.layers[1].nnz]
    assert man["storage"]["total"]["compression_ratio"] > 1
    cfg = program.config
    for pe in range(cfg.n_pe):
        lines = (out / "hex" / f"pe{pe:03d}_spmat.hex").read_text().split("\n")
        words = [int(x, 16) for x in lines if x and not x.startswith("//")]
        assert words == program.mems[Mem.SPMAT][pe, :int(program.used[Mem.SPMAT][pe])].tolist()
        assert all(len(x) == mem_word_bits(cfg, Mem.SPMAT) // 4 for x in lines if x and not x.startswith("//"))
    back = load_program(out, cfg)
    assert np.array_equal(back.mems[Mem.PTR_ODD], program.mems[Mem.PTR_ODD])
    # overwrite our own output; refuse a foreign non-empty directory; leave nothing half-written
    save_images(program, out)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    with pytest.raises(OutputError, match="not empty and holds no readable manifest.json of OpenEIE's"):
        save_images(program, foreign)
    assert (foreign / "thesis.tex").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign", "img"]


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ImageError, match="nothing.oeie' does not exist"):
        load_program(tmp_path / "nothing.oeie")
