"""SPNEGO to a Kerberos-protected tracking server (issue 15), against the real proxy.

The proxy is the sandbox's Apache httpd with mod_auth_gssapi (``HTTP/localhost`` in a
keytab from the sandbox KDC) in front of the sandbox's ``mlflow server``. MLflow's own
client runs in a fresh interpreter, finds the plugin through its entry point
(``MLFLOW_TRACKING_AUTH=kerberos``) and keeps its default retries (7, with back-off):
a test that hangs fails at the subprocess timeout. Every failure must come back as a
typed error (``MlflowClientEnvError``) with the problem and the fix.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env.findings import Finding
from mlflow_client_env.kerberos.ticket import ticket_status
from mlflow_client_env.tracking_auth import (
    PROVIDER_NAME,
    SPN_VAR,
    NoTicketError,
    ServicePrincipal,
    TrackingAuthConfigError,
    environment_for,
    service_principal,
    tracking_auth,
)
from mlflow_client_env.tracking_auth import check as auth_check
from mlflow_client_env.tracking_auth.spnego import (
    KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN,
    KRB5KRB_AP_ERR_SKEW,
    classify,
    krb_error_code,
)
from mlflow_client_env_sandbox.cluster import Sandbox
from mlflow_client_env_sandbox.kdc import Kdc
from mlflow_client_env_sandbox.ports import free_port, free_ports
from mlflow_client_env_sandbox.spnego_proxy import SpnegoProxy
from tests.conftest import Jupyter
from tests.helpers_cli import doctor_check
from tests.sandbox.fixtures import Cluster, MlflowControl, hdfs_cat
from tests.sandbox.helpers import ClientEnv, base_env, run_python

# ------------------------------------------------------------------ fixtures and helpers


@pytest.fixture(scope="module")
def proxy(sandbox: Sandbox, mlflow_server: MlflowControl) -> SpnegoProxy:
    """The sandbox's SPNEGO front (started once, stopped with the sandbox)."""
    return sandbox.ensure_spnego_proxy()


def through_proxy(client: ClientEnv, proxy: SpnegoProxy, **extra: str) -> dict[str, str]:
    """The client's environment with MLflow pointed at the proxy and the plugin on."""
    return {
        **base_env(),
        **client.env,
        "MLFLOW_TRACKING_URI": proxy.url,
        "MLFLOW_TRACKING_AUTH": PROVIDER_NAME,
        **extra,
    }


#: MLflow's client asks the server something; prints what happened as JSON.
ASK = """
import json, sys
from mlflow import MlflowClient
from mlflow_client_env.errors import MlflowClientEnvError

def chain(exc):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__

try:
    MlflowClient().search_experiments()
    print(json.dumps({"ok": True}))
except Exception as exc:
    typed = next((e for e in chain(exc) if isinstance(e, MlflowClientEnvError)), None)
    print(json.dumps({
        "ok": False, "raised": type(exc).__name__, "message": str(exc),
        "typed": type(typed).__name__ if typed else None,
        "code": getattr(typed, "code", None),
        "problem": typed.problem if typed else None, "fix": typed.fix if typed else None,
    }))
"""


