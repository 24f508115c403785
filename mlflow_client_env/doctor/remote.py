"""Checks that talk to servers: the MLflow tracking server and HDFS end to end.

Every network call has a bounded timeout, and a failure becomes a finding
mapped to the error catalog, never a raw trace.

The tracking server is asked twice: by the doctor's own HTTP client (``tracking``: the
server's version, and why a bad answer is bad) and by MLflow's own client in a child
process (``tracking_probe``), which knows what ours does not (auth plugins, its HTTP
stack). When the two disagree, MLflow's answer is the one reported and used.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ..errors import MlflowClientEnvError, setting
from ..findings import Finding
from ..records import record, replace
from ..redact import redact, redact_then_truncate
from ..safeio import read_small
from ..tracking import (
    Answer,
    BadCredentials,
    api_url,
    authorization,
    bounded_get,
    experiment_query,
    needs_hadoop,
    tls_context,
    without_userinfo,
)
from ..tracking_auth.check import check_server
from ..tracking_auth.settings import AUTH_VAR, PROVIDER_NAME
from .catalog import explain_text
from .context import BudgetExhausted, Context, ForeignEnvironment, NotNeeded, Unmet
from .secrets import known_secrets, scrub
from .tracking_probe import (
    MLFLOW_PROBE_CAP,
    SHOWN,
    ClientAnswer,
    probe_argv,
    probe_env,
    read_answer,
)
from .versions import installed_version, vtuple

#: each HTTP request's own cap; the run's budget may cut it shorter
HTTP_TIMEOUT = 5.0
#: the HDFS probe's own cap (a JVM start, a Kerberos login, one write and read)
HDFS_PROBE_CAP = 90.0
MAX_BODY = 1 << 20
MAX_REDIRECTS = 5


@record
class ServerInfo:
    uri: str
    version: str | None
    experiment: str
    artifact_location: str | None
    error: str | None = None
    #: None (answered), "unreachable", "http", "html", "not-api", "credentials", or
    #: "mlflow-client" (ours was answered, MLflow's own client failed)
    problem: str | None = None
    notes: tuple[str, ...] = ()
    #: MLflow's own client's answer (None: it was not asked, e.g. another user's process)
    client: ClientAnswer | None = None


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
        auth = authorization(ctx.env, user, password)
    own = ctx.foreign_reason() is None  # another user's TLS files are not used either
    tls = tls_context(ctx.env if own else {}) if clean.startswith("https://") else None
    try:
        return bounded_get(clean, auth, seconds, tls)
    except (TimeoutError, urllib.error.URLError) as exc:
        timed_out = isinstance(exc, TimeoutError) or isinstance(
            getattr(exc, "reason", None), TimeoutError
        )
        if timed_out and by_budget:
            raise BudgetExhausted(step, ctx.timeout) from None
        raise


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
    """The tracking server's answer, from the doctor's HTTP client and MLflow's own client
    (memoised: the checks that need it share one); None when the URI is not a server."""
    uri = ctx.tracking_uri()
    if not uri or not uri.startswith(("http://", "https://")):
        return None

    def make() -> ServerInfo:
        return _with_client(_our_answer(ctx, uri), _client_answer(ctx, uri))

    info: ServerInfo = ctx.memo("server", make)
    return info


def _our_answer(ctx: Context, uri: str) -> ServerInfo:
    """What the doctor's own HTTP client gets from the server."""
    path, label = experiment_query(ctx.experiment, ctx.env)  # as setup() and env ask
    experiment = ctx.experiment or ctx.env.get("MLFLOW_EXPERIMENT_NAME") or label
    notes: list[str] = []
    if ctx.foreign_reason() is not None and (
        ctx.env.get("MLFLOW_TRACKING_TOKEN") or ctx.env.get("MLFLOW_TRACKING_USERNAME")
    ):
        notes.append("the process's tracking credentials were not used (another user's)")
    try:
        ans = _get(api_url(uri, "/version"), ctx)
        notes += ans.notes
        text = ans.body.decode(errors="replace").strip()
        version = text if ans.status == 200 and _VERSION.match(text) else None
        if ans.status == 200 and version is None:
            problem, message = _not_api(uri, ans, "/version")
            return ServerInfo(uri, None, experiment, None, message, problem, tuple(notes))
        ans = _get(api_url(uri, path), ctx)
        if ans.status == 404 and "get-by-name" in path:
            notes.append(
                f"experiment {experiment!r} does not exist yet: MLflow creates it under the "
                "server's default artifact root, which the Default experiment shows"
            )
            ans = _get(api_url(uri, experiment_query(None, {})[0]), ctx)
        notes += ans.notes
    except BadCredentials as exc:
        return ServerInfo(uri, None, experiment, None, str(exc), "credentials", tuple(notes))
    except MlflowClientEnvError as exc:  # a TLS certificate file that cannot be loaded
        return ServerInfo(uri, None, experiment, None, exc.problem, "credentials", tuple(notes))
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


