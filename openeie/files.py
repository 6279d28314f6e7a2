"""Reading a user's files and writing OpenEIE's outputs without ever losing anything of the user's.

Inputs: :func:`input_file` accepts a regular file only (a FIFO, a device such as ``/dev/zero`` or a directory is
refused before anything is read) and, for small text inputs (configurations, energy tables), a bounded size.

Outputs follow two rules:

* an output *file* the user names is replaced atomically (written to a temporary file beside it, then renamed),
  never half-written; it must not be a directory or one of the command's inputs;
* an output *directory* is created, or filled when empty, or replaced when it is provably OpenEIE's: its marker
  file (e.g. ``manifest.json``) parses as JSON with this kind's ``format`` tag and it holds nothing but files of
  this kind. Anything else is refused before any work is done (:func:`check_output_dir`), and the contents are
  staged in a temporary directory and moved into place only when complete (:func:`staged_dir`).

Errors name the user's path, never a temporary one. Only the standard library is used.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import FileInputError, OutputError

__all__ = ["MAX_TEXT_BYTES", "input_file", "read_text", "read_bytes", "check_output_file", "write_bytes",
           "write_text", "OutputKind", "check_output_dir", "staged_dir", "working_dir", "same_file"]

#: Largest configuration / table file read (bytes).
MAX_TEXT_BYTES = 1 << 20


def _show(path) -> str:
    return repr(str(path))


def input_file(path, what: str, max_bytes: int | None = None) -> Path:
    """``path`` as a :class:`~pathlib.Path` if it names a regular file of at most ``max_bytes`` bytes.

    Raises
    ------
    FileInputError
        Naming the file: it does not exist, is a directory, is not a regular file, is too large or cannot be
        examined.
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise FileInputError(f"{what} {_show(path)} does not exist") from None
    except OSError as e:
        raise FileInputError(f"cannot read {what} {_show(path)}: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise FileInputError(f"{what} {_show(path)} is a directory: expected a file")
    if not stat.S_ISREG(st.st_mode):
        raise FileInputError(f"{what} {_show(path)} is not a regular file (a device, FIFO or socket): expected a "
                             f"file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise FileInputError(f"{what} {_show(path)} is {st.st_size} bytes: expected at most {max_bytes}")
    return path


def read_bytes(path, what: str, max_bytes: int | None = None) -> bytes:
    """The contents of a regular file (see :func:`input_file`)."""
    path = input_file(path, what, max_bytes)
    try:
        with open(path, "rb") as f:
            data = f.read() if max_bytes is None else f.read(max_bytes + 1)
    except OSError as e:
        raise FileInputError(f"cannot read {what} {_show(path)}: {e.strerror}") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise FileInputError(f"{what} {_show(path)} is larger than {max_bytes} bytes")
    return data


def read_text(path, what: str, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """A small UTF-8 text file (configuration, table), at most ``max_bytes`` bytes."""
    data = read_bytes(path, what, max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FileInputError(f"{what} {_show(path)} is not UTF-8 text (byte {e.start}): expected a text "
                             f"file") from None


def same_file(a, b) -> bool:
    """Whether two paths name the same existing file."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _writable_ancestor(path: Path, what: str) -> None:
    """The nearest existing ancestor of ``path`` must be a writable directory (missing ones are created later)."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{what} {_show(path)}: {_show(parent)} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {_show(path)}: directory {_show(parent)} is not writable")


def check_output_file(path, what: str = "output", inputs=()) -> Path:
    """Check, before any work, that ``path`` can be written as an output file: not a directory, not one of
    ``inputs``, in a directory that exists or can be created. Returns the path."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{what} {_show(path)} is a directory: expected a file name")
    if path.exists() and not path.is_file():
        raise OutputError(f"{what} {_show(path)} exists and is not a regular file")
    for source in inputs:
        if source is not None and same_file(path, source):
            raise OutputError(f"{what} {_show(path)} is also an input of this command: refusing to overwrite it")
    _writable_ancestor(path, what)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _made_parents(path: Path) -> list:
    """Create the missing parents of ``path``; return the ones created (deepest last)."""
    missing = []
    parent = path.absolute().parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for p in reversed(missing):
        p.mkdir()
    return list(reversed(missing))


def _remove_empty(dirs) -> None:
    for d in reversed(list(dirs)):
        with contextlib.suppress(OSError):
            d.rmdir()


def write_bytes(path, data: bytes, what: str = "output") -> Path:
    """Write ``data`` to ``path`` atomically (temporary file beside it, then rename), creating missing parent
    directories; on failure nothing is left behind and the error names ``path``."""
    path = Path(path)
    check_output_file(path, what)
    made = []
    tmp = None
    try:
        made = _made_parents(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())             # as open() would create it (mkstemp makes it private)
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise OutputError(f"cannot write {what} {_show(path)}: {e.strerror}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
            _remove_empty(made)
    return path


def write_text(path, text: str, what: str = "output") -> Path:
    return write_bytes(path, text.encode("utf-8"), what)


# ---- output directories ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OutputKind:
    """A kind of output directory: its marker file, the ``format`` tag in it, and the names it may hold
    (``fnmatch`` patterns of paths relative to the directory, ``/``-separated; directories are implied)."""

    format: str
    marker: str
    patterns: tuple
    what: str = "output directory"

    def owns(self, relative: str) -> bool:
        return any(fnmatch.fnmatchcase(relative, p) for p in self.patterns)


def _foreign_entries(root: Path, kind: OutputKind) -> list:
    foreign = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = Path(dirpath).relative_to(root)
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            rel = (rel_dir / name).as_posix()
            full = Path(dirpath) / name
            if full.is_symlink() or not kind.owns(rel):
                foreign.append(rel)
    return sorted(foreign)


def _marker_format(root: Path, kind: OutputKind):
    marker = root / kind.marker
    try:
        if not marker.is_file() or marker.is_symlink() or marker.stat().st_size > 64 * MAX_TEXT_BYTES:
            return None
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("format") if isinstance(data, dict) else None


def check_output_dir(path, kind: OutputKind) -> Path:
    """Check, before any work, that ``path`` may become an output directory of ``kind``: it does not exist, or
    is an empty directory, or is provably a directory of this kind (see the module docstring)."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise OutputError(f"{kind.what} {_show(path)} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        found = _marker_format(path, kind)
        if found != kind.format:
            why = (f"holds no readable {kind.marker} of OpenEIE's (format {kind.format!r})" if found is None
                   else f"its {kind.marker} says format {found!r}, not {kind.format!r}")
            raise OutputError(f"{kind.what} {_show(path)} is not empty and {why}: refusing to replace it; "
                              f"choose a new or empty directory")
        foreign = _foreign_entries(path, kind)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise OutputError(f"{kind.what} {_show(path)} holds files OpenEIE did not write ({shown}): refusing "
                              f"to replace it; choose a new or empty directory")
    _writable_ancestor(path, kind.what)
    return path


@contextlib.contextmanager
def staged_dir(path, kind: OutputKind):
    """Yield a temporary directory beside ``path`` to write the outputs into; when the block completes, it
    replaces ``path`` (checked again with :func:`check_output_dir`). On an error nothing is left behind: the
    temporary directory and any parent directories created for it are removed, and ``path`` is untouched."""
    path = Path(path)
    check_output_dir(path, kind)
    made = []
    tmp = None
    try:
        made = _made_parents(path)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        os.chmod(tmp, 0o777 & ~_umask())             # as mkdir() would create it (mkdtemp makes it private)
    except OSError as e:
        _remove_empty(made)
        raise OutputError(f"cannot create {kind.what} {_show(path)}: {e.strerror}") from None
    try:
        yield tmp
        check_output_dir(path, kind)
        old = None
        try:
            if path.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
                os.replace(path, old / "replaced")
            os.replace(tmp, path)
        except OSError as e:
            if old is not None and (old / "replaced").exists() and not path.exists():
                os.replace(old / "replaced", path)
            raise OutputError(f"cannot write {kind.what} {_show(path)}: {e.strerror}") from None
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        tmp = None
    except OSError as e:
        raise OutputError(f"cannot write {kind.what} {_show(path)}: {e.strerror}") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            _remove_empty(made)


@contextlib.contextmanager
def working_dir(path, kind: OutputKind):
    """An output directory written in place (tool flows whose logs matter even when they fail): checked with
    :func:`check_output_dir`, created with its marker (``{"format": ...}``) when new, and removed again if the
    block fails before anything but the marker was written into a directory it created."""
    path = Path(path)
    check_output_dir(path, kind)
    existed = path.exists()
    made = []
    try:
        made = _made_parents(path / "x")
        marker = path / kind.marker
        if not marker.exists():
            marker.write_text(json.dumps({"format": kind.format}) + "\n")
    except OSError as e:
        _remove_empty(made)
        raise OutputError(f"cannot create {kind.what} {_show(path)}: {e.strerror}") from None
    try:
        yield path
    except BaseException:
        if not existed and [p.name for p in path.iterdir()] == [kind.marker]:
            (path / kind.marker).unlink()
            _remove_empty(made)
        raise
