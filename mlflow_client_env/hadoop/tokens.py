"""Hadoop delegation tokens: the token storage file YARN ships instead of a Kerberos ticket.

A process in a YARN container (a Spark executor, the driver of a ``--deploy-mode
cluster`` job) has no Kerberos ticket. The NodeManager writes the application's tokens
into a file and names it in ``HADOOP_TOKEN_FILE_LOCATION``; Hadoop's Java client (UGI,
the JVM inside libhdfs) adds them to its login user, and hdfs-native reads the same file.
``hdfs fetchdt`` (``DelegationTokenFetcher``) writes such a file by hand.

The file is Hadoop's ``Credentials`` storage: the magic ``HDTS``, a format byte (0: the
``Writable`` form every Hadoop writes by default; 1: protocol buffers, Hadoop 3's
optional form), then the tokens (alias, identifier, password, kind, service) and secret
keys. An ``HDFS_DELEGATION_TOKEN``'s identifier says whose it is and until when it can
live: owner, renewer, real user, issue date, max date (the renewer can keep it alive
until then, one renew interval at a time, 24 h by default), sequence number.

Everything here but :func:`probe_tokens` is pure: it reads the file named and nothing
else, never contacts a NameNode, and never keeps a token's password (a secret).

- :func:`read_token_file` / :func:`parse_token_storage`: the reader;
- :func:`token_findings`: what ``ticket``, ``doctor`` and ``setup()`` say of a process's
  tokens (a token-only process with a valid HDFS token is healthy in a YARN container);
- :func:`ticket_or_tokens`: a missing ticket is no error where valid tokens serve;
- :func:`rejection_of`: the NameNode's words for a cancelled or expired token (from
  libhdfs's stderr or hdfs-native's error) as a typed error with the explanation;
- :func:`probe_tokens`: one bounded question to each token's NameNode with the tokens
  only (hdfs-native, in a child process), the one way to see a cancelled token.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ..errors import (
    ConfigFileError,
    DelegationTokenRejectedError,
    TokenFileError,
    TokenFormatError,
)
from ..findings import Finding
from ..records import field, record
from ..safeio import read_small
from . import TOKEN_FILE_VAR
from .conf import discover_conf

TYPE_CHECKING = False  # typing is not imported at run time (import cost; mypy honours this)
if TYPE_CHECKING:
    from .conf import HadoopConf

MAGIC = b"HDTS"
FORMAT_WRITABLE = 0
FORMAT_PROTOBUF = 1
HDFS_DELEGATION_TOKEN = "HDFS_DELEGATION_TOKEN"
#: The service of a token for an HA nameservice: ``ha-hdfs:<nameservice>``.
HA_SERVICE_PREFIX = "ha-hdfs:"
#: A token storage file is a few hundred bytes per token; a bigger one is not one.
MAX_FILE_BYTES = 4 * 1024 * 1024
#: Below this much life left, an HDFS token is ``expiring`` (the ticket's threshold).
EXPIRING_SECONDS = 3600.0
#: What a process that must not use a ticket points KRB5CCNAME at: a path below
#: /dev/null, which cannot exist, so libkrb5 finds no cache there.
NO_TICKET_CACHE = "FILE:/dev/null/no-ticket"

#: Why a token may stop working, and what to do: shared by findings and errors.
TOKEN_LIFE = (
    "a delegation token lives one renew interval at a time (dfs.namenode.delegation.token."
    "renew-interval, 24 h by default) while its renewer (YARN's ResourceManager for a job) "
    "renews it, never past its max date (dfs.namenode.delegation.token.max-lifetime, 7 days "
    "by default), and dies at once when cancelled (YARN cancels an application's tokens "
    "when it ends)"
)
TOKEN_FIX = (
    "submit the job again so YARN obtains fresh tokens; for jobs that run longer than the "
    "tokens' max lifetime give Spark a keytab (spark-submit --principal P --keytab K), so "
    "it obtains new ones itself"
)


# ----------------------------------------------------------------------------- records
@record
class TokenIdentifier:
    """An ``AbstractDelegationTokenIdentifier`` (HDFS, KMS, MapReduce, timeline tokens).

    Dates are milliseconds since the epoch, as Hadoop keeps them.
    """

    owner: str
    renewer: str
    real_user: str
    issue_date_ms: int
    max_date_ms: int
    sequence_number: int
    master_key_id: int

    @property
    def max_date(self) -> float:
        """POSIX seconds."""
        return self.max_date_ms / 1000.0

    @property
    def issue_date(self) -> float:
        return self.issue_date_ms / 1000.0


@record
class Token:
    """One token of the file. The password is a secret and is never kept: only its length."""

    alias: str
    kind: str
    service: str
    identifier: bytes = field(repr=False)
    password_length: int = 0
    decoded: TokenIdentifier | None = None

    @property
    def is_hdfs(self) -> bool:
        return self.kind == HDFS_DELEGATION_TOKEN

    def describe(self) -> str:
        """``HDFS_DELEGATION_TOKEN for ha-hdfs:ns (token 12 of alice@R, renewer yarn, issued
        ..., max date ...)``: what Hadoop's own messages name, and when."""
        d = self.decoded
        if d is None:
            return f"{self.kind} for {self.service or '(no service)'} (identifier not decoded)"
        extra = f", real user {d.real_user}" if d.real_user else ""
        return (
            f"{self.kind} for {self.service or '(no service)'} (token {d.sequence_number} of "
            f"{d.owner}, renewer {d.renewer or '-'}{extra}, issued {_when(d.issue_date)}, "
            f"max date {_when(d.max_date)})"
        )


