"""A stage-by-stage simulator of whole engine runs, written from ``docs/engine.md``: the second oracle.

One small class per pipeline stage of the contract, each split into ``propagate()`` (what the stage does this
cycle, from the registers at the start of the cycle) and ``update()`` (the clock edge), as the EIE authors' C++
simulator is structured:

* :class:`Controller`         layer sequencing: DESC, INIT, COMPUTE, WB of every layer, the phase ends, ``done``
* :class:`Broadcaster`        the (patch) walk over the activation words and the LNZD of the held group
* :class:`BroadcastRegister`  the pushed pair on its way into the queues
* :class:`ActivationQueue`    one per PE, with its level and the broadcaster's count of it (``seen``)
* :class:`PointerRead`        stages P and Q: both pointer banks, the pointer result register
* :class:`SparseMatrixRead`   stage S: one entry per cycle, the word read only when it changes
* :class:`Arithmetic`         stages E, D, P, M: entry select, row/codebook/accumulator read, product, saturating
                              accumulation with the two-write bypass
* :class:`BiasInit`           INIT: bias read, accumulator write one cycle later
* :class:`WriteBack`          WB: accumulator (and multiplier) read, pooling window, product, rounding, bank write

Memories are :class:`Sram` objects (address at t, data from t+1, data kept while not read). Nothing here reads
:mod:`openeie.sim.cycle` or the phase lengths of :mod:`openeie.timing`: every cycle count comes out of the stage
structure, and the values out of the stages' arithmetic on the memory images (the words of the program).
Slow: a Python loop per cycle per PE; for tests on small cases.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from openeie.layout import POOL_AVG, POOL_MAX, Mem, entry_layout, layer_desc_layout, unpack_table
from openeie.stats import COUNTERS, Stats

__all__ = ["step_run", "SteppedRun", "step_compute_phase", "Sram", "Controller", "Broadcaster",
           "BroadcastRegister", "ActivationQueue", "PointerRead", "SparseMatrixRead", "Arithmetic", "BiasInit",
           "WriteBack"]

DESC, INIT, COMPUTE, WB, DONE = "DESC", "INIT", "COMPUTE", "WB", "DONE"

#: A slot of the arithmetic pipeline that carries no entry but counts as busy (stage S held an empty slice).
_BUBBLE = ()


class Sram:
    """Synchronous RAM: the address of a read at t, its data in :attr:`data` from t+1; the data is kept while no
    read is made (non-transparent: a write in the same cycle as a read of the same address is not seen)."""

    __slots__ = ("name", "words", "data", "_read", "_write")

    def __init__(self, name, words):
        self.name, self.words, self.data = name, words, None
        self._read = self._write = None

    def read(self, addr):
        if self._read is not None:
            raise RuntimeError(f"{self.name}: two reads in one cycle ({self._read}, {addr})")
        if not 0 <= addr < len(self.words):
            raise IndexError(f"{self.name}: read of address {addr} outside 0..{len(self.words) - 1}")
        self._read = addr

    def write(self, addr, value):
        if self._write is not None:
            raise RuntimeError(f"{self.name}: two writes in one cycle")
        if not 0 <= addr < len(self.words):
            raise IndexError(f"{self.name}: write of address {addr} outside 0..{len(self.words) - 1}")
        self._write = (addr, value)

    def update(self):
        if self._read is not None:
            self.data = self.words[self._read]
            self._read = None
        if self._write is not None:
            addr, value = self._write
            self.words[addr] = value
            self._write = None


class _Zeros:
    """Memory words that are all zero (the synthetic sparse matrix of :func:`step_compute_phase`)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, addr):
        return 0


