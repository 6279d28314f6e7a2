"""Canonical Huffman coding of integer symbols (Deep Compression stage 3) and exact bit counts of compiled layers.

Code construction: the classic Huffman merge of the two lightest subtrees (ties broken deterministically by
the smallest symbol in the subtree), keeping only each symbol's code length; codes are then assigned
canonically (sorted by length, then symbol value, consecutive integers, MSB first). A one-symbol alphabet gets
a 1-bit code, so every coded symbol costs at least one bit (as in DEFLATE).

Byte format of :func:`encode` (all integers are LEB128 varints, symbols zig-zag mapped so negatives work)::

    n_symbols  n_distinct  (symbol, code_length) * n_distinct in canonical order  payload (MSB first, 0-padded)

Storage reports use :func:`payload_bits` (exactly the payload's bit length) plus :func:`table_bits` (the code
lengths of a fixed alphabet, as a hardware decoder would hold them).
"""

from __future__ import annotations

import heapq
from collections import Counter

import numpy as np

from openeie.errors import OpenEIEError
from openeie.layout import bits_for

__all__ = ["HuffmanError", "code_lengths", "canonical_codes", "encode", "decode", "payload_bits", "table_bits",
           "layer_entry_streams", "layer_huffman_bits"]


class HuffmanError(OpenEIEError, ValueError):
    """Malformed Huffman input or encoded data."""


def _symbols(symbols) -> list:
    out = []
    for s in (np.asarray(symbols).ravel().tolist() if isinstance(symbols, np.ndarray) else symbols):
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise HuffmanError(f"symbol {s!r} is a {type(s).__name__}: expected an integer")
        out.append(int(s))
    return out


def code_lengths(counts) -> dict:
    """Huffman code length (bits) of every symbol of ``counts`` (``{symbol: occurrences > 0}``)."""
    counts = {int(s): int(c) for s, c in dict(counts).items()}
    for s, c in counts.items():
        if c <= 0:
            raise HuffmanError(f"symbol {s} has count {c}: expected a positive count")
    if not counts:
        return {}
    if len(counts) == 1:
        return {next(iter(counts)): 1}
    # heap items: (weight, smallest symbol in subtree, symbols in subtree)
    heap = [(c, s, [s]) for s, c in counts.items()]
    heapq.heapify(heap)
    lengths = dict.fromkeys(counts, 0)
    while len(heap) > 1:
        w1, k1, s1 = heapq.heappop(heap)
        w2, k2, s2 = heapq.heappop(heap)
        for s in s1:
            lengths[s] += 1
        for s in s2:
            lengths[s] += 1
        heapq.heappush(heap, (w1 + w2, min(k1, k2), s1 + s2))
    return lengths


def canonical_codes(lengths) -> dict:
    """``{symbol: (code, length)}`` of the canonical prefix code with the given lengths (bits)."""
    order = sorted(lengths.items(), key=lambda item: (item[1], item[0]))
    codes = {}
    code = 0
    prev_len = order[0][1] if order else 0
    for s, length in order:
        if length < 1:
            raise HuffmanError(f"symbol {s} has code length {length}: expected at least 1 bit")
        code <<= length - prev_len
        if code >> length:
            raise HuffmanError(f"code lengths {dict(lengths)} violate the Kraft inequality")
        codes[s] = (code, length)
        code += 1
        prev_len = length
    return codes


def payload_bits(symbols) -> int:
    """Exact payload length in bits of the Huffman coding of ``symbols`` (header not included)."""
    if isinstance(symbols, np.ndarray) and np.issubdtype(symbols.dtype, np.integer):
        values, occurrences = np.unique(symbols, return_counts=True)
        counts = dict(zip(values.tolist(), occurrences.tolist()))
    else:
        counts = Counter(_symbols(symbols))
    lengths = code_lengths(counts)
    return sum(counts[s] * lengths[s] for s in counts)


def table_bits(alphabet_size: int) -> int:
    """Bits of a canonical code table over a fixed alphabet of ``alphabet_size`` symbols: one code length per
    symbol (0 = absent), each in ``bits_for(alphabet_size - 1)`` bits (the longest possible Huffman code)."""
    if alphabet_size < 1:
        raise HuffmanError(f"alphabet_size={alphabet_size}: expected at least 1")
    return alphabet_size * bits_for(max(alphabet_size - 1, 1))


# ---- byte encoding -------------------------------------------------------------------------------------------

def _put_varint(out: bytearray, value: int) -> None:
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _get_varint(data: bytes, pos: int):
    value = shift = 0
    while True:
        if pos >= len(data):
            raise HuffmanError(f"encoded data truncated in the header at byte {pos}")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _zigzag(s: int) -> int:
    return 2 * s if s >= 0 else -2 * s - 1


