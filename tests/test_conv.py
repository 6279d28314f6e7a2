"""Convolution layers (docs/engine.md, "Convolution layers"): the golden model against a naive per-position
reference written from the contract, the float reference, the cycle model against the stepper, images round
trips, and fully connected layers on a convolution engine."""

from __future__ import annotations

import numpy as np
import pytest

from openeie.compiler.images import container_bytes, program_from_bytes
from openeie.compiler.lower import decode, lower
from openeie.compiler.network import CompressedLayer, CompressedNetwork, ConvSpec
from openeie.config import EngineConfig
from openeie.fixed import fixed_range, quantize, round_shift, saturate
from openeie.sim import cycle, golden
from engine_cases import stepper_layer

CONV = dict(max_image_side=9, max_kernel=5, max_pool=3, act_depth=1024, spmat_depth_words=4096, ptr_depth=1024,
            bias_depth=4096, max_layers=4)


def conv_cfg(n_pe, **kw):
    return EngineConfig(n_pe=n_pe, fifo_depth=kw.pop("fifo_depth", 4), **{**CONV, **kw})


def random_conv(rng, cfg, spec: ConvSpec, out_c, density=0.4, relu=True, bias=True, name="conv", scale=2):
    k = cfg.codebook_size
    codes = rng.integers(1, k, size=(out_c, spec.in_channels * spec.kernel ** 2)) * \
        (rng.random((out_c, spec.in_channels * spec.kernel ** 2)) < density)
    frac = 1 << cfg.weight_frac_bits
    codebook = np.concatenate([[0.0], rng.integers(-scale * frac, scale * frac + 1, size=k - 1) / frac])
    b = rng.integers(-64, 65, size=out_c) / float(1 << cfg.act_frac_bits) if bias else None
    return CompressedLayer.from_dense_codes(codes, codebook, b, relu, name, conv=spec)


def random_input(rng, cfg, n, density=0.7, scale=None):
    lo, hi = fixed_range(cfg.act_bits)
    hi = hi if scale is None else scale
    x = rng.integers(-hi, hi + 1, size=n)
    return np.where(rng.random(n) < density, x, 0).astype(np.int64)


def naive_layer(cfg, layer: CompressedLayer, x: np.ndarray) -> np.ndarray:
    """One layer straight from the contract, position by position, in (C, H, W) order: the bias, then the
    products in the broadcast walk's order (ky, kx, channel) with saturation, pooling of the accumulators,
    rounding, saturation, ReLU."""
    wf = cfg.weight_frac_bits
    lo, hi = fixed_range(cfg.acc_bits)
    cb = quantize(layer.codebook, cfg.weight_bits, wf)
    b = quantize(layer.bias_or_zeros(), cfg.act_bits, cfg.act_frac_bits)
    codes = layer.dense_codes()
    if layer.conv is None:
        spec = ConvSpec(layer.n_in, 1, 1, 1)
    else:
        spec = layer.conv
    k = spec.kernel
    img = x.reshape(spec.in_channels, spec.in_h, spec.in_w)
    acc = np.zeros((layer.n_out, spec.out_h, spec.out_w), dtype=object)
    for t in range(layer.n_out):
        for oy in range(spec.out_h):
            for ox in range(spec.out_w):
                a = int(b[t]) << wf
                for ky in range(k):
                    for kx in range(k):
                        iy, ix = oy * spec.stride - spec.pad + ky, ox * spec.stride - spec.pad + kx
                        if not (0 <= iy < spec.in_h and 0 <= ix < spec.in_w):
                            continue
                        for c in range(spec.in_channels):
                            code = codes[t, (c * k + ky) * k + kx]
                            if code and img[c, iy, ix]:
                                a = min(max(a + int(cb[code]) * int(img[c, iy, ix]), lo), hi)
                acc[t, oy, ox] = a
    shift = wf
    if spec.pool:
        p = spec.pool_size
        win = np.array(acc[:, :spec.pooled_h * p, :spec.pooled_w * p].tolist(), dtype=np.int64)
        win = win.reshape(layer.n_out, spec.pooled_h, p, spec.pooled_w, p)
        if spec.pool == "max":
            acc = win.max(axis=(2, 4))
        else:
            acc = win.sum(axis=(2, 4))
            shift += (p * p).bit_length() - 1
    y = saturate(round_shift(np.array(acc.tolist(), dtype=np.int64), shift), cfg.act_bits)
    if layer.relu:
        y = np.maximum(y, 0)
    return y.reshape(-1)


