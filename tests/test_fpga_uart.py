"""UART receiver and transmitter against a bit-level reference (amaranth.sim)."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from openeie.fpga.uart import MIN_DIVISOR, UartRx, UartTx, uart_divisor

CORPUS = [0x00, 0xFF, 0x55, 0xAA, 0x01, 0x80] + [int(v) for v in np.random.default_rng(7).integers(0, 256, 10)]


def ref_frame(byte, divisor, stop=1):
    """Line levels, one per clock cycle, of one 8N1 frame."""
    bits = [0] + [(byte >> i) & 1 for i in range(8)] + [stop]
    return [b for b in bits for _ in range(divisor)]


def rtl_receive(levels, divisor):
    """Bytes an UartRx receives from a line driven with ``levels`` (one per cycle)."""
    dut = UartRx(divisor)
    got = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        for level in levels + [1] * (4 * divisor):
            ctx.set(dut.rx, level)
            await ctx.tick()
            if ctx.get(dut.o.valid):
                got.append(ctx.get(dut.o.payload))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got


def rtl_transmit(data, divisor):
    """Line levels an UartTx produces for ``data`` (one per cycle), from the first start bit on."""
    dut = UartTx(divisor)
    levels = []

    async def bench(ctx):
        pending = list(data)
        for _ in range(len(data) * 10 * (divisor + 1) + 4 * divisor):
            if pending:
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, pending[0])
            else:
                ctx.set(dut.i.valid, 0)
            levels.append(ctx.get(dut.tx))
            if pending and ctx.get(dut.i.ready):
                pending.pop(0)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return levels[levels.index(0):]


def decode_line(levels, divisor):
    """Reference 8N1 decoder: sample each bit in its middle."""
    out, t = [], 0
    while True:
        try:
            t = levels.index(0, t)
        except ValueError:
            return out
        mid = t + divisor // 2
        bits = [levels[mid + k * divisor] for k in range(10) if mid + k * divisor < len(levels)]
        if len(bits) < 10:
            return out
        assert bits[0] == 0 and bits[9] == 1, f"bad frame at cycle {t}"
        out.append(sum(b << i for i, b in enumerate(bits[1:9])))
        t = mid + 9 * divisor


@pytest.mark.parametrize("divisor", [MIN_DIVISOR, 5, 13])
def test_receive_corpus(divisor):
    levels = [1] * 3
    for byte in CORPUS:
        levels += ref_frame(byte, divisor) + [1] * (divisor // 2)
    assert rtl_receive(levels, divisor) == CORPUS


@pytest.mark.parametrize("divisor", [MIN_DIVISOR, 5, 13])
def test_transmit_corpus(divisor):
    assert decode_line(rtl_transmit(CORPUS, divisor), divisor) == CORPUS


def test_receive_back_to_back_with_slow_sender():
    # The sender's bit time is 3 % longer than the receiver's (within 8N1 tolerance), no idle between frames.
    divisor = 32
    levels = [1] * 5
    for byte in CORPUS[:6]:
        frame = ref_frame(byte, divisor)
        levels += [frame[int(i / 1.03)] for i in range(int(len(frame) * 1.03))]
    assert rtl_receive(levels, divisor) == CORPUS[:6]


def test_receive_drops_framing_error_and_glitch():
    divisor = 8
    levels = [1] * 3 + ref_frame(0x3C, divisor, stop=0) + [0] * divisor + [1] * divisor   # low stop bit, break
    levels += [0, 0] + [1] * divisor                                                         # glitch
    levels += ref_frame(0xA5, divisor)
    assert rtl_receive(levels, divisor) == [0xA5]


@pytest.mark.parametrize("clk_hz, baud, divisor", [(12e6, 115200, 104), (25e6, 115200, 217), (48e6, 1_000_000, 48)])
def test_uart_divisor(clk_hz, baud, divisor):
    assert uart_divisor(clk_hz, baud) == divisor


@pytest.mark.parametrize("clk_hz, baud, match", [(12e6, 4_000_000, "too fast"), (12e6, 2_500_000, "off at"),
                                                 (12e6, 0, "positive")])
def test_uart_divisor_errors(clk_hz, baud, match):
    with pytest.raises(ValueError, match=match):
        uart_divisor(clk_hz, baud)


def test_divisor_checked_at_construction():
    with pytest.raises(ValueError, match=">= 4"):
        UartRx(3)
    with pytest.raises(ValueError, match=">= 4"):
        UartTx(2.5)
