"""The sandbox's SPNEGO front: Apache httpd with mod_auth_gssapi, run for real.

Negotiate only (no Basic), the principal passed on as ``X-Remote-User`` and logged
(``%u``), the client's token kept from MLflow, its own private folder and user, and no
process left behind: not after ``stop()``, not when start-up fails, not when the process
that started it is killed, and not after ``Sandbox.close()``.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from requests_gssapi import HTTPSPNEGOAuth  # type: ignore[import-untyped]

from mlflow_client_env_sandbox import spnego_proxy as spnego_module
from mlflow_client_env_sandbox.cluster import Sandbox
from mlflow_client_env_sandbox.errors import ServerStartError
from mlflow_client_env_sandbox.kdc import Kdc
from mlflow_client_env_sandbox.prepare import Assets
from mlflow_client_env_sandbox.spnego_proxy import SpnegoProxy
from mlflow_client_env_sandbox.state import STATE_FILE, load_state
from tests.sandbox.fixtures import MlflowControl
from tests.sandbox.helpers import run_python


@pytest.fixture
def upstream() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A local HTTP server standing in for MLflow: answers 200 and records the headers."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers))
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def alice(kdc: Kdc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ticket for alice in a fresh cache, and this process's Kerberos variables on it."""
    ccache = tmp_path / "krb5cc_alice"
    kdc.kinit("alice", ccache, lifetime="1h")
    monkeypatch.setenv("KRB5_CONFIG", str(kdc.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{ccache}")
    return ccache


def httpd_pids(marker: str) -> list[int]:
    """PIDs of live processes whose command line contains ``marker``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state not in ("Z", "X"):
            pids.append(int(entry))
    return pids


def wait_gone(marker: str, deadline: float = 20.0) -> list[int]:
    """Wait (bounded) until no process carries ``marker``; returns those still there."""
    end = time.monotonic() + deadline
    while httpd_pids(marker) and time.monotonic() < end:
        time.sleep(0.1)
    return httpd_pids(marker)


def log_line(log: Path, needle: str, also: str = "", deadline: float = 10.0) -> str:
    """The last access-log line with ``needle`` and ``also`` (httpd writes it after the
    response: wait, bounded)."""
    end = time.monotonic() + deadline
    while True:
        lines = [ln for ln in log.read_text().splitlines() if needle in ln and also in ln]
        if lines or time.monotonic() > end:
            assert lines, f"no line with {needle!r} in {log}"
            return lines[-1]
        time.sleep(0.05)


def test_negotiate_only_no_basic(kdc: Kdc, upstream: tuple[str, list[dict[str, str]]],
                                 tmp_path: Path) -> None:  # fmt: skip
    url, seen = upstream
    with SpnegoProxy(kdc, url, tmp_path / "proxy") as proxy:
        anonymous = requests.get(f"{proxy.url}/api", timeout=30)
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"] == "Negotiate"  # and no Basic realm
        basic = requests.get(f"{proxy.url}/api", auth=("alice", "secret"), timeout=30)
        assert basic.status_code == 401 and "Basic" not in basic.headers["WWW-Authenticate"]
    assert seen == []  # nothing got through


def test_principal_header_access_log_and_no_token_upstream(
    kdc: Kdc, upstream: tuple[str, list[dict[str, str]]], alice: Path, tmp_path: Path
) -> None:
    url, seen = upstream
    with SpnegoProxy(kdc, url, tmp_path / "proxy", open_path="/open") as proxy:
        forged = {"X-Remote-User": "mallory@SANDBOX.TEST"}
        auth = HTTPSPNEGOAuth()
        resp = requests.get(f"{proxy.url}/api/one", auth=auth, headers=forged, timeout=30)
        assert resp.status_code == 200, resp.text
        line = log_line(proxy.access_log, "GET /api/one ", " 200 ")
        # without authentication, a path of its own (the benchmark's control): no header
        assert requests.get(f"{proxy.url}/open/api/two", headers=forged, timeout=30).ok
        open_line = log_line(proxy.access_log, "GET /open/api/two ")
    assert seen[0]["X-Remote-User"] == "alice@SANDBOX.TEST"  # the client's value replaced
    assert "Authorization" not in seen[0]  # the Kerberos token stops at the proxy
    assert "X-Remote-User" not in seen[1]
    assert line.split()[2] == "alice@SANDBOX.TEST" and " 200 " in line
    assert open_line.split()[2] == "-"


def test_private_folder_own_user_own_files(
    kdc: Kdc, upstream: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    url, _ = upstream
    proxy = SpnegoProxy(kdc, url, tmp_path / "proxy")
    proxy.start()
    try:
        assert proxy.process is not None
        base = proxy.base
        expected_uid = pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 else os.geteuid()
        st = os.stat(base)
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == expected_uid
        for name in ("http.keytab", "krb5.conf", "httpd.conf"):
            fst = os.stat(base / name)
            assert stat.S_IMODE(fst.st_mode) == 0o600 and fst.st_uid == expected_uid, name
        # httpd and its children run as that user
        for pid in httpd_pids(str(base / "httpd.conf")):
            uids = Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[:2]
            assert uids == [str(expected_uid)] * 2, (pid, uids)
        # everything it reads is in that folder (modules aside): no system Apache config,
        # and the replay cache is not in /var/tmp
        environ = Path(f"/proc/{proxy.process.pid}/environ").read_bytes().split(b"\0")
        assert f"KRB5_CONFIG={base / 'krb5.conf'}".encode() in environ
        assert f"KRB5RCACHEDIR={base / 'rcache'}".encode() in environ
        conf = (base / "httpd.conf").read_text()
        assert "Include" not in conf and "/etc/" not in conf
        argv = proxy.process.record.argv
        assert argv[argv.index("-f") + 1] == str(base / "httpd.conf")
    finally:
        proxy.stop()
    assert wait_gone(str(base / "httpd.conf")) == []
    if os.geteuid() == 0:  # the mkdtemp folder is gone; the logs were kept where asked
        assert not base.exists()
        assert (tmp_path / "proxy" / "error.log").is_file()


def test_failed_start_leaves_nothing_running(
    kdc: Kdc, upstream: tuple[str, list[dict[str, str]]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """httpd starts and exits at once (its port is taken after the check): a typed error
    with httpd's own words, and nothing left."""
    url, _ = upstream
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    port = squatter.getsockname()[1]
    monkeypatch.setattr(spnego_module, "check_port_free", lambda *a, **k: None)
    proxy = SpnegoProxy(kdc, url, tmp_path / "proxy", port=port)
    try:
        with pytest.raises(ServerStartError) as info:
            proxy.start()
    finally:
        squatter.close()
    assert "could not bind to address" in str(info.value), info.value
    assert proxy.process is None and proxy.config is not None
    assert wait_gone(str(proxy.config)) == []
    assert not proxy.config.exists() or os.geteuid() != 0  # the mkdtemp folder is gone too


CHILD = """
import json, os, signal, sys
from pathlib import Path
from mlflow_client_env_sandbox.kdc import Kdc
from mlflow_client_env_sandbox.spnego_proxy import SpnegoProxy
kdc = Kdc(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
proxy = SpnegoProxy(kdc, sys.argv[4], Path(sys.argv[5]))
proxy.start()
print(json.dumps({"pid": proxy.process.pid, "base": str(proxy.base)}), flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no stop(), no finally: the parent just dies
"""


def test_proxy_dies_with_the_process_that_started_it(
    kdc: Kdc, upstream: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    url, _ = upstream
    code = CHILD.replace("sys.argv[1]", repr(str(kdc.base))).replace(
        "int(sys.argv[2])", str(kdc.port)
    )
    code = code.replace("sys.argv[3]", repr(kdc.realm)).replace("sys.argv[4]", repr(url))
    code = code.replace("sys.argv[5]", repr(str(tmp_path / "proxy")))
    out = run_python(code, {"PYTHONPATH": str(Path.cwd())}, timeout=60)
    assert out.returncode == -signal.SIGKILL, out.stderr[-2000:]
    started = json.loads(out.stdout.strip().splitlines()[-1])
    try:
        assert wait_gone(f"{started['base']}/httpd.conf") == [], "httpd outlived its parent"
    finally:
        shutil.rmtree(started["base"], ignore_errors=True)  # SIGKILL left the folder


def test_sandbox_starts_and_stops_the_proxy(tmp_path: Path, sandbox_assets: Assets) -> None:
    """Opt-in: ``ensure_spnego_proxy`` starts the KDC, MLflow and the proxy, the state file
    records it (``sandbox down`` stops it from another process), ``close()`` stops it."""
    sb = Sandbox(tmp_path / "state", assets=sandbox_assets)
    try:
        proxy = sb.ensure_spnego_proxy()
        assert sb.ensure_spnego_proxy() is proxy  # once
        state = load_state(tmp_path / "state")
        assert "spnego-proxy" in [p.name for p in state.processes]
        assert state.info["spnego_proxy"]["url"] == proxy.url
        marker = f"{proxy.base}/httpd.conf"
        assert httpd_pids(marker)
        resp = requests.get(f"{proxy.url}/health", timeout=30)
        assert resp.status_code == 401 and resp.headers["WWW-Authenticate"] == "Negotiate"
    finally:
        sb.close()
    assert wait_gone(marker) == []
    assert sb.spnego_proxy is None
    assert "spnego-proxy" not in [p.name for p in load_state(tmp_path / "state").processes]
    assert (tmp_path / "state" / STATE_FILE).exists()


def test_the_session_sandbox_proxy_fronts_mlflow(
    sandbox: Sandbox, mlflow_server: MlflowControl, kdc: Kdc, alice: Path
) -> None:
    proxy = sandbox.ensure_spnego_proxy()
    url = f"{proxy.url}/api/2.0/mlflow/experiments/get?experiment_id=0"
    assert requests.get(url, timeout=30).status_code == 401
    resp = requests.get(url, auth=HTTPSPNEGOAuth(), timeout=30)
    assert resp.status_code == 200 and resp.json()["experiment"]["experiment_id"] == "0"
    line = log_line(
        proxy.access_log, "GET /api/2.0/mlflow/experiments/get?experiment_id=0 ", " 200 "
    )
    assert line.split()[2] == "alice@SANDBOX.TEST"