def _unzigzag(z: int) -> int:
    return z // 2 if z % 2 == 0 else -(z + 1) // 2


def encode(symbols) -> bytes:
    """Huffman-encode a sequence of integers (any sign and size) into self-describing bytes."""
    syms = _symbols(symbols)
    counts = Counter(syms)
    codes = canonical_codes(code_lengths(counts))
    out = bytearray()
    _put_varint(out, len(syms))
    _put_varint(out, len(codes))
    for s, (_, length) in sorted(codes.items(), key=lambda item: (item[1][1], item[0])):
        _put_varint(out, _zigzag(s))
        _put_varint(out, length)
    if syms:
        code_arr = np.array([codes[s][0] for s in syms], dtype=object)
        len_arr = np.array([codes[s][1] for s in syms], dtype=np.int64)
        total = int(len_arr.sum())
        starts = np.concatenate([[0], np.cumsum(len_arr)[:-1]])
        offset = np.arange(total, dtype=np.int64) - np.repeat(starts, len_arr)
        shift = np.repeat(len_arr, len_arr) - 1 - offset
        rep = np.repeat(code_arr, len_arr)
        bits = np.array([(int(c) >> int(k)) & 1 for c, k in zip(rep, shift)], dtype=np.uint8) \
            if len_arr.max() > 62 else ((rep.astype(np.int64) >> shift) & 1).astype(np.uint8)
        out += np.packbits(bits).tobytes()
    return bytes(out)


def decode(data: bytes) -> list:
    """Inverse of :func:`encode`: the list of integers."""
    data = bytes(data)
    n, pos = _get_varint(data, 0)
    m, pos = _get_varint(data, pos)
    lengths = {}
    for _ in range(m):
        z, pos = _get_varint(data, pos)
        length, pos = _get_varint(data, pos)
        s = _unzigzag(z)
        if s in lengths:
            raise HuffmanError(f"encoded data lists symbol {s} twice in its code table")
        lengths[s] = length
    if n and not lengths:
        raise HuffmanError(f"encoded data has {n} symbols but an empty code table")
    codes = canonical_codes(lengths)
    lookup = {(length, code): s for s, (code, length) in codes.items()}
    max_len = max(lengths.values(), default=0)
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8, offset=pos)).tolist()
    out = []
    i = 0
    for _ in range(n):
        code = length = 0
        while True:
            if i >= len(bits):
                raise HuffmanError(f"encoded data truncated: payload ends after {len(out)} of {n} symbols")
            code = (code << 1) | bits[i]
            i += 1
            length += 1
            s = lookup.get((length, code))
            if s is not None:
                out.append(s)
                break
            if length >= max_len:
                raise HuffmanError(f"encoded data holds an invalid code at payload bit {i - length}")
    if len(bits) - i >= 8 or any(bits[i:]):
        raise HuffmanError(f"encoded data has {len(bits) - i} trailing payload bits: expected only zero padding")
    return out


# ---- compiled layers -----------------------------------------------------------------------------------------

def layer_entry_streams(program, index: int):
    """Weight codes and relative indices of every sparse-matrix entry of one compiled layer (fillers included).

    Read back from the program's sparse-matrix memory (:attr:`Program.decoded`; PE 0's entries first, then
    PE 1's, ...).

    Returns
    -------
    codes, rels : numpy.ndarray of int64
    """
    layer = program.decoded.layers[index]
    return layer.code, layer.rel


def layer_huffman_bits(program, index: int) -> dict:
    """Exact storage of one compiled layer's entries, plain and Huffman coded, in bits.

    Returns
    -------
    dict
        ``entries`` (count, fillers included), ``code_bits`` / ``index_bits`` (plain: entries x field width),
        ``code_bits_huffman`` / ``index_bits_huffman`` (payload bits of one Huffman code per stream over the
        whole layer), ``code_table_bits`` / ``index_table_bits`` (their code tables, see :func:`table_bits`).
    """
    cfg = program.config
    codes, rels = layer_entry_streams(program, index)
    return {
        "entries": int(len(codes)),
        "code_bits": int(len(codes)) * cfg.code_bits,
        "index_bits": int(len(rels)) * cfg.rel_index_bits,
        "code_bits_huffman": payload_bits(codes),
        "index_bits_huffman": payload_bits(rels),
        "code_table_bits": table_bits(cfg.codebook_size),
        "index_table_bits": table_bits(cfg.max_rel_index + 1),
    }
