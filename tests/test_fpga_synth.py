"""Synthesis flow: one small board-less estimate per FPGA family (CI), the fit check, the report writers and the
``openeie synth`` command line. Board bitstreams and sweeps are ``slow``."""

import argparse
import re
import json
import os
from pathlib import Path

import pytest

from openeie.config import EngineConfig
from openeie.fpga.boards import BOARDS, DEVICES, BoardTop, board_platform, get_device
from openeie.commands import synth as synth_command
from openeie.fpga.pll import ecp5_pll
from openeie.fpga.presets import PRESETS
from openeie.hw.export import builtin_yosys as _builtin_yosys
from openeie.commands.synth import write_report
from openeie.fpga.synth import SynthError, _check_capacity, build_board, estimate
from openeie.report.markdown import synth_markdown

# Small engines in each family's formats (the iCE40 one keeps the SPRAM mapping of the iCEBreaker preset).
SMALL = {
    "up5k": PRESETS["up5k"].replace(n_pe=2, spmat_depth_words=1024, ptr_depth=128, act_depth=16, bias_depth=32),
    "85k": PRESETS["85k"].replace(n_pe=1, spmat_depth_words=256, ptr_depth=128, act_depth=16, bias_depth=32),
}


def synth(*argv):
    parser = argparse.ArgumentParser(prog="openeie")
    synth_command.add_arguments(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["synth", *argv])
    return args.run(args)


@pytest.fixture
def in_tmp(tmp_path):
    # YoWASP tools see a private /tmp: the flow must work from any directory with relative paths.
    cwd = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(cwd)


@pytest.mark.parametrize("device", ["up5k", "85k"])
def test_estimate_small(device, tmp_path):
    result = estimate(SMALL[device], device, tmp_path / "est")
    assert result["device"] == device and result["fmax_mhz"] > 10
    util = result["utilization"]
    if device == "up5k":
        assert util["ICESTORM_SPRAM"]["used"] == 2          # one SPRAM per PE's sparse matrix
        assert util["ICESTORM_DSP"]["used"] == 2            # the multipliers are on SB_MAC16 (synth_ice40 -dsp)
        assert [d["mapped_to"] for d in result["memory_map"]] == ["spram", "spram"]
    else:
        assert util["MULT18X18D"]["used"] == 1 and util["DP16KD"]["used"] > 0
    assert (tmp_path / "est" / "report.json").exists()
    text = synth_markdown(result)
    assert f"Fmax: **{result['fmax_mhz']} MHz**" in text and "## Utilisation" in text
    write_report(result, tmp_path / "r.json", tmp_path / "r.md")
    assert json.loads((tmp_path / "r.json").read_text())["fmax_mhz"] == result["fmax_mhz"]


def test_capacity_check_names_the_resource(tmp_path):
    with pytest.raises(SynthError, match=r"needs 31 SB_RAM40_4K \(the up5k has 30\)"):
        _check_capacity(get_device("up5k"), {"SB_RAM40_4K": 31, "SB_LUT4": 100}, tmp_path / "top.json")
    _check_capacity(get_device("85k"), {"DP16KD": 208, "LUT4": 1000}, tmp_path / "top.json")


def test_devices_boards_presets_consistent():
    for board in BOARDS.values():
        assert board.device in DEVICES
        assert board.platform_class().__name__
    for name, cfg in PRESETS.items():
        assert name in DEVICES and isinstance(cfg, EngineConfig)


@pytest.mark.parametrize("board, clock_mhz", [("icebreaker", None), ("ulx3s-85f", None), ("ulx3s-85f", 20.0),
                                              ("orangecrab-85f", None)])
def test_board_top_prepares(board, clock_mhz, tmp_path):
    """The board top elaborates on the board's platform (pins, UART, LED, PLL) up to the build files."""
    tiny = SMALL[get_device(BOARDS[board].device).name if board == "icebreaker" else "85k"].replace(n_pe=1)
    platform = board_platform(BOARDS[board], tiny)
    pll = ecp5_pll(platform.default_clk_frequency / 1e6, clock_mhz, tmp_path) if clock_mhz else None
    with _builtin_yosys():
        plan = platform.build(BoardTop(tiny, pll=pll), name="top", do_build=False)
    files = plan.files
    assert "top.il" in files and ("openeie_pll.v" in files) == bool(pll)
    constraints = files.get("top.pcf") or files.get("top.lpf")
    assert "uart" in constraints
    if pll:
        assert 'FREQUENCY NET "pll_clk" 20000000.0 HZ' in constraints
    if board == "icebreaker":
        assert [d["mapped_to"] for d in platform.memory_mapper.decisions] == ["spram"]


