"""What a launcher kernel started in its own interpreter set, recorded for ``doctor --pid``.

The launcher starts ipykernel in its own interpreter when it can (``launcher.start_here``):
then the kernel's variables are set inside the process, and ``/proc/PID/environ``, the
environment a process *started* with, shows only what it inherited from Jupyter. So the
launcher writes what it set, at the kernel's start, to
``<private_dir>/kernels/PID-START.json``, and ``doctor --pid`` reads it back:

- the folder is the user's private one (0700, checked: ``userdirs``), found from the
  kernel's own environment, so the doctor finds it from a terminal with another
  ``XDG_RUNTIME_DIR`` too;
- the file is created ``O_EXCL|O_NOFOLLOW``, 0600, and renamed into place: never half
  written, never through a planted link;
- ``START`` is the process's start time (``/proc/PID/stat``, clock ticks since boot), so a
  reused PID never finds another process's record;
- only the variables the launcher changed are written, each redacted first
  (``redact_value``): no secret on disk;
- a kernel removes its record at exit; the records of processes that are gone (a kernel
  killed) are removed at the next kernel start.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import MlflowClientEnvError
from ..redact import redact_value
from ..safeio import read_small
from ..userdirs import ensure_private_dir, private_dir

#: The modules a launcher kernel's command line runs: ``kernel.json``'s shim and the
#: launcher itself. A kernel the launcher exec'd runs ``ipykernel_launcher`` instead.
LAUNCHER_MODULES = ("mlflow_client_env.kernel", "mlflow_client_env.jupyter.launcher")
#: A record is a few variables; CLASSPATH can be a few hundred KB.
MAX_RECORD = 16 << 20
FIX = "remove the file; the next start of that kernel writes a new one"


def started_in_process(argv: Sequence[str]) -> bool:
    """Whether a process's command line is still the launcher's (``-m`` one of
    :data:`LAUNCHER_MODULES`): ipykernel runs in the launcher's own interpreter there."""
    return any(a == "-m" and b in LAUNCHER_MODULES for a, b in itertools.pairwise(argv))


def start_ticks(pid: int) -> str:
    """The start time of process ``pid`` (``/proc/PID/stat`` field 22); OSError if none."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        stat = fh.read()
    # the command name (field 2) may hold spaces and ')': fields 3... follow its last ')'
    return stat[stat.rindex(b")") + 2 :].split()[19].decode()


def _folder(env: Mapping[str, str], *, create: bool) -> Path:
    return ensure_private_dir(private_dir(env, create=create) / "kernels", create=create)


def _prune(folder: Path) -> None:
    """Remove the records of processes that are gone (or whose PID was reused)."""
    for name in os.listdir(folder):
        pid, dash, rest = name.partition("-")
        if not (dash and pid.isdigit() and rest.endswith((".json", ".tmp"))):
            continue  # not ours: left alone
        try:
            alive = start_ticks(int(pid)) == rest.rsplit(".", 1)[0]
        except (OSError, IndexError, ValueError):
            alive = False
        if not alive:
            with contextlib.suppress(OSError):  # another kernel start removed it first
                os.unlink(folder / name)


def write(inherited: Mapping[str, str], env: Mapping[str, str]) -> Path:
    """Record, for this process, how ``env`` differs from ``inherited`` (values redacted).
    Returns the record's path; removed when this process exits."""
    pid = os.getpid()
    folder = _folder(inherited, create=True)
    _prune(folder)
    data = {
        "pid": pid,
        "set": {k: redact_value(k, v) for k, v in env.items() if inherited.get(k) != v},
        "unset": sorted(k for k in inherited if k not in env),
    }
    stem = f"{pid}-{start_ticks(pid)}"
    tmp, path = folder / f"{stem}.tmp", folder / f"{stem}.json"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    atexit.register(_remove, path)
    return path


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def read(pid: int, environ: Mapping[str, str]) -> tuple[dict[str, str], Path] | None:
    """The environment of launcher kernel ``pid``: ``environ`` (what it inherited, from
    ``/proc/PID/environ``) with its record applied, and the record's path. None when there is
    no record (a kernel of an older version, or one that could not write it).

    Only for a process of the caller's own user: the folder must be the caller's private one.
    A record that is not a regular file or not a record of ours is a
    :class:`MlflowClientEnvError`.
    """
    try:
        folder = _folder(environ, create=False)
        path = folder / f"{pid}-{start_ticks(pid)}.json"
    except OSError:
        return None  # the process is gone
    raw = read_small(path, FIX, MAX_RECORD)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        changed, unset = data["set"], data["unset"]
        ok = data["pid"] == pid and isinstance(changed, dict) and isinstance(unset, list)
        ok = ok and all(isinstance(v, str) for v in (*changed, *changed.values(), *unset))
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise MlflowClientEnvError(f"{path} is not a kernel record of mlflow-client-env", FIX)
    merged = {k: v for k, v in environ.items() if k not in unset}
    merged.update(changed)
    return merged, path
