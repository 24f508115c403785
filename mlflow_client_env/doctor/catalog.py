"""Map an error that pyarrow, libhdfs, the JVM or MLflow raised to its troubleshooting entry.

Users see one raw ``OSError`` or a JVM stack trace; the useful part is which
link of the chain broke and what to change. Entries with codes like ``D1`` are
those of the error catalog (shared/reference/error-catalog.md); a few failure
modes it does not list (a down NameNode, no DataNode, ...) have descriptive
lower-case codes instead, so they are never mistaken for a catalog entry.

What each code means (its title and fix) is declared once, in
:mod:`mlflow_client_env.reference`; this module keeps only what is specific to
recognising it: the patterns, how they rank, and a hint where one pattern says
more than the code does.

A real log usually holds several recognisable texts: a wrapper ("HDFS Write
failed", "GSS initiate failed") around the reason ("could only be replicated to 0
nodes", "Cannot locate default realm"), warnings printed next to the error, a
second attempt that only says the first one failed. Every pattern is therefore
looked for in the whole text and the matches are ranked:

1. by specificity: a text that names the cause beats one that only says something
   failed (see the ranks below);
2. then by depth in the cause chain: in a Java trace the innermost ``Caused by:``
   is the root cause; in a Python traceback the exception printed *before* "The
   above exception was the direct cause of the following exception" (or "During
   handling of the above exception") is the earlier one;
3. then by the order of the table.

C4 (the 2 GB single write of old MLflow) also depends on the versions: it is ruled
out for MLflow >= 1.26 (which uploads in chunks), for pyarrow >= 16 (no legacy
HDFS API, so an MLflow that wrote that way cannot even connect), and when the
traceback shows that the failed write was not MLflow's.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping

from ..records import record
from ..reference import DOC_PATH, lookup


@record
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


# How much a matching text says about the cause (higher wins).
#: The text names the cause itself ("Cannot locate default realm", "CLASSPATH not set").
ROOT = 5
#: A symptom whose reason other entries name: no Kerberos credentials (D1, D2), a failure
#: cached from an earlier attempt (A4).
CONSEQUENCE = 4
#: Words that many different failures print ("Permission denied", "Connection refused").
WEAK = 3
#: C4's "HDFS Write failed": only a cause with old MLflow, and only when nothing better is there.
VERSION_BOUND = 2
#: A log annotation, not an error: ``(auth:SIMPLE)`` is on every line of an insecure cluster.
ANNOTATION = 1
#: pyarrow's own summary ("HDFS connection failed"): the reason is elsewhere.
GENERIC = 0


@record
class _Rule:
    code: str
    pattern: re.Pattern[str]
    rank: int = ROOT
    hint: str = ""  # put in front of the entry's fix when this rule wins
    requires: re.Pattern[str] | None = None  # the text must also hold this


def _rule(code: str, pattern: str, rank: int = ROOT, hint: str = "", requires: str = "") -> _Rule:
    return _Rule(code, re.compile(pattern), rank, hint, re.compile(requires) if requires else None)


#: Ties (same rank, same depth) go to the rule listed first.
_RULES: tuple[_Rule, ...] = (
    # a failed load is cached for the life of the process: the first error is the cause
    _rule("A4", r"Prior attempt to load libhdfs failed", CONSEQUENCE),
    _rule("A2", r"Unable to load libjvm"),
    _rule("A1", r"Unable to load libhdfs"),
    # the dynamic loader's own texts (no pyarrow involved), and ldd's
    _rule("A3", r"libjvm\.so: cannot open shared object file|libjvm\.so => not found"),
    _rule("A5", r"not built with support for .HadoopFileSystem"),
    _rule("C2", r"module 'pyarrow' has no attribute 'hdfs'"),
    _rule("A6", r"unexpected keyword argument 'driver'"),
    _rule("C3", r"requires pyarrow\S*, but you have pyarrow \S+ which is incompatible"),
    _rule("C4", r"HDFS Write failed", VERSION_BOUND),
    _rule("java-too-new", r"getSubject is not supported"),
    # MIT (conda's krb5) says "Unknown credential cache type"; Heimdal's kinit says
    # "resolving credentials cache: unknown ccache type KEYRING:..."
    _rule("D4", r"Unknown credential cache type|resolving credentials cache: unknown ccache type"),
    _rule("D7", r"Encryption type .* is not supported/enabled"),
    _rule(
        "D7",
        # Java asked the KDC for service tickets of types it has no keys for (Java's own
        # default_tgs_enctypes, e.g. a FIPS/FUTURE crypto policy); seen on the sandbox
        r"KDC has no support for encryption type",
        hint="the KDC has no key of the types Java asked for",
    ),
    _rule("D8", r"No Kerberos credentials available"),
    _rule("java-module-exports", r"does not export sun\.security\.krb5"),
    _rule(
        "D5",
        r"Cannot locate default realm|Can't get Kerberos realm|No rules applied to"
        r"|Unable to locate Kerberos realm",
    ),
    _rule(
        "D6",
        # Hadoop's own renewal thread (kinit -R at 80% of the lifetime) gave up: the ticket
        # will expire during the job; its "GSS initiate failed" comes later in the same stderr
        r"Aborting renew thread|KDC can't fulfill requested option while renewing"
        r"|cannot renew the ticket in",
        hint="the ticket could not be renewed (not renewable, or no renewer)",
    ),
    _rule("D6", r"Ticket expired|TGT has expired|KrbException: .*expired"),
    _rule(
        "kdc-unreachable",
        # MIT says "Cannot contact any KDC"; Java puts the KDC connection error after
        # "Mechanism level:" (with only a TGT cached, the NameNode's ticket needs the KDC)
        r"Cannot contact any KDC|Mechanism level: (?:Connection refused|Receive timed out"
        r"|connect timed out)",
    ),
    # No usable credentials. Why is told by other texts when they are there: expiry or a
    # failed renewal (D6), an enctype Java refuses (D7), a realm it cannot find (D5), an
    # unreachable KDC; so these rank as consequences.
    _rule(
        "D1",
        # libhdfs with kerb_ticket (MLflow passes MLFLOW_KERBEROS_TICKET_CACHE): the cache
        # file holds no usable TGT (expired, or missing)
        r"failure to login using ticket cache file|Unable to obtain Principal Name",
        CONSEQUENCE,
        hint="the cache MLFLOW_KERBEROS_TICKET_CACHE names holds no valid ticket",
    ),
    _rule(
        "D1",
        r"GSS initiate failed|Failed to find any Kerberos tgt|No valid credentials provided",
        CONSEQUENCE,
    ),
    _rule("D2", r"Client cannot authenticate via:\[TOKEN, KERBEROS\]", CONSEQUENCE),
    _rule("D2", r"\(auth:SIMPLE\)", ANNOTATION),
    _rule("B5", r"SIMPLE authentication is not enabled"),
    _rule("B1", r"CLASSPATH not set|Environment variable CLASSPATH"),
    _rule(
        "B6", r"ClassCastException.*(protobuf|Proto)|Proto cannot be cast to (?:class )?\S*protobuf"
    ),
    # the ExceptionUtils that libhdfs reports exceptions with is missing: Hadoop 3's libhdfs
    # says so as below (commons-lang3); a missing commons-lang(3) class names the jar
    _rule(
        "B3",
        r"could not find method getRootCauseMessage"
        r"|(?:NoClassDefFoundError|ClassNotFoundException): org[/.]apache[/.]commons[/.]lang3?[/.]",
    ),
    # Hadoop 2's libhdfs (commons-lang, as on the sandbox): the report of another failure
    # was lost; a NoClassDefFoundError next to it (B2) says more
    _rule("B3", r"ExceptionUtils::getStackTrace error", CONSEQUENCE),
    _rule("B2", r"NoClassDefFoundError|ClassNotFoundException|loadFileSystems error"),
    _rule("B7", r"No FileSystem for scheme"),
    # B4 is a logical name, one label without a port (nameservice1): only the client
    # configuration resolves it. A name with dots or a port is a host the DNS does not know
    # (a misspelt NameNode), which no nameservice configuration would fix.
    _rule("B4", r"UnknownHostException: (?!Invalid host name)[\w-]+(?![\w-]|\.[\w-]|:\d)"),
    # a nameservice the configuration lists, its NameNodes' RPC addresses missing: Hadoop's
    # failover proxy provider has nothing to connect to (no name is looked up)
    _rule("B4", r"Could not find any configured addresses for URI [\w+.-]+://[\w.-]+"),
    _rule(
        "namenode-unreachable",
        # Java's "host.example.com", Hadoop's "Invalid host name: ... destination host is:"
        r"UnknownHostException: (?:Invalid host name\b|[\w-]+(?:\.[\w-]|:\d))",
        hint="the NameNode's host name does not resolve (DNS): check its spelling in "
        "fs.defaultFS or the artifact URI, and that this host can resolve it",
    ),
    _rule(
        "namenode-unreachable",
        r"UnknownHostException(?!: )",
        WEAK,
        hint="a host name did not resolve: a misspelt NameNode host, or a nameservice the "
        "client configuration does not define (catalog B4)",
    ),
    _rule("B8", r"No such file or directory: 'hadoop'"),
    # the legacy pyarrow.hdfs ran `hadoop classpath --glob` and the OS found no `hadoop`
    # (on Windows: "[WinError 2] The system cannot find the file specified")
    _rule("B8", r"FileNotFoundError: .*", requires=r"_maybe_set_hadoop_classpath"),
    _rule(
        "E1",
        r"not defined in file \S+ with link time reference|undefined symbol: \S+, version \S+"
        # `OPENSSL_1_1_1' (OpenSSL 1.1 names use underscores), 'OPENSSL_1.0.2', or unquoted
        r"|version [`'\u2018]?(?:OPENSSL|GLIBCXX|CXXABI|ZLIB)_[\w.]+[`'\u2019]? not found",
    ),
    _rule(
        "no-datanode",
        r"could only be (replicated|written) to 0|There are 0 datanode|0 datanode\(s\) running",
    ),
    # the client could not reach a DataNode of the pipeline (a weak sign: the write may
    # still succeed on others, and other failures outrank it)
    _rule("no-datanode", r"Excluding datanode", WEAK),
    _rule(
        "data-transfer-protection",
        r"SASL data transfer protection handshake|data transfer protection",
    ),
    _rule("permission-denied", r"Permission denied|AccessControlException", WEAK),
    _rule("namenode-unreachable", r"Connection refused|ConnectException", WEAK),
    # pyarrow's own texts: "HDFS create directory failed", "Opening HDFS file '/p' failed",
    # "HDFS CloseFile failed"; the reason is on stderr
    _rule("libhdfs-failed", r"HDFS [A-Za-z ]*failed|Opening HDFS file .* failed", GENERIC),
)

#: Hints for the winner when another code is in the same text: (winner, also there) -> hint.
_COMPANION_HINTS: dict[tuple[str, str], str] = {
    (code, "A4"): "the failed load is cached for the life of the process (A4): "
    "restart it (the kernel) after the fix"
    for code in ("A1", "A2", "A3")
}


def codes() -> tuple[str, ...]:
    """Every code explain() can produce, each once, in table order."""
    return tuple(dict.fromkeys(rule.code for rule in _RULES))


# --------------------------------------------------------------------------- cause depth
#: Where a new record starts (a Java chain's "Caused by:" count restarts there): a Python
#: traceback or chain marker, a log line's timestamp or level, a thread's uncaught
#: exception, a line libhdfs prints for a failed call ("hdfsBuilderConnect(...) error:").
_NEW_RECORD = re.compile(
    r"Traceback \(most recent call last\)|During handling of the above exception"
    r"|The above exception was the direct cause"
    r"|\[?\d{2,4}[-/.]\d{1,2}[-/.]\d{1,2}[ T]"
    r"|\[?(?:TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL)\b"
    r"|Exception in thread "
    r"|(?:hdfs[A-Z]\w*|loadFileSystems|getJNIEnv)\b"
)
#: Java's chain: a "Caused by:" line, or inline as in "GSS initiate failed [Caused by ...]".
_JAVA_CAUSE = re.compile(r"Caused by\b")
#: Python prints the earlier exception first, then one of these, then the later one.
_PYTHON_CHAIN = re.compile(
    r"^(?:The above exception was the direct cause of the following exception"
    r"|During handling of the above exception, another exception occurred):",
    re.MULTILINE,
)


class _Depth:
    """How deep in its cause chain each position of a text is (deeper = closer to the root)."""

    def __init__(self, text: str) -> None:
        self._record_starts = [0]
        pos = 0
        for line in text.splitlines(keepends=True):
            if _NEW_RECORD.match(line.lstrip(" \t>")):
                self._record_starts.append(pos)
            pos += len(line)
        self._java_causes = [m.start() for m in _JAVA_CAUSE.finditer(text)]
        self._python_markers = [m.start() for m in _PYTHON_CHAIN.finditer(text)]

    def at(self, pos: int) -> int:
        start = self._record_starts[bisect_right(self._record_starts, pos) - 1]
        causes = self._java_causes
        java = bisect_left(causes, pos) - bisect_left(causes, start)
        python = len(self._python_markers) - bisect_right(self._python_markers, pos)
        return java + python


# --------------------------------------------------------------------------- versions
def _release(version: str | None) -> tuple[int, ...] | None:
    """``(2, 16)`` for "2.16.0rc1"; None for no or an unreadable version."""
    m = re.match(r"\s*v?(\d+)(?:\.(\d+))?", version or "")
    return (int(m[1]), int(m[2] or 0)) if m else None


def installed_versions() -> dict[str, str]:
    """The MLflow (or mlflow-skinny) and pyarrow versions installed next to this package."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    for key, dists in (("mlflow", ("mlflow", "mlflow-skinny")), ("pyarrow", ("pyarrow",))):
        for dist in dists:
            try:
                found[key] = version(dist)
                break
            except PackageNotFoundError:
                continue
    return found