def _client_answer(ctx: Context, uri: str) -> ClientAnswer | str:
    """MLflow's own client's answer, its texts redacted; a str (why) when it was not asked.

    The child gets the caller's environment with ours on top (as after ``setup()``), the
    tracking URI, no retries and a bounded request timeout; it is killed at its cap.
    """
    if ctx.foreign_reason() is not None:  # another user's environment is never executed
        return "MLflow's own client was not run with another user's environment"
    composed = ctx.environment()
    ours = {} if isinstance(composed, MlflowClientEnvError) else composed.as_dict()
    full = {**ctx.env, **ours}
    seconds = min(MLFLOW_PROBE_CAP, max(ctx.remaining(), 0.0))
    extra = {**ours, **probe_env(uri, full, seconds)}
    step = f"MLflow's own client (MlflowClient) asking {redact(uri)}"
    try:
        done = ctx.spawn(
            step, probe_argv(ctx.experiment, ctx.env), extra_env=extra, cap=MLFLOW_PROBE_CAP
        )
    except ForeignEnvironment as exc:
        return f"MLflow's own client was not run: {exc.reason}"
    except subprocess.TimeoutExpired:
        return ClientAnswer(
            "timeout",
            f"MLflow's client did not finish in {MLFLOW_PROBE_CAP:.0f} s and was stopped",
        )
    except OSError as exc:
        return ClientAnswer("no-answer", f"the MLflow client probe did not start: {exc}")
    answer = read_answer(done)
    secrets = known_secrets({**full, **extra})
    return replace(answer, detail=redact_then_truncate(scrub(answer.detail, secrets), SHOWN))


def _with_client(mine: ServerInfo, answer: ClientAnswer | str) -> ServerInfo:
    """Our answer and MLflow's client's, as one: where they disagree, MLflow's holds."""
    if isinstance(answer, str):
        return replace(mine, notes=(*mine.notes, answer))
    if answer.state == "not-importable":
        note = (
            f"MLflow is not importable in this Python ({answer.detail}): only the doctor's own "
            "HTTP client asked, which knows MLflow's credentials and TLS variables but not its "
            "auth plugins (MLFLOW_TRACKING_AUTH) or its HTTP stack"
        )
        return replace(mine, client=answer, notes=(*mine.notes, note))
    name = f"MLflow {answer.mlflow_version}'s own client" if answer.mlflow_version else (
        "MLflow's own client")  # fmt: skip
    if answer.state == "ok":
        where = answer.artifact_location
        if mine.problem is None:
            note = f"{name} agrees"
            if where and where != mine.artifact_location:
                note = (
                    f"{name} says the artifacts are at {where}, the doctor's HTTP client was "
                    f"told {mine.artifact_location}: MLflow's answer is used"
                )
            location = where or mine.artifact_location
            return replace(
                mine, artifact_location=location, client=answer, notes=(*mine.notes, note)
            )
        note = (
            f"the doctor's own HTTP client failed ({redact(mine.error or mine.problem)}), {name} "
            "did not: MLflow's answer is used (it reaches the server with what only it knows, "
            "e.g. an auth plugin, a proxy or a TLS setting)"
        )
        return ServerInfo(
            mine.uri, mine.version, mine.experiment, where, None, None,
            (*mine.notes, note), answer,
        )  # fmt: skip
    if mine.problem is None:  # ours got through, MLflow's client does not: MLflow's holds
        note = "the doctor's own HTTP client got an answer, but MLflow's own client is what MLflow uses"
        return replace(
            mine, error=answer.detail, problem="mlflow-client", client=answer,
            notes=(*mine.notes, note),
        )  # fmt: skip
    return replace(mine, client=answer, notes=(*mine.notes, f"{name} failed too: {answer.detail}"))


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


