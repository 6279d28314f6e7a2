"""What OpenEIE says besides its results: progress and notes, decided in one place.

* Progress (tqdm bars in the flows, :func:`stage` lines of long tool runs) goes to stderr. Bars are shown when
  stderr is a terminal and the command line did not say ``--quiet`` (:func:`shown`); off a terminal they are off,
  so that logs hold no carriage returns or escape codes.
* A :func:`stage` (a Yosys run, a nextpnr run per seed, a Verilator build) says when it starts and when it ends,
  with its elapsed time: ``yosys: synthesising for the iCE40UP5K ... (done in 41 s)``. On a terminal this is one
  live line with a spinner and the seconds so far; off a terminal two plain lines, the end line repeating the
  stage's label (stages of parallel jobs interleave).
* Notes (``note: ...``, what a command assumed) and status lines (:func:`say`) are printed unless quiet.
* Quiet (:func:`set_quiet`, the command line's ``--quiet``) silences all of the above; results and errors are
  printed all the same.

This module imports only the standard library (it is part of the core).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
import time

__all__ = ["set_quiet", "is_quiet", "quiet", "on_terminal", "shown", "note", "say", "stage", "Stage",
           "format_seconds"]

_state = {"quiet": False}
_lock = threading.RLock()
#: Stages running now (their live line on a terminal), in start order.
_active: list = []
_ticker: list = []          # the one live-line thread, when running
_SPINNER = "|/-\\"
#: Seconds between updates of the live line on a terminal.
TICK_S = 0.25


def set_quiet(flag: bool) -> None:
    """Silence (``True``) or allow (``False``) progress, stage lines, status lines and notes."""
    _state["quiet"] = bool(flag)


def is_quiet() -> bool:
    """Whether :func:`set_quiet` silenced progress and notes."""
    return _state["quiet"]


@contextlib.contextmanager
def quiet(flag: bool = True):
    """Within the block, :func:`set_quiet` ``flag``; the previous setting is restored afterwards."""
    before = _state["quiet"]
    set_quiet(flag)
    try:
        yield
    finally:
        set_quiet(before)


def on_terminal(stream=None) -> bool:
    """Whether ``stream`` (default ``sys.stderr``) is a terminal; False for anything without a working
    ``isatty``."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def shown(requested: bool = True) -> bool:
    """Whether a progress bar the caller ``requested`` is drawn: requested, not quiet, and stderr a terminal (or
    a Jupyter kernel, where tqdm draws widgets, not carriage returns). The flows pass ``disable=not
    shown(progress)`` to tqdm."""
    return bool(requested) and not _state["quiet"] and (on_terminal() or "ipykernel" in sys.modules)


def format_seconds(seconds: float) -> str:
    """A duration for people: ``0.4 s``, ``41 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _write(text: str, stream=None) -> None:
    """One line on ``stream`` (default stderr), clearing and then redrawing the live line around it."""
    stream = sys.stderr if stream is None else stream
    with _lock:
        live = bool(_active) and on_terminal()          # a note on stdout must not land on the live line either
        if live:
            sys.stderr.write("\r\x1b[K")
        print(text, file=stream, flush=True)
        if live:
            _draw()


def note(text: str, stream=None) -> None:
    """``note: text`` on ``stream`` (default stdout, beside the results it qualifies) unless quiet."""
    if not _state["quiet"]:
        _write(f"note: {text}", sys.stdout if stream is None else stream)


def say(text: str) -> None:
    """A status line on stderr (what a long command is doing, where it writes) unless quiet."""
    if not _state["quiet"]:
        _write(text)


def _draw() -> None:
    now = time.monotonic()
    spin = _SPINNER[int(now / TICK_S) % len(_SPINNER)]
    parts = [f"{s.label} ... {format_seconds(now - s.started)}" for s in _active]
    width = shutil.get_terminal_size().columns - 1      # a wrapped line could not be redrawn in place
    sys.stderr.write(f"\r\x1b[K{spin} {' | '.join(parts)}"[:width + 4])
    sys.stderr.flush()


def _tick() -> None:
    while True:
        time.sleep(TICK_S)
        with _lock:
            if not _active:
                _ticker.clear()
                return
            _draw()


class Stage:
    """One long step (a tool run) that reports its start and its end with the elapsed time on stderr.

    Parameters
    ----------
    label : str
        What runs, tool first: ``"yosys: synthesising for the iCE40UP5K"``, ``"nextpnr-ecp5 seed 3: placing and
        routing"``.

    Attributes
    ----------
    started : float
        :func:`time.monotonic` reading at :meth:`start`, in seconds.
    seconds : float or None
        Elapsed time once ended, in seconds.
    """

    def __init__(self, label: str):
        self.label = label
        self.started = None
        self.seconds = None
        self._live = False
        self._silent = True

    def start(self) -> "Stage":
        """Report the start (a plain line off a terminal, the live line on one)."""
        self.started = time.monotonic()
        self._silent = _state["quiet"]
        if self._silent:
            return self
        with _lock:
            self._live = on_terminal()
            if self._live:
                _active.append(self)
                _draw()
                if not _ticker:
                    thread = threading.Thread(target=_tick, name="openeie-progress", daemon=True)
                    _ticker.append(thread)
                    thread.start()
            else:
                print(f"{self.label} ...", file=sys.stderr, flush=True)
        return self

    def end(self, outcome: str = "done") -> float:
        """Report the end, ``(<outcome> in 41 s)``; returns the elapsed seconds. Ending twice reports once."""
        if self.seconds is not None:
            return self.seconds
        self.seconds = time.monotonic() - self.started
        if self._silent:
            return self.seconds
        preposition = "in" if outcome == "done" else "after"
        line = f"{self.label} ... ({outcome} {preposition} {format_seconds(self.seconds)})"
        with _lock:
            if self._live and self in _active:
                _active.remove(self)
                sys.stderr.write("\r\x1b[K")
                print(line, file=sys.stderr, flush=True)
                if _active:
                    _draw()
            else:
                print(line, file=sys.stderr, flush=True)
        return self.seconds

    def __enter__(self) -> "Stage":
        return self.start()

    def __exit__(self, kind, value, tb) -> None:
        if kind is None:
            self.end()
        else:
            self.end("interrupted" if issubclass(kind, KeyboardInterrupt) else "failed")


def stage(label: str) -> Stage:
    """A :class:`Stage` to use as a context manager: ``with stage("yosys: synthesising ..."): run()``."""
    return Stage(label)
