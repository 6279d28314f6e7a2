"""``openeie config show``, ``--config`` as an overlay of every command's default or preset, and the presets' sizes.
"""

import json
import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pytest

from openeie.cli import main
from openeie.commands.arguments import load_config
from openeie.commands.config import energy_srams
from openeie.config import DERIVED_FIELDS, ConfigError, EngineConfig
from openeie.fpga.presets import BOARD_PRESETS, PRESETS, board_preset


def run(capsys, *argv):
    assert main([str(a) for a in argv]) == 0
    return capsys.readouterr().out


def show_json(capsys, *argv):
    return json.loads(run(capsys, "config", "show", "--json", *argv))


def test_show_without_preset_lists_presets_and_the_defaults(capsys):
    out = run(capsys, "config", "show")
    for name in [*BOARD_PRESETS, *PRESETS]:
        assert f"| {name} | " in out
    assert "# Effective configuration: the engine defaults" in out
    assert "| n_pe | 64 | default | 1..256 |" in out and "| spmat_word_bits | 64 |" in out
    assert "| spmat_sram | 131072 | 64 | 16384 |" in out       # EIE: 128 KB of 64-bit words per PE


def test_show_preset_json(capsys):
    r = show_json(capsys, "--preset", "icebreaker")
    cfg = board_preset("icebreaker")
    assert r["format"] == "openeie-config-show" and r["preset"] == "icebreaker" and r["preset_kind"] == "board"
    assert r["config"] == asdict(cfg) and set(r["sources"].values()) == {"preset"}
    assert r["derived"] == {**{k: getattr(cfg, k) for k in DERIVED_FIELDS}, "conv": False, "requant": False}
    assert r["base"] == "the icebreaker / up5k preset"
    assert set(r["presets"]) == {*BOARD_PRESETS, *PRESETS}
    # The UP5K preset's sparse matrix is one SPRAM per PE: 16384 x 16 bits = 32 KiB.
    assert r["energy_srams"]["spmat_sram"] == {"size_bytes": 32768, "width_bits": 16}
    assert "# Presets" not in run(capsys, "config", "show", "--preset", "icebreaker")


def test_energy_srams_are_what_the_energy_model_prices():
    from openeie.sim.energy import load_table, per_access_pj
    table = load_table()
    for cfg in (EngineConfig(), PRESETS["up5k"], EngineConfig(mult_bits=8, acc_bits=40)):
        srams = energy_srams(cfg)
        priced = per_access_pj(cfg, table)
        assert set(srams) == {"pointer_sram", "spmat_sram", "codebook", "activation_sram", "accumulators",
                              "bias_sram", "queue"}
        for name, m in srams.items():
            assert table.sram_pj(m["size_bytes"], m["width_bits"]) == priced[name]
    assert energy_srams(EngineConfig())["pointer_sram"] == {"size_bytes": 16384 * 18 / 8, "width_bits": 18}


