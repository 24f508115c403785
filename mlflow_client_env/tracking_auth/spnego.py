"""The SPNEGO auth MLflow's REST client attaches to its requests, built on requests-gssapi.

MLflow asks the provider for a new auth object for every request (``fetch_auth`` in
``http_request``) and sends it through one shared, cached ``requests.Session``. So an
object here serves one request: the state requests-gssapi keeps on it (the security
context for mutual authentication, the body position) is never shared between threads.

What this adds to requests-gssapi's ``HTTPSPNEGOAuth``:

- **Credentials only to the origin MLflow asked.** The origin (scheme, host, port) of the
  request MLflow sends is the configured one. A response from any other origin, after a
  redirect, gets no Negotiate token and no mutual authentication: requests-gssapi would
  otherwise answer a 401 from whatever host the redirect named (with a configured
  principal, a token for *our* service, which that host could relay). requests itself
  drops the ``Authorization`` header when a redirect changes host, port or scheme.
- **The token goes with the first request** (requests-gssapi's opportunistic mode): one
  HTTP exchange per request instead of a 401 and a second one. The proxy asks anyway,
  for every request, unless it keeps sessions.
- **Mutual authentication where the proxy offers it** (``OPTIONAL``): a proxy that sends
  its own token back must prove it holds the service key. requests-gssapi's own check lets
  a forged token pass (python-gssapi defers SPNEGO's rejection); here the context must end
  complete.
- **The service principal**: ``HTTP@<host>``, or the one configured (``settings``).
- **The ticket cache of the rest of the tool**: ``KRB5CCNAME`` as ``setup()`` exports it
  (libkrb5's default otherwise), checked with ``kerberos.ticket.ticket_status`` first (it
  never hangs on a FIFO or a stuck KCM server, and names the reason: catalog D8).
- **Typed errors** (``errors``) instead of requests-gssapi's logged traceback followed
  by an anonymous 401: no ticket, expired, unknown service principal (the principal
  tried is named), wrong realm, clock skew, KDC unreachable, token refused, mutual
  authentication failed. For the reason, a failed exchange is tried once more with the
  Kerberos mechanism itself, whose errors carry libkrb5's own codes (through SPNEGO,
  libgssapi renumbers them).
- **No hang on a proxy that is down**: MLflow retries connection errors with back-off for
  minutes. Before the first request to an origin, and whenever nothing was heard from it
  for ``REACHABLE_TTL`` seconds, a TCP connection is opened to it (at most
  ``CONNECT_TIMEOUT`` seconds); when none can be, ``ProxyUnreachableError`` is raised
  before MLflow's retries start. Skipped when requests would go through an HTTP proxy.

Errors raised while requests prepares or sends the request reach the caller wrapped in
MLflow's ``MlflowException`` ("API request to ... failed with exception ..."), whose
message then carries ours (problem and fix) and whose ``__context__`` is the typed
error. Errors of ``get_auth()`` itself (no ticket, a bad setting) reach it unwrapped.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import gssapi
import requests
import requests_gssapi  # type: ignore[import-untyped]
from gssapi.raw.exceptions import ExpiredCredentialsError, MissingCredentialsError
from gssapi.raw.misc import GSSError
from requests_gssapi.exceptions import (  # type: ignore[import-untyped]
    MutualAuthenticationError,
    SPNEGOExchangeError,
)

from ..errors import (
    AuthRejectedError,
    ClockSkewError,
    ExpiredTicketError,
    KdcUnreachableError,
    MutualAuthError,
    NoTicketError,
    ProxyUnreachableError,
    TrackingAuthError,
    UnknownServicePrincipalError,
    WrongRealmError,
)
from ..kerberos.ticket import ticket_status
from ..redact import redact
from ..tracking import origin
from .settings import SPN_FIX, ServicePrincipal, service_principal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..kerberos.ticket import TicketStatus

Origin = tuple[str, str, int]

#: Seconds to open a TCP connection to the tracking server's origin before a request.
CONNECT_TIMEOUT = 5.0
#: An origin that answered this recently is not probed again.
REACHABLE_TTL = 30.0
#: A ticket found valid is not looked at again for this long (or until it expires).
TICKET_TTL = 60.0
#: Send the token with the first request (see the module doc).
OPPORTUNISTIC = True

SPNEGO_MECH = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")


def _u32(code: int) -> int:
    return code & 0xFFFFFFFF


# libkrb5 error codes (krb5.h), as python-gssapi reports minor codes (unsigned)
KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN = _u32(-1765328378)
KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN = _u32(-1765328377)
KRB5KDC_ERR_TGT_REVOKED = _u32(-1765328364)
KRB5KRB_AP_ERR_TKT_EXPIRED = _u32(-1765328352)
KRB5KRB_AP_ERR_TKT_NYV = _u32(-1765328351)
KRB5KRB_AP_ERR_SKEW = _u32(-1765328347)
KRB5_REALM_UNKNOWN = _u32(-1765328230)
KRB5_KDC_UNREACH = _u32(-1765328228)
KRB5_REALM_CANT_RESOLVE = _u32(-1765328164)

KINIT_FIX = "run 'kinit' (or 'mlflow-client-env kinit --keytab K --principal P'), then try again"
SKEW_FIX = (
    "set this machine's clock right (chronyd or ntpd; 'chronyc tracking' shows the offset): "
    "Kerberos refuses clocks more than its allowed skew apart (5 minutes unless krb5.conf's "
    "clockskew says otherwise)"
)
KDC_FIX = (
    "check that the KDC of that realm can be reached from here (krb5.conf [realms], "
    "KRB5_CONFIG), then try again"
)
REJECTED_FIX = (
    "the proxy's error log says why; usually its keytab holds an older key of its principal "
    "(re-export it), its clock is off, or it expects another principal: "
) + SPN_FIX


# ------------------------------------------------------------------ requests-gssapi's log
class _Quiet(threading.local):
    on = False


_QUIET = _Quiet()


class _QuietFilter(logging.Filter):
    """Drops requests-gssapi's records (a logged traceback for every GSS failure) while this
    module handles the exchange: the failure comes back as a typed error instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _QUIET.on