def naive(cfg, network, x):
    for layer in network:
        x = naive_layer(cfg, layer, x)
    return x


GEOMETRIES = [  # in_c, h, w, out_c, kernel, stride, pad, pool, pool_size
    (1, 8, 8, 6, 3, 1, 1, "max", 2),
    (3, 5, 7, 5, 3, 2, 1, None, 1),
    (2, 6, 6, 7, 5, 1, 2, "avg", 2),
    (4, 4, 4, 3, 1, 1, 0, None, 1),          # pointwise
    (2, 3, 3, 4, 3, 1, 0, None, 1),          # kernel as large as the input: one position
    (1, 1, 1, 3, 1, 1, 0, None, 1),          # a 1 x 1 image
    (5, 9, 9, 2, 4, 2, 3, "max", 3),
    (3, 7, 5, 6, 2, 2, 0, "max", 2),
    (6, 4, 4, 9, 3, 1, 1, "avg", 2),
]


@pytest.mark.parametrize("n_pe", [1, 2, 3, 4])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=[f"g{i}" for i in range(len(GEOMETRIES))])
def test_golden_equals_the_contract(n_pe, geometry):
    in_c, h, w, out_c, k, s, p, pool, ps = geometry
    rng = np.random.default_rng(hash((n_pe,) + tuple(map(str, geometry))) % 2 ** 32)
    cfg = conv_cfg(n_pe)
    spec = ConvSpec(in_c, h, w, k, s, p, pool, ps)
    net = CompressedNetwork([random_conv(rng, cfg, spec, out_c, relu=bool(rng.integers(2)))])
    program = lower(net, cfg)
    for _ in range(3):
        x = random_input(rng, cfg, spec.in_size)
        assert golden.run_logical(program, x).tolist() == naive(cfg, net, x).tolist()


def test_saturating_convolution_and_all_zero_channels():
    rng = np.random.default_rng(7)
    cfg = conv_cfg(3, acc_bits=32)
    spec = ConvSpec(4, 5, 5, 3, 1, 1, "max", 2)
    layer = random_conv(rng, cfg, spec, 5, density=0.9, scale=7)
    net = CompressedNetwork([layer])
    program = lower(net, cfg)
    x = random_input(rng, cfg, spec.in_size, density=1.0)
    x.reshape(4, 5, 5)[2] = 0                                  # an all-zero channel
    _, sats = golden.run_counted(program, x)
    assert sum(int(v) for v in sats[0]) > 0                     # the case saturates
    assert golden.run_logical(program, x).tolist() == naive(cfg, net, x).tolist()


def chain(rng, cfg):
    c1 = random_conv(rng, cfg, ConvSpec(1, 8, 8, 3, 1, 1, "max", 2), 5, name="conv1")
    c2 = random_conv(rng, cfg, ConvSpec(5, 4, 4, 3, 1, 1, "avg", 2), 6, name="conv2", relu=False)
    fc = CompressedLayer.from_dense_codes(rng.integers(0, cfg.codebook_size, (7, 24)) * (rng.random((7, 24)) < .5),
                                          c1.codebook, rng.normal(0, 0.1, 7), False, "fc")
    return CompressedNetwork([c1, c2, fc])