@record
class TokenFile:
    path: str
    format: str  # "writable" or "protobuf"
    tokens: tuple[Token, ...]
    secret_aliases: tuple[str, ...] = ()

    def hdfs_tokens(self) -> tuple[Token, ...]:
        return tuple(t for t in self.tokens if t.is_hdfs)


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(seconds))


# ----------------------------------------------------------------------------- decoding
class _Reader:
    """Bounds-checked reads over bytes; every shortfall is a :class:`TokenFormatError`."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or n > self.remaining():
            raise TokenFormatError(
                f"{self.what} is truncated or corrupt: {n} bytes wanted at offset {self.pos}, "
                f"{self.remaining()} left",
                "fetch the tokens again (hdfs fetchdt), or let YARN write the file",
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def byte(self) -> int:
        return self.take(1)[0]

    def vlong(self) -> int:
        """Hadoop's ``WritableUtils.readVLong``: one byte for -112..127, else a length byte
        (which also carries the sign) and that many big-endian bytes."""
        first = self.byte()
        first = first - 256 if first > 127 else first
        if first >= -112:
            return first
        negative = first < -120
        size = (-119 - first) if negative else (-111 - first)
        value = 0
        for b in self.take(size - 1):
            value = (value << 8) | b
        return ~value if negative else value

    def vint(self) -> int:
        value = self.vlong()
        if not -(2**31) <= value < 2**31:
            raise TokenFormatError(
                f"{self.what}: a length or count of {value} is out of range", _REFETCH
            )
        return value

    def text(self) -> str:
        """Hadoop's ``Text``: a vint length, then UTF-8."""
        raw = self.take(self.vint())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise TokenFormatError(f"{self.what}: a string is not UTF-8", _REFETCH) from None

    def varint(self) -> int:
        """A protocol-buffers varint."""
        value = shift = 0
        while True:
            b = self.byte()
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise TokenFormatError(f"{self.what}: a varint is too long", _REFETCH)


_REFETCH = "fetch the tokens again (hdfs fetchdt), or let YARN write the file"


