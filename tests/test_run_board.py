"""``openeie run``: compiled images on a board over the host link, each run held to the golden and cycle models.

* ``--simulate``: the Verilated board (UART + command decoder + engine, driven through its UART pins by the host
  driver), with the configuration and build directory of tests/test_fpga_link.py so the Verilator build is shared.
* ``--port``: a pseudo-terminal pair; a thread on the master side answers the protocol as a board built for the
  configuration would (outputs of the golden model, counters of the cycle model, or one counter off), so the CLI,
  pyserial's SerialTransport and the host driver run their real code path.
* ``--program``: fake ``openFPGALoader`` / ``iceprog`` executables on ``PATH`` record their argv.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import stat
import sys
import threading
import tty
from pathlib import Path

import numpy as np
import pytest

from openeie.cli import main
from openeie.compiler.images import save_images
from openeie.compiler.lower import lower
from openeie.fpga.flash import (FlashError, bitstream_config, choose_programmer, find_bitstream, flash,
                                flash_instructions, programmers)
from openeie.fpga.protocol import COUNT_BYTES, FrameFormat, Opcode, Status, hello_bytes
from openeie.layout import to_signed, to_unsigned
from openeie.sim import cycle, golden
from openeie.stats import Stats, counter_index

from test_fpga_link import BUILD_ROOT, CFG, make_inputs, make_network

REPO = Path(__file__).resolve().parents[1]


def run_cli(argv, where: Path):
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(where)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(["--quiet", *map(str, argv)])
            except SystemExit as e:
                rc = e.code
    finally:
        os.chdir(old)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def program():
    return lower(make_network(), CFG)


@pytest.fixture(scope="module")
def files(tmp_path_factory, program):
    """Images compiled for CFG, CFG as a --config over the icebreaker preset, fixed-point and real inputs."""
    root = tmp_path_factory.mktemp("run")
    save_images(program, root / "images")
    (root / "cfg.json").write_text(json.dumps(CFG.to_dict()))
    inputs = make_inputs()
    np.save(root / "x_fixed.npy", np.stack(list(inputs.values())))
    np.save(root / "x_real.npy", np.stack([inputs["sparse"], inputs["first_group_only"]]) / 16.0)
    return root


# ---- a board on a pseudo-terminal ------------------------------------------------------------------------------

class PtyBoard(threading.Thread):
    """Answers the host link protocol on the master side of a pty as a board built for ``program.config`` would,
    running ``program`` in the golden and cycle models; ``fault`` adds 1 to that counter of every run."""

    def __init__(self, program, fault: str | None = None):
        super().__init__(daemon=True)
        self.program, self.cfg, self.fault = program, program.config, fault
        self.fmt = FrameFormat.for_config(self.cfg)
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self._slave = slave
        self.stop = threading.Event()
        self.loaded = self.runs = self.hellos = self.silent_hellos = 0
        self.act, self.out, self.values = [], np.zeros(0, np.int64), {}

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            if self.stop.is_set():
                raise EOFError
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    data += os.read(self.master, n - len(data))
                except OSError:
                    raise EOFError from None
        return data

    def _int(self, nbytes=COUNT_BYTES) -> int:
        return int.from_bytes(self._read(nbytes), "little")

    def _send(self, data: bytes) -> None:
        os.write(self.master, data)

    def _start(self) -> None:
        storage = to_signed(np.array(self.act, dtype=np.uint64), self.cfg.act_bits)
        x = storage[self.program.layers[0].in_pos]          # the logical input back out of storage order
        self.out = golden.run(self.program, x)[-1]
        stats = cycle.run(self.program, x)[1].as_dict()
        if self.fault:
            stats[self.fault] += 1
        values = {k: stats[k] for k in counter_index(self.cfg) if k in stats}
        values.update({f"pe_busy[{p}]": v for p, v in enumerate(stats["pe_busy"])})
        values.update({f"layer_cycles[{l}]": v for l, v in enumerate(stats["layer_cycles"])})
        self.values = values
        self.act, self.read_at = [], 0
        self.runs += 1

    def run(self):
        try:
            while True:
                op = self._read(1)[0]
                if op == Opcode.HELLO:
                    self.hellos += 1
                    if self.hellos > self.silent_hellos:     # a board still configuring says nothing
                        self._send(hello_bytes(self.cfg))
                elif op == Opcode.LOAD:
                    n = self._int()
                    self._read(n * self.fmt.load_bytes)
                    self.loaded += n
                    self._send(bytes([Status.OK]))
                elif op == Opcode.ACT:
                    n = self._int()
                    raw = self._read(n * self.fmt.act_bytes)
                    w = self.fmt.act_bytes
                    self.act += [int.from_bytes(raw[i * w:(i + 1) * w], "little") for i in range(n)]
                    self._send(bytes([Status.OK]))
                elif op == Opcode.START:
                    self._int()
                    self._start()
                    self._send(bytes([Status.OK]))
                elif op == Opcode.WAIT:
                    self._send(bytes([Status.OK]))
                elif op == Opcode.READ:
                    n = self._int()
                    chunk = self.out[self.read_at:self.read_at + n]
                    self.read_at += n
                    words = to_unsigned(np.asarray(chunk, np.int64), self.cfg.act_bits)
                    self._send(b"".join(int(v).to_bytes(self.fmt.act_bytes, "little") for v in words) +
                               bytes([Status.OK]))
                elif op == Opcode.COUNTERS:
                    first, n = self._int(), self._int()
                    names = sorted(counter_index(self.cfg), key=counter_index(self.cfg).get)[first:first + n]
                    self._send(b"".join(int(self.values.get(k, 0)).to_bytes(self.fmt.counter_bytes, "little")
                                        for k in names) + bytes([Status.OK]))
                elif op != Opcode.NOP:
                    self._send(bytes([Status.BAD_OPCODE]))
        except EOFError:
            pass

    def close(self):
        self.stop.set()
        self.join(2)
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
def pty_board(program):
    boards = []

    def make(fault=None):
        board = PtyBoard(program, fault)
        board.start()
        boards.append(board)
        return board
    yield make
    for b in boards:
        b.close()


# ---- --port against the pty board ------------------------------------------------------------------------------

def test_port_runs_agree_with_the_models(files, program, pty_board, tmp_path):
    board = pty_board()
    rc, out, err = run_cli(["run", "--board", "icebreaker", "--port", board.port, "--config", files / "cfg.json",
                            files / "images", "--input", files / "x_fixed.npy", "--fixed", "-o", "run.json"],
                           tmp_path)
    assert rc == 0, err
    report = json.loads((tmp_path / "run.json").read_text())
    x = np.load(files / "x_fixed.npy")
    assert report["inputs"] == len(x) and report["agree"] and report["link"] == board.port
    assert board.loaded == report["load_words"] == sum(1 for _ in program.load_words())   # loaded once
    assert board.runs == len(x)
    for row, r in zip(x, report["runs"]):
        assert r["outputs_fixed"] == golden.run_logical(program, row).tolist()
        assert r["stats"] == cycle.run(program, row)[1].as_dict()
        assert r["predicted"] == int(np.argmax(r["outputs_fixed"]))
    assert f"outputs {len(x)}/{len(x)} equal to the golden model" in out
    assert f"input 0: {report['runs'][0]['cycles']} cycles, class {report['runs'][0]['predicted']} [ok]" in out


def test_port_real_inputs_are_quantised(files, program, pty_board, tmp_path):
    board = pty_board()
    rc, out, err = run_cli(["run", "--board", "icebreaker", "--port", board.port, "--config", files / "cfg.json",
                            files / "images", "--input", files / "x_real.npy", "-o", "run.json"], tmp_path)
    assert rc == 0, err
    report = json.loads((tmp_path / "run.json").read_text())
    x_q = golden.quantize_input(CFG, np.load(files / "x_real.npy"))
    assert [r["outputs_fixed"] for r in report["runs"]] == [golden.run_logical(program, r).tolist() for r in x_q]


def test_port_disagreement_exits_naming_the_first(files, pty_board, tmp_path):
    board = pty_board(fault="macs")
    rc, out, err = run_cli(["run", "--board", "icebreaker", "--port", board.port, "--config", files / "cfg.json",
                            files / "images", "--input", files / "x_fixed.npy", "--fixed", "-o", "run.json"],
                           tmp_path)
    assert rc == 2
    line, = err.splitlines()
    assert "disagreed with the models on 4 of 4 inputs" in line
    want = cycle.run(lower(make_network(), CFG), np.load(files / "x_fixed.npy")[0])[1].counters["macs"]
    assert f"first: input 0: macs is {want + 1} on the board, {want} in the cycle model" in line
    report = json.loads((tmp_path / "run.json").read_text())       # the record is written before the error
    assert report["agree"] is False and report["golden_equal"] == 4 and report["cycle_equal"] == 0
    assert "[MISMATCH]" in out


def test_port_that_cannot_be_opened_is_one_line(files, tmp_path):
    rc, out, err = run_cli(["run", "--board", "icebreaker", "--port", tmp_path / "ttyNONE", "--config",
                            files / "cfg.json", files / "images", "--input", files / "x_fixed.npy", "--fixed"],
                           tmp_path)
    line, = err.splitlines()
    assert rc == 2 and "cannot open serial port" in line and "ttyNONE" in line and "--flash-help" in line


def test_silent_board_is_one_line_with_the_flashing_hint(files, tmp_path):
    master, slave = os.openpty()        # a port nobody answers on
    try:
        rc, out, err = run_cli(["run", "--board", "icebreaker", "--port", os.ttyname(slave), "--config",
                                files / "cfg.json", files / "images", "--input", files / "x_fixed.npy", "--fixed"],
                               tmp_path)
    finally:
        os.close(master)
        os.close(slave)
    line, = err.splitlines()
    assert rc == 2 and "HELLO: expected 10 bytes from the board, got 0" in line and "--program" in line


def test_images_of_another_configuration_are_refused_naming_both(files, tmp_path):
    rc, out, err = run_cli(["run", "--board", "icebreaker", "--port", tmp_path / "ttyNONE", files / "images"],
                           tmp_path)
    line, = err.splitlines()
    assert rc == 2 and "compiled for another engine configuration than the icebreaker bitstream's" in line
    assert "fifo_depth=2 in the images vs 4 on the board" in line      # CFG against the icebreaker preset
    assert "cannot open" not in line                                   # refused before the port


# ---- --simulate: the Verilated board ---------------------------------------------------------------------------

def test_simulate_agrees_with_the_models(files, program, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENEIE_SIM_BUILD", str(BUILD_ROOT))       # the build of tests/test_fpga_link.py
    rc, out, err = run_cli(["run", "--board", "icebreaker", "--simulate", "--config", files / "cfg.json",
                            files / "images", "--input", files / "x_fixed.npy", "--fixed", "-o", "sim.json"],
                           tmp_path)
    assert rc == 0, err
    report = json.loads((tmp_path / "sim.json").read_text())
    x = np.load(files / "x_fixed.npy")
    assert report["link"] == "simulated" and report["agree"] and report["inputs"] == len(x)
    for row, r in zip(x, report["runs"]):
        assert r["outputs_fixed"] == golden.run_logical(program, row).tolist()
        assert r["stats"] == cycle.run(program, row)[1].as_dict()
    assert report["runs"][0]["stats"]["bcast_stalls"] > 0
    assert "the Verilated board" in out


# ---- --program: finding the bitstream, choosing the programmer ---------------------------------------------------

def fake_tool(bin_dir: Path, name: str, status: int = 0) -> Path:
    """An executable ``name`` that appends its argv and the bytes of its last argument (hex, when it is a file) as
    JSON to ``name.log``, and exits with ``status``."""
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                    f"last = sys.argv[-1] if os.path.isfile(sys.argv[-1]) else None\n"
                    f"data = open(last, 'rb').read().hex() if last else None\n"
                    f"open({str(bin_dir / (name + '.log'))!r}, 'a').write(json.dumps([sys.argv[1:], data]) + "
                    f"'\\n')\n"
                    f"sys.stderr.write('cable not found\\n')\nsys.exit({status})\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def argv_log(bin_dir: Path, name: str, data: bool = False) -> list:
    """The argv of every call of the fake ``name`` (with ``data``: ``[argv, bytes of the last argument]``)."""
    log = bin_dir / f"{name}.log"
    calls = [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []
    return [(argv, bytes.fromhex(d) if d else None) if data else argv for argv, d in calls]


def synth_dir(root: Path, cfg, name="top.bin", **more) -> Path:
    """What 'openeie synth --board' leaves: the bitstream and report.json with the configuration."""
    root.mkdir()
    (root / name).write_bytes(b"\xff\x00\x00\xff bitstream")
    (root / "report.json").write_text(json.dumps({"board": "icebreaker", "config": cfg.to_dict(), **more}))
    return root


def test_program_refuses_a_baud_rate_the_bitstream_was_not_built_for(files, tmp_path, bare_path):
    fake_tool(bare_path, "openFPGALoader")
    built = synth_dir(tmp_path / "synth", CFG, baud=9600)
    rc, out, err = run_cli(["run", "--board", "icebreaker", "--port", tmp_path / "ttyNONE", "--config",
                            files / "cfg.json", "--program", "--bitstream", built, "--baud", "115200",
                            files / "images"], tmp_path)
    line, = err.splitlines()
    assert rc == 2 and "--baud 115200" in line and "built for 9600 baud" in line
    assert not list(bare_path.glob("*.log"))                       # nothing was programmed


@pytest.fixture
def bare_path(tmp_path, monkeypatch):
    """PATH holding only a fresh directory (no programmer installed); returns it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    for var in ("OPENFPGALOADER", "ICEPROG", "DFU_UTIL"):
        monkeypatch.delenv(var, raising=False)
    return bin_dir