def test_show_overlay_sources_and_saved_file(capsys, tmp_path):
    (tmp_path / "mine.json").write_text('{"n_pe": 2, "rel_index_bits": 5}')
    r = show_json(capsys, "--preset", "up5k", "--config", tmp_path / "mine.json", "-o", tmp_path / "saved.json")
    expected = PRESETS["up5k"].replace(n_pe=2, rel_index_bits=5, entries_per_word=1)   # 16-bit word, 9-bit entries
    assert r["config"] == asdict(expected)
    assert {k for k, v in r["sources"].items() if v != "preset"} == {"n_pe", "rel_index_bits", "entries_per_word"}
    assert r["sources"]["entries_per_word"] == "derived" and r["sources"]["n_pe"] == "file"
    assert EngineConfig.load(tmp_path / "saved.json") == expected
    # The JSON's configuration and derived quantities, given back as a file, are accepted as they are.
    (tmp_path / "back.json").write_text(json.dumps({**r["config"], **{k: r["derived"][k] for k in DERIVED_FIELDS}}))
    assert EngineConfig.load(tmp_path / "back.json", PRESETS["85k"]) == expected
    run(capsys, "config", "show", "--json", tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["config"] == asdict(EngineConfig())


def test_load_config_overlays_the_commands_default(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"n_pe": 2}')
    assert load_config(path, board_preset("icebreaker")) == board_preset("icebreaker").replace(n_pe=2)
    assert load_config(path) == EngineConfig(n_pe=2)
    assert load_config(None, PRESETS["85k"]) is PRESETS["85k"]
    path.write_text('{"act_bits": 16}')
    with pytest.raises(ConfigError, match=r"'.*c\.json' \(over the icebreaker / up5k preset\): "
                                          r"EngineConfig\.acc_bits=16 is too narrow"):
        load_config(path, board_preset("icebreaker"))
    with pytest.raises(ConfigError, match=r"\(over the command's default configuration\)"):
        load_config(path, EngineConfig(n_pe=3, weight_bits=8, weight_frac_bits=6, act_bits=8, act_frac_bits=4,
                                       acc_bits=16))


def test_compile_reads_a_partial_file_over_the_defaults(capsys, tmp_path):
    """A 9-bit entry over the 64-bit default word: 7 entries per word (before overlays: 72 bits, refused)."""
    from openeie.compiler.benchmarks import random_layer
    from openeie.compiler.images import load_program
    from openeie.compiler.netfile import save_network
    from openeie.compiler.network import CompressedNetwork
    save_network(CompressedNetwork([random_layer(40, 20, 0.3, 4)]), tmp_path / "n.npz")
    (tmp_path / "c.json").write_text('{"n_pe": 2, "rel_index_bits": 5, "spmat_depth_words": 64, "ptr_depth": 64, '
                                     '"act_depth": 32, "bias_depth": 32, "max_layers": 1}')
    run(capsys, "compile", tmp_path / "n.npz", "-o", tmp_path / "img", "--config", tmp_path / "c.json")
    cfg = load_program(tmp_path / "img").config
    assert (cfg.n_pe, cfg.rel_index_bits, cfg.entries_per_word, cfg.spmat_word_bits) == (2, 5, 7, 63)
    assert cfg.fifo_depth == EngineConfig().fifo_depth


def test_icebreaker_preset_holds_the_digits_mlp():
    """The layer table holds the bundled MLP's three layers and the activation memories its 300-wide layer (75
    rows per PE); a random network of its shape and [DC]'s densities lowers onto the preset."""
    from openeie.compiler.benchmarks import random_layer
    from openeie.compiler.digits import DIGITS_RECIPE, DIGITS_SHAPE
    from openeie.compiler.lower import lower
    from openeie.compiler.network import CompressedNetwork
    from openeie.sim import cycle, golden
    cfg = board_preset("icebreaker")
    dens = list(DIGITS_RECIPE["density"].values())
    layers = [random_layer(a, b, d, 4, seed=i, name=f"fc{i + 1}", relu=i < 2)
              for i, (a, b, d) in enumerate(zip(DIGITS_SHAPE, DIGITS_SHAPE[1:], dens))]
    program = lower(CompressedNetwork(layers), cfg)
    assert len(program.layers) == 3
    x = golden.quantize_input(cfg, np.random.default_rng(0).random((2, 64)))
    outs, stats, _ = cycle.run(program, x[0])
    want = golden.run(program, x[0])
    assert len(outs) == len(want) == 3 and all(np.array_equal(a, b) for a, b in zip(outs, want))
    assert stats.cycles > 0


def test_config_show_needs_no_torch(tmp_path):
    code = ("import sys; sys.modules['torch'] = None\n"
            "from openeie.cli import main\n"
            "sys.exit(main(['config', 'show', '--preset', '85k', '--json']))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["config"]["n_pe"] == 32