@pytest.mark.parametrize("n_pe", [1, 2, 4])
def test_conv_conv_fc_chain(n_pe):
    rng = np.random.default_rng(n_pe)
    cfg = conv_cfg(n_pe)
    net = chain(rng, cfg)
    program = lower(net, cfg)
    x = random_input(rng, cfg, 64, scale=200)
    assert golden.run_logical(program, x).tolist() == naive(cfg, net, x).tolist()
    # the float reference agrees to within the roundings
    xf = x / float(1 << cfg.act_frac_bits)
    ref = net.float_forward(xf)
    got = golden.run_logical(program, x) / float(1 << cfg.act_frac_bits)
    assert np.abs(got - ref).max() < 0.5
    for layer, codes in zip(net, decode(program)):
        assert np.array_equal(codes, layer.dense_codes())
    back = program_from_bytes(container_bytes(program), cfg)
    assert golden.run_logical(back, x).tolist() == golden.run_logical(program, x).tolist()


@pytest.mark.parametrize("n_pe, fifo", [(1, 1), (2, 3), (4, 2), (3, 8)])
def test_cycle_model_equals_the_stepper_on_convolutions(n_pe, fifo):
    rng = np.random.default_rng(10 + n_pe)
    cfg = conv_cfg(n_pe, fifo_depth=fifo)
    net = chain(rng, cfg)
    program = lower(net, cfg)
    x = random_input(rng, cfg, 64, density=0.6, scale=200)
    outputs, stats, timings = cycle.run(program, x)
    h = program.input_storage(x)
    for index, info in enumerate(program.layers):
        compute, stalls, busy = stepper_layer(program, index, h)
        assert timings[index].compute_cycles == compute
        assert timings[index].counters["bcast_stalls"] == stalls
        h = outputs[index]
    assert stats.as_dict() == cycle.run(program_from_bytes(container_bytes(program)), x)[1].as_dict()


def test_fully_connected_layers_keep_their_cycles_on_a_convolution_engine():
    rng = np.random.default_rng(3)
    fc = EngineConfig(n_pe=4, act_depth=256, spmat_depth_words=2048, ptr_depth=1024, bias_depth=1024, max_layers=4)
    layers = [CompressedLayer.from_dense_codes(rng.integers(0, 16, (30, 20)) * (rng.random((30, 20)) < .3),
                                               np.linspace(-1, 1, 16) * (np.arange(16) > 0), relu=True, name="a"),
              CompressedLayer.from_dense_codes(rng.integers(0, 16, (9, 30)) * (rng.random((9, 30)) < .3),
                                               np.linspace(-1, 1, 16) * (np.arange(16) > 0), name="b")]
    a, b = lower(layers, fc), lower(layers, fc.replace(**{k: CONV[k] for k in ("max_image_side", "max_kernel",
                                                                                  "max_pool")}))
    x = random_input(rng, fc, 20)
    sa, sb = cycle.run(a, x)[1], cycle.run(b, x)[1]
    assert sa.as_dict() == sb.as_dict()
    assert fc.hash() == EngineConfig(**{**fc.to_dict(), "max_image_side": 1}).hash()


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_network_files_keep_convolutions(suffix, tmp_path):
    from openeie.compiler.netfile import load_network, save_network
    rng = np.random.default_rng(5)
    cfg = conv_cfg(2)
    net = chain(rng, cfg)
    save_network(net, tmp_path / f"net{suffix}")
    back = load_network(tmp_path / f"net{suffix}")
    assert [layer.conv for layer in back] == [layer.conv for layer in net]
    for a, b in zip(net, back):
        assert np.array_equal(a.dense_codes(), b.dense_codes()) and a.relu == b.relu
    x = random_input(rng, cfg, 64, scale=200)
    assert cycle.run(lower(back, cfg), x)[1].as_dict() == cycle.run(lower(net, cfg), x)[1].as_dict()
    assert golden.run_logical(lower(back, cfg), x).tolist() == naive(cfg, net, x).tolist()