@record
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


def proxied_location(ctx: Context) -> str | None:
    """The experiment's artifact location when the tracking server keeps the artifacts
    itself (not HDFS), so this client needs no Hadoop; None when it does or is unknown."""
    info = server_info(ctx)
    location = info.artifact_location if info else None
    return location if location and not needs_hadoop(location) else None


def check_tracking_server(ctx: Context) -> list[Finding]:
    uri = ctx.tracking_uri()
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
    asked = ctx.env.get(AUTH_VAR) == PROVIDER_NAME
    spnego = _spnego_findings(ctx, uri, info, asked)
    if asked and spnego and (info.error or "").startswith("HTTP 401"):
        # SPNEGO works and MLflow is told to use it; only our own HTTP client got the 401
        # (MLflow's client could not be asked here: not importable, or out of time)
        return [
            *spnego,
            Finding(
                "tracking-server.spnego-only",
                "ok",
                f"the tracking server {redact(uri)} wants Kerberos, and gets it from MLflow's "
                "requests (MLFLOW_TRACKING_AUTH=kerberos); the doctor's own HTTP client, "
                "which speaks no SPNEGO, could not read the experiment",
                notes,
            ),
        ]
    if any(f.status == "error" for f in spnego):  # the server wants Kerberos and cannot get it
        return list(spnego)
    if spnego and not asked and (info.error or "").startswith("HTTP 401"):  # not told to
        return [
            Finding(
                "tracking-server.kerberos-not-used",
                "error",
                f"the tracking server {redact(uri)} wants Kerberos (HTTP Negotiate) and "
                "MLflow's requests carry none, so they get 401 (catalog D8)",
                notes,
                fix="MLFLOW_TRACKING_AUTH=kerberos: setup(tracking_auth='kerberos'), "
                "'install-kernel --tracking-auth kerberos', or tracking_auth = \"kerberos\" "
                "in the config file",
            ),
            *spnego,
        ]
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
    if info.problem == "mlflow-client":
        return [
            Finding(
                "tracking-server.mlflow-client-failed",
                "error",
                f"MLflow's own client cannot use the tracking server {redact(uri)}: {info.error}",
                notes,
                fix="the server answers the doctor's HTTP client, so look at what MLflow's "
                "client adds: MLFLOW_TRACKING_AUTH (an auth plugin), HTTP(S)_PROXY and NO_PROXY, "
                "REQUESTS_CA_BUNDLE, MLFLOW_HTTP_REQUEST_* settings, or a broken MLflow install "
                "('pip check')",
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
    if needs_hadoop(loc) and ctx.native_only() is not None:
        note = (
            "the client writes artifacts to HDFS itself, through hdfs-native "
            "(hdfs_client=native): the hdfs-native check below probes it"
        )
    elif needs_hadoop(loc):
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
            f"{f'MLflow {info.version}' if info.version else 'the MLflow server'} at "
            f"{redact(uri)}; experiment {info.experiment!r} stores artifacts at {loc}",
            (note, *notes),
        ),
        *spnego,
    ]


#: how long the SPNEGO exchange may take, at most, within the run's budget
SPNEGO_CAP = 10.0


