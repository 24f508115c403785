"""Reading small files that come from outside our control, without hanging or crashing.

Config files, ``meta/parcel.json``, Hadoop XML and JDK ``release`` files are read
through :func:`read_small` so that a FIFO (which would block ``open()`` forever), a
device, a directory, a huge file or bytes that are not UTF-8 become a
:class:`~mlflow_client_env.errors.ConfigFileError` that names the path and the fix.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from .errors import ConfigFileError

TYPE_CHECKING = False  # typing is not imported at run time (import cost; mypy honours this)
if TYPE_CHECKING:
    from typing import Any

#: No file we read for configuration is anywhere near this big.
MAX_BYTES = 8 * 1024 * 1024


def read_small(path: Path, fix: str, limit: int = MAX_BYTES) -> bytes | None:
    """The bytes of a regular file (None when it does not exist); anything else is an error.

    Opened with ``O_NONBLOCK`` so a FIFO planted at ``path`` cannot hang us; the
    type is checked on the open descriptor, so a swap after a check cannot either.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigFileError(
            f"cannot read {path}: {exc.strerror}", "check its permissions"
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigFileError(
                f"{path} is not a regular file ({file_kind(st.st_mode)})",
                f"replace it with a regular file; {fix}",
            )
        if st.st_size > limit:
            raise ConfigFileError(f"{path} is {st.st_size} bytes, more than {limit} expected", fix)
        chunks = []
        size = 0
        while chunk := os.read(fd, 65536):
            size += len(chunk)
            if size > limit:
                raise ConfigFileError(f"{path} grew past {limit} bytes while being read", fix)
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise ConfigFileError(
            f"cannot read {path}: {exc.strerror}", "check its permissions"
        ) from None
    finally:
        os.close(fd)


def read_small_text(path: Path, fix: str, limit: int = MAX_BYTES) -> str | None:
    """:func:`read_small`, decoded as UTF-8 (a file that is not UTF-8 is an error)."""
    data = read_small(path, fix, limit)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            f"save it as UTF-8; {fix}",
        ) from None


def loads_json(text: str, path: Path, fix: str) -> Any:
    """``json.loads`` whose failures (syntax, absurd nesting) name the file."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigFileError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", fix
        ) from None
    except RecursionError:
        raise ConfigFileError(f"{path} is nested too deeply to be a real file", fix) from None
    except ValueError as exc:  # e.g. an integer past the interpreter's digit limit
        raise ConfigFileError(f"{path} is not a usable JSON file: {exc}", fix) from None


def write_private_file(path: Path, data: bytes, *, sync: bool = False) -> None:
    """Create ``path`` (``O_CREAT|O_EXCL|O_NOFOLLOW``, 0600) and write ``data``: never an
    existing file, never through a link. ``sync``: ``fsync`` before closing."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def file_kind(mode: int) -> str:
    """'a FIFO (named pipe)', 'a directory', ... for a ``st_mode``, for messages."""
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISREG, "a regular file"),
    ):
        if test(mode):
            return kind
    return "not a regular file"
