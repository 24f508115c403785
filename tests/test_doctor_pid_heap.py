"""``doctor --pid``: the heap limit of the JVM that libhdfs started inside a live process (E5).

The JVM inside a Python process has no command line of its own: libhdfs starts it with
LIBHDFS_OPTS as the process's environment holds it at the first HDFS call. That is not
what ``/proc/PID/environ`` shows when the variable was set inside the process, as
``setup()`` does (environ is the environment the process started with). So the doctor
reads the options from the JVM itself: the perf data file HotSpot maps (the one jstat
reads), found through ``/proc/PID/maps``. Only when there is none (-XX:-UsePerfData) does
it fall back to environ, and says so.

Each target is a real process that read the sandbox's Kerberized HDFS through pyarrow ->
libhdfs -> JVM and then waits; it is killed (its process group) at teardown.
"""
# ruff: noqa: F811  (fixtures imported from tests.test_fork_safety)

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env_sandbox.procs import pdeathsig_preexec
from tests.spawned import Spawned
from tests.test_fork_safety import (  # noqa: F401  (fixtures)
    doctor_live,
    hdfs_client_env,
    hdfs_file,
)

#: A process that (optionally) calls setup(), reads a file on HDFS, says so, and waits.
TARGET = """
import json, os, sys
if sys.argv[1] == "setup":
    import mlflow_client_env
    mlflow_client_env.setup()
import pyarrow.fs as pafs
info = pafs.HadoopFileSystem("default", 0).get_file_info(sys.argv[2])
print(json.dumps({"type": info.type.name, "LIBHDFS_OPTS": os.environ.get("LIBHDFS_OPTS")}),
      flush=True)
sys.stdin.read()
"""


