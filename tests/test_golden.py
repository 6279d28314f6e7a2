"""Golden model: hand-computed cases, rounding and saturation edges, error vs float within the stated bound."""

import numpy as np
import pytest

from openeie.compiler.lower import lower
from openeie.compiler.network import CompressedLayer, CompressedNetwork
from openeie.config import EngineConfig
from openeie.fixed import FixedRangeError, quantize, round_shift
from openeie.sim import golden


def small_cfg(**kw):
    base = dict(n_pe=2, weight_bits=8, weight_frac_bits=4, act_bits=8, act_frac_bits=2, acc_bits=16,
                spmat_depth_words=64, ptr_depth=64, act_depth=16, bias_depth=32, max_layers=4)
    base.update(kw)
    return EngineConfig(**base)


def one_layer(codes, codebook, bias=None, relu=False, cfg=None):
    cfg = cfg or small_cfg()
    net = CompressedNetwork([CompressedLayer.from_dense_codes(np.array(codes), codebook, bias, relu)])
    return cfg, net, lower(net, cfg)


def test_hand_computed_layer():
    # weights: codebook in Q4.4 (wf=4), activations in Q6.2 (af=2)
    codebook = [0.0, 0.5, -1.25, 2.0]            # -> 8, -20, 32 in weight units
    cfg, net, p = one_layer([[1, 2, 0], [3, 0, 1], [0, 0, 0]], codebook, bias=[0.25, -1.0, 0.75])
    x = np.array([1.5, 2.0, -0.75])               # -> 6, 8, -3 in activation units
    xq = golden.quantize_input(cfg, x)
    assert xq.tolist() == [6, 8, -3]
    # row 0: acc = 1<<4 (bias 0.25 = 1 unit, <<4) + 8*6 + (-20)*8 = 16 + 48 - 160 = -96 -> (-96+8)>>4 = -5.5 -> -6
    # row 1: acc = -4<<4 + 32*6 + 8*(-3) = -64 + 192 - 24 = 104 -> (104+8)>>4 = 7
    # row 2: acc = 3<<4 = 48 -> 3
    assert golden.run_logical(p, xq).tolist() == [-6, 7, 3]
    cfg, net, p = one_layer([[1, 2, 0], [3, 0, 1], [0, 0, 0]], codebook, bias=[0.25, -1.0, 0.75], relu=True)
    assert golden.run_logical(p, xq).tolist() == [0, 7, 3]


def test_round_half_up_and_shift():
    assert round_shift(np.array([7, 8, 9, 23, 24, -8, -9, -24, -25]), 4).tolist() == [0, 1, 1, 1, 2, 0, -1, -1, -2]
    assert round_shift(np.array([-3, 5]), 0).tolist() == [-3, 5]
    assert quantize([0.125, 0.375, -0.125, -0.375], 8, 2).tolist() == [1, 2, 0, -1]


def test_output_saturates_to_act_range():
    codebook = [0.0, 7.9375]                      # 127 in Q4.4
    cfg, net, p = one_layer([[1, 1, 1, 1], [1, 0, 0, 0]], codebook)
    xq = np.array([127, 127, 127, 127])            # 31.75 each
    # row 0: 4*127*127 = 64516 -> exceeds 16-bit acc (32767) during accumulation -> saturates at 32767
    #         -> (32767+8)>>4 = 2048 -> saturates to 127; row 1: 16129 -> (16129+8)>>4 = 1008 -> 127
    assert golden.run_logical(p, xq).tolist() == [127, 127]
    # counted: row 0's 3rd and 4th accumulations leave the 16-bit range (2 clamps), both outputs are clipped
    _, sats = golden.run_counted(p, xq)
    assert [int(v) for v in sats[0]] == [2, 2]
    xq = -xq
    assert golden.run_logical(p, xq).tolist() == [-128, -128]
    assert [int(v) for v in golden.run_counted(p, xq)[1][0]] == [2, 2]
    # under ReLU a negative overflow gives 0 either way: not a clipped output
    _, _, p_relu = one_layer([[1, 1, 1, 1], [1, 0, 0, 0]], codebook, relu=True)
    assert [int(v) for v in golden.run_counted(p_relu, xq)[1][0]] == [2, 0]


