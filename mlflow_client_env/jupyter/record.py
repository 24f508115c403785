"""What a launcher kernel started in its own interpreter set, recorded for ``doctor --pid``.

The launcher starts ipykernel in its own interpreter when it can (``launcher.start_here``):
then the kernel's variables are set inside the process, and ``/proc/PID/environ``, the
environment a process *started* with, shows only what it inherited from Jupyter. So the
launcher writes what it set, at the kernel's start, and ``doctor --pid`` reads it back:

- the folder is the user's private one (0700, checked: ``userdirs``), found from the
  kernel's own environment, so the doctor finds it from a terminal with another
  ``XDG_RUNTIME_DIR`` too;
- the file is created ``O_EXCL|O_NOFOLLOW``, 0600, and renamed into place: never half
  written, never through a planted link;
- its name, ``BOOT-NS-PID-START.json``, says which process wrote it: this boot of this
  host (``/proc/sys/kernel/random/boot_id``), its PID namespace, its PID there and its
  start time (clock ticks since boot). A reused PID never finds another process's record,
  and a folder shared with other hosts or containers (an NFS home) is safe: a kernel start
  removes only records of its own host and namespace whose process is gone;
- only the variables the launcher changed are written, each redacted first
  (``redact_value``): no secret on disk. Which ones the redaction changed is written too,
  so the doctor does not call a masked value different;
- a kernel removes its record at exit (not a child it forked); records more than 30 days
  old are removed by any kernel start.

Start times are read as this process's ``/proc`` shows them: a kernel in a time namespace
with a boot-time offset (a restored checkpoint) is not found by a doctor outside it.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import re
import stat
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import MlflowClientEnvError
from ..records import record
from ..redact import redact_value
from ..safeio import loads_json, read_small, write_private_file
from ..userdirs import ensure_private_dir, private_dir
from .extension import LAUNCHER, SHIM

#: The modules a launcher kernel's command line runs: ``kernel.json``'s shim and the
#: launcher itself. A kernel the launcher exec'd runs ``ipykernel_launcher`` instead.
LAUNCHER_MODULES = (SHIM, LAUNCHER)
#: A record is a few variables; CLASSPATH can be a few hundred KB.
MAX_RECORD = 16 << 20
FIX = "remove the file; the next start of that kernel writes a new one"
_NAME = re.compile(r"([0-9a-f]{32})-([0-9]+)-([0-9]+)-([0-9]+)\.(?:json|tmp)")


@record
class Found:
    """A record read back: the kernel's environment and what the launcher said of it."""

    #: what it inherited with the record applied; a masked variable keeps the inherited
    #: value (or stays unset): a mask is never handed to a check as a real value
    env: dict[str, str]
    path: Path
    recorded: dict[str, str]  # the variables the launcher set, as recorded (redacted)
    masked: tuple[str, ...]  # those whose recorded value is redacted
    libjvm: str | None  # the libjvm.so the launcher loaded at the kernel's start (real path)


def started_in_process(argv: Sequence[str]) -> bool:
    """Whether a process's command line is still the launcher's: the interpreter's options
    end in ``-m`` one of :data:`LAUNCHER_MODULES` (or ``-mMODULE``). ipykernel runs in the
    launcher's own interpreter there."""
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "-m":
            return i + 1 < len(argv) and argv[i + 1] in LAUNCHER_MODULES
        if arg.startswith("-m"):
            return arg[2:] in LAUNCHER_MODULES
        if arg in ("-c", "-", "--") or not arg.startswith("-"):
            return False  # a command, stdin or a script: what follows is its arguments
        i += 2 if arg in ("-X", "-W") else 1
    return False


def start_ticks(stat_text: bytes) -> str:
    """A process's start time from its ``/proc/PID/stat`` (field 22); ValueError if absent."""
    try:  # the command name (field 2) may hold spaces and ')': fields 3... follow its last ')'
        return str(int(stat_text[stat_text.rindex(b")") + 2 :].split()[19]))
    except (ValueError, IndexError):
        raise ValueError("no start time in /proc/PID/stat") from None


