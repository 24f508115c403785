"""Checks that talk to servers: the MLflow tracking server and HDFS end to end.

Every network call has a bounded timeout, and a failure becomes a finding
mapped to the error catalog, never a raw trace.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MlflowClientEnvError, setting
from ..findings import Finding
from ..redact import redact, redact_then_truncate
from ..safeio import read_small
from .catalog import explain_text
from .context import BudgetExhausted, Context, ForeignEnvironment

#: each HTTP request's own cap; the run's budget may cut it shorter
HTTP_TIMEOUT = 5.0
#: the HDFS probe's own cap (a JVM start, a Kerberos login, one write and read)
HDFS_PROBE_CAP = 90.0
MAX_BODY = 1 << 20
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class ServerInfo:
    uri: str
    version: str | None
    experiment: str
    artifact_location: str | None
    error: str | None = None
    #: None (answered), "unreachable", "http", "html", "not-api", "credentials"
    problem: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    url: str  # the URL that answered, after redirects
    status: int
    content_type: str
    body: bytes
    notes: tuple[str, ...] = ()
    redirects: int = 0


class BadCredentials(Exception):  # internal, becomes a finding
    """A configured credential cannot go into an HTTP header (control character, non-ASCII)."""


def _tracking_uri(ctx: Context) -> str | None:
    env = ctx.environment()
    if not isinstance(env, MlflowClientEnvError) and env.get("MLFLOW_TRACKING_URI"):
        return env["MLFLOW_TRACKING_URI"]
    return ctx.env.get("MLFLOW_TRACKING_URI")


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port): credentials go only to the origin they were configured for."""
    u = urllib.parse.urlsplit(url)
    scheme = u.scheme.lower()
    port = u.port or {"http": 80, "https": 443}.get(scheme, 0)
    return scheme, (u.hostname or "").lower(), port


def without_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without ``user:password@``, and the user and password it carried."""
    u = urllib.parse.urlsplit(url)
    if "@" not in u.netloc:
        return url, None, None
    host = u.netloc.rsplit("@", 1)[1]
    clean = urllib.parse.urlunsplit((u.scheme, host, u.path, u.query, u.fragment))
    user = urllib.parse.unquote(u.username) if u.username is not None else None
    password = urllib.parse.unquote(u.password) if u.password is not None else None
    return clean, user, password


def _header_safe(value: str, what: str) -> str:
    if not value.isascii() or not value.isprintable():
        raise BadCredentials(
            f"{what} holds a control character (a newline?) or a non-ASCII character, "
            "so it cannot be sent in an HTTP header; it was not sent"
        )
    return value


def authorization(ctx: Context, user: str | None, password: str | None) -> str | None:
    """The Authorization header MLflow's client would send, from the environment or the URI."""
    import base64

    token = ctx.env.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return "Bearer " + _header_safe(token, "MLFLOW_TRACKING_TOKEN")
    name = ctx.env.get("MLFLOW_TRACKING_USERNAME") or user
    if name:
        secret = ctx.env.get("MLFLOW_TRACKING_PASSWORD") or password or ""
        pair = _header_safe(f"{name}:{secret}", "MLFLOW_TRACKING_USERNAME/PASSWORD")
        return "Basic " + base64.b64encode(pair.encode()).decode()
    return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are followed by :func:`_request` itself, which decides about credentials."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _request(
    url: str, auth: str | None, auth_origin: tuple[str, str, int], deadline: float
) -> Answer:
    """GET ``url``, following redirects by hand; ``auth`` only ever goes to ``auth_origin``."""
    opener = urllib.request.build_opener(_NoRedirect)
    notes: list[str] = []
    for hops in range(MAX_REDIRECTS + 1):
        req = urllib.request.Request(url, headers={"Accept": "application/json, text/plain"})
        if auth and origin(url) == auth_origin:
            req.add_header("Authorization", auth)
        left = max(deadline - time.monotonic(), 0.01)
        try:
            with opener.open(req, timeout=left) as resp:
                ctype = resp.headers.get("Content-Type", "")
                body = resp.read(MAX_BODY)
                return Answer(url, int(resp.status), ctype, body, tuple(notes), hops)
        except urllib.error.HTTPError as exc:
            location = exc.headers.get("Location") if exc.headers else None
            if exc.code in (301, 302, 303, 307, 308) and location:
                target = urllib.parse.urljoin(url, location)
                if not target.startswith(("http://", "https://")):
                    raise urllib.error.URLError(f"redirect to a non-HTTP URL {target}") from None
                if auth and origin(target) != auth_origin:
                    notes.append(
                        f"redirected from {url} to another origin, {target}: "
                        "the credentials were not sent there"
                    )
                url = target
                continue
            ctype = exc.headers.get("Content-Type", "") if exc.headers else ""
            body = exc.read(MAX_BODY) if exc.fp is not None else b""
            return Answer(url, exc.code, ctype, body, tuple(notes), hops)
    raise urllib.error.URLError(f"more than {MAX_REDIRECTS} redirects, last to {url}")


