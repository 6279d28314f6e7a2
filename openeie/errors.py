"""The error types a user can cause with bad input; the CLI prints them as one line, without a trace."""

from __future__ import annotations

from .config import ConfigError
from .fixed import FixedRangeError
from .compiler.network import NetworkError
from .compiler.images import ImageError
from .compiler.frontend import FrontendError
from .fpga.host import LinkError

__all__ = ["USER_ERRORS"]

# ValueError covers the remaining bad-input checks (input shapes, ranges) that raise it with a full message.
USER_ERRORS = (ConfigError, FixedRangeError, NetworkError, ImageError, FileNotFoundError, IsADirectoryError,
               PermissionError, ValueError, FrontendError, LinkError)
