"""cocotb side of :mod:`openeie.testbench.simlink` (imported only inside the simulator).

:class:`SimUartTransport` is a bit-level UART on the simulated board's ``rx``/``tx`` pins, independent of the
gateware's UART: it drives start, data and stop bits ``divisor`` clock periods each and samples the board's
``tx`` in the middle of each bit. Its ``write``/``read`` are blocking calls (as pyserial's), made from a thread
that :func:`cocotb.task.bridge` runs, so :class:`openeie.fpga.host.BoardLink` runs unchanged against it.
"""

from __future__ import annotations

import json
import os
import traceback

import cocotb
from cocotb.clock import Clock
from cocotb.task import bridge, resume
from cocotb.triggers import ClockCycles, FallingEdge, Timer

import numpy as np

from openeie.compiler.images import load_container
from openeie.stats import Stats

from openeie.fpga.host import BoardLink, LinkError

__all__ = ["SimUartTransport"]

CLOCK_NS = 10


class SimUartTransport:
    """The host's end of the simulated serial line.

    Parameters
    ----------
    dut : the simulated :class:`~openeie.fpga.link.LinkedEngine` (``clk``, ``rx``, ``tx``)
    divisor : int
        Clock cycles per bit (the board's UART divisor).
    max_cycles : int
        A read gives up (returns what it has) after this many clock cycles without the bytes.
    """

    def __init__(self, dut, divisor: int, max_cycles: int):
        self.dut = dut
        self.divisor = divisor
        self.max_cycles = max_cycles
        self.bit_ns = divisor * CLOCK_NS
        self.received = bytearray()
        self.framing_errors = 0
        self._monitor = cocotb.start_soon(self._receive())

    async def _send(self, data: bytes):
        await FallingEdge(self.dut.clk)          # change the line away from the sampling edge
        for byte in data:
            for bit in (0, *((byte >> i) & 1 for i in range(8)), 1):
                self.dut.rx.value = bit
                await Timer(self.bit_ns, unit="ns")

    async def _receive(self):
        while True:
            await FallingEdge(self.dut.tx)
            await Timer(self.bit_ns // 2, unit="ns")
            if int(self.dut.tx.value) != 0:
                continue                           # a glitch, not a start bit
            byte = 0
            for i in range(8):
                await Timer(self.bit_ns, unit="ns")
                byte |= int(self.dut.tx.value) << i
            await Timer(self.bit_ns, unit="ns")
            if int(self.dut.tx.value) != 1:
                self.framing_errors += 1
                continue
            self.received.append(byte)

    async def _read(self, n: int):
        step = 10 * self.divisor                  # one frame time
        waited = 0
        while len(self.received) < n and waited < self.max_cycles:
            await Timer(step * CLOCK_NS, unit="ns")
            waited += step
        data = bytes(self.received[:n])
        del self.received[:n]
        return data

    async def _quiet(self, byte_times: int):
        await Timer(2 * byte_times * 10 * self.bit_ns, unit="ns")
        self.received.clear()

    def write(self, data: bytes) -> None:
        resume(self._send)(bytes(data))

    def resync(self, byte_times: int) -> None:
        resume(self._quiet)(byte_times)

    def read(self, n: int, timeout_s: float) -> bytes:
        return resume(self._read)(n)

    def close(self) -> None:
        pass


def _runs(link, program, inputs):
    link.hello()
    link.load_program(program)
    return [link.infer(program, x) for x in inputs]


def _error_probes(link, program, inputs):
    """Every error status of the protocol on a fresh board, then a normal run: ``{probe: outcome}``."""
    def expect_error(probe, action):
        try:
            action()
        except LinkError as e:
            found[probe] = str(e)
        else:
            found[probe] = None

    found = {}
    link.transport.write(bytes([0x02, 0x05, 0x00, 0x01]))   # LOAD of 5 words, cut off in the first word
    link.hello()                                            # resynchronises (silence), then answers
    expect_error("wait_before_start", link.wait)
    expect_error("read_before_start", lambda: link.read_outputs(3))
    link.transport.write(bytes([0x7F]))
    expect_error("bad_opcode", lambda: link._status("0x7F"))
    link.hello()
    link.load_program(program)
    n_out = program.layers[-1].out_slots * program.config.n_pe
    link.write_activations(program.input_storage(inputs[0]))
    link.start(program.n_layers)
    link.wait()
    expect_error("start_while_busy", lambda: link.start(program.n_layers))
    found["storage_outputs"] = link.read_outputs(n_out)
    expect_error("read_past_end", lambda: link.read_outputs(1))
    found["after_errors"] = link.infer(program, inputs[0])
    return found


def _plain(value):
    """JSON form of a session's outcome: ``(outputs, stats)`` pairs become ``{"outputs", "stats",
    "storage_outputs"}``; arrays become lists."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], Stats):
        outputs, stats = value
        return {"outputs": [int(v) for v in outputs], "stats": stats.as_dict(),
                "storage_outputs": [int(v) for v in stats.extra.get("storage_outputs", [])]}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [int(v) for v in value]
    return value


@cocotb.test()
async def host_session(dut):
    """Run the job of :mod:`openeie.testbench.simlink` through the host driver."""
    job = json.loads(open(os.environ["OPENEIE_LINK_JOB"]).read())
    program = load_container(job["program"])
    outcome = {}
    Clock(dut.clk, CLOCK_NS, unit="ns", impl="gpi").start()
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 4)
    transport = SimUartTransport(dut, job["divisor"], job["max_cycles"])
    session = {"runs": _runs, "errors": _error_probes}[job["kind"]]
    link = BoardLink(transport, program.config)
    try:
        outcome["result"] = await bridge(session)(link, program, job["inputs"])
        if transport.framing_errors:
            raise AssertionError(f"{transport.framing_errors} framing errors on the board's tx line")
    except Exception:
        outcome = {"error": traceback.format_exc()}
    with open(os.environ["OPENEIE_TB_OUT"], "w") as f:
        json.dump(_plain(outcome), f)
    assert "error" not in outcome, outcome.get("error")