_LOG = logging.getLogger("requests_gssapi.gssapi_")
if not any(isinstance(f, _QuietFilter) for f in _LOG.filters):
    _LOG.addFilter(_QuietFilter())


@contextmanager
def _quiet() -> Iterator[None]:
    before = _QUIET.on
    _QUIET.on = True
    try:
        yield
    finally:
        _QUIET.on = before


# ------------------------------------------------------------------ names, tickets, reachability
def gss_name(spn: ServicePrincipal) -> gssapi.Name:
    """``service@host`` as a host-based service name, ``service/host@REALM`` as a principal."""
    kind = (
        gssapi.NameType.hostbased_service if spn.hostbased else gssapi.NameType.kerberos_principal
    )
    return gssapi.Name(spn.name, kind)


_LOCK = threading.Lock()
#: (KRB5CCNAME, KRB5_CONFIG) -> monotonic time until which the ticket is taken as valid
_TICKETS: dict[tuple[str | None, str | None], float] = {}
#: origin -> monotonic time it last answered (or accepted a connection)
_REACHED: dict[Origin, float] = {}


def ticket_problem(
    env: Mapping[str, str], lead: str = "Kerberos to the tracking server needs a ticket, but"
) -> tuple[TrackingAuthError | None, TicketStatus]:
    """(the error for the ticket cache ``env`` names, or None; its status), through
    ``kerberos.ticket.ticket_status``, which reads a FILE cache itself first and asks a KCM
    server before libkrb5 does (never a hang). ``lead`` starts the error's message."""
    st = ticket_status(env=env, realms=())
    if st.ok:
        return None, st
    cls = ExpiredTicketError if st.state == "expired" else NoTicketError
    return cls(f"{lead} {st.message}", st.fix or KINIT_FIX), st


def ensure_ticket(env: Mapping[str, str]) -> None:
    """Raise ``NoTicketError``/``ExpiredTicketError`` unless the cache holds a live ticket;
    a ticket found valid is not looked at again for ``TICKET_TTL`` seconds."""
    key = (env.get("KRB5CCNAME"), env.get("KRB5_CONFIG"))
    now = time.monotonic()
    with _LOCK:
        if _TICKETS.get(key, 0.0) > now:
            return
    error, st = ticket_problem(env)
    if error is not None:
        with _LOCK:
            _TICKETS.pop(key, None)
        raise error
    with _LOCK:
        _TICKETS[key] = now + min(TICKET_TTL, float(st.seconds_left or 0))


def _mark_reached(url: str) -> None:
    with _LOCK:
        _REACHED[origin(url)] = time.monotonic()


