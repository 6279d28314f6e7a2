"""Bit-exact golden model of what the engine computes, read straight from the memory images.

Arithmetic of one layer (the RTL and the cycle model match this bit for bit)
----------------------------------------------------------------------------
Formats: codebook entries ``c`` are signed ``weight_bits`` with ``weight_frac_bits`` (wf) fractional bits;
activations ``x``, outputs ``y`` and biases ``b`` are signed ``act_bits`` with ``act_frac_bits`` fractional bits;
the accumulator ``acc`` is signed ``acc_bits`` with ``wf + act_frac_bits`` fractional bits.

For every output row ``i`` of the layer (a PE slot):

1. ``acc = b_i << wf`` (the bias, aligned to the accumulator's binary point);
2. for every input column ``k`` in storage order (increasing ``k``, the broadcast order) with ``x_k != 0`` and a
   stored entry ``(code, rel)`` addressing row ``i``::

       acc = sat_acc(acc + codebook[code] * x_k)

   where the product is exact (``weight_bits + act_bits`` bits) and ``sat_acc`` clamps to
   ``[-2**(acc_bits-1), 2**(acc_bits-1) - 1]``. Filler entries have code 0, whose codebook value is zero, and
   change nothing; columns with ``x_k == 0`` are never broadcast;
3. write-back: ``y = sat_act((acc + 2**(wf-1)) >> wf)`` (round to nearest, ties towards +infinity; no rounding
   term when wf = 0; ``>>`` is an arithmetic shift) clamped to the ``act_bits`` range;
4. if the layer has ReLU: ``y = max(y, 0)``.

Outputs land in storage order (see :mod:`openeie.program`) and are the next layer's inputs.

A requantising engine (``cfg.requant``, docs/engine.md "Requantisation") stores the bias in the accumulator
format, so step 1 is ``acc = b_i``, and step 3 multiplies by the row's unsigned multiplier ``m_i`` and shifts by
the layer's ``shift``: ``y = sat_act((acc * m_i + 2**(shift-1)) >> shift)`` (no rounding term when shift = 0; the
product is exact). A pooled window is combined (maximum or sum) before the multiplication.

Because the accumulation saturates, the order of step 2 matters only for rows that touch the accumulator's
limits; the model follows the storage order exactly for those rows.
"""

from __future__ import annotations

import functools
import weakref

import numpy as np

from openeie.errors import InputError, InputTypeError
from openeie.fixed import dequantize, fixed_range, quantize, round_shift, saturate
from openeie.layout import POOL_MAX
from openeie.program import Program

__all__ = ["quantize_input", "layer_entries", "run_layer", "run_layer_counted", "run", "run_counted",
           "run_logical", "run_float", "fixed_point_error", "error_bound"]


def quantize_input(cfg, x, saturate_ok: bool = False) -> np.ndarray:
    """Float input activations -> engine activation format (int64). Out-of-range values raise unless
    ``saturate_ok``."""
    return quantize(x, cfg.act_bits, cfg.act_frac_bits, what="input activation", saturate_ok=saturate_ok)


def _program(program) -> Program:
    if not isinstance(program, Program):
        raise InputTypeError(f"expected a compiled Program (openeie.compiler.lower.lower), not "
                             f"{type(program).__name__}")
    return program


