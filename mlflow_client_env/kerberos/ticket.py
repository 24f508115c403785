"""Is there a Kerberos ticket that Python *and* Java can use, and for how long?

Most "it worked yesterday" failures are tickets (catalog D1, D3, D6, D8): none,
expired mid-run, or in a KEYRING/KCM cache the JDK cannot read. ``ticket_status``
reads a FILE cache itself (``ccache``: MIT's documented binary format, under the shared
lock MIT's own readers take), and asks python-gssapi (never ``klist`` text) about the
other cache types. Checking a FILE cache never writes to it; gssapi would (see
``ticket_status``), and still may for DIR, KEYRING and KCM caches.
gssapi is imported inside the functions so ``import mlflow_client_env`` stays fast.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from ..errors import (
    CcacheFormatError,
    CcacheNameError,
    CcacheUnreadableError,
    GssapiMissingError,
    MlflowClientEnvError,
)
from ..findings import Finding
from ..hadoop.conf import parse_site_xml
from ..records import asdict, record
from ..safeio import read_small_text
from ..userdirs import private_dir
from .ccache import (
    KINIT_FIX,
    NO_FILE_ERRNOS,
    FileCcache,
    check_dir_ccache,
    parse_file_ccache,
    read_file_ccache,
    read_regular_file,
)
from .profile import ccache_path, ccache_type, discover_kerberos, parse_ccache_name, parse_profile

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing it here (mypy honours this)
if TYPE_CHECKING:  # typing costs ~3 ms of a cold setup(), which reads FILE caches from here
    from typing import Any, Literal, Protocol

    from ..findings import Status

    State = Literal[
        "valid", "expiring", "expired", "missing", "unreadable", "corrupt", "foreign_realm"
    ]

    class StatusMaker(Protocol):
        def __call__(
            self,
            state: State,
            message: str,
            fix: str | None,
            principal: str | None = None,
            parsed: FileCcache | None = None,
            seconds_left: int | None = None,
        ) -> TicketStatus: ...


STATES: tuple[State, ...] = (
    "valid",
    "expiring",
    "expired",
    "missing",
    "unreadable",
    "corrupt",
    "foreign_realm",
)
#: Below this many seconds left a ticket is ``expiring`` (issue 4: 1 h).
DEFAULT_THRESHOLD = 3600.0

# MIT krb5 minor status codes (krb5_err.et, unsigned) seen through gssapi.
KRB5_CC_NOTFOUND = 2529639053
KRB5_CC_END = 2529639054
KRB5_CC_UNKNOWN_TYPE = 2529639052
KRB5_FCC_PERM = 2529639106
KRB5_FCC_NOFILE = 2529639107
KRB5_CC_FORMAT = 2529639111
KRB5_CCACHE_BADVNO = 2529639124
G_EMPTY_CCACHE = 39756044  # gssapi: "Credential cache is empty"
MISSING_CODES = frozenset({KRB5_FCC_NOFILE, KRB5_CC_NOTFOUND})
CORRUPT_CODES = frozenset({KRB5_CC_FORMAT, KRB5_CC_END, KRB5_CCACHE_BADVNO})

#: python-gssapi is an extra: without it FILE caches are read from the file, other types not.
GSSAPI_FIX = (
    "install python-gssapi: pip install 'mlflow-client-env[kerberos]' (needs a C compiler and "
    "the Kerberos headers: krb5-devel and gcc, or libkrb5-dev and gcc), or 'dnf install "
    "python3-gssapi', or 'conda install -c conda-forge python-gssapi'; or use a FILE cache "
    "('mlflow-client-env kinit --to-file' needs gssapi too: 'kinit -c FILE:/path' does not)"
)


def load_gssapi() -> Any | None:
    """python-gssapi when installed (the ``kerberos`` extra), else None."""
    try:
        import gssapi
    except ImportError:
        return None
    return gssapi


def require_gssapi(what: str) -> Any:
    """python-gssapi, or ``GssapiMissingError`` saying what needed it and how to install it."""
    gssapi = load_gssapi()
    if gssapi is None:
        raise GssapiMissingError(f"{what} needs python-gssapi, which is not installed", GSSAPI_FIX)
    return gssapi


def read_any_ccache(ccache: str) -> FileCcache | None:
    """Times for any cache type: FILE caches are parsed directly; others (KEYRING, KCM,
    DIR) are copied through gssapi into a private temporary FILE cache first.
    None when the cache cannot be read this way."""
    path = ccache_path(ccache)
    try:
        if path is not None:
            return read_file_ccache(path)
        import shutil
        import tempfile

        tmpdir = tempfile.mkdtemp(prefix="ccache-", dir=private_dir(create=True))
        try:
            target = Path(tmpdir) / "cc"
            copy_credentials(ccache, f"FILE:{target}")
            return read_file_ccache(target)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
    except (OSError, CcacheFormatError, MlflowClientEnvError):
        return None
    except Exception as exc:  # gssapi errors: the caller has classified the cache already
        if type(exc).__module__.startswith("gssapi"):
            return None
        raise


#: Where libkrb5 talks to the KCM server (sssd-kcm) unless krb5.conf says ``kcm_socket``.
KCM_DEFAULT_SOCKET = "/var/run/.heim_org.h5l.kcm-socket"
#: A KCM NOOP request: length 4, protocol version 2.0, opcode 0 (what klist's library sends
#: first is a real request; any server answers NOOP at once).
KCM_NOOP = struct.pack(">IBBH", 4, 2, 0, 0)
KCM_TIMEOUT = 5.0


def kcm_socket(env: Mapping[str, str] | None = None) -> str:
    """The KCM socket libkrb5 uses: the first ``kcm_socket`` of the krb5.conf files it
    reads (includes too, in order), else the default."""
    k = discover_kerberos(env, check_ccache=False)
    for f in k.conf_files:
        try:
            text = read_small_text(f, "check krb5.conf")
            value = parse_profile(text or "", str(f)).get("libdefaults", {}).get("kcm_socket")
        except (MlflowClientEnvError, OSError):
            continue
        if value:
            return str(value[0])
    return KCM_DEFAULT_SOCKET


def kcm_problem(
    env: Mapping[str, str] | None = None, timeout: float = KCM_TIMEOUT
) -> tuple[str, str] | None:
    """(problem, fix) when the KCM server does not answer a NOOP within ``timeout``; None
    when it answers, or when the socket cannot be judged (then libkrb5 says why).

    Why: libkrb5 has no timeout on the KCM socket, so a server that accepts connections
    and never answers (hung, stopped with SIGSTOP, deadlocked) blocks ``klist``, gssapi
    and with them ``ticket``, ``setup()`` and the kernel launcher forever.
    """
    import socket

    path = kcm_socket(env)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            sock.sendall(KCM_NOOP)
            if sock.recv(4):
                return None
            reason = "closes the connection without an answer"
        except (FileNotFoundError, ConnectionRefusedError):
            return (
                f"the KCM credential cache server is not running (nothing listens on {path})",
                "start it: 'systemctl start sssd-kcm.socket' as root, or ask your admins; "
                "or use a FILE cache: KRB5CCNAME=FILE:/tmp/krb5cc_$(id -u) kinit",
            )
        except TimeoutError:
            reason = f"accepts connections but does not answer within {timeout:g} s"
        except OSError:
            return None
    return (
        f"the KCM credential cache server on {path} {reason}: it hangs",
        "restart it: 'systemctl restart sssd-kcm' as root, or ask your admins; or use a "
        "FILE cache: KRB5CCNAME=FILE:/tmp/krb5cc_$(id -u) kinit",
    )


def copy_credentials(source: str, target: str) -> None:
    """Copy the credentials of cache ``source`` into cache ``target`` (gss_store_cred_into)."""
    gssapi = require_gssapi(f"copying the ticket of {source}")

    creds = gssapi.Credentials(usage="initiate", store={"ccache": source})
    creds.store(store={"ccache": target}, overwrite=True, set_default=False)


# --------------------------------------------------------------------------- status
def _utc(ts: int | float | None) -> datetime | None:
    return None if not ts else datetime.fromtimestamp(ts, tz=timezone.utc)


@record
class TicketStatus:
    """The state of one credential cache, as Python (gssapi) and Java would see it."""

    principal: str | None
    realm: str | None
    ccache: str
    ccache_type: str
    java_readable: bool
    starts_at: datetime | None
    expires_at: datetime | None
    seconds_left: int | None
    renew_until: datetime | None
    state: State
    message: str
    fix: str | None
    ccache_source: str = "argument"
    cluster_realms: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """A usable ticket (``valid`` or ``expiring``)."""
        return self.state in ("valid", "expiring")

    @property
    def lifetime(self) -> float | None:
        """Total lifetime of the TGT in seconds (end - start), when known."""
        if self.starts_at is None or self.expires_at is None:
            return None
        return (self.expires_at - self.starts_at).total_seconds()

    @property
    def renewable(self) -> bool:
        """True when the KDC would still renew the TGT (renew-until after its expiry)."""
        return (
            self.renew_until is not None
            and self.expires_at is not None
            and self.renew_until > self.expires_at
        )

    @property
    def ccache_file(self) -> Path | None:
        return ccache_path(self.ccache)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("starts_at", "expires_at", "renew_until"):
            value = out[key]
            out[key] = value.isoformat() if isinstance(value, datetime) else None
        out["cluster_realms"] = list(self.cluster_realms)
        out["ok"] = self.ok
        out["renewable"] = self.renewable
        return out

    def summary(self) -> str:
        return f"{self.state}: {self.message}"


def _realm_of_principal(principal: str | None) -> str | None:
    if not principal or "@" not in principal:
        return None
    return principal.rpartition("@")[2] or None


def cluster_realms(
    env: Mapping[str, str] | None = None,
    default_realm: str | None = None,
    hadoop_conf_dir: str | os.PathLike[str] | None = None,
) -> tuple[str, ...]:
    """Realms a ticket may come from: krb5.conf's ``default_realm`` and the realm of
    ``dfs.namenode.kerberos.principal`` in the Hadoop client configuration."""
    realms: list[str] = [default_realm] if default_realm else []
    env = os.environ if env is None else env
    conf_dir = hadoop_conf_dir or env.get("HADOOP_CONF_DIR")
    if conf_dir:
        site = Path(conf_dir) / "hdfs-site.xml"
        if site.is_file():
            try:
                nn = parse_site_xml(site).get("dfs.namenode.kerberos.principal")
            except MlflowClientEnvError:
                nn = None
            realm = _realm_of_principal(nn)
            if realm and realm not in realms:
                realms.append(realm)
    return tuple(realms)


def _classify_error(exc: Exception, ccache: str) -> tuple[State, str, str]:
    code = getattr(exc, "min_code", None)
    text = str(exc).split("Minor (", 1)[-1].split("): ", 1)[-1] or str(exc)
    if code in MISSING_CODES:
        return "missing", f"no credential cache {ccache} ({text})", KINIT_FIX
    if code == G_EMPTY_CCACHE:
        return "missing", f"the credential cache {ccache} holds no ticket", KINIT_FIX
    if code == KRB5_FCC_PERM:
        return (
            "unreadable",
            f"no permission to read the credential cache {ccache}",
            "the cache belongs to another user: log in as yourself with kinit "
            "(or point KRB5CCNAME at your own cache)",
        )
    if code in CORRUPT_CODES:
        return (
            "corrupt",
            f"the credential cache {ccache} is corrupt ({text})",
            f"remove it ('kdestroy -c {ccache}') and log in again: {KINIT_FIX}",
        )
    if code == KRB5_CC_UNKNOWN_TYPE:
        return (
            "unreadable",
            f"this libkrb5 does not know the cache type of {ccache} ({text})",
            "a conda 'krb5' package may shadow the system one (catalog D4): use a FILE cache, "
            "e.g. KRB5CCNAME=FILE:/tmp/krb5cc_$(id -u) kinit",
        )
    return "unreadable", f"cannot read the credential cache {ccache}: {text}", KINIT_FIX


def ticket_status(
    ccache: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    realms: Sequence[str] | None = None,
    hadoop_conf_dir: str | os.PathLike[str] | None = None,
    now: float | None = None,
) -> TicketStatus:
    """The state of ``ccache`` (default: the cache MIT would use for ``env``).

    ``realms``: the cluster's realms; default krb5.conf's ``default_realm`` plus the
    NameNode principal's realm from ``hadoop_conf_dir`` (or ``$HADOOP_CONF_DIR``).
    A ticket of another realm is ``foreign_realm``. Never contacts the KDC.
    """
    env = os.environ if env is None else env
    source = "argument"
    default_realm: str | None = None
    if ccache is None or realms is None:
        ks = discover_kerberos(env, check_ccache=False)
        default_realm = ks.default_realm
        if ccache is None:
            ccache, source = ks.ccache, ks.ccache_source
    if realms is None:
        realms = cluster_realms(env, default_realm, hadoop_conf_dir)
    realms_t = tuple(realms)
    ctype = ccache_type(ccache)
    now = datetime.now(timezone.utc).timestamp() if now is None else now

    status = _status_maker(ccache, ctype, source, realms_t)

    # The name first: libkrb5 refuses BOGUS:x, and FILE: names no file at all.
    try:
        _, residual = parse_ccache_name(
            ccache, "KRB5CCNAME" if source == "KRB5CCNAME" else "the cache name"
        )
    except CcacheNameError as exc:
        return status("unreadable", f"invalid credential cache name: {exc.problem}", exc.fix)
    path = ccache_path(ccache)
    if path is not None:
        # A FILE cache is answered from the file alone, never through gssapi: libkrb5 writes
        # into the cache it is asked about (gss_acquire_cred appends a ``refresh_time``
        # entry of ~300 bytes per call to a short-lived ticket, MIT 1.20), and a status
        # check must not change the user's cache, nor make it grow while renewers watch it.
        return file_ticket_status(
            ccache, realms=realms_t, threshold=threshold, now=now, source=source
        )
    # A DIR collection's files are checked before libkrb5 opens them: a FIFO would block.
    parsed: FileCcache | None = None
    if ctype == "DIR":
        try:
            check_dir_ccache(residual)
        except CcacheUnreadableError as exc:
            return status("unreadable", exc.problem, exc.fix)

    def expired(principal: str | None) -> TicketStatus:
        return status(
            "expired",
            f"the ticket of {principal or 'the cache'} in {ccache} has expired",
            KINIT_FIX + ", or keep it fresh: 'mlflow-client-env run -- CMD' / "
            "mlflow_client_env.keep_ticket_fresh()",
            principal,
            parsed,
            0,
        )

    gssapi = load_gssapi()
    if gssapi is None:
        return status(
            "unreadable",
            f"reading a {ctype} credential cache needs python-gssapi, which is not installed",
            GSSAPI_FIX,
        )
    from gssapi.raw.exceptions import ExpiredCredentialsError
    from gssapi.raw.misc import GSSError

    if ctype == "KCM":  # libkrb5 waits forever for a KCM server that hangs: ask it first
        problem = kcm_problem(env)
        if problem is not None:
            return status("unreadable", *problem)
    # Python's view, through gssapi (env decides krb5.conf for the library, via KRB5_CONFIG).
    try:
        creds = gssapi.Credentials(usage="initiate", store={"ccache": ccache})
    except GSSError as exc:
        state, message, fix = _classify_error(exc, ccache)
        return status(state, message, fix)
    try:
        lifetime = int(creds.lifetime)
        principal = str(creds.name)
    except ExpiredCredentialsError:
        return expired(parsed.principal if parsed else None)
    except GSSError as exc:
        state, message, fix = _classify_error(exc, ccache)
        return status(state, message, fix)
    if parsed is None:
        parsed = read_any_ccache(ccache)  # KEYRING/KCM/DIR: times through a private copy
    return _judge(status, principal, parsed, lifetime, ctype, realms_t, threshold)


def _judge(
    status: StatusMaker,
    principal: str | None,
    parsed: FileCcache | None,
    lifetime: int,
    ctype: str,
    realms_t: tuple[str, ...],
    threshold: float,
) -> TicketStatus:
    """A live ticket's state: foreign_realm, expiring or valid (whoever read it)."""
    realm = _realm_of_principal(principal)
    if realms_t and realm not in realms_t:
        return status(
            "foreign_realm",
            f"the ticket is for {principal}, but the cluster's realm is {' or '.join(realms_t)}",
            f"log in as a principal of {realms_t[0]}: kinit you@{realms_t[0]} "
            "(unless a cross-realm trust covers this realm)",
            principal,
            parsed,
            lifetime,
        )
    if ctype != "FILE":
        java = f"; Java cannot read {ctype} caches (copy it: 'mlflow-client-env kinit --to-file')"
    else:
        java = ""
    if lifetime < threshold:
        return status(
            "expiring",
            f"the ticket of {principal} expires in {human_duration(lifetime)}{java}",
            "renew it ('kinit -R') or keep it fresh: 'mlflow-client-env run -- CMD' / "
            "mlflow_client_env.keep_ticket_fresh()",
            principal,
            parsed,
            lifetime,
        )
    return status(
        "valid",
        f"ticket of {principal}, {human_duration(lifetime)} left{java}",
        None,
        principal,
        parsed,
        lifetime,
    )