def _proto_fields(data: bytes, what: str) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of one protocol-buffers message."""
    r = _Reader(data, what)
    out: list[tuple[int, int | bytes]] = []
    while r.remaining():
        key = r.varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out.append((number, r.varint()))
        elif wire == 1:
            out.append((number, int.from_bytes(r.take(8), "little")))
        elif wire == 2:
            out.append((number, r.take(r.varint())))
        elif wire == 5:
            out.append((number, int.from_bytes(r.take(4), "little")))
        else:
            raise TokenFormatError(f"{what}: unsupported protobuf wire type {wire}", _REFETCH)
    return out


def _str(value: int | bytes, what: str) -> str:
    if not isinstance(value, bytes):
        raise TokenFormatError(f"{what}: a string field holds a number", _REFETCH)
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenFormatError(f"{what}: a string is not UTF-8", _REFETCH) from None


def decode_identifier(identifier: bytes) -> TokenIdentifier | None:
    """An ``AbstractDelegationTokenIdentifier`` (version byte 0, then owner, renewer, real
    user, issue date, max date, sequence number, master key id), or None when the bytes are
    not exactly that (another kind's identifier, e.g. a protobuf one)."""
    if not identifier or identifier[0] != 0:
        return None
    r = _Reader(identifier, "token identifier")
    try:
        r.byte()
        owner, renewer, real_user = r.text(), r.text(), r.text()
        issue, max_date = r.vlong(), r.vlong()
        seq, key = r.vint(), r.vint()
    except TokenFormatError:
        return None
    if r.remaining():
        return None
    return TokenIdentifier(owner, renewer, real_user, issue, max_date, seq, key)


def _token(alias: str, identifier: bytes, password: bytes, kind: str, service: str) -> Token:
    return Token(alias, kind, service, identifier, len(password), decode_identifier(identifier))


def _parse_writable(r: _Reader) -> tuple[list[Token], list[str]]:
    tokens: list[Token] = []
    for _ in range(r.vint()):
        alias = r.text()
        identifier = r.take(r.vint())
        password = r.take(r.vint())
        kind, service = r.text(), r.text()
        tokens.append(_token(alias, identifier, password, kind, service))
    secrets: list[str] = []
    if r.remaining():  # Hadoop always writes the count; a file cut right here is tolerated
        for _ in range(r.vint()):
            secrets.append(r.text())
            r.take(r.vint())  # the secret itself: never kept
    return tokens, secrets


def _parse_protobuf(r: _Reader) -> tuple[list[Token], list[str]]:
    """``CredentialsProto`` written with ``writeDelimitedTo``: tokens = 1, secrets = 2, each
    a ``CredentialsKVProto`` (alias = 1, token = 2, secret = 3); ``TokenProto``: identifier
    = 1, password = 2, kind = 3, service = 4."""
    message = r.take(r.varint())
    tokens: list[Token] = []
    secrets: list[str] = []
    for number, value in _proto_fields(message, "token storage (protobuf)"):
        if number not in (1, 2) or not isinstance(value, bytes):
            continue
        alias, token_bytes = "", b""
        for n, v in _proto_fields(value, "a credential entry"):
            if n == 1:
                alias = _str(v, "a credential's alias")
            elif n == 2 and isinstance(v, bytes):
                token_bytes = v
        if number == 2:
            secrets.append(alias)
            continue
        parts: dict[int, int | bytes] = dict(_proto_fields(token_bytes, "a token"))
        identifier, password = parts.get(1, b""), parts.get(2, b"")
        if not isinstance(identifier, bytes) or not isinstance(password, bytes):
            raise TokenFormatError("a token's identifier or password is not bytes", _REFETCH)
        kind = _str(parts.get(3, b""), "a token's kind")
        service = _str(parts.get(4, b""), "a token's service")
        tokens.append(_token(alias, identifier, password, kind, service))
    return tokens, secrets


def parse_token_storage(data: bytes, path: str = "<bytes>") -> TokenFile:
    """Decode the bytes of a token storage file (both of Hadoop's formats)."""
    what = f"the token file {path}"
    r = _Reader(data, what)
    if data[:4] != MAGIC:
        raise TokenFormatError(
            f"{path} is not a Hadoop token storage file (it does not start with 'HDTS')",
            f"point {TOKEN_FILE_VAR} at the file YARN or 'hdfs fetchdt' wrote",
        )
    r.take(4)
    version = r.byte()
    if version == FORMAT_WRITABLE:
        tokens, secrets = _parse_writable(r)
        fmt = "writable"
    elif version == FORMAT_PROTOBUF:
        tokens, secrets = _parse_protobuf(r)
        fmt = "protobuf"
    else:
        raise TokenFormatError(
            f"{path} is token storage format {version}; Hadoop writes 0 (Writable) or 1 (protobuf)",
            "fetch the tokens with this cluster's Hadoop (hdfs fetchdt)",
        )
    return TokenFile(path, fmt, tuple(tokens), tuple(secrets))


def read_token_file(path: str | os.PathLike[str]) -> TokenFile:
    """Read and decode the token storage file at ``path`` (a FIFO or device never hangs it:
    only a regular file is read, bounded)."""
    p = Path(path)
    fix = f"point {TOKEN_FILE_VAR} at the file YARN or 'hdfs fetchdt' wrote"
    try:
        data = read_small(p, fix, limit=MAX_FILE_BYTES)
    except ConfigFileError as exc:
        raise TokenFileError(exc.problem, exc.fix) from None
    if data is None:
        raise TokenFileError(f"the token file {p} does not exist", fix)
    return parse_token_storage(data, str(p))


# ----------------------------------------------------------------------------- services
def _hostport(authority: str) -> tuple[str, int | None]:
    host, sep, port = authority.rpartition(":")
    if sep and port.isdigit() and host:
        return host.strip("[]"), int(port)
    return authority.strip("[]"), None


def target_services(
    uri: str,
    conf: HadoopConf | None,
    resolve: Mapping[str, Sequence[str]] | None = None,
) -> tuple[str, ...]:
    """The token services Hadoop's client looks for when it talks to ``uri``.

    ``hdfs://NS`` of a nameservice: ``ha-hdfs:NS``. ``hdfs://host:port``: ``IP:port`` for
    each of ``resolve[host]`` (Hadoop's default, ``hadoop.security.token.service.use_ip``),
    or ``host:port`` when that is false or no address is given (pure: nothing is looked up
    here, the caller resolves).
    """
    import urllib.parse

    try:
        parsed = urllib.parse.urlparse(uri)
        if parsed.scheme.lower() not in ("hdfs", "webhdfs", "swebhdfs") or not parsed.netloc:
            return ()
        host, port = _hostport(parsed.netloc.rpartition("@")[2])
    except ValueError:  # "hdfs://[::1:8020", a port that is no number: no service at all
        return ()
    if conf is not None and port is None and host in conf.nameservices:
        return (HA_SERVICE_PREFIX + host,)
    port = port if port is not None else 8020
    use_ip = (conf.get("hadoop.security.token.service.use_ip") if conf else None) or "true"
    addresses = list((resolve or {}).get(host, ()))
    if use_ip.strip().lower() != "false" and addresses:
        return tuple(f"{a}:{port}" for a in addresses)
    return (f"{host}:{port}",)


def resolve_hosts(uris: Iterable[str]) -> dict[str, list[str]]:
    """IPv4/IPv6 addresses of the hosts in ``uris`` (what :func:`target_services` needs);
    a name that does not resolve maps to nothing."""
    import socket
    import urllib.parse

    out: dict[str, list[str]] = {}
    for uri in uris:
        try:
            parsed = urllib.parse.urlparse(uri)
            if not parsed.netloc:
                continue
            host, _ = _hostport(parsed.netloc.rpartition("@")[2])
        except ValueError:  # a malformed URI names no host to look up
            continue
        if host in out:
            continue
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError, ValueError):  # "a..b" is a UnicodeError (IDNA)
            out[host] = []
            continue
        out[host] = sorted({str(i[4][0]) for i in infos})
    return out


