"""fd 2 captured in a launcher kernel: the JVM's reason for an HDFS failure is explained in
the cell, and the kernel's stderr still gets every byte.

The kernel tests run a real launcher kernel (jupyter_client) against the real sandbox
(Kerberized HDFS, real JVM through pyarrow -> libhdfs), with the kernel's stderr sent
to a file: (1) the ticket cache is gone -> D1; (2) a CLASSPATH of wildcards, which
libhdfs does not expand -> NoClassDefFoundError -> B2. The first runs with ipykernel's
own fd capture on (as in production: fd 2 is then ipykernel's pipe, which forwards to
the notebook and to the real stderr), the second with it off (as under pytest: fd 2 is
the log file itself).

The capture itself is checked in this process on a spare fd: the tee and the bounded
ring, a reader that dies (fd given back), and a reader that is behind (writers still
have the whole pipe).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env.jupyter import stderr_capture
from mlflow_client_env.jupyter.stderr_capture import StderrCapture
from tests.conftest import Jupyter
from tests.sandbox.helpers import ClientEnv
from tests.test_kernel import Output, run_cell, run_cli, running_kernel

#: Like MLflow's HDFS artifact repository: connect, then create a folder (get_file_info
#: would hide a Kerberos failure as NotFound, see test_catalog).
CREATE_DIR = """
import pyarrow.fs as pafs
pafs.HadoopFileSystem("default", 0).create_dir("/tmp/mce-kernel-stderr", recursive=True)
"""


# --- the capture, in this process, on a spare fd ---------------------------------------


@pytest.fixture
def spare_fd(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An fd (standing for fd 2) open on a log file; closed after the test."""
    log = tmp_path / "stderr.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        yield fd, log
    finally:
        os.close(fd)


def same_file(a: int, b: int | str | Path) -> bool:
    sa = os.fstat(a)
    sb = os.fstat(b) if isinstance(b, int) else os.stat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def test_capture_tees_every_byte_and_keeps_a_bounded_tail(spare_fd: tuple[int, Path]) -> None:
    fd, log = spare_fd
    cap = StderrCapture(fd, ring_bytes=1024)
    assert cap.start()
    try:
        assert not same_file(fd, log) and cap.active
        os.write(fd, b"before the cell\n")
        cap.mark()
        os.write(fd, b"x" * 3000 + b"\nsecret=s3cr3t\n")
        since = cap.since_mark()  # synchronous: no waiting for the reader
        assert len(since) == 1024 and since.endswith("x\nsecret=s3cr3t\n")
        assert "before" not in since
        assert log.read_bytes() == b"before the cell\n" + b"x" * 3000 + b"\nsecret=s3cr3t\n"
    finally:
        cap.stop()
    assert same_file(fd, log) and not cap.active  # fd given back
    os.write(fd, b"after\n")
    assert log.read_bytes().endswith(b"s3cr3t\nafter\n")


def test_reader_that_dies_gives_the_fd_back(spare_fd: tuple[int, Path]) -> None:
    fd, log = spare_fd
    cap = StderrCapture(fd)
    assert cap.start()
    thread = cap._thread
    assert thread is not None

    def broken(data: bytes) -> None:
        raise RuntimeError("a bug in the reader")

    cap._keep = broken  # type: ignore[method-assign]
    try:
        os.write(fd, b"last words\n")
        thread.join(60)  # a hang guard only: the reader ends at once
        assert not thread.is_alive()
        assert isinstance(cap.error, RuntimeError)
        assert same_file(fd, log) and not cap.active
        os.write(fd, b"straight to the file\n")
        assert log.read_bytes() == b"last words\nstraight to the file\n"
    finally:
        cap.stop()


