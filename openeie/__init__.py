"""OpenEIE: an EIE-style accelerator kit (compression, compiler, engine RTL, cycle and energy models, FPGA and ASIC
estimates). The command line is ``openeie`` (:mod:`openeie.cli`); the packages are :mod:`openeie.compiler`,
:mod:`openeie.sim`, :mod:`openeie.hw` and :mod:`openeie.fpga` on the core types in this package."""

from importlib import metadata as _metadata

try:
    #: The installed distribution's version (``pyproject.toml``).
    __version__ = _metadata.version("openeie")
except _metadata.PackageNotFoundError:          # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