# ----------------------------------------------------------------------------- findings
def _token_lines(tokens: Iterable[Token]) -> tuple[str, ...]:
    return tuple(t.describe() for t in tokens)


def token_findings(
    env: Mapping[str, str] | None = None,
    conf: HadoopConf | None = None,
    *,
    targets: Sequence[str] = (),
    resolve: Mapping[str, Sequence[str]] | None = None,
    now: float | None = None,
) -> list[Finding]:
    """What a process's delegation tokens are worth (empty when it has no token file).

    ``env``: the process environment (default ``os.environ``); ``conf``: its Hadoop client
    configuration (default: found from ``env``), for fs.defaultFS and the nameservices;
    ``targets``: other file systems it writes to (an experiment's artifact location);
    ``resolve``: host -> addresses for ``hdfs://host:port`` targets (default: looked up).
    Codes (the ``kerberos`` check's, beside the ticket's):

    - ``kerberos.token-file-missing`` / ``kerberos.token-file-unreadable`` (error);
    - ``kerberos.no-hdfs-token`` (error): the file holds no HDFS delegation token;
    - ``kerberos.tokens-expired`` (error): every HDFS token is past its max date;
    - ``kerberos.tokens-expiring`` (warn): less than an hour before the max date;
    - ``kerberos.no-token-for-target`` (warn): no token's service matches a target;
    - ``kerberos.tokens-valid`` (ok): a token-only process is healthy (YARN containers).
    """
    env = os.environ if env is None else env
    location = env.get(TOKEN_FILE_VAR)
    if not location:
        return []
    now = time.time() if now is None else now
    try:
        tf = read_token_file(location)
    except TokenFormatError as exc:
        return [Finding("kerberos.token-file-unreadable", "error", exc.problem, fix=exc.fix)]
    except TokenFileError as exc:
        code = (
            "kerberos.token-file-missing"
            if "does not exist" in exc.problem
            else ("kerberos.token-file-unreadable")
        )
        return [
            Finding(code, "error", f"{TOKEN_FILE_VAR} names a file that cannot be used: "
                    f"{exc.problem}", fix=exc.fix)
        ]  # fmt: skip
    evidence = (f"{TOKEN_FILE_VAR}={location} ({tf.format} format)", *_token_lines(tf.tokens))
    hdfs = tf.hdfs_tokens()
    if not hdfs:
        kinds = ", ".join(sorted({t.kind for t in tf.tokens})) or "none"
        return [
            Finding(
                "kerberos.no-hdfs-token",
                "error",
                f"the token file {location} holds no HDFS delegation token (kinds: {kinds}), "
                "so without a Kerberos ticket HDFS refuses this process",
                evidence,
                "on YARN, Spark fetches HDFS tokens for fs.defaultFS and for the file systems "
                "in spark.kerberos.access.hadoopFileSystems: list the artifact location's there",
            )
        ]
    decoded = [t for t in hdfs if t.decoded is not None]
    alive = [t for t in decoded if t.decoded is not None and t.decoded.max_date > now]
    findings: list[Finding] = []
    if decoded and not alive:
        last = max(t.decoded.max_date for t in decoded if t.decoded is not None)
        findings.append(
            Finding(
                "kerberos.tokens-expired",
                "error",
                f"every HDFS delegation token in {location} is past its max date (the last "
                f"one {_when(last)}): HDFS refuses them, whoever renews them; {TOKEN_LIFE}",
                evidence,
                TOKEN_FIX,
            )
        )
        return findings
    if conf is None:
        try:
            conf = discover_conf(env=env)
        except ConfigFileError:
            conf = None
    wanted = [u for u in (conf.default_fs if conf else None, *targets) if u]
    if resolve is None:
        resolve = resolve_hosts(wanted)
    services = {t.service for t in alive} | {t.service for t in hdfs if t.decoded is None}
    for uri in wanted:
        want = target_services(uri, conf, resolve)
        if want and not services.intersection(want):
            findings.append(
                Finding(
                    "kerberos.no-token-for-target",
                    "warn",
                    f"no HDFS delegation token in {location} is for {uri} (Hadoop looks for "
                    f"the service {' or '.join(want)}; the file has "
                    f"{', '.join(sorted(services)) or 'none'}): without a ticket, HDFS "
                    "refuses this process there",
                    evidence,
                    "on YARN, list it in spark.kerberos.access.hadoopFileSystems so Spark "
                    "fetches a token for it",
                )
            )
    soonest = min((t.decoded.max_date for t in alive if t.decoded is not None), default=None)
    owners = sorted({t.decoded.owner for t in alive if t.decoded is not None})
    who = ", ".join(owners) or "an unknown owner"
    if soonest is not None and soonest - now < EXPIRING_SECONDS:
        findings.append(
            Finding(
                "kerberos.tokens-expiring",
                "warn",
                f"the HDFS delegation tokens of {who} in {location} reach their max date "
                f"within {int(soonest - now) // 60} min ({_when(soonest)}); {TOKEN_LIFE}",
                evidence,
                TOKEN_FIX,
            )
        )
    else:
        until = f", usable at most until {_when(soonest)}" if soonest is not None else ""
        findings.append(
            Finding(
                "kerberos.tokens-valid",
                "ok",
                f"{len(hdfs)} HDFS delegation token(s) of {who} in {location}{until}: a "
                "process without a Kerberos ticket (a YARN container) authenticates with them",
                evidence,
            )
        )
    return findings