@dataclass(frozen=True)
class _Formats:
    """What the stages need of the configuration."""

    n_pe: int
    fifo_depth: int
    entries_per_word: int
    entry_bits: int
    code_mask: int
    rel_shift: int
    rel_mask: int
    codebook_size: int
    weight_bits: int
    wf: int
    act_bits: int
    acc_bits: int
    requant: bool
    mult_bits: int

    @classmethod
    def of(cls, cfg):
        fields = dict(entry_layout(cfg))
        code, rel = fields["code"], fields["rel"]
        return cls(cfg.n_pe, cfg.fifo_depth, cfg.entries_per_word, entry_layout(cfg).size,
                   (1 << code.shape.width) - 1, rel.offset, (1 << rel.shape.width) - 1, cfg.codebook_size,
                   cfg.weight_bits, cfg.weight_frac_bits, cfg.act_bits, cfg.acc_bits, bool(cfg.requant),
                   cfg.mult_bits)


def _clamp(value, bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return min(max(value, lo), hi), value < lo, value > hi


def _signed(word, bits):
    word &= (1 << bits) - 1
    return word - (1 << bits) if word >> (bits - 1) else word


def _full_descriptor(desc: dict) -> dict:
    """A layer-table entry with the convolution fields of a fully connected layer (a 1 x 1 image, a 1 x 1
    kernel) where the engine has none."""
    d = dict(desc)
    g, s = d["in_groups"], d["out_slots"]
    for key, value in (("in_w", 1), ("in_h", 1), ("kernel", 1), ("stride", 1), ("pad", 0), ("out_w", 1),
                       ("out_h", 1), ("acc_slots", s), ("pool", 0), ("pool_size", 1), ("pooled_w", 1),
                       ("pooled_h", 1), ("out_words", s), ("line_words", g), ("col_step", g), ("row_step", g),
                       ("pad_words", 0), ("wb_reads", s), ("acc_line", s), ("win_col", s), ("win_row", s),
                       ("shift", 0)):
        d.setdefault(key, value)
    return d


# ---- the broadcast ---------------------------------------------------------------------------------------------

def _walk(d, n_pe):
    """The broadcast walk of docs/engine.md: ``(word address or None for a padding word, column of lane 0,
    row_base)`` per word, output positions in row-major order and each patch in the order ky, kx, g. Addresses
    from the descriptor's steps, padding told apart by the pixel coordinates."""
    g_n, k = d["in_groups"], d["kernel"]
    row_base = 0
    for oy in range(d["out_h"]):
        for ox in range(d["out_w"]):
            base = oy * d["row_step"] + ox * d["col_step"] - d["pad_words"]
            for ky in range(k):
                iy = oy * d["stride"] + ky - d["pad"]
                for kx in range(k):
                    ix = ox * d["stride"] + kx - d["pad"]
                    inside = 0 <= iy < d["in_h"] and 0 <= ix < d["in_w"]
                    word = base + ky * d["line_words"] + kx * g_n
                    col = (ky * k + kx) * g_n * n_pe
                    for g in range(g_n):
                        yield (word + g if inside else None), col + g * n_pe, row_base
            row_base += d["out_slots"]


class Broadcaster:
    """Holds one group (activation word) at a time and offers its leading non-zero; pushes it into every queue
    unless some queue's count as the broadcaster sees it (pushes before t, pops before t-1) is ``fifo_depth``
    (a stall). Group 0 is held from COMPUTE cycle 1."""

    def __init__(self, fmt, banks, counters):
        self.fmt, self.banks, self.c = fmt, banks, counters
        self.state = "idle"          # idle (before COMPUTE cycle 0), run, done (holds no group any more)
        self.held = None             # deque of (lane, value) non-zeros left in the held group
        self.push = None

    def start(self, desc, bank):
        self.desc, self.bank, self.state = desc, bank, "start"
        self.walk = _walk(desc, self.fmt.n_pe)

    @property
    def finished(self):
        return self.state == "done"

    def propagate(self, queues):
        self.push, self.advance = None, False
        if self.state == "start":                           # COMPUTE cycle 0: group 0 is read
            self.advance = True
        elif self.state == "run":
            if not self.held:
                self.advance = True
            elif any(q.seen >= self.fmt.fifo_depth for q in queues):
                self.c["bcast_stalls"] += 1
            else:
                lane, value = self.held[0]
                self.push = (self.desc["ptr_base"] + self.col + lane, value, self.row_base)
                self.c["broadcasts"] += 1
                self.advance = len(self.held) == 1

    def update(self):
        if self.push is not None:
            self.held.popleft()
        if self.advance:
            item = next(self.walk, None)
            if item is None:
                self.state, self.held = "done", None
                return
            word, self.col, self.row_base = item
            self.state = "run"
            if word is None:                                # padding: all zero, not read
                self.held = deque()
            else:
                self.c["act_reads"] += self.fmt.n_pe
                lanes = self.banks[self.bank][word]
                self.held = deque((lane, v) for lane, v in enumerate(lanes) if v)


class BroadcastRegister:
    """The pair pushed at t, written into every queue at t+1."""

    def __init__(self):
        self.pair = None

    def update(self, pushed):
        self.pair = pushed


class ActivationQueue:
    """One PE's queue of (pointer index, activation, row_base). ``level`` = pushes before t minus pops before
    t (a pair counts from its push on); ``seen`` = pushes before t minus pops before t-1 (the broadcaster's
    count: a pop reaches it a cycle late); the head is popped when stage P accepts it."""

    def __init__(self, depth, counters):
        self.items, self.level, self.depth, self.c = deque(), 0, depth, counters
        self.pop = self.popped_before = None

    @property
    def seen(self):
        return self.level + (self.popped_before is not None)     # the pop of t-1 is not counted yet

    def propagate(self, accept):
        self.pop = self.items[0] if accept and self.items else None

    def update(self, incoming, pushed_now):
        if self.pop is not None:
            self.items.popleft()
        if incoming is not None:
            self.items.append(incoming)
            self.c["fifo_pushes"] += 1
            if len(self.items) > self.depth:
                raise RuntimeError("activation queue overflow")
        self.level += (pushed_now is not None) - (self.pop is not None)
        self.popped_before = self.pop


# ---- the pointer and sparse-matrix reads ------------------------------------------------------------------------

class PointerRead:
    """Stages P and Q. A pop reads both pointer banks (p[c], p[c+1] of column c = ptr_base + j); P holds the
    banks' outputs from the next cycle and hands them to the pointer result register Q in the first cycle in
    which Q is empty or consumed by stage S."""

    def __init__(self, even, odd, counters):
        self.even, self.odd, self.c = even, odd, counters
        self.p = None                # (odd column, a, row_base) while the banks' outputs are valid
        self.q = None                # (start, end, a, row_base)
        self._read = None

    def propagate(self, s_loads):
        self.s_loads = s_loads
        self.move = self.p is not None and (self.q is None or s_loads)
        self.accept = self.p is None or self.move

    def read(self, pair):
        c, a, row_base = pair
        half = c >> 1
        if c & 1:
            self.odd.read(half)
            self.even.read(half + 1)
        else:
            self.even.read(half)
            self.odd.read(half)
        self.c["ptr_reads"] += 2
        self._read = (c & 1, a, row_base)

    def update(self):
        if self.move:
            odd, a, row_base = self.p
            start, end = (self.odd.data, self.even.data) if odd else (self.even.data, self.odd.data)
            self.q, self.p = (int(start), int(end), a, row_base), None
        elif self.s_loads:
            self.q = None
        if self._read is not None:
            self.p, self._read = self._read, None


class SparseMatrixRead:
    """Stage S: holds one column slice for ``max(1, end - start)`` cycles, issuing one entry per cycle; reads the
    sparse-matrix word of an entry only when it differs from the last word this PE read in the run. Loads Q at
    the end of the last cycle of its slice, or of any cycle in which it holds nothing."""

    def __init__(self, fmt, spmat, counters, pe_busy, pe):
        self.fmt, self.spmat, self.c, self.busy, self.pe = fmt, spmat, counters, pe_busy, pe
        self.slice = None            # [next entry, end, a, row_base, start]
        self.last_word = None

    def propagate(self, q):
        sl = self.slice
        self.issue, last = None, True
        if sl is not None:
            nxt, end, a, row_base, start = sl
            if nxt < end:
                word = nxt // self.fmt.entries_per_word
                if word != self.last_word:
                    self.spmat.read(word)
                    self.c["spmat_reads"] += 1
                self.word = word
                self.issue = (nxt % self.fmt.entries_per_word, a, row_base, nxt == start)
                self.busy[self.pe] += 1
                last = nxt + 1 >= end
        self.held = sl is not None
        self.load = q if q is not None and (sl is None or last) else None
        self.last = last

    def update(self):
        if self.issue is not None:
            self.last_word = self.word
        if self.load is not None:
            start, end, a, row_base = self.load
            self.slice = [start, end, a, row_base, start]
        elif self.slice is not None and self.last:
            self.slice = None
        elif self.issue is not None:
            self.slice[0] += 1


# ---- the arithmetic ----------------------------------------------------------------------------------------

class Arithmetic:
    """Stages E, D, P, M of one PE. E (t+1) selects the entry issued at t out of the sparse-matrix read data;
    D (t+2) accumulates the row address and reads the codebook (and the accumulator for a real entry); P (t+3)
    registers the product and the accumulator's read data; M (t+4) writes ``sat(acc_old + product)`` with
    ``acc_old`` from the write of the cycle before, else of two cycles before (same row), else the read data.
    A slot of the pipeline that S filled with an empty slice is busy but carries nothing."""

    def __init__(self, fmt, spmat, codebook, acc, counters):
        self.fmt, self.spmat, self.codebook, self.acc, self.c = fmt, spmat, codebook, acc, counters
        self.s_reg = self.e_reg = self.d_reg = self.p_reg = None
        self.row = 0
        self.w1 = self.w2 = None     # (row, value) written at the end of the last cycle / the one before
        self.cb_base = 0

    @property
    def idle(self):
        return self.s_reg is None and self.e_reg is None and self.d_reg is None and self.p_reg is None

    def propagate(self, issue, held):
        f = self.fmt
        # M
        self.write = None
        p = self.p_reg
        if p:
            row, real, product, read_data = p
            if real:
                if self.w1 is not None and self.w1[0] == row:
                    old = self.w1[1]
                elif self.w2 is not None and self.w2[0] == row:
                    old = self.w2[1]
                else:
                    old = read_data
                value, low, high = _clamp(old + product, f.acc_bits)
                self.c["acc_saturations"] += low or high
                self.c["acc_writes"] += 1
                self.c["macs"] += 1
                self.acc.write(row, value)
                self.write = (row, value)
            else:
                self.c["fillers"] += 1
        # P
        d = self.d_reg
        if d:
            row, real, a = d
            product = _signed(int(self.codebook.data), f.weight_bits) * a
            self.p_next = (row, real, product, self.acc.data if real else None)
        else:
            self.p_next = d
        # D
        e = self.e_reg
        self.row_next = self.row
        if e:
            code, rel, a, row_base, first = e
            row = (row_base - 1 if first else self.row) + rel + 1
            self.row_next = row
            self.codebook.read(self.cb_base + code)
            self.c["codebook_reads"] += 1
            if code:
                self.acc.read(row)
                self.c["acc_reads"] += 1
            self.d_next = (row, code != 0, a)
        else:
            self.d_next = e
        # E
        s = self.s_reg
        if s:
            lane, a, row_base, first = s
            entry = (int(self.spmat.data) >> (lane * f.entry_bits)) & ((1 << f.entry_bits) - 1)
            self.e_next = (entry & f.code_mask, (entry >> f.rel_shift) & f.rel_mask, a, row_base, first)
        else:
            self.e_next = s
        self.s_next = issue if issue is not None else (_BUBBLE if held else None)

    def update(self):
        self.p_reg, self.d_reg, self.e_reg, self.s_reg = self.p_next, self.d_next, self.e_next, self.s_next
        self.row = self.row_next
        self.w2, self.w1 = self.w1, self.write


# ---- INIT and WB -------------------------------------------------------------------------------------------

class BiasInit:
    """INIT: the bias read at s, the accumulator write one cycle later (``bias << wf``; a requantising engine's
    bias is already in the accumulator format)."""

    def __init__(self, fmt, bias, acc, counters):
        self.fmt, self.bias, self.acc, self.c = fmt, bias, acc, counters
        self.pending = None

    def propagate(self, command):
        f = self.fmt
        self.writing = self.pending is not None
        if self.writing:
            word = int(self.bias.data)
            value = _signed(word, f.acc_bits) if f.requant else _signed(word, f.act_bits) << f.wf
            self.acc.write(self.pending, value)
            self.c["acc_writes"] += 1
        self.command = command
        if command is not None:
            self.bias.read(command[0])
            self.c["bias_reads"] += 1

    def update(self):
        self.pending = None if self.command is None else self.command[1]


class WriteBack:
    """WB of one PE: the accumulator read at r (on a requantising engine with the bias word of the slot's channel,
    with the first read of a pooling window), the read data (and multiplier) registered at r+1, a pooled window
    combined at r+2, the product with the multiplier registered next (requantising), the rounded, saturated,
    ReLU'd activation registered next, and written to the destination bank the cycle after."""

    def __init__(self, fmt, pe, bias, acc, banks, counters):
        self.fmt, self.pe, self.bias, self.acc, self.banks, self.c = fmt, pe, bias, acc, banks, counters
        self.issued = self.r1 = self.win = self.prod = self.rnd = None

    def start(self, desc, bank):
        self.desc, self.bank = desc, bank
        self.pool, self.k = desc["pool"], desc["pool_size"]
        if self.fmt.requant:
            self.shift = desc["shift"]
        else:
            self.shift = self.fmt.wf + ((self.k * self.k).bit_length() - 1 if self.pool == POOL_AVG else 0)

    @property
    def empty(self):
        return all(r is None for r in (self.issued, self.r1, self.win, self.prod))

    def propagate(self, command):
        f = self.fmt
        self.writing = self.rnd is not None
        # the bank write
        if self.writing:
            word, y = self.rnd
            self.banks[self.bank][word][self.pe] = y
            self.c["act_writes"] += 1
        # rounding, saturation, ReLU
        source = self.prod if f.requant else (self.win if self.pool else self.r1)
        self.rnd_next = None
        if source is not None and source[3]:               # a value that completes its window
            value, word = source[0], source[2]
            shifted = (value + (1 << (self.shift - 1))) >> self.shift if self.shift else value
            y, low, high = _clamp(shifted, f.act_bits)
            relu = self.desc["relu"]
            if relu:
                y = max(y, 0)
            self.c["out_saturations"] += high or (low and not relu)
            self.rnd_next = (word, y)
        # the product with the multiplier (requantising)
        self.prod_next = None
        if f.requant:
            feed = self.win if self.pool else self.r1
            if feed is not None and feed[3]:
                self.prod_next = (feed[0] * feed[1], None, feed[2], True)
        # the pooling window
        self.win_next = None
        if self.pool and self.r1 is not None:
            value, mult, word, last, first = self.r1
            if first:
                self.win_next = (value, mult, word, last)
            else:
                old = self.win[0]
                combined = max(old, value) if self.pool == POOL_MAX else old + value
                self.win_next = (combined, self.win[1], word, last)
        # registered read data
        self.r1_next = None
        if self.issued is not None:
            word, last, first, with_mult = self.issued
            mult = None
            if f.requant:
                mult = (int(self.bias.data) >> f.acc_bits) & ((1 << f.mult_bits) - 1) if with_mult else None
            self.r1_next = (self.acc.data, mult, word, last, first)
        # the reads
        self.command = command
        if command is not None:
            slot, channel, word, first, last = command
            self.acc.read(slot)
            self.c["acc_reads"] += 1
            with_mult = f.requant and first
            if with_mult:
                self.bias.read(self.desc["bias_base"] + channel)
                self.c["bias_reads"] += 1
            self.issued_next = (word, last, first, with_mult)
        else:
            self.issued_next = None

    def update(self):
        self.rnd, self.prod, self.win, self.r1 = self.rnd_next, self.prod_next, self.win_next, self.r1_next
        self.issued = self.issued_next


def _init_commands(d):
    """INIT's ``(bias address, accumulator slot)`` per cycle: the bias address restarts after every
    ``out_slots`` slots."""
    channel = 0
    for slot in range(d["acc_slots"]):
        yield d["bias_base"] + channel, slot
        channel = 0 if channel + 1 == d["out_slots"] else channel + 1


def _wb_commands(d):
    """WB's ``(accumulator slot, channel, destination word, first, last read of its window)`` per cycle."""
    s = d["out_slots"]
    if not d["pool"]:
        for slot in range(d["acc_slots"]):
            yield slot, slot % s, slot, True, True
        return
    k = d["pool_size"]
    for qy in range(d["pooled_h"]):
        for qx in range(d["pooled_w"]):
            base = qy * d["win_row"] + qx * d["win_col"]
            for t in range(s):
                word = (qy * d["pooled_w"] + qx) * s + t
                for wy in range(k):
                    for wx in range(k):
                        yield (base + t + wy * d["acc_line"] + wx * s, t, word, wy == 0 and wx == 0,
                               wy == k - 1 and wx == k - 1)


# ---- the controller ----------------------------------------------------------------------------------------

class Controller:
    """Runs DESC (the layer-table read at its first cycle, the descriptor registered at its second), INIT,
    COMPUTE and WB of every layer back to back. INIT and WB end with the cycle of their last write; COMPUTE at
    the end of the first cycle in which the broadcaster has finished, every queue, P and Q are empty and S and
    the arithmetic stages are idle. ``done`` follows the last WB cycle."""

    def __init__(self, table, n_layers, counters, compute_only=None):
        self.table, self.n_layers, self.c = table, n_layers, counters
        self.layer, self.phase_cycle, self.layer_cycles = 0, 0, [0]
        if compute_only is None:
            self.phase, self.desc = DESC, None
        else:
            self.phase, self.desc = COMPUTE, compute_only
        self.compute_only = compute_only is not None
        self.entering = True
        self.commands = iter(())

    def propagate(self, machine):
        """The phase's command for this cycle and whether the phase ends at the end of this cycle."""
        self.command, self.ends = None, False
        phase = self.phase
        if phase == DESC:
            if self.phase_cycle == 0:
                self.table.read(self.layer)
                self.c["layer_reads"] += 1
            self.ends = self.phase_cycle == 1
        elif phase == INIT:
            self.command = next(self.commands, None)
            self.ends = self.command is None and machine.inits[0].pending is not None
        elif phase == COMPUTE:
            self.ends = machine.compute_idle()
        elif phase == WB:
            self.command = next(self.commands, None)
            wb = machine.wbs[0]
            self.ends = self.command is None and wb.rnd is not None and wb.empty

    def update(self):
        self.layer_cycles[-1] += 1
        self.c["cycles"] += 1
        self.entering = False
        if not self.ends:
            self.phase_cycle += 1
            return
        self.phase_cycle, self.entering = 0, True
        if self.phase == DESC:
            self.desc = _full_descriptor(self.table.data)
            self.phase, self.commands = INIT, _init_commands(self.desc)
        elif self.phase == INIT:
            self.phase = COMPUTE
        elif self.phase == COMPUTE:
            self.phase = DONE if self.compute_only else WB
            self.commands = _wb_commands(self.desc)
        elif self.phase == WB:
            self.layer += 1
            if self.layer == self.n_layers:
                self.phase = DONE
            else:
                self.phase = DESC
                self.layer_cycles.append(0)


# ---- the engine ----------------------------------------------------------------------------------------------

class _Machine:
    """The stages of one engine, wired together; :meth:`step` is one clock cycle."""

    def __init__(self, fmt, table, n_layers, mems, banks, compute_only=None):
        n = fmt.n_pe
        self.fmt, self.banks = fmt, banks
        self.c = dict.fromkeys(COUNTERS, 0)
        self.pe_busy = [0] * n
        self.ctrl = Controller(table, n_layers, self.c, compute_only)
        self.srams = [table]
        self.bcast = Broadcaster(fmt, banks, self.c)
        self.breg = BroadcastRegister()
        self.queues, self.ptrs, self.ss, self.ariths, self.inits, self.wbs = [], [], [], [], [], []
        for p in range(n):
            even, odd = Sram(f"PE {p} ptr_even", mems["ptr_even"][p]), Sram(f"PE {p} ptr_odd", mems["ptr_odd"][p])
            spmat = Sram(f"PE {p} spmat", mems["spmat"][p])
            codebook = Sram(f"PE {p} codebook", mems["codebook"][p])
            bias = Sram(f"PE {p} bias", mems["bias"][p])
            acc = Sram(f"PE {p} acc", [0] * mems["acc_depth"])
            self.srams += [even, odd, spmat, codebook, bias, acc]
            self.queues.append(ActivationQueue(fmt.fifo_depth, self.c))
            self.ptrs.append(PointerRead(even, odd, self.c))
            self.ss.append(SparseMatrixRead(fmt, spmat, self.c, self.pe_busy, p))
            self.ariths.append(Arithmetic(fmt, spmat, codebook, acc, self.c))
            self.inits.append(BiasInit(fmt, bias, acc, self.c))
            self.wbs.append(WriteBack(fmt, p, bias, acc, banks, self.c))
        self.outputs = []

    def compute_idle(self):
        return (self.bcast.finished and self.breg.pair is None
                and all(q.level == 0 for q in self.queues)
                and all(pr.p is None and pr.q is None for pr in self.ptrs)
                and all(s.slice is None for s in self.ss) and all(a.idle for a in self.ariths))

    def step(self):
        ctrl = self.ctrl
        phase, layer = ctrl.phase, ctrl.layer
        if ctrl.entering:
            if phase == COMPUTE:
                self.bcast.start(ctrl.desc, layer % 2)
                for a in self.ariths:
                    a.cb_base = layer * self.fmt.codebook_size
            elif phase == WB:
                for wb in self.wbs:
                    wb.start(ctrl.desc, (layer + 1) % 2)
        ctrl.propagate(self)
        if phase == INIT:
            for init in self.inits:
                init.propagate(ctrl.command)
        elif phase == WB:
            for wb in self.wbs:
                wb.propagate(ctrl.command)
        elif phase == COMPUTE:
            bcast = self.bcast
            bcast.propagate(self.queues)
            for q, pr, s, a in zip(self.queues, self.ptrs, self.ss, self.ariths):
                s.propagate(pr.q)
                a.propagate(s.issue, s.held)
                pr.propagate(s.load is not None)
                q.propagate(pr.accept)
                if q.pop is not None:
                    pr.read(q.pop)
        # the clock edge
        if phase == INIT:
            for init in self.inits:
                init.update()
        elif phase == WB:
            for wb in self.wbs:
                wb.update()
        elif phase == COMPUTE:
            pushed, incoming = self.bcast.push, self.breg.pair
            self.bcast.update()
            self.breg.update(pushed)
            for q, pr, s, a in zip(self.queues, self.ptrs, self.ss, self.ariths):
                q.update(incoming, pushed)
                pr.update()
                s.update()
                a.update()
        for sram in self.srams:
            sram.update()
        if phase == WB and ctrl.ends:
            d = ctrl.desc
            words = self.banks[(layer + 1) % 2][:d["out_words"]]
            self.outputs.append(np.array([v for word in words for v in word], dtype=np.int64))
        ctrl.update()


@dataclass
class SteppedRun:
    """What :func:`step_run` returns: every layer's storage-order outputs (the destination bank's ``out_words``
    words after its WB; the last is what the output stream drains), the run's :class:`~openeie.stats.Stats`
    (the engine's counter set) and each layer's COMPUTE cycles."""

    outputs: list
    stats: Stats
    compute_cycles: list


def _mems(program):
    """Per-PE memory words of the images as Python ints (codebook and bias words raw)."""
    cfg, m, u = program.config, program.mems, program.used
    n = cfg.n_pe
    out = {key: [[int(w) for w in m[mem][p, :max(1, int(u[mem][p]))]] for p in range(n)]
           for key, mem in (("ptr_even", Mem.PTR_EVEN), ("ptr_odd", Mem.PTR_ODD), ("spmat", Mem.SPMAT),
                            ("codebook", Mem.CODEBOOK), ("bias", Mem.BIAS))}
    out["acc_depth"] = cfg.act_depth
    return out


def step_run(program, x_q, max_cycles: int = 10 ** 7) -> SteppedRun:
    """Run ``program`` on the logical fixed-point input ``x_q`` cycle by cycle, stage by stage (the images are
    read word by word: layer table, pointers, sparse-matrix words, codebooks, biases)."""
    cfg = program.config
    n = cfg.n_pe
    fmt = _Formats.of(cfg)
    table = Sram("layer table", unpack_table(layer_desc_layout(cfg), program.mems[Mem.LAYERS]))
    banks = [[[0] * n for _ in range(cfg.act_depth)] for _ in range(2)]
    x = program.input_storage(np.asarray(x_q, dtype=np.int64))      # the input stream, positions 0, 1, 2, ...
    for pos, v in enumerate(x.tolist()):
        banks[0][pos // n][pos % n] = v
    machine = _Machine(fmt, table, program.n_layers, _mems(program), banks)
    compute = []
    for _ in range(max_cycles):
        if machine.ctrl.phase == DONE:
            break
        was_compute = machine.ctrl.phase == COMPUTE
        if was_compute and machine.ctrl.entering:
            compute.append(0)
        machine.step()
        if was_compute:
            compute[-1] += 1
    else:
        raise RuntimeError(f"the run did not finish in {max_cycles} cycles")
    c = machine.c
    stats = Stats(counters=dict(c), pe_busy=np.array(machine.pe_busy, dtype=np.int64),
                  layer_cycles=list(machine.ctrl.layer_cycles))
    return SteppedRun(machine.outputs, stats, compute)


def step_compute_phase(x_storage, slice_len, n_pe, in_groups, depth, max_cycles=10 ** 7):
    """Step only the COMPUTE phase of one fully connected layer on the stages of :func:`step_run`:
    ``x_storage`` the ``in_groups * n_pe`` activations in storage (or walk) order, ``slice_len[p][col]`` the
    entries of PE p in column ``col`` (all fillers here: the timing does not depend on the entries).

    Returns ``(compute_cycles, bcast_stalls, pe_busy)``.
    """
    x = [int(v) for v in np.asarray(x_storage).reshape(-1)]
    if len(x) != in_groups * n_pe:
        raise ValueError(f"{len(x)} activations: expected in_groups * n_pe = {in_groups * n_pe}")
    fmt = _Formats(n_pe, depth, 1, 2, 1, 1, 1, 2, 2, 0, 2, 4, False, 0)
    banks = [[x[g * n_pe:(g + 1) * n_pe] for g in range(in_groups)], []]
    ptrs = []
    for p in range(n_pe):
        pointers = np.concatenate([[0], np.cumsum(np.asarray(slice_len[p][:len(x)], dtype=np.int64))])
        if len(pointers) % 2:
            pointers = np.append(pointers, pointers[-1])
        ptrs.append([int(v) for v in pointers])
    total = max(1, max(pp[-1] for pp in ptrs))
    mems = {"ptr_even": [pp[0::2] for pp in ptrs], "ptr_odd": [pp[1::2] for pp in ptrs],
            "spmat": [_Zeros(total) for _ in range(n_pe)], "codebook": [[0, 0] for _ in range(n_pe)],
            "bias": [[0] for _ in range(n_pe)], "acc_depth": 1}
    desc = _full_descriptor({"in_groups": in_groups, "out_slots": 1, "ptr_base": 0, "bias_base": 0, "relu": 0})
    machine = _Machine(fmt, Sram("layer table", [desc]), 1, mems, banks, compute_only=desc)
    for _ in range(max_cycles):
        if machine.ctrl.phase == DONE:
            return machine.c["cycles"], machine.c["bcast_stalls"], list(machine.pe_busy)
        machine.step()
    raise RuntimeError("stepper did not finish")