_PY_FRAME = re.compile(r'^\s*File "[^"]+", line \d+', re.MULTILINE)


def _c4_ruled_out(text: str, versions: Mapping[str, str]) -> str | None:
    """Why "HDFS Write failed" cannot be C4 here, or None if it can."""
    mlflow, pyarrow = versions.get("mlflow"), versions.get("pyarrow")
    if (_release(mlflow) or (0,)) >= (1, 26):
        return f"MLflow {mlflow} uploads artifacts in chunks, never in one write"
    if (_release(pyarrow) or (0,)) >= (16,):
        return f"pyarrow {pyarrow} has no legacy HDFS API, which an MLflow writing that way needs"
    if _PY_FRAME.search(text) and "mlflow" not in text.lower():
        return "the traceback shows the write did not come from MLflow"
    return None


# --------------------------------------------------------------------------- ranking
@record
class _Candidate:
    rule: _Rule
    order: int  # position of the rule in the table
    start: int  # the first match: its line is the one shown
    end: int
    depth: int  # of the deepest match: what the rule's rank in the chain is

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.rule.rank, self.depth, -self.order)


def _candidates(text: str) -> Iterator[_Candidate]:
    """For each rule that matches: where it first matches, and its deepest match's depth.

    The first match's line is shown: it is usually the most telling one ("Call From x to
    host:port failed on connection exception"), where the innermost "Caused by:" repeats
    the bare exception."""
    depths: _Depth | None = None
    for order, rule in enumerate(_RULES):
        if rule.requires is not None and not rule.requires.search(text):
            continue
        matches = list(rule.pattern.finditer(text))
        if matches:
            depths = depths or _Depth(text)
            deepest = max(depths.at(m.start()) for m in matches)
            yield _Candidate(rule, order, matches[0].start(), matches[0].end(), deepest)


