"""The golden model's fast accumulation against a plain saturating replay, and ``openeie bench sim``."""

import numpy as np
import pytest

from openeie.fixed import fixed_range
from openeie.flows.bench import bench_sim
from openeie.report.tables import bench_sim_lines
from openeie.sim import golden


class _Acc:
    """The one configuration field step 2 reads."""

    def __init__(self, acc_bits):
        self.acc_bits = acc_bits


def ref_accumulate(acc_bits, entries, columns, init):
    """Step 2 of the golden model's arithmetic, entry by entry in Python integers: for every input row b and
    output position r, ``acc = sat(acc + w * x)`` over r's entries in order; counts the clamps per input."""
    lo, hi = fixed_range(acc_bits)
    pos, col, w = entries
    acc = init.astype(object).copy()
    clamps = [0] * columns.shape[0]
    for b in range(columns.shape[0]):
        for r, c, weight in zip(pos.tolist(), col.tolist(), w.tolist()):
            value = acc[r, b] + weight * int(columns[b, c])
            if value < lo or value > hi:
                value = min(max(value, lo), hi)
                clamps[b] += 1
            acc[r, b] = value
    return acc.astype(np.int64), np.array(clamps, dtype=np.int64)


def random_case(rng, acc_bits, n_rows, n_cols, m, density, weight_scale, x_scale):
    mask = rng.random((n_rows, n_cols)) < density
    pos, col = np.nonzero(mask)                                # sorted by row, then column
    w = rng.integers(-weight_scale, weight_scale + 1, len(pos))
    columns = rng.integers(-x_scale, x_scale + 1, (m, n_cols))
    columns[rng.random((m, n_cols)) < 0.4] = 0                 # zero inputs, as the broadcast skips them
    lo, hi = fixed_range(acc_bits)
    init = rng.integers(lo // 2, hi // 2 + 1, (n_rows, m))
    return (pos, col, w), columns, init


@pytest.fixture(params=["float", "int64"])
def path(request, monkeypatch):
    """Both exact paths of step 2: the float64 CSR mat-vec with a bound screen, and the int64 prefix sums."""
    if request.param == "int64":
        monkeypatch.setattr(golden, "_FLOAT_EXACT", 0)
    return request.param


def test_accumulate_equals_saturating_replay_dense(path, monkeypatch):
    """Hundreds of seeded cases from never-saturating to mostly saturating, one input and several."""
    rng = np.random.default_rng(15)
    saturated = tabled = 0
    taken = []                                                 # saturating or not, per bounded-path call
    bounded = golden._bounded_accumulate_chunk

    def spy(order, columns, acc, lo, hi):
        out = bounded(order, columns, acc, lo, hi)
        taken.append(out is not None)
        return out
    monkeypatch.setattr(golden, "_bounded_accumulate_chunk", spy)
    for case in range(400):
        acc_bits = int(rng.integers(4, 49))
        hi = fixed_range(acc_bits)[1]
        weight_scale = max(1, int(hi >> int(rng.integers(0, 10))) // 8)
        entries, columns, init = random_case(rng, acc_bits, int(rng.integers(1, 24)), int(rng.integers(1, 40)),
                                             int(rng.integers(1, 4)), float(rng.uniform(0.05, 1.0)),
                                             weight_scale, 15)
        want = ref_accumulate(acc_bits, entries, columns, init)
        got = golden._accumulate_chunk(_Acc(acc_bits), entries, columns, init.copy())
        plain = golden._reference_accumulate_chunk(_Acc(acc_bits), entries, columns, init.copy())
        results = [got, plain]
        if columns.shape[0] == 1:                              # the decoded layers' form: codebook and indices
            pos, col, w = entries
            codebook, code = np.unique(w, return_inverse=True)
            order = golden._Order(pos, codebook=codebook, table_index=code * columns.shape[1] + col,
                                  n_cols=columns.shape[1])
            results.append(golden._accumulate_chunk(_Acc(acc_bits), order, columns, init.copy()))
            tabled += 1
        for result in results:
            assert np.array_equal(result[0], want[0]), case
            assert np.array_equal(result[1], want[1]), case
        saturated += int(want[1].sum() > 0)
    assert 80 < saturated < 360 and tabled > 100               # the corpus has both kinds, and one-input cases
    if path == "float":                                        # the float path screens most, takes some
        assert len(taken) > 250 and 40 < sum(taken) < len(taken) - 40, (len(taken), sum(taken))
    else:
        assert not taken


@pytest.mark.parametrize("name", ["all_clamp", "clamp_then_recover", "single_entry", "empty"])
def test_accumulate_named_edges(name, path):
    lo, hi = fixed_range(8)
    if name == "all_clamp":             # every addition leaves the range, alternately at both ends
        entries = (np.zeros(6, np.int64), np.arange(6), np.array([100, 100, -300, -300, 300, 300]))
        columns = np.ones((1, 6), np.int64)
    elif name == "clamp_then_recover":  # clamped at hi, then products bring it back in range
        entries = (np.zeros(4, np.int64), np.arange(4), np.array([200, -50, -50, 10]))
        columns = np.ones((1, 4), np.int64)
    elif name == "single_entry":
        entries = (np.array([1]), np.array([0]), np.array([-1000]))
        columns = np.array([[3]])
    else:
        entries = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
        columns = np.ones((2, 3), np.int64)
    init = np.full((2, columns.shape[0]), 5, dtype=np.int64)
    want = ref_accumulate(8, entries, columns, init)
    got = golden._accumulate_chunk(_Acc(8), entries, columns, init.copy())
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert lo <= got[0].min() and got[0].max() <= hi


def test_wide_products_take_the_wrapping_path():
    """``nnz * max|w| * max|x| >= 2**62``: the prefix sums may wrap; the result is still exact."""
    rng = np.random.default_rng(3)
    n_cols = 64
    pos, col = np.repeat(np.arange(4), n_cols), np.tile(np.arange(n_cols), 4)
    w = rng.integers(-(1 << 23), 1 << 23, len(pos))
    columns = rng.integers(-(1 << 23), 1 << 23, (2, n_cols))
    init = np.zeros((4, 2), dtype=np.int64)
    want = ref_accumulate(48, (pos, col, w), columns, init)
    got = golden._accumulate_chunk(_Acc(48), (pos, col, w), columns, init.copy())
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_layer_entries_match_the_decoded_order():
    from openeie.compiler.benchmarks import EIE_LAYERS
    from openeie.flows.bench import eie_config, eie_layer_program
    import dataclasses
    bl = dataclasses.replace(EIE_LAYERS[2], n_in=300, n_out=90)
    program, _, _ = eie_layer_program(bl, eie_config(8, 4))
    fast = golden.layer_entries(program, 0)
    slow = program.decoded.layers[0].real_entries
    assert all(np.array_equal(a, b) for a, b in zip(fast, slow))


def test_bench_sim_small():
    r = bench_sim(n_pe=8, repeats=1, scale=16)
    assert r["layer"] == "Alex-8" and r["shape"] == [1000 // 16, 4096 // 16]
    for key in ("timing_s", "outputs_s", "first_outputs_s", "scipy_s", "outputs_over_timing", "outputs_over_scipy"):
        assert r[key] >= 0
    lines = bench_sim_lines(r)
    assert "with outputs / timing only" in lines[-1]


def test_bench_sim_unknown_layer():
    from openeie.errors import InputError
    with pytest.raises(InputError, match="unknown EIE layer"):
        bench_sim(layer="Alex-9", repeats=1, scale=16)


def test_accumulate_initial_value_out_of_range(path):
    """An initial value outside the accumulator's range (the images never give one) clamps at every entry."""
    entries = (np.zeros(3, np.int64), np.arange(3), np.array([0, 0, 1]))
    columns = np.ones((1, 3), np.int64)
    init = np.array([[1000]], dtype=np.int64)
    want = ref_accumulate(8, entries, columns, init)
    got = golden._accumulate_chunk(_Acc(8), entries, columns, init.copy())
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
