"""Canonical Huffman coding (round trip, optimality, prefix property) and exact entry streams of compiled layers."""

import heapq
import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openeie.compiler.huffman import (HuffmanError, canonical_codes, code_lengths, decode, encode,
                                      layer_entry_streams, layer_huffman_bits, payload_bits, table_bits)
from openeie.compiler.lower import lower
from openeie.compiler.network import CompressedLayer, CompressedNetwork
from openeie.config import EngineConfig

symbol_lists = st.lists(st.integers(-(2 ** 70), 2 ** 70) | st.integers(0, 5), max_size=200)


def ref_huffman_cost(counts):
    """Independent reference: the optimal total length is the sum of the weights of all merges."""
    if len(counts) <= 1:
        return sum(counts)          # a lone symbol costs one bit per occurrence
    heap = list(counts)
    heapq.heapify(heap)
    cost = 0
    while len(heap) > 1:
        a, b = heapq.heappop(heap), heapq.heappop(heap)
        cost += a + b
        heapq.heappush(heap, a + b)
    return cost


@pytest.mark.parametrize("symbols", [[], [0], [0] * 17, [7], [0, 1], [3, 0, 3, 0, 0, 9], list(range(300)),
                                     [-1, 0, 1, -(2 ** 63), 2 ** 63 - 1]])
def test_round_trip_named_cases(symbols):
    assert decode(encode(symbols)) == symbols


@given(symbol_lists)
@settings(max_examples=200, deadline=None)
def test_round_trip(symbols):
    assert decode(encode(symbols)) == symbols


@given(symbol_lists)
@settings(max_examples=200, deadline=None)
def test_optimal_prefix_code(symbols):
    counts = Counter(symbols)
    lengths = code_lengths(counts)
    codes = canonical_codes(lengths)
    bits = payload_bits(symbols)
    assert bits == sum(counts[s] * lengths[s] for s in counts) == ref_huffman_cost(list(counts.values()))
    words = sorted((format(c, f"0{n}b") for c, n in codes.values()))
    assert all(not b.startswith(a) for a, b in zip(words, words[1:]))      # prefix-free (sorted neighbours)
    if len(counts) >= 2:
        assert sum(2.0 ** -n for n in lengths.values()) == 1.0               # complete code
        n = len(symbols)
        entropy = -sum(c / n * math.log2(c / n) for c in counts.values())
        assert n * entropy - 1e-9 <= bits < n * (entropy + 1)


