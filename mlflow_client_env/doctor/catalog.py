"""Map an error that pyarrow, libhdfs, the JVM or MLflow raised to its troubleshooting entry.

Users see one raw ``OSError`` or a JVM stack trace; the useful part is which
link of the chain broke and what to change. Entries with codes like ``D1`` are
those of the error catalog (shared/reference/error-catalog.md); a few failure
modes it does not list (a down NameNode, no DataNode, ...) have descriptive
lower-case codes instead, so they are never mistaken for a catalog entry.

What each code means (its title and fix) is declared once, in
:mod:`mlflow_client_env.reference`; this module keeps only what is specific to
recognising it: the patterns, their order, and a hint where one pattern says
more than the code does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..reference import DOC_PATH, lookup


@dataclass(frozen=True)
class Explanation:
    code: str  # a catalog entry ("D1") or a descriptive code ("namenode-unreachable")
    title: str
    fix: str
    matched: str  # the line of the error text that matched

    @property
    def in_catalog(self) -> bool:
        return re.fullmatch(r"[A-H]\d+", self.code) is not None

    @property
    def label(self) -> str:
        """``[catalog D1]`` for catalog entries, else ``[namenode-unreachable]``."""
        return f"[catalog {self.code}]" if self.in_catalog else f"[{self.code}]"

    @property
    def doc_link(self) -> str:
        """Where the entry is explained: ``docs/troubleshooting.md#d1``."""
        return f"{DOC_PATH}#{self.code.lower()}"


