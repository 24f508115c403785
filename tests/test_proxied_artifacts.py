"""Proxied artifacts (catalog H4): a client on a host without any Hadoop, against a real
``mlflow server --serve-artifacts``, needs no Hadoop and is told so by every front end.

The host view has no Hadoop at all: this machine has no /opt/cloudera, /usr/lib/hadoop or
/usr/hdp, the parcels root given is empty, PATH has no ``hadoop`` and HADOOP_HOME is unset.
Java and Kerberos are the machine's own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlflow_client_env_sandbox.ports import free_port
from tests.conftest import Jupyter
from tests.helpers_cli import run_cli
from tests.test_kernel import probe, run_cell, running_kernel
from tests.test_kernel import run_cli as run_cli_in_process

ROOT = Path(__file__).resolve().parent.parent
MLFLOW = Path(sys.executable).with_name("mlflow")
PASSWORD = "s3cret-for-tests-only"  # the basic-auth server's admin password


@dataclass(frozen=True)
class Server:
    url: str
    artifacts: Path  # where the server keeps what clients upload


def _start_server(tmp: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    port = free_port()
    artifacts = tmp / "artifacts"
    argv = [str(MLFLOW), "server", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}", "--workers", "1", *extra]
    log = (tmp / "server.log").open("wb")
    server_env = {
        **os.environ,
        # experiments may be created with an hdfs:// location (the server never touches it)
        "MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES": "hdfs",
        **(env or {}),
    }
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp,
        env=server_env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start:\n{(tmp / 'server.log').read_text()}")
            time.sleep(0.3)
        yield Server(url, artifacts)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real tracking server that stores artifacts itself (mlflow-artifacts:/)."""
    tmp = tmp_path_factory.mktemp("proxied")
    dest = (tmp / "artifacts").as_uri()
    yield from _start_server(tmp, "--serve-artifacts", "--artifacts-destination", dest)


@pytest.fixture(scope="module")
def hdfs_rooted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real tracking server whose artifacts are on HDFS: clients write them themselves."""
    tmp = tmp_path_factory.mktemp("hdfs-rooted")
    root = "hdfs://nameservice1/user/mlflow/artifacts"
    yield from _start_server(tmp, "--no-serve-artifacts", "--default-artifact-root", root)


@pytest.fixture(scope="module")
def with_basic_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real tracking server behind MLflow's own basic-auth app (admin / PASSWORD)."""
    tmp = tmp_path_factory.mktemp("basic-auth")
    dest = (tmp / "artifacts").as_uri()
    yield from _start_server(
        tmp, "--app-name", "basic-auth", "--serve-artifacts", "--artifacts-destination", dest,
        env={"MLFLOW_FLASK_SERVER_SECRET_KEY": "test-only-csrf-key", "MLFLOW_AUTH_ADMIN_PASSWORD": PASSWORD},
    )  # fmt: skip


@pytest.fixture
def no_hadoop(tmp_path: Path) -> dict[str, str]:
    """This process's environment as a host without Hadoop sees it."""
    empty = tmp_path / "parcels"
    empty.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HADOOP", "MLFLOW", "CLASSPATH", "LIBHDFS", "ARROW_LIBHDFS"))
    }
    env["PATH"] = os.pathsep.join(
        d for d in env.get("PATH", "").split(os.pathsep) if not (Path(d) / "hadoop").exists()
    )
    env.update(
        MLFLOW_CLIENT_ENV_PARCELS_ROOT=str(empty),
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),
        MLFLOW_CLIENT_ENV_CACHE=str(tmp_path / "cache"),
        PYTHONPATH=str(ROOT),
    )
    return env


def test_env_needs_no_hadoop_when_the_server_stores_the_artifacts(
    proxied: Server, no_hadoop: dict[str, str]
) -> None:
    out = run_cli("env", "--json", "--tracking-uri", proxied.url, env=no_hadoop)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"MLFLOW_TRACKING_URI": proxied.url}
    assert "none is needed" in out.stderr and "mlflow-artifacts:" in out.stderr


def test_env_still_fails_when_the_artifacts_are_on_hdfs(
    hdfs_rooted: Server, no_hadoop: dict[str, str]
) -> None:
    out = run_cli("env", "--json", "--tracking-uri", hdfs_rooted.url, env=no_hadoop)
    assert out.returncode == 1, out.stderr  # no Hadoop: a problem found, not bad input
    assert "hdfs://nameservice1/user/mlflow/artifacts" in out.stderr
    assert "through Hadoop" in out.stderr and out.stdout == ""


