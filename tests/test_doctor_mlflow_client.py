"""The tracking-server check asks MLflow's own client too, and trusts it where the two differ.

Real ``mlflow server``s (tests/test_proxied_artifacts.py: proxied artifacts, and MLflow's
basic-auth app), a real MLflow request-auth plugin (an installed distribution with an
``mlflow.request_auth_provider`` entry point, made here on PYTHONPATH), and real sockets
for a server that is down, one that accepts and never answers, and one that trickles
bytes. Every doctor run is the real CLI on the no-Hadoop host view of those tests.
"""

# ruff: noqa: F811  (fixtures imported from tests.test_doctor_pid and tests.test_doctor_files)
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pytest

from mlflow_client_env.doctor.context import Context
from mlflow_client_env.doctor.remote import _client_answer
from mlflow_client_env_sandbox.ports import free_port
from tests.conftest import Edge
from tests.helpers_cli import run_cli
from tests.test_doctor_files import real_edge  # noqa: F401  (the real-JDK edge fixture)
from tests.test_doctor_pid import NOBODY, Evil, evil, target  # noqa: F401
from tests.test_proxied_artifacts import PASSWORD, Server, no_hadoop, proxied, with_basic_auth
from tests.venvs import python_without

__all__ = ["no_hadoop", "proxied", "with_basic_auth"]  # the fixtures, shared with that module

MLFLOW_CLIENT = f"MLflow {mlflow.__version__}'s own client"


def doctor(
    uri: str, env: dict[str, str], *args: str, python: str | Path = sys.executable
) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    out = run_cli(
        "doctor", "--json", "--tracking-uri", uri, *args, env=env, timeout=300, python=python
    )
    assert out.returncode in (0, 1), out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    data = json.loads(out.stdout)
    return out, {f["code"]: f for c in data["checks"] for f in c["findings"]}


# --------------------------------------------------------------------------- agreement
def test_basic_auth_credentials_both_clients_get_through(
    with_basic_auth: Server, no_hadoop: dict[str, str]
) -> None:
    env = {
        **no_hadoop,
        "MLFLOW_TRACKING_USERNAME": "admin",
        "MLFLOW_TRACKING_PASSWORD": PASSWORD,
    }
    out, found = doctor(with_basic_auth.url, env, "--check", "tracking-server")
    ok = found["tracking-server.ok"]
    assert ok["status"] == "ok" and out.returncode == 0
    assert ok["summary"].startswith(f"MLflow {mlflow.__version__} at {with_basic_auth.url}")
    assert "stores artifacts at mlflow-artifacts:" in ok["summary"]
    assert f"{MLFLOW_CLIENT} agrees" in ok["evidence"]
    assert PASSWORD not in out.stdout + out.stderr


def test_without_credentials_both_fail_and_mlflow_s_words_are_shown(
    with_basic_auth: Server, no_hadoop: dict[str, str], tmp_path: Path
) -> None:
    env = {**no_hadoop, "HOME": str(tmp_path)}  # no ~/.mlflow/credentials either
    out, found = doctor(with_basic_auth.url, env, "--check", "tracking-server")
    f = found["tracking-server.unreachable"]  # the basic-auth app guards /version too
    assert f["status"] == "error" and out.returncode == 1
    assert "HTTP 401" in f["summary"]  # the doctor's own client
    (theirs,) = [e for e in f["evidence"] if e.startswith(f"{MLFLOW_CLIENT} failed too: ")]
    assert "401" in theirs  # MLflow's client, in its words


# --------------------------------------------------------------------------- disagreement
PLUGIN = '''
import os

import requests.auth
from mlflow.tracking.request_auth.abstract_request_auth_provider import RequestAuthProvider


class BasicFromFile(RequestAuthProvider):
    """Basic auth from a file: what only MLflow's client knows to send."""

    def get_name(self):
        return "mce-test-basic"

    def get_auth(self):
        with open(os.environ["MCE_TEST_AUTH_FILE"]) as fh:
            user, password = fh.read().strip().split(":", 1)
        return requests.auth.HTTPBasicAuth(user, password)
'''


def install_auth_plugin(where: Path) -> None:
    """A real distribution (module + dist-info with the entry point MLflow looks up)."""
    where.mkdir()
    (where / "mce_test_auth.py").write_text(PLUGIN)
    info = where / "mce_test_auth-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mce-test-auth\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[mlflow.request_auth_provider]\nmce-test-basic = mce_test_auth:BasicFromFile\n"
    )


