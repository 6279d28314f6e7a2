"""Deterministic engine test cases, shared by the RTL (cocotb) tests and the cycle-model tests.

``make_cases(config_name, seed, count)`` returns ``count`` cases for one of the configurations in
:data:`CONFIGS`: first the named edge cases (in a fixed order), then seeded random cases. The same
``(config_name, seed, count)`` always gives the same cases, so the RTL statistics written by the cocotb run
(keyed by ``case_id``) can be matched by the cycle model.

Edge shapes covered by name: all-zero matrix, all-zero input, single row, single column, 1x1, fewer rows than
PEs, empty columns, full columns, relative-index gaps of exactly ``max_rel`` / ``2**rel_index_bits`` / several
filler runs, dense, a lopsided matrix (one PE does all the work), one huge column per PE, a throughput case,
saturation, sparse inputs with runs of all-zero groups, inputs not a multiple of ``n_pe``, no bias, and
multi-layer chains with ReLU and bias.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from openeie.compiler.lower import lower
from openeie.compiler.network import CompressedLayer, CompressedNetwork, ConvSpec, NetworkError, Requant
from openeie.config import EngineConfig
from openeie.fixed import fixed_range
from openeie.testbench.stepper import step_compute_phase

__all__ = ["CONFIGS", "CONV_CONFIGS", "HARNESS_CONFIGS", "ALL_CONFIGS", "EngineCase", "make_cases", "speed_case", "EDGE_KINDS",
           "CONV_KINDS", "CONV_GRID", "stepper_layer"]

_SMALL = dict(spmat_depth_words=512, bias_depth=128, max_layers=4)

#: Small engines covering n_pe in {1, 2, 4, 8}, code_bits in {2, 4, 8}, rel_index_bits in {2, 4}, odd word
#: sizes (3 and 5 entries per word), fifo depths 1..8, weight_frac_bits = 0 and tight accumulators.
CONFIGS = {
    "pe1_c2_r2": EngineConfig(n_pe=1, fifo_depth=2, code_bits=2, rel_index_bits=2, weight_bits=8,
                              weight_frac_bits=5, act_bits=8, act_frac_bits=3, acc_bits=16, entries_per_word=3,
                              ptr_depth=256, act_depth=24, **_SMALL),
    "pe2_c4_r2": EngineConfig(n_pe=2, fifo_depth=1, code_bits=4, rel_index_bits=2, weight_bits=6,
                              weight_frac_bits=0, act_bits=6, act_frac_bits=2, acc_bits=12, entries_per_word=5,
                              ptr_depth=256, act_depth=16, **_SMALL),
    "pe4_c8_r4": EngineConfig(n_pe=4, fifo_depth=3, code_bits=8, rel_index_bits=4, weight_bits=12,
                              weight_frac_bits=7, act_bits=10, act_frac_bits=4, acc_bits=24, entries_per_word=4,
                              ptr_depth=512, act_depth=40, **_SMALL),
    "pe8_c4_r4": EngineConfig(n_pe=8, fifo_depth=8, code_bits=4, rel_index_bits=4, weight_bits=16,
                              weight_frac_bits=12, act_bits=16, act_frac_bits=8, acc_bits=32, entries_per_word=8,
                              ptr_depth=1024, act_depth=40, **_SMALL),
    # requantising (docs/engine.md, "Requantisation"): INT8-like formats, random per-row multipliers and shifts
    "rq_pe4": EngineConfig(n_pe=4, fifo_depth=4, code_bits=8, rel_index_bits=4, weight_bits=8, weight_frac_bits=0,
                           act_bits=8, act_frac_bits=0, acc_bits=24, entries_per_word=5, ptr_depth=512,
                           act_depth=40, mult_bits=16, **_SMALL),
}

_CONV_SMALL = dict(spmat_depth_words=512, ptr_depth=1024, bias_depth=64, max_layers=4)

#: Convolution engines (docs/engine.md, "Convolution layers"): n_pe in {1, 2, 3, 4}, the same spread of number
#: formats, image sides up to 8, kernels up to 5, pooling windows up to 4 (average pooling over 2 x 2 and 4 x 4).
CONV_CONFIGS = {
    "conv_pe1": EngineConfig(n_pe=1, fifo_depth=2, code_bits=4, rel_index_bits=3, weight_bits=8, weight_frac_bits=5,
                             act_bits=8, act_frac_bits=3, acc_bits=16, entries_per_word=3, act_depth=160,
                             max_image_side=7, max_kernel=5, max_pool=4, **_CONV_SMALL),
    "conv_pe2": EngineConfig(n_pe=2, fifo_depth=1, code_bits=2, rel_index_bits=2, weight_bits=6, weight_frac_bits=0,
                             act_bits=6, act_frac_bits=2, acc_bits=12, entries_per_word=5, act_depth=128,
                             max_image_side=6, max_kernel=4, max_pool=2, **_CONV_SMALL),
    "conv_pe3": EngineConfig(n_pe=3, fifo_depth=8, code_bits=4, rel_index_bits=4, weight_bits=16,
                             weight_frac_bits=12, act_bits=16, act_frac_bits=8, acc_bits=32, entries_per_word=8,
                             act_depth=128, max_image_side=8, max_kernel=3, max_pool=4, **_CONV_SMALL),
    "conv_pe4": EngineConfig(n_pe=4, fifo_depth=3, code_bits=8, rel_index_bits=4, weight_bits=12, weight_frac_bits=7,
                             act_bits=10, act_frac_bits=4, acc_bits=24, entries_per_word=4, act_depth=128,
                             max_image_side=8, max_kernel=5, max_pool=3, **_CONV_SMALL),
    "conv_rq_pe2": EngineConfig(n_pe=2, fifo_depth=2, code_bits=4, rel_index_bits=3, weight_bits=6,
                                weight_frac_bits=2, act_bits=8, act_frac_bits=3, acc_bits=20, entries_per_word=5,
                                act_depth=128, max_image_side=6, max_kernel=3, max_pool=4, mult_bits=12,
                                **_CONV_SMALL),
}

def _harness(n_pe: int, fifo_depth: int, code_bits: int, rel_index_bits: int, **formats) -> EngineConfig:
    """A harness engine: the given widths and number formats, memory depths from ``rel_index_bits``: activation
    slots for the longest gap case (``2 * 2**rel_index_bits + 3`` zero rows) and a margin, biases for two layers
    of that many slots."""
    act_depth = max(24, 2 * (1 << rel_index_bits) + 8)
    return EngineConfig(n_pe=n_pe, fifo_depth=fifo_depth, code_bits=code_bits, rel_index_bits=rel_index_bits,
                        spmat_depth_words=512, bias_depth=max(512, 2 * act_depth), max_layers=4, ptr_depth=1024,
                        act_depth=act_depth, **formats)

#: Engines for the compiled RTL harness (tests/test_harness.py): n_pe up to 64, FIFO depths 1..16, every code
#: width (2..8) and every relative-index width (2..8) once, the word sizes these give.
HARNESS_CONFIGS = {
    "h_pe16_f16_c2_r3": _harness(16, 16, 2, 3, weight_bits=8, weight_frac_bits=5, act_bits=8, act_frac_bits=3,
        acc_bits=18, entries_per_word=5),
    "h_pe32_f5_c5_r5": _harness(32, 5, 5, 5, weight_bits=10, weight_frac_bits=6, act_bits=10, act_frac_bits=4,
        acc_bits=22, entries_per_word=6),
    "h_pe64_f2_c6_r2": _harness(64, 2, 6, 2, weight_bits=8, weight_frac_bits=4, act_bits=8, act_frac_bits=3,
        acc_bits=16, entries_per_word=8),
    "h_pe8_f12_c7_r6": _harness(8, 12, 7, 6, weight_bits=12, weight_frac_bits=8, act_bits=12, act_frac_bits=5,
        acc_bits=28, entries_per_word=4),
    "h_pe3_f1_c3_r7": _harness(3, 1, 3, 7, weight_bits=6, weight_frac_bits=2, act_bits=6, act_frac_bits=2,
        acc_bits=14, entries_per_word=2),
    "h_pe5_f7_c8_r8": _harness(5, 7, 8, 8, weight_bits=16, weight_frac_bits=10, act_bits=16, act_frac_bits=7,
        acc_bits=36, entries_per_word=3),
    "h_pe12_f4_c4_r4_rq": _harness(12, 4, 4, 4, weight_bits=8, weight_frac_bits=0, act_bits=8, act_frac_bits=0,
        acc_bits=24, entries_per_word=7, mult_bits=14),
}

#: Every configuration the engine tests run.
ALL_CONFIGS = {**CONFIGS, **CONV_CONFIGS, **HARNESS_CONFIGS}

#: Named convolution edge cases, in order.
CONV_KINDS = (
    "one_pixel_pointwise", "one_pixel_padded", "kernel_as_input", "max_kernel", "all_zero_channels",
    "zero_weight_channel", "all_zero_input", "depthwise", "grouped", "rect_image", "max_pool_partial",
    "avg_pool_full", "saturate", "no_bias", "conv_conv_fc", "conv_pool_conv_pool_fc", "fc_only",
    "fc_after_conv_few_rows",
)

#: The geometry grid: every combination of stride, padding, groups (1, 2, depthwise) and pooling (none, max 2,
#: average 2), one case each.
CONV_GRID = tuple((stride, pad, groups, pool) for stride in (1, 2, 3) for pad in (0, 1, 2)
                  for groups in ("1", "2", "dw") for pool in (None, "max", "avg"))

EDGE_KINDS = (
    "all_zero_matrix", "all_zero_input", "single_row", "single_col", "one_by_one", "few_rows", "empty_cols",
    "full_cols", "gap_exact", "gap_radix", "gap_long", "dense", "lopsided", "huge_column", "throughput",
    "saturate", "sparse_groups", "first_group_only", "ragged_input", "no_bias", "chain2_relu",
    "chain3_mixed", "chain4_relu_bias",
)


@dataclass(frozen=True, eq=False)
class EngineCase:
    """One test case: a network for ``cfg`` and a logical fixed-point input vector."""

    case_id: str
    config_name: str
    kind: str
    cfg: EngineConfig
    network: CompressedNetwork
    x_q: np.ndarray

    @functools.cached_property
    def program(self):
        return lower(self.network, self.cfg)

    @property
    def n_layers(self) -> int:
        return len(self.network)


class _Gen:
    """Random network pieces in the number formats of one configuration."""

    def __init__(self, cfg: EngineConfig, rng: np.random.Generator):
        self.cfg = cfg
        self.rng = rng
        # Keep the per-layer row/column counts small: loading dominates the RTL simulation time.
        self.max_slots = min(cfg.act_depth, 10)
        self.max_groups = min(cfg.act_depth, max(4, 48 // cfg.n_pe))   # sparse_groups needs 4

    def ints(self, bits, size, scale_bits=None, nonzero=False):
        lo, hi = fixed_range(bits)
        if scale_bits is not None:
            lo, hi = max(lo, -(1 << scale_bits)), min(hi, (1 << scale_bits) - 1)
        v = self.rng.integers(lo, hi + 1, size=size)
        if nonzero:
            while np.any(v == 0):
                v = np.where(v == 0, self.rng.integers(lo, hi + 1, size=size), v)
        return v

    def codebook(self, full_range=False, n=None):
        cfg = self.cfg
        n = cfg.codebook_size if n is None else n
        scale = None if full_range else cfg.weight_frac_bits + 1
        q = self.ints(cfg.weight_bits, n - 1, scale_bits=scale, nonzero=True)
        return np.concatenate([[0.0], q / float(1 << cfg.weight_frac_bits)])

    def requantize(self, layers):
        """On a requantising engine: most layers get a random :class:`Requant` (per-row or per-tensor
        multipliers, 0 and the largest among them, a shift around the fixed-point one, accumulator-scale
        biases); the others keep the fixed-point write-back (multiplier 1, shift ``weight_frac_bits``)."""
        cfg, rng = self.cfg, self.rng
        if not cfg.requant:
            return layers
        out = []
        top = (1 << cfg.mult_bits) - 1
        for layer in layers:
            if rng.random() < 0.2:
                out.append(layer)
                continue
            n = layer.n_out
            if rng.random() < 0.3:
                mult = np.full(n, int(rng.integers(1, top + 1)), dtype=np.int64)
            else:
                mult = rng.integers(0, top + 1, size=n)
                mult[rng.random(n) < 0.1] = top
            typical = max(1, int(np.median(mult)))
            shift = cfg.weight_frac_bits + typical.bit_length() - 1 + int(rng.integers(-2, 3))
            if layer.conv is not None and layer.conv.pool == "avg":
                shift += (layer.conv.pool_size ** 2).bit_length() - 1
            edge = rng.random()
            if edge < 0.1:                               # the extremes of the shift field
                shift = 0
            elif edge < 0.2:
                shift = cfg.acc_bits + cfg.mult_bits - 1
            shift = int(np.clip(shift, 0, cfg.acc_bits + cfg.mult_bits - 1))
            span = cfg.act_bits + cfg.weight_frac_bits - 2
            bias = rng.integers(-(1 << span), 1 << span, size=n) if rng.random() < 0.8 else None
            # without an accumulator-scale bias the layer has none (a float bias alone would not be added)
            out.append(dataclasses.replace(layer, requant=Requant(mult, shift, bias),
                                           bias=layer.bias if bias is not None else None))
        return out

    def bias(self, n_out, full_range=False):
        cfg = self.cfg
        scale = None if full_range else cfg.act_bits - 3
        return self.ints(cfg.act_bits, n_out, scale_bits=scale) / float(1 << cfg.act_frac_bits)

    def x(self, n_in, density=1.0, full_range=False):
        cfg = self.cfg
        scale = None if full_range else cfg.act_bits - 3
        v = self.ints(cfg.act_bits, n_in, scale_bits=scale, nonzero=True)
        return np.where(self.rng.random(n_in) < density, v, 0).astype(np.int64)

    def codes(self, n_out, n_in, density, cb_len):
        mask = self.rng.random((n_out, n_in)) < density
        return np.where(mask, self.rng.integers(1, cb_len, size=(n_out, n_in)), 0)

    def layer(self, codes, name, bias=True, relu=False, full_range=False):
        cb = self.codebook(full_range=full_range)
        codes = np.minimum(codes, len(cb) - 1)
        codes = np.where(codes > 0, np.maximum(codes, 1), 0)
        b = self.bias(codes.shape[0], full_range) if bias else None
        return CompressedLayer.from_dense_codes(codes, cb, bias=b, relu=relu, name=name)

    def random_layer(self, n_out, n_in, density, name, **kw):
        return self.layer(self.codes(n_out, n_in, density, self.cfg.codebook_size), name, **kw)

    def gap_layer(self, gaps, n_in=3):
        """Rows of PE 0 at slots given by cumulative ``gaps`` (zero slots before each entry) in column 0 and
        reversed in column 1; other PEs random."""
        cfg = self.cfg
        slots, s = [], -1
        for g in gaps:
            s += g + 1
            slots.append(s)
        n_slots = slots[-1] + 1
        if n_slots > cfg.act_depth:
            raise ValueError(f"gap case needs {n_slots} slots: act_depth={cfg.act_depth}")
        n_out = n_slots * cfg.n_pe
        codes = self.codes(n_out, n_in, 0.2, cfg.codebook_size)
        codes[0::cfg.n_pe, :2] = 0
        rows = np.asarray(slots) * cfg.n_pe
        codes[rows, 0] = self.rng.integers(1, cfg.codebook_size, size=len(rows))
        rev = (n_slots - 1 - np.asarray(slots)) * cfg.n_pe
        codes[rev, 1] = self.rng.integers(1, cfg.codebook_size, size=len(rev))
        return self.layer(codes, "gap")


def _edge_case(gen: _Gen, kind: str):
    """(layers, x_q) of a named edge case."""
    cfg, rng, n = gen.cfg, gen.rng, gen.cfg.n_pe
    radix = 1 << cfg.rel_index_bits
    S, G = gen.max_slots, gen.max_groups
    if kind == "all_zero_matrix":
        return [gen.layer(np.zeros((2 * n + 1, 3 * n), dtype=np.int64), kind)], gen.x(3 * n)
    if kind == "all_zero_input":
        return [gen.random_layer(3 * n, 2 * n + 1, 0.5, kind)], np.zeros(2 * n + 1, dtype=np.int64)
    if kind == "single_row":
        return [gen.random_layer(1, 3 * n + 1, 0.7, kind)], gen.x(3 * n + 1)
    if kind == "single_col":
        return [gen.random_layer(2 * n + 1, 1, 0.8, kind)], gen.x(1)
    if kind == "one_by_one":
        return [gen.random_layer(1, 1, 1.0, kind)], gen.x(1)
    if kind == "few_rows":
        return [gen.random_layer(max(1, n // 2), 2 * n, 0.8, kind)], gen.x(2 * n)
    if kind == "empty_cols":
        codes = gen.codes(3 * n, 4 * n, 0.6, cfg.codebook_size)
        codes[:, rng.random(4 * n) < 0.4] = 0
        codes[:, 0] = 0
        return [gen.layer(codes, kind)], gen.x(4 * n)
    if kind == "full_cols":
        codes = gen.codes(S * n, 3 * n, 0.2, cfg.codebook_size)
        codes[:, [0, 2, 3 * n - 1]] = rng.integers(1, cfg.codebook_size, size=(S * n, 3))
        return [gen.layer(codes, kind)], gen.x(3 * n)
    if kind == "gap_exact":
        return [gen.gap_layer([cfg.max_rel_index, cfg.max_rel_index, 0])], gen.x(3)
    if kind == "gap_radix":
        return [gen.gap_layer([radix, 0, radix])], gen.x(3)
    if kind == "gap_long":
        return [gen.gap_layer([2 * radix + 3, 0])], gen.x(3)
    if kind == "dense":
        return [gen.random_layer(S * n, 2 * n, 1.0, kind)], gen.x(2 * n)
    if kind == "lopsided":
        codes = np.zeros((S * n, 3 * n), dtype=np.int64)
        codes[0::n, :] = rng.integers(1, cfg.codebook_size, size=(S, 3 * n))
        return [gen.layer(codes, kind)], gen.x(3 * n)
    if kind == "huge_column":
        slots = cfg.act_depth
        codes = np.zeros((slots * n, 2 * n), dtype=np.int64)
        codes[:, 0] = rng.integers(1, cfg.codebook_size, size=slots * n)
        return [gen.layer(codes, kind)], gen.x(2 * n)
    if kind == "throughput":
        return [gen.random_layer(6 * n, 2 * n, 1.0, kind)], gen.x(2 * n)
    if kind == "saturate":
        return ([gen.random_layer(S * n, 3 * n, 0.9, kind, full_range=True)], gen.x(3 * n, full_range=True))
    if kind == "sparse_groups":
        x = np.zeros(G * n, dtype=np.int64)
        x[[n, 4 * n - 1]] = gen.x(2)
        return [gen.random_layer(2 * n, G * n, 0.5, kind)], x
    if kind == "first_group_only":
        x = np.zeros(4 * n, dtype=np.int64)
        x[:n] = gen.x(n)
        return [gen.random_layer(2 * n, 4 * n, 0.5, kind)], x
    if kind == "ragged_input":
        n_in = 3 * n + (n - 1 if n > 1 else 0) + 1
        return [gen.random_layer(2 * n + 1, n_in, 0.5, kind)], gen.x(n_in, 0.7)
    if kind == "no_bias":
        return [gen.random_layer(2 * n, 2 * n, 0.5, kind, bias=False)], gen.x(2 * n)
    if kind == "chain2_relu":
        a = gen.random_layer(3 * n, 2 * n, 0.5, "fc1", relu=True)
        b = gen.random_layer(2 * n + 1, 3 * n, 0.5, "fc2", relu=True)
        return [a, b], gen.x(2 * n)
    if kind == "chain3_mixed":
        a = gen.random_layer(4 * n - 1, 2 * n + 1, 0.4, "fc1", relu=True)
        b = gen.random_layer(n + 1, 4 * n - 1, 0.6, "fc2", relu=False, bias=False)
        c = gen.random_layer(3 * n, n + 1, 0.8, "fc3", relu=True)
        return [a, b, c], gen.x(2 * n + 1, 0.6)
    if kind == "chain4_relu_bias":
        sizes = [3 * n, 4 * n, 2 * n, 3 * n, n + 2]
        layers = [gen.random_layer(sizes[i + 1], sizes[i], 0.5, f"fc{i + 1}", relu=i < 3) for i in range(4)]
        return layers, gen.x(sizes[0], 0.8)
    raise ValueError(f"unknown edge case kind {kind!r}: expected one of {EDGE_KINDS}")


def _random_case(gen: _Gen):
    cfg, rng, n = gen.cfg, gen.rng, gen.cfg.n_pe
    n_layers = int(rng.choice([1, 1, 1, 2, 2, 3, 4][:4 + cfg.max_layers - 1]))
    n_layers = min(n_layers, cfg.max_layers)
    sizes = [int(rng.integers(1, gen.max_groups * n + 1))]
    sizes += [int(rng.integers(1, gen.max_slots * n + 1)) for _ in range(n_layers)]
    layers = []
    for i in range(n_layers):
        density = float(rng.choice([0.0, 0.05, 0.2, 0.5, 0.9, 1.0, rng.random()]))
        layers.append(gen.random_layer(sizes[i + 1], sizes[i], density, f"fc{i + 1}",
                                       relu=bool(rng.random() < 0.6), bias=bool(rng.random() < 0.8),
                                       full_range=bool(rng.random() < 0.1)))
    x = gen.x(sizes[0], float(rng.choice([0.0, 0.1, 0.4, 0.8, 1.0, rng.random()])),
              full_range=bool(rng.random() < 0.1))
    return layers, x


def _conv_codes(gen: _Gen, spec: ConvSpec, out_c: int, density: float) -> np.ndarray:
    """Random codes of a (grouped) convolution: zero outside each output group's input channels."""
    k2 = spec.kernel ** 2
    codes = gen.codes(out_c, spec.in_channels * k2, density, gen.cfg.codebook_size)
    g = spec.groups
    if g > 1:
        row_group = np.arange(out_c)[:, None] // (out_c // g)
        col_group = np.arange(spec.in_channels * k2)[None, :] // (spec.in_channels // g * k2)
        codes = np.where(row_group == col_group, codes, 0)
    return codes


