"""Talking to the MLflow tracking server: one bounded GET, with MLflow's credentials.

Used by the doctor's tracking check and by ``setup()``, ``env`` and the kernel launcher
when no Hadoop is found: a server started with ``--serve-artifacts`` stores artifacts
itself (``mlflow-artifacts:/``), and then the client needs no Hadoop at all (catalog H4).

The rules, the same for every caller: credentials (``MLFLOW_TRACKING_TOKEN``,
``MLFLOW_TRACKING_USERNAME``/``PASSWORD``, or the URI's userinfo) go only to the origin
they were configured for, redirects are followed by hand so that rule holds on every hop,
bodies are capped, and every request has a hard deadline (a thread joined at it), so a
server that trickles bytes cannot hang the caller.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .environment import refuse_credentials_in_uri
from .errors import (
    HadoopAbsentError,
    HadoopNotFoundError,
    MlflowClientEnvError,
    TrackingServerError,
)
from .records import record
from .redact import redact, redact_then_truncate
from .safeio import read_small_text
from .tracking_auth.settings import PROVIDER_NAME, checked_auth

if TYPE_CHECKING:
    import ssl

    from .config import Overrides

MAX_BODY = 1 << 20
MAX_REDIRECTS = 5
#: How long setup(), env and the kernel launcher wait for the server, when they ask it.
ASK_TIMEOUT = 10.0
#: Artifact URI schemes that make the client write to HDFS itself (through pyarrow/libhdfs).
HADOOP_SCHEMES = ("hdfs", "viewfs")


@record
class Answer:
    url: str  # the URL that answered, after redirects
    status: int
    content_type: str
    body: bytes
    notes: tuple[str, ...] = ()
    redirects: int = 0


class BadCredentials(Exception):  # internal: the doctor makes it a finding, setup() an error
    """A configured credential cannot go into an HTTP header (control character, non-ASCII)."""


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


def credentials_file(env: Mapping[str, str]) -> dict[str, str]:
    """The ``[mlflow]`` section of ``~/.mlflow/credentials``, which MLflow's client reads
    when the ``MLFLOW_TRACKING_*`` variables are not set (empty when absent or unreadable)."""
    import configparser

    home = env.get("HOME") or os.path.expanduser("~")
    try:
        text = read_small_text(Path(home) / ".mlflow" / "credentials", "fix the file")
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(text or "")
    except (MlflowClientEnvError, OSError, configparser.Error):
        return {}
    return dict(parser["mlflow"]) if parser.has_section("mlflow") else {}


def authorization(env: Mapping[str, str], user: str | None, password: str | None) -> str | None:
    """The Authorization header MLflow's client would send: like its REST client, Basic when
    a user name and a password are known, else Bearer with a token; each from the
    environment, else ``~/.mlflow/credentials``, else (user and password) the URI."""
    import base64

    saved = credentials_file(env)
    name = env.get("MLFLOW_TRACKING_USERNAME") or saved.get("mlflow_tracking_username") or user
    secret = (
        env.get("MLFLOW_TRACKING_PASSWORD") or saved.get("mlflow_tracking_password") or password
    )
    if name and secret:
        pair = _header_safe(f"{name}:{secret}", "the tracking user name and password")
        return "Basic " + base64.b64encode(pair.encode()).decode()
    token = env.get("MLFLOW_TRACKING_TOKEN") or saved.get("mlflow_tracking_token")
    if token:
        return "Bearer " + _header_safe(token, "MLFLOW_TRACKING_TOKEN")
    return None


def tls_context(env: Mapping[str, str]) -> ssl.SSLContext:
    """The TLS settings MLflow's client uses: ``MLFLOW_TRACKING_INSECURE_TLS``,
    ``MLFLOW_TRACKING_SERVER_CERT_PATH`` (else requests' ``REQUESTS_CA_BUNDLE`` /
    ``CURL_CA_BUNDLE``) and ``MLFLOW_TRACKING_CLIENT_CERT_PATH``.

    Raises ``TrackingServerError`` for a certificate file that cannot be loaded."""
    import ssl

    try:
        if env.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ca = (
                env.get("MLFLOW_TRACKING_SERVER_CERT_PATH")
                or env.get("REQUESTS_CA_BUNDLE")
                or env.get("CURL_CA_BUNDLE")
            )
            ctx = ssl.create_default_context(cafile=ca or None)
        if env.get("MLFLOW_TRACKING_CLIENT_CERT_PATH"):
            ctx.load_cert_chain(env["MLFLOW_TRACKING_CLIENT_CERT_PATH"])
    except (OSError, ssl.SSLError) as exc:
        raise TrackingServerError(
            f"a TLS certificate file for the tracking server cannot be loaded: {exc}",
            "check MLFLOW_TRACKING_SERVER_CERT_PATH / MLFLOW_TRACKING_CLIENT_CERT_PATH",
        ) from None
    return ctx


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are followed by :func:`_request` itself, which decides about credentials."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def request(
    url: str,
    auth: str | None,
    auth_origin: tuple[str, str, int],
    deadline: float,
    tls: ssl.SSLContext | None = None,
) -> Answer:
    """GET ``url``, following redirects by hand; ``auth`` only ever goes to ``auth_origin``."""
    handlers: list[Any] = [_NoRedirect]
    if tls is not None:
        handlers.append(urllib.request.HTTPSHandler(context=tls))
    opener = urllib.request.build_opener(*handlers)
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


def bounded_get(
    url: str, auth: str | None, seconds: float, tls: ssl.SSLContext | None = None
) -> Answer:
    """GET ``url`` (without userinfo), ``auth`` only to its origin; at most ``seconds``.

    Raises ``TimeoutError``, ``urllib.error.URLError``, ``OSError``,
    ``http.client.HTTPException`` or ``ValueError``; an HTTP error status is an ``Answer``.
    """
    deadline = time.monotonic() + seconds
    box: list[Answer | BaseException] = []

    def target() -> None:
        try:
            box.append(request(url, auth, origin(url), deadline, tls))
        except BaseException as exc:  # handed to the caller
            box.append(exc)

    thread = threading.Thread(target=target, name="mlflow-client-env-http", daemon=True)
    thread.start()
    thread.join(seconds + 0.5)
    result: Answer | BaseException = (
        box[0] if box else TimeoutError(f"no answer within {seconds:.1f} s")
    )
    if isinstance(result, Answer):
        return result
    raise result


def needs_hadoop(location: str) -> bool:
    """Whether a client writes artifacts at ``location`` through Hadoop itself."""
    return location.split(":", 1)[0].lower() in HADOOP_SCHEMES


def experiment_query(experiment: str | None, env: Mapping[str, str]) -> tuple[str, str]:
    """(REST path and query, what to call the experiment) for the experiment MLflow will use:
    the one given, else ``MLFLOW_EXPERIMENT_NAME``/``MLFLOW_EXPERIMENT_ID``, else Default."""
    name = experiment or env.get("MLFLOW_EXPERIMENT_NAME")
    if name:
        q = urllib.parse.urlencode({"experiment_name": name})
        return f"/api/2.0/mlflow/experiments/get-by-name?{q}", repr(name)
    exp_id = env.get("MLFLOW_EXPERIMENT_ID") or "0"
    q = urllib.parse.urlencode({"experiment_id": exp_id})
    label = "Default (id 0)" if exp_id == "0" else f"id {exp_id}"
    return f"/api/2.0/mlflow/experiments/get?{q}", label


@record
class ArtifactStore:
    """Where the tracking server keeps one experiment's artifacts."""

    location: str
    experiment: str  # how messages name it: "'name'", "Default (id 0)", "id 3"
    note: str | None = None  # e.g. "not created yet: ..."


