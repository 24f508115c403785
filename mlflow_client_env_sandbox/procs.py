"""Start and stop server processes by PID, so nothing outlives the sandbox.

Attached processes (tests) get ``PR_SET_PDEATHSIG``: when the process that
started them dies, even by SIGKILL, the kernel signals them too. The signal is
tied to the *thread* that forked, so every spawn must happen on the main
thread. Detached processes (``sandbox up``) skip it and start a new session,
so they outlive the CLI; ``sandbox down`` stops them by the PIDs recorded in
the state file, after checking the PID still belongs to the same process
(start time from ``/proc``) so a recycled PID is never killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlflow_client_env.redact import redact

from .errors import DiskFullError, SandboxError, ServerStartError

PR_SET_PDEATHSIG = 1


def _pdeathsig_preexec(sig: int, parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        # The parent may have died between fork() and prctl(): then nobody
        # will ever deliver the signal, so deliver it now.
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), sig)

    return preexec


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (field 3 first); None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else fields


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (clock ticks since boot); None if gone or a zombie."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


@dataclass(frozen=True)
class ProcessRecord:
    """What the state file stores about a process, enough to stop it from elsewhere."""

    name: str
    pid: int
    start_time: int
    log: str
    argv: tuple[str, ...]

    def alive(self) -> bool:
        return proc_start_time(self.pid) == self.start_time

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            start_time=int(data["start_time"]),
            log=str(data["log"]),
            argv=tuple(str(a) for a in data["argv"]),
        )


class ManagedProcess:
    """A server process with its log file; the process group is stopped as a whole."""

    def __init__(self, record: ProcessRecord, popen: subprocess.Popen[bytes] | None) -> None:
        self.record = record
        self.popen = popen

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def pid(self) -> int:
        return self.record.pid

    @property
    def log(self) -> Path:
        return Path(self.record.log)

    def alive(self) -> bool:
        if self.popen is not None and self.popen.poll() is not None:
            return False
        return self.record.alive()

    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def stop(self, timeout: float = 10.0) -> None:
        stop_record(self.record, timeout)
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=1)


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log: Path,
    cwd: Path,
    detached: bool,
    pdeathsig: int = signal.SIGKILL,
) -> ManagedProcess:
    """Start ``argv`` in its own session with stdout+stderr appended to ``log``.

    Must be called from the main thread when ``detached`` is False (see module doc).
    """
    if not detached and threading.current_thread() is not threading.main_thread():
        raise RuntimeError("spawn attached processes from the main thread (PR_SET_PDEATHSIG)")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=None if detached else _pdeathsig_preexec(pdeathsig, os.getpid()),
        )
    start = proc_start_time(popen.pid) or 0
    record = ProcessRecord(name, popen.pid, start, str(log), tuple(argv))
    return ManagedProcess(record, popen)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def stop_record(record: ProcessRecord, timeout: float = 10.0) -> bool:
    """SIGTERM the process group, then SIGKILL after ``timeout``. False if it was not running."""
    if not record.alive():
        # The leader may be gone while children of its group live on (e.g. uvicorn).
        if _group_exists(record.pid):
            _signal_group(record.pid, signal.SIGKILL)
        return False
    _signal_group(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not record.alive() and not _group_exists(record.pid):
            return True
        time.sleep(0.05)
    _signal_group(record.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and record.alive():
        time.sleep(0.05)
    return True


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    # A zombie leader still counts for killpg; that is fine, nothing else to kill.
    return any(_pgid_of(int(p)) == pgid for p in os.listdir("/proc") if p.isdigit())


def _pgid_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[2]) if fields else None


def log_tail(log: Path, lines: int = 25) -> str:
    """The last lines of a server log, for error messages."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return f"(no log at {log})"
    tail = redact(text).splitlines()[-lines:]  # a server may log its own connection string
    return "\n".join("    | " + line for line in tail) or "    | (log is empty)"


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    procs: Sequence[ManagedProcess],
    fix: str,
    interval: float = 0.1,
) -> None:
    """Poll ``ready`` until true; fail with the logs' tails on timeout or if a process dies."""
    deadline = time.monotonic() + timeout
    while True:
        for proc in procs:
            if not proc.alive():
                if "No space left on device" in log_tail(proc.log, 200):
                    raise DiskFullError(
                        f"{proc.name} exited: no space left on the device; "
                        f"log {proc.log}:\n{log_tail(proc.log)}",
                        f"free disk space (check with 'df -h {proc.log.parent}') and run again",
                    )
                raise ServerStartError(
                    f"{proc.name} exited (code {proc.exit_code()}) while waiting for {what}; "
                    f"log {proc.log}:\n{log_tail(proc.log)}",
                    fix,
                )
        if ready():
            return
        if time.monotonic() > deadline:
            tails = "\n".join(f"log {p.log}:\n{log_tail(p.log)}" for p in procs)
            raise ServerStartError(
                f"timed out after {timeout:.0f} s waiting for {what}\n{tails}", fix
            )
        time.sleep(interval)


def run_checked(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    what: str,
    fix: str,
    input_text: str | None = None,
    timeout: float = 60.0,
    cwd: Path | None = None,
    error: type[SandboxError] = ServerStartError,
) -> subprocess.CompletedProcess[str]:
    """Run a short tool to completion; a failure raises ``error`` with the tool's output."""
    try:
        proc = subprocess.run(
            list(argv),
            env=dict(env),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            preexec_fn=_pdeathsig_preexec(signal.SIGKILL, os.getpid()),
        )
    except subprocess.TimeoutExpired as exc:
        raise error(f"{what}: timed out after {timeout:.0f} s ({argv[0]})", fix) from exc
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip().splitlines()[-20:]
        if any("No space left on device" in line for line in out):
            where = cwd or Path.cwd()
            raise DiskFullError(
                f"{what} failed: no space left on the device\n"
                + "\n".join("    | " + line for line in out),
                f"free disk space (check with 'df -h {where}') and run again",
            )
        raise error(
            f"{what} failed (exit {proc.returncode}): {' '.join(argv[:3])} ...\n"
            + "\n".join("    | " + line for line in out),
            fix,
        )
    return proc


def pdeathsig_preexec() -> Callable[[], None]:
    """A ``preexec_fn`` that kills the child (SIGKILL) when the calling thread's process dies."""
    return _pdeathsig_preexec(signal.SIGKILL, os.getpid())
