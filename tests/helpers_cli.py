"""The one way tests run the real ``mlflow-client-env`` command: ``python -m mlflow_client_env``
in a child process, output captured as text, stdin closed, never hanging the suite."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def run_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    python: str | Path = sys.executable,
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m mlflow_client_env ARGS``; ``env`` None inherits the test's environment.

    The exit status is the caller's to check (no ``check=True``). ``timeout`` only stops
    a hang: the command then fails the test instead of holding the suite.
    """
    return subprocess.run(
        [str(python), "-m", "mlflow_client_env", *args],
        capture_output=True,
        text=True,
        env=None if env is None else dict(env),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
    )


def doctor_check(
    check: str, env: Mapping[str, str], timeout: float = 120
) -> tuple[int, dict[str, dict[str, Any]]]:
    """``mlflow-client-env doctor --json --check CHECK`` in ``env``: its exit status (0 or
    1, an answer; anything else fails the test) and its findings by code."""
    proc = run_cli("doctor", "--json", "--check", check, env=env, timeout=timeout)
    assert proc.returncode in (0, 1), proc.stderr
    data = json.loads(proc.stdout)
    return proc.returncode, {f["code"]: f for c in data["checks"] for f in c["findings"]}
