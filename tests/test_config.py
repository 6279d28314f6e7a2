import json

import pytest

from openeie.config import ConfigError, EngineConfig
from openeie.layout import layer_desc_layout, mem_word_bits, Mem


def test_defaults_are_eie():
    c = EngineConfig()
    assert (c.n_pe, c.fifo_depth, c.code_bits, c.rel_index_bits) == (64, 8, 4, 4)
    assert (c.weight_bits, c.act_bits, c.entries_per_word, c.spmat_word_bits) == (16, 16, 8, 64)
    assert c.codebook_size == 16 and c.max_rel_index == 15


def test_json_round_trip(tmp_path):
    c = EngineConfig(n_pe=8, code_bits=2, rel_index_bits=7, entries_per_word=4, acc_bits=40)
    assert EngineConfig.from_json(c.to_json()) == c
    c.save(tmp_path / "c.json")
    assert EngineConfig.load(tmp_path / "c.json") == c
    assert c.hash() == EngineConfig.from_dict(json.loads(c.to_json())).hash()
    assert c.hash() != c.replace(n_pe=4).hash()


def test_frozen():
    with pytest.raises(Exception):
        EngineConfig().n_pe = 3


@pytest.mark.parametrize("field,value,expect", [
    ("n_pe", 0, "n_pe=0 is out of range: expected 1..256"),
    ("code_bits", 1, "code_bits=1 is out of range: expected 2..8"),
    ("code_bits", 9, "code_bits=9 is out of range: expected 2..8"),
    ("rel_index_bits", 9, "rel_index_bits=9 is out of range: expected 2..8"),
    ("weight_frac_bits", 16, "weight_frac_bits=16 is out of range: expected 0..15"),
    ("act_frac_bits", -1, "act_frac_bits=-1 is out of range: expected 0..15"),
    ("acc_bits", 31, "acc_bits=31 is too narrow"),
    ("entries_per_word", 9, "is 72 bits: expected at most 64"),
    ("ptr_depth", 7, "must be even"),
    ("fifo_depth", 0, "fifo_depth=0 is out of range"),
    ("n_pe", True, "must be an int"),
    ("n_pe", 2.0, "must be an int"),
])
def test_invalid_configs_are_refused_with_value_and_range(field, value, expect):
    with pytest.raises(ConfigError, match=expect.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        EngineConfig(**{field: value})


def test_unknown_key_and_bad_json():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['n_pes'\]"):
        EngineConfig.from_dict({"n_pes": 4})
    with pytest.raises(ConfigError, match="not valid JSON"):
        EngineConfig.from_json("{n_pe: 4")
    with pytest.raises(ConfigError, match="must be a JSON object"):
        EngineConfig.from_json("[1, 2]")


def test_layer_descriptor_width_is_checked():
    with pytest.raises(ConfigError, match="layer descriptor is"):
        EngineConfig(act_depth=1 << 20, ptr_depth=1 << 24, bias_depth=1 << 24)


def test_derived_widths_follow_config():
    c = EngineConfig(code_bits=3, rel_index_bits=5, entries_per_word=7, spmat_depth_words=100)
    assert c.entry_bits == 8 and c.spmat_word_bits == 56
    assert c.ptr_bits == (700).bit_length()
    assert mem_word_bits(c, Mem.SPMAT) == 56 and mem_word_bits(c, Mem.PTR_ODD) == c.ptr_bits
    assert mem_word_bits(c, Mem.LAYERS) == layer_desc_layout(c).size
