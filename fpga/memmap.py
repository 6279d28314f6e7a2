"""Mapping the engine's memories onto what an FPGA has.

Yosys infers block RAM for every :class:`amaranth.lib.memory.Memory` by itself (iCE40 EBR, ECP5 DP16KD; small
ones become LUT RAM or flip-flops). What it cannot do is put a memory with a separate read and write port into
the iCE40 UltraPlus SPRAM, a *single-port* 16384 x 16 block (four per UP5K, 256 Kbit each, as much as all 30
EBRs together). The sparse-matrix memory of a PE qualifies: the engine writes it only through its ``load`` port,
which is ready only while the engine is idle, and reads it only while computing, so one shared port suffices.

:class:`MemoryMapper` implements Amaranth's ``platform.get_memory()`` hook: it puts each PE's sparse-matrix
memory into SPRAM blocks while blocks remain, and leaves every other memory to Yosys. The identification is by
shape: a memory of ``spmat_word_layout(cfg)`` x ``spmat_depth_words`` rows with one write and one read port.
The same mapper with ``model=True`` substitutes :class:`SpramCellModel` (a behavioural SPRAM that poisons its
output on a write, as the silicon leaves it undefined), so simulations of the board exercise the shared port.
"""


from dataclasses import dataclass, field

from amaranth.hdl import C, Cat, ClockSignal, Instance, Module, Mux, Shape, Signal, Value
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from openeie.config import EngineConfig
from openeie.layout import spmat_word_layout

__all__ = ["SPRAM_DEPTH", "SPRAM_WIDTH", "spram_blocks", "SpramCellModel", "SpramMemory", "MemoryMapper"]

SPRAM_DEPTH = 16384   # rows of one SB_SPRAM256KA
SPRAM_WIDTH = 16      # bits per row


def spram_blocks(width_bits: int, depth: int) -> int:
    """SPRAM blocks holding a ``depth`` x ``width_bits`` memory (width and depth cascaded)."""
    return -(-width_bits // SPRAM_WIDTH) * -(-depth // SPRAM_DEPTH)


class SpramCellModel(wiring.Component):
    """Behavioural model of one ``SB_SPRAM256KA`` (the parts of it the mapper uses): with ``cs`` high, a write
    (``wren``) stores ``din`` and leaves ``dout`` undefined (modelled as ``~din``, so a design that relies on
    it fails in simulation), a read loads ``dout`` from ``addr``; with ``cs`` low ``dout`` holds."""

    addr: In(14)
    din: In(SPRAM_WIDTH)
    wren: In(1)
    cs: In(1)
    dout: Out(SPRAM_WIDTH)

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=SPRAM_WIDTH, depth=SPRAM_DEPTH, init=[])
        wr = mem.write_port()
        rd = mem.read_port()
        poisoned = Signal()
        poison = Signal(SPRAM_WIDTH)
        m.d.comb += [
            wr.addr.eq(self.addr), wr.data.eq(self.din), wr.en.eq(self.cs & self.wren),
            rd.addr.eq(self.addr), rd.en.eq(self.cs & ~self.wren),
            self.dout.eq(Mux(poisoned, poison, rd.data)),
        ]
        with m.If(self.cs & self.wren):
            m.d.sync += [poisoned.eq(1), poison.eq(~self.din)]
        with m.Elif(self.cs):
            m.d.sync += poisoned.eq(0)
        return m


