"""Encode -> images -> decode round trip, over all bit widths and n_pe 1..64, with the edge shapes by name."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from openeie.compiler.images import container_bytes, program_from_bytes
from openeie.compiler.lower import decode, lower
from openeie.compiler.network import CompressedLayer, CompressedNetwork, NetworkError
from openeie.config import EngineConfig
from openeie.layout import Mem


def make_cfg(n_pe=4, code_bits=4, rel_index_bits=4, entries_per_word=None, **kw):
    if entries_per_word is None:
        entries_per_word = max(1, min(16, 64 // (code_bits + rel_index_bits)))
    base = dict(spmat_depth_words=1 << 14, ptr_depth=1 << 12, act_depth=256, bias_depth=1024, max_layers=8)
    base.update(kw)
    return EngineConfig(n_pe=n_pe, code_bits=code_bits, rel_index_bits=rel_index_bits,
                        entries_per_word=entries_per_word, **base)


def codebook(cfg):
    k = cfg.codebook_size
    return np.concatenate([[0.0], np.linspace(-1, 1, k - 1)])


def round_trip(cfg, mats, through_container=True):
    cb = codebook(cfg)
    net = CompressedNetwork([CompressedLayer.from_dense_codes(m, cb, relu=True, name=f"l{i}")
                             for i, m in enumerate(mats)])
    program = lower(net, cfg)
    if through_container:
        program = program_from_bytes(container_bytes(program), cfg)
    decoded = decode(program)
    for m, d in zip(mats, decoded):
        assert np.array_equal(m, d)
    return program


@st.composite
def configs(draw):
    code_bits = draw(st.integers(2, 8))
    rel_bits = draw(st.integers(2, 8))
    epw = draw(st.integers(1, 64 // (code_bits + rel_bits)))
    return make_cfg(n_pe=draw(st.integers(1, 64)), code_bits=code_bits, rel_index_bits=rel_bits,
                    entries_per_word=epw)


@st.composite
def code_matrix(draw, cfg, n_in=None):
    n_out = draw(st.integers(1, 90))
    n_in = n_in if n_in is not None else draw(st.integers(1, 24))
    density = draw(st.sampled_from([0.0, 0.02, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    m = rng.integers(1, cfg.codebook_size, size=(n_out, n_in)) * (rng.random((n_out, n_in)) < density)
    return m


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_round_trip_random(data):
    cfg = data.draw(configs())
    m1 = data.draw(code_matrix(cfg))
    mats = [m1]
    if data.draw(st.booleans()):
        mats.append(data.draw(code_matrix(cfg, n_in=m1.shape[0])))
    round_trip(cfg, mats)


GAP_CFG = dict(n_pe=1, code_bits=2, rel_index_bits=2)   # max_rel = 3, radix 4


def single_column(rows, n_out):
    m = np.zeros((n_out, 1), dtype=np.int64)
    m[rows, 0] = 1
    return m


NAMED = {
    "empty_columns": (dict(n_pe=3), np.array([[0, 1, 0, 0], [0, 0, 0, 2], [0, 3, 0, 0], [0, 0, 0, 1]])),
    "full_columns": (dict(n_pe=4), np.ones((13, 5), dtype=np.int64) * 2),
    "gap_exactly_range": (GAP_CFG, single_column([4], 8)),          # 4 zeros before: one filler, rel 0
    "gap_one_below_range": (GAP_CFG, single_column([3], 8)),        # 3 zeros: no filler, rel 3
    "gap_more_than_range": (GAP_CFG, single_column([0, 13], 20)),   # 12 zeros: three fillers
    "gap_many_ranges": (dict(n_pe=2, code_bits=3, rel_index_bits=2), single_column([1, 61, 63], 64)),
    "single_row": (dict(n_pe=4), np.array([[1, 0, 2, 3, 0, 1]])),
    "single_column": (dict(n_pe=4), single_column([0, 5, 9], 11)),
    "n_pe_greater_than_rows": (dict(n_pe=64), np.array([[1, 2], [0, 3], [3, 0]])),
    "all_zero_matrix": (dict(n_pe=4), np.zeros((9, 7), dtype=np.int64)),
    "one_by_one": (dict(n_pe=1), np.array([[1]])),
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_round_trip_named_edge_shapes(name):
    kw, m = NAMED[name]
    round_trip(make_cfg(**kw), [m])


def entries_of(program, pe=0, layer=0):
    d = program.decoded.layers[layer]
    mine = d.pe == pe
    return list(zip(d.col[mine].tolist(), d.slot[mine].tolist(), d.code[mine].tolist()))


def test_filler_encoding_is_exact():
    cfg = make_cfg(**GAP_CFG)
    # rows 0 and 13 of one column: 12 zeros in between = 3 fillers (each covers 4 slots), then rel 0
    p = round_trip(cfg, [single_column([0, 13], 20)])
    assert p.layers[0].n_fillers == 3
    assert entries_of(p) == [(0, 0, 1), (0, 4, 0), (0, 8, 0), (0, 12, 0), (0, 13, 1)]
    # exactly 4 zeros before the first entry: one filler at slot 3, entry at slot 4
    p = round_trip(cfg, [single_column([4], 8)])
    assert entries_of(p) == [(0, 3, 0), (0, 4, 1)]
    # 3 zeros: fits the index, no filler
    p = round_trip(cfg, [single_column([3], 8)])
    assert p.layers[0].n_fillers == 0 and entries_of(p) == [(0, 3, 1)]


def test_pointers_even_odd_banks():
    cfg = make_cfg(n_pe=2)
    m = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 0, 1]])
    p = round_trip(cfg, [m])
    # PE 0 holds rows 0 and 2: column entry counts 2, 1, 2 -> pointers 0 2 3 5 (+ pad 5)
    assert p.mems[Mem.PTR_EVEN][0, :2].tolist() == [0, 3]
    assert p.mems[Mem.PTR_ODD][0, :2].tolist() == [2, 5]
    # PE 1 holds rows 1 and 3: counts 0, 0, 1
    assert p.mems[Mem.PTR_EVEN][1, :2].tolist() == [0, 0]
    assert p.mems[Mem.PTR_ODD][1, :2].tolist() == [0, 1]


def test_multi_layer_bases_and_descriptors():
    cfg = make_cfg(n_pe=3)
    rng = np.random.default_rng(1)
    mats = [rng.integers(0, 16, (7, 5)), rng.integers(0, 16, (4, 7)), rng.integers(0, 16, (2, 4))]
    p = round_trip(cfg, mats)
    d = p.descriptors()
    assert [x["in_groups"] for x in d] == [2, 3, 2]
    assert [x["out_slots"] for x in d] == [3, 2, 1]
    assert [x["ptr_base"] % 2 for x in d] == [0, 0, 0]
    assert d[1]["ptr_base"] == 6 + 1 + 1          # 6 columns + 1 pointer, padded to even
    assert [x["bias_base"] for x in d] == [0, 3, 5]


def test_custom_row_assignment_round_trips():
    cfg = make_cfg(n_pe=2)
    rng = np.random.default_rng(2)
    m1, m2 = rng.integers(0, 16, (5, 4)), rng.integers(0, 16, (3, 5))
    cb = codebook(cfg)
    net = CompressedNetwork([CompressedLayer.from_dense_codes(m1, cb, name="a"),
                             CompressedLayer.from_dense_codes(m2, cb, name="b")])
    assign = [(np.array([1, 1, 1, 0, 0]), np.array([0, 1, 2, 0, 1])), None]
    p = lower(net, cfg, assign)
    d = decode(program_from_bytes(container_bytes(p)))
    assert np.array_equal(d[0], m1) and np.array_equal(d[1], m2)
    assert p.layers[1].in_pos.tolist() == [1, 3, 5, 0, 2]


@pytest.mark.parametrize("bad,match", [
    (lambda: CompressedLayer.from_dense_codes([[1, 2]], [0.5, 1, 2]), r"codebook\[0\] = 0.5: expected 0.0"),
    (lambda: CompressedLayer.from_dense_codes([[1, 5]], [0, 1, 2]), r"weight code 5 out of range 1..2"),
    (lambda: CompressedLayer.from_dense_codes([[1, 2]], [0, 1, 2], bias=[1, 2]), "bias has 2 values: expected 1"),
    (lambda: CompressedNetwork([CompressedLayer.from_dense_codes([[1, 2]], [0, 1, 2]),
                                CompressedLayer.from_dense_codes([[1, 2]], [0, 1, 2])]),
     "takes 2 inputs but layer"),
])
def test_malformed_layers_are_refused(bad, match):
    with pytest.raises(NetworkError, match=match):
        bad()


def test_layers_that_do_not_fit_are_refused():
    cfg = make_cfg(n_pe=2, code_bits=2)
    big_cb = CompressedLayer.from_dense_codes([[1]], np.arange(5) * 0.1)
    with pytest.raises(NetworkError, match="codebook has 5 entries but the engine's code_bits=2 allows at most 4"):
        lower([big_cb], cfg)
    wide = CompressedLayer.from_dense_codes([[1]], [0, 100.0, 1, 2])
    with pytest.raises(NetworkError, match="codebook value 100 does not fit signed 16-bit fixed point"):
        lower([wide], cfg)
    small = make_cfg(n_pe=2, spmat_depth_words=1, entries_per_word=2)
    with pytest.raises(NetworkError, match="needs 3 sparse-matrix words per PE: the engine has spmat_depth_words=1"):
        lower([CompressedLayer.from_dense_codes(np.ones((2, 6), dtype=int), [0, 1, 2, 3])], small)
    with pytest.raises(NetworkError, match="exceed act_depth=2"):
        lower([CompressedLayer.from_dense_codes(np.ones((2, 6), dtype=int), [0, 1, 2, 3])], make_cfg(n_pe=2, act_depth=2))


def test_from_float_quantises_to_nearest_nonzero_code():
    cb = np.array([0.0, -0.5, 0.25, 1.0])
    w = np.array([[0.0, 0.01, -0.4, 0.7], [0.3, 0.0, -1.9, 2.4]])
    layer = CompressedLayer.from_float(w, cb)
    expect = np.array([[0, 2, 1, 3], [2, 0, 1, 3]])
    assert np.array_equal(layer.dense_codes(), expect)
    # farther from the codebook than its span (1.5): refused, naming the weight
    with pytest.raises(NetworkError, match=r"weight\[1, 3\] = 5 lies far outside the codebook \(-0.5 .. 1\)"):
        CompressedLayer.from_float(w + np.array([[0, 0, 0, 0], [0, 0, 0, 2.6]]), cb)
    with pytest.raises(NetworkError, match=r"weight\[0, 1\] = nan: expected a finite number"):
        CompressedLayer.from_float(np.where(w == 0.01, np.nan, w), cb)
