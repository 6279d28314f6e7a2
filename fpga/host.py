"""Host-side driver of the board link (:mod:`openeie.fpga.protocol`): load a compiled network, run it, read the
outputs and the performance counters.

The driver talks to a *transport* (anything with ``write(bytes)`` and ``read(n) -> bytes``):
:class:`SerialTransport` for a board on a serial port (pyserial), or the simulated UART of
:mod:`openeie.testbench.simlink`, so that tests run the very code path a board run uses.

Example::

    from openeie.fpga import host
    outputs, stats = host.run(program, x_q, port="/dev/ttyUSB1")     # logical fixed-point outputs, Stats
"""

from __future__ import annotations

import time
from typing import Protocol

import numpy as np

from openeie.config import EngineConfig
from openeie.errors import InputError, OpenEIEError
from openeie.fixed import fixed_range
from openeie.layout import load_word_layout, pack_struct, to_signed, to_unsigned
from openeie.program import Program
from openeie.stats import Stats, counter_index

from .protocol import (COUNT_BYTES, DEFAULT_BAUD, HASH_BYTES, MAGIC, MAX_COUNT, RESYNC_BYTE_TIMES, VERSION,
                       FrameFormat, Opcode, Status)

__all__ = ["LinkError", "Transport", "SerialTransport", "BoardLink", "run"]


class LinkError(OpenEIEError, RuntimeError):
    """The board did not answer as the protocol says (timeout, error status, wrong configuration)."""


class Transport(Protocol):
    """A byte pipe to the board."""

    def write(self, data: bytes) -> None: ...

    def read(self, n: int, timeout_s: float) -> bytes:
        """Exactly ``n`` bytes; fewer only if ``timeout_s`` passed first."""
        ...

    def resync(self, byte_times: int) -> None:
        """Stay silent for ``byte_times`` frame times, then discard everything received so far."""
        ...

    def close(self) -> None: ...


class SerialTransport:
    """A serial port through pyserial (8N1, no flow control)."""

    def __init__(self, port: str, baud: int = DEFAULT_BAUD):
        import serial
        try:
            self._serial = serial.Serial(port, baudrate=baud, bytesize=8, parity="N", stopbits=1, timeout=0.1)
        except serial.SerialException as e:
            raise LinkError(f"cannot open serial port {port!r}: {e}") from None
        self._baud = baud
        self._serial.reset_input_buffer()

    def resync(self, byte_times: int) -> None:
        time.sleep(2 * byte_times * 10 / self._baud + 0.01)
        self._serial.reset_input_buffer()

    def write(self, data: bytes) -> None:
        self._serial.write(data)
        self._serial.flush()

    def read(self, n: int, timeout_s: float) -> bytes:
        deadline = time.monotonic() + timeout_s
        data = bytearray()
        while len(data) < n and time.monotonic() < deadline:
            data += self._serial.read(n - len(data))
        return bytes(data)

    def close(self) -> None:
        self._serial.close()


def _le(value: int, nbytes: int) -> bytes:
    return int(value).to_bytes(nbytes, "little")