class SpramMemory(wiring.Component):
    """An Amaranth memory with one write and one read port, built from SPRAM blocks sharing one address port.

    A write takes the port: a read enabled in the same cycle is lost, and the read data is undefined after a
    write until the next read. The engine's loaded memories never do either (see the module docstring).

    Parameters
    ----------
    mem : amaranth.lib.memory.Memory
        The memory to implement (its ports are driven by the design).
    model : bool
        Use :class:`SpramCellModel` instead of ``SB_SPRAM256KA`` instances.
    """

    def __init__(self, mem: memory.Memory, *, model: bool = False):
        self._mem = mem
        self._model = model
        super().__init__({})

    def elaborate(self, platform):
        mem = self._mem
        wr, rd = mem.write_ports[0], mem.read_ports[0]
        width = Shape.cast(mem.shape).width
        cols = -(-width // SPRAM_WIDTH)
        rows = -(-mem.depth // SPRAM_DEPTH)
        m = Module()
        addr = Signal(max(14, len(wr.addr), len(rd.addr)))
        m.d.comb += addr.eq(Mux(wr.en, wr.addr, rd.addr))
        row = addr[14:]
        read = rd.en & ~wr.en
        read_row = Signal(max(1, len(row)))       # row of the last read, selects the output
        with m.If(read):
            m.d.sync += read_row.eq(row)
        din = Cat(Value.cast(wr.data), C(0, cols * SPRAM_WIDTH - width))
        row_data = []
        for r in range(rows):
            cs = (wr.en | rd.en) & ((row == r) if rows > 1 else 1)
            parts = []
            for c in range(cols):
                dout = Signal(SPRAM_WIDTH, name=f"dout_{r}_{c}")
                chunk = din[c * SPRAM_WIDTH:(c + 1) * SPRAM_WIDTH]
                self._cell(m, f"spram_{r}_{c}", addr[:14], chunk, wr.en, cs, dout)
                parts.append(dout)
            row_data.append(Cat(*parts)[:width])
        data = row_data[0]
        for r in range(1, rows):
            data = Mux(read_row == r, row_data[r], data)
        m.d.comb += Value.cast(rd.data).eq(data)
        return m

    def _cell(self, m, name, addr, din, wren, cs, dout):
        if self._model:
            m.submodules[name] = cell = SpramCellModel()
            m.d.comb += [cell.addr.eq(addr), cell.din.eq(din), cell.wren.eq(wren), cell.cs.eq(cs),
                         dout.eq(cell.dout)]
        else:
            m.submodules[name] = Instance(
                "SB_SPRAM256KA", i_ADDRESS=addr, i_DATAIN=din, i_MASKWREN=C(0b1111, 4), i_WREN=wren,
                i_CHIPSELECT=cs, i_CLOCK=ClockSignal(self._mem.read_ports[0].domain), i_STANDBY=C(0, 1),
                i_SLEEP=C(0, 1), i_POWEROFF=C(1, 1), o_DATAOUT=dout)


@dataclass
class MemoryMapper:
    """The ``get_memory()`` policy of a device (mix it into a platform, or pass it as the platform of
    ``rtlil.convert``).

    Parameters
    ----------
    cfg : EngineConfig
    spram_budget : int
        SPRAM blocks available (4 on the UP5K, 0 elsewhere).
    model : bool
        Use behavioural SPRAM models (simulation).

    Attributes
    ----------
    decisions : list of dict
        One entry per sparse-matrix memory: ``{"memory", "width_bits", "depth", "mapped_to", "blocks"}``.
    """

    cfg: EngineConfig
    spram_budget: int = 0
    model: bool = False
    decisions: list = field(default_factory=list)

    @property
    def spram_used(self) -> int:
        return sum(d["blocks"] for d in self.decisions if d["mapped_to"] == "spram")

    def _is_spmat(self, mem) -> bool:
        return (mem.shape == spmat_word_layout(self.cfg) and mem.depth == self.cfg.spmat_depth_words
                and len(mem.write_ports) == 1 and len(mem.read_ports) == 1
                and len(mem.write_ports[0].en) == 1 and not mem.read_ports[0].transparent_for
                and mem.read_ports[0].domain == mem.write_ports[0].domain != "comb")

    def get_memory(self, mem):
        if not self._is_spmat(mem):
            return memory.Memory.elaborate(mem, None)
        width = Shape.cast(mem.shape).width
        blocks = spram_blocks(width, mem.depth)
        use = self.spram_used + blocks <= self.spram_budget
        self.decisions.append({"memory": f"spmat #{len(self.decisions)}", "width_bits": width, "depth": mem.depth,
                               "mapped_to": "spram" if use else "block ram", "blocks": blocks if use else 0})
        if use:
            return SpramMemory(mem, model=self.model)
        return memory.Memory.elaborate(mem, None)