@pytest.fixture
def target(spawned: Spawned) -> Callable[..., tuple[int, dict[str, Any]]]:
    def start(mode: str, path: str, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
        proc = spawned.popen(
            [sys.executable, "-c", TARGET, mode, path],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, start_new_session=True,
        )  # fmt: skip
        return proc.pid, Spawned.json_line(proc, "reading HDFS")

    return start


def libhdfs_env_json(env: dict[str, str]) -> dict[str, str]:
    """What ``mlflow-client-env env --json`` exports for this client (LIBHDFS_OPTS with
    -Xmx512m among them), as a wrapper script would put it in a kernel's environment."""
    proc = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "env", "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out: dict[str, str] = json.loads(proc.stdout)
    assert "-Xmx512m" in out["LIBHDFS_OPTS"].split(), out["LIBHDFS_OPTS"]
    return out


def java_default_max_heap(java_home: str) -> int:
    """MaxHeapSize that this host's Java picks without -Xmx (its own answer)."""
    proc = subprocess.run(
        [f"{java_home}/bin/java", "-XX:+PrintFlagsFinal", "-version"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    m = re.search(r"\bMaxHeapSize\s*=\s*(\d+)", proc.stdout)
    assert m, proc.stdout[-2000:] + proc.stderr[-2000:]
    return int(m.group(1))


def test_a_heap_cap_set_inside_the_process_is_read_from_the_jvm(
    target: Callable[..., tuple[int, dict[str, Any]]],
    hdfs_client_env: dict[str, str],
    hdfs_file: str,
) -> None:
    """setup() sets LIBHDFS_OPTS (with -Xmx512m) inside the process: environ never shows it."""
    pid, got = target("setup", hdfs_file, hdfs_client_env)
    assert got["type"] == "File" and "-Xmx512m" in got["LIBHDFS_OPTS"].split()
    with open(f"/proc/{pid}/environ", "rb") as fh:
        assert b"LIBHDFS_OPTS=" not in fh.read()  # what the old reading would have judged

    found = doctor_live(pid, hdfs_client_env)
    heap = found.get("live-process.heap")
    assert heap is not None, found
    assert heap["status"] == "ok"
    assert (
        heap["summary"] == f"the JVM in process {pid} has a max heap 512 MiB set by -Xmx512m (E5)"
    )
    assert any(
        e.startswith("JVM options (from its perf data /") and "-Xmx512m" in e
        for e in heap["evidence"]
    ), heap
    assert "live-process.E5" not in found


def test_a_jvm_without_xmx_is_a_warning_with_its_real_limit(
    target: Callable[..., tuple[int, dict[str, Any]]],
    hdfs_client_env: dict[str, str],
    hdfs_file: str,
) -> None:
    """LIBHDFS_OPTS as a kernel's environment holds it, less the -Xmx: no setup() call."""
    exported = libhdfs_env_json(hdfs_client_env)
    opts = " ".join(o for o in exported["LIBHDFS_OPTS"].split() if not o.startswith("-Xmx"))
    env = {**hdfs_client_env, **exported, "LIBHDFS_OPTS": opts}
    pid, got = target("bare", hdfs_file, env)
    assert got["type"] == "File" and got["LIBHDFS_OPTS"] == opts

    found = doctor_live(pid, hdfs_client_env)
    e5 = found.get("live-process.E5")
    assert e5 is not None, found
    assert e5["status"] == "warn"
    assert e5["summary"].startswith(
        f"the JVM in process {pid} runs without -Xmx: its heap may grow up to "
    )
    assert "(E5)" in e5["summary"]
    assert "LIBHDFS_OPTS='-Xmx512m'" in e5["fix"] and "restart the kernel" in e5["fix"]
    assert "live-process.heap" not in found
    # the limit it reports is the JVM's own: what this host's java picks without -Xmx
    (reported,) = [e for e in e5["evidence"] if e.startswith("heap limit the JVM reports: ")]
    default = java_default_max_heap(hdfs_client_env["JAVA_HOME"])
    shown = reported.removeprefix("heap limit the JVM reports: ")
    expected = (
        f"{default / (1 << 30):.1f} GiB" if default >= 1 << 30 else f"{default // (1 << 20)} MiB"
    )
    assert shown == expected, (reported, default)


def test_without_perf_data_the_start_environment_is_the_fallback_and_says_so(
    target: Callable[..., tuple[int, dict[str, Any]]],
    hdfs_client_env: dict[str, str],
    hdfs_file: str,
) -> None:
    exported = libhdfs_env_json(hdfs_client_env)
    kept = [o for o in exported["LIBHDFS_OPTS"].split() if o != "-Xmx512m"]
    opts = " ".join(["-XX:-UsePerfData", *kept, "-Xmx256m"])
    env = {**hdfs_client_env, **exported, "LIBHDFS_OPTS": opts}
    pid, got = target("bare", hdfs_file, env)
    assert got["type"] == "File"
    with open(f"/proc/{pid}/maps") as fh:
        assert "hsperfdata_" not in fh.read()  # the JVM really keeps none

    found = doctor_live(pid, hdfs_client_env)
    heap = found.get("live-process.heap")
    assert heap is not None, found
    assert heap["status"] == "ok"
    assert heap["summary"].startswith(
        f"the environment process {pid} started with caps the JVM heap with -Xmx256m (E5)"
    )
    assert any("-XX:-UsePerfData" in e for e in heap["evidence"]), heap


def test_no_jvm_no_heap_finding(hdfs_client_env: dict[str, str]) -> None:
    """A process without libjvm.so gets no heap finding at all (nothing to judge)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('up', flush=True); sys.stdin.read()"],
        env=hdfs_client_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        preexec_fn=pdeathsig_preexec(),
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "up\n"
        found = doctor_live(proc.pid, hdfs_client_env)
        assert not [c for c in found if c.startswith(("live-process.heap", "live-process.E5"))]
    finally:
        proc.kill()
        proc.wait(timeout=60)


def test_libjvm_loaded_but_no_jvm_made_has_no_heap_finding(hdfs_client_env: dict[str, str]) -> None:
    """libjvm.so mapped (dlopen), no JVM created: no HotSpot thread, no perf data, no heap."""
    libjvm = Path(hdfs_client_env["JAVA_HOME"]) / "lib" / "server" / "libjvm.so"
    code = f"import ctypes, sys; ctypes.CDLL({str(libjvm)!r}); print('up', flush=True); sys.stdin.read()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=hdfs_client_env, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, preexec_fn=pdeathsig_preexec(),
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "up\n"
        with open(f"/proc/{proc.pid}/maps") as fh:
            assert str(libjvm) in fh.read()
        found = doctor_live(proc.pid, hdfs_client_env)
        assert f"process {proc.pid} mapped: libjvm.so" in found["live-process.mapped"]["summary"]
        assert not [c for c in found if c.startswith(("live-process.heap", "live-process.E5"))]
        assert "live-process.E4" not in found
    finally:
        proc.kill()
        proc.wait(timeout=60)
