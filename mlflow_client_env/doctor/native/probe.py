"""The load probe: dlopen ``libjvm`` then ``libhdfs`` in a fresh child process, as pyarrow
does (no JVM is started), and the finding for what it saw. The one part of ``native``
that runs anything: the loader itself is the last word on what loads.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from ...findings import Finding
from ...records import record
from ..context import Context


@record
class LoadProbe:
    """Outcome of dlopen-ing libjvm then libhdfs in a child process.

    ``error`` is the dlerror() text verbatim; ``stage`` says which load failed.
    """

    libjvm: Path
    libhdfs: Path
    ok: bool
    stage: Literal["libjvm", "libhdfs", "python"] | None
    error: str | None
    returncode: int | None
    timed_out: bool = False
    stderr: str = ""


_PROBE = """
import ctypes, json, sys
for stage, path in (("libjvm", sys.argv[1]), ("libhdfs", sys.argv[2])):
    print(json.dumps({"loading": stage}), flush=True)
    try:
        ctypes.CDLL(path)
    except OSError as exc:
        print(json.dumps({"stage": stage, "error": str(exc)}), flush=True)
        sys.exit(3)
print(json.dumps({"ok": True}), flush=True)
"""


def _probe_result(libjvm: Path, libhdfs: Path, done: subprocess.CompletedProcess[str]) -> LoadProbe:
    """Read the child's last JSON line; a signal death is blamed on the stage it was in."""
    events: list[dict[str, Any]] = []
    for ln in done.stdout.splitlines():
        try:
            event = json.loads(ln) if ln.startswith("{") else None
        except ValueError:
            event = None  # a library's constructor printed something of its own
        if isinstance(event, dict):
            events.append(event)
    last: dict[str, Any] = events[-1] if events else {}
    rc = done.returncode
    if last.get("ok"):
        return LoadProbe(libjvm, libhdfs, True, None, None, rc, False, done.stderr)
    if "error" in last:
        return LoadProbe(
            libjvm, libhdfs, False, last["stage"], last["error"], rc, False, done.stderr
        )
    stage = last.get("loading")
    if stage in ("libjvm", "libhdfs") and rc < 0:
        path = libjvm if stage == "libjvm" else libhdfs
        text = f"killed by {signal.Signals(-rc).name} while loading {path}"
        return LoadProbe(libjvm, libhdfs, False, stage, text, rc, False, done.stderr)
    tail = done.stderr.strip().splitlines()
    text = tail[-1] if tail else f"probe exited with status {rc}"
    return LoadProbe(libjvm, libhdfs, False, "python", text, rc, False, done.stderr)


def probe_argv(libjvm: Path, libhdfs: Path) -> list[str]:
    """The load probe's command line: an isolated Python (``-I -S``) that dlopens both."""
    return [sys.executable, "-I", "-S", "-c", _PROBE, str(libjvm), str(libhdfs)]


def probe_result(libjvm: Path, libhdfs: Path, done: subprocess.CompletedProcess[str]) -> LoadProbe:
    """The :class:`LoadProbe` for a finished run of :func:`probe_argv`."""
    return _probe_result(libjvm, libhdfs, done)


def probe_timed_out(libjvm: Path, libhdfs: Path, timeout: float, stderr: str = "") -> LoadProbe:
    return LoadProbe(
        libjvm, libhdfs, False, None, f"timed out after {timeout}s", None, True, stderr
    )


def probe_load(libjvm: Path, libhdfs: Path, env: Mapping[str, str], timeout: float) -> LoadProbe:
    """dlopen ``libjvm`` then ``libhdfs`` in a child with exactly ``env``.

    A child, because a failed dlopen can kill the caller (a truncated
    library dies with SIGBUS) and because LD_LIBRARY_PATH only takes effect
    at process start. Loading libjvm first is what pyarrow does; no JVM is
    started. ``error`` is dlerror()'s text as ctypes reports it.

    The child starts through ``Context.spawn``, the doctor's one launch path, with this
    process's own environment as the base: ``env`` must be the calling user's.
    """
    import subprocess

    ctx = Context(env=dict(env), timeout=timeout + 60)  # the probe's own cap decides
    try:
        done = ctx.spawn(
            "the native load probe", probe_argv(libjvm, libhdfs), extra_env={}, cap=timeout
        )
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        return probe_timed_out(libjvm, libhdfs, timeout, err)
    return _probe_result(libjvm, libhdfs, done)


def _load_fix(error: str) -> str:
    if "cannot open shared object file" in error:
        return (
            "A file or one of its dependencies is missing (ld.so says the same for a "
            "library of another machine type): check JAVA_HOME (A2) and ARROW_LIBHDFS_DIR "
            "(A1); check_library() on the named library tells which."
        )
    if "wrong ELF class" in error or "invalid ELF header" in error or "too short" in error:
        return "The library is for another architecture or damaged; replace it (see its finding)."
    if error.startswith("killed by"):
        return "The library crashed the loader, typically a truncated file: see native.truncated."
    if "undefined symbol" in error or "version" in error:
        return (
            "Two builds of a library are being mixed, usually through LD_LIBRARY_PATH (E1): "
            "remove parcel and JDK dirs from it."
        )
    return "See the error text; run check_library() on both libraries for details."


def load_finding(probe: LoadProbe) -> Finding:
    """The doctor's view of a :class:`LoadProbe`."""
    evidence = (f"libjvm: {probe.libjvm}", f"libhdfs: {probe.libhdfs}")
    if probe.ok:
        return Finding(
            "native-libraries.load", "ok", "libjvm and libhdfs load in a fresh process", evidence
        )
    if probe.timed_out:
        return Finding(
            "native-libraries.load-timeout",
            "error",
            f"loading {probe.libjvm} and {probe.libhdfs} did not finish: {probe.error}",
            evidence,
            "A library constructor hangs; check for NFS-mounted parcels or JDK dirs.",
        )
    error = probe.error or ""
    target = {"libjvm": probe.libjvm, "libhdfs": probe.libhdfs}.get(probe.stage or "")
    what = f"loading {target}" if target else "starting the probe"
    return Finding(
        "native-libraries.load",
        "error",
        f"{what} failed: {error}",
        (*evidence, error),
        _load_fix(error),
    )
