"""The host link in gateware: the command decoder of :mod:`openeie.fpga.protocol` in front of an
:class:`openeie.hw.Engine`, and the same behind a UART."""


from amaranth.hdl import Array, C, Cat, Module, Mux, Signal, Value
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out, connect

from openeie.config import EngineConfig
from openeie.errors import InputError, InputTypeError
from openeie.hw import Engine
from openeie.timing import COUNTER_LATENCY

from .protocol import COUNT_BYTES, RESYNC_BYTE_TIMES, FrameFormat, Opcode, Status, hello_bytes
from .uart import UartRx, UartTx

__all__ = ["engine_signature", "CommandDecoder", "LinkedEngine"]


class _State(enum.Enum, shape=4):
    OPCODE = 0      # wait for a command byte
    RECV = 1        # collect ``need`` request bytes, then go to ``after``
    STATUS = 2      # send the status byte
    HELLO = 3       # send the HELLO response
    COUNT = 4       # latch the count (and the COUNTERS address)
    LOOP = 5        # next item of LOAD / ACT / READ / COUNTERS, or the status when none is left
    PUSH = 6        # hand a load word / activation to the engine
    READ = 7        # take an output from the engine
    COUNTER = 8     # take a counter value
    SEND = 9        # send ``txleft`` bytes of ``txbuf``
    START = 10
    WAIT = 11
    SETTLE = 12     # wait until counter_value shows the counter at index (COUNTER_LATENCY after LOOP)


class _Items(enum.Enum, shape=2):
    """Commands made of counted items."""
    LOAD = 0
    ACT = 1
    READ = 2
    COUNTERS = 3


def engine_signature(cfg: EngineConfig) -> wiring.Signature:
    """The signature of ``Engine(cfg)``, taken from the engine itself so that no port width is typed here."""
    engine = Engine(cfg)
    engine._MustUse__silence = True          # built only to read its signature
    return engine.signature