@given(symbol_lists)
@settings(max_examples=100, deadline=None)
def test_encoded_size_is_header_plus_payload(symbols):
    data = encode(symbols)
    if not symbols:
        assert data == b"\x00\x00"           # no symbols, empty code table, no payload
    else:
        assert len(data) - len(_header(symbols)) == -(-payload_bits(symbols) // 8)


def _header(symbols):
    """The header alone: encode's output for the same code table with an empty payload."""
    full = encode(symbols)
    counts = Counter(symbols)
    codes = canonical_codes(code_lengths(counts))
    out = bytearray()

    def varint(v):
        while True:
            b, v = v & 0x7F, v >> 7
            out.append(b | (0x80 if v else 0))
            if not v:
                return

    varint(len(symbols))
    varint(len(codes))
    for s, (_, length) in sorted(codes.items(), key=lambda it: (it[1][1], it[0])):
        varint(2 * s if s >= 0 else -2 * s - 1)
        varint(length)
    assert full.startswith(bytes(out))
    return bytes(out)


def test_numpy_input_and_payload_bits_agree():
    a = np.random.default_rng(0).integers(0, 16, 1000)
    assert payload_bits(a) == payload_bits(a.tolist())
    assert decode(encode(a)) == a.tolist()


def test_single_symbol_and_lengths():
    assert code_lengths({5: 10}) == {5: 1}
    assert code_lengths({}) == {}
    assert payload_bits([0, 0, 0]) == 3
    assert code_lengths({0: 1, 1: 1, 2: 2}) == {0: 2, 1: 2, 2: 1}
    assert canonical_codes({0: 2, 1: 2, 2: 1}) == {2: (0b0, 1), 0: (0b10, 2), 1: (0b11, 2)}
    assert table_bits(16) == 16 * 4 and table_bits(32) == 32 * 5


def test_errors():
    with pytest.raises(HuffmanError, match="symbol 1.5"):
        encode([1, 1.5])
    with pytest.raises(HuffmanError, match="count 0"):
        code_lengths({1: 0})
    data = encode([1, 2, 3, 1, 1, 2] * 10)
    with pytest.raises(HuffmanError, match="truncated"):
        decode(data[:-3])
    with pytest.raises(HuffmanError, match="truncated in the header"):
        decode(data[:1])
    with pytest.raises(HuffmanError, match="trailing"):
        decode(data + b"\x00")
    with pytest.raises(HuffmanError, match="invalid code"):
        decode(encode([4, 4])[:-1] + b"\xff")       # one-symbol code "0": a 1 bit is not a code


# ---- entry streams of compiled layers ----------------------------------------------------------------------

def ref_streams(codes, cfg):
    """Naive reference of the engine format: per PE (rows i mod n_pe), per column, walk the PE's rows; before a
    non-zero that follows z zero rows, emit z // 2**rel_index_bits fillers (0, max_rel), then (code, z mod
    2**rel_index_bits). Zeros after a column's last non-zero cost nothing (the column pointer ends it)."""
    n_out, n_in = codes.shape
    radix = 1 << cfg.rel_index_bits
    out_c, out_r = [], []
    for pe in range(cfg.n_pe):
        rows = codes[pe::cfg.n_pe]
        for j in range(n_in):
            zeros = 0
            for i in range(rows.shape[0]):
                if rows[i, j] == 0:
                    zeros += 1
                    continue
                for _ in range(zeros // radix):
                    out_c.append(0), out_r.append(radix - 1)
                out_c.append(int(rows[i, j])), out_r.append(zeros % radix)
                zeros = 0
    return np.array(out_c, dtype=np.int64), np.array(out_r, dtype=np.int64)


@pytest.mark.parametrize("n_pe, rel_bits, density", [(1, 2, 0.1), (1, 4, 0.05), (4, 2, 0.3), (3, 3, 0.02)])
def test_layer_streams_match_naive_format(n_pe, rel_bits, density):
    rng = np.random.default_rng(n_pe * 10 + rel_bits)
    cfg = EngineConfig(n_pe=n_pe, code_bits=4, rel_index_bits=rel_bits)
    mats = [rng.integers(1, 16, (37, 20)) * (rng.random((37, 20)) < density),
            rng.integers(1, 16, (9, 37)) * (rng.random((9, 37)) < 0.5)]
    net = CompressedNetwork([CompressedLayer.from_dense_codes(m, np.linspace(0, 1, 16), name=f"l{i}")
                             for i, m in enumerate(mats)])
    prog = lower(net, cfg)
    assert prog.layers[0].n_fillers > 0           # the cases exercise filler entries
    for i, m in enumerate(mats):
        codes, rels = layer_entry_streams(prog, i)
        ref_c, ref_r = ref_streams(m, cfg)
        np.testing.assert_array_equal(codes, ref_c)
        np.testing.assert_array_equal(rels, ref_r)
        h = layer_huffman_bits(prog, i)
        assert h["entries"] == len(ref_c) == prog.layers[i].nnz + prog.layers[i].n_fillers
        assert h["code_bits"] == 4 * len(ref_c) and h["index_bits"] == rel_bits * len(ref_c)
        assert h["code_bits_huffman"] == ref_huffman_cost(list(Counter(ref_c.tolist()).values()))
        assert h["index_bits_huffman"] == ref_huffman_cost(list(Counter(ref_r.tolist()).values()))
        assert h["code_table_bits"] == table_bits(16)
