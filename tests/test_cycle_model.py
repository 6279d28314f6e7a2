"""The fast cycle model against an independent cycle-by-cycle stepper of docs/engine.md, and its counters."""

import numpy as np
import pytest

from openeie.compiler.lower import lower
from openeie.compiler.network import CompressedLayer, CompressedNetwork
from openeie.config import EngineConfig
from openeie.sim import cycle, golden
from openeie.testbench.stepper import step_compute_phase


def make(n_pe, fifo, shape_list, density, act_density, seed, rel_bits=2, code_bits=2, epw=3):
    rng = np.random.default_rng(seed)
    cfg = EngineConfig(n_pe=n_pe, fifo_depth=fifo, code_bits=code_bits, rel_index_bits=rel_bits,
                       entries_per_word=epw, spmat_depth_words=4096, ptr_depth=1024, act_depth=64, bias_depth=256,
                       max_layers=4, weight_bits=8, weight_frac_bits=4, act_bits=8, act_frac_bits=3, acc_bits=16)
    layers = []
    for i, (n_out, n_in) in enumerate(shape_list):
        codes = rng.integers(1, cfg.codebook_size, (n_out, n_in)) * (rng.random((n_out, n_in)) < density)
        cb = np.concatenate([[0], np.linspace(-1, 1, cfg.codebook_size - 1)])
        layers.append(CompressedLayer.from_dense_codes(codes, cb, rng.normal(0, 0.5, n_out), True, f"l{i}"))
    program = lower(CompressedNetwork(layers), cfg)
    n_in = shape_list[0][1]
    x = rng.integers(-100, 100, n_in) * (rng.random(n_in) < act_density)
    return cfg, program, x


def stepper_layer(program, index, h):
    info = program.layers[index]
    n = program.config.n_pe
    slices = [np.diff(program.decoded.layers[index].ptr[p]).tolist() for p in range(n)]
    return step_compute_phase(h, slices, n, info.in_groups, program.config.fifo_depth)


CASES = [(n_pe, fifo, density, act, seed)
         for seed, (n_pe, fifo, density, act) in enumerate([
             (1, 1, 0.3, 0.5), (2, 1, 0.5, 1.0), (4, 2, 0.2, 0.3), (3, 8, 0.6, 0.8), (8, 1, 0.9, 1.0),
             (8, 4, 0.05, 0.5), (5, 3, 0.0, 1.0), (4, 2, 1.0, 0.0), (16, 2, 0.3, 0.9), (2, 32, 0.4, 0.6),
             (7, 1, 0.15, 0.2), (1, 4, 1.0, 1.0)])]


@pytest.mark.parametrize("n_pe,fifo,density,act,seed", CASES)
def test_fast_model_equals_stepper(n_pe, fifo, density, act, seed):
    cfg, program, x = make(n_pe, fifo, [(37, 29), (11, 37)], density, act, seed)
    outputs, stats, timings = cycle.run(program, x)
    h = program.input_storage(x)
    busy = np.zeros(n_pe, dtype=np.int64)
    stalls = 0
    for index, info in enumerate(program.layers):
        compute, st, b = stepper_layer(program, index, h)
        assert timings[index].compute_cycles == compute, f"layer {index}"
        stalls += st
        busy += b
        assert stats.layer_cycles[index] == 2 + (info.out_slots + 1) + compute + (info.out_slots + 3)
        h = outputs[index]
    assert stats.counters["bcast_stalls"] == stalls
    assert stats.pe_busy.tolist() == busy.tolist()
    assert sum(stats.layer_cycles) == stats.cycles


def test_many_random_layers_against_stepper():
    rng = np.random.default_rng(99)
    for seed in range(40):
        n_pe = int(rng.integers(1, 9))
        fifo = int(rng.integers(1, 6))
        n_out, n_in = int(rng.integers(1, 40)), int(rng.integers(1, 30))
        cfg, program, x = make(n_pe, fifo, [(n_out, n_in)], float(rng.random()), float(rng.random()), 1000 + seed)
        _, stats, timings = cycle.run(program, x)
        compute, st, busy = stepper_layer(program, 0, program.input_storage(x))
        assert (timings[0].compute_cycles, stats.counters["bcast_stalls"], stats.pe_busy.tolist()) == \
               (compute, st, busy), f"seed {seed}"


def test_counters_by_hand():
    # 1 PE, one layer 4x3, x = [5, 0, 7]: columns 0 and 2 broadcast
    cfg = EngineConfig(n_pe=1, fifo_depth=2, code_bits=2, rel_index_bits=2, entries_per_word=2,
                       spmat_depth_words=64, ptr_depth=64, act_depth=8, bias_depth=8, max_layers=2,
                       weight_bits=8, weight_frac_bits=4, act_bits=8, act_frac_bits=3, acc_bits=16)
    codes = np.array([[1, 0, 0], [0, 2, 0], [0, 0, 0], [3, 0, 0]])
    codes[3, 2] = 0
    codes[0, 2] = 1
    layer = CompressedLayer.from_dense_codes(codes, [0, 0.5, -0.5, 1.0], None, False)
    program = lower([layer], cfg)
    outputs, stats, timings = cycle.run(program, np.array([5, 0, 7]))
    c = stats.counters
    # column 0: rows 0, 3 (entries (1,0), (3,2)); column 1: row 1; column 2: row 0
    assert c["broadcasts"] == 2 and c["fifo_pushes"] == 2 and c["ptr_reads"] == 4
    assert c["macs"] == 3 and c["fillers"] == 0 and c["codebook_reads"] == 3
    # entries at addresses 0,1 (word 0) for column 0 and 3 (word 1) for column 2 -> 2 word reads
    assert c["spmat_reads"] == 2
    assert c["acc_reads"] == 3 + 4 and c["acc_writes"] == 3 + 4 and c["bias_reads"] == 4
    assert c["act_reads"] == 3 and c["act_writes"] == 4 and c["layer_reads"] == 1
    assert stats.pe_busy.tolist() == [3]
    # timing: push0 = 1, push1 = 2 (same group? no: groups of 1 PE = 1 column; group 1 is empty -> push1 = 3)
    # pop0 = 3, move0 = 4, begin0 = 6 (2 entries: 6, 7); pop1 = max(5, move0) = 5, move1 = max(6, 5) = 6,
    # begin1 = max(8, 6 + 2) = 8; L = 8 -> 8+5+1 = 14
    assert timings[0].compute_cycles == 14
    assert stats.cycles == 2 + 5 + 14 + 7
    assert np.array_equal(outputs[0], golden.run(program, np.array([5, 0, 7]))[0])


def test_throughput_one_entry_per_cycle():
    # one dense column per PE: compute = entries + fixed latency
    cfg, program, x = make(4, 8, [(240, 1)], 1.0, 1.0, 7)
    _, stats, timings = cycle.run(program, np.array([3]))
    entries = int(stats.pe_busy.max())
    assert entries == 60
    # push at 1, pop at 3, to Q at 4, first entry at 6, last at 6 + 60 - 1 = 65, last accumulator write at
    # the end of 65 + 4 = 69, seen idle at 70
    assert timings[0].compute_cycles == 6 + entries - 1 + 5 + 1
