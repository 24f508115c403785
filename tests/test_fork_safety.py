"""Catalog E4 for real: a process forked after libhdfs started the JVM hangs on HDFS.

A real parent process reads the sandbox's Kerberized HDFS through pyarrow -> libhdfs ->
JVM, then calls ``os.fork()``; the child makes the same call on the same filesystem
object. What happens (pyarrow 25, libhdfs from Hadoop 2.7.3, Java 17): the child blocks
for good, its only thread waiting on a futex with no timeout. A single-threaded process
in an untimed futex wait on its own memory has nobody left to wake it: the JVM's threads
stayed in the parent. The test waits for that state (bounded), checks it still holds
after the doctor ran, and kills the process group.

Around it: a worker started with multiprocessing's 'spawn' method reads the same file
(the documented fix works); ``doctor --pid`` names the forked child (live-process.E4),
its parent's forked children (live-process.children.E4), and not the spawn worker; and
the at-fork warning of :func:`mlflow_client_env.forksafety.warn_after_fork` fires in a
child forked after HDFS was used, and only there.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from mlflow_client_env.doctor.procfs import parse_status
from mlflow_client_env_sandbox import Kdc, Sandbox
from mlflow_client_env_sandbox.procs import pdeathsig_preexec
from tests.sandbox.fixtures import HdfsControl
from tests.sandbox.helpers import base_env

#: The process the tests start. Every process of its tree reports on fd 1, one JSON line
#: per event, tagged with its pid.
SCRIPT = r"""
import json, multiprocessing as mp, os, sys, warnings

def emit(kind, **data):
    os.write(1, (json.dumps({"kind": kind, "pid": os.getpid(), **data}) + "\n").encode())

def show(message, category, filename, lineno, file=None, line=None):
    emit("warning", category=category.__name__, message=str(message))

def spawn_worker(path, results, done):
    import mlflow_client_env
    mlflow_client_env.setup()
    import pyarrow.fs as pafs
    results.put(pafs.HadoopFileSystem("default", 0).get_file_info(path).type.name)
    done.wait()

def fork_child(then):
    pid = os.fork()
    if pid == 0:
        emit("child-started", ppid=os.getppid())
        then()
        os._exit(0)
    return pid

if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    warnings.simplefilter("always")
    warnings.showwarning = show
    if mode == "audit":
        from mlflow_client_env.forksafety import warn_after_fork
        events = []
        sys.addaudithook(lambda event, args: events.append(event))
        warn_after_fork()
        seen = list(events)
        emit("audit", events=seen)
        sys.exit(0)
    import mlflow_client_env
    for _ in range(3):  # setup() registers the at-fork warning, once however often called
        mlflow_client_env.setup()
    if mode == "failed":  # after setup(), which would have set it right
        os.environ["ARROW_LIBHDFS_DIR"] = "/nonexistent/libhdfs-dir"
    import pyarrow.fs as pafs
    if mode == "warn":
        os.waitpid(fork_child(lambda: None), 0)  # before any HDFS use: no JVM yet
    try:
        fs = pafs.HadoopFileSystem("default", 0)
    except OSError as exc:  # mode "failed": ARROW_LIBHDFS_DIR is wrong
        emit("parent-failed", error=str(exc).splitlines()[0])
        emit("forked", child=fork_child(lambda: sys.stdin.read()))
        sys.stdin.read()
        sys.exit(0)
    emit("parent-read", type=fs.get_file_info(path).type.name)
    if mode == "warn":
        os.waitpid(fork_child(lambda: None), 0)  # after: the child inherits the JVM
        emit("done")
        sys.exit(0)
    # mode "hang": a spawn worker that stays, then a forked child that uses HDFS
    ctx = mp.get_context("spawn")
    results, done = ctx.Queue(), ctx.Event()
    worker = ctx.Process(target=spawn_worker, args=(path, results, done))
    worker.start()
    emit("spawn-read", worker=worker.pid, type=results.get(timeout=300))

    def use_hdfs():
        emit("child-calling-hdfs")
        info = fs.get_file_info(path)
        emit("child-returned", type=info.type.name)

    child = fork_child(use_hdfs)
    emit("forked", child=child)
    sys.stdin.read()  # until the test is done
    done.set()
