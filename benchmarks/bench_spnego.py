"""Benchmark: what SPNEGO costs MLflow's client per request, behind the sandbox's Apache proxy.

Run: .venv/bin/python benchmarks/bench_spnego.py [--runs 60] [--trials 8] [--json]

Starts a throwaway KDC, an ``mlflow server`` (sqlite) and the sandbox's SPNEGO proxy
(``mlflow_client_env_sandbox.spnego_proxy``: Apache httpd + mod_auth_gssapi) with three
paths to the same server: ``/open`` (no authentication: the baseline), ``/`` (Negotiate on
every request, mod_auth_gssapi's default) and ``/bound`` (``GssapiConnectionBound On``:
once authenticated, a keep-alive connection stays authenticated).

Each row times ``MlflowClient(uri).get_experiment("0")``, MLflow's own client with its
shared, cached ``requests.Session`` (``MLFLOW_TRACKING_AUTH=kerberos``), except the rows
marked *requests*, which time one GET of MLflow's ``/health`` (its cheapest answer, so
what the proxy adds stands out) with a shared session against a new session (a new TCP
connection) per request. "first" is the first request after a fresh ``kinit`` (no
service ticket in the cache yet: it includes the TGS exchange with the KDC, and the
plugin's ticket check); "following" is the median of the requests after it. "exchanges"
counts the HTTP requests httpd logged per call (2: a 401 first, then the token).

Modes of the plugin: *opportunistic* (the default: the token goes with the first request),
*after 401* (requests-gssapi's default, what a plugin returning a bare
``HTTPSPNEGOAuth()`` does: every request is first refused).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlflow_client_env_sandbox.kdc import Kdc  # noqa: E402
from mlflow_client_env_sandbox.mlflow_server import MlflowServer  # noqa: E402
from mlflow_client_env_sandbox.ports import free_port  # noqa: E402
from mlflow_client_env_sandbox.spnego_proxy import SpnegoProxy  # noqa: E402

#: calls per row whose lines in httpd's access log are counted
CALLS_LOGGED = 30


def ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


class Bench:
    def __init__(self, base: Path, runs: int, trials: int) -> None:
        self.base = base
        self.runs = runs
        self.trials = trials
        self.kdc = Kdc(base / "kdc", free_port())
        self.server = MlflowServer(base / "mlflow", free_port(), f"file://{base / 'artifacts'}")
        self.proxy: SpnegoProxy | None = None
        self.kinits = 0

    def start(self) -> SpnegoProxy:
        self.server.start()
        self.kdc.create()
        self.kdc.start()
        self.server.wait_ready()
        self.proxy = SpnegoProxy(
            self.kdc, self.server.tracking_uri, self.base / "proxy",
            open_path="/open", bound_path="/bound",
        )  # fmt: skip
        self.proxy.start()
        os.environ["KRB5_CONFIG"] = str(self.kdc.krb5_conf)
        self.fresh_ticket()
        return self.proxy

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        self.server.stop()
        self.kdc.stop()

    def fresh_ticket(self) -> None:
        """A new cache with a TGT only (the next request asks the KDC for a service ticket),
        and the plugin's per-process memory of tickets and origins forgotten."""
        from mlflow_client_env.tracking_auth import spnego

        self.kinits += 1
        cache = self.base / f"krb5cc_{self.kinits}"
        self.kdc.kinit("alice", cache, lifetime="1h")
        os.environ["KRB5CCNAME"] = f"FILE:{cache}"
        spnego._TICKETS.clear()
        spnego._REACHED.clear()

    def log(self) -> list[str]:
        assert self.proxy is not None
        time.sleep(0.3)  # httpd writes a line after its response
        return self.proxy.access_log.read_text().splitlines()


@dataclass
class Scenario:
    name: str
    call: Callable[[], object]
    kerberos: bool  # needs a ticket (a fresh one for "first")
    first: list[float] = field(default_factory=list)
    following: list[float] = field(default_factory=list)
    exchanges: float = 0.0


def mlflow_call(uri: str, mode: str | None) -> Callable[[], object]:
    """MLflow's client; ``mode``: None (no plugin), "opp" (the plugin as shipped: the token
    with the first request), "after-401" (the token only after a 401, requests-gssapi's
    default, what a plugin returning a bare ``HTTPSPNEGOAuth()`` does)."""
    from mlflow import MlflowClient

    from mlflow_client_env.tracking_auth import KerberosAuthProvider
    from mlflow_client_env.tracking_auth.spnego import KerberosAuth

    shipped = KerberosAuthProvider.get_auth
    client = MlflowClient(tracking_uri=uri)

    def after_401(self: KerberosAuthProvider) -> KerberosAuth:
        shipped(self)  # the same ticket check
        return KerberosAuth(os.environ, opportunistic=False)

    def call() -> object:
        if mode is None:
            os.environ.pop("MLFLOW_TRACKING_AUTH", None)
        else:
            os.environ["MLFLOW_TRACKING_AUTH"] = "kerberos"
        KerberosAuthProvider.get_auth = after_401 if mode == "after-401" else shipped  # type: ignore[method-assign]
        try:
            return client.get_experiment("0")
        finally:
            KerberosAuthProvider.get_auth = shipped  # type: ignore[method-assign]

    return call


