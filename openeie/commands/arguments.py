"""Typed command-line options: every number is checked against its range when the command line is parsed,
before any work (training, layer generation, synthesis) starts.

The ranges of engine quantities come from :data:`openeie.config.CONFIG_RANGES`, so an option such as ``--pes``
accepts exactly what :class:`~openeie.config.EngineConfig` accepts.
"""

from __future__ import annotations

import argparse
import math
import re

from openeie.config import CONFIG_RANGES

__all__ = ["int_in", "number_in", "config_int", "int_list", "density", "seed", "add_config", "load_config",
           "add_inputs", "inputs_of", "SEED_MAX", "dask_address"]

#: Largest seed (NumPy and torch both take 0 .. 2**32 - 1).
SEED_MAX = (1 << 32) - 1


def _range_text(low, high) -> str:
    if high is None:
        return f">= {low}"
    return f"{low}..{high}"


def int_in(low: int, high: int | None = None, what: str = "value"):
    """An argparse type: an integer in ``low..high`` (inclusive; ``high`` None: no upper bound)."""
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer: expected {what} "
                                             f"{_range_text(low, high)}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{what} {value} is out of range: expected {_range_text(low, high)}")
        return value
    parse.__name__ = what
    return parse


def number_in(low: float, high: float | None = None, what: str = "value", low_open: bool = True):
    """An argparse type: a finite float in ``(low, high]`` (``[low, high]`` when not ``low_open``)."""
    bound = f"> {low:g}" if low_open else f">= {low:g}"
    expected = bound if high is None else f"{bound} and <= {high:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number: expected {what} {expected}") from None
        if (not math.isfinite(value) or value < low or (low_open and value == low)
                or (high is not None and value > high)):
            raise argparse.ArgumentTypeError(f"{what} {text} is out of range: expected {expected}")
        return value
    parse.__name__ = what
    return parse


def config_int(field: str):
    """An argparse type for an :class:`~openeie.config.EngineConfig` field, with that field's range."""
    low, high = CONFIG_RANGES[field]
    return int_in(low, high, field)


def int_list(low: int, high: int, what: str = "value"):
    """An argparse type: comma-separated integers, each in ``low..high``, at least one, no repeats."""
    one = int_in(low, high, what)

    def parse(text: str) -> list:
        parts = [p.strip() for p in text.split(",")]
        if not text.strip() or any(not p for p in parts):
            raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers {low}..{high}, "
                                             f"e.g. {low},{min(high, low + 2)}")
        values = [one(p) for p in parts]
        if len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(f"{text!r} repeats a value: expected distinct values of {what}")
        return values
    parse.__name__ = what
    return parse


def _density(text: str) -> float:
    return number_in(0.0, 1.0, "density (fraction of weights kept)")(text)


density = _density
seed = int_in(0, SEED_MAX, "seed")

_DASK = re.compile(r"^(tcp|tls|inproc|ucx|ws|wss)://[^\s/:]+(:\d{1,5})?/?$")


def dask_address(text: str) -> str:
    """A Dask scheduler address such as ``tcp://host:8786``."""
    if not _DASK.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Dask scheduler address: expected e.g. "
                                         f"tcp://host:8786")
    port = text.rsplit(":", 1)[-1].rstrip("/")
    if port.isdigit() and not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: port {port} is out of range: expected 1..65535")
    return text


def add_inputs(parser, what: str = "run") -> None:
    """``--input``, ``--count``, ``--act-density`` and ``--seed``: what a network is run on (see
    :func:`inputs_of`)."""
    from openeie.sim.inputs import DEFAULT_ACT_DENSITY
    parser.add_argument("--input", metavar="X.npy", help=f"float inputs, (n_in,) or (batch, n_in), to {what} "
                        f"(default: seeded random inputs with --act-density non-zero)")
    parser.add_argument("--count", type=int_in(1, 100_000, "count"), default=1,
                        help="number of random inputs when --input is not given (default 1)")
    parser.add_argument("--act-density", type=number_in(0.0, 1.0, "activation density"), default=DEFAULT_ACT_DENSITY,
                        help=f"fraction of non-zero random inputs (default {DEFAULT_ACT_DENSITY}: EIE Table III's "
                             f"fully connected layers)")
    parser.add_argument("--seed", type=seed, default=0)


def inputs_of(args, program):
    """``(x_q, description)``: the fixed-point inputs of :func:`add_inputs`'s options for ``program``."""
    from openeie.sim import golden
    from openeie.sim.inputs import describe_density, load_inputs, random_inputs
    if args.input:
        x = load_inputs(args.input, program.n_in)
        what = f"{args.input} ({len(x)} input(s), {describe_density(x)})"
    else:
        x = random_inputs(program.n_in, args.count, args.act_density, args.seed)
        what = f"seeded random input(s) (seed {args.seed}, {describe_density(x)}; give --input for real data)"
    return golden.quantize_input(program.config, x), what


def add_config(parser, default: str = "the engine defaults (EIE's)") -> None:
    parser.add_argument("--config", metavar="CFG.json", help=f"engine configuration JSON (default: {default})")


def load_config(path, default=None):
    """The :class:`~openeie.config.EngineConfig` of ``--config``, or ``default``."""
    from openeie.config import EngineConfig
    return EngineConfig.load(path) if path else default