def test_an_auth_plugin_only_mlflow_knows_makes_mlflow_s_answer_the_one_used(
    with_basic_auth: Server, no_hadoop: dict[str, str], tmp_path: Path
) -> None:
    plugin = tmp_path / "plugin"
    install_auth_plugin(plugin)
    secret_file = tmp_path / "auth"
    secret_file.write_text(f"admin:{PASSWORD}\n")
    env = {
        **no_hadoop,
        "HOME": str(tmp_path),
        "PYTHONPATH": f"{no_hadoop['PYTHONPATH']}:{plugin}",
        "MLFLOW_TRACKING_AUTH": "mce-test-basic",
        "MCE_TEST_AUTH_FILE": str(secret_file),
    }
    out, found = doctor(
        with_basic_auth.url, env, "--check", "installation", "--check", "tracking-server"
    )
    ok = found["tracking-server.ok"]
    assert ok["status"] == "ok" and out.returncode == 0, json.dumps(found, indent=1)
    assert "stores artifacts at mlflow-artifacts:" in ok["summary"]
    (why,) = [e for e in ok["evidence"] if e.startswith("the doctor's own HTTP client failed (")]
    assert "HTTP 401" in why
    assert why.endswith(f"{MLFLOW_CLIENT} did not: MLflow's answer is used (it reaches the "
                        "server with what only it knows, e.g. an auth plugin, a proxy or a "
                        "TLS setting)")  # fmt: skip
    # the other checks use MLflow's answer too: the server keeps the artifacts, no Hadoop needed
    assert found["installation.not-needed"]["status"] == "ok"
    assert PASSWORD not in out.stdout + out.stderr