def test_watchdog_gives_the_fd_back_when_the_reader_vanished(
    spare_fd: tuple[int, Path],
) -> None:
    """A reader gone without its own clean-up (its finally failed): check() repairs."""
    fd, log = spare_fd
    cap = StderrCapture(fd)
    real_fall_back = cap._fall_back

    def broken(data: bytes) -> None:
        raise RuntimeError("a bug in the reader")

    cap._fall_back = lambda: None  # type: ignore[method-assign]
    cap._keep = broken  # type: ignore[method-assign]
    assert cap.start()
    try:
        os.write(fd, b"x\n")
        assert cap._thread is not None
        cap._thread.join(60)  # a hang guard only
        assert not cap._thread.is_alive()
        assert not same_file(fd, log)  # still the pipe, and nobody reads it
        cap._fall_back = real_fall_back  # type: ignore[method-assign]
        assert cap.check() is False
        assert same_file(fd, log)
        os.write(fd, b"y\n")
        assert log.read_bytes() == b"x\ny\n"
    finally:
        cap._fall_back = real_fall_back  # type: ignore[method-assign]
        cap.stop()


def test_a_reader_that_is_behind_does_not_block_writers() -> None:
    """The original stderr is a pipe nobody reads (a stalled log): the reader is stuck
    passing bytes on, yet 1 MiB more is accepted without blocking the writer, and every
    byte reaches the original once it is read again."""
    rd, fd = os.pipe()  # fd stands for fd 2; its pipe for the stalled log
    cap = StderrCapture(fd)
    assert cap.start()
    drained = bytearray()
    written = 0
    try:
        writer = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)  # the capture pipe
        try:
            chunk = b"y" * 4096
            while written < stderr_capture.PIPE_BYTES:
                written += os.write(writer, chunk)  # BlockingIOError: the writer would block
        finally:
            os.close(writer)
    finally:

        def drain() -> None:
            while data := os.read(rd, 65536):
                drained.extend(data)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        cap.stop()
        os.close(fd)
        reader.join(60)  # ends when the capture closed its copy of the log pipe
        os.close(rd)
    assert not reader.is_alive()
    assert written == stderr_capture.PIPE_BYTES and bytes(drained) == b"y" * written