def test_program_with_openfpgaloader_then_run(files, program, pty_board, tmp_path, bare_path):
    fake_tool(bare_path, "openFPGALoader")
    fake_tool(bare_path, "iceprog")                 # openFPGALoader comes first
    built = synth_dir(tmp_path / "synth", CFG)
    board = pty_board()
    rc, out, err = run_cli(["run", "--board", "icebreaker", "--port", board.port, "--config", files / "cfg.json",
                            "--program", "--bitstream", built, files / "images", "--input", files / "x_fixed.npy",
                            "--fixed"], tmp_path)
    assert rc == 0, err
    assert argv_log(bare_path, "openFPGALoader") == [["-b", "ice40_generic", str(built / "top.bin")]]
    assert argv_log(bare_path, "iceprog") == []
    assert board.runs == 4


@pytest.mark.parametrize("board, name, want", [
    ("icebreaker", "top.bin", ["-b", "ice40_generic"]),
    ("ulx3s-85f", "top.bit", ["-b", "ulx3s", "-m"]),
    ("orangecrab-85f", "top.bit", ["-b", "orangeCrab"]),
])
def test_openfpgaloader_board_names(board, name, want, tmp_path, bare_path):
    fake_tool(bare_path, "openFPGALoader")
    (tmp_path / name).write_bytes(b"bits")
    used = flash(board, find_bitstream(board, tmp_path))
    assert used.via == "openFPGALoader"
    assert argv_log(bare_path, "openFPGALoader") == [[*want, str(tmp_path / name)]]


