"""Storage accounting of compiled images: bits per memory per layer, filler overhead, compression ratio.

Counted per layer (all bits are what the engine stores, summed over PEs):

* ``spmat_bits``: entries x (code_bits + rel_index_bits), filler entries included;
* ``filler_bits``: the part of ``spmat_bits`` spent on filler entries;
* ``ptr_bits``: ``(n_cols + 1)`` pointers per PE x ``ptr_bits`` (the pad pointer that keeps the next layer's base
  even is counted too);
* ``codebook_bits``: one codebook (``2**code_bits`` x ``weight_bits``; the engine holds a copy per PE, reported
  separately as ``codebook_bits_onchip``);
* ``bias_bits``: ``out_slots`` x ``n_pe`` x ``act_bits``;
* ``dense_fp32_bits``: ``n_in x n_out x 32`` (+ 32 per bias), the uncompressed reference.

``compression_ratio`` = dense_fp32_bits / (spmat + ptr + codebook + bias bits).

With ``huffman=True`` the code and relative-index streams are also counted Huffman-coded, code tables included
(:mod:`openeie.compiler.huffman`): ``code_bits_huffman``, ``index_bits_huffman``, ``total_bits_huffman`` and
``compression_ratio_huffman``.
"""

from __future__ import annotations

from openeie.program import Program

__all__ = ["layer_storage", "storage_report"]


def layer_storage(program: Program, index: int, huffman: bool = False) -> dict:
    cfg = program.config
    info = program.layers[index]
    n_ptr = info.n_cols + 1 + ((info.n_cols + 1) % 2)
    entries = int(info.entries.sum())
    out = {
        "name": info.name,
        "shape": [info.n_out, info.n_in],
        "nnz": info.nnz,
        "density": info.nnz / (info.n_in * info.n_out),
        "entries": entries,
        "fillers": info.n_fillers,
        "spmat_bits": entries * cfg.entry_bits,
        "filler_bits": info.n_fillers * cfg.entry_bits,
        "ptr_bits": n_ptr * cfg.n_pe * cfg.ptr_bits,
        "codebook_bits": cfg.codebook_size * cfg.weight_bits,
        "codebook_bits_onchip": cfg.codebook_size * cfg.weight_bits * cfg.n_pe,
        "bias_bits": info.out_slots * cfg.n_pe * cfg.act_bits if info.has_bias else 0,
        "dense_fp32_bits": 32 * info.n_in * info.n_out + (32 * info.n_out if info.has_bias else 0),
    }
    out["total_bits"] = out["spmat_bits"] + out["ptr_bits"] + out["codebook_bits"] + out["bias_bits"]
    out["filler_overhead"] = out["fillers"] / max(out["nnz"], 1)
    out["bits_per_weight"] = out["total_bits"] / max(out["nnz"], 1)
    out["compression_ratio"] = out["dense_fp32_bits"] / out["total_bits"]
    if huffman:
        from .huffman import layer_huffman_bits
        h = layer_huffman_bits(program, index)
        out["code_bits_huffman"] = h["code_bits_huffman"] + h["code_table_bits"]
        out["index_bits_huffman"] = h["index_bits_huffman"] + h["index_table_bits"]
        out["total_bits_huffman"] = (out["code_bits_huffman"] + out["index_bits_huffman"] + out["ptr_bits"]
                                     + out["codebook_bits"] + out["bias_bits"])
        out["compression_ratio_huffman"] = out["dense_fp32_bits"] / out["total_bits_huffman"]
    return out


def storage_report(program: Program, huffman: bool = False) -> dict:
    """Per-layer storage and network totals (see module docstring)."""
    layers = [layer_storage(program, i, huffman) for i in range(program.n_layers)]
    keys = ("nnz", "entries", "fillers", "spmat_bits", "filler_bits", "ptr_bits", "codebook_bits",
            "codebook_bits_onchip", "bias_bits", "dense_fp32_bits", "total_bits")
    if huffman:
        keys += ("code_bits_huffman", "index_bits_huffman", "total_bits_huffman")
    totals = {k: sum(l[k] for l in layers) for k in keys}
    totals["compression_ratio"] = totals["dense_fp32_bits"] / totals["total_bits"]
    if huffman:
        totals["compression_ratio_huffman"] = totals["dense_fp32_bits"] / totals["total_bits_huffman"]
    totals["filler_overhead"] = totals["fillers"] / max(totals["nnz"], 1)
    return {"layers": layers, "totals": totals}