def ensure_reachable(url: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise ``ProxyUnreachableError`` when no TCP connection can be opened to ``url``'s
    origin within ``timeout`` seconds (not asked again for ``REACHABLE_TTL`` seconds after
    it answered; not asked when requests would use an HTTP proxy for ``url``)."""
    with _LOCK:
        last = _REACHED.get(origin(url))
    if last is not None and time.monotonic() - last < REACHABLE_TTL:
        return
    if requests.utils.get_environ_proxies(url):
        return
    probe(url, timeout)


def probe(url: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Open (and close) a TCP connection to ``url``'s origin; ``ProxyUnreachableError`` when
    that fails within ``timeout`` seconds."""
    scheme, host, port = origin(url)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ProxyUnreachableError(
            f"the tracking server {scheme}://{host}:{port} (or the Kerberos proxy in front of "
            f"it) cannot be reached: {reason}",
            "check that it runs and the tracking URI; MLflow would retry this for minutes",
        ) from None
    _mark_reached(url)


# ------------------------------------------------------------------ why an exchange failed
_SERVER = re.compile(r"Server (\S+) not found in Kerberos database")


def minor_text(exc: GSSError) -> str:
    """libkrb5's message in a GSS error ('Clock skew too great'), else the whole message."""
    text = str(exc)
    if "Minor (" in text:
        text = text.split("Minor (", 1)[1].split("): ", 1)[-1]
    return text.strip()


#: Kerberos error codes (RFC 4120 7.5.9) a proxy's KRB-ERROR token may carry, in words.
KRB_AP_ERR_TKT_EXPIRED = 32
KRB_AP_ERR_TKT_NYV = 33
KRB_AP_ERR_SKEW = 37
KRB_ERRORS = {
    31: "integrity check on decrypted field failed",
    KRB_AP_ERR_TKT_EXPIRED: "the ticket has expired (by the proxy's clock)",
    KRB_AP_ERR_TKT_NYV: "the ticket is not valid yet (by the proxy's clock)",
    34: "the request is a replay",
    KRB_AP_ERR_SKEW: "clock skew too great",
    41: "the proxy cannot decrypt the ticket: its keytab holds another key",
    44: "the proxy's keytab holds another key version (kvno)",
    60: "generic error",
}
#: The Kerberos mechanism's OID (DER) and the token ID of a KRB-ERROR (RFC 1964, 4121).
_KRB5_OID_DER = bytes.fromhex("06092a864886f712010202")
_KRB_ERROR_TOK_ID = b"\x03\x00"


def _tlv(data: bytes, i: int) -> tuple[int, int, int]:
    """(tag, start, end) of the DER element at ``i``; IndexError when it does not fit."""
    tag, first = data[i], data[i + 1]
    if first < 0x80:
        start, length = i + 2, first
    else:
        n = first & 0x7F
        start, length = i + 2 + n, int.from_bytes(data[i + 2 : i + 2 + n], "big")
    if start + length > len(data):
        raise IndexError("truncated DER element")
    return tag, start, start + length


def krb_error_code(token: bytes) -> int | None:
    """The error-code of the KRB-ERROR inside a GSS (or SPNEGO-wrapped) token, else None.
    Read from the token itself: libgssapi's answer to it depends on the state of the
    context that sent the rejected token, which requests-gssapi has replaced by then."""
    at = token.find(_KRB5_OID_DER + _KRB_ERROR_TOK_ID)
    if at < 0:
        return None
    try:
        tag, start, _ = _tlv(token, at + len(_KRB5_OID_DER) + len(_KRB_ERROR_TOK_ID))
        if tag != 0x7E:  # [APPLICATION 30] KRB-ERROR
            return None
        tag, start, end = _tlv(token, start)  # SEQUENCE
        while tag == 0x30 and start < min(end, len(token)):
            field, value, after = _tlv(token, start)
            if field == 0xA6:  # [6] error-code
                kind, istart, iend = _tlv(token, value)
                return int.from_bytes(token[istart:iend], "big", signed=True) if kind == 2 else None
            start = after
    except IndexError:
        return None
    return None


def _realm(principal: str | None) -> str | None:
    if not principal or "@" not in principal:
        return None
    return principal.rpartition("@")[2] or None


def classify(
    code: int | None, text: str, spn: ServicePrincipal, principal: str | None
) -> TrackingAuthError:
    """The typed error for libkrb5's ``code`` (its message ``text``), met while asking for a
    ticket for ``spn`` with the ticket of ``principal``. Pure: tested with real codes."""
    asked = f"{spn.name} (from {spn.source})"
    if code == KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN:
        match = _SERVER.search(text)
        server = match.group(1) if match else None
        if server and server.startswith("krbtgt/"):
            target = server.split("/", 1)[1].split("@", 1)[0]
            mine = _realm(server) or _realm(principal) or "?"
            return WrongRealmError(
                f"the tracking server's principal {asked} is in realm {target}, and your "
                f"ticket ({principal or 'realm ' + mine}) is from realm {mine}, which has no "
                f"trust with it (the KDC has no {server})",
                f"log in to {target} (kinit you@{target}) if the proxy belongs there; if it "
                f"does not, map the host to its realm in krb5.conf [domain_realm] or {SPN_FIX}",
            )
        return UnknownServicePrincipalError(
            f"the KDC has no service principal {server or spn.name}: tried {asked} for the "
            "tracking server",
            f"{SPN_FIX}; the proxy's admins know which principal its keytab holds (behind a "
            "load balancer it is often the balancer's name, not the host's)",
        )
    if code == KRB5KRB_AP_ERR_SKEW:
        return ClockSkewError(
            f"clock skew: this machine's clock and the KDC's are too far apart to get a ticket "
            f"for {asked} ({text})",
            SKEW_FIX,
        )
    if code == KRB5KRB_AP_ERR_TKT_NYV:
        return ClockSkewError(
            f"clock skew: by this machine's clock the ticket is not valid yet, so the clock is "
            f"behind the KDC's (asking for a ticket for {asked}: {text})",
            SKEW_FIX,
        )
    if code in (KRB5_KDC_UNREACH, KRB5_REALM_CANT_RESOLVE):
        return KdcUnreachableError(
            f"no KDC answered while asking for a ticket for {asked}: {text}", KDC_FIX
        )
    if code == KRB5_REALM_UNKNOWN:
        return WrongRealmError(
            f"libkrb5 knows no realm for the tracking server's principal {asked}: {text}",
            f"add the realm to krb5.conf ([realms], [domain_realm]) or {SPN_FIX}",
        )
    if code in (KRB5KRB_AP_ERR_TKT_EXPIRED, KRB5KDC_ERR_TGT_REVOKED):
        return ExpiredTicketError(
            f"the ticket of {principal or 'the cache'} can no longer be used ({text})", KINIT_FIX
        )
    if code == KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
        return NoTicketError(
            f"the KDC no longer knows the ticket's principal {principal or ''} ({text})".replace(
                "  ", " "
            ),
            KINIT_FIX,
        )
    return TrackingAuthError(
        f"Kerberos (SPNEGO) authentication to the tracking server failed while asking for a "
        f"ticket for {asked}: {text}",
        "run 'mlflow-client-env doctor' for the tracking server; 'klist' shows the ticket",
    )


def _krb5_reason(spn: ServicePrincipal, creds: gssapi.Credentials | None) -> tuple[int | None, str]:
    """Start a context with the Kerberos mechanism itself (not SPNEGO), whose failure carries
    libkrb5's own error code; (None, "") when it works this time."""
    try:
        ctx = gssapi.SecurityContext(
            usage="initiate", name=gss_name(spn), creds=creds, mech=gssapi.MechType.kerberos
        )
        ctx.step()
    except GSSError as exc:
        return exc.min_code, minor_text(exc)
    return None, ""


def diagnose(
    exc: BaseException | None,
    spn: ServicePrincipal,
    env: Mapping[str, str],
    creds: gssapi.Credentials | None = None,
) -> TrackingAuthError:
    """The typed error for a failed SPNEGO step (``exc``: the GSS error, when known)."""
    if isinstance(exc, (MissingCredentialsError, ExpiredCredentialsError)):
        error, _ = ticket_problem(env)
        if error is not None:
            return error
    principal: str | None = None
    try:
        principal = str((creds or gssapi.Credentials(usage="initiate")).name)
    except GSSError:
        error, _ = ticket_problem(env)
        if error is not None:
            return error
    code, text = _krb5_reason(spn, creds)
    if code is None:  # it worked the second time: say what SPNEGO said
        text = minor_text(exc) if isinstance(exc, GSSError) else str(exc or "unknown error")
    return classify(code, text, spn, principal)


# ------------------------------------------------------------------ the auth object
def _offers_negotiate(response: requests.Response) -> bool:
    return "negotiate" in response.headers.get("WWW-Authenticate", "").lower()


def _sent_token(response: requests.Response) -> bool:
    request = response.request
    return request is not None and str(request.headers.get("Authorization", "")).startswith(
        "Negotiate "
    )


class KerberosAuth(requests_gssapi.HTTPSPNEGOAuth):  # type: ignore[misc]
    """requests-gssapi's SPNEGO auth for one request (see the module doc)."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        opportunistic: bool = OPPORTUNISTIC,
        creds: gssapi.Credentials | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        super().__init__(
            mutual_authentication=requests_gssapi.OPTIONAL,
            opportunistic_auth=opportunistic,
            creds=creds,
            mech=SPNEGO_MECH,
            sanitize_mutual_error_response=False,
        )
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.connect_timeout = connect_timeout
        #: the origin MLflow sent the request to: the only one that gets a token
        self.origin: Origin | None = None
        self.spn: ServicePrincipal | None = None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = str(request.url)
        self.origin = origin(url)
        self.spn = service_principal(self.origin[1], self.env)
        self.target_name = gss_name(self.spn)
        ensure_reachable(url, self.connect_timeout)
        with _quiet():
            result: requests.PreparedRequest = super().__call__(request)
        return result

    def generate_request_header(
        self, response: requests.Response | None, host: str, is_preemptive: bool = False
    ) -> str:
        assert self.spn is not None  # set by __call__, before any request is sent
        try:
            with _quiet():
                header: str = super().generate_request_header(response, host, is_preemptive)
        except SPNEGOExchangeError as exc:
            raise diagnose(exc.__context__, self.spn, self.env, self.creds) from None
        return header

    def handle_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if self.origin is None or origin(str(response.url)) != self.origin:
            return response  # another origin, after a redirect: nothing of ours goes there
        _mark_reached(str(response.url))
        outermost = "num_401s" not in kwargs
        try:
            with _quiet():
                result: requests.Response = super().handle_response(response, **kwargs)
        except MutualAuthenticationError:
            raise MutualAuthError(
                f"the tracking server {redact(str(response.url))} did not prove it holds the key of "
                f"{self.spn.name if self.spn else 'its principal'} (mutual authentication "
                "failed): its answer may not come from the real server",
                "ask the proxy's admins; do not trust its answers until this is explained",
            ) from None
        if outermost and result.status_code == 401 and _sent_token(result):
            raise self._rejected(result)
        return result

    def authenticate_server(self, response: requests.Response) -> bool:
        """requests-gssapi's check of the server's token, made strict: python-gssapi defers a
        failed step that still produced an output token (SPNEGO does, to reject) and returns
        that token without raising, so a forged answer would pass. The context must be
        complete, and asking it that raises the deferred error."""
        if not super().authenticate_server(response):
            return False
        host = urllib.parse.urlsplit(str(response.url)).hostname
        context = self.context.get(host)
        try:
            return context is not None and bool(context.complete)
        except GSSError:
            return False

    def _rejected(self, response: requests.Response) -> TrackingAuthError:
        """The error for a 401 to our token. A proxy whose libgssapi refused the token sends
        libkrb5's error back in its ``WWW-Authenticate: Negotiate`` token: the reason."""
        name = self.spn.name if self.spn else "its principal"
        shown = redact(str(response.url))
        token = requests_gssapi.gssapi_._negotiate_value(response)
        code = krb_error_code(token) if token else None
        if code in (KRB_AP_ERR_SKEW, KRB_AP_ERR_TKT_NYV):
            return ClockSkewError(
                f"clock skew: the tracking server {shown} refused the Kerberos token for "
                f"{name} because this machine's clock and the proxy's are too far apart "
                f"(Kerberos error {code}: {KRB_ERRORS[code]})",
                SKEW_FIX + "; or the proxy's clock is off: tell its admins",
            )
        said = (
            f"; the proxy says: {KRB_ERRORS.get(code, 'Kerberos error')} ({code})" if code else ""
        )
        asks = ", it still asks for Negotiate" if _offers_negotiate(response) else ""
        return AuthRejectedError(
            f"the tracking server {shown} refused the Kerberos token for {name} "
            f"(HTTP 401 again{asks}){said}",
            REJECTED_FIX,
        )