def ask(env: dict[str, str], timeout: float = 90.0) -> dict[str, object]:
    """Run ASK with ``env``; a hang fails at ``timeout`` (MLflow's retries would take ~4 min)."""
    out = run_python(ASK, env, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def access_lines(proxy: SpnegoProxy, needle: str, deadline: float = 10.0) -> list[str]:
    """Lines of the proxy's access log containing ``needle``; httpd writes a line after the
    response, so wait (bounded) for one to appear."""
    end = time.monotonic() + deadline
    while True:
        lines = [ln for ln in proxy.access_log.read_text().splitlines() if needle in ln]
        if lines or time.monotonic() > end:
            return lines
        time.sleep(0.05)


def skewed_ccache(src: Path, dst: Path, seconds: int) -> Path:
    """A copy of the FILE cache ``src`` whose header tells libkrb5 that the KDC's clock is
    ``seconds`` ahead (MIT's DeltaTime tag, which libkrb5 applies to every timestamp it sends
    with kdc_timesync, the default): this machine's clock as seen by the KDC is off by that."""
    data = src.read_bytes()
    assert data[:2] == b"\x05\x04", "not a version 4 FILE cache"
    header_len = struct.unpack(">H", data[2:4])[0]
    tag = struct.pack(">HHii", 1, 8, seconds, 0)
    dst.write_bytes(b"\x05\x04" + struct.pack(">H", len(tag)) + tag + data[4 + header_len :])
    dst.chmod(0o600)
    return dst


def two_realm_krb5_conf(home: Kdc, other: Kdc, dest: Path) -> Path:
    """A krb5.conf whose default realm is ``other``'s, knowing both KDCs, with
    ``localhost`` (the proxy) in ``home``'s realm, and no trust between the two."""
    dest.write_text(
        f"""[libdefaults]
    default_realm = {other.realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
[realms]
    {home.realm} = {{
        kdc = 127.0.0.1:{home.port}
    }}
    {other.realm} = {{
        kdc = 127.0.0.1:{other.port}
    }}
[domain_realm]
    localhost = {home.realm}
"""
    )
    return dest


@dataclass
class Recorder:
    """A local HTTP server that answers every request 401 + ``WWW-Authenticate: Negotiate``
    (it invites a token) and records the headers it got."""

    host: str
    port: int
    headers: list[dict[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture
def recorder() -> Iterator[Callable[[str], Recorder]]:
    servers: list[ThreadingHTTPServer] = []

    def start(host: str) -> Recorder:
        rec = Recorder(host, 0)

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                rec.headers.append(dict(self.headers))
                body = b"who are you?"
                self.send_response(401)
                self.send_header("WWW-Authenticate", "Negotiate")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer((host, 0), Handler)
        rec.port = int(server.server_address[1])
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return rec

    try:
        yield start
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


# ------------------------------------------------------------------ with a ticket: a whole run

CLIENT = """
import json, sys, tempfile, pathlib
import mlflow_client_env
mlflow_client_env.setup(experiment=sys.argv[1])
import mlflow
with mlflow.start_run(run_name="through_spnego") as run:
    mlflow.log_param("param_1", 1)
    mlflow.log_metric("my_metric", 2.5)
    cfg = pathlib.Path(tempfile.mkdtemp()) / "config.yaml"
    cfg.write_text("auth: kerberos\\n")
    mlflow.log_artifact(str(cfg))
jvm = b"/libjvm.so" in pathlib.Path("/proc/self/maps").read_bytes()
print(json.dumps({"run_id": run.info.run_id, "artifact_uri": run.info.artifact_uri, "jvm": jvm}))
"""


@pytest.mark.parametrize("hdfs_client", ["jvm", "native"])
def test_a_run_is_logged_through_the_kerberos_proxy(
    proxy: SpnegoProxy, cluster: Cluster, client_env: ClientEnv, hdfs_client: str
) -> None:
    """Params, metrics and an artifact through the proxy; the artifact goes to Kerberized
    HDFS through libhdfs (jvm) or hdfs-native (native: no JVM in the process)."""
    env = through_proxy(client_env, proxy, MLFLOW_CLIENT_ENV_HDFS_CLIENT=hdfs_client)
    name = f"'through_spnego_{hdfs_client}'"
    out = run_python(CLIENT.replace("sys.argv[1]", name), env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    # what the server stored, asked directly (not through the proxy)
    from mlflow import MlflowClient

    run = MlflowClient(cluster.mlflow_server.tracking_uri).get_run(got["run_id"])
    assert run.data.params == {"param_1": "1"}
    assert run.data.metrics == {"my_metric": 2.5}
    # MLflow takes mlflow.user from the client (getpass), never from a proxy header
    assert run.data.tags["mlflow.user"] != "alice@SANDBOX.TEST"
    assert got["artifact_uri"].startswith(cluster.mlflow_server.artifact_root)
    assert got["jvm"] is (hdfs_client == "jvm"), got
    cat = hdfs_cat(cluster.hdfs, f"{got['artifact_uri']}/config.yaml", client_env.ccache)
    assert cat == "auth: kerberos\n"
    # every REST call of the run went through the proxy, as alice
    created = access_lines(proxy, "POST /api/2.0/mlflow/runs/create")
    assert created and all(" alice@SANDBOX.TEST [" in ln for ln in created), created
    logged = access_lines(proxy, "/api/2.0/mlflow/runs/log-")
    assert logged and all(" 200 " in ln and "alice@SANDBOX.TEST" in ln for ln in logged), logged


def test_without_the_plugin_the_proxy_refuses(proxy: SpnegoProxy, client_env: ClientEnv) -> None:
    """The control for the test above: the same client without MLFLOW_TRACKING_AUTH gets 401."""
    env = through_proxy(client_env, proxy)
    del env["MLFLOW_TRACKING_AUTH"]
    got = ask(env)
    assert got["ok"] is False and "401" in str(got["message"]), got


def test_a_launcher_kernel_logs_through_the_proxy(
    proxy: SpnegoProxy, cluster: Cluster, client_env: ClientEnv, jupyter: Jupyter,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    """The quickstart notebook in a launcher kernel whose tracking server is the proxy,
    installed with --tracking-auth kerberos (the launcher exports MLFLOW_TRACKING_AUTH)."""
    import nbformat
    from nbclient import NotebookClient

    from tests.test_kernel import run_cli
    from tests.test_kernel_sandbox import NOTEBOOK, outputs_text

    for key, value in client_env.env.items():
        monkeypatch.setenv(key, value)
    experiment = "through_spnego_kernel"
    rc = run_cli([
        "install-kernel", "--prefix", str(jupyter.prefix), "--tracking-uri", proxy.url,
        "--experiment", experiment, "--tracking-auth", PROVIDER_NAME,
    ])  # fmt: skip
    assert rc == 0
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, kernel_name="mlflow", timeout=600, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    text = outputs_text(nb)
    run_id = re.search(r"run id: ([0-9a-f]{32})", text)
    assert run_id, text
    from mlflow import MlflowClient

    run = MlflowClient(cluster.mlflow_server.tracking_uri).get_run(run_id.group(1))
    assert run.data.params == {"param_1": "1"} and run.info.status == "FINISHED"
    exp = MlflowClient(cluster.mlflow_server.tracking_uri).get_experiment(run.info.experiment_id)
    assert exp.name == experiment
    created = access_lines(proxy, "POST /api/2.0/mlflow/runs/create")
    assert any(" alice@SANDBOX.TEST [" in ln and " 200 " in ln for ln in created), created


# ------------------------------------------------------------------ failures, each typed


def test_no_ticket_is_d8_with_the_fix(
    proxy: SpnegoProxy, client_env: ClientEnv, tmp_path: Path
) -> None:
    env = through_proxy(client_env, proxy, KRB5CCNAME=f"FILE:{tmp_path / 'no-such-cache'}")
    got = ask(env)
    assert got["ok"] is False
    assert got["raised"] == got["typed"] == "NoTicketError", got  # from get_auth: unwrapped
    assert got["code"] == "tracking-server.spnego-no-ticket"
    assert "catalog D8" in str(got["problem"]) and "no-such-cache" in str(got["problem"])
    assert "kinit" in str(got["fix"])


def test_expired_ticket_is_d8(
    proxy: SpnegoProxy, cluster: Cluster, client_env: ClientEnv, tmp_path: Path
) -> None:
    ccache = tmp_path / "krb5cc_short"
    cluster.kdc.kinit("alice", ccache, lifetime="2s")
    env = through_proxy(client_env, proxy, KRB5CCNAME=f"FILE:{ccache}")
    end = time.monotonic() + 30
    while ticket_status(f"FILE:{ccache}", env=env, realms=()).state != "expired":
        assert time.monotonic() < end, "the 2 s ticket did not expire"
        time.sleep(0.25)
    got = ask(env)
    assert got["typed"] == "ExpiredTicketError", got
    assert got["code"] == "tracking-server.spnego-ticket-expired"
    assert "expired" in str(got["problem"]) and "catalog D8" in str(got["problem"])
    assert "kinit" in str(got["fix"])


def test_ticket_of_another_realm_is_wrong_realm(
    proxy: SpnegoProxy, cluster: Cluster, client_env: ClientEnv, tmp_path: Path
) -> None:
    other = Kdc(tmp_path / "other-kdc", free_ports(1)[0], realm="OTHER.TEST")
    other.create()
    other.start()
    try:
        conf = two_realm_krb5_conf(cluster.kdc, other, tmp_path / "krb5.conf")
        ccache = tmp_path / "krb5cc_other"
        other.kinit("alice", ccache, lifetime="1h")
        env = through_proxy(client_env, proxy, KRB5_CONFIG=str(conf), KRB5CCNAME=f"FILE:{ccache}")
        got = ask(env)
    finally:
        other.stop()
    assert got["typed"] == "WrongRealmError", got
    assert got["code"] == "tracking-server.spnego-wrong-realm"
    problem = str(got["problem"])
    assert "HTTP@localhost" in problem and "SANDBOX.TEST" in problem and "OTHER.TEST" in problem
    assert "krbtgt/SANDBOX.TEST@OTHER.TEST" in problem
    assert "kinit you@SANDBOX.TEST" in str(got["fix"])
    # MLflow wrapped it (raised while requests prepared the request): its message says it all
    assert got["raised"] == "MlflowException" and problem in str(got["message"])


def test_unknown_service_principal_names_the_one_tried(
    proxy: SpnegoProxy, client_env: ClientEnv
) -> None:
    """A proxy reached by another name than its keytab's (a load balancer): the default
    principal, HTTP@127.0.0.1, does not exist; the configured one does."""
    by_ip = proxy.url.replace("localhost", "127.0.0.1")
    env = {**through_proxy(client_env, proxy), "MLFLOW_TRACKING_URI": by_ip}
    got = ask(env)
    assert got["typed"] == "UnknownServicePrincipalError", got
    assert got["code"] == "tracking-server.spnego-unknown-principal"
    problem = str(got["problem"])
    assert "HTTP/127.0.0.1@SANDBOX.TEST" in problem  # the principal the KDC was asked for
    assert "HTTP@127.0.0.1 (from default: HTTP@<host of the tracking URI>)" in problem
    assert SPN_VAR in str(got["fix"])
    # the fix works: name the principal in the proxy's keytab
    assert ask({**env, SPN_VAR: "HTTP/localhost@SANDBOX.TEST"}) == {"ok": True}
    assert ask({**env, SPN_VAR: "HTTP@localhost"}) == {"ok": True}


def test_clock_skew_is_named(proxy: SpnegoProxy, client_env: ClientEnv, tmp_path: Path) -> None:
    # the KDC refuses to issue the service ticket
    ccache = skewed_ccache(client_env.ccache, tmp_path / "krb5cc_skewed", 600)
    got = ask(through_proxy(client_env, proxy, KRB5CCNAME=f"FILE:{ccache}"))
    assert got["typed"] == "ClockSkewError", got
    assert got["code"] == "tracking-server.spnego-clock-skew"
    assert "KDC" in str(got["problem"]) and "Clock skew too great" in str(got["problem"])
    assert "clock" in str(got["fix"]) and "chrony" in str(got["fix"])
    # the service ticket is already in the cache: the proxy refuses the token, and says why
    # in the Kerberos error it sends back
    assert ask(through_proxy(client_env, proxy)) == {"ok": True}  # caches HTTP/localhost
    ccache = skewed_ccache(client_env.ccache, tmp_path / "krb5cc_skewed_st", 600)
    got = ask(through_proxy(client_env, proxy, KRB5CCNAME=f"FILE:{ccache}"))
    assert got["typed"] == "ClockSkewError", got
    assert "the proxy's are too far apart" in str(got["problem"])
    assert "Kerberos error 37" in str(got["problem"])  # KRB_AP_ERR_SKEW, from the proxy's token
    assert "Clock skew too great" in proxy.error_log.read_text()


def test_proxy_down_fails_at_once_not_after_mlflows_retries(
    cluster: Cluster, client_env: ClientEnv, tmp_path: Path
) -> None:
    down = SpnegoProxy(cluster.kdc, cluster.mlflow_server.tracking_uri, tmp_path / "proxy")
    down.start()
    down.stop()  # it was there; now nothing listens on its port
    env = {**base_env(), **client_env.env, "MLFLOW_TRACKING_URI": down.url,
           "MLFLOW_TRACKING_AUTH": PROVIDER_NAME}  # fmt: skip
    got = ask(env, timeout=60)  # MLflow's own retries would take about 4 minutes
    assert got["typed"] == "ProxyUnreachableError", got
    assert got["code"] == "tracking-server.spnego-proxy-unreachable"
    assert f"localhost:{down.port}" in str(got["problem"])
    assert "refused" in str(got["problem"]).lower()


# ------------------------------------------------------------------ credentials stay home


def test_a_redirect_to_another_origin_gets_no_negotiate(
    cluster: Cluster, client_env: ClientEnv, tmp_path: Path, recorder: Callable[[str], Recorder]
) -> None:
    """The proxy authenticates the request, then redirects it. The other origin asks for
    Negotiate too: it must get no token, neither on another port of the same host (where
    HTTP@localhost would be valid) nor on another host with a configured principal (where
    requests-gssapi would send a token for *our* service)."""
    same_host = recorder("localhost")
    other_host = recorder("127.0.0.2")
    proxy = SpnegoProxy(
        cluster.kdc, cluster.mlflow_server.tracking_uri, tmp_path / "proxy",
        redirects={"/port/": f"{same_host.url}/elsewhere", "/host/": f"{other_host.url}/x"},
    )  # fmt: skip
    with proxy:
        for path, extra in (("/port", {}), ("/host", {SPN_VAR: "HTTP@localhost"})):
            base = proxy.url if path == "/port" else proxy.url.replace("localhost", "127.0.0.1")
            env = {**through_proxy(client_env, proxy, **extra), "MLFLOW_TRACKING_URI": base + path}
            got = ask(env)
            assert got["ok"] is False and "401" in str(got["message"]), got
        # the proxy did get a token and authenticated alice before it redirected
        for path in ("/port/", "/host/"):
            lines = access_lines(proxy, f"POST {path}api/2.0/mlflow/experiments/search")
            assert any(" alice@SANDBOX.TEST [" in ln and " 307 " in ln for ln in lines), lines
    for rec in (same_host, other_host):
        assert rec.headers, f"the redirect to {rec.url} was not followed"
        assert [h.get("Authorization") for h in rec.headers] == [None] * len(rec.headers)


def test_same_origin_redirect_still_authenticates(
    cluster: Cluster, client_env: ClientEnv, tmp_path: Path
) -> None:
    proxy = SpnegoProxy(cluster.kdc, cluster.mlflow_server.tracking_uri, tmp_path / "proxy")
    proxy.redirects = {"/old/": f"{proxy.url}/"}  # the same origin, another path
    with proxy:
        env = {**through_proxy(client_env, proxy), "MLFLOW_TRACKING_URI": proxy.url + "/old"}
        assert ask(env) == {"ok": True}
        lines = access_lines(proxy, "POST /old/api/2.0/mlflow/experiments/search")
        assert any(" 307 " in ln and "alice@SANDBOX.TEST" in ln for ln in lines), lines
        moved = access_lines(proxy, "POST /api/2.0/mlflow/experiments/search")
        assert any(" 200 " in ln and "alice@SANDBOX.TEST" in ln for ln in moved), moved


def test_mutual_authentication_with_the_proxy(
    proxy: SpnegoProxy, client_env: ClientEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mod_auth_gssapi answers with its own token; the plugin checks it (the context ends
    complete, both sides proven)."""
    import requests

    from mlflow_client_env.tracking_auth.spnego import KerberosAuth

    for key, value in client_env.env.items():
        monkeypatch.setenv(key, value)
    auth = KerberosAuth()
    url = f"{proxy.url}/api/2.0/mlflow/experiments/get?experiment_id=0"
    resp = requests.get(url, auth=auth, timeout=30)
    assert resp.status_code == 200
    assert resp.headers["WWW-Authenticate"].startswith("Negotiate ")
    assert auth.context["localhost"].complete


def test_an_impostor_failing_mutual_authentication_is_refused(
    client_env: ClientEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server at the configured origin that takes the token and answers 200 with a
    Negotiate token of its own that is not the service's: its answer is not trusted."""
    import base64

    import requests

    from mlflow_client_env.tracking_auth import MutualAuthError
    from mlflow_client_env.tracking_auth.spnego import KerberosAuth

    for key, value in client_env.env.items():
        monkeypatch.setenv(key, value)
    got: list[str | None] = []

    class Impostor(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            got.append(self.headers.get("Authorization"))
            forged = base64.b64encode(b"\xa1\x03\x30\x01\x00" + bytes(40)).decode()
            self.send_response(200)
            self.send_header("WWW-Authenticate", f"Negotiate {forged}")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("localhost", 0), Impostor)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://localhost:{server.server_address[1]}/api/2.0/mlflow/experiments/get"
        with pytest.raises(MutualAuthError, match="did not prove it holds the key"):
            requests.get(url, auth=KerberosAuth(), timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert got and str(got[0]).startswith("Negotiate ")  # it did get a (real) token


# ------------------------------------------------------------------ the doctor's and setup()'s checks


def test_check_server_names_each_case(
    proxy: SpnegoProxy, cluster: Cluster, client_env: ClientEnv, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    for key, value in client_env.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFLOW_TRACKING_AUTH", PROVIDER_NAME)

    def codes(findings: tuple[Finding, ...]) -> list[str]:
        return [f.code for f in findings]

    ok = auth_check.check_server(proxy.url)
    assert codes(ok) == ["tracking-server.spnego-ok"], ok
    assert "alice@SANDBOX.TEST" in ok[0].summary and "HTTP@localhost" in ok[0].summary
    # a server that does not ask: nothing to do
    plain = auth_check.check_server(cluster.mlflow_server.tracking_uri)
    assert codes(plain) == ["tracking-server.spnego-not-asked"] and plain[0].status == "ok", plain
    # no ticket: the server wants Kerberos, you have none (D8), with the fix
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'none'}")
    none = auth_check.check_server(proxy.url)
    assert codes(none) == ["tracking-server.spnego-no-ticket"] and none[0].status == "error", none
    assert "wants Kerberos" in none[0].summary and "D8" in none[0].summary
    assert none[0].fix and "kinit" in none[0].fix
    # a ticket, but the principal tried does not exist: which one
    monkeypatch.setenv("KRB5CCNAME", client_env.env["KRB5CCNAME"])
    by_ip = auth_check.check_server(proxy.url.replace("localhost", "127.0.0.1"))
    assert codes(by_ip) == ["tracking-server.spnego-unknown-principal"], by_ip
    assert "HTTP/127.0.0.1@SANDBOX.TEST" in by_ip[0].summary
    # clock skew
    skewed = skewed_ccache(client_env.ccache, tmp_path / "skewed", -900)
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{skewed}")
    skew = auth_check.check_server(proxy.url)
    assert codes(skew) == ["tracking-server.spnego-clock-skew"], skew
    # the ticket works but MLflow will not use it: say how to turn the plugin on
    monkeypatch.setenv("KRB5CCNAME", client_env.env["KRB5CCNAME"])
    monkeypatch.delenv("MLFLOW_TRACKING_AUTH")
    off = auth_check.check_server(proxy.url)
    assert codes(off) == ["tracking-server.spnego-ok", "tracking-server.spnego-not-enabled"], off
    assert off[1].status == "warn" and off[1].fix and "tracking_auth" in off[1].fix
    # down
    port = free_port()
    down = auth_check.check_server(f"http://localhost:{port}")
    assert codes(down) == ["tracking-server.spnego-proxy-unreachable"], down


def test_spnego_get_asks_a_protected_server(
    proxy: SpnegoProxy, client_env: ClientEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What tracking.artifact_store needs when the server is behind Kerberos."""
    for key, value in client_env.env.items():
        monkeypatch.setenv(key, value)
    url = f"{proxy.url}/api/2.0/mlflow/experiments/get?experiment_id=0"
    resp = auth_check.spnego_get(url)
    assert resp.status_code == 200
    assert resp.json()["experiment"]["artifact_location"].startswith("hdfs://")
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'none'}")
    with pytest.raises(NoTicketError, match="catalog D8"):
        auth_check.spnego_get(url)


def test_setup_findings_without_network(
    client_env: ClientEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in client_env.env.items():
        monkeypatch.setenv(key, value)
    good = auth_check.setup_findings("kerberos", "http://localhost:1")
    assert [f.code for f in good] == ["tracking-server.spnego-enabled"], good
    assert "alice@SANDBOX.TEST" in good[0].summary and "HTTP@localhost" in good[0].summary
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'none'}")
    bad = auth_check.setup_findings("kerberos", "http://localhost:1")
    assert [f.code for f in bad] == ["tracking-server.spnego-no-ticket"] and bad[
        0
    ].status == "error"
    assert auth_check.setup_findings(None, "http://localhost:1") == ()
    assert auth_check.setup_findings("none", "http://localhost:1") == ()


SETUP_SCRIPT = """
import json, os, sys
import mlflow_client_env
try:
    r = mlflow_client_env.setup(tracking_uri=sys.argv[1], tracking_auth=sys.argv[2])
except mlflow_client_env.MlflowClientEnvError as exc:
    print(json.dumps({"error": type(exc).__name__, "problem": exc.problem}))
else:
    print(json.dumps({"findings": [[f.code, f.status] for f in r.findings],
                      "auth": os.environ.get("MLFLOW_TRACKING_AUTH")}))
"""


def test_setup_tracking_auth_kerberos(client_env: ClientEnv, tmp_path: Path) -> None:
    """setup(tracking_auth="kerberos") exports MLflow's variable and reports the ticket the
    plugin will use (no network); without a ticket that is D8, before any request; a value
    that is no mode is a typed error."""

    def run(auth: str, **extra: str) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-c", SETUP_SCRIPT, "http://localhost:1", auth],
            env={**client_env.env, **extra}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    good = run(PROVIDER_NAME)
    assert good["auth"] == PROVIDER_NAME
    assert ["tracking-server.spnego-enabled", "ok"] in good["findings"], good
    bad = run(PROVIDER_NAME, KRB5CCNAME=f"FILE:{tmp_path / 'none'}")
    assert ["tracking-server.spnego-no-ticket", "error"] in bad["findings"], bad
    wrong = run("negotiate")
    assert wrong["error"] == "TrackingAuthConfigError" and "negotiate" in wrong["problem"]
    # "none" switches off an inherited MLFLOW_TRACKING_AUTH (empty: MLflow uses no plugin)
    off = run("none", MLFLOW_TRACKING_AUTH=PROVIDER_NAME)
    assert off["auth"] == "" and not any(
        c.startswith("tracking-server.") for c, _ in off["findings"]
    )


def test_a_host_without_hadoop_asks_the_kerberos_server_with_spnego(
    proxy: SpnegoProxy, client_env: ClientEnv, tmp_path: Path
) -> None:
    """No Hadoop here: env asks the server where the artifacts go (H4) the way MLflow's
    requests will, with SPNEGO when tracking_auth is kerberos. The sandbox's server keeps
    them on hdfs://, so Hadoop is needed after all, and env says so from the server's
    answer; without the setting the proxy's 401 is all it gets."""
    (tmp_path / "parcels").mkdir()
    env = {
        **base_env(),
        "KRB5CCNAME": client_env.env["KRB5CCNAME"],
        "KRB5_CONFIG": client_env.env["KRB5_CONFIG"],
        "MLFLOW_TRACKING_URI": proxy.url,
        "MLFLOW_CLIENT_ENV_PARCELS_ROOT": str(tmp_path / "parcels"),
        "MLFLOW_CLIENT_ENV_CONFIG": str(tmp_path / "user.toml"),
        "MLFLOW_CLIENT_ENV_SITE_CONFIG": str(tmp_path / "site.toml"),
    }

    def env_json(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlflow_client_env", "env", "--json", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    asked = env_json("--tracking-auth", PROVIDER_NAME)
    assert asked.returncode == 1, asked.stderr
    assert "artifacts are at hdfs://" in asked.stderr and "401" not in asked.stderr
    plain = env_json()
    assert plain.returncode == 1 and "HTTP 401" in plain.stderr, plain.stderr


# ------------------------------------------------------------------ settings


def test_service_principal_default_and_override(clean_env: dict[str, str]) -> None:
    assert service_principal("proxy.example.com", {}) == ServicePrincipal(
        "HTTP@proxy.example.com", "default: HTTP@<host of the tracking URI>"
    )
    lb = service_principal("lb.example.com", {SPN_VAR: "HTTP/node1.example.com@EXAMPLE.COM"})
    assert lb.name == "HTTP/node1.example.com@EXAMPLE.COM" and not lb.hostbased
    assert lb.source == f"environment {SPN_VAR}"
    for bad in ("HTTP", "HTTP@", "HTTP @host", "HTTP@a@b", "@host", "HTTP@ho\nst"):
        with pytest.raises(TrackingAuthConfigError, match="neither service@host"):
            service_principal("h", {SPN_VAR: bad})


def test_service_principal_from_the_site_config(clean_env: dict[str, str], tmp_path: Path) -> None:
    site = Path(clean_env["MLFLOW_CLIENT_ENV_SITE_CONFIG"])
    site.write_text('tracking_spn = "HTTP@lb.example.com"\ntracking_auth = "kerberos"\n')
    spn = service_principal("node1.example.com", clean_env)
    assert spn == ServicePrincipal("HTTP@lb.example.com", f"site config {site}")
    assert tracking_auth(None, clean_env) == ("kerberos", f"site config {site}")


def test_tracking_auth_setting(clean_env: dict[str, str]) -> None:
    assert tracking_auth(None, {}) is None
    assert tracking_auth("kerberos", {}) == ("kerberos", "setup(tracking_auth=...)")
    assert tracking_auth(None, {"MLFLOW_TRACKING_AUTH": "kubernetes"}) == (
        "kubernetes",
        "environment MLFLOW_TRACKING_AUTH",
    )
    with pytest.raises(TrackingAuthConfigError, match="not one of kerberos, none"):
        tracking_auth("negotiate", {})
    assert environment_for("kerberos") == {"MLFLOW_TRACKING_AUTH": "kerberos"}
    assert environment_for("none") == environment_for(None) == {}


def test_classify_real_krb5_codes() -> None:
    spn = ServicePrincipal("HTTP@lb", "x")
    realm = classify(
        KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN,
        "Server krbtgt/CORP.TEST@SANDBOX.TEST not found in Kerberos database",
        spn,
        "alice@SANDBOX.TEST",
    )
    assert realm.code == "tracking-server.spnego-wrong-realm" and "kinit you@CORP.TEST" in realm.fix
    unknown = classify(
        KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN,
        "Server HTTP/lb@SANDBOX.TEST not found in Kerberos database",
        spn,
        "alice@SANDBOX.TEST",
    )
    assert unknown.code == "tracking-server.spnego-unknown-principal"
    assert "HTTP/lb@SANDBOX.TEST" in unknown.problem
    assert classify(KRB5KRB_AP_ERR_SKEW, "Clock skew too great", spn, None).code == (
        "tracking-server.spnego-clock-skew"
    )
    other = classify(12345, "something new", spn, None)
    assert other.code == "tracking-server.spnego-failed" and "something new" in other.problem


#: What mod_auth_gssapi sent back for a token stamped 10 minutes ahead (SPNEGO negTokenResp,
#: reject, around the KRB-ERROR), and the AP-REP of a good exchange, both from the sandbox.
SKEW_TOKEN = (
    "oXUwc6ADCgEComwEamBoBgkqhkiG9xIBAgIDAH5ZMFegAwIBBaEDAgEepBEYDzIwMjYxMTMwMDg0ODIyWqUFAgMJ0n2m"
    "AwIBJakOGwxTQU5EQk9YLlRFU1SqHDAaoAMCAQGhEzARGwRIVFRQGwlsb2NhbGhvc3Q="
)
AP_REP_TOKEN = (
    "oYG3MIG0oAMKAQChCwYJKoZIhvcSAQICooGfBIGcYIGZBgkqhkiG9xIBAgICAG+BiTCBhqADAgEFoQMCAQ+iejB4oAMC"
    "ARKicQRvZTmVtds65+jQZTGRZ5lSGdP3t1Klk8h2wT3g1l6/Z2O7S+OFI80ZO/RSvf4If8Fj9/83j9l0ECHsPyRJIa0l"
    "p6pLgkLczFAli44n6lHY5YgZQu9TLTmtfMyQ2es99Ls6SZPDQ7bXDTI3p0JbuP2i"
)


def test_krb_error_code_of_a_proxys_token() -> None:
    import base64

    skew = base64.b64decode(SKEW_TOKEN)
    assert krb_error_code(skew) == 37
    assert krb_error_code(base64.b64decode(AP_REP_TOKEN)) is None  # success: no error
    for cut in range(len(skew)):  # truncated anywhere: no answer, no exception
        assert krb_error_code(skew[:cut]) in (None, 37)
    assert krb_error_code(b"") is None and krb_error_code(b"\x00" * 64) is None


# ------------------------------------------------------------------ the doctor


def test_the_doctor_asks_the_proxy_with_spnego(
    proxy: SpnegoProxy, client_env: ClientEnv, tmp_path: Path
) -> None:
    """doctor's tracking-server check against the real proxy: with a ticket, the server
    answers and the SPNEGO exchange is ok; without one, D8 with the fix, exit 1; with a
    ticket but MLflow not told to use it, the server's 401 Negotiate is explained."""
    code, found = doctor_check("tracking-server", through_proxy(client_env, proxy))
    assert code == 0, found
    assert found["tracking-server.ok"]["status"] == "ok"
    assert found["tracking-server.spnego-ok"]["status"] == "ok", found

    code, found = doctor_check(
        "tracking-server",
        through_proxy(client_env, proxy, KRB5CCNAME=f"FILE:{tmp_path / 'no-such-cache'}"),
    )
    assert code == 1, found
    d8 = found["tracking-server.spnego-no-ticket"]
    assert d8["status"] == "error" and "catalog D8" in d8["summary"] and "kinit" in d8["fix"]
    assert "tracking-server.unreachable" not in found  # not "does not answer"

    env = through_proxy(client_env, proxy)
    del env["MLFLOW_TRACKING_AUTH"]
    code, found = doctor_check("tracking-server", env)
    assert code == 1, found
    assert found["tracking-server.kerberos-not-used"]["status"] == "error", found
    assert found["tracking-server.spnego-not-enabled"]["status"] == "warn", found
