"""A process that used the native HDFS client ends with its own exit status, never SIGABRT.

hdfs-native's threads wake the Python coroutines that awaited them by calling into
Python. Once the interpreter is finalizing, such a call ends the (Rust) thread with
``pthread_exit``, which cannot unwind through Rust, and the process aborts after the
user's script is done: CI saw exit status -6 right after "RESULT ok". The wake-ups come
from the network (a DataNode closing its end after a block, an answer to a step that was
given up), so when one lands is up to the machines: this test cannot force the moment.
It is statistical instead. Fresh processes, two at a time (load widens the window), each
log one artifact and exit; every one must exit 0. Without the library's exit hook about
one process in twenty aborted under load here (4 of 40, 1 of 36, 5 of 80; with the hook
0 of 80), and this test went red in 2 of 3 runs: a regression is caught most of the
time, and a pass proves nothing more than that. Nothing here is judged by time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.test_native_repo_failures import native  # noqa: F401

pytestmark = pytest.mark.sandbox

PROCESSES = 24

SCRIPT = r"""
import sys
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
get_artifact_repository(sys.argv[1]).log_artifact(sys.argv[2])
print("LOGGED", flush=True)
"""


def test_processes_that_logged_natively_exit_cleanly(native: dict[str, Any]) -> None:  # noqa: F811
    env = {**os.environ, **native["env"]}

    def one(i: int) -> tuple[int, str, str]:
        root = f"{native['root']}/{i}"
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT, root, str(native["local"])],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        return proc.returncode, proc.stdout, proc.stderr[-2000:]

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(one, range(PROCESSES)))
    logged = [r for r in results if "LOGGED" in r[1]]
    assert len(logged) == PROCESSES, [r for r in results if "LOGGED" not in r[1]][:1]
    aborted = [r for r in results if r[0] != 0]
    assert not aborted, (f"{len(aborted)} of {PROCESSES} did not exit 0", aborted[:2])