# --------------------------------------------------------------------------- bad servers
def test_a_server_that_is_down(no_hadoop: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    _, found = doctor(url, no_hadoop, "--check", "tracking-server")
    down = found["tracking-server.unreachable"]
    assert down["status"] == "error" and "Connection refused" in down["summary"]
    (theirs,) = [e for e in down["evidence"] if e.startswith(f"{MLFLOW_CLIENT} failed too: ")]
    assert "Connection refused" in theirs


@dataclass
class RawServer:
    """A TCP server on 127.0.0.1 that reads a request and then answers nothing (``trickle``
    False) or one header line every 0.3 s, forever (True). ``hung_up`` is set when a client
    that sent MLflow's User-Agent closed its connection."""

    trickle: bool
    sock: socket.socket = field(default_factory=socket.socket)
    stop: threading.Event = field(default_factory=threading.Event)
    hung_up: threading.Event = field(default_factory=threading.Event)
    conns: list[socket.socket] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.conns.append(conn)
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            head = conn.recv(65536)
        except OSError:
            return
        mlflow_client = b"mlflow-python-client/" in head
        if not self.trickle:
            self.stop.wait()
            return
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            while not self.stop.wait(0.3):
                conn.sendall(b"X-Slow: 1\r\n")
        except OSError:  # the client went away
            if mlflow_client:
                self.hung_up.set()


@pytest.fixture
def raw_server() -> Iterator[Any]:
    servers: list[tuple[RawServer, threading.Thread]] = []

    def start(trickle: bool) -> RawServer:
        srv = RawServer(trickle)
        srv.sock.bind(("127.0.0.1", 0))
        srv.sock.listen(16)
        t = threading.Thread(target=srv.serve, daemon=True)
        t.start()
        servers.append((srv, t))
        return srv

    try:
        yield start
    finally:
        for srv, t in servers:
            srv.stop.set()
            t.join(timeout=30)
            for c in srv.conns:
                c.close()
            srv.sock.close()


def test_a_server_that_accepts_and_never_answers_stays_bounded(
    no_hadoop: dict[str, str], raw_server: Any
) -> None:
    srv = raw_server(trickle=False)
    _, found = doctor(srv.url, no_hadoop, "--check", "tracking-server")
    down = found["tracking-server.unreachable"]
    assert down["status"] == "error" and "timed out" in down["summary"]
    (theirs,) = [e for e in down["evidence"] if e.startswith(f"{MLFLOW_CLIENT} failed too: ")]
    assert "Read timed out" in theirs  # MLflow's own request timeout, bounded for the probe


def test_a_server_that_trickles_bytes_stops_mlflow_s_client_at_the_budget(
    no_hadoop: dict[str, str], raw_server: Any
) -> None:
    """requests' read timeout is per read, so MLflow's client waits on a trickle forever:
    the probe is killed when the run's budget is spent, and the doctor says where."""
    srv = raw_server(trickle=True)
    out, found = doctor(srv.url, no_hadoop, "--timeout", "20", "--check", "tracking-server")
    stopped = found["tracking-server.out-of-time"]
    assert stopped["status"] == "error" and out.returncode == 1
    assert stopped["summary"] == (
        "stopped: the --timeout budget of 20 s ran out during MLflow's own client "
        f"(MlflowClient) asking {srv.url}"
    )
    # the probe process was killed, not left behind: its connection is closed
    assert srv.hung_up.wait(60), "MLflow's client still holds its connection"


# --------------------------------------------------------------------------- no MLflow
@pytest.fixture(scope="module")
def python_without_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real Python environment: this venv's packages but MLflow's (links, nothing copied)."""
    return python_without(
        tmp_path_factory.mktemp("no-mlflow") / "venv",
        lambda name: name.startswith("mlflow") and not name.startswith("mlflow_client"),
        "mlflow",
    )


def test_without_mlflow_the_doctor_s_own_client_answers_and_says_so(
    proxied: Server, no_hadoop: dict[str, str], python_without_mlflow: Path
) -> None:
    out, found = doctor(proxied.url, no_hadoop, "--check", "tracking-server",
                        python=python_without_mlflow)  # fmt: skip
    ok = found["tracking-server.ok"]
    assert ok["status"] == "ok" and out.returncode == 0
    (note,) = [e for e in ok["evidence"] if e.startswith("MLflow is not importable")]
    assert "ModuleNotFoundError: No module named 'mlflow'" in note
    assert "only the doctor's own HTTP client asked" in note


# --------------------------------------------------------------------------- secrets
def test_mlflow_s_error_text_is_redacted_where_it_is_read(no_hadoop: dict[str, str]) -> None:
    """MLflow's message quotes the URL it was given; its password never leaves the probe's
    reader (the doctor's runner scrubs findings again, which this does not rely on)."""
    secret = "pw-9e1c-not-to-be-shown"
    url = f"http://bob:{secret}@127.0.0.1:{free_port()}"  # nothing listens there
    ctx = Context(env={**no_hadoop, "MLFLOW_TRACKING_URI": url}, timeout=120)
    answer = _client_answer(ctx, url)
    assert not isinstance(answer, str) and answer.state == "failed", answer
    assert "Connection refused" in answer.detail
    assert secret not in answer.detail and "bob:" not in answer.detail
    assert "http://***@127.0.0.1:" in answer.detail  # MLflow did quote the URL: masked


# --------------------------------------------------------------------------- whose environment
def test_mlflow_s_client_never_runs_with_another_users_environment(
    real_edge: Edge, clean_env: dict[str, str], evil: Evil, target: Callable[..., Any]
) -> None:
    """``--pid`` of another user's process: MLflow's client is not started with its
    environment (its PYTHONPATH would run its sitecustomize as us); of our own uid, it is."""
    url = f"http://127.0.0.1:{free_port()}"

    def run(pid: int) -> dict[str, Any]:
        argv = [sys.executable, "-m", "mlflow_client_env", "doctor", "--pid", str(pid),
                "--json", *real_edge.cli_args(), "--tracking-uri", url,
                "--check", "tracking-server"]  # fmt: skip
        out = subprocess.run(argv, capture_output=True, text=True, env=clean_env, timeout=300)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        (check,) = json.loads(out.stdout)["checks"]
        found: dict[str, Any] = check["findings"][0]
        assert found["code"] == "tracking-server.unreachable"
        return found

    victim = target(evil.env, uid=NOBODY)
    down = run(victim.pid)
    assert "MLflow's own client was not run with another user's environment" in down["evidence"]
    assert evil.markers_of(0) == [], "a probe ran with the nobody process's environment"

    mine = target(evil.env)  # our own uid: MLflow's client runs, with its environment
    down = run(mine.pid)
    assert [e for e in down["evidence"] if e.startswith(f"{MLFLOW_CLIENT} failed too: ")]
    assert [m for m in evil.markers_of(0) if m.startswith("site-")]
