"""ASIC estimate: the SRAM fit against its CACTI anchors, memory area tracking the depths, gate counts per block,
power = energies x counts / time checked by hand, and bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from openeie.config import EngineConfig
from openeie.sim.area import AreaTableError, load_area_table, power

SMALL = dict(spmat_depth_words=256, ptr_depth=64, act_depth=16, bias_depth=32, max_layers=2)


@pytest.fixture(scope="module")
def table():
    return load_area_table()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("gates")


# ---- SRAM model -------------------------------------------------------------------------------------------------

def test_sram_fit_matches_its_cacti_anchors(table):
    tol = table.data["sram"]["fit_tolerance"]
    for bits, width, area, read, write, leak, _ in table.data["sram"]["anchors"]:
        assert abs(table.sram_area_mm2(bits, width) / area - 1) <= tol["area_mm2"] + 1e-3, (bits, width)
        assert abs(table.sram_read_pj(bits, width) / read - 1) <= tol["read_pj"] + 1e-3, (bits, width)
        assert abs(table.sram_write_pj(bits, width) / write - 1) <= tol["write_pj"] + 1e-3, (bits, width)
        assert abs(table.sram_leak_mw(bits) / leak - 1) <= tol["leak_mw"] + 1e-3, (bits, width)
    # the fit is close on the whole: rms area error under 10 %
    errs = [table.sram_area_mm2(b, w) / a - 1 for b, w, a, *_ in table.data["sram"]["anchors"]]
    assert np.sqrt(np.mean(np.square(errs))) < 0.10


def test_sram_fit_is_monotone_in_depth_and_width(table):
    depths = [2 ** k for k in range(6, 22)]
    for width in (8, 16, 32, 64, 128):
        for f in (table.sram_area_mm2, table.sram_read_pj, table.sram_write_pj):
            values = [f(d * width, width) for d in depths]
            assert all(b > a for a, b in zip(values, values[1:])), (f.__name__, width)
    # within each kind (SRAM macros at or above register_file.max_bits, register files below); the register
    # file law is larger per bit than the smallest macro, a step at the threshold the table states
    for depth in (128, 1024, 16384):
        areas = [table.memory(depth, w).area_mm2 for w in (16, 32, 64, 128, 256, 1024)]
        assert all(b > a for a, b in zip(areas, areas[1:])), depth
    rf = [table.memory(8, w).area_mm2 for w in (2, 4, 8, 16, 32, 64, 128)]
    assert all(b > a for a, b in zip(rf, rf[1:]))


def test_memory_area_tracks_configured_depth(table):
    # register file below the threshold, SRAM above; both grow with depth
    rf = [table.memory(d, 16) for d in (8, 16, 32, 64)]
    assert [m.kind for m in rf] == ["register_file"] * 4
    assert all(b.area_mm2 > a.area_mm2 for a, b in zip(rf, rf[1:]))
    sram = table.memory(16384, 64)
    assert sram.kind == "sram" and sram.arrays == 1
    assert table.memory(32768, 64).area_mm2 > 1.9 * sram.area_mm2
    assert sram.area_mm2 == pytest.approx(table.sram_area_mm2(16384 * 64, 64))      # EIE's 128 KB array
    wide = table.memory(392, 1024)                      # the 64-PE activation bank: 8 arrays of 128 bits
    assert wide.arrays == 8 and wide.area_mm2 == pytest.approx(8 * table.sram_area_mm2(392 * 128, 128))


def test_register_file_law_by_hand(table):
    cells = table.data["logic"]["cell_area_um2"]
    util = table.data["logic"]["utilisation"]
    m = table.memory(8, 32, read_ports=1)
    um2 = 8 * 32 * (cells["$_DFF_P_"] + cells["$_MUX_"]) + 32 * 7 * cells["$_MUX_"]
    assert m.area_mm2 == pytest.approx(um2 / util * 1e-6)


# ---- gate counts ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gates2(cache):
    from openeie.fpga.gates import block_gates
    return block_gates(EngineConfig(n_pe=2, **SMALL), cache)


def test_gate_counts_are_positive_and_differ_between_blocks(gates2):
    from openeie.fpga.gates import BLOCKS
    blocks = gates2["blocks"]
    assert set(blocks) == set(BLOCKS)
    counts = {name: b["gate_count"] for name, b in blocks.items()}
    assert all(n > 0 for n in counts.values()), counts
    assert len(set(counts.values())) >= len(counts) - 2, counts          # not one number copied around
    assert counts["arith"] > counts["queue"]                              # a multiplier beats a FIFO's pointers
    # memories are reported, not counted as logic: the sparse-matrix SRAM's 16 kbit are not 16 k flip-flops
    spmat = blocks["spmat"]
    assert [(m["depth"], m["width_bits"]) for m in spmat["memories"]] == [(256, 64)]
    assert spmat["flip_flops"] < 256


def test_gate_counts_grow_with_pes_and_are_cached(gates2, cache):
    from openeie.fpga.gates import block_gates
    g4 = block_gates(EngineConfig(n_pe=4, **SMALL), cache)
    assert not g4["cached"]
    total = lambda g: sum(b["gate_count"] * (g["n_pe"] if b["per_pe"] else 1) for b in g["blocks"].values())
    assert total(g4) > total(gates2)
    assert g4["blocks"]["broadcaster"]["gate_count"] > gates2["blocks"]["broadcaster"]["gate_count"]
    again = block_gates(EngineConfig(n_pe=4, **SMALL), cache)
    assert again["cached"] and again["blocks"] == g4["blocks"]


def test_memory_area_follows_the_configuration(gates2, cache, table):
    from openeie.flows.asic import estimate_point
    small = estimate_point(EngineConfig(n_pe=2, **SMALL), {"mac": 1.0}, 100, 800.0, table, cache)
    deeper = estimate_point(EngineConfig(n_pe=2, **{**SMALL, "spmat_depth_words": 512}), {"mac": 1.0}, 100, 800.0,
                            table, cache)
    assert deeper["blocks"]["spmat"]["memory_area_mm2"] > 1.5 * small["blocks"]["spmat"]["memory_area_mm2"]
    assert deeper["blocks"]["arith"]["memory_area_mm2"] == small["blocks"]["arith"]["memory_area_mm2"]


# ---- power ------------------------------------------------------------------------------------------------------

def test_power_is_energy_times_counts_over_time_by_hand(gates2, cache, table):
    """One small run: the estimate's dynamic power equals counts x per-access energies / time, computed here from
    the counters and the energy table's law directly."""
    from openeie.compiler.benchmarks import random_layer
    from openeie.compiler.lower import lower
    from openeie.flows.asic import estimate_point
    from openeie.sim import cycle
    from openeie.sim.energy import energy, load_table
    from openeie.sim.inputs import random_activations
    cfg = EngineConfig(n_pe=2, **SMALL)
    program = lower([random_layer(24, 20, 0.3, cfg.code_bits, seed=1, name="l")], cfg)
    x = random_activations(24, 0.5, cfg.act_bits, seed=2)
    _, stats, _ = cycle.run(program, x)
    c = stats.counters
    et = load_table()
    s = et.data["sram"]

    def sram(size_bytes, width):
        return s["ref_pj"] * width / s["ref_width_bits"] * (max(size_bytes, s["min_bytes"]) / s["ref_bytes"]) ** 0.5
    spmat_pj = c["spmat_reads"] * sram(cfg.spmat_depth_words * cfg.spmat_word_bits / 8, cfg.spmat_word_bits)
    ptr_pj = c["ptr_reads"] * sram(cfg.ptr_depth // 2 * cfg.ptr_bits / 8, cfg.ptr_bits)
    mac_pj = c["macs"] * (3.1 * cfg.weight_bits * cfg.act_bits / 32 ** 2 + 0.1 * cfg.acc_bits / 32)
    clock_mhz = 500.0
    time_us = stats.cycles / clock_mhz
    parts = energy(stats, cfg, et)
    r = estimate_point(cfg, parts, stats.cycles, clock_mhz, table, cache)
    assert r["dynamic_mw"]["spmat_sram"] == pytest.approx(spmat_pj / time_us * 1e-3)
    assert r["dynamic_mw"]["pointer_sram"] == pytest.approx(ptr_pj / time_us * 1e-3)
    assert r["dynamic_mw"]["mac"] == pytest.approx(mac_pj / time_us * 1e-3)
    # clock: every flip-flop (logic and register files) every cycle, at the table's energy
    ck = table.data["clock"]
    ffs = sum(b["copies"] * (b["flip_flops"] + sum(m["depth"] * m["width_bits"] for m in b["memories"]
                                                   if m["kind"] == "register_file"))
              for b in r["blocks"].values())
    assert r["clock_mw"] == pytest.approx(ffs * ck["ff_energy_fj"] * ck["tree_factor"] * 1e-3 * clock_mhz * 1e-3)
    assert r["power_mw"] == pytest.approx(sum(r["dynamic_mw"].values()) + r["clock_mw"] + r["leakage_mw"])
    # doubling the clock halves the time: dynamic power doubles, leakage stays
    r2 = estimate_point(cfg, parts, stats.cycles, 2 * clock_mhz, table, cache)
    assert r2["dynamic_mw"]["spmat_sram"] == pytest.approx(2 * r["dynamic_mw"]["spmat_sram"])
    assert r2["leakage_mw"] == pytest.approx(r["leakage_mw"])


def test_power_function_units():
    p = power({"a": 1000.0}, 800, 800.0, 2.0, 0.5)          # 1 nJ over 1 us = 1 mW; 2 pJ x 800 MHz = 1.6 mW
    assert p["dynamic_mw"]["a"] == pytest.approx(1.0)
    assert p["clock_mw"] == pytest.approx(1.6)
    assert p["total_mw"] == pytest.approx(3.1)


# ---- the command ------------------------------------------------------------------------------------------------

def test_asic_command_on_a_network(tmp_path, capsys, cache):
    from openeie.cli import main
    rng = np.random.default_rng(0)
    cb = np.concatenate([[0.0], np.linspace(-1, 1, 15)])
    np.savez(tmp_path / "net.npz", **{"layer0.codes": (rng.integers(0, 16, (12, 6)) * (rng.random((12, 6)) < 0.5))
                                      .astype(np.uint8), "layer0.codebook": cb})
    (tmp_path / "cfg.json").write_text(json.dumps({"n_pe": 2, **SMALL}))
    rc = main(["asic", "--net", str(tmp_path / "net.npz"), "--config", str(tmp_path / "cfg.json"), "--cache",
               str(cache), "--json", str(tmp_path / "a.json"), "--markdown", str(tmp_path / "a.md"), "--plot",
               str(tmp_path / "a.png"), "--clock-mhz", "400"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "EIE chip (64 PEs, 45 nm, 800 MHz): 40.8 mm2, 0.59 W" in out and "not comparable" in out
    r = json.loads((tmp_path / "a.json").read_text())
    assert r["area_mm2"] == pytest.approx(sum(b["area_mm2"] for b in r["blocks"].values()))
    assert r["eie"]["area_ratio"] == pytest.approx(r["area_mm2"] / 40.8)
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert "| area (mm2) |" in (tmp_path / "a.md").read_text()


# ---- bad inputs -------------------------------------------------------------------------------------------------

def _bad_table(tmp_path, **changes):
    data = json.loads(json.dumps(load_area_table().data))
    for key, value in changes.items():
        section, field = key.split("__")
        data[section][field] = value
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(data))
    return tmp_path / "t.yaml"


@pytest.mark.parametrize("changes, expect", [
    ({"logic__utilisation": 0}, "logic.utilisation = 0: expected a finite number > 0"),
    ({"logic__utilisation": 1.5}, "expected a fraction in (0, 1]"),
    ({"sram__area_per_bit_um2": float("nan")}, "sram.area_per_bit_um2 = nan"),
    ({"clock__tree_factor": "two"}, "clock.tree_factor = 'two'"),
])
def test_bad_area_table(tmp_path, changes, expect):
    with pytest.raises(AreaTableError) as info:
        load_area_table(_bad_table(tmp_path, **changes))
    assert expect in str(info.value)


def test_bad_area_table_files(tmp_path):
    with pytest.raises(AreaTableError, match="does not exist"):
        load_area_table(tmp_path / "none.yaml")
    (tmp_path / "t.yaml").write_text("a: [1,\n")
    with pytest.raises(AreaTableError, match="not valid YAML/JSON"):
        load_area_table(tmp_path / "t.yaml")
    (tmp_path / "t.yaml").write_text("- 1\n")
    with pytest.raises(AreaTableError, match="holds a list"):
        load_area_table(tmp_path / "t.yaml")


def test_unknown_gate_type_is_refused(table):
    with pytest.raises(AreaTableError, match=r"prices no gate type \['\$_ANDNOT_'\]"):
        table.logic({"$_ANDNOT_": 3})


def test_sweep_gains_asic_columns(cache):
    from openeie.compiler.benchmarks import random_layer
    from openeie.compiler.network import CompressedNetwork
    from openeie.flows.sweep import SweepContext, evaluate_point
    ctx = SweepContext(name="t", networks={4: CompressedNetwork([random_layer(24, 20, 0.3, 4, seed=1, name="l")])},
                       x_test=np.random.default_rng(0).uniform(-1, 1, (2, 24)), base=dict(SMALL), cycle_inputs=2,
                       asic_clock_mhz=800.0, asic_cache=str(cache))
    rows = [evaluate_point({"code_bits": 4, "rel_index_bits": None, "act_bits": None, "n_pe": n, "fifo_depth": 8},
                           ctx) for n in (2, 4)]
    assert all(r["asic_area_mm2"] > 0 and r["asic_power_w"] > 0 for r in rows)
    assert rows[1]["asic_area_mm2"] > rows[0]["asic_area_mm2"]            # twice the PEs, more area