class CommandDecoder(wiring.Component):
    """Executes the commands of :mod:`openeie.fpga.protocol` arriving on ``rx`` against the engine ports in
    ``engine`` and sends the responses on ``tx``.

    Throughput: a request byte is taken in the cycle it arrives (or within three cycles between items), a load
    word or activation reaches the engine two cycles after its last byte (the engine takes it at once while
    idle), and response bytes go out back to back; a UART-fed decoder never falls behind the line (one byte
    per ``10 * divisor`` cycles). While waiting for the engine (WAIT, READ) it does not read ``rx``.

    A request left incomplete for ``resync_cycles`` cycles is abandoned (the decoder waits for an opcode
    again), so a host that was interrupted in the middle of a command can resynchronise by staying silent.

    Parameters
    ----------
    cfg : EngineConfig
    resync_cycles : int or None
        Cycles without a byte after which an incomplete request is abandoned (None: never).

    Attributes
    ----------
    rx : In(stream.Signature(8))
        Command bytes.
    tx : Out(stream.Signature(8))
        Response bytes.
    engine : In(engine_signature(cfg))
        The engine's ports, seen from the engine's user (connect to an :class:`~openeie.hw.Engine`).
    """

    def __init__(self, cfg: EngineConfig, resync_cycles: int | None = None):
        if not isinstance(cfg, EngineConfig):
            raise InputTypeError(f"CommandDecoder needs an EngineConfig, not {type(cfg).__name__}")
        if resync_cycles is not None and (not isinstance(resync_cycles, int) or resync_cycles < 1):
            raise InputError(f"resync_cycles must be a positive int or None, not {resync_cycles!r}")
        self._cfg = cfg
        self._fmt = FrameFormat.for_config(cfg)
        self._resync_cycles = resync_cycles
        super().__init__({
            "rx": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "engine": In(engine_signature(cfg)),
        })

    def elaborate(self, platform):
        cfg, fmt = self._cfg, self._fmt
        eng = self.engine
        m = Module()

        # Every request field is collected in ``shift`` (bytes enter at the top), so the last n bytes received
        # are its top n bytes: the 2-byte count of any command is always the top 16 bits, the COUNTERS address
        # the 16 bits below them, a load word or activation the top load_bytes / act_bytes.
        in_bytes = max(fmt.load_bytes, fmt.act_bytes, 2 * COUNT_BYTES)
        shift = Signal(8 * in_bytes)
        count_bits = 8 * COUNT_BYTES
        count = Signal(count_bits)
        index = Signal(count_bits)
        need = Signal(range(in_bytes + 1))         # bytes still to receive in RECV
        after = Signal(_State)                     # state after RECV
        txbuf = Signal(8 * max(fmt.act_bytes, fmt.counter_bytes))
        txleft = Signal(range(len(txbuf) // 8 + 1))
        kind = Signal(_Items)                      # command being executed, if it has items
        status = Signal(8)
        started = Signal()
        done_seen = Signal()
        short = Signal()                           # READ ran out of outputs
        settle = Signal(range(COUNTER_LATENCY))    # SETTLE cycles left
        state = Signal(_State)
        quiet = Signal(range(self._resync_cycles or 1))   # cycles without a byte in RECV
        hello = Array(C(b, 8) for b in hello_bytes(cfg))

        def top(nbytes):
            return shift[len(shift) - 8 * nbytes:]

        def go(next_state):
            m.d.sync += state.eq(next_state)

        def receive(nbytes, then):
            m.d.sync += [need.eq(nbytes), after.eq(then)]
            go(_State.RECV)

        def reply(code):
            m.d.sync += status.eq(code)
            go(_State.STATUS)

        def send(value, nbytes):
            m.d.sync += [txbuf.eq(value), txleft.eq(nbytes), count.eq(count - 1)]
            go(_State.SEND)

        is_load = kind == _Items.LOAD
        with m.If(eng.done):
            m.d.sync += done_seen.eq(1)
        m.d.comb += [
            eng.counter_sel.eq(index),
            Value.cast(eng.load.payload).eq(top(fmt.load_bytes)),
            Value.cast(eng.act_in.payload).eq(top(fmt.act_bytes)),
            eng.n_layers.eq(top(COUNT_BYTES)),
        ]

        with m.Switch(state):
            with m.Case(_State.OPCODE):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(self.rx.valid):
                    with m.Switch(self.rx.payload):
                        with m.Case(Opcode.NOP):
                            pass
                        with m.Case(Opcode.HELLO):
                            m.d.sync += index.eq(0)
                            go(_State.HELLO)
                        for opcode, items in ((Opcode.LOAD, _Items.LOAD), (Opcode.ACT, _Items.ACT),
                                              (Opcode.READ, _Items.READ), (Opcode.COUNTERS, _Items.COUNTERS)):
                            with m.Case(opcode):
                                m.d.sync += kind.eq(items)
                                args = 2 * COUNT_BYTES if opcode == Opcode.COUNTERS else COUNT_BYTES
                                receive(args, _State.COUNT)
                        with m.Case(Opcode.START):
                            receive(COUNT_BYTES, _State.START)
                        with m.Case(Opcode.WAIT):
                            go(_State.WAIT)
                        with m.Default():
                            reply(Status.BAD_OPCODE)

            with m.Case(_State.RECV):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(self.rx.valid):
                    m.d.sync += [shift.eq(Cat(shift[8:], self.rx.payload)), need.eq(need - 1)]
                    with m.If(need == 1):
                        go(after)
                if self._resync_cycles is not None:    # abandon a request the host stopped sending
                    with m.If(self.rx.valid):
                        m.d.sync += quiet.eq(0)
                    with m.Elif(quiet == self._resync_cycles - 1):
                        m.d.sync += quiet.eq(0)
                        go(_State.OPCODE)
                    with m.Else():
                        m.d.sync += quiet.eq(quiet + 1)

            with m.Case(_State.STATUS):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(status)]
                with m.If(self.tx.ready):
                    go(_State.OPCODE)

            with m.Case(_State.HELLO):                 # the whole response, status included, from a table
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(hello[index])]
                with m.If(self.tx.ready):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == len(hello) - 1):
                        go(_State.OPCODE)

            with m.Case(_State.COUNT):
                m.d.sync += [count.eq(top(COUNT_BYTES)), index.eq(top(2 * COUNT_BYTES)[:count_bits]),
                             short.eq(0)]
                go(_State.LOOP)

            with m.Case(_State.LOOP):                  # one item of LOAD / ACT / READ / COUNTERS per pass
                with m.If(count == 0):
                    reply(Mux(short, Status.NO_OUTPUT, Status.OK))
                with m.Elif(kind == _Items.LOAD):
                    receive(fmt.load_bytes, _State.PUSH)
                with m.Elif(kind == _Items.ACT):
                    receive(fmt.act_bytes, _State.PUSH)
                with m.Elif(kind == _Items.READ):
                    go(_State.READ)
                with m.Else():                         # COUNTERS: counter_sel = index from this cycle on
                    if COUNTER_LATENCY > 1:
                        m.d.sync += settle.eq(COUNTER_LATENCY - 2)
                        go(_State.SETTLE)
                    else:
                        go(_State.COUNTER)

            with m.Case(_State.SETTLE):                # LOOP + COUNTER_LATENCY - 1 cycles
                with m.If(settle == 0):
                    go(_State.COUNTER)
                with m.Else():
                    m.d.sync += settle.eq(settle - 1)

            with m.Case(_State.PUSH):
                m.d.comb += [eng.load.valid.eq(is_load), eng.act_in.valid.eq(~is_load)]
                with m.If(Mux(is_load, eng.load.ready, eng.act_in.ready)):
                    m.d.sync += count.eq(count - 1)
                    go(_State.LOOP)

            with m.Case(_State.READ):
                m.d.comb += eng.act_out.ready.eq(1)    # not from valid: keeps the drain's path short
                with m.If(eng.act_out.valid):
                    send(Value.cast(eng.act_out.payload).as_unsigned(), fmt.act_bytes)
                with m.Elif(~eng.busy):                # no output left: pad with zeros, report it at the end
                    m.d.sync += short.eq(1)
                    send(0, fmt.act_bytes)

            with m.Case(_State.COUNTER):               # COUNTER_LATENCY cycles after LOOP: shows index
                m.d.sync += index.eq(index + 1)
                send(eng.counter_value, fmt.counter_bytes)

            with m.Case(_State.SEND):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(txbuf[:8])]
                with m.If(self.tx.ready):
                    m.d.sync += [txbuf.eq(txbuf >> 8), txleft.eq(txleft - 1)]
                    with m.If(txleft == 1):
                        go(_State.LOOP)

            with m.Case(_State.START):
                with m.If(eng.busy):
                    reply(Status.BUSY)
                with m.Else():
                    m.d.comb += eng.start.eq(1)
                    m.d.sync += [started.eq(1), done_seen.eq(0)]
                    reply(Status.OK)

            with m.Case(_State.WAIT):
                with m.If(done_seen):
                    reply(Status.OK)
                with m.Elif(~started):
                    reply(Status.IDLE)
        return m