#: Ticket states that valid tokens make harmless.
_NO_TICKET_CODES = ("kerberos.missing", "kerberos.expired")


def ticket_or_tokens(
    ticket_findings: Sequence[Finding], tokens: Sequence[Finding]
) -> list[Finding]:
    """The ticket's findings, with "no ticket" (or an expired one) downgraded to
    ``kerberos.token-only`` (ok) where the tokens are valid; the token findings follow."""
    usable = any(f.code in ("kerberos.tokens-valid", "kerberos.tokens-expiring") for f in tokens)
    out: list[Finding] = []
    for f in ticket_findings:
        if usable and f.code in _NO_TICKET_CODES:
            out.append(
                Finding(
                    "kerberos.token-only",
                    "ok",
                    "no usable Kerberos ticket, and none is needed: HDFS delegation tokens "
                    f"({TOKEN_FILE_VAR}) authenticate this process, as in a YARN container",
                    (f"the ticket: {f.summary}", *f.evidence),
                )
            )
        else:
            out.append(f)
    return [*out, *tokens]


# ----------------------------------------------------------------------------- rejections
#: The NameNode's words (Hadoop's AbstractDelegationTokenSecretManager), as libhdfs prints
#: them on stderr and hdfs-native returns them.
_REJECTED = re.compile(
    r"token \((?P<kind>[\w-]+) token (?P<seq>\d+) for (?P<owner>[^)\s]+)\) "
    r"(?P<what>can't be found in cache|is expired)"
)