def _get(url: str, ctx: Context) -> Answer:
    """One bounded GET: at most HTTP_TIMEOUT and never past the run's budget.

    The request runs in a daemon thread joined at its deadline, so a server that
    trickles bytes cannot hold the doctor either.
    """
    clean, user, password = without_userinfo(url)
    step = f"GET {clean}"
    seconds, by_budget = ctx.step_timeout(step, HTTP_TIMEOUT)
    auth = None
    if ctx.foreign_reason() is None:  # another user's credentials are not used
        auth = authorization(ctx, user, password)
    deadline = time.monotonic() + seconds
    box: list[Answer | BaseException] = []

    def target() -> None:
        try:
            box.append(_request(clean, auth, origin(clean), deadline))
        except BaseException as exc:  # handed to the caller
            box.append(exc)

    thread = threading.Thread(target=target, name="doctor-http", daemon=True)
    thread.start()
    thread.join(seconds + 0.5)
    result: Answer | BaseException = (
        box[0] if box else TimeoutError(f"no answer within {seconds:.1f} s")
    )
    if isinstance(result, Answer):
        return result
    timed_out = isinstance(result, TimeoutError) or isinstance(
        getattr(result, "reason", None), TimeoutError
    )
    if timed_out and by_budget:
        raise BudgetExhausted(step, ctx.timeout)
    raise result


_VERSION = re.compile(r"^[0-9][\w.+-]{0,40}$")


def _looks_html(ans: Answer) -> bool:
    head = ans.body[:512].lstrip().lower()
    return "html" in ans.content_type.lower() or head.startswith((b"<!doctype", b"<html", b"<"))


def _not_api(uri: str, ans: Answer, what: str) -> tuple[str, str]:
    """(problem, message) for a 200 answer that is not the MLflow REST API."""
    where = redact(uri)
    via = f" (after a redirect to {redact(ans.url)})" if ans.redirects else ""
    if _looks_html(ans):
        return "html", (
            f"the server at {where} answered {what} with an HTML page{via}, not the MLflow "
            "REST API: an SSO/login proxy? (D8)"
        )
    try:
        data = json.loads(ans.body)
    except (ValueError, RecursionError):  # garbage, or absurd nesting
        kind = ans.content_type or "no content type"
        return "not-api", (
            f"the server at {where} answered {what} with something that is not JSON ({kind}){via}: "
            "not the MLflow REST API"
        )
    return "not-api", (
        f"the server at {where} answered {what} with a JSON {type(data).__name__}{via} where the "
        "MLflow REST API returns an object with an 'experiment': not the MLflow REST API"
    )