def human_duration(seconds: float) -> str:
    """``42 s``, ``17 min``, ``9 h 58 min``: how long a ticket has left, for people."""
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def format_status(st: TicketStatus) -> str:
    """Human-readable lines for the ``ticket`` command."""

    def t(d: datetime | None) -> str:
        return d.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z") if d else "-"

    lines = [
        f"state:        {st.state}",
        f"principal:    {st.principal or '-'}",
        f"cache:        {st.ccache} ({st.ccache_type}, from {st.ccache_source}; "
        f"Java {'can' if st.java_readable else 'cannot'} read it)",
        f"expires:      {t(st.expires_at)}"
        + (f" ({human_duration(st.seconds_left)} left)" if st.seconds_left else ""),
        f"renew until:  {t(st.renew_until)}",
        f"cluster realm: {', '.join(st.cluster_realms) or '-'}",
        f"{st.message}",
    ]
    if st.fix:
        lines.append(f"  fix: {st.fix}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- cheap FILE status
#: What to do about an expired ticket (the same advice as ``ticket_status`` gives).
EXPIRED_FIX = (
    KINIT_FIX + ", or keep it fresh: 'mlflow-client-env run -- CMD' / "
    "mlflow_client_env.keep_ticket_fresh()"
)
#: A FILE cache that belongs to someone else (the same advice as for gssapi's KRB5_FCC_PERM).
PERMISSION_FIX = (
    "the cache belongs to another user: log in as yourself with kinit "
    "(or point KRB5CCNAME at your own cache)"
)


def _status_maker(ccache: str, ctype: str, source: str, realms_t: tuple[str, ...]) -> StatusMaker:
    """A ``TicketStatus`` builder for one cache (the times come from the parsed TGT)."""

    def status(
        state: State,
        message: str,
        fix: str | None,
        principal: str | None = None,
        parsed: FileCcache | None = None,
        seconds_left: int | None = None,
    ) -> TicketStatus:
        tgt = parsed.tgt() if parsed else None
        return TicketStatus(
            principal=principal,
            realm=_realm_of_principal(principal),
            ccache=ccache,
            ccache_type=ctype,
            java_readable=ctype == "FILE",
            starts_at=_utc(tgt.starttime or tgt.authtime) if tgt else None,
            expires_at=_utc(tgt.endtime) if tgt else None,
            seconds_left=seconds_left,
            renew_until=_utc(tgt.renew_till) if tgt else None,
            state=state,
            message=message,
            fix=fix,
            ccache_source=source,
            cluster_realms=realms_t,
        )

    return status


#: The last FILE cache parsed by ``file_ticket_status``: (origin, bytes, parse).
_last_parse: tuple[str, bytes, FileCcache] | None = None


def _parse_unless_unchanged(data: bytes, origin: str) -> FileCcache:
    """``parse_file_ccache``, reusing the last parse when the bytes are the same: the file
    is still read every time (a renewed ticket is never missed), only the parse (about
    25 µs for a TGT and a service ticket) is saved on a warm ``setup()``."""
    global _last_parse
    last = _last_parse
    if last is not None and last[0] == origin and last[1] == data:
        return last[2]
    parsed = parse_file_ccache(data, origin)
    _last_parse = (origin, data, parsed)
    return parsed


def file_ticket_status(
    ccache: str,
    *,
    realms: Sequence[str] = (),
    threshold: float = DEFAULT_THRESHOLD,
    now: float | None = None,
    source: str = "argument",
) -> TicketStatus:
    """The state of the FILE cache ``ccache`` from the file alone: ``struct``, never gssapi.

    For ``setup()`` and the kernel launcher, which must stay fast (one bounded read and a
    parse: tens of microseconds). The states, messages and fixes are ``ticket_status``'s;
    a file that cannot be opened is ``missing`` (no such file) or ``unreadable`` (anything
    else, as libkrb5 says). ``realms``: the cluster's realms (none: any realm will do).
    Never contacts the KDC. Raises ``ValueError`` when ``ccache`` is not a FILE cache name.
    """
    path = ccache_path(ccache)
    if path is None:
        raise ValueError(f"{ccache!r} is not the name of a FILE credential cache")
    realms_t = tuple(realms)
    status = _status_maker(ccache, "FILE", source, realms_t)
    try:
        parsed = _parse_unless_unchanged(read_regular_file(path), str(path))
    except CcacheUnreadableError as exc:
        return status("unreadable", exc.problem, exc.fix)
    except CcacheFormatError as exc:
        return status("corrupt", exc.problem, exc.fix)
    except FileNotFoundError:
        return status("missing", f"no credential cache {ccache} (no such file)", KINIT_FIX)
    except PermissionError:
        return status(
            "unreadable", f"no permission to read the credential cache {ccache}", PERMISSION_FIX
        )
    except OSError as exc:
        if exc.errno in NO_FILE_ERRNOS:  # a path that cannot name a file: libkrb5's NOFILE
            return status("missing", f"no credential cache {ccache} (no such file)", KINIT_FIX)
        return status(
            "unreadable",
            f"cannot read the credential cache {ccache}: {exc.strerror or exc}",
            KINIT_FIX,
        )
    principal = parsed.principal
    tgt = parsed.tgt()
    if tgt is None:
        return status("missing", f"no ticket-granting ticket in {ccache}", KINIT_FIX, principal)
    now = datetime.now(timezone.utc).timestamp() if now is None else now
    left = int(tgt.endtime - now)
    if left <= 0:
        return status(
            "expired",
            f"the ticket of {principal} in {ccache} has expired",
            EXPIRED_FIX,
            principal,
            parsed,
            0,
        )
    return _judge(status, principal, parsed, left, "FILE", realms_t, threshold)


def status_finding(st: TicketStatus) -> Finding:
    """A ticket's state as a finding: the doctor's ``kerberos`` check form (``kerberos.<state>``;
    ``ok`` when valid, ``warn`` when expiring, ``error`` otherwise), so the same ticket gets the
    same code and status in ``setup()``, ``env``, the kernel launcher and the doctor."""
    status: Status = "ok" if st.state == "valid" else "warn" if st.state == "expiring" else "error"
    evidence = [f"cache: {st.ccache} ({st.ccache_type}, from {st.ccache_source})"]
    if st.expires_at:
        evidence.append(f"expires {st.expires_at.isoformat()} ({st.seconds_left} s left)")
    if st.renew_until:
        evidence.append(f"renewable until {st.renew_until.isoformat()}")
    if st.cluster_realms:
        evidence.append("cluster realm(s): " + ", ".join(st.cluster_realms))
    return Finding(
        f"kerberos.{st.state}", status, f"ticket {st.state}: {st.message}", tuple(evidence), st.fix
    )
