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
           "add_inputs", "inputs_of", "SEED_MAX", "dask_address", "require_extra", "base_description"]

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
    parser.add_argument("--config", metavar="CFG.json",
                        help=f"engine configuration JSON over {default}: the fields it gives replace the default's, "
                             f"the others are kept (see 'openeie config show')")


def load_config(path, default=None, base_name: str | None = None):
    """The :class:`~openeie.config.EngineConfig` of ``--config`` read as an overlay of ``default`` (the command's
    default configuration; None: the engine defaults), or ``default`` when no file is given.

    The fields the file gives replace the default's, the others are kept, and the fields the given ones determine
    are derived (:func:`openeie.config.resolve_overlay`). Errors name the file and the configuration it overlays
    when that is not the engine defaults (``base_name``, else :func:`base_description`).
    """
    from openeie.config import EngineConfig
    if not path:
        return default
    base = default or EngineConfig()
    return EngineConfig.load(path, base, base_name or (None if base == EngineConfig() else base_description(base)))


def base_description(cfg) -> str:
    """How messages name a configuration that a ``--config`` file overlays: the presets it equals (``"the
    icebreaker / up5k preset"``), the engine defaults, or a command's own default."""
    from openeie.config import EngineConfig
    from openeie.fpga.presets import preset_names
    names = preset_names(cfg)
    if names:
        return f"the {' / '.join(names)} preset"
    return "the engine defaults" if cfg == EngineConfig() else "the command's default configuration"


def require_extra(extra: str, what: str, modules=(), tools=()) -> None:
    """Check, before any work, that ``what`` (a command or an option) has the optional dependencies it needs.

    Parameters
    ----------
    extra : str
        The extra of ``pyproject.toml`` that provides them (``"rtl"``, ``"fpga"``, ``"dask"``).
    what : str
        What needs them, for the message (e.g. ``"openeie rtl"``, ``"sweep --dask"``).
    modules : iterable of str
        Python modules that must be importable.
    tools : iterable of str
        Programs that must be found (:func:`openeie.fpga.tools.find_tool`: this Python's ``bin``, then ``PATH``).

    Raises
    ------
    openeie.errors.InputError
        Something is missing: the message names it, the extra and the ``pip install`` that adds it.
    """
    import importlib.util
    from openeie.errors import InputError
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if tools:
        from openeie.fpga.tools import ToolError, find_tool
        for tool in tools:
            try:
                find_tool(tool)
            except ToolError:
                missing.append(tool)
    if missing:
        raise InputError(f"{what} needs {', '.join(missing)} (not installed), from the optional dependencies "
                         f"[{extra}]: pip install 'openeie[{extra}]' (in a checkout: pip install -e '.[{extra}]')")