def test_iceprog_through_the_amaranth_boards_hook(tmp_path, bare_path):
    fake_tool(bare_path, "iceprog")
    bits = tmp_path / "top.bin"
    bits.write_bytes(b"bits")
    used = flash("icebreaker", bits)
    assert used.via == "amaranth-boards ICEBreakerPlatform.toolchain_program"
    (argv, data), = argv_log(bare_path, "iceprog", data=True)      # the hook hands iceprog a copy of the file
    assert len(argv) == 1 and argv[0].endswith("top.bin") and data == b"bits"


def test_programmer_environment_variable_is_honoured(tmp_path, bare_path, monkeypatch):
    tool = fake_tool(tmp_path / "elsewhere", "my-loader")
    monkeypatch.setenv("OPENFPGALOADER", str(tool))
    (tmp_path / "top.bit").write_bytes(b"bits")
    p = choose_programmer("ulx3s-85f", tmp_path / "top.bit")
    assert p.found and p.argv == (str(tool), "-b", "ulx3s", "-m", str(tmp_path / "top.bit"))


def test_no_programmer_names_the_tools_and_the_manual_command(files, tmp_path, bare_path):
    built = synth_dir(tmp_path / "synth", CFG)
    rc, out, err = run_cli(["run", "--board", "icebreaker", "--port", tmp_path / "ttyNONE", "--config",
                            files / "cfg.json", "--program", "--bitstream", built, files / "images"], tmp_path)
    line, = err.splitlines()
    assert rc == 2 and "openFPGALoader or iceprog not found on PATH" in line
    assert f"'openFPGALoader -b ice40_generic {built / 'top.bin'}'" in line and f"'iceprog {built / 'top.bin'}'" in line
    with pytest.raises(FlashError, match="openFPGALoader or dfu-util not found"):
        choose_programmer("orangecrab-85f", tmp_path / "top.bit")


