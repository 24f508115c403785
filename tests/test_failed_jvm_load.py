"""Catalog A4/F2 for real: after a failed first load of libjvm/libhdfs, fixing the
environment in the process changes nothing, and the failure is detected.

pyarrow loads libjvm.so, then libhdfs.so, once per process, and keeps a failure. Real
processes show it against the sandbox's Kerberized HDFS:

- ARROW_LIBHDFS_DIR wrong at the first connection: "Unable to load libhdfs"; set right
  in-process, the next connection fails with "Prior attempt to load libhdfs failed".
  libjvm.so is then mapped and libhdfs.so is not: ``jvm_state.failed_jvm_load()`` (for
  ``setup()``) and ``doctor --pid`` (live-process.F2) report it as an error.
- JAVA_HOME wrong at the first connection: "Unable to load libjvm", then the same
  "Prior attempt". Nothing is mapped then, the same state as a process that never tried,
  so a plain script gets no finding (there is no witness left), while in a Jupyter kernel
  (a real ipykernel) the failed cell's exception is the witness (sys.last_value) and
  ``failed_jvm_load()`` reports it. ``doctor --pid`` says what it can: a warning that
  holds only if HDFS was tried there.
- The controls: a process that connected, and a kernel that only imported mlflow (which
  imports pyarrow's HDFS module), get no finding.

``setup()`` calls ``failed_jvm_load()``: after a failed load it reports "NOT ready" with
the process-start.F2 error (and warns), instead of the JVM-already-loaded warning.
"""
# ruff: noqa: F811  (fixtures imported from tests.test_fork_safety)

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from tests.spawned import Spawned
from tests.test_doctor_pid_heap import libhdfs_env_json
from tests.test_fork_safety import (  # noqa: F401  (fixtures)
    doctor_live,
    hdfs_client_env,
    hdfs_file,
)
from tests.test_kernel import run_cell, running_kernel

#: First connection with the environment given, then the variable ``fix`` set right
#: in-process, a second connection, setup(), and failed_jvm_load(). Then it waits.
SCRIPT = """
import json, os, sys
fix, value, path = sys.argv[1], sys.argv[2], sys.argv[3]
import pyarrow.fs as pafs
from mlflow_client_env.jvm_state import failed_jvm_load

def connect():
    try:
        return "ok: " + pafs.HadoopFileSystem("default", 0).get_file_info(path).type.name
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"

first = connect()
if fix != "-":
    os.environ[fix] = value
second = connect()
import mlflow_client_env
report = mlflow_client_env.setup()
print(json.dumps({
    "first": first, "second": second, "setup": repr(report).splitlines()[0],
    "setup_findings": [[f.code, f.status] for f in report.findings],
    "found": [{"code": f.code, "status": f.status, "summary": f.summary,
               "evidence": list(f.evidence), "fix": f.fix} for f in failed_jvm_load()],
}), flush=True)
sys.stdin.read()
"""

KERNEL_FOUND = """
import json
from mlflow_client_env.jvm_state import failed_jvm_load
print(json.dumps([{"code": f.code, "status": f.status, "summary": f.summary,
                   "evidence": list(f.evidence), "fix": f.fix} for f in failed_jvm_load()]))
"""


@pytest.fixture
def scripted(spawned: Spawned) -> Callable[..., tuple[int, dict[str, Any]]]:
    def start(env: dict[str, str], fix: str, value: str, path: str) -> tuple[int, dict[str, Any]]:
        proc = spawned.popen(
            [sys.executable, "-c", SCRIPT, fix, value, path],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )  # fmt: skip
        return proc.pid, Spawned.json_line(proc, "its first line")

    return start


@pytest.fixture
def exported(hdfs_client_env: dict[str, str]) -> dict[str, str]:
    """The client's environment with what 'mlflow-client-env env --json' exports: right."""
    return {**hdfs_client_env, **libhdfs_env_json(hdfs_client_env)}


