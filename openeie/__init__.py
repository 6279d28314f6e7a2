"""OpenEIE: an EIE-style accelerator kit (compression, compiler, engine RTL, cycle and energy models, FPGA and ASIC
estimates). The command line is ``openeie`` (:mod:`openeie.cli`); the packages are :mod:`openeie.compiler`,
:mod:`openeie.sim`, :mod:`openeie.hw` and :mod:`openeie.fpga` on the core types in this package.

The Python API (:mod:`openeie.api`) is available from here: :class:`EngineConfig`, :func:`load_data`,
:func:`compress`, :func:`lower`, :func:`compile`, :func:`simulate`, :func:`energy`, :func:`run_rtl`,
:func:`run_board` and :func:`synth`. They are imported on first use (PEP 562), so ``import openeie`` stays cheap: it imports neither
torch nor Amaranth nor any of the packages above.
"""

from importlib import metadata as _metadata

try:
    #: The installed distribution's version (``pyproject.toml``).
    __version__ = _metadata.version("openeie")
except _metadata.PackageNotFoundError:          # imported from a source tree that was never installed
    __version__ = "0+unknown"

#: Public name -> the module that defines it (imported when the name is first looked up).
_LAZY = {"EngineConfig": "openeie.config", "load_data": "openeie.api", "compress": "openeie.api",
         "lower": "openeie.api", "compile": "openeie.api", "simulate": "openeie.api", "energy": "openeie.api",
         "run_rtl": "openeie.api", "run_board": "openeie.api", "synth": "openeie.api"}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'openeie' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value                      # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