def _fixed_inputs(x, what: str) -> np.ndarray:
    """Integer-typed fixed-point activations (floats are refused: they would be truncated)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise InputTypeError(f"{what} are {arr.dtype}: expected fixed-point integers (convert floats with "
                             f"openeie.sim.golden.quantize_input)")
    return arr.astype(np.int64)


def layer_entries(program: Program, index: int):
    """Real (non-filler) entries of a layer as ``(out_pos, col, weight)``, sorted by output storage position and
    then by column (the order the engine accumulates them in). ``weight`` is the fixed-point codebook value."""
    return _entries(_program(program).decoded.layers[index]).entries


class _Order:
    """Real entries in accumulation order: ``pos``, ``col``, ``weight`` (:attr:`entries`, the three as a tuple),
    with what every run needs of them: ``starts``/``rows`` (each output position's run of entries),
    ``max_weight`` (max |weight|) and, for one input at a time, ``table_index`` (``code * n_cols + col``: the
    entry's product is entry ``table_index`` of the table ``codebook x inputs``; None without a codebook)."""

    def __init__(self, pos, col=None, weight=None, codebook=None, table_index=None, n_cols=0):
        self.pos, self.codebook, self.table_index, self.n_cols = pos, codebook, table_index, n_cols
        if col is not None:
            self.col, self.weight = col, weight
        self.starts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]]) if len(pos) else np.zeros(0, np.int64)
        self.ends = np.r_[self.starts[1:], len(pos)] - 1 if len(pos) else np.zeros(0, np.int64)
        self.rows = pos[self.starts]
        self._matrices = {}
        source = self.weight if codebook is None else codebook
        self.max_weight = int(np.abs(source).max()) if len(source) and len(pos) else 0

    @functools.cached_property
    def col(self):
        return self.table_index % self.n_cols

    @functools.cached_property
    def weight(self):
        return self.codebook[self.table_index // self.n_cols]

    @property
    def entries(self):
        return self.pos, self.col, self.weight

    def matrices(self, n_rows: int, n_cols: int):
        """``(W, row_abs)``: the entries as an ``n_rows x n_cols`` CSR matrix of float64 weights and per row the
        sum of ``|w|`` (int64). Built once per shape."""
        got = self._matrices.get((n_rows, n_cols))
        if got is None:
            import scipy.sparse
            w = self.weight.astype(np.float64)
            matrix = scipy.sparse.csr_matrix((w, (self.pos, self.col)), shape=(n_rows, n_cols))
            row_abs = np.zeros(n_rows, dtype=np.int64)
            row_abs[self.rows] = np.add.reduceat(np.abs(self.weight).astype(np.int64), self.starts)
            got = self._matrices[n_rows, n_cols] = (matrix, row_abs)
        return got


#: Accumulation order of each decoded layer, built on first use (the layers are immutable).
_ORDERS = weakref.WeakKeyDictionary()


def _entries(layer) -> _Order:
    """``layer.real_entries`` without its two-key sort: the decoded entries are listed PE by PE in increasing
    column, and an output position belongs to one PE, so a stable sort by output position alone (a radix sort
    for 16-bit keys) gives the same order. Fillers (code 0) sort along and are dropped after."""
    order = _ORDERS.get(layer)
    if order is None:
        n_pe, n_cols = layer.ptr.shape[0], layer.n_cols
        wide = layer.out_slots * n_pe > 1 << 16
        pos = layer.slot * n_pe + layer.pe
        sort = np.argsort(pos if wide else pos.astype(np.uint16), kind="stable")
        index = (layer.code * n_cols + layer.col).astype(np.intp)[sort]   # intp: take() converts no index
        pos = pos[sort]
        if np.any(index < n_cols):                             # code 0: fillers
            real = index >= n_cols
            pos, index = pos[real], index[real]
        order = _Order(pos, codebook=layer.codebook, table_index=index, n_cols=n_cols)
        _ORDERS[layer] = order
    return order


def run_layer_counted(program: Program, index: int, x_storage):
    """One layer on storage-order inputs ``x_storage`` (``(n_cols,)`` or ``(batch, n_cols)`` integers).

    Returns ``(y, acc_saturations, out_saturations)``: the storage-order outputs (``(out_slots * n_pe,)`` or
    ``(batch, out_slots * n_pe)``), and per input the number of accumulations that left the ``acc_bits`` range
    (step 2 clamped them) and of outputs that write-back clamped to the ``act_bits`` range (step 3; a negative
    overflow under ReLU gives 0 either way and does not count).
    """
    program = _program(program)
    cfg = program.config
    info = program.layers[index]
    layer = program.decoded.layers[index]
    x = _fixed_inputs(x_storage, "storage-order inputs")
    single = x.ndim == 1
    x = np.atleast_2d(x)
    n_inputs = info.in_words * cfg.n_pe
    if x.ndim != 2 or x.shape[1] != n_inputs:
        raise InputError(f"layer {layer.name!r} takes {n_inputs} storage-order inputs, got shape "
                         f"{np.shape(x_storage)}")
    batch = x.shape[0]
    wf = cfg.weight_frac_bits
    n_local = info.out_slots * cfg.n_pe                        # output storage positions of one output position
    positions = info.out_h * info.out_w
    idx = info.patch_index()                                   # (positions, n_cols)
    columns = np.where(idx >= 0, x[:, np.maximum(idx, 0)], 0).reshape(batch * positions, -1)   # (batch*P, n_cols)
    init = (layer.bias if cfg.requant else layer.bias << wf).reshape(positions, n_local)      # (P, n_local)
    init = np.broadcast_to(init[None], (batch, positions, n_local)).reshape(batch * positions, n_local).T
    acc, acc_sat = _accumulate(cfg, _entries(layer), columns, init.copy())                 # (n_local, batch*P)
    acc_sat = acc_sat.reshape(batch, positions).sum(axis=1)
    acc = acc.T.reshape(batch, info.out_h, info.out_w, n_local)
    shift = wf
    if info.pool:
        k, ph, pw = info.pool_size, info.pooled_h, info.pooled_w
        windows = acc[:, :ph * k, :pw * k].reshape(batch, ph, k, pw, k, n_local)
        if info.pool == POOL_MAX:
            acc = windows.max(axis=(2, 4))
        else:
            acc = windows.sum(axis=(2, 4))
            shift += (k * k).bit_length() - 1
    if cfg.requant:                                            # the row's multiplier and the layer's shift
        acc = acc * layer.mult
        shift = int(layer.desc["shift"])
    acc = acc.reshape(batch, -1)                               # pooled positions x n_local, storage order
    rounded = round_shift(acc, shift)
    alo, ahi = fixed_range(cfg.act_bits)
    relu = bool(layer.desc["relu"])
    clipped = (rounded > ahi) | ((rounded < alo) & (not relu))
    y = saturate(rounded, cfg.act_bits)
    if relu:
        y = np.maximum(y, 0)
    out_sat = clipped.sum(axis=1).astype(np.int64)
    return (y[0], acc_sat[0], out_sat[0]) if single else (y, acc_sat, out_sat)


#: Below this bound on every partial sum of ``|w| * |x|``, float64 sums are exact and step 2 may take the CSR
#: mat-vec path (:func:`_bounded_accumulate_chunk`); tests lower it to exercise the int64 prefix-sum path.
_FLOAT_EXACT = 1 << 53

#: Products formed at once by :func:`_accumulate` (bounds its memory: 8 bytes each).
_CHUNK_PRODUCTS = 1 << 23


def _accumulate(cfg, entries, columns, acc):
    """Step 2 for every row of ``columns`` (``(m, n_cols)`` inputs): ``acc`` (``(n_local, m)``, the bias
    initialisation) plus the products of the real ``entries`` in column order, saturating. Returns ``(acc,
    clamps per input row)``. Large batches go in chunks of rows."""
    order = entries if isinstance(entries, _Order) else _Order(*entries)
    m = columns.shape[0]
    step = max(1, _CHUNK_PRODUCTS // max(1, len(order.pos)))
    if m <= step:
        return _accumulate_chunk(cfg, order, columns, acc)
    parts = [_accumulate_chunk(cfg, order, columns[i:i + step], acc[:, i:i + step]) for i in range(0, m, step)]
    return np.concatenate([a for a, _ in parts], axis=1), np.concatenate([c for _, c in parts])


def _accumulate_chunk(cfg, entries, columns, acc):
    """Step 2 on one chunk of inputs. When every partial sum of ``|w| * |x|`` is below :data:`_FLOAT_EXACT` and
    the initial values are in range, :func:`_bounded_accumulate_chunk` runs if no row can clamp. Otherwise per row the running sums
    are read off one prefix sum over all entries
    (``(nnz, m)``, int64); rows whose running sum leaves the accumulator's range are replayed with saturation in
    storage column order (:func:`_saturating_sums`, on their non-zero products). The prefix sum is exact while every partial sum of it fits
    int64 (``nnz * max|w| * max|x| < 2**62``, checked); otherwise :func:`_reference_accumulate_chunk` runs, whose
    differences of wrapped prefix sums are exact in any case."""
    order = entries if isinstance(entries, _Order) else _Order(*entries)
    pos = order.pos
    m = columns.shape[0]
    if not len(pos):
        return acc, np.zeros(m, dtype=np.int64)
    max_x = max(-int(columns.min()), int(columns.max())) if columns.size else 0
    if len(pos) * order.max_weight * max_x >= 1 << 62:
        return _reference_accumulate_chunk(cfg, order.entries, columns, acc)
    lo, hi = fixed_range(cfg.acc_bits)
    if len(pos) * order.max_weight * max_x < _FLOAT_EXACT and acc.min() >= lo and acc.max() <= hi:
        bounded = _bounded_accumulate_chunk(order, columns, acc, lo, hi)
        if bounded is not None:
            return bounded
    starts, ends, rows = order.starts, order.ends, order.rows
    init = acc[rows]
    acc_in, acc = acc, acc.copy()
    acc_sat = np.zeros(m, dtype=np.int64)
    # The products, then in place their prefix sums (no partial sum reaches 2**62: checked above); a row's
    # products are the differences of its prefix sums. One input: one gather from the codebook x inputs table
    # (its indices are in range by construction: no bounds check).
    if m == 1 and order.codebook is not None:
        csum = np.multiply.outer(order.codebook, columns[0]).reshape(-1).take(order.table_index, mode="clip")
    elif m == 1:
        csum = order.weight * columns[0][order.col]
    else:
        csum = order.weight[:, None] * columns.T[order.col]    # (nnz, m), exact in int64
    csum = csum.astype(np.int64, copy=False)
    csum = np.cumsum(csum, axis=0, out=csum).reshape(len(pos), m)
    base = init - np.where(starts[:, None] > 0, csum[starts - 1], 0)   # a row's running sum: csum + base
    pmax = np.maximum.reduceat(csum, starts, axis=0) + base
    pmin = np.minimum.reduceat(csum, starts, axis=0) + base
    acc[rows] = csum[ends] + base
    r_i, b_i = np.nonzero((pmin < lo) | (pmax > hi))
    if len(r_i) and (init.min() < lo or init.max() > hi):    # never from the images (the bias fits); be exact
        return _reference_accumulate_chunk(cfg, order.entries, columns, acc_in)
    if len(r_i):
        _rescan(starts[r_i], ends[r_i] - starts[r_i] + 1, rows[r_i], b_i, csum, base[r_i, b_i], init[r_i, b_i], acc,
                acc_sat, lo, hi)
    return acc, acc_sat


def _rescan(first_entry, lengths, rows, b_i, csum, base, init, acc, acc_sat, lo: int, hi: int) -> None:
    """Replay the entries ``first_entry .. first_entry + lengths - 1`` of ``csum`` (prefix sums, ``(n, m)``) of
    output positions ``rows`` on inputs ``b_i`` with saturation, in storage column order; each leaves the
    accumulator's range, and starts from ``init``, in range. The plain running sum is ``csum + base``. Up to the
    first entry whose running sum leaves the range nothing clamps; that entry clamps once, and the products after
    it (the non-zero ones, one row each, padded with zeros) go through :func:`_saturating_sums` from the clamped
    value. Writes the results into ``acc`` and adds the clamps to ``acc_sat``."""
    m = csum.shape[1]
    offsets = np.cumsum(lengths) - lengths                     # where each row's run starts in the flat lists
    owner = np.repeat(np.arange(len(rows)), lengths)
    # flat index of (entry, input) in csum: entry = first_entry + (k - offset) along each run
    flat = (np.arange(len(owner)) + np.repeat(first_entry - offsets, lengths)) * m + np.repeat(b_i, lengths)
    running = csum.reshape(-1)[flat] + np.repeat(base, lengths)
    out = np.flatnonzero((running < lo) | (running > hi))
    first = out[np.r_[True, owner[out[1:]] != owner[out[:-1]]]]   # one per row: each row leaves the range
    start = np.minimum(np.maximum(running[first], lo), hi)
    values = np.empty_like(running)                            # the products: differences of running sums
    values[1:] = running[1:] - running[:-1]
    values[offsets] = running[offsets] - init
    keep = (np.arange(len(owner)) > np.repeat(first, lengths)) & (values != 0)
    owner, values = owner[keep], values[keep]
    counts = np.bincount(owner, minlength=len(rows))
    runs = np.zeros((len(rows), max(1, int(counts.max()))), dtype=np.int64)
    runs[owner, np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)] = values
    value, clamps = _saturating_sums(start, runs, lo, hi)
    acc[rows, b_i] = value
    np.add.at(acc_sat, b_i, clamps + 1)


def _bounded_accumulate_chunk(order, columns, acc, lo: int, hi: int):
    """Step 2 when no row can leave the accumulator's range: every initial value ``init`` is in range, and
    ``init +- sum|w| * max|x|`` (a bound on every running sum of the row) too; every partial sum of ``|w| * |x|``
    is below ``2**53``. Then no addition clamps and the result is the plain sum, from one float64 CSR mat-vec,
    exact because every partial sum is an integer of magnitude below ``2**53``. Returns None when the bound
    does not hold."""
    matrix, row_abs = order.matrices(acc.shape[0], columns.shape[1])
    reach = row_abs[:, None] * np.abs(columns).max(axis=1)[None, :]
    if (acc - reach < lo).any() or (acc + reach > hi).any():
        return None
    x = columns.T.astype(np.float64)                           # (n_cols, m), exact
    total = (matrix @ x[:, 0])[:, None] if columns.shape[0] == 1 else matrix @ x
    return acc + total.astype(np.int64), np.zeros(columns.shape[0], dtype=np.int64)


def _saturating_sums(acc, prod, lo: int, hi: int):
    """Row by row, ``acc[r]`` plus ``prod[r, 0], prod[r, 1], ...`` in order, clamping to ``lo..hi`` after each
    addition. Returns ``(acc, clamps)`` per row.

    Each step ``s -> clamp(s + p, lo, hi)`` is a clamp-of-shift ``s -> min(max(s + a, l), h)``, and those compose
    exactly: ``f2 o f1 = (a1 + a2, clamp(l1 + a2, l2, h2), clamp(h1 + a2, l2, h2))``. An inclusive scan of the
    compositions (doubling steps) gives every running value; a step clamped where the running value before it
    plus its product leaves the range. A padding product 0 changes nothing once a value is in range, which it
    is after the first real step. Every intermediate is bounded by the caller's ``2**62`` check."""
    rows, n = prod.shape
    a = prod.copy()
    low = np.full((rows, n), lo, dtype=np.int64)
    high = np.full((rows, n), hi, dtype=np.int64)
    d = 1
    while d < n:                        # element i becomes f_i o ... o f_{i-2d+1} from f_i o ... o f_{i-d+1}
        shift = a[:, d:]
        new_low = np.minimum(np.maximum(low[:, :-d] + shift, low[:, d:]), high[:, d:])
        new_high = np.minimum(np.maximum(high[:, :-d] + shift, low[:, d:]), high[:, d:])
        a[:, d:] = a[:, :-d] + shift    # the right-hand side is evaluated before the assignment
        low[:, d:], high[:, d:] = new_low, new_high
        d *= 2
    acc = np.asarray(acc, dtype=np.int64)[:, None]
    state = np.minimum(np.maximum(acc + a, low), high)               # running value after each step
    before = np.concatenate([acc, state[:, :-1]], axis=1)
    after = before + prod
    clamps = np.count_nonzero((after < lo) | (after > hi), axis=1)
    return state[:, -1], clamps


def _reference_accumulate_chunk(cfg, entries, columns, acc):
    """Step 2 on one chunk, the plain way (the oracle of the fast path in tests): prefix sums per row, and a
    Python replay, entry by entry, of every row that leaves the accumulator's range."""
    pos, col, w = entries
    m = columns.shape[0]
    acc_sat = np.zeros(m, dtype=np.int64)
    lo, hi = fixed_range(cfg.acc_bits)
    if len(pos):
        init = acc
        prod = w[:, None] * columns.T[col]                     # (nnz, m), exact in int64
        starts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
        rows = pos[starts]
        # Prefix sums wrap modulo 2**64 but their differences, the per-row partial sums, are exact.
        csum = np.cumsum(prod, axis=0)
        before = np.where(starts[:, None] > 0, csum[starts - 1], 0)
        seg_len = np.diff(np.r_[starts, len(pos)])
        partial = csum - np.repeat(before, seg_len, axis=0) + np.repeat(init[rows], seg_len, axis=0)
        pmin = np.minimum.reduceat(partial, starts, axis=0)
        pmax = np.maximum.reduceat(partial, starts, axis=0)
        total = partial[np.r_[starts[1:], len(pos)] - 1]
        acc = init.copy()
        acc[rows] = total
        for r_i, b_i in zip(*np.nonzero((pmin < lo) | (pmax > hi))):
            seg = slice(starts[r_i], starts[r_i] + seg_len[r_i])
            a = int(init[rows[r_i], b_i])
            for p in prod[seg, b_i]:
                a += int(p)
                if a < lo or a > hi:
                    a = min(max(a, lo), hi)
                    acc_sat[b_i] += 1
            acc[rows[r_i], b_i] = a
    return acc, acc_sat


def run_layer(program: Program, index: int, x_storage) -> np.ndarray:
    """One layer on storage-order inputs (see :func:`run_layer_counted`): the storage-order outputs only."""
    return run_layer_counted(program, index, x_storage)[0]


def run_counted(program: Program, x_q):
    """All layers on logical fixed-point inputs ``x_q`` (``(n_in,)`` or ``(batch, n_in)`` integers).

    Returns ``(outputs, saturations)``: each layer's storage-order outputs (the values the engine's activation
    banks hold after each layer), and per layer ``(acc_saturations, out_saturations)`` (per input, see
    :func:`run_layer_counted`).
    """
    program = _program(program)
    x_q = _fixed_inputs(x_q, "input activations")
    if x_q.ndim not in (1, 2) or x_q.shape[-1] != program.n_in:
        raise InputError(f"network takes {program.n_in} inputs, got an input of shape {x_q.shape}")
    lo, hi = fixed_range(program.config.act_bits)
    if x_q.size and (x_q.min() < lo or x_q.max() > hi):
        bad = int(x_q.min()) if x_q.min() < lo else int(x_q.max())
        raise InputError(f"input activation {bad} does not fit the {program.config.act_bits}-bit activation "
                         f"format: expected {lo}..{hi}")
    single = x_q.ndim == 1
    x = np.atleast_2d(x_q)
    h = np.zeros((x.shape[0], program.layers[0].in_words * program.config.n_pe), dtype=np.int64)
    h[:, program.layers[0].in_pos] = x
    outs, sats = [], []
    for index in range(program.n_layers):
        h, acc_sat, out_sat = run_layer_counted(program, index, h)
        outs.append(h[0] if single else h)
        sats.append((acc_sat[0], out_sat[0]) if single else (acc_sat, out_sat))
    return outs, sats


def run(program: Program, x_q) -> list:
    """All layers on logical fixed-point inputs; each layer's storage-order outputs (see :func:`run_counted`)."""
    return run_counted(program, x_q)[0]


def run_logical(program: Program, x_q) -> np.ndarray:
    """Final fixed-point outputs in logical row order."""
    y = run(program, x_q)[-1]
    return np.asarray(y)[..., program.layers[-1].out_pos]


def run_float(network, x) -> np.ndarray:
    """Float64 reference (unquantised codebooks, biases and inputs) of a ``CompressedNetwork``."""
    return network.float_forward(x)


def error_bound(cfg, x_float) -> float:
    """Bound on |fixed - float| of ONE layer's outputs for inputs exactly representable in the activation format
    and no saturation: output rounding + bias rounding + codebook rounding, in output units::

        2**-(af+1) + 2**-(af+1) + sum_j |x_j| * 2**-(wf+1)
    """
    x = np.atleast_2d(np.asarray(x_float, dtype=np.float64))
    af, wf = cfg.act_frac_bits, cfg.weight_frac_bits
    return float(2.0 ** -af + np.abs(x).sum(axis=1).max() * 2.0 ** -(wf + 1))


def fixed_point_error(network, program: Program, x_float) -> dict:
    """Compare the engine's fixed-point outputs (golden model) with the float reference.

    Returns per-layer and final ``max_abs`` / ``rms`` errors in real units. Each layer's float reference is
    computed from the *same* fixed-point input the engine layer sees, so per-layer figures isolate that layer's
    error; ``final`` compares the whole chain with the float network.
    """
    cfg = program.config
    x = np.atleast_2d(np.asarray(x_float, dtype=np.float64))
    x_q = quantize_input(cfg, x, saturate_ok=True)
    outs = run(program, x_q)
    report = {"layers": []}
    h_q = x_q
    for index, (layer, info) in enumerate(zip(network, program.layers)):
        y_ref = dequantize(h_q, cfg.act_frac_bits) @ layer.dense_weights().T + layer.bias_or_zeros()
        if layer.relu:
            y_ref = np.maximum(y_ref, 0)
        y_q = np.atleast_2d(outs[index])[:, info.out_pos]
        err = dequantize(y_q, cfg.act_frac_bits) - y_ref
        report["layers"].append({"name": info.name, "max_abs": float(np.abs(err).max()),
                                 "rms": float(np.sqrt(np.mean(err ** 2))),
                                 "bound": error_bound(cfg, dequantize(h_q, cfg.act_frac_bits))})
        h_q = y_q
    final = dequantize(h_q, cfg.act_frac_bits) - network.float_forward(x)
    report["final"] = {"max_abs": float(np.abs(final).max()), "rms": float(np.sqrt(np.mean(final ** 2)))}
    return report
