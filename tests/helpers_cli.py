"""The one way tests run the real ``mlflow-client-env`` command: ``python -m mlflow_client_env``
in a child process, output captured as text, stdin closed, never hanging the suite."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


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
