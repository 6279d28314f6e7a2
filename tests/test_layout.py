import numpy as np
from hypothesis import given, settings, strategies as st

from openeie.config import EngineConfig
from openeie.layout import (entry_layout, load_word_layout, pack_entries, pack_struct, spmat_word_layout, to_signed,
                            to_unsigned, unpack_entries, unpack_struct, layer_desc_layout, Mem)


def test_entry_code_is_in_the_lsbs():
    c = EngineConfig(code_bits=4, rel_index_bits=4)
    lay = entry_layout(c)
    assert lay["code"].offset == 0 and lay["rel"].offset == 4
    words = pack_entries(c, [0x3, 0x1], [0xA, 0x2])
    assert int(words[0]) == 0x2_1_A_3


def test_word_layout_matches_packer():
    c = EngineConfig(code_bits=5, rel_index_bits=3, entries_per_word=5)
    assert spmat_word_layout(c).size == 40
    codes, rels = [1, 31, 0, 7, 2, 9], [7, 0, 5, 1, 3, 4]
    words = pack_entries(c, codes, rels)
    assert len(words) == 2
    # entry 1 of word 0 sits at bits 8..15: code in 8..12, rel in 13..15
    assert (int(words[0]) >> 8) & 0x1F == 31 and (int(words[0]) >> 13) & 0x7 == 0
    c2, r2 = unpack_entries(c, words, 6)
    assert list(c2) == codes and list(r2) == rels


@given(st.integers(2, 24), st.lists(st.integers(-(1 << 23), (1 << 23) - 1), max_size=20))
def test_signed_round_trip(bits, values):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    v = np.clip(np.array(values, dtype=np.int64), lo, hi)
    assert np.array_equal(to_signed(to_unsigned(v, bits), bits), v)


def test_struct_pack_refuses_overflow():
    c = EngineConfig()
    lay = layer_desc_layout(c)
    import pytest
    with pytest.raises(ValueError, match="does not fit"):
        pack_struct(lay, in_groups=[1 << 20], out_slots=[0], ptr_base=[0], bias_base=[0], relu=[0])
    w = pack_struct(lay, in_groups=[3], out_slots=[5], ptr_base=[8], bias_base=[2], relu=[1])
    f = unpack_struct(lay, w)
    assert [int(f[k][0]) for k in ("in_groups", "out_slots", "ptr_base", "bias_base", "relu")] == [3, 5, 8, 2, 1]


def test_load_word_holds_every_memory():
    c = EngineConfig(n_pe=5)
    lay = load_word_layout(c)
    assert lay["mem"].shape.width >= (len(Mem) - 1).bit_length()
    assert lay["pe"].shape.width == 3
    assert lay["data"].shape.width == 64


def test_wide_words_are_never_truncated():
    import pytest
    from openeie.layout import pack_word
    from openeie.program import Program
    c = EngineConfig()                          # 64-bit sparse-matrix words: an 86-bit load word
    lay = load_word_layout(c)
    assert lay.size > 64
    with pytest.raises(ValueError, match="does not fit uint64 words: use pack_word"):
        pack_struct(lay, data=[1], addr=[2], pe=[3], mem=[4])
    w = pack_word(lay, data=(1 << 64) - 1, addr=5, pe=63, mem=int(Mem.BIAS))
    assert (w >> lay["mem"].offset) == int(Mem.BIAS) and (w >> lay["pe"].offset) & 63 == 63
    assert (w >> lay["addr"].offset) & 0xF == 5 and w & ((1 << 64) - 1) == (1 << 64) - 1
    with pytest.raises(ValueError, match="field 'pe' value 64 does not fit 6 bits"):
        pack_word(lay, data=0, addr=0, pe=64, mem=0)