def _line_of(text: str, start: int, end: int) -> str:
    first = text.rfind("\n", 0, start) + 1
    last = text.find("\n", end)
    return text[first : last if last >= 0 else None].strip()


def explain_text(text: str, *, versions: Mapping[str, str] | None = None) -> Explanation | None:
    """The entry for the most telling failure in ``text``, if any.

    ``versions`` (``{"mlflow": "1.10.0", "pyarrow": "2.0.0"}``) are those of the
    environment that printed the text; by default the ones installed here. A missing
    key means unknown. Only C4 depends on them.
    """
    found = list(_candidates(text))
    c4_excluded: str | None = None
    if any(c.rule.code == "C4" for c in found):
        c4_excluded = _c4_ruled_out(text, installed_versions() if versions is None else versions)
        if c4_excluded is not None:
            found = [c for c in found if c.rule.code != "C4"]
    if not found:
        return None
    best = max(found, key=lambda c: c.key)
    code = best.rule.code
    hints = [best.rule.hint] if best.rule.hint else []
    present = {c.rule.code for c in found}
    hints += [
        hint for (win, also), hint in _COMPANION_HINTS.items() if win == code and also in present
    ]
    if code == "libhdfs-failed" and c4_excluded is not None:
        hints.append(f"not the > 2 GB write of old MLflow (C4): {c4_excluded}")
    entry = lookup(code)
    fix = f"{'; '.join(hints)}: {entry.fix}" if hints else entry.fix
    return Explanation(code, entry.title, fix, _line_of(text, best.start, best.end))


#: How explain() joins an exception chain: as Python prints it, the cause first.
_CHAIN_JOIN = "\n\nThe above exception was the direct cause of the following exception:\n\n"


def explain(
    exc: BaseException | str, *, versions: Mapping[str, str] | None = None
) -> Explanation | None:
    """Map an exception raised by pyarrow or MLflow in user code to its catalog entry.

    The exception's text, its chained causes and, for subprocess errors, their
    stderr are all searched; a cause ranks as deeper than the exception it caused.
    """
    if isinstance(exc, str):
        return explain_text(exc, versions=versions)
    blocks: list[str] = []  # outermost first
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts = [f"{type(cur).__name__}: {cur}"]
        stderr = getattr(cur, "stderr", None)
        if isinstance(stderr, (str, bytes)):
            parts.append(stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr)
        blocks.append("\n".join(parts))
        cur = cur.__cause__ or cur.__context__
    return explain_text(_CHAIN_JOIN.join(reversed(blocks)), versions=versions)