#: (code, pattern, hint). Order matters: the first match wins, so specific texts come
#: before generic ones. A hint is appended to the entry's fix when that pattern matched.
_PATTERNS: tuple[tuple[str, str, str], ...] = (
    ("A4", r"Prior attempt to load libhdfs failed", ""),
    ("A2", r"Unable to load libjvm", ""),
    ("A1", r"Unable to load libhdfs", ""),
    ("A3", r"libjvm\.so: cannot open shared object file", ""),
    ("A5", r"not built with support for .HadoopFileSystem", ""),
    ("C2", r"module 'pyarrow' has no attribute 'hdfs'", ""),
    ("A6", r"unexpected keyword argument 'driver'", ""),
    ("C3", r"requires pyarrow\S*, but you have pyarrow \S+ which is incompatible", ""),
    ("C4", r"HDFS Write failed", ""),
    ("java-too-new", r"getSubject is not supported", ""),
    # MIT (conda's krb5) says "Unknown credential cache type"; Heimdal's kinit says
    # "resolving credentials cache: unknown ccache type KEYRING:..."
    ("D4", r"Unknown credential cache type|resolving credentials cache: unknown ccache type", ""),
    ("D7", r"Encryption type .* is not supported/enabled", ""),
    (
        "D7",
        # Java asked the KDC for service tickets of types it has no keys for (Java's own
        # default_tgs_enctypes, e.g. a FIPS/FUTURE crypto policy); seen on the sandbox
        r"KDC has no support for encryption type",
        "the KDC has no key of the types Java asked for",
    ),
    ("D8", r"No Kerberos credentials available", ""),
    ("java-module-exports", r"does not export sun\.security\.krb5", ""),
    ("D5", r"Cannot locate default realm|Can't get Kerberos realm|No rules applied to", ""),
    (
        "D6",
        # Hadoop's own renewal thread (kinit -R at 80% of the lifetime) gave up: the ticket
        # will expire during the job; its "GSS initiate failed" comes later in the same stderr
        r"Aborting renew thread|KDC can't fulfill requested option while renewing"
        r"|cannot renew the ticket in",
        "the ticket could not be renewed (not renewable, or no renewer)",
    ),
    ("D6", r"Ticket expired|TGT has expired|KrbException: .*expired", ""),
    (
        "kdc-unreachable",
        # MIT says "Cannot contact any KDC"; Java puts the KDC connection error after
        # "Mechanism level:" (with only a TGT cached, the NameNode's ticket needs the KDC)
        r"Cannot contact any KDC|Mechanism level: (?:Connection refused|Receive timed out"
        r"|connect timed out)",
        "",
    ),
    (
        "D1",
        # libhdfs with kerb_ticket (MLflow passes MLFLOW_KERBEROS_TICKET_CACHE): the cache
        # file holds no usable TGT (expired, or missing)
        r"failure to login using ticket cache file|Unable to obtain Principal Name",
        "the cache MLFLOW_KERBEROS_TICKET_CACHE names holds no valid ticket",
    ),
    (
        "D1",
        r"GSS initiate failed|Failed to find any Kerberos tgt|No valid credentials provided",
        "",
    ),
    ("D2", r"Client cannot authenticate via:\[TOKEN, KERBEROS\]|\(auth:SIMPLE\)", ""),
    ("B5", r"SIMPLE authentication is not enabled", ""),
    ("B1", r"CLASSPATH not set|Environment variable CLASSPATH", ""),
    (
        "B6",
        r"ClassCastException.*(protobuf|Proto)|Proto cannot be cast to (?:class )?\S*protobuf",
        "",
    ),
    ("B3", r"could not find method getRootCauseMessage", ""),
    ("B2", r"NoClassDefFoundError|ClassNotFoundException|loadFileSystems error", ""),
    ("B7", r"No FileSystem for scheme", ""),
    ("B4", r"UnknownHostException", ""),
    ("B8", r"No such file or directory: 'hadoop'", ""),
    (
        "E1",
        r"not defined in file \S+ with link time reference|undefined symbol: \S+, version \S+"
        r"|version .(?:OPENSSL|GLIBCXX|CXXABI)_[\d.]+. not found",
        "",
    ),
    (
        "no-datanode",
        r"could only be (replicated|written) to 0|There are 0 datanode|0 datanode\(s\) running",
        "",
    ),
    (
        "data-transfer-protection",
        r"SASL data transfer protection handshake|data transfer protection",
        "",
    ),
    ("permission-denied", r"Permission denied|AccessControlException", ""),
    ("namenode-unreachable", r"Connection refused|ConnectException", ""),
    # pyarrow's own texts: "HDFS create directory failed", "Opening HDFS file '/p' failed",
    # "HDFS CloseFile failed"; the reason is on stderr
    ("libhdfs-failed", r"HDFS [A-Za-z ]*failed|Opening HDFS file .* failed", ""),
)
_COMPILED = tuple((code, re.compile(pattern), hint) for code, pattern, hint in _PATTERNS)


def codes() -> tuple[str, ...]:
    """Every code explain() can produce, each once, in pattern order."""
    return tuple(dict.fromkeys(code for code, _, _ in _PATTERNS))


def explain_text(text: str) -> Explanation | None:
    """The entry for the first pattern found in ``text``, if any."""
    for code, pattern, hint in _COMPILED:
        m = pattern.search(text)
        if m:
            entry = lookup(code)
            start = text.rfind("\n", 0, m.start()) + 1
            end = text.find("\n", m.end())
            fix = f"{hint}: {entry.fix}" if hint else entry.fix
            return Explanation(
                code, entry.title, fix, text[start : end if end >= 0 else None].strip()
            )
    return None


def explain(exc: BaseException | str) -> Explanation | None:
    """Map an exception raised by pyarrow or MLflow in user code to its catalog entry.

    The exception's text, its chained causes and, for subprocess errors, their
    stderr are all searched.
    """
    if isinstance(exc, str):
        return explain_text(exc)
    parts: list[str] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts.append(f"{type(cur).__name__}: {cur}")
        stderr = getattr(cur, "stderr", None)
        if isinstance(stderr, (str, bytes)):
            parts.append(stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr)
        cur = cur.__cause__ or cur.__context__
    return explain_text("\n".join(parts))