def test_ecp5_pll(tmp_path):
    assert ecp5_pll(25, 20, tmp_path).clkout_mhz == 20
    with pytest.raises(ValueError, match="cannot make 1000 MHz from 25 MHz"):
        ecp5_pll(25, 1000, tmp_path)


def test_pll_only_on_ecp5(tmp_path):
    with pytest.raises(SynthError, match="ECP5 boards only"):
        build_board("icebreaker", SMALL["up5k"], tmp_path, clock_mhz=24)


@pytest.mark.parametrize("argv, match", [
    ([], "one of the arguments --board --estimate --sweep is required"),
    (["--estimate", "--sweep", "--device", "up5k"], "argument --sweep: not allowed with argument --estimate"),
    (["--estimate", "--device", "up5k", "--freq-mhz", "0"], "clock target \\(MHz\\) 0 is out of range"),
])
def test_cli_argument_errors(argv, match, capsys):
    with pytest.raises(SystemExit) as e:
        synth(*argv)
    assert e.value.code == 2 and re.search(match, capsys.readouterr().err)


def test_cli_estimate_needs_a_device():
    with pytest.raises(ValueError, match="need --device"):
        synth("--estimate")


def test_cli_rejects_unknown_config_key(tmp_path):
    (tmp_path / "cfg.json").write_text('{"n_pes": 4}')
    with pytest.raises(ValueError, match=r"unknown key\(s\)"):
        synth("--estimate", "--device", "up5k", "--config", str(tmp_path / "cfg.json"))


@pytest.mark.slow
def test_cli_estimate_does_not_fit(in_tmp, capsys):
    # 16-bit activations need 32 EBRs at 4 PEs on the UP5K (30): one clear message, no traceback.
    PRESETS["up5k"].replace(act_bits=16, weight_bits=16, weight_frac_bits=12, act_frac_bits=8,
                            acc_bits=32).save("cfg.json")
    with pytest.raises(SynthError, match="does not fit the iCE40UP5K.*SB_RAM40_4K"):
        synth("--estimate", "--device", "up5k", "--config", "cfg.json", "-o", "est")


@pytest.mark.slow
@pytest.mark.parametrize("board", ["icebreaker", "ulx3s-85f"])
def test_board_bitstream(board, in_tmp, capsys):
    synth("--board", board, "-o", "out")
    report = json.loads(Path("out/report.json").read_text())
    assert Path(report["bitstream"]).stat().st_size > 0 and report["timing_met"]
    assert Path("out/report.md").exists()


@pytest.mark.slow
def test_sweep_small(in_tmp, capsys):
    SMALL["up5k"].save("cfg.json")
    synth("--sweep", "--device", "up5k", "--config", "cfg.json", "--pes", "1", "2", "-o", "sweep")
    sweep = json.loads(Path("sweep/sweep.json").read_text())
    assert [p["n_pe"] for p in sweep["points"]] == [1, 2] and sweep["largest_fit"]["n_pe"] == 2
    assert Path("sweep/sweep.png").stat().st_size > 0


def test_blocks_wrap_for_timing():
    from amaranth.back import rtlil
    from openeie.fpga.blocks import BLOCKS, make_block
    with _builtin_yosys():
        for name in BLOCKS:
            assert "module" in rtlil.convert(make_block(name, SMALL["up5k"]), name="top")
    with pytest.raises(ValueError, match="unknown block 'alu'"):
        make_block("alu", SMALL["up5k"])