def test_env_says_the_server_could_not_be_asked(no_hadoop: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    out = run_cli("env", "--tracking-uri", url, env=no_hadoop)
    assert out.returncode == 1 and out.stdout == ""
    assert "could not be checked" in out.stderr and "--serve-artifacts" in out.stderr


def test_setup_then_mlflow_logs_through_the_server(
    proxied: Server, no_hadoop: dict[str, str], tmp_path: Path
) -> None:
    """setup() succeeds, says why, and a real artifact reaches the server's store."""
    code = (
        "import json, mlflow, mlflow_client_env as m\n"
        f"r = m.setup(tracking_uri={proxied.url!r}, experiment='proxied-demo')\n"
        "with mlflow.start_run() as run:\n"
        "    mlflow.log_text('carried over HTTP', 'note.txt')\n"
        "print(json.dumps({'codes': [f.code for f in r.findings], 'text': str(r),\n"
        "    'uri': run.info.artifact_uri, 'classpath': 'CLASSPATH' in __import__('os').environ}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=no_hadoop, cwd=tmp_path, capture_output=True,
        text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["codes"] == ["installation.not-needed"]
    assert "Hadoop: not needed" in data["text"] and not data["classpath"]
    assert data["uri"].startswith("mlflow-artifacts:")
    (stored,) = proxied.artifacts.rglob("note.txt")
    assert stored.read_text() == "carried over HTTP"


def test_doctor_does_not_contradict_itself(proxied: Server, no_hadoop: dict[str, str]) -> None:
    out = run_cli("doctor", "--json", "--tracking-uri", proxied.url, env=no_hadoop, timeout=300)
    data = json.loads(out.stdout)
    checks = {c["name"]: c for c in data["checks"]}
    codes = {f["code"] for c in data["checks"] for f in c["findings"]}
    assert "installation.not-needed" in codes and "installation.error" not in codes
    assert checks["installation"]["status"] == "ok"
    assert checks["classpath"]["status"] == "skip"
    assert "no Hadoop is needed" in checks["classpath"]["findings"][-1]["summary"]
    assert "java.ok" in codes  # Java is still checked
    assert checks["tracking-server"]["status"] == "ok"
    assert out.returncode == 0, out.stdout


def test_kernel_on_a_host_without_hadoop_notes_it_is_not_needed(
    proxied: Server, jupyter: Jupyter, tmp_path: Path
) -> None:
    empty = tmp_path / "no-parcels"
    empty.mkdir()
    argv = ["install-kernel", "--name", "mlflow-proxied", "--prefix", str(jupyter.prefix)]
    argv += ["--parcels-root", str(empty), "--tracking-uri", proxied.url]
    assert run_cli_in_process(argv) == 0
    with running_kernel("mlflow-proxied") as kc:
        first = run_cell(kc, "import mlflow; print(mlflow.get_tracking_uri())")
        env, _, _ = probe(kc)
    assert first.error is None, first
    assert first.stdout.strip() == proxied.url
    assert "none is needed" in first.stderr and "WITHOUT" not in first.stderr
    assert env["MLFLOW_CLIENT_ENV_KERNEL"] == "launcher ok"
    assert "CLASSPATH" not in env


def test_credentials_are_taken_where_mlflow_takes_them(
    with_basic_auth: Server, no_hadoop: dict[str, str], tmp_path: Path
) -> None:
    """~/.mlflow/credentials, as MLflow's client reads it; without it the server says 401."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**no_hadoop, "HOME": str(home)}
    out = run_cli("env", "--json", "--tracking-uri", with_basic_auth.url, env=env)
    assert out.returncode == 1 and "HTTP 401" in out.stderr, out.stderr
    (home / ".mlflow").mkdir()
    (home / ".mlflow" / "credentials").write_text(
        f"[mlflow]\nmlflow_tracking_username = admin\nmlflow_tracking_password = {PASSWORD}\n"
    )
    out = run_cli("env", "--json", "--tracking-uri", with_basic_auth.url, env=env)
    assert out.returncode == 0, out.stderr
    assert PASSWORD not in out.stdout + out.stderr


def test_the_experiment_id_mlflow_will_use_decides(
    proxied: Server, no_hadoop: dict[str, str]
) -> None:
    """MLFLOW_EXPERIMENT_ID names an experiment on HDFS while Default is proxied: env and
    the doctor both say Hadoop is needed."""
    code = (
        "import mlflow\n"
        f"c = mlflow.MlflowClient({proxied.url!r})\n"
        "print(c.create_experiment('on-hdfs', artifact_location='hdfs://ns1/user/x/on-hdfs'))\n"
    )
    made = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    exp_id = made.stdout.strip().splitlines()[-1]
    env = {**no_hadoop, "MLFLOW_EXPERIMENT_ID": exp_id}
    out = run_cli("env", "--tracking-uri", proxied.url, env=env)
    assert out.returncode == 1 and "hdfs://ns1/user/x/on-hdfs" in out.stderr, out.stderr
    doc = run_cli("doctor", "--json", "--tracking-uri", proxied.url, env=env, timeout=300)
    codes = {f["code"] for c in json.loads(doc.stdout)["checks"] for f in c["findings"]}
    assert "installation.error" in codes and "installation.not-needed" not in codes
    assert doc.returncode == 1


def test_a_uri_with_credentials_is_refused_before_anything_is_sent(
    no_hadoop: dict[str, str],
) -> None:
    url = f"http://bob:hunter2@127.0.0.1:{free_port()}"  # nothing listens: a send would say so
    out = run_cli("env", "--tracking-uri", url, env=no_hadoop)
    assert out.returncode == 2 and "credentials" in out.stderr, out.stderr
    assert "could not be asked" not in out.stderr and "hunter2" not in out.stderr


def test_a_wrong_hadoop_home_is_not_taken_for_no_hadoop_needed(
    proxied: Server, no_hadoop: dict[str, str], tmp_path: Path
) -> None:
    """Only 'looked everywhere, found nothing' may be fine; a path the user gave is an error."""
    out = run_cli(
        "env", "--tracking-uri", proxied.url, "--hadoop-home", str(tmp_path / "typo"),
        env=no_hadoop,
    )  # fmt: skip
    assert out.returncode == 1 and "not a Hadoop installation" in out.stderr, out.stderr
    assert "none is needed" not in out.stderr
