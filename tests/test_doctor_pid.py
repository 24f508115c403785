"""``doctor --pid`` reads another process, and never runs code with its environment.

The target is a real process. For the privilege test it runs as the real
``nobody`` user (uid 65534) and its environment carries everything that runs
code in a process started with it: ``LD_PRELOAD`` of a gcc-built library whose
constructor leaves a marker file, ``PYTHONPATH`` to a ``sitecustomize.py`` that
leaves one too, ``JAVA_TOOL_OPTIONS``, and a ``PATH`` whose first folder holds a
``java``, ``hadoop`` and ``python3`` that leave one. Every marker is named by the
uid (and pid) that wrote it. The doctor runs as root through the real CLI.
"""
# ruff: noqa: F811  (the real_edge fixture is imported from tests.test_doctor_files)

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import native_helpers as nh
from tests.conftest import Edge
from tests.spawned import Spawned
from tests.test_doctor_files import real_edge  # noqa: F401  (the real-JDK edge fixture)

NOBODY = 65534

EVIL_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void leave_marker(void) {
    const char *dir = getenv("EVIL_MARKER_DIR");
    if (!dir) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/preload-uid%d-pid%d", dir, (int)getuid(), (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0) close(fd);
}
"""

SITECUSTOMIZE = """\
import os
d = os.environ.get("EVIL_MARKER_DIR")
if d:
    open(os.path.join(d, f"site-uid{os.getuid()}-pid{os.getpid()}"), "x").close()
"""

EVIL_TOOL = """\
#!/bin/sh
: > "$EVIL_MARKER_DIR/path-$(basename "$0")-uid$(id -u)-pid$$"
exit 1
"""


@dataclass
class Evil:
    root: Path  # world-readable, so that nobody can load what is in it
    markers: Path  # world-writable: the library COULD write here, whoever loaded it
    env: dict[str, str]

    def markers_of(self, uid: int, except_pid: int | None = None) -> list[str]:
        """Markers written by ``uid`` (other than by the process ``except_pid``)."""
        out = []
        for name in os.listdir(self.markers):
            uid_part = next((p for p in name.split("-") if p.startswith("uid")), "")
            pid_part = next((p for p in name.split("-") if p.startswith("pid")), "")
            if uid_part == f"uid{uid}" and pid_part != f"pid{except_pid}":
                out.append(name)
        return sorted(out)


@pytest.fixture
def evil() -> Iterator[Evil]:
    """The hostile environment's files, in a fresh unpredictable dir nobody can read."""
    root = Path(tempfile.mkdtemp(prefix="mce-evil-"))
    try:
        root.chmod(0o755)
        markers = root / "markers"
        markers.mkdir()
        markers.chmod(0o777)
        lib = nh.gcc_shared(root / "libevil.so", code=EVIL_C)
        lib.chmod(0o755)
        site = root / "site"
        site.mkdir(mode=0o755)
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        bindir = root / "bin"
        bindir.mkdir(mode=0o755)
        for tool in ("java", "hadoop", "python3", "python"):
            (bindir / tool).write_text(EVIL_TOOL)
            (bindir / tool).chmod(0o755)
        env = {
            "EVIL_MARKER_DIR": str(markers),
            "LD_PRELOAD": str(lib),
            "PYTHONPATH": str(site),
            "JAVA_TOOL_OPTIONS": "-Dmce.evil=1",
            "_JAVA_OPTIONS": "-Dmce.evil=2",
            "PATH": f"{bindir}:/usr/bin:/bin",
            "HOME": str(root / "home"),  # never a shared path: MLflow writes ~/.config
        }
        yield Evil(root, markers, env)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def target(spawned: Spawned) -> Callable[..., subprocess.Popen[bytes]]:
    """Start ``/bin/sleep`` with a given environment and user; killed in teardown."""

    def start(env: dict[str, str], uid: int | None = None) -> subprocess.Popen[bytes]:
        ids = {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}
        p: subprocess.Popen[bytes] = spawned.popen(
            ["/bin/sleep", "300"], env=env, cwd="/", preexec_fn=None, **ids
        )
        # wait until sleep itself runs (exec done) and, with LD_PRELOAD, its constructor ran
        marker_dir = env.get("EVIL_MARKER_DIR")
        for _ in range(1000):
            if os.readlink(f"/proc/{p.pid}/exe").endswith("sleep") and (
                marker_dir is None
                or any(n.endswith(f"-pid{p.pid}") for n in os.listdir(marker_dir))
            ):
                break
            time.sleep(0.01)
        return p

    return start