def rejection_of(
    text: str, token_file: TokenFile | None = None
) -> DelegationTokenRejectedError | None:
    """The typed error for a NameNode's refusal of a delegation token found in ``text``
    (libhdfs's stderr, an hdfs-native error, a log), else None.

    ``token_file``: the process's tokens, to name the one refused (by its sequence number).
    """
    m = _REJECTED.search(text)
    if m is None:
        return None
    kind, seq, owner = m.group("kind"), int(m.group("seq")), m.group("owner")
    which = f"{kind} token {seq} of {owner}"
    if token_file is not None:
        for t in token_file.tokens:
            if t.kind == kind and t.decoded is not None and t.decoded.sequence_number == seq:
                which = t.describe()
                break
    where = f" (from {token_file.path})" if token_file is not None else ""
    if m.group("what") == "is expired":
        return DelegationTokenRejectedError(
            f"the NameNode refused the delegation token {which}{where}: it expired, because "
            f"nobody renewed it in time; {TOKEN_LIFE}",
            TOKEN_FIX,
            "expired",
        )
    return DelegationTokenRejectedError(
        f"the NameNode refused the delegation token {which}{where}: it no longer knows it, "
        "so it was cancelled (or it expired and was removed); "
        f"{TOKEN_LIFE}",
        TOKEN_FIX,
        "cancelled",
    )


