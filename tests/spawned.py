"""The processes a test starts and must stop: every one is killed and reaped at teardown,
also when the test fails (the ``spawned`` fixture in ``conftest.py``)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
from collections.abc import Sequence
from typing import Any

from mlflow_client_env_sandbox.procs import pdeathsig_preexec


class Spawned:
    """Started through :meth:`popen`; :meth:`stop` kills each (its whole process group when
    it was started in a new session) and waits for it. Children die with the test run too
    (``PR_SET_PDEATHSIG``) unless a ``preexec_fn`` of the caller's replaces that."""

    def __init__(self) -> None:
        self._procs: list[tuple[subprocess.Popen[Any], bool]] = []

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        kwargs.setdefault("preexec_fn", pdeathsig_preexec())
        proc: subprocess.Popen[Any] = subprocess.Popen(argv, **kwargs)
        self._procs.append((proc, bool(kwargs.get("start_new_session"))))
        return proc

    @staticmethod
    def json_line(proc: subprocess.Popen[str], what: str, timeout: float = 300.0) -> Any:
        """The first line ``proc`` prints, as JSON; its exit code and stderr when it printed
        none (``what``: what the test was waiting for). A child silent for ``timeout``
        seconds fails the test instead of hanging it (it is stopped at teardown)."""
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready:
            raise AssertionError(f"the process printed nothing for {timeout:g} s before {what}")
        line = proc.stdout.readline()
        if not line:
            proc.wait(timeout=60)
            err = proc.stderr.read()[-3000:] if proc.stderr else ""
            raise AssertionError(f"the process exited {proc.returncode} before {what}: {err}")
        return json.loads(line)

    def stop(self) -> None:
        """Kill and reap every process; one that resists does not keep the others alive."""
        problems: list[str] = []
        for proc, group in self._procs:
            try:
                with contextlib.suppress(ProcessLookupError):
                    if group:
                        os.killpg(proc.pid, signal.SIGKILL)
                    else:
                        proc.kill()
                proc.wait(timeout=60)
            except Exception as exc:  # reported once every process is done
                problems.append(f"pid {proc.pid}: {exc!r}")
            finally:
                for stream in (proc.stdin, proc.stdout, proc.stderr):
                    if stream is not None:
                        with contextlib.suppress(OSError):
                            stream.close()
        if problems:
            raise AssertionError("processes not stopped: " + "; ".join(problems))
