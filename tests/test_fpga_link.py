"""End to end over the simulated UART: the host driver (openeie.fpga.host) loads and runs compiled networks on the
simulated board (UART + command decoder + engine with the iCE40 SPRAM mapping, Verilator), and its outputs and
counters equal the golden model's and the cycle model's. Also the protocol's error statuses, and the host driver
against scripted transports (no simulator)."""

from pathlib import Path

import numpy as np
import pytest

from openeie.compiler.lower import lower
from openeie.compiler.network import CompressedLayer, CompressedNetwork
from openeie.config import EngineConfig
from openeie.fpga.host import BoardLink, LinkError, run
from openeie.fpga.protocol import FrameFormat, Opcode, Status, hello_bytes
from openeie.sim import cycle, golden

BUILD_ROOT = Path(__file__).resolve().parent.parent / "build" / "fpga-sim"

# The iCEBreaker preset's formats (8-bit activations and weights, 2 entries per word -> one SPRAM per PE), shrunk;
# a 2-deep queue makes the broadcaster stall and 2-bit relative indices make filler entries.
CFG = EngineConfig(n_pe=4, fifo_depth=2, code_bits=4, rel_index_bits=2, weight_bits=8, weight_frac_bits=6,
                   act_bits=8, act_frac_bits=4, acc_bits=16, entries_per_word=2, spmat_depth_words=512,
                   ptr_depth=256, act_depth=16, bias_depth=64, max_layers=3)


def make_network(seed=1):
    """Three layers: ReLU with bias, ReLU with bias (rows not a multiple of n_pe), linear without bias."""
    rng = np.random.default_rng(seed)
    cb = np.concatenate([[0], np.linspace(-1.5, 1.5, 15)])

    def layer(n_out, n_in, density, bias, relu, name):
        codes = rng.integers(1, 16, (n_out, n_in)) * (rng.random((n_out, n_in)) < density)
        return CompressedLayer.from_dense_codes(codes, cb, rng.normal(size=n_out) if bias else None, relu, name)

    return CompressedNetwork([layer(23, 20, 0.4, True, True, "fc0"), layer(16, 23, 0.35, True, True, "fc1"),
                              layer(6, 16, 0.5, False, False, "fc2")])


def make_inputs(seed=2):
    rng = np.random.default_rng(seed)
    return {
        "sparse": np.where(rng.random(20) < 0.5, rng.integers(-100, 101, 20), 0),
        "all_zero": np.zeros(20, dtype=np.int64),
        "full_range": rng.integers(-128, 128, 20),        # saturates
        "first_group_only": np.r_[rng.integers(1, 50, 3), np.zeros(17, dtype=np.int64)],
    }


@pytest.fixture(scope="module")
def program():
    return lower(make_network(), CFG)


def test_link_runs_equal_golden_and_cycle_model(program):
    from openeie.testbench.simlink import simulate_runs
    inputs = make_inputs()
    runs = simulate_runs(program, list(inputs.values()), build_root=BUILD_ROOT)
    assert len(runs) == len(inputs)
    for (name, x), (outputs, stats) in zip(inputs.items(), runs):
        assert np.array_equal(outputs, golden.run_logical(program, x)), name
        assert np.array_equal(stats.extra["storage_outputs"], golden.run(program, x)[-1]), name
        _, ref_stats, _ = cycle.run(program, x)
        assert stats.as_dict() == ref_stats.as_dict(), name
    assert runs[0][1].counters["bcast_stalls"] > 0 and runs[0][1].counters["fillers"] > 0


def test_link_error_statuses(program):
    from openeie.testbench.simlink import simulate_error_probes
    x = make_inputs()["sparse"]
    found = simulate_error_probes(program, x, build_root=BUILD_ROOT)
    assert "no run was started" in found["wait_before_start"]
    assert "fewer outputs" in found["read_before_start"]
    assert "did not recognise" in found["bad_opcode"]
    assert "busy" in found["start_while_busy"]
    assert "fewer outputs" in found["read_past_end"]
    assert np.array_equal(found["storage_outputs"], golden.run(program, x)[-1])
    outputs, stats = found["after_errors"]
    assert np.array_equal(outputs, golden.run_logical(program, x))
    assert stats.as_dict() == cycle.run(program, x)[1].as_dict()


# ---- host driver against scripted transports (no simulator) ----------------------------------------------

class ScriptedTransport:
    """Answers each write with the next scripted reply; records what the host sent."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.sent = []
        self.pending = b""

    def write(self, data):
        self.sent.append(bytes(data))
        if self.replies:
            self.pending += self.replies.pop(0)

    def read(self, n, timeout_s):
        data, self.pending = self.pending[:n], self.pending[n:]
        return data

    def resync(self, byte_times):
        self.pending = b""

    def close(self):
        pass


OK = bytes([Status.OK])


def test_host_frames(program):
    fmt = FrameFormat.for_config(CFG)
    t = ScriptedTransport([OK, OK, bytes([1, 0xFF]) + OK])
    link = BoardLink(t, CFG)
    link.load([(0, 1, 2, 0x1234)])
    link.start(3)
    assert list(link.read_outputs(2)) == [1, -1]
    assert t.sent[0][:3] == bytes([Opcode.LOAD, 1, 0]) and len(t.sent[0]) == 3 + fmt.load_bytes
    assert t.sent[1] == bytes([Opcode.START, 3, 0])
    assert t.sent[2] == bytes([Opcode.READ, 2, 0])


def test_host_rejects_board_of_other_config(program):
    other = CFG.replace(fifo_depth=3)
    t = ScriptedTransport([hello_bytes(other)])
    with pytest.raises(LinkError, match="another engine configuration"):
        run(program, make_inputs()["sparse"], transport=t)


def test_host_reports_silence_and_garbage():
    with pytest.raises(LinkError, match="expected 10 bytes from the board, got 0"):
        BoardLink(ScriptedTransport([]), CFG).hello()
    with pytest.raises(LinkError, match="not an OpenEIE engine"):
        BoardLink(ScriptedTransport([b"HELLOWORLD"]), CFG).hello()
    with pytest.raises(LinkError, match="not a status byte"):
        BoardLink(ScriptedTransport([b"\x99"]), CFG).start(1)
    with pytest.raises(LinkError, match="busy"):
        BoardLink(ScriptedTransport([bytes([Status.BUSY])]), CFG).start(1)


def test_host_checks_arguments(program):
    link = BoardLink(ScriptedTransport([]), CFG)
    with pytest.raises(ValueError, match="8-bit integers in -128..127"):
        link.write_activations([128])
    with pytest.raises(ValueError, match="n_layers=4 is out of range"):
        link.start(4)
    with pytest.raises(ValueError, match="vector of 20"):
        link.infer(program, np.zeros(21, dtype=np.int64))
    with pytest.raises(ValueError, match="another engine configuration"):
        BoardLink(ScriptedTransport([]), CFG.replace(n_pe=2)).load_program(program)
    with pytest.raises(ValueError, match="serial port"):
        run(program, make_inputs()["sparse"])