def cli_doctor(
    e: Edge, pid: int, env: dict[str, str], *args: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, object]]]:
    """The real entry point, as root, on the edge node ``e``."""
    argv = [
        sys.executable, "-m", "mlflow_client_env", "doctor", "--pid", str(pid), "--json",
        *e.cli_args(), "--probe-path", "hdfs://127.0.0.1:1/tmp/mce-probe", "--timeout", "90",
        *args,
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode in (0, 1), out.stderr
    data = json.loads(out.stdout)
    found = {str(f["code"]): f for c in data["checks"] for f in c["findings"]}
    return out, found


def test_root_never_runs_code_from_a_nobody_process_environment(
    real_edge: Edge, clean_env: dict[str, str], evil: Evil, target: Callable[..., Any]
) -> None:
    assert os.getuid() == 0, "this test needs root: it plays the admin who helps a user"
    victim = target(evil.env, uid=NOBODY)
    # the positive control: the library works, and nobody's own sleep loaded it
    assert evil.markers_of(NOBODY) == [f"preload-uid{NOBODY}-pid{victim.pid}"]

    out, found = cli_doctor(real_edge, victim.pid, clean_env)

    assert evil.markers_of(0) == [], "code from the nobody process ran as root"
    assert evil.markers_of(NOBODY, except_pid=victim.pid) == []
    assert "Picked up JAVA_TOOL_OPTIONS" not in out.stdout + out.stderr
    why = f"process {victim.pid} runs as uid {NOBODY}, you are uid 0"
    ro = found["live-process.read-only"]
    assert ro["status"] == "warn" and str(ro["summary"]).startswith(why)
    assert "only read, never executed" in str(ro["summary"])
    assert "run the doctor as that user to probe it" in str(ro["summary"])
    load = found["native-libraries.load-skipped"]
    assert load["status"] == "skip" and why in str(load["summary"])
    assert "native-libraries.load" not in found
    hdfs = found["hdfs.skipped"]
    assert hdfs["status"] == "skip" and why in str(hdfs["summary"])
    # what it can learn by reading still comes through: the mapped libraries
    assert found["live-process.mapped"]["status"] == "ok"
    # the kinit on nobody's PATH is not run (its klist would be), and that is said
    assert found["kerberos.kinit-skipped"]["status"] == "skip"
    assert "kerberos.kinit" not in found and "kerberos.kinit-foreign" not in found


def test_text_output_says_why_the_probes_were_skipped(
    real_edge: Edge, clean_env: dict[str, str], evil: Evil, target: Callable[..., Any]
) -> None:
    victim = target(evil.env, uid=NOBODY)
    argv = [
        sys.executable, "-m", "mlflow_client_env", "doctor", "--pid", str(victim.pid),
        *real_edge.cli_args(), "--check", "live-process", "--check", "native-libraries",
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, env=clean_env, timeout=300)
    assert out.returncode in (0, 1) and "Traceback" not in out.stderr, out.stderr
    (line,) = [ln for ln in out.stdout.splitlines() if ln.startswith("! live-process: ")]
    assert line.startswith(f"! live-process: process {victim.pid} runs as uid {NOBODY}, you are")
    assert "fix: as that user: mlflow-client-env doctor --pid" in out.stdout
    assert evil.markers_of(0) == []


def test_probes_still_run_for_a_process_of_the_callers_own_uid(
    real_edge: Edge, clean_env: dict[str, str], evil: Evil, target: Callable[..., Any]
) -> None:
    """Same uid: nothing to cross, so the probes run with the process's environment."""
    mine = target(evil.env)  # runs as root, the caller's uid
    _, found = cli_doctor(real_edge, mine.pid, clean_env)

    assert "live-process.read-only" not in found
    assert "native-libraries.load-skipped" not in found and "native-libraries.load" in found
    assert "hdfs.skipped" not in found
    # the probes ran with its environment: its LD_PRELOAD and PYTHONPATH took effect in them
    assert [m for m in evil.markers_of(0, except_pid=mine.pid) if m.startswith("preload-")]
    assert [m for m in evil.markers_of(0) if m.startswith("site-")]


# --------------------------------------------------------------------------- redaction
def test_live_process_values_are_redacted_before_they_are_cut(
    real_edge: Edge, clean_env: dict[str, str], target: Callable[..., Any]
) -> None:
    """A password that straddles the 200-character cut is masked whole, not cut in half."""
    pw = "S3CRETpassw0rdXYZ"
    uri = "http://" + "u" * 180 + ":" + pw + "@127.0.0.1:1/"
    assert uri.index(pw) < 200 < uri.index(pw) + len(pw)  # the cut falls inside it
    proc = target({"PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": uri})
    out, found = cli_doctor(
        real_edge, proc.pid, clean_env, "--check", "live-process",
        "--tracking-uri", "http://127.0.0.1:2/",
    )  # fmt: skip
    f = found["live-process.mlflow_tracking_uri"]
    assert f["evidence"][0] == "it has: http://***@127.0.0.1:1/"  # type: ignore[index]
    for leak in (pw, pw[:6], "S3CRET"):
        assert leak not in out.stdout and leak not in out.stderr


#: A kernel-like process: it loads libjvm.so at start as the launcher kernel does (no JVM),
#: then forks a child before or after it makes a real JVM (JNI_CreateJavaVM), as libhdfs
#: does at the first HDFS access. It prints {"parent", "child"} and waits.
FORKING = """
import ctypes, json, os, sys, time
from mlflow_client_env.jvm import preload
preload(sys.argv[1])
lib = ctypes.CDLL(sys.argv[1])
def make_jvm():
{make_jvm}
def fork():
    kid = os.fork()
    if kid == 0:
        time.sleep(300)
        os._exit(0)
    return kid
if sys.argv[2] == "fork-first":
    kid = fork()
    make_jvm()
else:
    make_jvm()
    kid = fork()
print(json.dumps({{"parent": os.getpid(), "child": kid}}), flush=True)
time.sleep(300)
"""


@pytest.mark.parametrize("perf", ["perf-data", "no-perf-data"])
@pytest.mark.parametrize("order", ["fork-first", "jvm-first"])
def test_a_child_forked_before_the_jvm_was_made_is_not_an_e4(
    real_edge: Edge, clean_env: dict[str, str], spawned: Spawned, order: str, perf: str
) -> None:
    """A libjvm.so loaded at start and inherited by a child forked before any JVM existed
    leaves that child nothing to block on: no E4 for it or its parent. A child forked after
    the JVM was made is the real E4, seen from both (the control: the check can fire), also
    without the perf data file (-XX:-UsePerfData), where the JVM's libjava.so is the sign."""
    from tests.test_setup import make_jvm_code

    made = make_jvm_code(*(["-XX:-UsePerfData"] if perf == "no-perf-data" else []))
    body = "\n".join("    " + line for line in made.splitlines())
    code = FORKING.format(make_jvm=body)
    proc = spawned.popen(
        [sys.executable, "-c", code, str(nh.LIBJVM), order],
        stdout=subprocess.PIPE, text=True, env=clean_env, start_new_session=True,
    )  # fmt: skip
    pids = spawned.json_line(proc, "the forking process")
    _, parent = cli_doctor(real_edge, pids["parent"], clean_env, "--check", "live-process")
    _, child = cli_doctor(real_edge, pids["child"], clean_env, "--check", "live-process")
    e4 = ("live-process.children.E4" in parent, "live-process.E4" in child)
    assert e4 == ((False, False) if order == "fork-first" else (True, True)), (parent, child)