"""

#: futex(2)'s number, per machine (the child is inspected through /proc/PID/syscall)
FUTEX_SYSCALL = {"x86_64": 202, "aarch64": 98}
#: futex operations that wait (the command bits, without PRIVATE and CLOCK_REALTIME):
#: WAIT, LOCK_PI, WAIT_BITSET, WAIT_REQUEUE_PI, LOCK_PI2
FUTEX_WAITS = {0, 6, 9, 11, 13}
#: how long the child is given to reach its wait (its first HDFS call starts at once)
REACH_WAIT = 120.0


@dataclass
class Tree:
    """The script's process tree, its events, and its stderr file."""

    proc: subprocess.Popen[str]
    stderr: Path
    events: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    seen: list[dict[str, Any]] = field(default_factory=list)
    taken: set[int] = field(default_factory=set)

    def next(self, kind: str, timeout: float = 300.0) -> dict[str, Any]:
        """The first event of ``kind`` not taken yet, in the order the processes wrote them
        (several processes write: an event may come before one asked for earlier)."""
        end = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.seen):
                if event["kind"] == kind and i not in self.taken:
                    self.taken.add(i)
                    return event
            if self.seen and self.seen[-1]["kind"] == "eof":
                raise AssertionError(
                    f"the script ended (exit {self.proc.wait()}) before a {kind!r} event; "
                    f"seen: {self.seen}\nstderr: {self.stderr.read_text(errors='replace')[-3000:]}"
                )
            try:
                self.seen.append(self.events.get(timeout=max(0.0, end - time.monotonic())))
            except queue.Empty:
                raise AssertionError(
                    f"no {kind!r} event in {timeout:g} s; seen: {self.seen}\n"
                    f"stderr: {self.stderr.read_text(errors='replace')[-3000:]}"
                ) from None

    def drain(self) -> list[dict[str, Any]]:
        while True:
            try:
                self.seen.append(self.events.get_nowait())
            except queue.Empty:
                return self.seen


def _read_events(stream: IO[str], events: queue.Queue[dict[str, Any]]) -> None:
    for line in stream:
        if line.startswith("{"):
            events.put(json.loads(line))
    events.put({"kind": "eof"})


@pytest.fixture
def hdfs_client_env(
    sandbox: Sandbox, kdc: Kdc, hdfs: HdfsControl, tmp_path: Path
) -> dict[str, str]:
    """A client of the sandbox's Kerberized HDFS as a user's shell has it (alice's fresh
    FILE ticket), before mlflow-client-env: the processes call ``setup()`` themselves."""
    sandbox.ensure_parcel()
    cc = tmp_path / "krb5cc_alice"
    kdc.kinit("alice", cc, lifetime="10h")  # 1 h sits at the "expiring" threshold
    sb = {k: v for k, v in sandbox.env().items() if k != "MLFLOW_TRACKING_URI"}
    return {**base_env(), **sb, "KRB5CCNAME": f"FILE:{cc}"}


@pytest.fixture
def hdfs_file(hdfs: HdfsControl, hdfs_client_env: dict[str, str], tmp_path: Path) -> str:
    path = f"/user/alice/fork-safety-{uuid.uuid4().hex[:8]}.txt"
    cc = Path(hdfs_client_env["KRB5CCNAME"].removeprefix("FILE:"))
    put = hdfs.fs("-put", "-", path, ccache=cc, stdin=b"E4\n")
    assert put.returncode == 0, put.stderr[-2000:]
    return path


@pytest.fixture
def run_script(tmp_path: Path) -> Iterator[Any]:
    """Start SCRIPT in its own process group; the whole group is killed at teardown."""
    trees: list[Tree] = []
    script = tmp_path / "e4_script.py"  # a file: the 'spawn' method re-imports the main module
    script.write_text(SCRIPT)

    def start(mode: str, path: str, env: dict[str, str]) -> Tree:
        stderr = tmp_path / f"{mode}-stderr.txt"
        with stderr.open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, str(script), mode, path],
                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                start_new_session=True, preexec_fn=pdeathsig_preexec(), cwd=tmp_path,
            )  # fmt: skip
        tree = Tree(proc, stderr)
        assert proc.stdout is not None
        threading.Thread(target=_read_events, args=(proc.stdout, tree.events), daemon=True).start()
        trees.append(tree)
        return tree

    try:
        yield start
    finally:
        for tree in trees:
            with contextlib.suppress(ProcessLookupError):  # the forked child and workers too
                os.killpg(tree.proc.pid, signal.SIGKILL)
            tree.proc.wait(timeout=60)