class BoardLink:
    """The protocol's commands, one method each, for a board built for ``cfg``.

    Parameters
    ----------
    transport : Transport
    cfg : EngineConfig
    timeout_s : float
        How long to wait for a response (WAIT waits ``run_timeout_s``).
    run_timeout_s : float
        How long a run may take.
    """

    def __init__(self, transport: Transport, cfg: EngineConfig, *, timeout_s: float = 5.0,
                 run_timeout_s: float = 60.0):
        self.transport = transport
        self.cfg = cfg
        self.fmt = FrameFormat.for_config(cfg)
        self.timeout_s = timeout_s
        self.run_timeout_s = run_timeout_s
        self._layout = load_word_layout(cfg)

    # ---- plumbing -----------------------------------------------------------------------------------------
    def _read(self, n: int, what: str, timeout_s: float | None = None) -> bytes:
        return self._check_length(self.transport.read(n, self.timeout_s if timeout_s is None else timeout_s), n, what)

    @staticmethod
    def _check_length(data: bytes, n: int, what: str) -> bytes:
        if len(data) != n:
            got = f" ({data[:16].hex(' ')}{' ...' if len(data) > 16 else ''})" if data else ""
            raise LinkError(f"{what}: expected {n} bytes from the board, got {len(data)}{got} (is the bitstream "
                            f"loaded, the port right, the baud rate the board's?)")
        return data

    def _status(self, what: str, timeout_s: float | None = None):
        code = self._read(1, what, timeout_s)[0]
        try:
            status = Status(code)
        except ValueError:
            raise LinkError(f"{what}: the board answered 0x{code:02x}, not a status byte (link out of step)") from None
        if status is not Status.OK:
            raise LinkError(f"{what}: {status.message}")

    def _send_items(self, opcode: Opcode, items: list, nbytes: int):
        """LOAD / ACT: ``items`` as ``nbytes``-byte words, at most MAX_COUNT per command."""
        for i in range(0, len(items), MAX_COUNT):
            chunk = items[i:i + MAX_COUNT]
            self.transport.write(bytes([opcode]) + _le(len(chunk), COUNT_BYTES) +
                                 b"".join(_le(v, nbytes) for v in chunk))
            self._status(opcode.name)

    # ---- commands -----------------------------------------------------------------------------------------
    def hello(self, attempts: int = 1) -> None:
        """Resynchronise, then check that the board runs this protocol version and an engine built for ``cfg``.

        ``attempts``: HELLOs sent while the board stays silent, each waiting ``timeout_s`` (a board just programmed
        may still be loading its configuration from flash)."""
        n = len(MAGIC) + 1 + HASH_BYTES + 1
        for _ in range(attempts):
            self.transport.resync(RESYNC_BYTE_TIMES)
            self.transport.write(bytes([Opcode.HELLO]))
            reply = self.transport.read(n, self.timeout_s)
            if reply:
                break
        self._check_length(reply, n, "HELLO" if attempts == 1 else f"HELLO ({attempts} attempts)")
        if reply[:len(MAGIC)] != MAGIC:
            raise LinkError(f"HELLO: the board answered {reply!r}, not an OpenEIE engine")
        if reply[len(MAGIC)] != VERSION:
            raise LinkError(f"HELLO: the board speaks protocol version {reply[len(MAGIC)]}, this driver {VERSION}")
        board_hash = reply[len(MAGIC) + 1:-1]
        if board_hash != self.cfg.hash()[:HASH_BYTES]:
            raise LinkError(f"HELLO: the board was built for another engine configuration (hash {board_hash.hex()}, "
                            f"expected {self.cfg.hash()[:HASH_BYTES].hex()}): rebuild the bitstream with this "
                            f"configuration")
        if reply[-1] != Status.OK:
            raise LinkError(f"HELLO: status 0x{reply[-1]:02x}")

    def load(self, words) -> int:
        """Write memory words ``(mem, pe, addr, word)`` (as :meth:`Program.load_words` yields); return the count."""
        words = list(words)
        if not words:
            return 0
        mem, pe, addr, data = (np.array(col, dtype=np.uint64) for col in zip(*words))
        packed = pack_struct(self._layout, mem=mem, pe=pe, addr=addr, data=data)
        self._send_items(Opcode.LOAD, [int(w) for w in packed], self.fmt.load_bytes)
        return len(words)

    def write_activations(self, values) -> None:
        """Write storage-order input activations (signed ints) to bank 0 from position 0."""
        values = np.asarray(values, dtype=np.int64)
        lo, hi = fixed_range(self.cfg.act_bits)
        if values.size and (values.min() < lo or values.max() > hi):
            raise InputError(f"input activations must be {self.cfg.act_bits}-bit integers in {lo}..{hi}")
        self._send_items(Opcode.ACT, [int(v) for v in to_unsigned(values, self.cfg.act_bits)], self.fmt.act_bytes)

    def start(self, n_layers: int) -> None:
        if not 0 <= n_layers <= self.cfg.max_layers:
            raise InputError(f"n_layers={n_layers} is out of range: expected 0..{self.cfg.max_layers}")
        self.transport.write(bytes([Opcode.START]) + _le(n_layers, COUNT_BYTES))
        self._status("START")

    def wait(self) -> None:
        self.transport.write(bytes([Opcode.WAIT]))
        self._status("WAIT", self.run_timeout_s)

    def read_outputs(self, count: int) -> np.ndarray:
        """The next ``count`` outputs of the run (storage order, signed)."""
        out = []
        n = self.fmt.act_bytes
        remaining = count
        while remaining:
            k = min(remaining, MAX_COUNT)
            self.transport.write(bytes([Opcode.READ]) + _le(k, COUNT_BYTES))
            data = self._read(k * n, "READ")
            self._status("READ")
            out += [int.from_bytes(data[i * n:(i + 1) * n], "little") for i in range(k)]
            remaining -= k
        return to_signed(np.array(out, dtype=np.uint64), self.cfg.act_bits).astype(np.int64)

    def read_counters(self, first: int = 0, count: int | None = None) -> list:
        """Counter values at addresses ``first .. first + count - 1`` (:func:`openeie.stats.counter_index`)."""
        count = self.fmt.n_counters - first if count is None else count
        if first < 0 or count < 0 or first + count > self.fmt.n_counters:
            raise InputError(f"counters {first}..{first + count - 1} are out of range: the engine has "
                             f"{self.fmt.n_counters}")
        n = self.fmt.counter_bytes
        self.transport.write(bytes([Opcode.COUNTERS]) + _le(first, COUNT_BYTES) + _le(count, COUNT_BYTES))
        data = self._read(count * n, "COUNTERS")
        self._status("COUNTERS")
        return [int.from_bytes(data[i * n:(i + 1) * n], "little") for i in range(count)]

    def read_stats(self, n_layers: int) -> Stats:
        """All counters of the last run as a :class:`~openeie.stats.Stats` (``layer_cycles`` of ``n_layers``)."""
        values = dict(zip(counter_index(self.cfg), self.read_counters()))
        return Stats.from_counter_values(self.cfg, values, n_layers)

    # ---- whole runs ---------------------------------------------------------------------------------------
    def _check_program(self, program: Program):
        if program.config != self.cfg:
            raise InputError("the program was compiled for another engine configuration than this link's")

    def load_program(self, program: Program) -> int:
        """Load all memory images of ``program``; return the number of words."""
        self._check_program(program)
        return self.load(program.load_words())

    def infer(self, program: Program, x_q):
        """Run one logical fixed-point input vector through a loaded ``program``.

        Returns ``(outputs, stats)``: the last layer's logical outputs (int64, as
        :func:`openeie.sim.golden.run_logical`) and the run's counters. ``stats.extra["storage_outputs"]``
        holds the raw storage-order outputs.
        """
        self._check_program(program)
        x_q = np.asarray(x_q, dtype=np.int64)
        if x_q.shape != (program.n_in,):
            raise InputError(f"input must be a vector of {program.n_in} fixed-point activations, got shape "
                             f"{x_q.shape}")
        self.write_activations(program.input_storage(x_q))
        self.start(program.n_layers)
        self.wait()
        storage = self.read_outputs(program.layers[-1].out_slots * self.cfg.n_pe)
        stats = self.read_stats(program.n_layers)
        stats.extra["storage_outputs"] = storage
        return program.output_logical(storage), stats


def run(program: Program, x_q, *, transport: Transport | None = None, port: str | None = None,
        baud: int = DEFAULT_BAUD, timeout_s: float = 5.0, run_timeout_s: float = 60.0):
    """Run a compiled network on a board: check the board (HELLO), load ``program``, run ``x_q``.

    Parameters
    ----------
    program : Program
        Compiled for the configuration the board's bitstream was built with.
    x_q : array of int
        One logical input vector in the activation fixed-point format.
    transport : Transport, optional
        An open transport (e.g. the simulated UART); otherwise ``port`` is opened with pyserial at ``baud``.

    Returns
    -------
    (outputs, stats)
        Logical outputs (``(n_out,)`` int64, bit-exact with :func:`openeie.sim.golden.run_logical`) and the
        run's :class:`~openeie.stats.Stats`.
    """
    own = transport is None
    if own:
        if port is None:
            raise InputError("give a serial port (port=...) or a transport")
        transport = SerialTransport(port, baud)
    try:
        link = BoardLink(transport, program.config, timeout_s=timeout_s, run_timeout_s=run_timeout_s)
        link.hello()
        link.load_program(program)
        return link.infer(program, x_q)
    finally:
        if own:
            transport.close()
