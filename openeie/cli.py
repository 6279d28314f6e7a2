"""``openeie`` command line: the parser of every command (:mod:`openeie.commands`) and the error boundary.

``--quiet`` (before the command) silences progress and notes for the run (:mod:`openeie.progress`).

The boundary: an :class:`~openeie.errors.OpenEIEError` (bad input, a tool that failed, a board that did not
answer) or an ``OSError`` (a file system that refused) is printed as one line, ``openeie: error: ...``, with exit
status 2; anything else is a bug in OpenEIE and shows its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

__all__ = ["main", "build_parser", "error_line"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def error_line(message: str) -> str:
    """One line of text, with terminal control characters (escape codes) shown as ``\\xNN``."""
    text = " ".join(str(message).split("\n"))
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _os_error(e: OSError) -> str:
    where = f" {e.filename!r}" if e.filename else ""
    return f"{e.strerror or type(e).__name__}{where}" if e.strerror else str(e)


#: torch's CPU numerics for the command line: the portable kernels of ATen and MKL's conditional numerical
#: reproducibility, so that training gives the same figures on every x86-64 machine (with the vectorised
#: kernels a CPU picks for itself, the demo's engine accuracy was seen anywhere from 98.15 % to 98.70 %).
#: Set either variable yourself to choose otherwise.
NUMERICS = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"}


def pin_numerics() -> None:
    """Apply :data:`NUMERICS` (unless already set) before torch is imported; too late once it is."""
    if "torch" not in sys.modules:
        for key, value in NUMERICS.items():
            os.environ.setdefault(key, value)


def build_parser() -> argparse.ArgumentParser:
    from .commands import COMMANDS
    parser = argparse.ArgumentParser(prog="openeie", description="OpenEIE: compress, compile, run, simulate and "
                                     "synthesize EIE-style compressed-network inference engines.")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"openeie {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress (bars, tool stages, status lines) and no notes on what was assumed; "
                             "results and errors are printed all the same. Without it, progress is shown while "
                             "stderr is a terminal; off a terminal tool stages are plain lines and bars are off")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"openeie.commands.{name}").add_arguments(sub)
    return parser


def main(argv=None) -> int:
    from .errors import OpenEIEError
    from .progress import quiet
    pin_numerics()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with quiet(args.quiet):
            args.run(args)
    except OpenEIEError as e:
        print(f"openeie: error: {error_line(e)}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"openeie: error: {error_line(_os_error(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("openeie: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