def requests_call(url: str, opportunistic: bool | None, shared: bool) -> Callable[[], object]:
    """One GET with requests: ``opportunistic`` None is no auth at all."""
    import requests

    from mlflow_client_env.tracking_auth.spnego import KerberosAuth

    session = requests.Session()

    def call() -> object:
        s = session if shared else requests.Session()
        auth = (
            None if opportunistic is None else KerberosAuth(os.environ, opportunistic=opportunistic)
        )
        try:
            resp = s.get(url, auth=auth, timeout=30)
            assert resp.status_code == 200, resp.status_code
            return resp
        finally:
            if not shared:
                s.close()

    return call


def scenarios(proxy: SpnegoProxy) -> list[Scenario]:
    path = "health"  # MLflow's cheapest answer: what the proxy adds stands out
    u = proxy.url
    out = [
        Scenario("MLflow, auth off (/open)", mlflow_call(f"{u}/open", None), False),
        Scenario("MLflow + plugin (token with the 1st request)", mlflow_call(u, "opp"), True),
        Scenario("MLflow + plugin, token after a 401", mlflow_call(u, "after-401"), True),
        Scenario("MLflow + plugin, /bound", mlflow_call(f"{u}/bound", "opp"), True),
        Scenario(
            "MLflow + plugin after a 401, /bound", mlflow_call(f"{u}/bound", "after-401"), True
        ),
    ]
    for label, sub, mode in (
        ("auth off", "open/", None),
        ("token with the 1st request", "", True),
        ("after a 401, /bound", "bound/", False),
    ):
        for shared in (True, False):
            how = "one shared session" if shared else "a new session each time"
            call = requests_call(f"{u}/{sub}{path}", mode, shared)
            out.append(Scenario(f"requests, {label}, {how}", call, mode is not None))
    return out


def run(bench: Bench) -> list[Scenario]:
    """Interleaved: each round calls every scenario once, so a busy machine's drift falls on
    all of them alike."""
    proxy = bench.proxy
    assert proxy is not None
    rows = scenarios(proxy)
    for row in rows:  # warm up: imports, sessions, the server's caches
        for _ in range(3):
            row.call()
    for _ in range(bench.trials):  # the first request after kinit: a TGS exchange
        for row in rows:
            if row.kerberos:
                bench.fresh_ticket()
            t = time.perf_counter()
            row.call()
            row.first.append(time.perf_counter() - t)
    for _ in range(bench.runs):
        for row in rows:
            t = time.perf_counter()
            row.call()
            row.following.append(time.perf_counter() - t)
    for row in rows:  # HTTP exchanges per call, from httpd's access log
        before = len(bench.log())
        for _ in range(CALLS_LOGGED):
            row.call()
        row.exchanges = (len(bench.log()) - before) / CALLS_LOGGED
    return rows


def token_cost(runs: int) -> float:
    """ms to make one SPNEGO token (client CPU; the service ticket is in the cache)."""
    import gssapi

    from mlflow_client_env.tracking_auth.spnego import SPNEGO_MECH

    name = gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service)
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        gssapi.SecurityContext(usage="initiate", name=name, mech=SPNEGO_MECH).step()
        samples.append(time.perf_counter() - t)
    return ms(samples)


def _group(name: str) -> str:
    """Rows compare with the auth-off row of their group."""
    if name.startswith("MLflow"):
        return "mlflow"
    return "shared" if "shared" in name else "new"


def table(rows: list[Scenario], token_ms: float) -> None:
    base = {_group(r.name): ms(r.following) for r in rows if "auth off" in r.name}
    print("| scenario | first after kinit (ms) | following (ms, median) | vs auth off | "
          "HTTP exchanges per call |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        first = f"{ms(row.first):.2f}" if row.first else "-"
        delta = ms(row.following) - base[_group(row.name)]
        print(
            f"| {row.name} | {first} | {ms(row.following):.2f} | {delta:+.2f} | "
            f"{row.exchanges:.2f} |"
        )
    print(f"\nmaking one SPNEGO token (client side, service ticket cached): {token_ms:.3f} ms")
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.1f} (on {os.cpu_count()} CPUs)")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=60, help="following requests per row")
    ap.add_argument("--trials", type=int, default=8, help="first requests per row")
    ap.add_argument("--json", action="store_true", help="print the raw numbers as JSON")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp), args.runs, args.trials)
        try:
            bench.start()
            rows = run(bench)
            token_ms = token_cost(args.runs)
        except BaseException:
            if bench.proxy is not None:
                print(bench.proxy.log_tail(15), file=sys.stderr)
            raise
        finally:
            bench.stop()
    if args.json:
        print(json.dumps({
            "token_ms": token_ms,
            "rows": [{"name": r.name, "first_ms": ms(r.first) if r.first else None,
                      "following_ms": ms(r.following), "exchanges": r.exchanges}
                     for r in rows],
        }, indent=2))  # fmt: skip
    else:
        table(rows, token_ms)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