#: Answers of this process, for ``ASK_TTL`` seconds: a notebook calls setup() again, and
#: list-kernels resolves every kernel against the same server.
_ASKED: dict[tuple[str, str | None, tuple[str, ...]], tuple[float, ArtifactStore]] = {}
ASK_TTL = 300.0
#: An artifact location longer than this, or with control characters, is not one.
MAX_LOCATION = 2048
TLS_VARIABLES = (
    "MLFLOW_TRACKING_INSECURE_TLS",
    "MLFLOW_TRACKING_SERVER_CERT_PATH",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)


def api_url(base: str, path_and_query: str) -> str:
    """``base`` (scheme, host, path prefix) with a REST path and query; the base's own query
    and fragment are dropped (they are no part of MLflow's API URLs)."""
    u = urllib.parse.urlsplit(base)
    path, _, query = path_and_query.partition("?")
    return urllib.parse.urlunsplit((u.scheme, u.netloc, u.path.rstrip("/") + path, query, ""))


def artifact_store(
    uri: str,
    experiment: str | None,
    env: Mapping[str, str],
    seconds: float = ASK_TIMEOUT,
    *,
    kerberos: bool = False,
) -> ArtifactStore:
    """Where the tracking server at ``uri`` keeps the artifacts of the experiment MLflow will
    use (``experiment``, else ``MLFLOW_EXPERIMENT_NAME``/``_ID``, else Default). An
    experiment that does not exist yet is created under the server's default artifact
    root, so then the Default experiment's location answers.

    Raises ``TrackingServerError`` (what went wrong, redacted) when the server cannot say:
    not an HTTP(S) URI, unreachable, an error status, or not the MLflow REST API. With
    ``kerberos`` (``tracking_auth=kerberos``: a server behind a SPNEGO proxy) the GET
    carries a Kerberos token, as MLflow's own requests will (``tracking_auth.check.
    spnego_get``); no ticket is that plugin's typed error (catalog D8).
    """
    if not uri.startswith(("http://", "https://")):
        raise TrackingServerError(
            f"the tracking URI {redact(uri)} is not a server that can be asked",
            "set the tracking URI to the MLflow server (http:// or https://)",
        )
    clean, user, password = without_userinfo(uri)
    path, label = experiment_query(experiment, env)
    key = (api_url(clean, path), user, tuple(env.get(v, "") for v in TLS_VARIABLES))
    hit = _ASKED.get(key)
    if hit and time.monotonic() - hit[0] < ASK_TTL:
        return hit[1]
    fix = "check the tracking URI and that the server runs; 'mlflow-client-env doctor' says more"
    note = None
    try:
        if kerberos:
            # here, not at the top: only tracking_auth=kerberos needs it, and setup() and the
            # kernel launcher import this module when no Hadoop is found (check: ~3 ms cold)
            from .tracking_auth.check import spnego_get

            def get(url: str) -> Answer:
                r = spnego_get(url, env, seconds)
                return Answer(r.url, r.status_code, r.headers.get("Content-Type", ""), r.content)
        else:
            auth = authorization(env, user, password)
            tls = tls_context(env) if clean.startswith("https://") else None

            def get(url: str) -> Answer:
                return bounded_get(url, auth, seconds, tls)

        ans = get(api_url(clean, path))
        if ans.status == 404 and "get-by-name" in path:
            note = (
                f"experiment {label} does not exist yet; MLflow creates it under the default root"
            )
            path, label = experiment_query(None, {})
            ans = get(api_url(clean, path))
    except BadCredentials as exc:
        raise TrackingServerError(
            str(exc), "set the credential to the value itself, on one line"
        ) from None
    except (
        TimeoutError,
        urllib.error.URLError,
        OSError,
        http.client.HTTPException,
        ValueError,
    ) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingServerError(
            f"the tracking server {redact(clean)} could not be asked about experiment {label} "
            f"({type(exc).__name__}: {redact(str(reason))})",
            fix,
        ) from None
    if ans.status != 200:
        body = redact_then_truncate(ans.body.decode(errors="replace"), 200)
        raise TrackingServerError(
            f"the tracking server {redact(clean)} answered HTTP {ans.status} about experiment "
            f"{label}: {body!r}",
            fix,
        )
    try:
        data = json.loads(ans.body)
    except (ValueError, RecursionError):
        data = None
    exp = data.get("experiment") if isinstance(data, dict) else None
    location = exp.get("artifact_location") if isinstance(exp, dict) else None
    if (
        not isinstance(location, str)
        or not location
        or len(location) > MAX_LOCATION
        or not location.isprintable()
    ):
        raise TrackingServerError(
            f"{redact(clean)} did not answer with an experiment's artifact location: "
            "not the MLflow REST API?",
            fix,
        )
    store = ArtifactStore(location, label, note)
    _ASKED[key] = (time.monotonic(), store)
    return store