# ----------------------------------------------------------------------------- live check
_PROBE = r"""
import sys
from hdfs_native import Client
try:
    Client(sys.argv[1]).get_file_info("/")
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
    sys.exit(3)
print("ok")
"""


def _probe_url(service: str) -> str | None:
    if service.startswith(HA_SERVICE_PREFIX):
        return "hdfs://" + service[len(HA_SERVICE_PREFIX) :]
    host, port = _hostport(service)
    return f"hdfs://{host}:{port}" if port is not None else None


def probe_tokens(
    env: Mapping[str, str] | None = None, *, timeout: float = 20.0, python: str | None = None
) -> list[Finding]:
    """Ask each HDFS token's NameNode one question (``getFileInfo /``) with the tokens only:
    the one way to see a token the NameNode cancelled (the file cannot tell).

    Runs hdfs-native in a child process (``python``, default this interpreter) with no
    ticket (``KRB5CCNAME`` at a cache that cannot exist), killed after ``timeout`` s.
    hdfs-native uses a token whose service is exactly the address it dials, so the
    question goes to the token's own service. Findings: ``kerberos.token-accepted`` (ok),
    ``kerberos.token-rejected`` (error, with the explanation), ``kerberos.token-probe-failed``
    (warn: the NameNode could not be asked), ``kerberos.token-probe-skipped`` (hdfs-native
    is missing). Empty when there is no token file.
    """
    import subprocess
    import sys

    env = os.environ if env is None else env
    location = env.get(TOKEN_FILE_VAR)
    if not location:
        return []
    tf = read_token_file(location)
    py = python or sys.executable
    findings: list[Finding] = []
    child_env = {k: v for k, v in env.items() if not k.startswith(("KRB5", "MLFLOW_KERBEROS"))}
    child_env["KRB5CCNAME"] = NO_TICKET_CACHE
    if "KRB5_CONFIG" in env:
        child_env["KRB5_CONFIG"] = env["KRB5_CONFIG"]
    if not env.get("HADOOP_CONF_DIR"):  # the JVM path's environment: the conf dir is on CLASSPATH
        conf_dir = next(
            (e for e in env.get("CLASSPATH", "").split(":") if Path(e, "hdfs-site.xml").is_file()),
            None,
        )
        if conf_dir:
            child_env["HADOOP_CONF_DIR"] = conf_dir
    for token in tf.hdfs_tokens():
        url = _probe_url(token.service)
        if url is None:
            continue
        try:
            proc = subprocess.run(
                [py, "-c", _PROBE, url], env=child_env, capture_output=True, text=True,
                timeout=timeout,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            findings.append(
                Finding(
                    "kerberos.token-probe-failed",
                    "warn",
                    f"the NameNode of {token.service} did not answer within {timeout:g} s, so "
                    f"the token {token.describe()} could not be checked",
                    fix="check that the NameNode runs and is reachable from here",
                )
            )
            continue
        out = (proc.stdout + proc.stderr).strip()
        if proc.returncode == 0 and out.endswith("ok"):
            findings.append(
                Finding(
                    "kerberos.token-accepted",
                    "ok",
                    f"the NameNode of {token.service} accepts {token.describe()}",
                )
            )
            continue
        if "No module named 'hdfs_native'" in out:
            findings.append(
                Finding(
                    "kerberos.token-probe-skipped",
                    "skip",
                    "the tokens were not checked with the NameNode: hdfs-native is not installed",
                    fix="pip install 'mlflow-client-env[native]'",
                )
            )
            break
        rejected = rejection_of(out, tf)
        if rejected is not None:
            findings.append(
                Finding(
                    "kerberos.token-rejected", "error", rejected.problem,
                    (out.splitlines()[-1][:500],), rejected.fix,
                )
            )  # fmt: skip
        else:
            findings.append(
                Finding(
                    "kerberos.token-probe-failed",
                    "warn",
                    f"the token {token.describe()} could not be checked with its NameNode",
                    (out.splitlines()[-1][:500] if out else f"exit {proc.returncode}",),
                    "run 'mlflow-client-env doctor' for the NameNode's state",
                )
            )
    return findings
