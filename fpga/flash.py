"""Programming a board with the bitstream ``openeie synth --board`` built: finding the bitstream, choosing a
programmer, the manual instructions when none is installed.

Programmers, in the order they are tried (the first one found wins):

1. **openFPGALoader** (on ``PATH``, or ``$OPENFPGALOADER``), with its board name: ``-b ice40_generic`` for the
   iCEBreaker (it writes the SPI flash; the iCE40 has no SRAM load over the FTDI), ``-b ulx3s -m`` for the
   ULX3S (``-m``: into SRAM, lost at power-off), ``-b orangeCrab`` for the OrangeCrab (through its DFU
   bootloader: hold the button while plugging it in).
2. **The board's amaranth-boards hook**, ``Platform.toolchain_program``, when the tool it calls is found:
   ``iceprog`` (``$ICEPROG``) for the iCEBreaker, ``dfu-util`` (``$DFU_UTIL``) for the OrangeCrab (the ULX3S's
   hook calls openFPGALoader, tried first already).

With neither, :class:`FlashError` names the tools looked for and prints the command to run by hand.

The bitstream is the file ``openeie synth --board B -o DIR`` writes (``DIR/top.bin`` on iCE40, ``DIR/top.bit``
on ECP5; ``DIR`` defaults to ``out/synth-B``); the synthesis report next to it (``report.json``) records the
engine configuration the bitstream was built with (:func:`bitstream_config`).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from openeie.config import EngineConfig
from openeie.errors import FileInputError

from .boards import get_board, get_device
from .synth import bitstream_name, default_synth_dir
from .tools import ToolError

__all__ = ["FlashError", "Programmer", "FLASH_TIMEOUT_S", "default_synth_dir", "bitstream_name", "find_bitstream",
           "bitstream_config", "bitstream_baud", "programmers", "choose_programmer", "flash", "flash_instructions"]

#: How long a programmer may take (s): writing a UP5K's SPI flash or an ECP5-85F's SRAM takes seconds to a minute.
FLASH_TIMEOUT_S = 600.0

#: Per board: openFPGALoader's arguments before the bitstream, the amaranth-boards hook's tool (environment
#: variable, default name, its arguments before the bitstream, as the hook passes them), what the user does
#: first, and the serial port the board's UART usually appears as.
_BOARDS = {
    "icebreaker": dict(ofl=("-b", "ice40_generic"), hook=("ICEPROG", "iceprog", ()),
                       prepare="plug the iCEBreaker in by USB (the FTDI's first channel programs the flash)",
                       port="/dev/ttyUSB1 (the FTDI's second channel; macOS: /dev/cu.usbserial-*1)"),
    "ulx3s-85f": dict(ofl=("-b", "ulx3s", "-m"), hook=None,
                      prepare="plug the ULX3S in by its US1 USB port",
                      port="/dev/ttyUSB0 (the FTDI on US1)"),
    "orangecrab-85f": dict(ofl=("-b", "orangeCrab"), hook=("DFU_UTIL", "dfu-util", ("-a", "0", "-D")),
                           prepare="hold the OrangeCrab's button while plugging it in (its DFU bootloader then "
                                   "waits, the LED fading)",
                           port="the 3.3 V USB-serial adapter on Feather pins 0 (RX) and 1 (TX), e.g. "
                                "/dev/ttyUSB0"),
}


class FlashError(ToolError):
    """No programmer was found, or the programmer failed; the message names the tools and the manual command."""


@dataclass(frozen=True)
class Programmer:
    """One way of programming a board.

    Attributes
    ----------
    tool : str
        The program's name (``"openFPGALoader"``, ``"iceprog"``, ``"dfu-util"``).
    path : str
        Where it was found (absolute), or the bare name when it was not.
    argv : tuple of str
        The whole command line (``path`` first, the bitstream last).
    via : str
        ``"openFPGALoader"`` or the amaranth-boards hook that runs it (``"ICEBreakerPlatform.toolchain_program"``).
    found : bool
        Whether the program is installed (on ``PATH``, or where its environment variable points).
    """

    tool: str
    path: str
    argv: tuple
    via: str
    found: bool

    @property
    def command(self) -> str:
        """The command line as a shell would take it (for messages and the manual instructions)."""
        return shlex.join([self.tool, *self.argv[1:]])


def find_bitstream(board: str, bitstream=None) -> Path:
    """The bitstream to program ``board`` with.

    Parameters
    ----------
    board : str
        A board of :data:`openeie.fpga.boards.BOARDS`.
    bitstream : path, optional
        The bitstream file, or the directory ``openeie synth --board BOARD -o DIR`` wrote (its
        :func:`bitstream_name`). Default: :func:`default_synth_dir`.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    openeie.errors.FileInputError
        The file is missing or is not a regular file, or has the other family's suffix; the message says how to
        build it.
    """
    name = bitstream_name(board)
    path = Path(bitstream) if bitstream is not None else default_synth_dir(board)
    if path.is_dir():
        path = path / name
    build = f"build it with 'openeie synth --board {board} -o DIR' and give --bitstream DIR/{name}"
    if not path.exists():
        raise FileInputError(f"bitstream {str(path)!r} not found: {build}")
    if not path.is_file():
        raise FileInputError(f"bitstream {str(path)!r} is not a regular file: {build}")
    if path.suffix.lower() != Path(name).suffix:
        raise FileInputError(f"bitstream {str(path)!r} is not a {Path(name).suffix} file: the {board} takes "
                             f"{name} ({build})")
    return path


def bitstream_config(bitstream) -> EngineConfig | None:
    """The engine configuration a bitstream was built with, from the synthesis report next to it
    (``report.json`` of ``openeie synth --board``), or None when there is no readable report.

    Raises
    ------
    openeie.errors.ConfigError
        The report holds a configuration that is not a valid one (named with the report's path).
    """
    data, report = _synth_report(bitstream)
    if not isinstance(data.get("config"), dict):
        return None
    return EngineConfig.from_dict(data["config"], f"synthesis report {str(report)!r}, config")


def bitstream_baud(bitstream) -> int | None:
    """The UART baud rate (bits per second) a bitstream was built with, from the synthesis report next to it, or
    None when the report does not say."""
    baud = _synth_report(bitstream)[0].get("baud")
    return baud if isinstance(baud, int) and not isinstance(baud, bool) and baud > 0 else None


def _synth_report(bitstream) -> tuple:
    """``(report dict, its path)``: ``report.json`` beside the bitstream (an empty dict when unreadable)."""
    report = Path(bitstream).parent / "report.json"
    try:
        data = json.loads(report.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}, report
    return (data if isinstance(data, dict) else {}), report


def _find(env: str, default: str):
    """``(name, path or None)`` of a programmer: ``$env`` when set (a name or a path), else ``default``."""
    name = os.environ.get(env) or default
    return name, shutil.which(name)


def programmers(board: str, bitstream) -> list:
    """Every programmer for ``board``, in the order :func:`choose_programmer` tries them, each with
    ``path`` set to where it was found or left as the bare name (not found)."""
    info = _BOARDS[get_board(board).name]
    bitstream = str(bitstream)
    out = []
    name, path = _find("OPENFPGALOADER", "openFPGALoader")
    out.append(Programmer(name, path or name, (path or name, *info["ofl"], bitstream), "openFPGALoader",
                          path is not None))
    if info["hook"]:
        env, default, args = info["hook"]
        name, path = _find(env, default)
        hook = get_board(board).platform.split(":")[1] + ".toolchain_program"
        out.append(Programmer(name, path or name, (path or name, *args, bitstream), f"amaranth-boards {hook}",
                              path is not None))
    return out


def choose_programmer(board: str, bitstream) -> Programmer:
    """The first programmer of :func:`programmers` that is installed.

    Raises
    ------
    FlashError
        None is: the message names the tools looked for and the command to run by hand.
    """
    options = programmers(board, bitstream)
    for p in options:
        if p.found:
            return p
    tools = " or ".join(p.tool for p in options)
    manual = " or ".join(f"'{p.command}'" for p in options)
    raise FlashError(f"cannot program the {board}: {tools} not found on PATH; install one (openFPGALoader: "
                     f"https://github.com/trabucayre/openFPGALoader) or program it by hand: {manual}, then run "
                     f"without --program (openeie run --board {board} --flash-help for the steps)")


def flash(board: str, bitstream, *, runner=subprocess.run) -> Programmer:
    """Program ``board`` with ``bitstream`` (a path :func:`find_bitstream` returned) by the first installed
    programmer; return the one used.

    openFPGALoader is run with its board name; the hooks' tools are run through the board's amaranth-boards
    ``toolchain_program`` (on the bitstream's directory as its build products). ``runner`` runs openFPGALoader
    (``subprocess.run``'s signature).

    Raises
    ------
    FlashError
        No programmer is installed, or it failed (its exit status and last line of output).
    """
    p = choose_programmer(board, bitstream)
    bitstream = Path(bitstream)
    try:
        if p.via == "openFPGALoader":
            done = runner(list(p.argv), capture_output=True, text=True, timeout=FLASH_TIMEOUT_S)
            if done.returncode != 0:
                lines = [l for l in (done.stderr or done.stdout or "").splitlines() if l.strip()]
                raise FlashError(f"{p.command} failed with exit status {done.returncode}"
                                 f"{': ' + lines[-1].strip()[:200] if lines else ''} ({_BOARDS[board]['prepare']}?)")
        else:
            _run_hook(board, bitstream)
    except subprocess.TimeoutExpired:
        raise FlashError(f"{p.command} did not finish in {FLASH_TIMEOUT_S:g} s") from None
    except subprocess.CalledProcessError as e:
        raise FlashError(f"{p.command} failed with exit status {e.returncode} ({_BOARDS[board]['prepare']}?)") \
            from None
    except OSError as e:
        raise FlashError(f"{p.command} could not be started: {e.strerror or e}") from None
    return p


def _run_hook(board: str, bitstream: Path) -> None:
    """The board's amaranth-boards ``toolchain_program`` on ``bitstream``'s directory."""
    from amaranth.build.run import LocalBuildProducts
    b = get_board(board)
    stem = bitstream.stem
    products = LocalBuildProducts(str(bitstream.parent))
    b.platform_class()().toolchain_program(products, stem)


def flash_instructions(board: str) -> str:
    """How to build, program and run ``board`` by hand (the text of ``openeie run --flash-help``)."""
    b = get_board(board)
    info = _BOARDS[b.name]
    name = bitstream_name(b.name)
    out = default_synth_dir(b.name)
    lines = [f"{b.name}: {b.notes}",
             f"  1. build:   openeie synth --board {b.name} -o {out}     (writes {out}/{name} and report.json)",
             f"  2. connect: {info['prepare']}",
             "  3. program, with one of:"]
    lines += [f"       {p.command}    ({p.via})" for p in programmers(b.name, out / name)]
    lines += [f"     or let 'openeie run --board {b.name} --program --bitstream {out}' do it",
              f"  4. run:     openeie run --board {b.name} --port PORT IMAGES --input x.npy",
              f"     PORT: {info['port']}"]
    return "\n".join(lines)