def test_sweep_tells_tool_failures_from_size(tmp_path, monkeypatch):
    """A tool failure is recorded as such (fits None) and the sweep goes on; only "does not fit" stops it."""
    from openeie.fpga import sweep as sweep_mod
    from openeie.fpga.synth import DoesNotFit

    def fake_estimate(cfg, device, out_dir, **kw):
        if cfg.n_pe == 2:
            raise SynthError("yosys synthesis failed: Assert ... (log: x)")
        if cfg.n_pe >= 4:
            raise DoesNotFit("design does not fit the iCE40UP5K-SG48: it needs 40 SB_RAM40_4K")
        return {"fmax_mhz": 30.0, "target_mhz": 40.0, "timing_met": False, "utilization": {}, "seconds": {}}

    monkeypatch.setattr(sweep_mod, "estimate", fake_estimate)
    result = sweep_mod.sweep_pes(SMALL["up5k"], "up5k", tmp_path, pes=(1, 2, 3, 4, 8), reuse=False)
    fits = {p["n_pe"]: p["fits"] for p in result["points"]}
    assert fits == {1: True, 2: None, 3: True, 4: False, 8: False}
    assert "not tried" in result["points"][-1]["error"] and result["largest_fit"]["n_pe"] == 3


def test_placement_summary_reads_the_estimate(tmp_path):
    """A nextpnr log cut off by the time limit: the post-placement Fmax if placement finished, else None (which
    estimate() turns into an error rather than a report without a clock rate)."""
    from openeie.fpga.synth import _placement_summary
    log = tmp_path / "nextpnr.log"
    log.write_text("Info:        DP16KD:   193/  208    92%\nInfo: Running simulated annealing placer\n")
    assert _placement_summary(log, 100.0)["fmax_mhz"] is None
    log.write_text(log.read_text() + "Info: Max frequency for clock '$glbnet$clk': 41.19 MHz (FAIL at 100.00 MHz)\n")
    summary = _placement_summary(log, 100.0)
    assert summary["fmax_mhz"] == 41.19 and not summary["timing_met"]
    assert summary["utilization"]["DP16KD"] == {"used": 193, "available": 208, "percent": 92.8}


def test_seed_sweep_keeps_the_best_routed_seed(in_tmp, capsys):
    """``--seeds``: one synthesis, nextpnr per seed in parallel processes, each in its own directory; the
    reported result is the best routed seed's, and every seed's figure is listed."""
    synth("--estimate", "--device", "up5k", "--block", "decoder", "--seeds", "3", "1", "2", "--jobs", "2",
          "-o", "sw")
    captured = capsys.readouterr()
    report = json.loads((in_tmp / "sw" / "report.json").read_text())
    seeds = report["seeds"]
    assert [s["seed"] for s in seeds] == [1, 2, 3] and all(s["routed"] for s in seeds)
    for s in seeds:                                        # each seed's own nextpnr report
        own = json.loads((in_tmp / "sw" / f"seed-{s['seed']}" / "report.json").read_text())
        assert round(min(c["achieved"] for c in own["fmax"].values()), 2) == s["fmax_mhz"]
    best = max(seeds, key=lambda s: s["fmax_mhz"])
    assert report["seed"] == best["seed"] and report["fmax_mhz"] == best["fmax_mhz"] and report["routed"]
    assert f"best of 3 seeds: seed {best['seed']}" in captured.out and "routed" in captured.out
    assert "seed sweep: best seed" in (in_tmp / "sw" / "report.md").read_text()


def test_seed_sweep_ranks_routed_before_placed():
    from openeie.fpga.synth import _rank
    runs = [{"routed": False, "fmax_mhz": 90.0}, {"routed": True, "fmax_mhz": 60.0},
            {"routed": True, "fmax_mhz": 70.0}, {"routed": False, "fmax_mhz": None}]
    assert max(runs, key=_rank) == runs[2]
    assert max(runs[:1] + runs[3:], key=_rank) == runs[0]


@pytest.mark.parametrize("argv, match", [
    (["--sweep", "--device", "up5k", "--seeds", "1", "2"], "--seeds and --jobs apply to --estimate only"),
    (["--estimate", "--device", "up5k", "--jobs", "2"], "--jobs needs --seeds"),
])
def test_cli_seed_options_refused(argv, match):
    from openeie.errors import InputError
    with pytest.raises(InputError, match=match):
        synth(*argv)


def test_cli_seed_option_out_of_range(capsys):
    with pytest.raises(SystemExit) as e:
        synth("--estimate", "--device", "up5k", "--seeds", "-1")
    assert e.value.code == 2 and "placement seed -1 is out of range" in capsys.readouterr().err