def test_a_failed_libhdfs_load_sticks_and_is_detected_in_process_and_by_pid(
    scripted: Callable[..., tuple[int, dict[str, Any]]], exported: dict[str, str], hdfs_file: str
) -> None:
    good = exported["ARROW_LIBHDFS_DIR"]
    env = {**exported, "ARROW_LIBHDFS_DIR": "/nonexistent/libhdfs-dir"}
    pid, got = scripted(env, "ARROW_LIBHDFS_DIR", good, hdfs_file)
    assert got["first"].startswith("OSError: Unable to load libhdfs"), got
    assert got["second"] == "OSError: Prior attempt to load libhdfs failed", got  # fixed: no use
    assert "NOT ready" in got["setup"], got  # setup() says so itself
    assert ["process-start.F2", "error"] in got["setup_findings"], got
    assert not any(c == "process-start.jvm-already-loaded" for c, _ in got["setup_findings"])
    (f,) = got["found"]
    assert f["code"] == "process-start.F2" and f["status"] == "error"
    assert f["summary"].startswith("libjvm.so is loaded in this process but libhdfs.so is not")
    assert "(catalog A4, F2)" in f["summary"] and f["fix"].startswith("restart the kernel")

    found = doctor_live(pid, exported)
    f2 = found.get("live-process.F2")
    assert f2 is not None, found
    assert f2["status"] == "error"
    assert f2["summary"].startswith(f"process {pid} loaded libjvm.so but not libhdfs.so")
    assert "(A4, F2)" in f2["summary"] and f2["fix"].startswith("restart the kernel")
    assert "live-process.heap" not in found and "live-process.E5" not in found  # no JVM made


def test_a_process_that_connected_has_no_finding(
    scripted: Callable[..., tuple[int, dict[str, Any]]], exported: dict[str, str], hdfs_file: str
) -> None:
    pid, got = scripted(exported, "-", "-", hdfs_file)
    assert got["first"] == got["second"] == "ok: File", got
    assert got["found"] == []
    assert "live-process.F2" not in doctor_live(pid, exported)


def test_a_failed_libjvm_load_leaves_no_trace_in_a_plain_script(
    scripted: Callable[..., tuple[int, dict[str, Any]]], exported: dict[str, str], hdfs_file: str
) -> None:
    """Honest limit: nothing is mapped and no interpreter kept the error: nothing to say
    in-process; the doctor says what it sees (no JVM yet) as ok, since a kernel that only
    imported mlflow looks the same."""
    good = exported["JAVA_HOME"]
    env = {**exported, "JAVA_HOME": "/nonexistent/java"}
    pid, got = scripted(env, "JAVA_HOME", good, hdfs_file)
    assert got["first"].startswith("OSError: Unable to load libjvm"), got
    assert got["second"] == "OSError: Prior attempt to load libhdfs failed", got
    assert got["found"] == []
    found = doctor_live(pid, exported)
    assert "live-process.F2" not in found
    seen = found["live-process.no-jvm-yet"]
    assert seen["status"] == "ok"
    assert seen["summary"].startswith(
        f"pyarrow's HDFS module is loaded in process {pid} but no JVM"
    )


def test_in_a_kernel_the_failed_cell_is_the_witness(
    exported: dict[str, str], hdfs_file: str
) -> None:
    good = exported["JAVA_HOME"]
    env = {**exported, "JAVA_HOME": "/nonexistent/java"}
    with running_kernel("python3", env=env) as kc:
        first = run_cell(kc, "import pyarrow.fs as pafs\npafs.HadoopFileSystem('default', 0)")
        assert first.error is not None and first.error.startswith("OSError: Unable to load libjvm")
        second = run_cell(
            kc,
            f"import os\nos.environ['JAVA_HOME'] = {good!r}\npafs.HadoopFileSystem('default', 0)",
        )
        assert second.error == "OSError: Prior attempt to load libhdfs failed", second
        ready = run_cell(kc, "import mlflow_client_env\nprint(repr(mlflow_client_env.setup()))")
        assert ready.error is None and "NOT ready" in ready.stdout, ready  # setup() says so
        assert "(catalog A4, F2)" in ready.stdout, ready
        out = run_cell(kc, KERNEL_FOUND)
        assert out.error is None, out
        (f,) = json.loads(out.stdout.strip().splitlines()[-1])
        assert f["code"] == "process-start.F2" and f["status"] == "error"
        assert "(catalog A4, F2)" in f["summary"]
        assert f["evidence"] == [
            "the last error reported here: OSError: Prior attempt to load libhdfs failed"
        ]


def test_a_kernel_that_only_imported_mlflow_has_no_finding(exported: dict[str, str]) -> None:
    """The control: ``import mlflow`` imports pyarrow's HDFS module, and nothing was tried."""
    with running_kernel("python3", env=exported) as kc:
        out = run_cell(kc, "import sys, mlflow\nprint('pyarrow._hdfs' in sys.modules)")
        assert out.error is None and out.stdout.strip() == "True", out
        out = run_cell(kc, KERNEL_FOUND)
        assert out.error is None and json.loads(out.stdout.strip().splitlines()[-1]) == [], out
