"""A minimal 8N1 UART: receiver and transmitter with byte streams, ``divisor`` clock cycles per bit."""


from amaranth.hdl import C, Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from openeie.errors import InputError

__all__ = ["MIN_DIVISOR", "uart_divisor", "UartRx", "UartTx"]

#: Fewest clock cycles per bit the receiver supports (it samples bits in their middle).
MIN_DIVISOR = 4


def uart_divisor(clk_hz: float, baud: int) -> int:
    """Clock cycles per bit for ``baud`` at ``clk_hz``; the rate error must stay under 2 % (8N1 tolerates
    about 4 % between both ends)."""
    if baud <= 0:
        raise InputError(f"baud rate must be positive, not {baud}")
    divisor = round(clk_hz / baud)
    if divisor < MIN_DIVISOR:
        raise InputError(f"{baud} baud is too fast for a {clk_hz / 1e6:g} MHz clock: expected at most "
                         f"{int(clk_hz / MIN_DIVISOR)} baud ({MIN_DIVISOR} clock cycles per bit)")
    error = abs(clk_hz / divisor - baud) / baud
    if error > 0.02:
        raise InputError(f"{baud} baud is {error:.1%} off at {clk_hz / 1e6:g} MHz ({divisor} cycles per bit): "
                         f"expected at most 2%; pick another baud rate or clock")
    return divisor


class _UartComponent(wiring.Component):
    """A UART half: the signature from the subclass's annotations, and a checked ``divisor``."""

    def __init__(self, divisor: int):
        if not isinstance(divisor, int) or divisor < MIN_DIVISOR:
            self._MustUse__silence = True        # never elaborated: no "created but never used" warning
            raise InputError(f"UART divisor must be an int >= {MIN_DIVISOR} clock cycles per bit, not {divisor!r}")
        self._divisor = divisor
        super().__init__()


class UartRx(_UartComponent):
    """8N1 receiver.

    The line is synchronised by two flip-flops. A falling edge starts a frame; the start bit is checked in its
    middle and the data and stop bits are sampled in their middles (every ``divisor`` cycles). A frame with a
    low stop bit is dropped (framing error), and the receiver waits for the line to go high before looking
    for the next start bit. The byte is offered on ``o`` from the middle of the stop bit until taken; a byte
    not taken before the next one arrives is overwritten (a consumer must take each byte within one frame
    time, ``10 * divisor`` cycles).

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (at least :data:`MIN_DIVISOR`).

    Attributes
    ----------
    rx : In(1)
        The serial line (idle high).
    o : Out(stream.Signature(8))
        Received bytes.
    """

    rx: In(1, init=1)
    o: Out(stream.Signature(8))

    def elaborate(self, platform):
        divisor = self._divisor
        m = Module()
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1)

        timer = Signal(range(divisor))
        bits = Signal(range(8))
        shreg = Signal(8)
        m.d.sync += timer.eq(timer - 1)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(divisor - 1), bits.eq(0)]
                    with m.If(line):           # a glitch, not a start bit
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(divisor - 1), shreg.eq(Cat(shreg[1:], line)), bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(line):
                        m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "BREAK"
            with m.State("BREAK"):             # framing error: wait for the idle level
                with m.If(line):
                    m.next = "IDLE"
        return m


class UartTx(_UartComponent):
    """8N1 transmitter: takes a byte from ``i`` when idle and shifts out start bit, 8 data bits (LSB first)
    and stop bit, ``divisor`` cycles each. ``tx`` comes straight from a flip-flop (no glitches on the pin).

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (at least :data:`MIN_DIVISOR`).

    Attributes
    ----------
    i : In(stream.Signature(8))
        Bytes to send.
    tx : Out(1)
        The serial line (idle high).
    """

    i: In(stream.Signature(8))
    tx: Out(1)

    def elaborate(self, platform):
        divisor = self._divisor
        m = Module()
        shreg = Signal(10, init=(1 << 10) - 1)    # bit 0 is on the line
        bits = Signal(range(11))                  # bits left to send, the current one included
        timer = Signal(range(divisor))
        m.d.comb += [self.tx.eq(shreg[0]), self.i.ready.eq(bits == 0)]
        with m.If(bits == 0):
            with m.If(self.i.valid):
                m.d.sync += [shreg.eq(Cat(C(0, 1), self.i.payload, C(1, 1))), bits.eq(10),
                             timer.eq(divisor - 1)]
        with m.Elif(timer == 0):
            m.d.sync += [shreg.eq(Cat(shreg[1:], C(1, 1))), bits.eq(bits - 1), timer.eq(divisor - 1)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
        return m