def confirm_no_hadoop_needed(
    missing: HadoopNotFoundError,
    overrides: Overrides,
    env: Mapping[str, str],
    experiment: str | None,
) -> tuple[ArtifactStore, tuple[str, str]]:
    """After discovery found no Hadoop: where the server keeps the experiment's artifacts and
    the tracking URI (value, source), when that needs no Hadoop here; else ``missing``
    again, with what the server said.

    Only when discovery looked everywhere and found nothing (``HadoopAbsentError``): a path
    the user gave that is not a Hadoop installation stays an error. The one network step
    of ``setup()``, ``env``, ``install-kernel`` and the kernel launcher, taken only then
    and only with a tracking server configured; ``environment.without_hadoop`` composes
    the result.
    """
    if overrides.tracking_uri is None or not isinstance(missing, HadoopAbsentError):
        raise missing
    uri, source = overrides.tracking_uri.pair()
    refuse_credentials_in_uri(uri, source)  # before anything is sent anywhere
    auth = overrides.tracking_auth
    kerberos = auth is not None and checked_auth(*auth.pair()) == PROVIDER_NAME
    try:
        store = artifact_store(uri, experiment, env, kerberos=kerberos)
    except TrackingServerError as exc:
        raise HadoopNotFoundError(
            missing.problem,
            f"{missing.fix}. No Hadoop is needed when the tracking server stores the artifacts "
            f"itself (mlflow server --serve-artifacts), but that could not be checked: "
            f"{exc.problem}",
        ) from None
    if needs_hadoop(store.location):
        raise HadoopNotFoundError(
            f"{missing.problem}; experiment {store.experiment}'s artifacts are at "
            f"{store.location}, which MLflow's client writes through Hadoop (pyarrow, libhdfs)",
            missing.fix,
        ) from None
    return store, (uri, source)
