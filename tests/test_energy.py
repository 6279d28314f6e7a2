import json

import numpy as np
import pytest

from openeie.cli import main
from openeie.config import EngineConfig
from openeie.sim.energy import COMPONENTS, energy, load_table, scenarios
from openeie.stats import COUNTERS, Stats


def stats_with(**counts):
    c = dict.fromkeys(COUNTERS, 0)
    c.update(counts)
    return Stats(counters=c, pe_busy=np.zeros(1), layer_cycles=[c["cycles"]])


def test_table_laws_match_sources():
    t = load_table()
    assert t.add_pj(32) == pytest.approx(0.1) and t.add_pj(16) == pytest.approx(0.05)
    assert t.mult_pj(32, 32) == pytest.approx(3.1) and t.mult_pj(8, 8) == pytest.approx(0.194, abs=0.01)
    assert t.sram_pj(8192, 64) == pytest.approx(10.0)
    assert t.sram_pj(32768, 64) == pytest.approx(20.0)
    assert t.sram_pj(1 << 20, 64) == pytest.approx(100.0, rel=0.15)
    assert t.sram_pj(8192, 32) == pytest.approx(5.0)                  # EIE Table I: 32-bit SRAM read
    assert t.dram_pj(32) == pytest.approx(640.0)                      # EIE Table I: 32-bit DRAM read


def test_energy_prices_each_counter():
    cfg = EngineConfig(n_pe=4, spmat_depth_words=1024)               # 8 KB sparse-matrix SRAM, 64-bit words
    t = load_table()
    e = energy(stats_with(spmat_reads=3), cfg, t)
    assert e["spmat_sram"] == pytest.approx(30.0) and sum(e.values()) == pytest.approx(30.0)
    e = energy(stats_with(macs=10), cfg, t)
    assert e["mac"] == pytest.approx(10 * (t.mult_pj(16, 16) + t.add_pj(32)))
    e = energy(stats_with(spmat_reads=3, ptr_reads=2), cfg, t, weights_in_dram=True)
    assert e["dram"] == pytest.approx(20.0 * (3 * 64 + 2 * cfg.ptr_bits)) and e["spmat_sram"] == 0
    assert set(e) == set(COMPONENTS)


def test_user_table_and_bad_table(tmp_path):
    text = load_table().data
    text = dict(text, sram=dict(text["sram"], ref_pj=5.0))
    import yaml
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(text))
    cfg = EngineConfig(spmat_depth_words=1024)
    assert energy(stats_with(spmat_reads=1), cfg, load_table(tmp_path / "t.yaml"))["spmat_sram"] == pytest.approx(5.0)
    (tmp_path / "bad.yaml").write_text("int_add: {ref_bits: 32}\n")
    with pytest.raises(ValueError, match="int_add.ref_pj = None: expected a finite number >= 0"):
        load_table(tmp_path / "bad.yaml")


def test_scenarios_ordering():
    cfg = EngineConfig(n_pe=4, spmat_depth_words=1024)
    s = stats_with(spmat_reads=100, ptr_reads=80, macs=500, codebook_reads=520, acc_reads=500, acc_writes=500)
    sc = scenarios(s, cfg, [(10_000, 10_000)])
    assert sc["dense_fp32_dram_pj"] > sc["compressed_dram_pj"] > sc["compressed_sram_pj"] > 0


def test_energy_cli_on_eie_layer(tmp_path):
    assert main(["energy", "--bench", "eie", "--layer", "NT-We", "--json", str(tmp_path / "e.json")]) == 0
    r = json.loads((tmp_path / "e.json").read_text())
    assert set(r) >= {"total_pj", "per_inference_uj", "breakdown_pj", "scenarios"}
    assert r["total_pj"] == pytest.approx(sum(r["breakdown_pj"].values()))
    assert r["per_inference_uj"] == pytest.approx(r["total_pj"] / 1e6)
    assert r["scenarios"]["dense_over_sram"] > 10


def test_energy_cli_errors(capsys):
    assert main(["energy", "--bench", "eie", "--layer", "Alex-9"]) == 2
    assert "unknown EIE layer 'Alex-9'" in capsys.readouterr().err


def test_energy_bench_honours_the_whole_config(tmp_path):
    """An 8-bit / 2-bit-code engine prices differently from EIE's formats; memories too small are grown, said so."""
    runs = {}
    for name, cfg in (("default", EngineConfig()), ("narrow", EngineConfig(code_bits=2, weight_bits=8,
                                                                           weight_frac_bits=6, act_bits=8,
                                                                           act_frac_bits=4, acc_bits=16))):
        cfg.save(tmp_path / f"{name}.json")
        assert main(["energy", "--bench", "eie", "--layer", "NT-We", "--config", str(tmp_path / f"{name}.json"),
                     "--json", str(tmp_path / f"{name}.out.json")]) == 0
        runs[name] = json.loads((tmp_path / f"{name}.out.json").read_text())
    assert runs["narrow"]["total_pj"] < 0.8 * runs["default"]["total_pj"]
    EngineConfig(act_depth=4, bias_depth=4).save(tmp_path / "small.json")
    assert main(["energy", "--bench", "eie", "--layer", "NT-We", "--config", str(tmp_path / "small.json"),
                 "--json", str(tmp_path / "small.out.json")]) == 0
    grown = json.loads((tmp_path / "small.out.json").read_text())["grown_memories"]["NT-We"]
    assert grown == {"act_depth": 64, "bias_depth": 10}     # 4096 inputs / 64 PEs, 600 outputs / 64 PEs


def test_energy_of_a_network_uses_the_stated_input(tmp_path, capsys):
    from openeie.compiler.netfile import save_network
    from openeie.compiler.network import CompressedNetwork
    from openeie.compiler.benchmarks import random_layer
    save_network(CompressedNetwork([random_layer(200, 64, 0.2, 4, seed=1)]), tmp_path / "n.npz")
    assert main(["energy", str(tmp_path / "n.npz"), "--json", str(tmp_path / "d.json")]) == 0
    default = json.loads((tmp_path / "d.json").read_text())
    assert "35.0 % non-zero" in default["input"] and "35.0 % non-zero" in capsys.readouterr().out
    np.save(tmp_path / "x.npy", np.full(200, 0.5))
    assert main(["energy", str(tmp_path / "n.npz"), "--input", str(tmp_path / "x.npy"), "--json",
                 str(tmp_path / "x.json")]) == 0
    dense = json.loads((tmp_path / "x.json").read_text())
    assert "100.0 % non-zero" in dense["input"]
    assert dense["layers"][0]["cycles"] > 1.8 * default["layers"][0]["cycles"]   # zeros are skipped
