"""Faults give a clear message that names the fix, and nothing outlives the sandbox."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlflow_client_env.errors import JavaNotFoundError
from mlflow_client_env_sandbox import (
    Assets,
    ChecksumError,
    DiskFullError,
    DownloadError,
    Kdc,
    PortInUseError,
    Sandbox,
    SandboxRunningError,
    ServerStartError,
)
from mlflow_client_env_sandbox.assets import PYDOOP, Sdist, ensure_sdist
from mlflow_client_env_sandbox.java import sandbox_java
from mlflow_client_env_sandbox.ports import free_port
from mlflow_client_env_sandbox.procs import proc_start_time, spawn, wait_until

pytestmark = pytest.mark.sandbox
CLI = [sys.executable, "-m", "mlflow_client_env_sandbox"]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_port_taken_names_the_port_and_the_fix(tmp_path: Path, taken_port: int) -> None:
    kdc = Kdc(tmp_path / "kdc", taken_port)
    kdc.create()
    with pytest.raises(PortInUseError) as info:
        kdc.start()
    assert f"port {taken_port}" in info.value.problem
    assert "KDC" in info.value.problem
    assert "ss -ltnup" in info.value.fix


def test_mlflow_port_taken_fails_before_anything_starts(
    tmp_path: Path, taken_port: int, sandbox_assets: Assets
) -> None:
    with pytest.raises(PortInUseError) as info:
        Sandbox(tmp_path / "state", mlflow_port=taken_port, assets=sandbox_assets)
    assert "MLflow tracking server" in info.value.problem


def _fake_java_home(root: Path, version: str) -> Path:
    home = root / f"jdk-{version}"
    (home / "lib" / "server").mkdir(parents=True)
    (home / "lib" / "server" / "libjvm.so").write_bytes(b"")
    (home / "bin").mkdir()
    (home / "release").write_text(f'JAVA_VERSION="{version}"\n')
    return home


def test_only_java_25_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(JavaNotFoundError) as info:
        sandbox_java(_fake_java_home(tmp_path, "25.0.1"))
    assert "Java 25" in info.value.problem
    assert "getSubject is not supported" in info.value.problem
    assert "openjdk-17-jdk-headless" in info.value.fix


def test_missing_java_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(JavaNotFoundError) as info:
        sandbox_java(tmp_path / "no-java-here")
    assert "no libjvm.so" in info.value.problem
    assert "openjdk-17-jdk-headless" in info.value.fix


@pytest.fixture
def offline_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point pip at a closed local port: a download fails at once, without network."""
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{free_port()}/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)


@pytest.mark.usefixtures("offline_pip")
def test_download_failure_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as info:
        ensure_sdist(PYDOOP, tmp_path)
    assert "could not download pydoop==2.0.0" in info.value.problem
    assert PYDOOP.sha256 in info.value.fix


@pytest.mark.usefixtures("offline_pip")
def test_corrupt_cached_file_is_set_aside_and_fetched_again(tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / PYDOOP.filename).write_bytes(b"not the real sdist")
    with pytest.raises(DownloadError):
        ensure_sdist(PYDOOP, tmp_path)
    assert (downloads / "pydoop-2.0.0.tar.bad").read_bytes() == b"not the real sdist"


def _local_sdist(dest: Path, name: str, version: str) -> Path:
    src = dest / "src" / f"{name}-{version}"
    src.mkdir(parents=True)
    (src / "setup.py").write_text(
        f"from setuptools import setup\nsetup(name={name!r}, version={version!r})\n"
    )
    (src / "PKG-INFO").write_text(f"Metadata-Version: 1.0\nName: {name}\nVersion: {version}\n")
    index = dest / "index"
    index.mkdir()
    archive = index / f"{name}-{version}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname=src.name)
    return index


def test_checksum_mismatch_after_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = _local_sdist(tmp_path, "sandboxfake", "1.0")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    monkeypatch.setenv("PIP_NO_BUILD_ISOLATION", "0")  # pip's inverted flag: no isolation
    fake = Sdist("sandboxfake", "1.0", "0" * 64, "setuptools", "--no-binary=:all:")
    with pytest.raises(ChecksumError) as info:
        ensure_sdist(fake, tmp_path / "cache")
    assert "expected " + "0" * 64 in info.value.problem
    assert not (tmp_path / "cache" / "downloads" / "sandboxfake-1.0.tar.gz").exists()


def test_disk_full_names_the_directory(tmp_path: Path, sandbox_assets: Assets) -> None:
    """A real full disk: a 64 KiB tmpfs. Mounting needs root, as CI and these machines run;
    as another user this fails loudly instead of passing unseen."""
    assert os.geteuid() == 0, "this test mounts a tmpfs and must run as root (CI does)"
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], check=True)
    try:
        sb = Sandbox(mnt / "state", assets=sandbox_assets)
        with pytest.raises(DiskFullError) as info:
            sb.ensure_parcel()
        assert str(mnt / "state") in info.value.problem
        assert "df -h" in info.value.fix
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_second_sandbox_in_the_same_dir_is_refused(tmp_path: Path, sandbox_assets: Assets) -> None:
    with Sandbox(tmp_path / "state", assets=sandbox_assets) as first:
        first.ensure_kdc()
        with pytest.raises(SandboxRunningError) as info:
            Sandbox(tmp_path / "state", assets=sandbox_assets)
        assert "krb5kdc" in info.value.problem
        assert "down" in info.value.fix


