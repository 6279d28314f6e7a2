# %% [markdown]
# # Running on a board
#
# The host link (`openeie.fpga.host`) talks to the engine over a UART: HELLO, load the images, send an input,
# start, read the outputs and the counters. This example runs the same driver against the simulated board (the
# linked engine of the iCEBreaker build, Verilated, with a bit-level UART on its pins), so it needs no hardware.
# With a board: `openeie synth --board icebreaker -o out/icebreaker`, flash `out/icebreaker/top.bin`
# (`iceprog` or `openFPGALoader -b ice40_generic`), then call `openeie.fpga.host.run(program, x, port="/dev/ttyUSB1")`
# instead of `simulate_runs` (or `openeie.run_board(program, x, board="icebreaker", port="/dev/ttyUSB1")`, which
# also holds every run to the golden and cycle models). From the command line, with images compiled for the board's configuration:
# `openeie run --board icebreaker --port /dev/ttyUSB1 --program --bitstream out/icebreaker IMAGES --input x.npy`
# (`--simulate` instead of `--port` runs them on this simulated board; `--flash-help` prints the steps).

# %%
import numpy as np

import openeie
from openeie.sim import golden
from openeie.testbench.simlink import simulate_runs

rng = np.random.default_rng(0)
# The UP5K's number formats (8-bit weights and activations) on a small 4-PE engine: the Verilator build takes
# about a minute, the runs seconds.
cfg = openeie.EngineConfig(n_pe=4, fifo_depth=2, code_bits=4, rel_index_bits=2, weight_bits=8, weight_frac_bits=6,
                           act_bits=8, act_frac_bits=4, acc_bits=16, entries_per_word=2, spmat_depth_words=512,
                           ptr_depth=256, act_depth=16, bias_depth=64, max_layers=3)
# A two-layer network of random 4-bit codes (the board's formats; any compiled network of this size works)
from openeie.compiler.network import CompressedLayer
layers = [CompressedLayer.from_dense_codes(rng.integers(0, 16, (12, 10)) * (rng.random((12, 10)) < 0.3),
                                           np.r_[0.0, np.linspace(-1, 1, 15)], relu=True, name="fc1"),
          CompressedLayer.from_dense_codes(rng.integers(0, 16, (4, 12)) * (rng.random((4, 12)) < 0.5),
                                           np.r_[0.0, np.linspace(-1, 1, 15)], name="fc2")]
program = openeie.lower(layers, cfg)
x_q = rng.integers(-100, 100, size=(2, 10))

# %%
runs = simulate_runs(program, x_q)
for x, (outputs, stats) in zip(x_q, runs):
    want = golden.run_logical(program, x)
    assert np.array_equal(outputs, want), (outputs, want)
    print(f"board outputs {outputs.tolist()} == golden model, {stats.cycles} cycles")