def _conv_layer(gen: _Gen, spec: ConvSpec, out_c: int, density: float, name: str, codes=None, **kw):
    layer = gen.layer(_conv_codes(gen, spec, out_c, density) if codes is None else codes, name, **kw)
    return CompressedLayer(layer.shape, layer.rows, layer.cols, layer.codes, layer.codebook, layer.bias, layer.relu,
                           name, conv=spec)


def _next_spec(prev: ConvSpec, out_c: int, **kw) -> ConvSpec:
    """The geometry of a convolution reading ``prev``'s output."""
    return ConvSpec(out_c, prev.pooled_h, prev.pooled_w, **kw)


def _conv_edge_case(gen: _Gen, kind: str):
    cfg, rng, n = gen.cfg, gen.rng, gen.cfg.n_pe
    side, kmax = cfg.max_image_side, cfg.max_kernel
    c = 2 * n + 1
    if kind == "one_pixel_pointwise":
        spec = ConvSpec(c, 1, 1, 1)
        return [_conv_layer(gen, spec, c + 1, 0.7, kind, relu=True)], gen.x(spec.in_size)
    if kind == "one_pixel_padded":              # a 3 x 3 kernel over a 1 x 1 image: only the centre is inside
        spec = ConvSpec(c, 1, 1, 3, 1, 1)
        return [_conv_layer(gen, spec, n + 1, 0.8, kind)], gen.x(spec.in_size)
    if kind == "kernel_as_input":               # one output position
        k = min(kmax, side)
        spec = ConvSpec(2, k, k, k)
        return [_conv_layer(gen, spec, 2 * n, 0.6, kind)], gen.x(spec.in_size, 0.8)
    if kind == "max_kernel":
        spec = ConvSpec(1, side, side, kmax, 1, kmax // 2)
        return [_conv_layer(gen, spec, n + 2, 0.5, kind, relu=True)], gen.x(spec.in_size, 0.7)
    if kind == "all_zero_channels":             # input channels 1 and 3 all zero
        spec = ConvSpec(4, 3, 3, 3, 1, 1)
        x = gen.x(spec.in_size).reshape(4, 9)
        x[[1, 3]] = 0
        return [_conv_layer(gen, spec, 3, 0.7, kind)], x.reshape(-1)
    if kind == "zero_weight_channel":           # output channel 1 has no weight: its bias only
        spec = ConvSpec(3, 3, 3, 2, 1, 1, "max", 2)
        codes = _conv_codes(gen, spec, n + 2, 0.6)
        codes[1] = 0
        return [_conv_layer(gen, spec, n + 2, 0.6, kind, codes=codes)], gen.x(spec.in_size)
    if kind == "all_zero_input":
        spec = ConvSpec(2, 4, 4, 3, 1, 1, "avg", 2)
        return [_conv_layer(gen, spec, 3, 0.7, kind)], np.zeros(spec.in_size, dtype=np.int64)
    if kind == "depthwise":
        spec = ConvSpec(c, 4, 4, 3, 1, 1, groups=c)
        return [_conv_layer(gen, spec, c, 0.9, kind)], gen.x(spec.in_size, 0.8)
    if kind == "grouped":
        spec = ConvSpec(4, 4, 3, 2, 1, 1, "max", 2, groups=2)
        return [_conv_layer(gen, spec, 6, 0.7, kind, relu=True)], gen.x(spec.in_size)
    if kind == "rect_image":
        spec = ConvSpec(2, min(side, 6), 3, 3, 2, 1)
        return [_conv_layer(gen, spec, n + 1, 0.6, kind)], gen.x(spec.in_size, 0.7)
    if kind == "max_pool_partial":              # the last partial row and column of windows dropped
        k = 3 if cfg.max_pool >= 3 else 2
        spec = ConvSpec(2, 7 if side >= 7 else 5, 5, 1, 1, 0, "max", k)
        return [_conv_layer(gen, spec, 3, 0.9, kind)], gen.x(spec.in_size)
    if kind == "avg_pool_full":                 # the largest power-of-two window the engine averages
        k = 4 if cfg.max_pool >= 4 and side >= 4 else 2
        spec = ConvSpec(1, k, k, 1, 1, 0, "avg", k)
        return [_conv_layer(gen, spec, 2, 1.0, kind)], gen.x(spec.in_size, full_range=True)
    if kind == "saturate":
        spec = ConvSpec(3, 3, 3, 3, 1, 1, "max", 2)
        return ([_conv_layer(gen, spec, 2 * n, 0.9, kind, full_range=True)], gen.x(spec.in_size, full_range=True))
    if kind == "no_bias":
        spec = ConvSpec(2, 3, 3, 2, 1, 0)
        return [_conv_layer(gen, spec, n + 1, 0.7, kind, bias=False)], gen.x(spec.in_size)
    if kind == "conv_conv_fc":
        a = ConvSpec(2, 4, 4, 3, 1, 1)
        b = _next_spec(a, 3, kernel=3, stride=2, pad=1)
        layers = [_conv_layer(gen, a, 3, 0.6, "conv1", relu=True), _conv_layer(gen, b, 4, 0.5, "conv2", relu=True)]
        n_in = 4 * b.pooled_h * b.pooled_w
        return layers + [gen.random_layer(5, n_in, 0.5, "fc")], gen.x(a.in_size, 0.8)
    if kind == "conv_pool_conv_pool_fc":
        a = ConvSpec(1, 6, 6, 3, 1, 1, "max", 2)
        b = _next_spec(a, n + 1, kernel=3, pad=1, pool="avg" if cfg.max_pool >= 2 else None, pool_size=2)
        layers = [_conv_layer(gen, a, n + 1, 0.7, "conv1", relu=True), _conv_layer(gen, b, 3, 0.6, "conv2")]
        fc1 = gen.random_layer(6, 3 * b.pooled_h * b.pooled_w, 0.6, "fc1", relu=True)
        return layers + [fc1, gen.random_layer(3, 6, 0.7, "fc2")], gen.x(a.in_size, 0.9)
    if kind == "fc_only":                       # a fully connected chain on a convolution engine
        return [gen.random_layer(2 * n + 1, 3 * n, 0.5, "fc1", relu=True),
                gen.random_layer(n, 2 * n + 1, 0.6, "fc2")], gen.x(3 * n, 0.8)
    if kind == "fc_after_conv_few_rows":        # an FC layer of fewer rows than PEs after a convolution
        a = ConvSpec(1, 3, 3, 2, 1, 0)
        return [_conv_layer(gen, a, 2, 0.9, "conv", relu=True),
                gen.random_layer(1, 2 * 4, 0.9, "fc")], gen.x(a.in_size)
    raise ValueError(f"unknown convolution edge case kind {kind!r}: expected one of {CONV_KINDS}")


def _grid_case(gen: _Gen, combo):
    stride, pad, groups, pool = combo
    cfg, rng = gen.cfg, gen.rng
    kernel = 3 if pad < 3 else 4
    in_c = {"1": int(rng.integers(1, 4)), "2": 2 * int(rng.integers(1, 3)), "dw": int(rng.integers(2, 5))}[groups]
    g = {"1": 1, "2": 2, "dw": in_c}[groups]
    out_c = in_c if groups == "dw" else g * int(rng.integers(1, 3))
    ps = 2 if pool else 1
    side = min(cfg.max_image_side, 6)
    h, w = (int(v) for v in rng.integers(3, side + 1, size=2))
    spec = ConvSpec(in_c, h, w, kernel, stride, pad, pool, ps, groups=g)
    density = float(rng.choice([0.2, 0.5, 0.9]))
    layer = _conv_layer(gen, spec, out_c, density, "conv", relu=bool(rng.random() < 0.5) and pool != "avg")
    return [layer], gen.x(spec.in_size, float(rng.choice([0.3, 0.7, 1.0])))


def _random_conv_case(gen: _Gen):
    cfg, rng = gen.cfg, gen.rng
    side = cfg.max_image_side
    in_c = int(rng.integers(1, 2 * cfg.n_pe + 2))
    h, w = (int(v) for v in rng.integers(1, side + 1, size=2))
    kernel = int(rng.integers(1, cfg.max_kernel + 1))
    pad = int(rng.integers(0, kernel))
    stride = int(rng.integers(1, 4))
    spec0 = ConvSpec(in_c, h, w, kernel, stride, pad)
    pools = [(None, 1)] + [("max", k) for k in range(2, cfg.max_pool + 1)] + \
        [("avg", k) for k in (2, 4) if k <= cfg.max_pool]
    pool, ps = pools[int(rng.integers(len(pools)))]
    if pool is not None and (spec0.out_h < ps or spec0.out_w < ps):
        pool, ps = None, 1
    divisors = [d for d in range(1, in_c + 1) if in_c % d == 0]
    g = int(rng.choice(divisors)) if rng.random() < 0.3 else 1
    out_c = g * int(rng.integers(1, max(2, 2 * cfg.n_pe // g + 2)))
    spec = ConvSpec(in_c, h, w, kernel, stride, pad, pool, ps, groups=g)
    density = float(rng.choice([0.0, 0.1, 0.4, 0.8, 1.0]))
    layers = [_conv_layer(gen, spec, out_c, density, "conv1", relu=bool(rng.random() < 0.6) and pool != "avg",
                          bias=bool(rng.random() < 0.8), full_range=bool(rng.random() < 0.1))]
    if rng.random() < 0.4:
        layers.append(gen.random_layer(int(rng.integers(1, 3 * cfg.n_pe + 1)), out_c * spec.pooled_h * spec.pooled_w,
                                       0.5, "fc"))
    return layers, gen.x(spec.in_size, float(rng.choice([0.0, 0.3, 0.7, 1.0])), full_range=bool(rng.random() < 0.1))


def _conv_kind(index: int) -> str:
    if index < len(CONV_KINDS):
        return CONV_KINDS[index]
    if index < len(CONV_KINDS) + len(CONV_GRID):
        return "grid"
    return "random"


def make_cases(config_name: str, seed: int = 0, count: int = 40) -> list:
    """``count`` deterministic cases for configuration ``config_name`` (a key of :data:`ALL_CONFIGS`): of a
    fully connected engine the :data:`EDGE_KINDS` then random networks; of a convolution engine the
    :data:`CONV_KINDS`, then the :data:`CONV_GRID` geometries, then random convolutions."""
    if config_name in CONV_CONFIGS:
        return _make_conv_cases(config_name, seed, count)
    if config_name in HARNESS_CONFIGS:
        cfg = HARNESS_CONFIGS[config_name]
        rng = np.random.default_rng([seed, 200 + sorted(HARNESS_CONFIGS).index(config_name)])
    elif config_name in CONFIGS:
        cfg = CONFIGS[config_name]
        rng = np.random.default_rng([seed, sorted(CONFIGS).index(config_name)])
    else:
        raise ValueError(f"unknown engine test configuration {config_name!r}: expected one of {sorted(ALL_CONFIGS)}")
    gen = _Gen(cfg, rng)
    cases = []
    for index in range(count):
        kind = EDGE_KINDS[index] if index < len(EDGE_KINDS) else "random"
        for _attempt in range(50):
            layers, x = _edge_case(gen, kind) if kind != "random" else _random_case(gen)
            layers = gen.requantize(layers)
            try:
                case = EngineCase(case_id=f"{config_name}/s{seed}/{index:03d}_{kind}", config_name=config_name,
                                  kind=kind, cfg=cfg, network=CompressedNetwork(layers),
                                  x_q=np.asarray(x, dtype=np.int64))
                case.program       # must fit the engine
            except NetworkError:
                if kind != "random":
                    raise
                continue
            break
        else:
            raise RuntimeError(f"could not draw a random case that fits {config_name}")
        cases.append(case)
    return cases


def _make_conv_cases(config_name: str, seed: int, count: int) -> list:
    cfg = CONV_CONFIGS[config_name]
    rng = np.random.default_rng([seed, 100 + sorted(CONV_CONFIGS).index(config_name)])
    gen = _Gen(cfg, rng)
    cases = []
    for index in range(count):
        kind = _conv_kind(index)
        for _attempt in range(200):
            if kind == "grid":
                combo = CONV_GRID[index - len(CONV_KINDS)]
                try:
                    layers, x = _grid_case(gen, combo)
                except NetworkError:           # a drawn image too small for the combination: draw again
                    continue
                label = "grid_s{}_p{}_g{}_{}".format(*combo[:3], combo[3] or "none")
            elif kind == "random":
                try:
                    layers, x = _random_conv_case(gen)
                except NetworkError:
                    continue
                label = kind
            else:
                layers, x = _conv_edge_case(gen, kind)
                label = kind
            layers = gen.requantize(layers)
            try:
                case = EngineCase(case_id=f"{config_name}/s{seed}/{index:03d}_{label}", config_name=config_name,
                                  kind=kind if kind != "grid" else label, cfg=cfg, network=CompressedNetwork(layers),
                                  x_q=np.asarray(x, dtype=np.int64))
                case.program       # must fit the engine
            except NetworkError:
                if kind not in ("random", "grid"):
                    raise
                continue
            break
        else:
            raise RuntimeError(f"could not draw a {kind} case that fits {config_name}")
        cases.append(case)
    return cases


def stepper_layer(program, index, h):
    """``(compute cycles, broadcast stalls, pe busy)`` of layer ``index`` from the stepper
    (:func:`openeie.testbench.stepper.step_compute_phase`) fed the layer's broadcast walk over its storage-order
    input ``h``: every position's patch, the same column slices at every position."""
    info = program.layers[index]
    n = program.config.n_pe
    walk = info.patch_index().reshape(-1)
    stream = np.where(walk >= 0, np.asarray(h)[np.maximum(walk, 0)], 0)
    positions = len(walk) // info.n_cols
    slices = [np.tile(np.diff(program.decoded.layers[index].ptr[p]), positions).tolist() for p in range(n)]
    return step_compute_phase(stream, slices, n, len(walk) // n, program.config.fifo_depth)


def speed_case(config_name: str, seed: int = 0, weight_density: float = 0.3, act_density: float = 0.5):
    """One large layer filling the configuration's activation banks (``act_depth * n_pe`` inputs and outputs)
    for simulation-speed measurements; the density is lowered until the layer fits the sparse-matrix SRAM."""
    cfg = CONFIGS[config_name]
    gen = _Gen(cfg, np.random.default_rng([seed, 7]))
    size = cfg.act_depth * cfg.n_pe
    while True:
        layer = gen.random_layer(size, size, weight_density, "speed", relu=True)
        case = EngineCase(case_id=f"{config_name}/speed/s{seed}", config_name=config_name, kind="speed", cfg=cfg,
                          network=CompressedNetwork([layer]), x_q=gen.x(size, act_density))
        try:
            case.program
            return case
        except NetworkError:
            weight_density *= 0.9