def server_info(ctx: Context) -> ServerInfo | None:
    uri = _tracking_uri(ctx)
    if not uri or not uri.startswith(("http://", "https://")):
        return None

    def make() -> ServerInfo:
        base = uri.rstrip("/")
        experiment = ctx.experiment or ctx.env.get("MLFLOW_EXPERIMENT_NAME") or ""
        notes: list[str] = []
        if ctx.foreign_reason() is not None and (
            ctx.env.get("MLFLOW_TRACKING_TOKEN") or ctx.env.get("MLFLOW_TRACKING_USERNAME")
        ):
            notes.append("the process's tracking credentials were not used (another user's)")
        try:
            ans = _get(f"{base}/version", ctx)
            notes += ans.notes
            text = ans.body.decode(errors="replace").strip()
            version = text if ans.status == 200 and _VERSION.match(text) else None
            if ans.status == 200 and version is None:
                problem, message = _not_api(uri, ans, "/version")
                return ServerInfo(uri, None, experiment, None, message, problem, tuple(notes))
            if experiment:
                q = urllib.parse.urlencode({"experiment_name": experiment})
                ans = _get(f"{base}/api/2.0/mlflow/experiments/get-by-name?{q}", ctx)
            else:
                experiment = "Default (id 0)"
                ans = _get(f"{base}/api/2.0/mlflow/experiments/get?experiment_id=0", ctx)
            notes += ans.notes
        except BadCredentials as exc:
            return ServerInfo(uri, None, experiment, None, str(exc), "credentials", tuple(notes))
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            error = f"{type(exc).__name__}: {reason}"
            return ServerInfo(uri, None, experiment, None, error, "unreachable", tuple(notes))
        if ans.status != 200:
            body = redact_then_truncate(ans.body.decode(errors="replace"), 200)  # redact, then cut
            error = f"HTTP {ans.status}: {body}"
            return ServerInfo(uri, version, experiment, None, error, "http", tuple(notes))
        try:
            data = json.loads(ans.body)
        except (ValueError, RecursionError):  # garbage, or absurd nesting
            data = None
        exp = data.get("experiment") if isinstance(data, dict) else None
        if not isinstance(exp, dict):
            problem, message = _not_api(uri, ans, "the experiments API")
            return ServerInfo(uri, version, experiment, None, message, problem, tuple(notes))
        location = exp.get("artifact_location")
        location = location if isinstance(location, str) else None
        return ServerInfo(uri, version, experiment, location, None, None, tuple(notes))

    info: ServerInfo = ctx.memo("server", make)
    return info


#: MLflow 3.7 moved its default store from ./mlruns to sqlite:///mlflow.db. Only used when
#: the installed MLflow's own constants cannot be read.
SQLITE_DEFAULT_SINCE = (3, 7)


