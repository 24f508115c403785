"""Findings about Kerberos to the tracking server: for ``setup()`` and for the doctor.

- :func:`setup_findings`: no network. Is the plugin installed and registered, does this
  MLflow use request auth plugins, is there a ticket, which principal will be asked for.
- :func:`spnego_get`: one bounded GET with Kerberos, for ``tracking.artifact_store``
  (``setup()`` on a host without Hadoop asks the server where the artifacts go).
- :func:`check_server`: asks the server, the way MLflow's client would, within a budget:
  does it want Kerberos (401 with ``WWW-Authenticate: Negotiate``), and if so, does the
  ticket get through (no ticket: D8 with the fix; the principal tried when the KDC has
  none; clock skew; the token refused), and will MLflow use it (``MLFLOW_TRACKING_AUTH``).

libkrb5 reads ``KRB5_CONFIG`` from this process's environment; ``env`` decides the ticket
cache (``KRB5CCNAME``), the settings and the plugin switch. The codes are
``tracking-server.spnego-*``, the same as the typed errors' (``TrackingAuthError.code``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping

from ..errors import PluginMissingError, TrackingAuthError
from ..findings import Finding
from ..redact import redact
from . import EXTRA_FIX
from .settings import AUTH_VAR, PROVIDER_NAME, service_principal

TYPE_CHECKING = False  # typing is not imported at run time (import cost; mypy honours this)
if TYPE_CHECKING:
    from typing import Any, TypeVar

    import gssapi

    T = TypeVar("T")

#: MLflow release that added ``MLFLOW_TRACKING_AUTH`` and the request auth provider plugins.
MLFLOW_MIN = (2, 8)
ENTRY_POINT_GROUP = "mlflow.request_auth_provider"
#: Redirects ``spnego_get`` follows (as ``tracking.MAX_REDIRECTS``).
MAX_REDIRECTS = 5
#: What the doctor asks for (any REST call: the proxy answers before MLflow does).
PROBE_PATH = "/api/2.0/mlflow/experiments/get?experiment_id=0"
ENABLE_FIX = (
    "turn it on: setup(tracking_auth=\"kerberos\"), 'install-kernel --tracking-auth kerberos', "
    'tracking_auth = "kerberos" in the config file, or export MLFLOW_TRACKING_AUTH=kerberos'
)


def _version(dist: str) -> tuple[int, ...] | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version(dist)
    except PackageNotFoundError:
        return None
    parts: list[int] = []
    for piece in text.split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _registered() -> bool:
    from importlib.metadata import entry_points

    return any(ep.name == PROVIDER_NAME for ep in entry_points(group=ENTRY_POINT_GROUP))


def plugin_problems() -> tuple[Finding, ...]:
    """What stops MLflow from using the plugin here (empty when nothing does)."""
    try:
        import gssapi  # noqa: F401
        import requests_gssapi  # type: ignore[import-untyped]  # noqa: F401
    except ImportError as exc:
        missing = PluginMissingError(
            f"Kerberos to the tracking server needs requests-gssapi and python-gssapi: {exc}",
            EXTRA_FIX,
        )
        return (missing.finding(),)
    found: list[Finding] = []
    if not _registered():
        found.append(
            Finding(
                PluginMissingError.code, "error",
                f"MLflow will not find the plugin: no '{PROVIDER_NAME}' entry point in group "
                f"{ENTRY_POINT_GROUP} (mlflow-client-env installed without its metadata?)",
                (), "reinstall mlflow-client-env with pip (pip install -e . for a checkout)",
            )
        )  # fmt: skip
    mlflow = _version("mlflow") or _version("mlflow-skinny")
    if mlflow is not None and mlflow < MLFLOW_MIN:
        found.append(
            Finding(
                "tracking-server.spnego-mlflow-too-old", "error",
                f"MLflow {'.'.join(map(str, mlflow))} ignores MLFLOW_TRACKING_AUTH (request "
                "auth plugins came with MLflow 2.8): its requests carry no Kerberos token",
                (), "use MLflow 2.8 or later",
            )
        )  # fmt: skip
    return tuple(found)


def setup_findings(
    mode: str | None, tracking_uri: str | None, env: Mapping[str, str] | None = None
) -> tuple[Finding, ...]:
    """For ``setup(tracking_auth=mode)``: nothing unless ``mode`` is ``kerberos``; then the
    plugin's problems, the ticket (D8 when there is none), else one ``ok`` finding that says
    who will authenticate, for which principal. No network."""
    if mode != PROVIDER_NAME:
        return ()
    from ..tracking import origin  # here: tracking imports ssl and http (~10 ms cold)

    env = os.environ if env is None else env
    problems = plugin_problems()
    if any(f.code == PluginMissingError.code for f in problems):
        return problems
    from .spnego import ticket_problem  # here: spnego imports gssapi and requests

    error, st = ticket_problem(env)
    if error is not None:
        return (*problems, error.finding((f"cache: {st.ccache} (from {st.ccache_source})",)))
    host = origin(tracking_uri)[1] if tracking_uri else ""
    spn = service_principal(host, env) if host else None
    asks = f"asking for {spn.name} ({spn.source})" if spn else "(no tracking URI yet)"
    return (
        *problems,
        Finding(
            "tracking-server.spnego-enabled", "ok",
            f"MLflow authenticates to the tracking server with Kerberos as {st.principal}, {asks}",
            (f"cache: {st.ccache} ({st.message})",),
        ),
    )  # fmt: skip


def _bounded(call: Callable[[], T], seconds: float) -> T:
    """``call()`` in a thread joined after ``seconds``: ``TimeoutError`` when it is not done
    (the thread, a daemon, is left to finish on its own)."""
    box: list[T | BaseException] = []

    def run() -> None:
        try:
            box.append(call())
        except BaseException as exc:  # handed to the caller
            box.append(exc)

    thread = threading.Thread(target=run, name="mlflow-client-env-spnego", daemon=True)
    thread.start()
    thread.join(max(seconds, 0.01))
    if not box:
        raise TimeoutError(f"no answer within {seconds:.1f} s")
    result = box[0]
    if isinstance(result, BaseException):
        raise result
    return result


def spnego_get(url: str, env: Mapping[str, str] | None = None, seconds: float = 10.0) -> Any:
    """GET ``url`` with Kerberos (SPNEGO) within ``seconds`` in all, following at most
    ``MAX_REDIRECTS`` redirects (the token only ever goes to ``url``'s origin): what
    ``tracking.artifact_store`` needs to ask a Kerberos-protected server. Returns the
    ``requests.Response``; raises ``TrackingAuthError`` (typed, with the fix),
    ``TimeoutError`` or a ``requests.RequestException``."""
    import requests

    from .spnego import KerberosAuth, ensure_ticket  # here: spnego imports gssapi, requests

    env = os.environ if env is None else env
    ensure_ticket(env)
    deadline = time.monotonic() + seconds
    auth = KerberosAuth(env, creds=_creds(env))

    def get() -> requests.Response:
        with requests.Session() as session:
            session.max_redirects = MAX_REDIRECTS
            left = max(deadline - time.monotonic(), 0.01)
            return session.get(url, auth=auth, timeout=left)

    return _bounded(get, seconds)


def check_server(
    uri: str, env: Mapping[str, str] | None = None, seconds: float = 10.0
) -> tuple[Finding, ...]:
    """Ask the tracking server at ``uri`` whether it wants Kerberos and whether this ticket
    gets through, within ``seconds`` in all. The findings, first the answer:
    ``tracking-server.spnego-ok``, ``-not-asked`` (no Negotiate: nothing to do), or an error with the
    code of the typed error that would stop MLflow's client (``-no-ticket`` and
    ``-ticket-expired`` name D8; ``-unknown-principal`` the principal tried; ``-clock-skew``;
    ``-wrong-realm``; ``-kdc-unreachable``; ``-rejected``; ``-proxy-unreachable``;
    ``-timeout``); then ``-not-enabled`` (warn) when the server wants Kerberos and
    MLFLOW_TRACKING_AUTH is not ``kerberos``."""
    import requests

    # here, not at the top: tracking pulls ssl and http, spnego gssapi and requests, and
    # setup() imports this module
    from ..tracking import api_url, origin, without_userinfo

    env = os.environ if env is None else env
    deadline = time.monotonic() + seconds

    def left() -> float:
        return max(deadline - time.monotonic(), 0.01)

    clean, _, _ = without_userinfo(uri)  # a password in the URI is never sent
    url = api_url(clean, PROBE_PATH)
    shown = redact(clean)
    problems = plugin_problems()
    if any(f.code == PluginMissingError.code for f in problems):
        return problems
    from .spnego import CONNECT_TIMEOUT, KerberosAuth, probe, ticket_problem  # (see above)

    enabled = env.get(AUTH_VAR) == PROVIDER_NAME
    try:
        probe(url, min(CONNECT_TIMEOUT, left()))
        plain = _bounded(lambda: requests.get(url, timeout=left(), allow_redirects=False), left())
    except TrackingAuthError as exc:
        return (exc.finding(),)
    except (TimeoutError, requests.RequestException) as exc:
        return (_timeout_or_failure(shown, exc),)
    challenge = plain.headers.get("WWW-Authenticate", "")
    if plain.status_code != 401 or "negotiate" not in challenge.lower():
        evidence: tuple[str, ...] = (
            f"HTTP {plain.status_code}, WWW-Authenticate: {challenge or '(none)'}",
        )
        note = " (MLFLOW_TRACKING_AUTH=kerberos sends a token anyway: harmless)" if enabled else ""
        return (
            Finding(
                "tracking-server.spnego-not-asked", "ok",
                f"the tracking server {shown} does not ask for Kerberos{note}", evidence,
            ),
        )  # fmt: skip
    asked = f"HTTP 401 with WWW-Authenticate: {challenge}"
    wants = f"the tracking server {shown} wants Kerberos ({asked}), but"
    error, st = ticket_problem(env, lead=wants)
    after = () if enabled else (_not_enabled(shown),)
    if error is not None:
        fix = error.fix if enabled else f"{error.fix}; then {ENABLE_FIX}"
        evidence = (asked, f"cache: {st.ccache} (from {st.ccache_source})")
        return (Finding(error.code, "error", error.problem, evidence, fix),)
    spn = service_principal(origin(url)[1], env)
    creds = _creds(env)
    auth = KerberosAuth(env, creds=creds)
    try:
        answer = _bounded(
            lambda: requests.get(url, auth=auth, timeout=left(), allow_redirects=False), left()
        )
    except TrackingAuthError as exc:
        return (exc.finding((asked, f"service principal: {spn.name} ({spn.source})")), *after)
    except (TimeoutError, requests.RequestException) as exc:
        return (_timeout_or_failure(shown, exc), *after)
    host = origin(url)[1]
    mutual = host in auth.context and bool(auth.context[host].complete)
    evidence = (
        asked,
        f"then HTTP {answer.status_code}"
        + (" with the server's own token (mutual authentication)" if mutual else ""),
        f"cache: {st.ccache}",
    )
    if answer.status_code == 403:
        first = Finding(
            "tracking-server.spnego-forbidden", "error",
            f"{shown} accepted the Kerberos ticket of {st.principal} (for {spn.name}) but "
            "refuses access (HTTP 403)",
            evidence, "ask the server's admins for access for this principal",
        )  # fmt: skip
    else:
        first = Finding(
            "tracking-server.spnego-ok", "ok",
            f"Kerberos to {shown} works: {st.principal} authenticated for {spn.name} "
            f"({spn.source})",
            evidence,
        )  # fmt: skip
    return (first, *after)


def _creds(env: Mapping[str, str]) -> gssapi.Credentials | None:
    """The credentials of ``env``'s cache when it is not this process's (else libkrb5's
    default, which is this process's KRB5CCNAME)."""
    ccache = env.get("KRB5CCNAME")
    if not ccache or ccache == os.environ.get("KRB5CCNAME"):
        return None
    import gssapi

    return gssapi.Credentials(usage="initiate", store={"ccache": ccache})


def _not_enabled(shown: str) -> Finding:
    return Finding(
        "tracking-server.spnego-not-enabled", "warn",
        f"the tracking server {shown} wants Kerberos, but MLflow's client will not send a "
        f"token: {AUTH_VAR} is not '{PROVIDER_NAME}'",
        (), ENABLE_FIX,
    )  # fmt: skip


def _timeout_or_failure(shown: str, exc: BaseException) -> Finding:
    if isinstance(exc, TimeoutError) or "timed out" in str(exc).lower():
        return Finding(
            "tracking-server.spnego-timeout", "error",
            f"the tracking server {shown} did not answer in time ({redact(str(exc))})",
            (), "check that the server (and the proxy in front of it) works; then try again",
        )  # fmt: skip
    return Finding(
        "tracking-server.spnego-failed", "error",
        f"asking the tracking server {shown} failed: {type(exc).__name__}: {redact(str(exc))}",
        (), "check the tracking URI and that the server works",
    )  # fmt: skip
