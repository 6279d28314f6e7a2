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


# ---- configuration files as overlays (resolve_overlay) ----------------------------------------------------------

from dataclasses import asdict  # noqa: E402

from openeie.config import DERIVED_FIELDS, resolve_overlay  # noqa: E402
from openeie.fpga.presets import PRESETS  # noqa: E402


def test_overlay_replaces_given_fields_and_keeps_the_rest():
    base = PRESETS["up5k"]
    over = resolve_overlay(base, {"n_pe": 2, "fifo_depth": 8})
    assert over.config == base.replace(n_pe=2, fifo_depth=8)
    assert over.given == ("n_pe", "fifo_depth") and over.derived == {} and over.checked == ()
    assert over.source("n_pe", "preset") == "file" and over.source("act_depth", "preset") == "preset"
    assert resolve_overlay(base, {}).config == base


def test_a_full_file_means_what_it_says_over_any_base(tmp_path):
    PRESETS["85k"].save(tmp_path / "c.json")
    for base in (EngineConfig(), PRESETS["up5k"]):
        assert EngineConfig.load(tmp_path / "c.json", base) == PRESETS["85k"]


@pytest.mark.parametrize("base, data, entries", [
    (EngineConfig(), {"rel_index_bits": 5}, 7),                       # 64-bit word: 7 entries of 9 bits
    (EngineConfig(), {"code_bits": 8, "rel_index_bits": 8}, 4),        # 64-bit word: 4 entries of 16 bits
    (PRESETS["up5k"], {"code_bits": 2, "rel_index_bits": 2}, 4),      # the UP5K's 16-bit SPRAM word kept
    (PRESETS["up5k"], {"code_bits": 8, "rel_index_bits": 8}, 1),
    (PRESETS["up5k"], {"spmat_word_bits": 32}, 4),                      # word width given: 4 entries of 8 bits
    (EngineConfig(), {"rel_index_bits": 5, "entries_per_word": 3}, 3),  # given: used as is
])
def test_entries_per_word_is_derived_from_word_and_entry_width(base, data, entries):
    over = resolve_overlay(base, data)
    assert over.config.entries_per_word == entries
    assert ("entries_per_word" in over.derived) == ("entries_per_word" not in data)
    assert over.source("entries_per_word") == ("file" if "entries_per_word" in data else "derived")


def test_other_derivations():
    assert resolve_overlay(EngineConfig(), {"ptr_bank_depth": 1024}).config.ptr_depth == 2048
    conv = EngineConfig(n_pe=4, code_bits=8, rel_index_bits=5, entries_per_word=4, max_layers=4, max_image_side=8,
                        max_kernel=5, max_pool=2)
    fc = resolve_overlay(conv, {"max_image_side": 1})
    assert (fc.config.max_kernel, fc.config.max_pool) == (1, 1) and fc.derived == {"max_kernel": 1, "max_pool": 1}
    with pytest.raises(ConfigError, match=r"cfg: EngineConfig\.max_kernel=5 and max_pool=2 must not exceed "
                                          r"max_image_side=4"):
        resolve_overlay(conv, {"max_image_side": 4}, "cfg")


def test_derived_quantities_given_are_checked():
    cfg = PRESETS["up5k"]
    full = {**asdict(cfg), **{k: getattr(cfg, k) for k in DERIVED_FIELDS}}
    over = resolve_overlay(EngineConfig(), full)
    assert over.config == cfg and over.checked == DERIVED_FIELDS
    for name in DERIVED_FIELDS:
        with pytest.raises(ConfigError, match=rf"^f: {name}={getattr(cfg, name) + 2} does not match the other "
                                              rf"fields: expected {getattr(cfg, name)} \("):
            resolve_overlay(EngineConfig(), {**full, name: getattr(cfg, name) + 2}, "f")


def test_every_int_property_is_a_derived_field():
    props = [n for n, v in vars(EngineConfig).items() if isinstance(v, property)]
    ints = {n for n in props if type(getattr(EngineConfig(), n)) is int}
    assert ints == set(DERIVED_FIELDS)


@pytest.mark.parametrize("data, expect", [
    ({"n_pes": 4}, r"unknown key\(s\) \['n_pes'\] \(did you mean 'n_pe'\?\): expected some of the fields"),
    ({"bogus": 1}, r"unknown key\(s\) \['bogus'\]: expected some of the fields"),
    ({"n_pe": "4"}, r"EngineConfig\.n_pe must be an int in 1\.\.256, not '4'"),
    ({"weight_frac_bits": None}, r"EngineConfig\.weight_frac_bits must be an int, not None"),
    ({"spmat_word_bits": 0}, r"spmat_word_bits=0 is out of range: expected 1\.\.64"),
    ({"spmat_word_bits": 60}, r"spmat_word_bits=60 is not a whole number of 8-bit entries \(code_bits=4 \+ "
                              r"rel_index_bits=4\): expected a multiple of 8 \(e\.g\. 56\)"),
    ({"weight_bits": 8}, r"weight_frac_bits=12 is out of range: expected 0\.\.7 \(weight_bits=8\)"),
    ({"rel_index_bits": 5, "entries_per_word": 8}, r"entries_per_word=8 entries of 9 bits is 72 bits"),
    ([1], r"must be a JSON object, not list"),
])
def test_overlay_errors_name_field_value_and_expectation(data, expect):
    with pytest.raises(ConfigError, match=r"^cfg.json"):
        resolve_overlay(EngineConfig(), data, "cfg.json")
    with pytest.raises(ConfigError, match=expect):
        resolve_overlay(EngineConfig(), data, "cfg.json")


def test_derived_values_are_named_when_the_result_is_refused():
    with pytest.raises(ConfigError, match=r"layer descriptor is \d+ bits.*\(derived: ptr_depth=16777216\)$"):
        resolve_overlay(EngineConfig(), {"ptr_bank_depth": 1 << 23, "act_depth": 1 << 20, "bias_depth": 1 << 24})
    with pytest.raises(ConfigError, match=r"ptr_depth=7 must be even \(two pointer banks\)$"):
        resolve_overlay(EngineConfig(), {"ptr_depth": 7})