def _string_constants(path: Path) -> dict[str, str]:
    """The module-level ``NAME = "text"`` assignments of a Python file, read, never run."""
    import ast

    try:
        tree = ast.parse(read_small(path, "reinstall MLflow") or b"")
    except (MlflowClientEnvError, SyntaxError, ValueError):
        return {}
    return {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


@dataclass(frozen=True)
class DefaultStore:
    """Where the installed MLflow logs when no tracking URI is set, and how we know."""

    version: str | None  # None: MLflow is not installed (or has no metadata)
    store: str | None  # e.g. sqlite:///mlflow.db (MLflow >= 3.7) or ./mlruns; None: unknown
    evidence: str
    #: MLflow >= 3.7 keeps using ./mlruns when that folder already holds runs
    mlruns_fallback: bool = False


def mlflow_default_store() -> DefaultStore:
    """The installed MLflow's default store, from its own constants (``DEFAULT_TRACKING_URI``
    in ``mlflow/store/tracking/__init__.py`` since 3.7, else
    ``DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH``), read without importing MLflow (an import
    costs a second and some 1,800 modules); its version decides when they cannot be read."""
    import importlib.util

    from .versions import installed_version, vtuple

    version = installed_version("mlflow", "mlflow-skinny")
    spec = importlib.util.find_spec("mlflow")  # a top-level package: found, not imported
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "store/tracking/__init__.py"
        consts = _string_constants(path)
        if "DEFAULT_TRACKING_URI" in consts:
            return DefaultStore(version, consts["DEFAULT_TRACKING_URI"], f"read from {path}", True)
        if "DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH" in consts:
            store = consts["DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH"]
            return DefaultStore(version, store, f"read from {path}")
    if version is None:
        return DefaultStore(None, None, "MLflow is not installed in this Python")
    newer = vtuple(version) >= SQLITE_DEFAULT_SINCE
    return DefaultStore(
        version,
        "sqlite:///mlflow.db" if newer else "./mlruns",
        f"MLflow {version}'s constants could not be read; by its version (sqlite since 3.7)",
        newer,
    )


def _unset_finding() -> Finding:
    d = mlflow_default_store()
    if d.store is None:
        where = "MLflow (not installed in this Python) would log to a local store"
    else:
        mlflow = f"MLflow {d.version}" if d.version else "MLflow"
        where = f"{mlflow} would log to {d.store} in the current folder"
        if d.mlruns_fallback:
            where += " (./mlruns if that already holds runs)"
    return Finding(
        "tracking-server.unset",
        "warn",
        f"no MLFLOW_TRACKING_URI: {where}, on this machine, not on a tracking server",
        (d.evidence,),
        fix=f"pass {setting('tracking_uri')}, export MLFLOW_TRACKING_URI, or set tracking_uri in "
        "the site config",
    )


def check_tracking_server(ctx: Context) -> list[Finding]:
    uri = _tracking_uri(ctx)
    if not uri:
        return [_unset_finding()]
    info = server_info(ctx)
    if info is None:
        return [
            Finding(
                "tracking-server.local",
                "ok",
                f"tracking URI {redact(uri)} is not a server; nothing to reach",
            )
        ]
    notes = info.notes
    if info.problem == "credentials":
        return [
            Finding(
                "tracking-server.bad-credentials",
                "error",
                info.error or "the tracking credentials cannot be sent",
                notes,
                fix="set MLFLOW_TRACKING_TOKEN (or MLFLOW_TRACKING_USERNAME/PASSWORD) to the "
                "value itself, on one line",
            )
        ]
    if info.problem == "html":
        return [
            Finding(
                "tracking-server.html-page",
                "error",
                info.error or "the server answered with an HTML page",
                notes,
                fix="MLflow's client needs the REST API itself: ask the server's admins for the "
                "API address behind the login proxy, or for a token the proxy accepts "
                "(MLFLOW_TRACKING_TOKEN); if the proxy speaks Kerberos (SPNEGO), see catalog D8",
            )
        ]
    if info.problem == "not-api":
        return [
            Finding(
                "tracking-server.not-mlflow",
                "error",
                info.error or "the server does not speak the MLflow REST API",
                notes,
                fix="check that MLFLOW_TRACKING_URI is the MLflow server's address (scheme, "
                "host, port and path prefix)",
            )
        ]
    if info.error and info.version is None:
        return [
            Finding(
                "tracking-server.unreachable",
                "error",
                f"the tracking server {redact(uri)} does not answer ({redact(info.error)})",
                notes,
                fix="check the URI and that the server runs; ask its admins",
            )
        ]
    if info.error:
        return [
            Finding(
                "tracking-server.experiment",
                "error",
                f"server {info.version} at {redact(uri)} answered, but experiment "
                f"{info.experiment!r}: {redact(info.error)}",
                notes,
                fix="check the experiment name, or create it with mlflow.set_experiment",
            )
        ]
    loc = info.artifact_location or ""
    scheme = loc.split(":", 1)[0]
    if scheme in ("hdfs", "viewfs"):
        note = "the client writes artifacts to HDFS itself: the Hadoop chain below must work"
    elif scheme == "mlflow-artifacts":
        note = (
            "the server proxies artifacts: this client needs no Hadoop, the HDFS layers are skipped"
        )
    else:
        note = f"artifacts go to {scheme or 'a local path'}, not HDFS"
    return [
        Finding(
            "tracking-server.ok",
            "ok",
            f"MLflow {info.version} at {redact(uri)}; experiment {info.experiment!r} "
            f"stores artifacts at {loc}",
            (note, *notes),
        )
    ]


def _probe_target(ctx: Context) -> tuple[str | None, str]:
    if ctx.probe_path:
        return ctx.probe_path, "given with --probe-path"
    info = server_info(ctx)
    if info and info.artifact_location:
        loc = info.artifact_location
        if loc.startswith(("hdfs:", "viewfs:")):
            return loc, "the experiment's artifact location"
        return None, f"artifacts are stored at {loc}, not on HDFS"
    return None, "no artifact location known (no tracking server; pass --probe-path hdfs://...)"


def check_hdfs(ctx: Context) -> list[Finding]:
    target, why = _probe_target(ctx)
    if target is None:
        return [Finding("hdfs.skipped", "skip", f"HDFS probe skipped: {why}")]
    env = ctx.composed()
    argv = [sys.executable, "-m", "mlflow_client_env.doctor.hdfs_probe", target]
    try:
        proc = ctx.spawn(
            f"the HDFS probe of {target}", argv, extra_env=env.as_dict(), cap=HDFS_PROBE_CAP
        )
    except ForeignEnvironment as exc:
        return [Finding("hdfs.skipped", "skip", f"HDFS probe skipped: {exc.reason}")]
    except subprocess.TimeoutExpired:
        return [
            Finding(
                "hdfs.timeout",
                "error",
                f"the HDFS probe of {target} did not finish in {HDFS_PROBE_CAP:.0f} s",
                fix="check that the NameNode and DataNodes answer",
            )
        ]
    data = _probe_json(proc.stdout) if proc.returncode == 0 else None
    if data is not None:
        return [
            Finding(
                "hdfs.ok",
                "ok",
                f"wrote, read back and deleted a file under {target} ({why}) in "
                f"{data['seconds']:.1f} s (JVM connection {data['connect_seconds']:.1f} s)",
            )
        ]
    text = proc.stderr
    exp = explain_text(text)
    tail = output_tail(text)
    if exp is None:
        return [
            Finding(
                "hdfs.failed",
                "error",
                f"the HDFS probe of {target} failed (exit {proc.returncode})",
                tail,
                fix="run 'mlflow-client-env doctor -v' and read the JVM output",
            )
        ]
    return [
        Finding(
            f"hdfs.{exp.code}",
            "error",
            f"HDFS probe of {target} failed: {exp.title} {exp.label}",
            (f"matched: {redact(exp.matched)}", *tail),
            exp.fix,
        )
    ]


def _probe_json(stdout: str) -> dict[str, Any] | None:
    """The probe's result line, or None when its output is not what it prints."""
    lines = stdout.strip().splitlines()
    try:
        data = json.loads(lines[-1]) if lines else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not data.get("ok"):
        return None
    if not all(isinstance(data.get(k), (int, float)) for k in ("seconds", "connect_seconds")):
        return None
    return data


def output_tail(text: str, n: int = 6) -> tuple[str, ...]:
    """The probe's last JVM/libhdfs messages (no stack frames) and the Python exception line.

    The stderr ends with Python's traceback of the probe; its frames say nothing
    about the cause, which is in the JVM's "... error:" and "Caused by:" lines above it.
    """
    jvm, _, py = text.partition("Traceback (most recent call last):")
    lines = [
        line
        for line in jvm.strip().splitlines()
        if line.strip() and not line.lstrip().startswith(("at ", "... "))
    ]
    out = ["JVM/libhdfs output: " + redact(line) for line in lines[-n:]]
    out += ["pyarrow raised: " + redact(line) for line in py.strip().splitlines()[-1:]]
    return tuple(out)
