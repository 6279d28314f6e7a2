"""The compiled images of a network: what the engine's load port consumes, word for word.

Storage order. Activations of one layer live spread over the PEs: storage position ``k`` is activation
address ``k // n_pe`` of PE ``k % n_pe``. Layer ``l`` reads its inputs in storage order ``k = 0 ..
in_groups*n_pe - 1`` and writes output row ``r`` to storage position ``row_slot[r] * n_pe + row_pe[r]`` (PE
``row_pe[r]``, slot ``row_slot[r]``). With the default assignment ``row_pe = r % n_pe``, ``row_slot = r //
n_pe``, storage position equals row index. The compiler permutes the columns of layer ``l+1`` to match, so a
row assignment other than ``r mod n_pe`` needs no support from the hardware beyond the descriptor fields.
Storage positions holding no row (holes) are written as zero and are never broadcast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import EngineConfig
from .layout import Mem, layer_desc_layout, load_word_layout, pack_word, unpack_struct

__all__ = ["LayerInfo", "Program"]


@dataclass(eq=False)
class LayerInfo:
    """Metadata of one compiled layer (everything the hardware needs is also in the memories).

    ``row_pe``/``row_slot`` give each logical output row's PE and slot; ``in_pos`` gives each logical input
    column's storage position. ``entries``/``fillers``/``nnz_pe`` count per PE the layer's sparse-matrix
    entries, of which filler entries, and real non-zeros. ``spmat_base`` is each PE's first entry address.
    """

    name: str
    n_in: int
    n_out: int
    in_groups: int
    out_slots: int
    ptr_base: int
    bias_base: int
    relu: bool
    row_pe: np.ndarray
    row_slot: np.ndarray
    in_pos: np.ndarray
    entries: np.ndarray
    fillers: np.ndarray
    nnz_pe: np.ndarray
    spmat_base: np.ndarray
    codebook: np.ndarray          # float codebook (before fixed-point quantisation), for reports
    has_bias: bool = True

    @property
    def n_cols(self) -> int:
        """Input columns in storage order (``in_groups * n_pe``)."""
        return self.in_groups * len(self.entries)

    @property
    def nnz(self) -> int:
        return int(self.nnz_pe.sum())

    @property
    def n_fillers(self) -> int:
        return int(self.fillers.sum())

    @property
    def out_pos(self) -> np.ndarray:
        """Storage position of each logical output row."""
        return self.row_slot * len(self.entries) + self.row_pe


@dataclass(eq=False)
class Program:
    """Compiled network images.

    ``mems[Mem.X]`` holds the words of memory X: shape ``(n_pe, words)`` for per-PE memories (padded with zero
    words to the longest PE), shape ``(n_layers,)`` for the layer table. ``used[Mem.X]`` gives each PE's
    number of meaningful words. Words are unsigned bit patterns (two's complement for signed memories).
    """

    config: EngineConfig
    layers: list
    mems: dict
    used: dict = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    def descriptors(self) -> list:
        """The layer table decoded into dicts of ints (fields of :func:`layer_desc_layout`)."""
        f = unpack_struct(layer_desc_layout(self.config), self.mems[Mem.LAYERS])
        return [{k: int(v[i]) for k, v in f.items()} for i in range(self.n_layers)]

    def load_words(self):
        """Yield ``(mem, pe, addr, word)`` for every meaningful word, in the order a host loads them.

        ``pe`` is 0 for the global layer table.
        """
        for mem in Mem:
            words = self.mems[mem]
            if mem.per_pe:
                for pe in range(self.config.n_pe):
                    for addr in range(int(self.used[mem][pe])):
                        yield mem, pe, addr, int(words[pe, addr])
            else:
                for addr, w in enumerate(words):
                    yield mem, 0, addr, int(w)

    def load_port_words(self) -> list:
        """Every :meth:`load_words` item packed as one load-port word (``load_word_layout``), as Python ints
        (the word is wider than 64 bits when sparse-matrix words are 64 bits wide)."""
        layout = load_word_layout(self.config)
        return [pack_word(layout, mem=int(mem), pe=pe, addr=addr, data=data)
                for mem, pe, addr, data in self.load_words()]

    def input_storage(self, x_q) -> np.ndarray:
        """Place a logical input vector (fixed-point ints) into storage order for layer 0 (holes = 0)."""
        layer = self.layers[0]
        out = np.zeros(layer.n_cols, dtype=np.int64)
        out[layer.in_pos] = np.asarray(x_q, dtype=np.int64)
        return out

    def output_logical(self, y_storage) -> np.ndarray:
        """Pick the logical outputs of the last layer out of storage order."""
        return np.asarray(y_storage, dtype=np.int64)[self.layers[-1].out_pos]