def test_programmer_failure_is_one_line(files, tmp_path, bare_path):
    fake_tool(bare_path, "openFPGALoader", status=1)
    built = synth_dir(tmp_path / "synth", CFG)
    rc, out, err = run_cli(["run", "--board", "icebreaker", "--port", tmp_path / "ttyNONE", "--config",
                            files / "cfg.json", "--program", "--bitstream", built, files / "images"], tmp_path)
    line, = err.splitlines()
    assert rc == 2 and "failed with exit status 1: cable not found" in line


def test_bitstream_lookup_and_its_configuration(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="bitstream 'out/synth-icebreaker' not found: build it with 'openeie synth "
                                         "--board icebreaker -o DIR'"):
        find_bitstream("icebreaker")
    synth_dir(tmp_path / "out", CFG)
    (tmp_path / "out" / "synth-icebreaker").mkdir(parents=True)
    (tmp_path / "out" / "synth-icebreaker" / "top.bin").write_bytes(b"x")
    assert find_bitstream("icebreaker") == Path("out/synth-icebreaker/top.bin")       # synth's default -o
    with pytest.raises(ValueError, match="not a .bit file: the ulx3s-85f takes top.bit"):
        find_bitstream("ulx3s-85f", tmp_path / "out" / "top.bin")
    assert bitstream_config(tmp_path / "out" / "top.bin") == CFG
    assert bitstream_config(tmp_path / "out" / "synth-icebreaker" / "top.bin") is None        # no report


