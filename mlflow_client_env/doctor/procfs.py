"""Read, never run: what ``doctor --pid`` learns about another process.

Everything comes from three files under ``/proc/PID`` (``status`` for the uids,
``environ``, ``maps``), opened relative to one directory descriptor, so a PID
reused while we read cannot mix two processes: the old directory then fails
with ESRCH instead of answering for the new one.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..errors import MlflowClientEnvError

#: the libraries whose mapped copy the live-process check reports
WATCHED_LIBRARIES = ("libjvm.so", "libhdfs.so", "libssl.so", "libkrb5.so", "libgssapi_krb5.so")

#: a process environment larger than this is not read whole (the kernel caps it far lower)
MAX_ENVIRON = 8 * 1024 * 1024


@dataclass(frozen=True)
class ProcessSnapshot:
    pid: int
    uid: int  # real uid
    euid: int
    environ: dict[str, str]


@contextmanager
def _proc_dir(pid: int) -> Iterator[int]:
    if pid <= 0:
        raise MlflowClientEnvError(
            f"--pid {pid} is not a process id", "give the PID of a running process (see 'ps')"
        )
    try:
        fd = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise _unreadable(pid, exc) from None
    try:
        yield fd
    finally:
        os.close(fd)


def _unreadable(pid: int, exc: OSError) -> MlflowClientEnvError:
    if exc.errno in (errno.ENOENT, errno.ESRCH):
        return MlflowClientEnvError(
            f"there is no process {pid} (it may have exited)",
            "check the PID with 'ps'",
        )
    return MlflowClientEnvError(
        f"cannot read process {pid}: {exc.strerror or type(exc).__name__}",
        "run the doctor as the same user as that process (or as root)",
    )


def _read(dir_fd: int, name: str, pid: int, limit: int = MAX_ENVIRON) -> bytes:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError as exc:
        raise _unreadable(pid, exc) from None
    try:
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise _unreadable(pid, exc) from None
    finally:
        os.close(fd)


def parse_environ(raw: bytes) -> dict[str, str]:
    """``/proc/PID/environ`` (NUL-separated ``NAME=value``) as a mapping; undecodable bytes kept."""
    out: dict[str, str] = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep and name:
            out[name.decode(errors="surrogateescape")] = value.decode(errors="surrogateescape")
    return out


def parse_uids(status: bytes) -> tuple[int, int]:
    """The real and effective uid from ``/proc/PID/status``."""
    for line in status.decode(errors="replace").splitlines():
        if line.startswith("Uid:"):
            fields = line.split()[1:]
            return int(fields[0]), int(fields[1])
    raise ValueError("no Uid: line")


def snapshot(pid: int) -> ProcessSnapshot:
    """Who runs ``pid`` and the environment it started with; nothing of it is executed."""
    with _proc_dir(pid) as d:
        try:
            uid, euid = parse_uids(_read(d, "status", pid, 1 << 20))
        except (ValueError, IndexError):
            raise MlflowClientEnvError(
                f"/proc/{pid}/status has no readable Uid line", "check the PID with 'ps'"
            ) from None
        environ = parse_environ(_read(d, "environ", pid))
        # read the uids again: a process that changed user while we read is not trusted
        uid2, euid2 = parse_uids(_read(d, "status", pid, 1 << 20))
    if (uid2, euid2) != (uid, euid):
        raise MlflowClientEnvError(
            f"process {pid} changed its user while it was being read",
            "run the doctor again once the process has settled",
        )
    return ProcessSnapshot(pid, uid, euid, environ)


def mapped_libraries(pid: int) -> dict[str, str]:
    """Which libjvm, libhdfs, libssl and libkrb5 a live process actually mapped (from maps)."""
    with _proc_dir(pid) as d:
        maps = _read(d, "maps", pid, 64 << 20).decode(errors="surrogateescape")
    out: dict[str, str] = {}
    for line in maps.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6 or not parts[5].startswith("/"):
            continue
        path = parts[5].removesuffix(" (deleted)")
        base = os.path.basename(path)
        for w in WATCHED_LIBRARIES:
            if base.startswith(w) and w not in out:
                out[w] = path
    return out
