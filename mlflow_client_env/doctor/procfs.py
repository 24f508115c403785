"""Read, never run: what ``doctor --pid`` learns about another process.

Everything comes from files under ``/proc/PID`` (``status`` for the uids, ``environ``,
``cmdline``, ``stat``, ``ns/pid``, ``maps``), opened relative to one directory descriptor, so a PID
reused while we read cannot mix two processes: the old directory then fails
with ESRCH instead of answering for the new one.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import MlflowClientEnvError
from ..jupyter.record import start_ticks
from ..records import record

#: the libraries whose mapped copy the live-process check reports
WATCHED_LIBRARIES = ("libjvm.so", "libhdfs.so", "libssl.so", "libkrb5.so", "libgssapi_krb5.so")

#: a process environment larger than this is not read whole (the kernel caps it far lower)
MAX_ENVIRON = 8 * 1024 * 1024


@record
class ProcessSnapshot:
    pid: int
    uid: int  # real uid
    euid: int
    environ: dict[str, str]
    cmdline: tuple[str, ...] = ()
    #: who the process is to itself, for ``jupyter.record``: its PID namespace (inode; 0:
    #: unknown), its PID there, its start time (clock ticks since boot; "": unknown)
    namespace: int = 0
    own_pid: int = 0
    start: str = ""


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
        raw = _read(d, "cmdline", pid, 1 << 20)
        cmdline = tuple(a.decode(errors="surrogateescape") for a in raw.split(b"\0")[:-1])
        try:
            start = start_ticks(_read(d, "stat", pid, 1 << 16))
        except ValueError:
            start = ""
        try:
            namespace = os.stat("ns/pid", dir_fd=d).st_ino
        except OSError:
            namespace = 0
        # read the uids again: a process that changed user while we read is not trusted
        status = _read(d, "status", pid, 1 << 20)
        uid2, euid2 = parse_uids(status)
    if (uid2, euid2) != (uid, euid):
        raise MlflowClientEnvError(
            f"process {pid} changed its user while it was being read",
            "run the doctor again once the process has settled",
        )
    own = own_pid_in_namespace(parse_status(status), pid)
    return ProcessSnapshot(pid, uid, euid, environ, cmdline, namespace, own, start)


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


# --------------------------------------------------------------------------- maps, status, tasks
@record
class MappedFile:
    """One file-backed line of ``/proc/PID/maps``."""

    start: int
    end: int
    perms: str
    offset: int
    dev: tuple[int, int]  # (major, minor) of the file's device
    inode: int
    path: str  # without the " (deleted)" the kernel appends to a removed file
    deleted: bool = False

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def parse_maps(text: str) -> list[MappedFile]:
    """The file-backed mappings of a ``maps`` text (anonymous and ``[heap]`` lines dropped)."""
    out: list[MappedFile] = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6 or not parts[5].startswith("/"):
            continue
        try:
            lo, hi = (int(x, 16) for x in parts[0].split("-", 1))
            major, minor = (int(x, 16) for x in parts[3].split(":", 1))
            offset, inode = int(parts[2], 16), int(parts[4])
        except ValueError:
            continue
        path = parts[5]
        deleted = path.endswith(" (deleted)")
        out.append(
            MappedFile(
                lo, hi, parts[1], offset, (major, minor), inode,
                path.removesuffix(" (deleted)"), deleted,
            )
        )  # fmt: skip
    return out


def read_maps(pid: int) -> list[MappedFile]:
    """The file-backed mappings of a live process (read only)."""
    with _proc_dir(pid) as d:
        return parse_maps(_read(d, "maps", pid, 64 << 20).decode(errors="surrogateescape"))


def parse_status(raw: bytes) -> dict[str, str]:
    """``/proc/PID/status`` as ``{"PPid": "1", "Threads": "27", ...}``."""
    out: dict[str, str] = {}
    for line in raw.decode(errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key] = value.strip()
    return out


def read_status(pid: int) -> dict[str, str]:
    with _proc_dir(pid) as d:
        return parse_status(_read(d, "status", pid, 1 << 20))


def own_pid_in_namespace(status: dict[str, str], pid: int) -> int:
    """The pid the process sees for itself (innermost ``NSpid``), which a JVM names its perf
    data file by; ``pid`` when the kernel does not say."""
    fields = status.get("NSpid", "").split()
    return int(fields[-1]) if fields and fields[-1].isdigit() else pid


def _task_files(pid: int, name: str, limit: int) -> list[bytes]:
    """``/proc/PID/task/*/NAME`` of every thread (a thread that ended meanwhile is skipped)."""
    out: list[bytes] = []
    with _proc_dir(pid) as d:
        try:
            task = os.open("task", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=d)
        except OSError as exc:
            raise _unreadable(pid, exc) from None
        try:
            for tid in sorted(os.listdir(task)):
                try:
                    fd = os.open(f"{tid}/{name}", os.O_RDONLY | os.O_CLOEXEC, dir_fd=task)
                except OSError:
                    continue
                try:
                    out.append(os.read(fd, limit))
                except OSError:
                    continue
                finally:
                    os.close(fd)
        finally:
            os.close(task)
    return out


def thread_names(pid: int) -> list[str]:
    """The name (``comm``) of each thread: HotSpot from Java 9 on names its own threads
    ("VM Thread", "GC Thread#0", "C2 CompilerThre"...)."""
    return [raw.decode(errors="replace").rstrip("\n") for raw in _task_files(pid, "comm", 64)]


def child_pids(pid: int) -> list[int]:
    """The children of every thread of ``pid`` (``task/*/children``; empty where the kernel
    lacks it)."""
    out: set[int] = set()
    for raw in _task_files(pid, "children", 1 << 20):
        out.update(int(x) for x in raw.split() if x.isdigit())
    return sorted(out)


# --------------------------------------------------------------------------- HotSpot perf data
#: The perf data file a HotSpot JVM maps (``-XX:+UsePerfData``, the default): jstat and jcmd
#: read it; it names the JVM's options and heap limits. Named by the pid of the process that
#: created the JVM, in ``<java.io.tmpdir>/hsperfdata_<user>/``.
PERF_MAGIC = 0xCAFEC0C0
#: the largest perf data file read (HotSpot's default is 32 KiB; -XX:PerfDataMemorySize)
MAX_PERF_DATA = 4 << 20


def perf_data_mapping(maps: list[MappedFile]) -> MappedFile | None:
    """The mapped ``hsperfdata_<user>/<pid>`` file, if a JVM was ever created in (or forked
    into) the process."""
    for m in maps:
        if os.path.basename(os.path.dirname(m.path)).startswith("hsperfdata_") and m.name.isdigit():
            return m
    return None


def parse_perf_data(data: bytes) -> dict[str, int | str]:
    """The counters of a HotSpot perf data file (format 2): ``{"java.rt.vmArgs": "-Xmx512m",
    "sun.gc.generation.1.maxCapacity": 536870920, ...}``. Every offset is bounds-checked:
    the file belongs to the process under inspection. ValueError for anything else."""
    import struct

    if len(data) < 32 or int.from_bytes(data[:4], "big") != PERF_MAGIC:
        raise ValueError("not a HotSpot perf data file")
    order = "<" if data[4] == 1 else ">"
    major = data[5]
    if major != 2:
        raise ValueError(f"perf data format {major} (2 is read)")
    used, entry_offset, count = (
        struct.unpack_from(order + "i", data, 8)[0],
        *struct.unpack_from(order + "ii", data, 24),
    )
    end = min(len(data), used if 0 < used <= len(data) else len(data))
    out: dict[str, int | str] = {}
    off = entry_offset
    for _ in range(min(count, 100_000)):
        if off < 32 or off + 20 > end:
            break
        length, name_off, vlen, dtype, _flags, _units, _var, data_off = struct.unpack_from(
            order + "iiibbbbi", data, off
        )
        if length <= 0 or off + length > end or not 0 < name_off < length:
            break
        name_end = data.find(b"\0", off + name_off, off + length)
        if name_end < 0:
            break
        name = data[off + name_off : name_end].decode("ascii", errors="replace")
        if data_off <= 0:
            break
        value_at = off + data_off
        if chr(dtype & 0xFF) == "J" and vlen == 0 and value_at + 8 <= off + length:
            out[name] = struct.unpack_from(order + "q", data, value_at)[0]
        elif chr(dtype & 0xFF) == "B" and vlen > 0 and value_at + vlen <= off + length:
            raw = data[value_at : value_at + vlen].split(b"\0", 1)[0]
            out[name] = raw.decode(errors="replace")
        off += length
    return out


def read_perf_data(pid: int, mapping: MappedFile) -> dict[str, int | str]:
    """The perf data file that process ``pid`` maps, read (never executed) as the file it maps:
    looked up through the process's own root (``/proc/PID/root``: right in a container too),
    and accepted only if it is that very file (device and inode of the mapping).
    :class:`MlflowClientEnvError` when it cannot be read, ValueError when it is not one."""
    import stat

    with _proc_dir(pid) as d:
        try:
            fd = os.open(
                "root" + mapping.path,
                os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK,
                dir_fd=d,
            )
        except OSError as exc:
            raise MlflowClientEnvError(
                f"cannot read the JVM perf data file {mapping.path} of process {pid}: "
                f"{exc.strerror or type(exc).__name__}",
                "run the doctor as the same user as that process (or as root)",
            ) from None
        try:
            st = os.fstat(fd)
            dev = (os.major(st.st_dev), os.minor(st.st_dev))
            if not stat.S_ISREG(st.st_mode) or (st.st_ino, dev) != (mapping.inode, mapping.dev):
                raise MlflowClientEnvError(
                    f"{mapping.path} is no longer the perf data file process {pid} maps",
                    "run the doctor again",
                )
            return parse_perf_data(os.read(fd, MAX_PERF_DATA))
        finally:
            os.close(fd)