def test_bitstream_of_another_configuration_is_refused(files, tmp_path, bare_path):
    fake_tool(bare_path, "openFPGALoader")
    built = synth_dir(tmp_path / "synth", CFG.replace(fifo_depth=3))
    rc, out, err = run_cli(["run", "--board", "icebreaker", "--port", tmp_path / "ttyNONE", "--config",
                            files / "cfg.json", "--program", "--bitstream", built, files / "images"], tmp_path)
    line, = err.splitlines()
    assert rc == 2 and "was built for another engine configuration" in line
    assert "fifo_depth=3 in the bitstream vs 2 expected" in line
    assert argv_log(bare_path, "openFPGALoader") == []                  # nothing was programmed


@pytest.mark.parametrize("board", ["icebreaker", "ulx3s-85f", "orangecrab-85f"])
def test_flash_help(board, tmp_path):
    rc, out, err = run_cli(["run", "--board", board, "--flash-help"], tmp_path)
    assert rc == 0, err
    assert out.strip() == flash_instructions(board)
    for p in programmers(board, "x"):
        assert p.tool in out
    assert f"openeie synth --board {board}" in out and "--port PORT" in out


def test_every_board_has_flashing_instructions():
    """``openeie run --board`` offers the boards with presets; each one needs the programmer table's entry."""
    from openeie.fpga import flash
    from openeie.fpga.boards import BOARDS
    from openeie.fpga.presets import BOARD_PRESETS
    assert set(flash._BOARDS) == set(BOARDS) == set(BOARD_PRESETS)
    for name in BOARDS:
        text = flash.flash_instructions(name)
        assert f"openeie synth --board {name}" in text and flash.bitstream_name(name) in text


