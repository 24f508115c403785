"""The doctor against hostile or odd tracking servers: real local HTTP servers on 127.0.0.x.

An SSO proxy's HTML login page, a JSON list, a server that never answers, a
redirect to another host, and environments whose secrets hold quotes,
backslashes, ``@`` and newlines. Every run goes through the real CLI
(``python -m mlflow_client_env doctor``), and its output must parse.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mlflow_client_env import doctor
from mlflow_client_env.doctor.context import Context
from mlflow_client_env.findings import Finding
from tests.conftest import Edge

#: what a handler returns: (status, headers, body)
Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Server:
    host: str
    port: int
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def authorizations(self, client: str | None = None) -> list[str | None]:
        """The Authorization header of each request (``client``: only the doctor's own HTTP
        client's, "ours", or only MLflow's client's, "mlflow")."""
        return [h.get("Authorization") for _, h in self.by(client)]

    def by(self, client: str | None) -> list[tuple[str, dict[str, str]]]:
        if client is None:
            return self.requests
        mlflow = "mlflow-python-client/"  # MLflow's REST client's User-Agent
        return [
            (p, h)
            for p, h in self.requests
            if h.get("User-Agent", "").startswith(mlflow) == (client == "mlflow")
        ]


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """Start real HTTP servers (``reply(path, server) -> Reply``); all stopped in teardown."""
    running: list[tuple[ThreadingHTTPServer, Server, threading.Thread]] = []

    def start(reply: Callable[[str, Server], Reply], host: str = "127.0.0.1") -> Server:
        state = Server(host, 0)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                state.requests.append((self.path, dict(self.headers.items())))
                status, headers, body = reply(self.path, state)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer((host, 0), Handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        state.port = httpd.server_address[1]
        t = threading.Thread(target=httpd.serve_forever, daemon=True)
        t.start()
        running.append((httpd, state, t))
        return state

    try:
        yield start
    finally:
        for httpd, state, t in running:
            state.release.set()  # a handler that sleeps ends now
            httpd.shutdown()
            httpd.server_close()
            t.join(timeout=30)


def json_reply(obj: object) -> Reply:
    return 200, {"Content-Type": "application/json"}, json.dumps(obj).encode()


def mlflow_like(path: str, _: Server) -> Reply:
    """The two endpoints the doctor asks, as MLflow answers them."""
    if path.startswith("/version"):
        return 200, {"Content-Type": "text/plain"}, b"2.17.0"
    exp = {"experiment_id": "0", "name": "Default", "artifact_location": "mlflow-artifacts:/0"}
    return json_reply({"experiment": exp})


def run_cli(
    e: Edge, env: dict[str, str], *args: str, timeout: float = 300
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], dict[str, dict[str, Any]]]:
    argv = [sys.executable, "-m", "mlflow_client_env", "doctor", "--json", *e.cli_args(), *args]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode in (0, 1), out.stderr
    data = json.loads(out.stdout)
    found = {f["code"]: f for c in data["checks"] for f in c["findings"]}
    return out, data, found


# --------------------------------------------------------------------------- odd answers
def test_html_login_page_is_a_finding_and_every_other_check_runs(
    edge: Edge, clean_env: dict[str, str], serve: Callable[..., Server]
) -> None:
    page = b"<!DOCTYPE html><html><body><form action=/login>Sign in</form></body></html>"
    sso = serve(lambda path, s: (200, {"Content-Type": "text/html; charset=utf-8"}, page))
    env = {**clean_env, "MLFLOW_TRACKING_URI": sso.url}
    out, data, found = run_cli(edge, env)
    f = found["tracking-server.html-page"]
    assert f["status"] == "error" and out.returncode == 1
    assert f["summary"] == (
        f"the server at {sso.url} answered /version with an HTML page, not the MLflow "
        "REST API: an SSO/login proxy? (D8)"
    )
    assert [c["name"] for c in data["checks"]] == list(doctor.CHECKS)
    assert not [c for c in data["checks"] if c["findings"][0]["code"].endswith(".crashed")]


def test_html_page_from_the_experiments_api(
    edge: Edge, clean_env: dict[str, str], serve: Callable[..., Server]
) -> None:
    """/version passes (a proxy that lets it through), the API answers with the login page."""

    def reply(path: str, s: Server) -> Reply:
        if path.startswith("/version"):
            return 200, {"Content-Type": "text/plain"}, b"2.17.0"
        return 200, {}, b"\n  <html><head><title>Login</title></head></html>"

    sso = serve(reply)
    env = {**clean_env, "MLFLOW_TRACKING_URI": sso.url}
    _, _, found = run_cli(edge, env, "--check", "tracking-server", "--check", "hdfs")
    f = found["tracking-server.html-page"]
    assert "answered the experiments API with an HTML page" in f["summary"]
    assert found["hdfs.skipped"]["status"] == "skip"


def test_json_list_is_a_finding(
    edge: Edge, clean_env: dict[str, str], serve: Callable[..., Server]
) -> None:
    def reply(path: str, s: Server) -> Reply:
        if path.startswith("/version"):
            return 200, {"Content-Type": "text/plain"}, b"2.17.0"
        return json_reply([{"experiment": {"artifact_location": "hdfs://nn/x"}}])

    srv = serve(reply)
    env = {**clean_env, "MLFLOW_TRACKING_URI": srv.url + "/"}
    _, data, found = run_cli(edge, env)
    f = found["tracking-server.not-mlflow"]
    assert f["status"] == "error"
    assert "answered the experiments API with a JSON list" in f["summary"]
    assert "not the MLflow REST API" in f["summary"]
    assert [c["name"] for c in data["checks"]] == list(doctor.CHECKS)
    # /version answering a JSON list is the same finding, not a version called '[]'
    srv2 = serve(lambda path, s: json_reply([]))
    _, _, found2 = run_cli(
        edge, {**clean_env, "MLFLOW_TRACKING_URI": srv2.url}, "--check", "tracking-server"
    )
    assert "answered /version with a JSON list" in found2["tracking-server.not-mlflow"]["summary"]


def test_a_crashing_check_becomes_its_own_error_finding(
    edge: Edge, clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry gets one check that raises: the only injected part, because no real input
    is known to crash a check any more (the HTML and JSON-list servers above used to). The
    Context, the other checks and the runner are real."""
    secret = "hunter2-very-secret"

    def explodes(ctx: Context) -> list[Finding]:
        raise RuntimeError(f"boom at http://bob:{secret}@db/ password={secret}")

    checks = dict(doctor.CHECKS)
    checks = {"versions": checks["versions"], "explodes": (explodes, "x"), **checks}
    monkeypatch.setattr(doctor, "CHECKS", checks)
    ctx = Context(env=dict(clean_env), overrides=edge.overrides())
    report = doctor.run(ctx, ["versions", "explodes", "installation", "java"])
    by_name = {r.name: r for r in report.results}
    assert list(by_name) == ["versions", "explodes", "installation", "java"]
    (crash,) = by_name["explodes"].findings
    assert crash.code == "explodes.crashed" and crash.status == "error"
    assert crash.summary == (
        "the explodes check crashed: RuntimeError: boom at http://***@db/ password=***"
    )
    assert secret not in repr(report)
    assert by_name["installation"].status == "ok" and by_name["java"].status == "ok"
    assert report.exit_code == 1


# --------------------------------------------------------------------------- the budget
def test_a_slow_server_cannot_hold_the_doctor_past_its_budget(
    edge: Edge, clean_env: dict[str, str], serve: Callable[..., Server]
) -> None:
    def slow(path: str, s: Server) -> Reply:
        s.release.wait(120)  # the teardown releases it
        s.answered.set()
        return mlflow_like(path, s)

    srv = serve(slow)
    env = {**clean_env, "MLFLOW_TRACKING_URI": srv.url}
    out, _, found = run_cli(
        edge, env, "--timeout", "3", "--check", "tracking-server", "--check", "hdfs", timeout=60
    )
    # the doctor is back while the server still holds its only request
    assert not srv.answered.is_set() and [p for p, _ in srv.requests] == ["/version"]
    step = f"GET {srv.url}/version"
    stopped = found["tracking-server.out-of-time"]
    assert stopped["status"] == "error"
    assert stopped["summary"] == f"stopped: the --timeout budget of 3 s ran out during {step}"
    assert found["hdfs.not-run"]["summary"] == (
        f"not run: the --timeout budget of 3 s ran out during {step}"
    )
    assert out.returncode == 1


def test_timeout_must_be_positive(edge: Edge, clean_env: dict[str, str]) -> None:
    argv = [sys.executable, "-m", "mlflow_client_env", "doctor", "--timeout", "0"]
    out = subprocess.run(argv, capture_output=True, text=True, env=clean_env, timeout=60)
    assert out.returncode == 2 and "--timeout: '0' is not a positive number" in out.stderr
    assert "Traceback" not in out.stderr


# --------------------------------------------------------------------------- secrets
HOSTILE = [
    pytest.param(
        {"MLFLOW_TRACKING_URI": 'http://u:p"a\\ss@w@127.0.0.1:1/'},
        ['p"a\\ss@w', 'p\\"a', "a\\ss", "a\\\\ss"],
        id="uri-password-quote-backslash-at",
    ),
    pytest.param(
        {
            "MLFLOW_TRACKING_URI": 'http://u:p"a\\ss@w@127.0.0.1:1/',
            "MLFLOW_TRACKING_TOKEN": 'tok"en\\with@and\nnewline-9f8e',
        },
        ['tok"en', "tok\\", "newline-9f8e", "en\\\\with", 'p"a\\ss@w'],
        id="token-with-newline",
    ),
    pytest.param(
        {
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:1/?token=qu\"ery'tok\\en",
            "MLFLOW_TRACKING_USERNAME": "alice",
            "MLFLOW_TRACKING_PASSWORD": 'pw"with\\back@slash',
        },
        ["ery'tok", 'qu"ery', 'pw"with', "back@slash", "with\\\\back"],
        id="query-token-and-basic-password",
    ),
    pytest.param(
        {"JAVA_HOME": '/opt/jdk password="hun\\"ter2" x', "MLFLOW_TRACKING_URI": "./mlruns"},
        ["hun", "ter2"],
        id="password-in-a-printed-path",
    ),
]


@pytest.mark.parametrize(("extra", "secrets"), HOSTILE)
def test_json_is_valid_and_shows_no_secret(
    edge: Edge, clean_env: dict[str, str], extra: dict[str, str], secrets: list[str]
) -> None:
    env = {**clean_env, **extra}
    out, data, _ = run_cli(edge, env, "-v")
    assert data["verdict"] in ("ok", "warn", "error")
    text = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "doctor", "-v", *edge.cli_args()],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in text.stderr, text.stderr
    for leak in secrets:
        for stream in (out.stdout, out.stderr, text.stdout, text.stderr):
            assert leak not in stream, f"{leak!r} shown"


# --------------------------------------------------------------------------- redirects
@pytest.mark.parametrize(
    ("creds", "header"),
    [
        ({"MLFLOW_TRACKING_TOKEN": "tok-4b1d-secret"}, "Bearer tok-4b1d-secret"),
        (
            {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": "pw-77c3-secret"},
            "Basic YWxpY2U6cHctNzdjMy1zZWNyZXQ=",
        ),
    ],
    ids=["bearer", "basic"],
)
def test_credentials_never_follow_a_redirect_to_another_host(
    edge: Edge,
    clean_env: dict[str, str],
    serve: Callable[..., Server],
    creds: dict[str, str],
    header: str,
) -> None:
    other = serve(mlflow_like, host="127.0.0.2")
    first = serve(lambda path, s: (302, {"Location": f"{other.url}{path}"}, b""))
    env = {**clean_env, "MLFLOW_TRACKING_URI": first.url, **creds}
    out, _, found = run_cli(edge, env, "--check", "tracking-server")
    ours = [p for p, _ in first.by("ours")]
    assert ours == [p for p, _ in other.by("ours")]
    assert len(ours) == 2  # /version and the experiment: the redirect was followed
    assert first.authorizations("ours") == [header, header]  # the configured origin got them
    assert other.authorizations("ours") == [None, None]  # the other host never did
    # MLflow's own client asked too (its experiment only), and followed the same rule
    assert [p for p, _ in other.by("mlflow")] == ["/api/2.0/mlflow/experiments/get?experiment_id=0"]
    assert first.authorizations("mlflow") == [header] and other.authorizations("mlflow") == [None]
    ok = found["tracking-server.ok"]
    assert ok["summary"].startswith(f"MLflow 2.17.0 at {first.url}")
    assert any(
        e.startswith(f"redirected from {first.url}/version to another origin, {other.url}/")
        and e.endswith("the credentials were not sent there")
        for e in ok["evidence"]
    )
    for secret in ("tok-4b1d-secret", "pw-77c3-secret", header.split()[1]):
        assert secret not in out.stdout + out.stderr


def test_same_origin_redirect_keeps_the_credentials(
    edge: Edge, clean_env: dict[str, str], serve: Callable[..., Server]
) -> None:
    def reply(path: str, s: Server) -> Reply:
        if not path.startswith("/mlflow/"):
            return 307, {"Location": f"/mlflow{path}"}, b""
        return mlflow_like(path.removeprefix("/mlflow"), s)

    srv = serve(reply)
    env = {**clean_env, "MLFLOW_TRACKING_URI": srv.url, "MLFLOW_TRACKING_TOKEN": "tok-same"}
    _, _, found = run_cli(edge, env, "--check", "tracking-server")
    assert found["tracking-server.ok"]["status"] == "ok"
    assert srv.authorizations("ours") == ["Bearer tok-same"] * 4
    assert srv.authorizations("mlflow") == ["Bearer tok-same"] * 2  # MLflow's own client too


def test_deeply_nested_json_is_a_finding_not_a_crash(
    edge: Edge, clean_env: dict[str, str], serve: Callable[..., Server]
) -> None:
    def reply(path: str, s: Server) -> Reply:
        if path.startswith("/version"):
            return 200, {"Content-Type": "text/plain"}, b"2.17.0"
        return 200, {"Content-Type": "application/json"}, b"[" * 100_000 + b"]" * 100_000

    srv = serve(reply)
    env = {**clean_env, "MLFLOW_TRACKING_URI": srv.url}
    _, _, found = run_cli(edge, env, "--check", "tracking-server")
    assert "tracking-server.not-mlflow" in found
    assert not [code for code in found if code.endswith(".crashed")]


def test_error_body_is_redacted_before_it_is_cut(
    edge: Edge, clean_env: dict[str, str], serve: Callable[..., Server]
) -> None:
    """A server that echoes a URL with a password in a 500 page, across the 200-byte cut: cut
    first, the '@' would be gone and the password no longer look like one."""
    secret = "Zq8" * 12
    body = ("x" * 170 + f" http://bob:{secret}@db.example.com/ trailing").encode()

    def reply(path: str, s: Server) -> Reply:
        if path.startswith("/version"):
            return 200, {"Content-Type": "text/plain"}, b"2.17.0"
        return 500, {"Content-Type": "text/plain"}, body

    srv = serve(reply)
    env = {**clean_env, "MLFLOW_TRACKING_URI": srv.url}
    out, _, found = run_cli(edge, env, "--check", "tracking-server")
    assert "HTTP 500" in json.dumps(found)
    assert "Zq8Zq8" not in out.stdout + out.stderr