def blocked_forever(pid: int) -> str | None:
    """Why ``pid`` can never wake up, or None: it is a single thread sleeping in a futex
    wait without a timeout (nobody else is left to wake it)."""
    nr = FUTEX_SYSCALL.get(platform.machine())
    assert nr is not None, f"no futex syscall number known for {platform.machine()}"
    with open(f"/proc/{pid}/status", "rb") as fh:
        status = parse_status(fh.read())
    with open(f"/proc/{pid}/syscall") as fh:
        syscall = fh.read().split()
    if status.get("Threads") != "1" or not status.get("State", "").startswith("S"):
        return None
    if len(syscall) < 5 or not syscall[0].isdigit() or int(syscall[0]) != nr:
        return None
    op, timeout = int(syscall[2], 16), int(syscall[4], 16)
    if op & ~(128 | 256) not in FUTEX_WAITS or timeout != 0:
        return None
    return f"1 thread, state {status['State']}, futex({syscall[1]}, op={op:#x}) without timeout"


def wait_blocked(pid: int) -> str:
    """Poll (bounded) until ``pid`` is blocked for good; its state then, else fail loudly."""
    end = time.monotonic() + REACH_WAIT
    last = ""
    while time.monotonic() < end:
        why = blocked_forever(pid)
        if why is not None:
            return why
        with open(f"/proc/{pid}/syscall") as fh:
            last = fh.read().strip()
        time.sleep(0.2)
    raise AssertionError(f"process {pid} never reached an untimed futex wait; last: {last}")


def doctor_live(pid: int, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """``doctor --pid PID --check live-process --json`` through the real CLI."""
    proc = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "doctor", "--pid", str(pid), "--json",
         "--check", "live-process"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1), proc.stderr
    (check,) = json.loads(proc.stdout)["checks"]
    return {str(f["code"]): f for f in check["findings"]}


# --------------------------------------------------------------------------- (a) + (b)
def test_a_child_forked_after_the_jvm_started_hangs_on_hdfs_and_the_doctor_says_why(
    run_script: Any, hdfs_client_env: dict[str, str], hdfs_file: str
) -> None:
    tree: Tree = run_script("hang", hdfs_file, hdfs_client_env)
    parent = tree.proc.pid
    assert tree.next("parent-read")["type"] == "File"
    spawned = tree.next("spawn-read")
    assert spawned["type"] == "File"  # the fix: a spawned worker reads it
    worker = int(spawned["worker"])
    child = int(tree.next("forked")["child"])
    calling = tree.next("child-calling-hdfs")
    assert calling["pid"] == child

    why = wait_blocked(child)  # the hang, as it is: one thread, waiting for nobody

    found = doctor_live(child, hdfs_client_env)
    e4 = found.get("live-process.E4")
    assert e4 is not None, found
    assert e4["status"] == "warn"
    assert e4["summary"].startswith(f"process {child} was forked from process {parent} after")
    assert "(E4)" in e4["summary"] and "spawn" in e4["fix"]
    assert "multiprocessing_context='spawn'" in e4["fix"]
    evidence = " | ".join(e4["evidence"])
    assert f"named after process {parent}" in evidence
    assert f"the same mapping as in its parent process {parent}" in evidence
    assert "1 thread(s), none of them the JVM's" in evidence

    on_parent = doctor_live(parent, hdfs_client_env)
    kids = on_parent.get("live-process.children.E4")
    assert kids is not None, on_parent
    assert f"({child})" in kids["summary"] and str(worker) not in kids["summary"]
    assert "live-process.E4" not in on_parent  # the parent's JVM runs

    on_worker = doctor_live(worker, hdfs_client_env)
    assert "live-process.E4" not in on_worker and "live-process.children.E4" not in on_worker
    assert on_worker["live-process.heap"]["status"] == "ok"  # its own JVM, alive

    # still blocked the same way after all that, and it never came back from the call
    assert blocked_forever(child) == why
    assert not [e for e in tree.drain() if e["kind"] == "child-returned"]