def test_comparison_names_the_first_output_and_list_counter_mismatch(program):
    """compare_runs on runs that differ from the models in one output value, in one PE's busy count."""
    from openeie.flows.board import compare_runs
    from openeie.sim.inputs import random_inputs
    x_q = golden.quantize_input(CFG, random_inputs(program.n_in, 3, seed=2))
    runs = [(golden.run_logical(program, x), cycle.run(program, x)[1]) for x in x_q]
    assert compare_runs(program, x_q, runs)["agree"]
    bad_out = runs[1][0].copy()
    bad_out[3] += 1
    stats = cycle.run(program, x_q[2])[1]
    busy = stats.as_dict()["pe_busy"]
    busy[1] += 1
    bad_stats = Stats.from_dict({**stats.as_dict(), "pe_busy": busy})
    result = compare_runs(program, x_q, [runs[0], (bad_out, runs[1][1]), (runs[2][0], bad_stats)])
    assert not result["agree"] and result["disagreeing"] == 2
    assert result["golden_equal"] == 2 and result["cycle_equal"] == 2
    assert result["mismatches"][0] == (f"input 1: output 3 is {bad_out[3]} on the board, {bad_out[3] - 1} in the "
                                       f"golden model (fixed point)")
    assert result["mismatches"][1] == f"input 2: pe_busy[1] is {busy[1]} on the board, {busy[1] - 1} in the cycle model"


def test_hello_is_retried_while_a_board_just_programmed_stays_silent(program, pty_board):
    from openeie.flows.board import board_runs
    from openeie.fpga.host import LinkError
    from openeie.sim.inputs import random_inputs
    x_q = golden.quantize_input(CFG, random_inputs(program.n_in, 1, seed=3))
    board = pty_board()
    board.silent_hellos = 2
    result = board_runs(program, x_q, board="icebreaker", port=board.port, timeout_s=0.3, hello_attempts=3)
    assert result["agree"] and board.hellos == 3
    board = pty_board()
    board.silent_hellos = 2
    with pytest.raises(LinkError, match=r"HELLO \(2 attempts\): expected 10 bytes from the board, got 0"):
        board_runs(program, x_q, board="icebreaker", port=board.port, timeout_s=0.3, hello_attempts=2)
    assert board.hellos == 2


def test_python_api_runs_a_board(program, pty_board):
    """``openeie.run_board``: the same run as the command, from objects."""
    import openeie
    from openeie.errors import InputError
    from openeie.sim.inputs import random_inputs
    x_q = golden.quantize_input(CFG, random_inputs(program.n_in, 2, seed=4))
    board = pty_board()
    result = openeie.run_board(program, x_q, fixed=True, board="icebreaker", port=board.port)
    assert result["agree"] and result["inputs"] == 2 and board.runs == 2
    assert [r["outputs_fixed"] for r in result["runs"]] == [golden.run_logical(program, x).tolist() for x in x_q]
    assert [r["cycles"] for r in result["runs"]] == [cycle.run(program, x)[1].cycles for x in x_q]
    for kw, match in ((dict(board="icebreaker"), "give port=... "),
                      (dict(board="icebreaker", port=board.port, simulate=True), "one of them"),
                      (dict(board="nexys", port=board.port), "board 'nexys': expected one of"),
                      (dict(board="icebreaker", port=board.port, baud=10), "baud")):
        with pytest.raises(InputError, match=match):
            openeie.run_board(program, x_q, fixed=True, **kw)
