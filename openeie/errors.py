"""The error types a user can cause with bad input; the CLI prints them as one line, without a trace."""

from __future__ import annotations

from .config import ConfigError
from .fixed import FixedRangeError
from .compiler.network import NetworkError
from .compiler.images import ImageError

__all__ = ["USER_ERRORS"]

USER_ERRORS = (ConfigError, FixedRangeError, NetworkError, ImageError, FileNotFoundError, IsADirectoryError,
               PermissionError)