# --------------------------------------------------------------------------- (c)
def test_a_child_forked_after_hdfs_use_warns_once_and_only_then(
    run_script: Any, hdfs_client_env: dict[str, str], hdfs_file: str
) -> None:
    tree: Tree = run_script("warn", hdfs_file, hdfs_client_env)
    first = tree.next("child-started")  # forked before any HDFS use
    tree.next("parent-read")
    second = tree.next("child-started")  # forked after
    tree.next("done")
    assert tree.proc.wait(timeout=120) == 0
    warnings = [
        e for e in tree.drain() if e["kind"] == "warning" and e["category"] == "ForkAfterJvmWarning"
    ]
    assert [w["pid"] for w in warnings] == [second["pid"]], tree.seen  # once, in that child
    (w,) = warnings
    assert w["category"] == "ForkAfterJvmWarning"
    assert f"this process ({second['pid']}) was forked from process {tree.proc.pid}" in w["message"]
    assert "(catalog E4)" in w["message"]
    assert "multiprocessing.get_context('spawn')" in w["message"]
    assert "DataLoader(..., multiprocessing_context='spawn')" in w["message"]
    assert first["pid"] != second["pid"]


def test_registering_the_warning_reads_nothing(run_script: Any, tmp_path: Path) -> None:
    """setup() must stay cheap: the registration opens no file (Python's audit events)."""
    env = {**base_env(), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    tree: Tree = run_script("audit", "-", env)
    events = tree.next("audit")["events"]
    assert tree.proc.wait(timeout=60) == 0
    assert not [e for e in events if e in ("open", "os.listdir", "os.scandir")], events


def test_without_jvm_perf_data_the_inherited_mapping_is_the_evidence(
    run_script: Any, hdfs_client_env: dict[str, str], hdfs_file: str
) -> None:
    """-XX:-UsePerfData (kept by setup() among the user's options): no perf data file, so
    the doctor relies on the libjvm.so mapping shared with the parent, whose JVM runs."""
    env = {**hdfs_client_env, "LIBHDFS_OPTS": "-XX:-UsePerfData"}
    tree: Tree = run_script("hang", hdfs_file, env)
    parent = tree.proc.pid
    child = int(tree.next("forked")["child"])
    tree.next("child-calling-hdfs")
    wait_blocked(child)
    with open(f"/proc/{child}/maps") as fh:
        assert "hsperfdata_" not in fh.read()
    e4 = doctor_live(child, hdfs_client_env).get("live-process.E4")
    assert e4 is not None
    assert e4["summary"].startswith(f"process {child} was forked from process {parent} after")
    assert not [e for e in e4["evidence"] if "perf data" in e]
    assert any(f"the same mapping as in its parent process {parent}" in e for e in e4["evidence"])


def test_no_warning_and_no_e4_after_a_load_that_made_no_jvm(
    run_script: Any, hdfs_client_env: dict[str, str], hdfs_file: str
) -> None:
    """libhdfs failed to load (wrong ARROW_LIBHDFS_DIR): libjvm.so is mapped but no JVM was
    made, so a forked child has nothing to hang on; it inherits the failed load (A4) instead."""
    tree: Tree = run_script("failed", hdfs_file, hdfs_client_env)
    assert tree.next("parent-failed")["error"].startswith("Unable to load libhdfs")
    child = int(tree.next("forked")["child"])
    assert tree.next("child-started")["pid"] == child
    with open(f"/proc/{child}/maps") as fh:
        maps = fh.read()
    assert "/libjvm.so" in maps and "/libhdfs.so" not in maps
    found = doctor_live(child, hdfs_client_env)
    assert "live-process.E4" not in found
    assert found["live-process.F2"]["status"] == "error"  # what it does have
    assert not [e for e in tree.drain() if e["kind"] == "warning"], tree.seen