def _spnego_findings(ctx: Context, uri: str, info: ServerInfo, asked: bool) -> tuple[Finding, ...]:
    """When the server refused us with 401, or MLflow is told to use Kerberos for it
    (MLFLOW_TRACKING_AUTH=kerberos): ask it with SPNEGO, the way MLflow's plugin will
    (tracking_auth.check.check_server: D8 without a ticket, the principal tried, clock
    skew, a realm without that principal...). Nothing when the server does not ask for
    Negotiate. Not for another user's process: libkrb5 would read our environment."""
    if not asked and not (info.error or "").startswith("HTTP 401"):
        return ()
    if ctx.foreign_reason() is not None:
        return ()

    seconds, _ = ctx.step_timeout("the SPNEGO exchange", SPNEGO_CAP)
    found = check_server(uri, ctx.env, seconds=seconds)
    return tuple(f for f in found if f.code != "tracking-server.spnego-not-asked")


def _probe_target(ctx: Context) -> tuple[str | None, str]:
    """What the HDFS probes write to, and why: (None, why) when no location is known;
    :class:`Unmet` (not needed) when the experiment's artifacts are not on HDFS."""
    if ctx.probe_path:
        return ctx.probe_path, "given with --probe-path"
    info = server_info(ctx)
    if info and info.artifact_location:
        loc = info.artifact_location
        if loc.startswith(("hdfs:", "viewfs:")):
            return loc, "the experiment's artifact location"
        raise Unmet(
            "artifacts on HDFS",
            NotNeeded(
                f"no HDFS probe is needed: the experiment's artifacts are stored at {loc}, "
                "not on HDFS",
                "to probe HDFS anyway, pass --probe-path hdfs://...",
            ),
        )
    if info is None:
        return None, "no artifact location known (no tracking server; pass --probe-path hdfs://...)"
    return None, (
        "no artifact location known (the tracking server did not say; pass --probe-path hdfs://...)"
    )


def check_hdfs(ctx: Context) -> list[Finding]:
    ctx.jvm_needed("the HDFS probe through pyarrow and libhdfs (the hdfs-native check probes HDFS)")
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
    found = Finding(
        f"hdfs.{exp.code}",
        "error",
        f"HDFS probe of {target} failed: {exp.title} {exp.label}",
        (f"matched: {redact(exp.matched)}", *tail),
        exp.fix,
    )
    if exp.code == "permission-denied":
        found = _denied_for_simple(ctx, found)
    return [found]


def _denied_for_simple(ctx: Context, found: Finding) -> Finding:
    """libhdfs reports a NameNode's refusal of SIMPLE authentication as 'Permission
    denied' (it does not print the AccessControlException of mkdirs): when the client
    configuration says SIMPLE and its NameNode refuses it (the client-config check's
    probe, shared), that refusal is the cause, not the path's permissions."""
    # here, not at the top: checks imports this module
    from .checks import STALE_FIX, simple_refusal, simple_refusal_cause

    d = ctx.discovery()
    conf = None if isinstance(d, MlflowClientEnvError) else d.conf
    refused = simple_refusal(ctx, conf) if conf is not None else None
    if conf is None or refused is None:
        return found
    host, port, refusal = refused
    code, entry = simple_refusal_cause(conf)
    fix = (
        STALE_FIX
        if entry == "H3"
        else "set hadoop.security.authentication=kerberos in the client configuration's "
        "core-site.xml, or re-deploy it"
    )
    return Finding(
        found.code,
        "error",
        f"{found.summary}: not the path's permissions, the client offered SIMPLE "
        f"authentication ({conf.conf_dir} says hadoop.security.authentication="
        f"{conf.authentication}) and the NameNode {host}:{port} refuses it (see {code}, "
        f"catalog {entry})",
        (*found.evidence, f"the NameNode {host}:{port} answered a SIMPLE handshake: {refusal}"),
        fix,
    )


def last_json_object(stdout: str) -> dict[str, Any] | None:
    """The JSON object a probe subprocess printed as its last line (each probe prints its
    result so); None when the output ends otherwise."""
    lines = stdout.strip().splitlines()
    try:
        data = json.loads(lines[-1]) if lines else None
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _probe_json(stdout: str) -> dict[str, Any] | None:
    """The probe's result line, or None when its output is not what it prints."""
    data = last_json_object(stdout)
    if data is None or not data.get("ok"):
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
