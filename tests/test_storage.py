import numpy as np

from openeie.compiler.lower import lower
from openeie.compiler.network import CompressedLayer
from openeie.compiler.storage import storage_report
from openeie.config import EngineConfig


def test_storage_counts_by_hand():
    cfg = EngineConfig(n_pe=2, code_bits=2, rel_index_bits=2, entries_per_word=4, spmat_depth_words=15,
                       ptr_depth=16, act_depth=8, bias_depth=8, max_layers=1)
    codes = np.zeros((12, 3), dtype=np.int64)
    codes[0, 0] = 1
    codes[10, 0] = 2          # PE 0 slots 0 and 5: gap 4 = one filler
    codes[3, 1] = 3           # PE 1 slot 1
    layer = CompressedLayer.from_dense_codes(codes, [0, 1.0, -1.0, 0.5], bias=np.ones(12))
    rep = storage_report(lower([layer], cfg))
    l = rep.layers[0]
    assert (l.nnz, l.fillers, l.entries) == (3, 1, 4)
    assert l.spmat_bits == 4 * 4 and l.filler_bits == 4
    # 2 groups x 2 PEs = 4 columns -> 5 pointers, padded to 6, per PE, of ptr_bits = bits(60) = 6
    assert cfg.ptr_bits == 6 and l.pointer_bits == 6 * 2 * 6
    assert l.codebook_bits == 4 * 16 and l.bias_bits == 6 * 2 * 16
    assert l.dense_fp32_bits == 32 * 36 + 32 * 12
    assert l.compression_ratio == l.dense_fp32_bits / (16 + 72 + 64 + 192)
    assert rep.total.total_bits == l.total_bits and rep.total.total_huffman_bits is None
    j = rep.to_json()["layers"][0]
    assert (j["code_width_bits"], j["index_width_bits"], j["total_bits"]) == (2, 2, l.total_bits)