def test_accumulator_saturation_is_order_dependent_and_followed():
    # row sums +32767 (saturated) then -16129: saturating order matters; the model follows storage order.
    codebook = [0.0, 7.9375, -7.9375]
    cfg, net, p = one_layer([[1, 1, 1, 2]], codebook, cfg=small_cfg(n_pe=1))
    xq = np.array([127, 127, 127, 127])
    # exact sums: 16129, 32258, sat(48387)=32767, 32767-16129 = 16638 -> (16638+8)>>4 = 1040 -> 127
    acc = 0
    for w, x in ((127, 127), (127, 127), (127, 127), (-127, 127)):
        acc = min(max(acc + w * x, -32768), 32767)
    assert acc == 16638
    cfg2, _, p2 = one_layer([[1, 1, 1, 2]], codebook, cfg=small_cfg(n_pe=1, act_bits=12, acc_bits=20))
    # with a wide accumulator nothing saturates: 48387 - 16129 = 32258 -> 2016
    assert golden.run_logical(p2, xq).tolist() == [(32258 + 8) >> 4]
    # narrow output: check accumulation saturation through a value that fits the output
    cfg3 = small_cfg(n_pe=1, act_bits=8, act_frac_bits=0, weight_bits=8, weight_frac_bits=0, acc_bits=16)
    net3 = CompressedNetwork([CompressedLayer.from_dense_codes(np.array([[1, 1, 1, 2]]), [0.0, 127.0, -127.0])])
    p3 = lower(net3, cfg3)
    # 16129*3 saturates at 32767, then -16129 -> 16638 -> saturates to 127 at 8 bits; with order reversed the
    # result would differ in the accumulator but not the output; check the accumulator path directly:
    x3 = np.array([127, 127, 127, 127])
    assert golden.run_logical(p3, x3).tolist() == [127]
    net4 = CompressedNetwork([CompressedLayer.from_dense_codes(np.array([[1, 1, 1, 2, 2, 2]]),
                                                               [0.0, 127.0, -127.0])])
    p4 = lower(net4, cfg3)
    # +16129*3 -> 32767 (sat), then -16129*3 -> -15620 -> saturates at -128; without saturation it would be 0
    assert golden.run_logical(p4, np.full(6, 127)).tolist() == [-128]
    # one clamped accumulation (the third +16129), one clipped output
    assert [int(v) for v in golden.run_counted(p4, np.full(6, 127))[1][0]] == [1, 1]


def test_zero_input_gives_bias_and_relu():
    cfg, net, p = one_layer([[1, 2], [2, 1]], [0.0, 1.0, -1.0], bias=[-0.5, 0.75], relu=True)
    assert golden.run_logical(p, np.zeros(2, dtype=np.int64)).tolist() == [0, 3]


def test_batch_equals_single():
    rng = np.random.default_rng(3)
    cfg = small_cfg(n_pe=3, act_depth=32)
    codes = rng.integers(0, 4, (17, 11)) * (rng.random((17, 11)) < 0.4)
    net = CompressedNetwork([CompressedLayer.from_dense_codes(codes, [0, 0.5, -0.75, 1.5], rng.normal(size=17), True),
                             CompressedLayer.from_dense_codes(rng.integers(0, 4, (5, 17)), [0, 0.5, -0.75, 1.5])])
    p = lower(net, cfg)
    xq = rng.integers(-128, 128, size=(6, 11))
    batch = golden.run_logical(p, xq)
    for i in range(6):
        assert np.array_equal(batch[i], golden.run_logical(p, xq[i]))


def test_error_vs_float_within_stated_bound():
    rng = np.random.default_rng(4)
    cfg = EngineConfig(n_pe=4, spmat_depth_words=1024, ptr_depth=256, act_depth=32, bias_depth=64, max_layers=4)
    codes = rng.integers(0, 16, (40, 30)) * (rng.random((40, 30)) < 0.3)
    codebook = np.concatenate([[0], rng.normal(0, 0.3, 15)])       # not representable exactly
    net = CompressedNetwork([CompressedLayer.from_dense_codes(codes, codebook, rng.normal(0, 0.5, 40), True),
                             CompressedLayer.from_dense_codes(rng.integers(0, 16, (8, 40)), codebook,
                                                              rng.normal(0, 0.5, 8))])
    p = lower(net, cfg)
    x = rng.uniform(-2, 2, size=(64, 30))
    rep = golden.fixed_point_error(net, p, x)
    for layer in rep["layers"]:
        assert 0 < layer["max_abs"] <= layer["bound"]
    assert rep["final"]["max_abs"] < 0.05


def test_out_of_range_input_is_refused():
    cfg = small_cfg()
    with pytest.raises(FixedRangeError, match="input activation 40 does not fit signed 8-bit fixed point with 2"):
        golden.quantize_input(cfg, [1.0, 40.0])
    assert golden.quantize_input(cfg, [40.0], saturate_ok=True).tolist() == [127]
    cfg, net, p = one_layer([[1]], [0, 1.0])
    with pytest.raises(ValueError, match="takes 1 inputs"):
        golden.run(p, np.zeros(3, dtype=np.int64))
