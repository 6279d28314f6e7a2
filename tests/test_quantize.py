"""Linear quantisation: symmetric scales, activation calibration, the integer reference."""

import numpy as np
import pytest
import torch

from openeie.compiler.quantize import (CALIBRATIONS, calibrate, int_reference, qmax, quantize_symmetric,
                                       round_half_away, symmetric_scale)


def test_codes_and_rounding():
    assert [qmax(b) for b in (2, 4, 8)] == [1, 7, 127]
    assert round_half_away([-2.5, -1.5, -0.5, 0.5, 1.5, 2.49]).tolist() == [-3, -2, -1, 1, 2, 2]


def test_symmetric_weight_scales():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 10)) * np.arange(1, 7)[:, None]
    s = symmetric_scale(w)
    q = quantize_symmetric(w, s)
    assert s.shape == () and np.abs(q).max() == 127 and np.abs(w - q * s).max() <= s / 2 + 1e-12
    sc = symmetric_scale(w, per_channel=True)
    qc = quantize_symmetric(w, sc)
    assert sc.shape == (6,) and (np.abs(qc).max(axis=1) == 127).all()
    assert np.abs(w - qc * sc[:, None]).max(axis=1).tolist() <= (sc / 2 + 1e-12).tolist()
    assert np.abs(w - qc * sc[:, None]).mean() < np.abs(w - q * s).mean()   # per channel is finer here
    assert quantize_symmetric([1000.0, -1000.0], 1.0, 4).tolist() == [7, -7]  # saturates, symmetric
    assert symmetric_scale(np.zeros((2, 3)), per_channel=True).tolist() == [1.0, 1.0]


def test_calibration_thresholds():
    rng = np.random.default_rng(1)
    gauss = rng.normal(size=200_000)
    x = np.concatenate([gauss, [60.0, -50.0]])
    assert calibrate(x, "max") == 60.0
    assert calibrate(x, "percentile", percentile=99.9) == pytest.approx(np.percentile(np.abs(x), 99.9))
    t = calibrate(x, "entropy")
    assert 2.5 < t < 6.0                                # clips the two outliers, keeps the Gaussian's bulk
    uniform = rng.uniform(-1, 1, size=200_000)
    assert calibrate(uniform, "entropy") > 0.95         # nothing to clip: (nearly) the maximum
    assert calibrate(np.zeros(10), "entropy") == 1.0
    assert set(CALIBRATIONS) == {"max", "percentile", "entropy"}


def test_int_reference_by_hand():
    """One layer small enough to follow by hand: x = [1, -2] at scale 0.5 is [2, -4]; w at scale 2/127 is
    [[64, 32], [-64, 127]]; the bias goes in at the accumulator's scale, the sum is requantised to 0.25."""
    w = np.array([[1.0, 0.5], [-1.0, 2.0]])
    b = np.array([0.25, -0.5])
    s_w = symmetric_scale(w)                            # 2 / 127
    s_x, s_y = 0.5, 0.25
    out, acts = int_reference([w], [b], [True], np.array([[1.0, -2.0]]), [s_w], [s_x, s_y])
    xq = np.array([2, -4])
    wq = np.array([[64, 32], [-64, 127]])               # round(1 * 63.5) = 64, round(0.5 * 63.5) = 32 (31.75)
    acc = wq @ xq + np.array([round_half_away(0.25 / (s_w * s_x)), round_half_away(-0.5 / (s_w * s_x))])
    want = np.maximum(round_half_away(acc * (s_w * s_x / s_y)), 0)
    assert acts[0].tolist() == [xq.tolist()] and out.tolist() == [want.tolist()]


def test_int8_reference_keeps_the_digits_mlp_accuracy():
    from openeie.compiler.digits import digits_mlp, load_digits_split
    from openeie.compiler.prune import accuracy, train_epochs
    x_tr, y_tr, x_te, y_te = load_digits_split()
    model = digits_mlp((64, 64, 32, 10), seed=0)
    train_epochs(model, (x_tr, y_tr), 15, lr=3e-3)
    model.eval()
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    ws = [m.weight.detach().double().numpy() for m in linears]
    bs = [m.bias.detach().double().numpy() for m in linears]
    relus = [True, True, False]
    # activation thresholds calibrated on training images, layer by layer through the float model
    h, acts = x_tr.astype(np.float64), [x_tr]
    for w, b, r in zip(ws, bs, relus):
        h = h @ w.T + b
        h = np.maximum(h, 0) if r else h
        acts.append(h)
    float_acc = accuracy(model, (x_te, y_te))
    for method in CALIBRATIONS:
        scales = [calibrate(a, method) / 127 for a in acts]
        for per_channel in (False, True):
            out, _ = int_reference(ws, bs, relus, x_te, [symmetric_scale(w, per_channel=per_channel) for w in ws],
                                   scales)
            acc = float(np.mean(np.argmax(out, axis=1) == y_te))
            assert acc >= float_acc - 0.015, (method, per_channel, acc, float_acc)
