"""FPGA devices and boards the engine is built for, and the board top level.

A :class:`Device` is a die as the board-less estimate flow sees it (Yosys synthesis script, nextpnr arguments,
how much of each resource it has). A :class:`Board` adds an amaranth-boards platform, its clock and its UART.
:class:`BoardTop` is the design that goes on a board: :class:`~openeie.fpga.link.LinkedEngine` on the board's
UART pins, with the engine's ``busy`` on a LED.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from amaranth.build import ResourceError
from amaranth.hdl import ClockDomain, ClockSignal, Instance, Module, Signal
from amaranth.lib import io, wiring
from amaranth.lib.cdc import ResetSynchronizer

from openeie.config import EngineConfig
from openeie.errors import InputError

from .link import LinkedEngine
from .memmap import MemoryMapper
from .protocol import DEFAULT_BAUD
from .uart import uart_divisor

__all__ = ["Device", "Board", "DEVICES", "BOARDS", "get_device", "get_board", "BoardTop", "board_platform"]


@dataclass(frozen=True)
class Device:
    """An FPGA die for the estimate flow.

    ``capacity`` maps Yosys cell types to how many the die has; the flow checks the synthesised netlist against
    it before place and route, so a design that cannot fit fails fast with a message naming the resource.
    """

    name: str
    family: str                 # "ice40" or "ecp5"
    part: str
    nextpnr_args: tuple
    target_mhz: float           # default --freq for nextpnr (the Fmax target of the project)
    spram_blocks: int
    capacity: dict

    @property
    def synth_command(self) -> str:
        # -dsp: without it synth_ice40 builds multipliers from LUTs (about half the Fmax of SB_MAC16).
        return {"ice40": "synth_ice40 -dsp", "ecp5": "synth_ecp5"}[self.family]

    @property
    def router_args(self) -> tuple:
        # router2 routes large congested ECP5 designs several times faster than the default router1.
        return ("--router", "router2") if self.family == "ecp5" else ()

    @property
    def nextpnr_tool(self) -> str:
        return f"yowasp-nextpnr-{self.family}"

    def memory_mapper(self, cfg: EngineConfig, *, model: bool = False) -> MemoryMapper:
        return MemoryMapper(cfg, spram_budget=self.spram_blocks, model=model)


_ICE40_UP5K = {"SB_LUT4": 5280, "SB_RAM40_4K": 30, "SB_SPRAM256KA": 4, "SB_MAC16": 8}
_ECP5 = {  # LUT4s, 18 Kbit block RAMs, 18x18 multipliers (Lattice ECP5 family data sheet, table 1.1)
    "25k": {"LUT4": 24288, "DP16KD": 56, "MULT18X18D": 28},
    "85k": {"LUT4": 83640, "DP16KD": 208, "MULT18X18D": 156},
}

DEVICES = {
    "up5k": Device("up5k", "ice40", "iCE40UP5K-SG48", ("--up5k", "--package", "sg48"), 40.0, 4, _ICE40_UP5K),
    "25k": Device("25k", "ecp5", "LFE5U-25F-8MG285C", ("--25k", "--package", "CSFBGA285", "--speed", "8"),
                  100.0, 0, _ECP5["25k"]),
    "85k": Device("85k", "ecp5", "LFE5U-85F-6BG381C", ("--85k", "--package", "CABGA381", "--speed", "6"),
                  100.0, 0, _ECP5["85k"]),
}


def get_device(name: str) -> Device:
    try:
        return DEVICES[name]
    except KeyError:
        raise InputError(f"unknown device {name!r}: expected one of {', '.join(DEVICES)}") from None


@dataclass(frozen=True)
class Board:
    """A board: its amaranth-boards platform (``module:Class``), device, and the notes a user needs."""

    name: str
    device: str
    platform: str
    notes: str
    extra_resources: str = ""     # name of a function returning resources to add (UART on a header)
    clock_mhz: float | None = None   # default engine clock from a PLL (None: the board's oscillator)

    def platform_class(self):
        module, cls = self.platform.split(":")
        return getattr(importlib.import_module(module), cls)


def _orangecrab_uart():
    from amaranth_boards.resources import UARTResource
    from amaranth.build import Attrs
    # No USB-serial bridge on the board: a 3.3 V adapter on the Feather pins 0 (FPGA RX) and 1 (FPGA TX).
    return [UARTResource(0, rx="0", tx="1", conn=("io", 0), attrs=Attrs(IO_TYPE="LVCMOS33", PULLMODE="UP"))]


BOARDS = {
    "icebreaker": Board("icebreaker", "up5k", "amaranth_boards.icebreaker:ICEBreakerPlatform",
                        "iCE40UP5K, 12 MHz clock, UART on the FTDI's second channel"),
    "ulx3s-85f": Board("ulx3s-85f", "85k", "amaranth_boards.ulx3s:ULX3S_85F_Platform",
                       "ECP5 LFE5U-85F, 25 MHz clock, UART on the FTDI (US1 port)"),
    "orangecrab-85f": Board("orangecrab-85f", "85k", "amaranth_boards.orangecrab_r0_2:OrangeCrabR0_2_85FPlatform",
                            "ECP5 LFE5U-85F (r0.2), 48 MHz clock, UART through a 3.3 V USB-serial adapter on "
                            "Feather pins 0 (RX) and 1 (TX); the engine runs at 24 MHz from the PLL",
                            extra_resources="_orangecrab_uart", clock_mhz=24.0),
}


def get_board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise InputError(f"unknown board {name!r}: expected one of {', '.join(BOARDS)}") from None


def board_platform(board: Board, cfg: EngineConfig):
    """An instance of the board's platform with the device's memory mapping (``get_memory``) mixed in."""
    base = board.platform_class()
    mapper = get_device(board.device).memory_mapper(cfg)

    class Platform(base):
        def get_memory(self, mem):
            return mapper.get_memory(mem)

    Platform.__name__ = f"OpenEIE{base.__name__}"
    platform = Platform()
    platform.memory_mapper = mapper
    if board.extra_resources:
        platform.add_resources(globals()[board.extra_resources]())
    return platform


class BoardTop(wiring.Component):
    """The design of a board: the linked engine on the board's UART at ``baud``, with ``busy`` on LED 0 when the
    board has one. It runs on the board's default clock, or on the output of ``pll`` (an ECP5
    :class:`~openeie.fpga.pll.Pll` fed by the default clock; reset is held until the PLL locks).

    Parameters
    ----------
    cfg : EngineConfig
    baud : int
    pll : Pll, optional
    """

    def __init__(self, cfg: EngineConfig, baud: int = DEFAULT_BAUD, pll=None):
        self._cfg = cfg
        self._baud = baud
        self._pll = pll
        super().__init__({})

    def _clock(self, m, platform) -> float:
        """Set up the ``sync`` domain; return its frequency in Hz."""
        if self._pll is None:
            return platform.default_clk_frequency
        pll = self._pll
        m.submodules.clk_in = clk_in = io.Buffer("i", platform.request(platform.default_clk, dir="-"))
        m.domains.sync = ClockDomain("sync")
        clk = Signal(name="pll_clk")
        locked = Signal(name="pll_locked")
        platform.add_file(f"{pll.module}.v", pll.verilog)
        m.submodules.pll = Instance(pll.module, i_clkin=clk_in.i, o_clkout0=clk, o_locked=locked)
        m.d.comb += ClockSignal("sync").eq(clk)
        m.submodules.reset_sync = ResetSynchronizer(~locked, domain="sync")
        platform.add_clock_constraint(clk, pll.clkout_mhz * 1e6)
        return pll.clkout_mhz * 1e6

    def elaborate(self, platform):
        m = Module()
        divisor = uart_divisor(self._clock(m, platform), self._baud)
        m.submodules.link = link = LinkedEngine(self._cfg, divisor)
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [link.rx.eq(rx.i), tx.o.eq(link.tx)]
        try:
            m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))
            m.d.comb += led.o.eq(link.busy)
        except ResourceError:
            pass
        return m
