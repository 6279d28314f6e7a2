"""The compiled images of a network: what the engine's load port consumes, word for word, and their one reader.

Storage order. Activations of one layer live spread over the PEs: storage position ``k`` is activation
address ``k // n_pe`` of PE ``k % n_pe``. Layer ``l`` reads its inputs in storage order ``k = 0 ..
in_groups*n_pe - 1`` and writes output row ``r`` to storage position ``row_slot[r] * n_pe + row_pe[r]`` (PE
``row_pe[r]``, slot ``row_slot[r]``). With the default assignment ``row_pe = r % n_pe``, ``row_slot = r //
n_pe``, storage position equals row index. The compiler permutes the columns of layer ``l+1`` to match, so a
row assignment other than ``r mod n_pe`` needs no support from the hardware beyond the descriptor fields.
Storage positions holding no row (holes) are written as zero and are never broadcast.

:attr:`Program.decoded` is the one reader of the images: it decodes every memory once (pointers, entries,
real-entry prefix sums per PE, each layer's geometry from the layer-table words, codebooks, biases), checks that
the words and the metadata in :class:`LayerInfo` agree, and is cached on the program. The golden model, the cycle
model, Huffman accounting and the test references all read it.
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass, field

import numpy as np

from .config import EngineConfig
from .errors import OpenEIEError
from .fixed import quantize
from .layout import (CONV_DESC_FIELDS, POOL_AVG, POOL_NONE, Mem, bias_value_bits, layer_desc_layout, load_word_layout, mem_depth,
                     mem_word_bits, pack_word, table_ints, table_limbs, to_signed, unpack_entries, unpack_table)

__all__ = ["LayerInfo", "Program", "ProgramError", "DecodedProgram", "DecodedLayer", "PeStream", "CONV_GEOMETRY"]

#: The layer-table fields, in :func:`~openeie.layout.layer_desc_layout` order, that LayerInfo repeats (a
#: convolution engine's also :data:`~openeie.layout.CONV_DESC_FIELDS`, LayerInfo fields or properties).
DESC_FIELDS = ("in_groups", "out_slots", "ptr_base", "bias_base", "relu")
#: The stored convolution geometry of a LayerInfo (the other convolution fields derive from it).
CONV_GEOMETRY = ("in_w", "in_h", "kernel", "stride", "pad", "out_w", "out_h", "pool", "pool_size", "groups")


class ProgramError(OpenEIEError, ValueError):
    """Memory images whose words and metadata disagree, or that no engine could run."""


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
    # convolution geometry (docs/engine.md, "Convolution layers"); a fully connected layer is a 1 x 1 image
    in_w: int = 1
    in_h: int = 1
    kernel: int = 1
    stride: int = 1
    pad: int = 0
    out_w: int = 1
    out_h: int = 1
    pool: int = 0                 # openeie.layout.POOL_NONE / POOL_MAX / POOL_AVG
    pool_size: int = 1
    groups: int = 1               # a grouped convolution's groups (for the dense reference of reports only)
    shift: int = 0                # a requantising engine's write-back shift (docs/engine.md, "Requantisation")

    @property
    def n_pe(self) -> int:
        return len(self.entries)

    @property
    def n_cols(self) -> int:
        """Weight columns in storage order: ``kernel**2 * in_groups * n_pe`` (``in_groups * n_pe`` for a fully
        connected layer)."""
        return self.kernel * self.kernel * self.in_groups * self.n_pe

    @property
    def is_conv(self) -> bool:
        return (self.in_w, self.in_h, self.kernel, self.out_w, self.out_h, self.pool) != (1, 1, 1, 1, 1, 0)

    @property
    def in_words(self) -> int:
        """Activation words of the layer's input (``in_h * in_w * in_groups``)."""
        return self.in_h * self.in_w * self.in_groups

    @property
    def acc_slots(self) -> int:
        """Accumulator slots per PE (``out_h * out_w * out_slots``)."""
        return self.out_h * self.out_w * self.out_slots

    @property
    def pooled_w(self) -> int:
        return self.out_w // self.pool_size if self.pool else self.out_w

    @property
    def pooled_h(self) -> int:
        return self.out_h // self.pool_size if self.pool else self.out_h

    @property
    def out_words(self) -> int:
        """Activation words the layer writes (``pooled_h * pooled_w * out_slots``)."""
        return self.pooled_h * self.pooled_w * self.out_slots

    @property
    def wb_reads(self) -> int:
        """Accumulator slots write-back reads per PE."""
        if self.pool:
            return self.pooled_h * self.pooled_w * self.pool_size ** 2 * self.out_slots
        return self.acc_slots

    def patch_index(self) -> np.ndarray:
        """The broadcast walk (docs/engine.md, "Convolution layers"): ``(positions, n_cols)`` storage positions
        of the input activation that weight column j multiplies at each output position, in walk order, -1 in the
        zero padding. A fully connected layer: one position, ``arange(n_cols)``."""
        n, k = self.n_pe, self.kernel
        oy, ox = np.divmod(np.arange(self.out_h * self.out_w, dtype=np.int64), self.out_w)
        ky, kx = np.divmod(np.arange(k * k, dtype=np.int64), k)
        iy = oy[:, None] * self.stride - self.pad + ky[None, :]          # (P, k*k)
        ix = ox[:, None] * self.stride - self.pad + kx[None, :]
        inside = (iy >= 0) & (iy < self.in_h) & (ix >= 0) & (ix < self.in_w)
        pixel = np.where(inside, iy * self.in_w + ix, -1)
        within = np.arange(self.in_groups * n, dtype=np.int64)            # group g, lane: g * n_pe + lane
        index = pixel[:, :, None] * (self.in_groups * n) + within[None, None, :]
        return np.where(pixel[:, :, None] >= 0, index, -1).reshape(len(oy), -1)

    @property
    def acc_line(self) -> int:
        """Accumulator slots of one row of output positions (``out_w * out_slots``)."""
        return self.out_w * self.out_slots

    @property
    def win_col(self) -> int:
        """Accumulator-slot step from one pooling window to the next in a row (``pool_size * out_slots``)."""
        return (self.pool_size if self.pool else 1) * self.out_slots

    @property
    def win_row(self) -> int:
        """Accumulator-slot step from one row of pooling windows to the next (``pool_size * acc_line``)."""
        return (self.pool_size if self.pool else 1) * self.acc_line

    @property
    def pad_words(self) -> int:
        """How far before word 0 the walk's first patch starts: ``pad * (line_words + in_groups)`` (the word of
        pixel (-pad, -pad))."""
        return self.pad * (self.line_words + self.in_groups)

    @property
    def line_words(self) -> int:
        return self.in_w * self.in_groups

    @property
    def col_step(self) -> int:
        return self.stride * self.in_groups

    @property
    def row_step(self) -> int:
        return self.stride * self.in_w * self.in_groups

    @property
    def nnz(self) -> int:
        return int(self.nnz_pe.sum())

    @property
    def weight_count(self) -> int:
        """Dense weights of the layer: ``n_in * n_out`` of a fully connected layer; ``channels_out *
        channels_in / groups * kernel**2`` of a convolution."""
        if not self.is_conv:
            return self.n_in * self.n_out
        channels = len(np.asarray(self.row_pe).reshape(-1))
        return channels * (self.n_in // (self.in_h * self.in_w)) // self.groups * self.kernel ** 2

    @property
    def n_fillers(self) -> int:
        return int(self.fillers.sum())

    @property
    def out_pos(self) -> np.ndarray:
        """Storage position of each logical output: of a row of a fully connected layer; of a convolution's
        outputs in PyTorch's (channel, y, x) order, at ``(y * pooled_w + x) * out_slots * n_pe`` plus the
        channel's slot and PE."""
        channel = self.row_slot * self.n_pe + self.row_pe
        if not self.is_conv:
            return channel
        pixels = np.arange(self.pooled_h * self.pooled_w, dtype=np.int64) * (self.out_slots * self.n_pe)
        return (channel[:, None] + pixels[None, :]).reshape(-1)


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

    @functools.cached_property
    def decoded(self) -> "DecodedProgram":
        """The decoded, checked view of the images (built on first use; raises :class:`ProgramError` when the
        words and the metadata disagree)."""
        return DecodedProgram(self)

    def check(self) -> "Program":
        """Decode and check the images (:attr:`decoded`); returns the program."""
        self.decoded
        return self

    def descriptors(self) -> list:
        """The layer table decoded into dicts of ints (fields of :func:`layer_desc_layout`)."""
        return [dict(layer.desc) for layer in self.decoded.layers]

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
                for addr, w in enumerate(table_ints(words)):
                    yield mem, 0, addr, w

    def load_port_words(self) -> list:
        """Every :meth:`load_words` item packed as one load-port word (``load_word_layout``), as Python ints
        (the word is wider than 64 bits when sparse-matrix words are 64 bits wide)."""
        layout = load_word_layout(self.config)
        return [pack_word(layout, mem=int(mem), pe=pe, addr=addr, data=data)
                for mem, pe, addr, data in self.load_words()]

    def input_storage(self, x_q) -> np.ndarray:
        """Place a logical input vector (fixed-point ints) into storage order for layer 0 (holes = 0)."""
        layer = self.layers[0]
        x = np.asarray(x_q)
        if x.shape != (layer.n_in,):
            raise ProgramError(f"input has shape {x.shape}: expected ({layer.n_in},) fixed-point activations")
        out = np.zeros(layer.in_words * layer.n_pe, dtype=np.int64)
        out[layer.in_pos] = x.astype(np.int64)
        return out

    def output_logical(self, y_storage) -> np.ndarray:
        """Pick the logical outputs of the last layer out of storage order."""
        return np.asarray(y_storage, dtype=np.int64)[..., self.layers[-1].out_pos]


# ---- the decoded view ------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class PeStream:
    """One PE's decoded memories for the whole run: every pointer (``p[0], p[1], ...`` from the two banks), every
    stored entry's code and relative index, and ``real_prefix[e]`` = real (non-filler) entries before entry e."""

    pointers: np.ndarray
    codes: np.ndarray
    rels: np.ndarray
    real_prefix: np.ndarray


@dataclass(frozen=True, eq=False)
class DecodedLayer:
    """One layer as the hardware sees it, decoded from the words.

    ``desc``: the layer-table entry's fields. ``ptr[p, k]``: PE p's pointer of storage column k (``n_cols + 1``
    per PE, absolute entry addresses). The entry arrays list every stored entry of the layer (fillers included),
    PE by PE in hardware order: ``pe``, storage column ``col``, output ``slot``, ``code`` and ``rel``.
    ``codebook``: signed fixed-point codebook (``codebook_size``); ``bias``: per accumulator slot (in the
    activation format, or of a requantising engine in the accumulator format); ``mult``: a requantising engine's
    multiplier per output storage position (``out_slots * n_pe``; None on other engines).
    """

    index: int
    name: str
    desc: dict
    ptr: np.ndarray
    pe: np.ndarray
    col: np.ndarray
    slot: np.ndarray
    code: np.ndarray
    rel: np.ndarray
    codebook: np.ndarray
    bias: np.ndarray
    mult: np.ndarray | None = None

    @property
    def in_groups(self) -> int:
        return self.desc["in_groups"]

    @property
    def out_slots(self) -> int:
        return self.desc["out_slots"]

    @property
    def n_cols(self) -> int:
        return self.ptr.shape[1] - 1

    @functools.cached_property
    def real_entries(self):
        """Real (non-filler) entries as ``(out_pos, col, weight)``, sorted by output storage position and then by
        column (the order the engine accumulates them in); ``weight`` is the fixed-point codebook value."""
        real = self.code != 0
        n_pe = self.ptr.shape[0]
        pos, col = self.slot[real] * n_pe + self.pe[real], self.col[real]
        order = np.lexsort((col, pos))
        return pos[order], col[order], self.codebook[self.code[real]][order]


def _fail(where: str, what: str):
    raise ProgramError(f"{where}: {what}")


def _int_array(value, where: str, name: str, shape=None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu" or (shape is not None and arr.shape != shape):
        want = f"integers of shape {shape}" if shape is not None else "integers"
        _fail(where, f"{name} is {arr.dtype} of shape {arr.shape}: expected {want}")
    return arr.astype(np.int64)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_geometry(cfg, info, where: str) -> None:
    """A convolution's geometry: within the engine's limits and consistent (docs/engine.md)."""
    for key, high in (("in_w", cfg.max_image_side), ("in_h", cfg.max_image_side), ("kernel", cfg.max_kernel),
                      ("pool_size", cfg.max_pool)):
        if not 1 <= getattr(info, key) <= high:
            _fail(where, f"{key}={getattr(info, key)} is out of range: expected 1..{high}")
    if not 0 <= info.pad < info.kernel or not 1 <= info.stride <= cfg.max_image_side + 2 * cfg.max_kernel:
        _fail(where, f"pad={info.pad}, stride={info.stride}: expected 0 <= pad < kernel={info.kernel}, stride 1.."
                     f"{cfg.max_image_side + 2 * cfg.max_kernel}")
    for axis in ("w", "h"):
        size = getattr(info, f"in_{axis}")
        out = (size + 2 * info.pad - info.kernel) // info.stride + 1
        if getattr(info, f"out_{axis}") != out or out < 1:
            _fail(where, f"out_{axis}={getattr(info, f'out_{axis}')}: the geometry gives {out}")
    if info.pool not in (POOL_NONE, 1, POOL_AVG) or (info.pool == POOL_NONE) != (info.pool_size == 1):
        _fail(where, f"pool={info.pool}, pool_size={info.pool_size}: expected none (0, 1) or max/average (1/2, >= 2)")
    if info.groups < 1 or (info.n_in // (info.in_h * info.in_w)) % info.groups:
        _fail(where, f"groups={info.groups}: expected a divisor of the input channels")
    if info.pool == POOL_AVG and info.pool_size & (info.pool_size - 1):
        _fail(where, f"average pooling over {info.pool_size} x {info.pool_size}: expected a power-of-two window")
    if info.pool and (info.pooled_w < 1 or info.pooled_h < 1):
        _fail(where, f"a {info.pool_size} x {info.pool_size} pool does not fit {info.out_h} x {info.out_w} outputs")
    for key in ("in_words", "acc_slots", "out_words"):
        if getattr(info, key) > cfg.act_depth:
            _fail(where, f"{key}={getattr(info, key)} exceeds act_depth={cfg.act_depth}")


class DecodedProgram:
    """Decoded, checked memory images of a :class:`Program` (see the module docstring). Build it through
    :attr:`Program.decoded`."""

    def __init__(self, program: Program):
        cfg = program.config
        if not isinstance(cfg, EngineConfig):
            raise ProgramError(f"program configuration is a {type(cfg).__name__}: expected an EngineConfig")
        self.config = cfg
        self._check_memories(program)
        self.pes = [self._pe_stream(program, p) for p in range(cfg.n_pe)]
        descs = unpack_table(layer_desc_layout(cfg), program.mems[Mem.LAYERS])
        self.layers = [self._layer(program, index, info, descs[index]) for index, info in enumerate(program.layers)]
        self._check_chain(program)

    # -- memories --------------------------------------------------------------------------------------------
    def _check_memories(self, program: Program):
        cfg = program.config
        if not isinstance(program.layers, list) or not program.layers:
            raise ProgramError("program has no layers")
        if len(program.layers) > cfg.max_layers:
            raise ProgramError(f"program has {len(program.layers)} layers: the engine's layer table holds "
                               f"max_layers={cfg.max_layers}")
        for i, info in enumerate(program.layers):
            if not isinstance(info, LayerInfo):
                raise ProgramError(f"layer {i} is a {type(info).__name__}: expected a LayerInfo")
        if not isinstance(program.mems, dict) or not isinstance(program.used, dict):
            raise ProgramError("program memories must be dicts keyed by Mem")
        for mem in Mem:
            where = f"memory {mem.key}"
            if mem not in program.mems or mem not in program.used:
                _fail(where, "missing")
            words = np.asarray(program.mems[mem])
            if words.dtype != np.uint64:
                _fail(where, f"words are {words.dtype}: expected uint64")
            bits = mem_word_bits(cfg, mem)
            if mem is Mem.LAYERS and words.ndim == 2:
                if any(w >> bits for w in table_ints(words)):
                    _fail(where, f"a word does not fit its {bits} bits")
            elif bits < 64 and words.size and int(words.max()) >> bits:
                _fail(where, f"word {int(words.max()):#x} does not fit its {bits} bits")
            if mem.per_pe:
                if words.ndim != 2 or words.shape[0] != cfg.n_pe:
                    _fail(where, f"has shape {words.shape}: expected ({cfg.n_pe}, words)")
                if words.shape[1] > mem_depth(cfg, mem) and not (mem is Mem.SPMAT and words.shape[1] == 1):
                    _fail(where, f"holds {words.shape[1]} words per PE: the engine has {mem_depth(cfg, mem)}")
                used = _int_array(program.used[mem], where, "used", (cfg.n_pe,))
                if used.min() < 0 or used.max() > words.shape[1]:
                    _fail(where, f"used word counts {used.tolist()} lie outside 0..{words.shape[1]}")
            else:
                limbs = table_limbs(layer_desc_layout(cfg))
                shape = (len(program.layers),) if limbs == 1 else (len(program.layers), limbs)
                if words.shape != shape:
                    _fail(where, f"has shape {words.shape}: expected one word per layer {shape}")
                used = _int_array(program.used[mem], where, "used", (1,))
                if int(used[0]) != len(program.layers):
                    _fail(where, f"used count {int(used[0])}: expected {len(program.layers)}")
        if not np.array_equal(np.asarray(program.used[Mem.PTR_EVEN]), np.asarray(program.used[Mem.PTR_ODD])):
            raise ProgramError("memory ptr_even and ptr_odd: used counts differ (pointers come in pairs)")

    def _pe_stream(self, program: Program, p: int) -> PeStream:
        cfg = program.config
        used_ptr = int(program.used[Mem.PTR_EVEN][p])
        pointers = np.empty(2 * used_ptr, dtype=np.int64)
        pointers[0::2] = program.mems[Mem.PTR_EVEN][p, :used_ptr].astype(np.int64)
        pointers[1::2] = program.mems[Mem.PTR_ODD][p, :used_ptr].astype(np.int64)
        used_words = int(program.used[Mem.SPMAT][p])
        codes, rels = unpack_entries(cfg, program.mems[Mem.SPMAT][p, :used_words])
        real_prefix = np.concatenate([[0], np.cumsum(codes != 0)]).astype(np.int64)
        return PeStream(pointers, codes, rels, real_prefix)

    # -- layers ----------------------------------------------------------------------------------------------
    def _layer(self, program: Program, index: int, info: LayerInfo, desc: dict) -> DecodedLayer:
        cfg = program.config
        n = cfg.n_pe
        where = f"layer {index}"
        if not isinstance(info.name, str):
            _fail(where, f"name = {info.name!r:.40}: expected a string")
        where = f"layer {index} ({info.name!r})"
        geometry = CONV_GEOMETRY if cfg.conv else ()
        requant = ("shift",) if cfg.requant else ()
        for key in ("n_in", "n_out", "in_groups", "out_slots", "ptr_base", "bias_base") + geometry + requant:
            if not _is_int(getattr(info, key)):
                _fail(where, f"{key} = {getattr(info, key)!r}: expected an integer")
        for key in ("relu", "has_bias"):
            if not isinstance(getattr(info, key), (bool, np.bool_)):
                _fail(where, f"{key} = {getattr(info, key)!r}: expected true or false")
        if not cfg.conv and info.is_conv:
            _fail(where, "metadata describes a convolution: the engine has max_image_side=1")
        for key in DESC_FIELDS + (CONV_DESC_FIELDS if cfg.conv else ()) + requant:
            if int(getattr(info, key)) != desc[key]:
                _fail(where, f"metadata says {key}={int(getattr(info, key))} but the layer-table word says "
                             f"{desc[key]}")
        if info.n_in < 1 or info.n_out < 1:
            _fail(where, f"shape {info.n_out}x{info.n_in}: expected at least one row and one column")
        in_groups, out_slots = desc["in_groups"], desc["out_slots"]
        for key, value in (("in_groups", in_groups), ("out_slots", out_slots)):
            if not 1 <= value <= cfg.act_depth:
                _fail(where, f"{key}={value} is out of range: expected 1..act_depth={cfg.act_depth}")
        if info.is_conv:
            _check_geometry(cfg, info, where)
        n_cols = info.n_cols
        n_inputs = info.in_words * n
        if info.n_in > n_inputs:
            _fail(where, f"{info.n_in} inputs do not fit {info.in_words} words x {n} PEs")
        channels = len(np.asarray(info.row_pe).reshape(-1))
        if channels > out_slots * n:
            _fail(where, f"{channels} output rows do not fit out_slots={out_slots} x {n} PEs")
        if info.n_out != channels * info.pooled_h * info.pooled_w:
            _fail(where, f"metadata says {info.n_out} outputs but the row assignment holds {channels} rows"
                         + (f" x {info.pooled_h * info.pooled_w} positions" if info.is_conv else ""))

        row_pe = _int_array(info.row_pe, where, "row_pe", (channels,))
        row_slot = _int_array(info.row_slot, where, "row_slot", (channels,))
        if row_pe.min() < 0 or row_pe.max() >= n or row_slot.min() < 0 or row_slot.max() >= out_slots:
            _fail(where, f"row assignment uses a PE outside 0..{n - 1} or a slot outside 0..{out_slots - 1}")
        out_pos = row_slot * n + row_pe
        if len(np.unique(out_pos)) != len(out_pos):
            _fail(where, "row assignment puts two rows in the same PE slot")
        if info.is_conv and not np.array_equal(out_pos, np.arange(channels)):
            _fail(where, "a convolution's channels must sit in PE t mod n_pe, slot t // n_pe")
        in_pos = _int_array(info.in_pos, where, "in_pos", (info.n_in,))
        if in_pos.min() < 0 or in_pos.max() >= n_inputs or len(np.unique(in_pos)) != len(in_pos):
            _fail(where, f"input positions are not distinct storage positions 0..{n_inputs - 1}")
        for key in ("entries", "fillers", "nnz_pe", "spmat_base"):
            arr = _int_array(getattr(info, key), where, key, (n,))
            if arr.min() < 0:
                _fail(where, f"{key} holds a negative count")
        cb = np.asarray(info.codebook)
        if cb.dtype.kind != "f" or cb.shape != (cfg.codebook_size,) or not np.all(np.isfinite(cb)):
            _fail(where, f"float codebook is {cb.dtype} of shape {cb.shape}: expected {cfg.codebook_size} finite "
                         f"floats")

        ptr_base = desc["ptr_base"]
        if ptr_base % 2:
            _fail(where, f"ptr_base={ptr_base} is odd: a layer's pointers start in the even bank")
        ptr = np.empty((n, n_cols + 1), dtype=np.int64)
        pe_l, col_l, slot_l, code_l, rel_l = [], [], [], [], []
        for p, stream in enumerate(self.pes):
            pw = f"{where}, PE {p}"
            if ptr_base + n_cols + 1 > len(stream.pointers):
                _fail(pw, f"needs pointers {ptr_base}..{ptr_base + n_cols} but the PE holds {len(stream.pointers)}")
            pp = stream.pointers[ptr_base: ptr_base + n_cols + 1]
            counts = np.diff(pp)
            if np.any(counts < 0):
                _fail(pw, f"column pointers decrease at column {int(np.argmax(counts < 0))}")
            start, end = int(pp[0]), int(pp[-1])
            if end > len(stream.codes):
                _fail(pw, f"pointers reach entry {end} but the PE stores {len(stream.codes)} entries")
            ptr[p] = pp
            codes, rels = stream.codes[start:end], stream.rels[start:end]
            col = np.repeat(np.arange(n_cols, dtype=np.int64), counts)
            step = np.cumsum(rels + 1)
            col_start = np.concatenate([[0], step])[pp[:-1] - start]
            slot = step - np.repeat(col_start, counts) - 1
            fillers = int(np.count_nonzero(codes == 0))
            for key, got in (("spmat_base", start), ("entries", end - start), ("fillers", fillers),
                             ("nnz_pe", end - start - fillers)):
                if int(getattr(info, key)[p]) != got:
                    _fail(pw, f"metadata says {key}={int(getattr(info, key)[p])} but the words give {got}")
            pe_l.append(np.full(len(codes), p, dtype=np.int64))
            col_l.append(col), slot_l.append(slot), code_l.append(codes), rel_l.append(rels)
        pe, col, slot = np.concatenate(pe_l), np.concatenate(col_l), np.concatenate(slot_l)
        code, rel = np.concatenate(code_l), np.concatenate(rel_l)

        real = code != 0
        if np.any(slot[real] >= out_slots):
            _fail(where, f"an entry addresses output slot {int(slot[real].max())}: the layer has {out_slots}")
        is_row = np.zeros(out_slots * n, dtype=bool)
        is_row[out_pos] = True
        if not np.all(is_row[slot[real] * n + pe[real]]):
            _fail(where, "an entry addresses an output slot that holds no row")
        is_col = np.zeros(n_cols, dtype=bool)
        if info.is_conv:     # kernel offset k, channel c: column k * in_groups * n_pe + (position of c in a pixel)
            channel_pos = in_pos.reshape(-1, info.in_h * info.in_w)[:, 0]
            offsets = np.arange(info.kernel ** 2, dtype=np.int64)[:, None] * (in_groups * n)
            is_col[(offsets + channel_pos[None, :]).reshape(-1)] = True
        else:
            is_col[in_pos] = True
        if not np.all(is_col[col[real]]):
            _fail(where, "an entry lies in a storage column that holds no input")

        cb_words = program.mems[Mem.CODEBOOK]
        base = index * cfg.codebook_size
        if np.any(program.used[Mem.CODEBOOK] < base + cfg.codebook_size):
            _fail(where, f"codebook words {base}..{base + cfg.codebook_size - 1} are not all loaded")
        if np.any(cb_words[:, base:base + cfg.codebook_size] != cb_words[:1, base:base + cfg.codebook_size]):
            _fail(where, "the PEs hold different codebooks")
        codebook = to_signed(cb_words[0, base:base + cfg.codebook_size], cfg.weight_bits)
        if codebook[0] != 0:
            _fail(where, f"codebook entry 0 is {int(codebook[0])}: expected 0 (code 0 means zero)")
        stated = quantize(cb, cfg.weight_bits, cfg.weight_frac_bits, saturate_ok=True)
        if not np.array_equal(stated, codebook):
            _fail(where, "the float codebook of the metadata does not round to the codebook words")
        bias_base, out_slots = desc["bias_base"], desc["out_slots"]
        if np.any(program.used[Mem.BIAS] < bias_base + out_slots):
            _fail(where, f"biases {bias_base}..{bias_base + out_slots - 1} are not all loaded")
        words = program.mems[Mem.BIAS][:, bias_base: bias_base + out_slots].T.reshape(-1)
        bias = to_signed(words, bias_value_bits(cfg))
        mult = None
        if cfg.requant:
            mult = ((words >> np.uint64(cfg.acc_bits)) & np.uint64((1 << cfg.mult_bits) - 1)).astype(np.int64)
            if desc["shift"] >= cfg.acc_bits + cfg.mult_bits:
                _fail(where, f"shift={desc['shift']} is out of range: expected 0..{cfg.acc_bits + cfg.mult_bits - 1}")
        bias = np.tile(bias, info.out_h * info.out_w)    # per accumulator slot: INIT reuses them at every position
        return DecodedLayer(index, info.name, desc, ptr, pe, col, slot, code, rel, codebook,
                            bias.astype(np.int64), mult)

    def _check_chain(self, program: Program):
        for index, (a, b) in enumerate(zip(program.layers, program.layers[1:])):
            where = f"layer {index + 1} ({b.name!r})"
            if b.n_in != a.n_out:
                _fail(where, f"takes {b.n_in} inputs but layer {index} produces {a.n_out}")
            if b.in_words != a.out_words:
                _fail(where, f"reads {b.in_words} activation words but layer {index} writes {a.out_words}")
            if not np.array_equal(np.asarray(b.in_pos), np.asarray(a.out_pos)):
                _fail(where, f"input positions differ from layer {index}'s output positions")