class LinkedEngine(wiring.Component):
    """An engine behind the host link: UART receiver -> :class:`CommandDecoder` -> UART transmitter, with the
    decoder driving an :class:`openeie.hw.Engine`. Everything runs in the ``sync`` domain; this is the whole
    design of a board apart from its clock, reset and pins. An incomplete request is abandoned after
    :data:`~openeie.fpga.protocol.RESYNC_BYTE_TIMES` byte times of silence.

    Parameters
    ----------
    cfg : EngineConfig
    divisor : int
        UART clock cycles per bit (:func:`openeie.fpga.uart.uart_divisor`).

    Attributes
    ----------
    rx : In(1)
        Serial line from the host (idle high).
    tx : Out(1)
        Serial line to the host.
    busy : Out(1)
        The engine is running (for a LED).
    """

    rx: In(1, init=1)
    tx: Out(1)
    busy: Out(1)

    def __init__(self, cfg: EngineConfig, divisor: int):
        self._cfg = cfg
        self._divisor = divisor
        self.uart_rx = UartRx(divisor)      # created here so that bad divisors fail at construction
        self.uart_tx = UartTx(divisor)
        super().__init__()

    @property
    def config(self) -> EngineConfig:
        return self._cfg

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = self.uart_rx
        m.submodules.uart_tx = self.uart_tx
        m.submodules.decoder = decoder = CommandDecoder(self._cfg, RESYNC_BYTE_TIMES * 10 * self._divisor)
        m.submodules.engine = engine = Engine(self._cfg)
        connect(m, self.uart_rx.o, decoder.rx)
        connect(m, decoder.tx, self.uart_tx.i)
        connect(m, decoder.engine, engine)
        m.d.comb += [self.uart_rx.rx.eq(self.rx), self.tx.eq(self.uart_tx.tx), self.busy.eq(engine.busy)]
        return m