@functools.cache  # fixed for the life of a process: read once, not per record name and prune
def boot_id() -> str:
    """This boot of this host, as 32 hex digits (``0`` * 32 when the kernel does not say)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as fh:
            text = fh.read(64).decode("ascii", "replace").strip().replace("-", "").lower()
    except OSError:
        return "0" * 32
    return text if re.fullmatch(r"[0-9a-f]{32}", text) else "0" * 32


def record_name(namespace: int, pid: int, ticks: str, suffix: str = ".json") -> str:
    """The file name of the record of process ``pid`` (as its own namespace numbers it)."""
    return f"{boot_id()}-{namespace}-{pid}-{ticks}{suffix}"


def _own() -> tuple[int, int, str]:
    """This process: its PID namespace, its PID, its start time."""
    with open("/proc/self/stat", "rb") as fh:
        ticks = start_ticks(fh.read())
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return namespace, os.getpid(), ticks


def _folder(env: Mapping[str, str], *, create: bool) -> Path:
    return ensure_private_dir(private_dir(env, create=create) / "kernels", create=create)


#: A record older than this is removed by any kernel start, whatever host or container wrote
#: it (a previous boot, a pod that is gone): a kernel that old was killed, or is not asked.
STALE_AFTER = 30 * 24 * 3600


def _prune(folder: Path, namespace: int) -> None:
    """Remove the records of this host's and namespace's processes that are gone (or whose
    PID was reused), and any record older than :data:`STALE_AFTER`. A live process is told
    only where ``/proc`` is this namespace's (not after an ``unshare`` without its own
    ``/proc``) and the host's boot is known: otherwise only old records go."""
    mine = boot_id()
    own_proc = mine != "0" * 32 and os.readlink("/proc/self") == str(os.getpid())
    now = time.time()
    for name in os.listdir(folder):
        m = _NAME.fullmatch(name)
        if m is None:
            continue  # not a record: left alone
        path = folder / name
        with contextlib.suppress(OSError):  # another kernel start may remove it first
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                continue
            if now - st.st_mtime > STALE_AFTER:
                os.unlink(path)
                continue
            if not own_proc or m[1] != mine or int(m[2]) != namespace:
                continue  # another host's or container's, or not knowable from here
            try:
                with open(f"/proc/{m[3]}/stat", "rb") as fh:
                    alive = start_ticks(fh.read()) == m[4]
            except (OSError, ValueError):
                alive = False
            if not alive:
                os.unlink(path)


def write(
    inherited: Mapping[str, str], env: Mapping[str, str], *, libjvm: str | None = None
) -> Path:
    """Record, for this process, how ``env`` differs from ``inherited`` (values redacted)
    and the ``libjvm`` loaded at its start. Returns the record's path; it is removed when
    this process (not a child it forked) exits."""
    namespace, pid, ticks = _own()
    folder = _folder(inherited, create=True)
    with contextlib.suppress(OSError):  # a failed clean-up never costs the record
        _prune(folder, namespace)
    changed = {k: v for k, v in env.items() if inherited.get(k) != v}
    shown = {k: redact_value(k, v) for k, v in changed.items()}
    data = {
        "pid": pid,
        "set": shown,
        "unset": sorted(k for k in inherited if k not in env),
        "masked": sorted(k for k in changed if shown[k] != changed[k]),
        "libjvm": os.path.realpath(libjvm) if libjvm else None,
    }
    tmp = folder / record_name(namespace, pid, ticks, ".tmp")
    path = tmp.with_suffix(".json")
    try:
        write_private_file(tmp, json.dumps(data).encode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # ours by its name: never left half written
            os.unlink(tmp)
        raise
    atexit.register(_remove, path, pid)
    return path


def _remove(path: Path, pid: int) -> None:
    if os.getpid() == pid:  # a child forked by the kernel inherits atexit hooks
        with contextlib.suppress(OSError):
            os.unlink(path)


def read(
    environ: Mapping[str, str], namespace: int, pid: int, ticks: str, *, shown_as: int
) -> Found | None:
    """The environment of a launcher kernel: ``environ`` (what it inherited, from
    ``/proc/PID/environ``) with its record applied. ``namespace``, ``pid`` (as its namespace
    numbers it) and ``ticks`` name the process; ``shown_as``: its PID for the caller. None
    when there is no record (a kernel of an older version, or one that could not write it).

    Only for a process of the caller's own user: the folder must be the caller's private one.
    A record that is not a regular file or not a record of ours is a
    :class:`MlflowClientEnvError`.
    """
    path = _folder(environ, create=False) / record_name(namespace, pid, ticks)
    raw = read_small(path, FIX, MAX_RECORD)
    if raw is None:
        return None
    data = loads_json(raw.decode("utf-8", "replace"), path, FIX)
    try:
        changed, unset, masked = data["set"], data["unset"], data["masked"]
        libjvm = data["libjvm"]
        ok = data["pid"] == pid and isinstance(changed, dict)
        ok = ok and isinstance(unset, list) and isinstance(masked, list)
        strings = (*changed, *changed.values(), *unset, *masked)
        ok = ok and all(isinstance(v, str) for v in strings)
        ok = ok and (libjvm is None or isinstance(libjvm, str))
    except (KeyError, TypeError, AttributeError):
        ok = False
    if not ok:
        raise MlflowClientEnvError(
            f"{path} is not a kernel record of mlflow-client-env (process {shown_as})", FIX
        )
    merged = {k: v for k, v in environ.items() if k not in unset}
    merged.update((k, v) for k, v in changed.items() if k not in masked)
    return Found(merged, path, dict(changed), tuple(masked), libjvm)
