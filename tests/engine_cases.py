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

import functools
from dataclasses import dataclass

import numpy as np

from openeie.compiler.lower import lower
from openeie.compiler.network import CompressedLayer, CompressedNetwork, NetworkError
from openeie.config import EngineConfig
from openeie.fixed import fixed_range

__all__ = ["CONFIGS", "EngineCase", "make_cases", "speed_case", "EDGE_KINDS"]

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
}

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
        self.max_groups = min(cfg.act_depth, max(2, 48 // cfg.n_pe))

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


def make_cases(config_name: str, seed: int = 0, count: int = 40) -> list:
    """``count`` deterministic cases for configuration ``config_name`` (a key of :data:`CONFIGS`)."""
    if config_name not in CONFIGS:
        raise ValueError(f"unknown engine test configuration {config_name!r}: expected one of {sorted(CONFIGS)}")
    cfg = CONFIGS[config_name]
    rng = np.random.default_rng([seed, sorted(CONFIGS).index(config_name)])
    gen = _Gen(cfg, rng)
    cases = []
    for index in range(count):
        kind = EDGE_KINDS[index] if index < len(EDGE_KINDS) else "random"
        for _attempt in range(50):
            layers, x = _edge_case(gen, kind) if kind != "random" else _random_case(gen)
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