def test_server_that_dies_reports_its_log_tail(tmp_path: Path) -> None:
    proc = spawn(
        "doomed", ["sh", "-c", "echo 'java.net.BindException: boom'; exit 3"],
        env=os.environ, log=tmp_path / "doomed.log", cwd=tmp_path, detached=False,
    )  # fmt: skip
    with pytest.raises(ServerStartError) as info:
        wait_until(lambda: False, what="doom", timeout=30, procs=[proc], fix="read the log")
    assert "exited (code 3)" in info.value.problem
    assert "java.net.BindException: boom" in info.value.problem


def test_timeout_reports_the_log_tail(tmp_path: Path) -> None:
    proc = spawn(
        "sleeper", ["sh", "-c", "echo still starting; exec sleep 60"],
        env=os.environ, log=tmp_path / "sleeper.log", cwd=tmp_path, detached=False,
    )  # fmt: skip
    try:
        with pytest.raises(ServerStartError) as info:
            wait_until(lambda: False, what="never", timeout=0.5, procs=[proc], fix="wait")
        assert "timed out" in info.value.problem
        assert "still starting" in info.value.problem
    finally:
        proc.stop()
    assert not proc.alive()


KDC_THEN_HANG = """
import sys, time
from pathlib import Path
from mlflow_client_env_sandbox.kdc import Kdc
from mlflow_client_env_sandbox.ports import free_port
kdc = Kdc(Path(sys.argv[1]), free_port())
kdc.create()
kdc.start()
print(kdc.process.pid, flush=True)
time.sleep(600)
"""


def test_killed_test_process_takes_its_servers_along(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", KDC_THEN_HANG, str(tmp_path / "kdc")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert parent.stdout is not None
    kdc_pid = int(parent.stdout.readline())
    assert proc_start_time(kdc_pid) is not None
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while proc_start_time(kdc_pid) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc_start_time(kdc_pid) is None, "krb5kdc outlived its parent"


def test_cli_error_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*CLI, "env", "--state-dir", str(tmp_path / "none")], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("sandbox: error: no sandbox state in")
    assert "fix: start one with 'scripts/sandbox up'" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "content",
    [
        '{"detached": true}',  # no state_dir
        '{"state_dir": "/x", "detached": true, "processes": [{"name": "kdc"}]}',  # no pid
        '{"state_dir": "/x", "detached": true, "processes": 7}',
        '{"state_dir": "/x", "detached": true, "env": ["a"]}',
        "[" * 100_000 + "]" * 100_000,
        '{"state_dir": "/x", \udcff}',  # the byte 0xff, through surrogateescape
    ],
    ids=["no-state-dir", "process-without-pid", "processes-not-a-list", "env-not-a-dict",
         "deeply-nested", "not-utf8"],
)  # fmt: skip
def test_damaged_state_file_is_a_typed_error(tmp_path: Path, content: str) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "sandbox.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    for command in ("status", "env", "down"):
        proc = subprocess.run(
            [*CLI, command, "--state-dir", str(state)], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("sandbox: error:"), proc.stderr
        assert "Traceback" not in proc.stderr and "fix: stop leftover processes" in proc.stderr


def test_server_log_tail_never_shows_a_password(tmp_path: Path) -> None:
    """A server that logs its own connection string: the error quoting its log masks it."""
    proc = spawn(
        "leaky", ["sh", "-c", "echo 'connecting to postgresql://mlflow:s3cr@t@db/x'; exit 3"],
        env=os.environ, log=tmp_path / "leaky.log", cwd=tmp_path, detached=False,
    )  # fmt: skip
    with pytest.raises(ServerStartError) as info:
        wait_until(lambda: False, what="leaky", timeout=30, procs=[proc], fix="read the log")
    assert "postgresql://***@db/x" in str(info.value)
    assert "s3cr" not in str(info.value)


def test_cli_up_leaves_servers_running_and_down_stops_them(tmp_path: Path) -> None:
    state = ["--state-dir", str(tmp_path / "state")]
    try:
        up = subprocess.run([*CLI, "up", "--no-mlflow", *state], capture_output=True, text=True)
        assert up.returncode == 0, up.stderr
        status = subprocess.run([*CLI, "status", *state], capture_output=True, text=True)
        assert status.returncode == 0
        assert status.stdout.count("running") == 3  # krb5kdc, namenode, datanode
        again = subprocess.run([*CLI, "up", "--no-mlflow", *state], capture_output=True, text=True)
        assert again.returncode == 2
        assert "a sandbox is still running" in again.stderr
    finally:
        down = subprocess.run([*CLI, "down", *state], capture_output=True, text=True)
    assert down.returncode == 0, down.stderr
    assert "stopped krb5kdc" in down.stderr or "krb5kdc (pid" in down.stderr
    status = subprocess.run([*CLI, "status", *state], capture_output=True, text=True)
    assert status.returncode == 3
    assert "running" not in status.stdout