def test_explainer_reads_the_jvm_text_since_the_cell_started_and_redacts_it(
    spare_fd: tuple[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real OSError raised inside pyarrow (its local filesystem: no JVM needed) with
    the capture standing in for fd 2: only the text written since the mark (the cell's
    start) is read, and the line shown is redacted."""
    import pyarrow.fs as pafs

    from mlflow_client_env.jupyter.ipython_hook import describe, from_pyarrow

    fd, log = spare_fd
    missing = log.parent / "absent"
    cap = StderrCapture(fd)
    assert cap.start()
    monkeypatch.setattr(stderr_capture, "_active", cap)
    try:
        os.write(fd, b"WARN ipc.Client: GSS initiate failed [Caused by GSSException]\n")
        cap.mark()  # a new cell: the D1 text above belongs to an earlier one
        with pytest.raises(OSError) as info:
            pafs.LocalFileSystem().open_input_stream(str(missing))
        assert from_pyarrow(info.value)
        early = describe(info.value)  # nothing since the mark: no JVM cause to show
        assert early is None or "JVM's stderr" not in early, early
        cap.mark()
        os.write(
            fd,
            b"java.lang.NoClassDefFoundError: org/apache/hadoop/fs/FileSystem while loading "
            b"hdfs://alice:hunter2@nn.example.com:8020/x?token=t0k\n",
        )
        shown = describe(info.value)
    finally:
        cap.stop()
    assert shown is not None and "[catalog B2]" in shown, shown
    cause = next(line for line in shown.splitlines() if "cause (the JVM's stderr):" in line)
    assert "NoClassDefFoundError" in cause and "hdfs://***@nn.example.com" in cause
    assert "hunter2" not in shown and "t0k" not in shown
    # an OSError raised elsewhere is not pyarrow's: the JVM text is not read for it
    assert not from_pyarrow(OSError("HDFS connection failed"))


# --- real kernels against the sandbox --------------------------------------------------


@pytest.fixture
def launcher_kernel(
    jupyter: Jupyter, monkeypatch: pytest.MonkeyPatch, client_env: ClientEnv
) -> ClientEnv:
    """A launcher kernel 'mlflow' installed in private Jupyter dirs, with the sandbox
    client's environment as the Jupyter server's."""
    for key, value in client_env.env.items():
        monkeypatch.setenv(key, value)
    rc = run_cli(["install-kernel", "--prefix", str(jupyter.prefix)])
    assert rc == 0
    return client_env


@contextmanager
def kernel_logging_to(log: Path, *, ipykernel_fd_capture: bool) -> Iterator[Any]:
    """A launcher kernel whose stderr is ``log``; always shut down."""
    env = dict(os.environ)
    if ipykernel_fd_capture:  # ipykernel captures fds unless it runs under pytest
        env.pop("PYTEST_CURRENT_TEST", None)
    with log.open("wb") as f, running_kernel("mlflow", stderr=f, env=env) as kc:
        yield kc


def wait_for_text(log: Path, text: str) -> str:
    """The log's content once it holds ``text`` (the tee runs in the kernel's threads);
    gives up after 60 s (a hang guard: the assertion is on the content)."""
    import time

    deadline = time.monotonic() + 60
    content = log.read_text(errors="replace")
    while text not in content and time.monotonic() < deadline:
        time.sleep(0.1)
        content = log.read_text(errors="replace")
    return content


def explanation(out: Output) -> str:
    """Our lines under the traceback."""
    i = out.stderr.rfind("mlflow-client-env: ")
    assert i >= 0, out.stderr[-3000:]
    return out.stderr[i:]


@pytest.mark.sandbox
def test_no_ticket_is_explained_from_the_jvms_stderr(
    launcher_kernel: ClientEnv, tmp_path: Path
) -> None:
    log = tmp_path / "kernel-stderr.log"
    with kernel_logging_to(log, ipykernel_fd_capture=True) as kc:
        ready = run_cell(kc, "import os; os.environ['MLFLOW_CLIENT_ENV_KERNEL']")
        assert ready.result == "'launcher ok'", ready
        launcher_kernel.ccache.unlink()  # kdestroy, after the kernel started
        out = run_cell(kc, CREATE_DIR)
    assert out.error is not None and out.error.startswith("OSError: ")
    assert "HDFS create directory failed" in out.error  # all that pyarrow says
    shown = explanation(out)
    assert "[catalog D1]" in shown, shown
    cause = next(line for line in shown.splitlines() if "cause (the JVM's stderr):" in line)
    assert "Kerberos tgt" in cause or "GSS initiate failed" in cause, shown
    assert "fix:" in shown and "kinit" in shown
    # the kernel's own stderr still got the JVM's text, as it was written
    java = (
        "GSS initiate failed [Caused by GSSException: No valid credentials provided "
        "(Mechanism level: Failed to find any Kerberos tgt)]"
    )
    assert java in wait_for_text(log, java)


@pytest.mark.sandbox
def test_wildcard_classpath_is_explained_from_the_jvms_stderr(
    launcher_kernel: ClientEnv, tmp_path: Path
) -> None:
    lib = launcher_kernel.parcel_dir / "lib"
    wild = f"{launcher_kernel.conf_dir}:{lib}/hadoop/lib/*:{lib}/hadoop/*:{lib}/hadoop-hdfs/*"
    log = tmp_path / "kernel-stderr.log"
    with kernel_logging_to(log, ipykernel_fd_capture=False) as kc:
        # the classic mistake: CLASSPATH set from 'hadoop classpath' (wildcards) in the
        # notebook, before the first HDFS access starts the JVM
        out = run_cell(kc, f"import os; os.environ['CLASSPATH'] = {wild!r}\n{CREATE_DIR}")
    assert out.error == "OSError: HDFS connection failed"  # all that pyarrow says
    shown = explanation(out)
    assert "[catalog B2]" in shown, shown
    cause = next(line for line in shown.splitlines() if "cause (the JVM's stderr):" in line)
    # libhdfs' "loadFileSystems error:" line, with the Java exception written below it
    assert "NoClassDefFoundError" in cause, shown
    content = wait_for_text(log, "NoClassDefFoundError")
    assert (
        "loadFileSystems error:\n(unable to get stack trace for java.lang.NoClassDefFoundError"
        in content
    )
