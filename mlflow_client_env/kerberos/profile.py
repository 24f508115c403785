"""Kerberos facts the environment needs: which krb5.conf, which credential cache, which realm.

Python (MIT krb5) and the JVM inside libhdfs can disagree on all three (catalog D3,
D5). **libkrb5 decides for Python**: :func:`discover_kerberos` asks the system's
``libkrb5.so.3`` (:mod:`.libkrb5`) for the default cache name and realm, exactly as
``kinit``/``klist`` resolve them (``KRB5CCNAME`` -> ``default_ccache_name``, first value
read, with ``include``/``includedir``/``module`` and ``%{uid}`` -> ``FILE:/tmp/krb5cc_<uid>``),
and reads the files itself (MIT's rules) only to say which file set a value, to know what
to watch for changes, and as the fallback when the library is missing.

**Java reads krb5.conf with its own parser** (``sun.security.krb5.Config``), which
ignores ``KRB5_CONFIG`` and ``default_ccache_name`` (its cache is ``KRB5CCNAME`` with
``FILE:`` stripped, else ``/tmp/krb5cc_<uid>``), so :func:`java_view` predicts what a
JVM of a given major version reads, and :func:`java_disagreement` says where the two
differ. What the JDKs do with ``include``/``includedir`` (tried here with real JVMs,
OpenJDK 17.0.15 and Temurin 25.0.3, on RHEL-style files; the rest from the sources):

- **JDK 8**: not supported. OpenJDK 8u's ``Config.loadConfigFile`` ignores every line
  before the first ``[section]`` ("Lines before the first section are ignored"), and a
  directive after one has no ``=``, so loading fails ("Illegal config content").
  Source: 8u-derived ``jdk/src/share/classes/sun/security/krb5/Config.java`` (BiSheng
  JDK 8, Dragonwell 8); not run here, no JDK 8 on this machine.
- **JDK 9 to 25** (JDK-8029994 added them in 9): honoured only *before the first
  section* of each file (``readConfigFileLines``: ``inDirectives``). Lines are trimmed
  (an indented ``include`` counts, MIT ignores it), the keyword must be followed by one
  space (``includedir<TAB>/d`` is ignored, MIT reads it), the path must be absolute
  and exist, a file read twice is an error ("Profile path included more than once"),
  and a directive after a section makes the whole file unreadable: ``KrbException:
  Illegal config content:includedir ...`` (seen with 17.0.15 and 25.0.3). The
  including file's own relations come after the included ones, and ``get`` returns the
  first value, as MIT does.
- **includedir names**: both read only names made of ``[A-Za-z0-9_-]`` or ending in
  ``.conf`` and not starting with a dot, and skip directories (MIT ``valid_name`` in
  ``src/util/profile/prof_parse.c``; the JDK's regex in ``readConfigFileLines``).
- **includedir order**: MIT sorts the names (``k5_dir_filenames``); the JDK used the
  directory's order until JDK-8309356 (openjdk/jdk PR #15889, 2023, JDK 22) sorted them:
  17.0.15 read ``K14 K16 K15 ...`` (readdir order), 25.0.3 read ``K10 K11 ...``.
- **JDK 26+** (JDK-8356997, openjdk/jdk PR #25421): directives anywhere, a file may be
  included more than once (not recursively). From the PR, not run here.

MIT's own rules (``prof_parse.c``): ``include``/``includedir`` must start the line
(column 0) and may appear anywhere, even inside a section; an included file is parsed
on its own (it must start with a section) into the same tree; ``module`` is allowed
only before the first section of a top-level file; relations are kept in the order
read, so with RHEL's ``includedir /etc/krb5.conf.d/`` at the top, a drop-in's
``default_ccache_name = KCM:`` wins over the main file's ``KEYRING:persistent:%{uid}``.
"""

from __future__ import annotations

import os
import pwd
import re
import stat
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import CcacheNameError, ConfigFileError
from ..findings import Finding
from ..records import field, record
from ..safeio import read_small
from . import libkrb5

DEFAULT_KRB5_CONF = "/etc/krb5.conf"
#: Cache types MIT krb5 defines. Prefixes are case-sensitive (``krb5int_cc_getops`` uses
#: strcmp), a one-letter prefix is a Windows drive letter (a FILE path), and a name
#: without ``:`` is a FILE path.
CCACHE_TYPES = ("FILE", "DIR", "KEYRING", "KCM", "MEMORY", "API", "MSLSA")
#: The types this platform's libkrb5 is built with (API: macOS/Windows, MSLSA: Windows).
SUPPORTED_CCACHE_TYPES: tuple[str, ...] = (
    ("FILE", "DIR", "KEYRING", "KCM", "MEMORY")
    + (("API",) if sys.platform in ("darwin", "win32") else ())
    + (("MSLSA",) if sys.platform == "win32" else ())
)
#: What ``ccache_type`` says of a name libkrb5 would refuse.
INVALID = "INVALID"
CCNAME_FIX = (
    "set KRB5CCNAME to TYPE:residual with a type libkrb5 knows, e.g. FILE:/tmp/krb5cc_$(id -u), "
    "KEYRING:persistent:$(id -u) or KCM:, or unset it to use the default cache"
)


def parse_ccache_name(name: str, origin: str = "credential cache name") -> tuple[str, str]:
    """``(type, residual)`` of a cache name, by the rules of MIT's ``krb5_cc_resolve``.

    Raises ``CcacheNameError`` where libkrb5 fails ("Unknown credential cache type"
    for ``BOGUS:x``, ``file:x``, ``:x``, ``API:x`` on Linux) and where the name can
    never hold a ticket (``FILE:``, an empty name, ``DIR:``, a NUL or a newline).
    """
    if not name:
        raise CcacheNameError(
            f"{origin} is empty: libkrb5 then looks for a cache file with an empty name, "
            "and finds none",
            CCNAME_FIX,
        )
    if "\0" in name or "\n" in name:
        raise CcacheNameError(f"{origin} {name!r} contains a NUL or a newline", CCNAME_FIX)
    prefix, sep, residual = name.partition(":")
    if not sep:
        return "FILE", name
    if len(prefix) == 1 and prefix.isascii() and prefix.isalpha():
        return "FILE", name  # a Windows drive letter, as libkrb5 reads it
    if prefix not in CCACHE_TYPES:
        hint = (
            f" (types are case-sensitive: {prefix.upper()}:)"
            if prefix.upper() in CCACHE_TYPES
            else ""
        )
        raise CcacheNameError(
            f"{origin} {name!r} has an unknown credential cache type {prefix!r}{hint}; "
            "libkrb5 refuses it ('Unknown credential cache type')",
            CCNAME_FIX,
        )
    if prefix not in SUPPORTED_CCACHE_TYPES:
        raise CcacheNameError(
            f"{origin} {name!r}: {prefix} caches do not exist on this platform; libkrb5 "
            "refuses it ('Unknown credential cache type')",
            CCNAME_FIX,
        )
    if prefix in ("FILE", "DIR") and not residual.lstrip(":" if prefix == "DIR" else ""):
        raise CcacheNameError(
            f"{origin} {name!r} names no {'file' if prefix == 'FILE' else 'directory'}",
            CCNAME_FIX,
        )
    return prefix, residual


Profile = dict[str, dict[str, list[object]]]

#: The JDK major whose rules are assumed when the version is unknown.
DEFAULT_JAVA_MAJOR = 17
#: More files than this (includes) is an error, not a configuration.
MAX_PROFILE_FILES = 256
_INCLUDEDIR_NAME = r"[A-Za-z0-9_-]+"  # compiled at first use: few krb5.conf have includedir
KRB5_CONF_FIX = "fix the krb5.conf (see 'man krb5.conf')"


class _JavaRefuses(Exception):
    """The JDK would fail to load this krb5.conf (its ``KrbException``/``IOException``)."""


def _includedir_name_ok(name: str) -> bool:
    """MIT's ``valid_name`` and the JDK's regex agree: no dotfiles; ``*.conf`` or only
    letters, digits, ``-`` and ``_``."""
    if name.startswith("."):
        return False
    return name.endswith(".conf") or re.fullmatch(_INCLUDEDIR_NAME, name) is not None


def _unquote_mit(value: str) -> str:
    """MIT's ``parse_quoted_string``: up to the closing quote, with \\n \\t \\b \\\\ escapes."""
    out: list[str] = []
    i = 1
    while i < len(value) and value[i] != '"':
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            i += 1
            ch = {"n": "\n", "t": "\t", "b": "\b"}.get(value[i], value[i])
        out.append(ch)
        i += 1
    return "".join(out)


class _Reader:
    """Reads krb5.conf files into one :data:`Profile` the way one implementation does:
    ``mit`` (libkrb5's profile library) or ``java`` (``sun.security.krb5.Config`` of JDK
    ``java_major``), following ``include``/``includedir`` by that implementation's rules.

    Errors: ``ConfigFileError`` for ``mit`` (libkrb5 would refuse it too, or it is not a
    file we read), ``_JavaRefuses`` for ``java``.
    """

    def __init__(self, dialect: str, java_major: int | None = None) -> None:
        self.dialect = dialect
        self.java = DEFAULT_JAVA_MAJOR if java_major is None else java_major
        self.profile: Profile = {}
        self.origin: dict[tuple[str, str], Path] = {}  # (section, key) -> file of 1st value
        self.files: list[Path] = []
        self.dirs: list[Path] = []
        self.module: str | None = None  # MIT: a top-level 'module' line replaced the file
        self._open: list[Path] = []  # the include chain being read

    def _fail(self, problem: str) -> Exception:
        if self.dialect == "java":
            return _JavaRefuses(problem)
        return ConfigFileError(problem, KRB5_CONF_FIX)

    def read_file(self, path: Path, *, top: bool = False, named_by: str = "") -> None:
        if self.dialect == "java":
            if not path.is_absolute():
                raise self._fail(f"{named_by}: {path} is not an absolute path")
            if path in self.files and (self.java < 26 or path in self._open):
                raise self._fail(f"{named_by}: {path} is included more than once")
        elif path in self._open:
            raise self._fail(f"{named_by}: {path} includes itself")
        if len(self.files) >= MAX_PROFILE_FILES:
            raise ConfigFileError(
                f"{path}: more than {MAX_PROFILE_FILES} krb5.conf files through includes",
                KRB5_CONF_FIX,
            )
        try:
            data = read_small(path, "check the include lines of your krb5.conf")
        except ConfigFileError as exc:
            if self.dialect == "java":
                raise _JavaRefuses(exc.problem) from None
            raise
        if data is None:
            raise self._fail(f"{named_by or 'krb5.conf'}: {path} does not exist")
        self.files.append(path)
        self._open.append(path)
        try:
            self._parse(data.decode("utf-8", errors="replace"), path, top)
        finally:
            self._open.pop()

    def read_dir(self, path: Path, named_by: str) -> None:
        try:
            names = os.listdir(path)  # readdir order, as the JDK's DirectoryStream
        except OSError as exc:
            raise self._fail(f"{named_by}: cannot list {path}: {exc.strerror}") from None
        self.dirs.append(path)
        if self.dialect == "mit" or self.java >= 22:
            names.sort()
        for name in names:
            entry = path / name
            if _includedir_name_ok(name) and not entry.is_dir():
                self.read_file(entry, named_by=named_by)

    def _directive(self, line: str, origin: Path, lineno: int) -> bool:
        """Follow ``include``/``includedir`` if ``line`` is one, by this dialect's rules."""
        where = f"{origin}, line {lineno}"
        if self.dialect == "mit":  # at column 0, any whitespace after the keyword
            for word, follow in (("includedir", self.read_dir), ("include", None)):
                if line.startswith(word) and line[len(word) : len(word) + 1].isspace():
                    target = Path(line[len(word) :].strip())
                    if follow is None:
                        self.read_file(target, named_by=where)
                    else:
                        follow(target, where)
                    return True
            return False
        if self.java < 9:
            return False
        if line.startswith("includedir "):
            target = Path(line[len("includedir ") :].strip())
            if not target.is_absolute():
                raise self._fail(f"{where}: {target} is not an absolute path")
            self.read_dir(target, where)
            return True
        if line.startswith("include "):
            self.read_file(Path(line[len("include ") :].strip()), named_by=where)
            return True
        return False

    def _parse(self, text: str, origin: Path, top: bool) -> None:
        mit = self.dialect == "mit"
        started = False  # MIT: past STATE_INIT_COMMENT; JDK: past inDirectives
        section: dict[str, list[object]] | None = None
        section_name = ""
        stack: list[dict[str, list[object]]] = []
        want_brace = False
        for lineno, raw in enumerate(text.splitlines(), 1):
            where = f"{origin}, line {lineno}"
            if mit:
                if self._directive(raw, origin, lineno):
                    continue
                if not started:
                    if raw.startswith("module") and raw[6:7].isspace():
                        if not top:
                            raise self._fail(f"{where}: 'module' in an included file")
                        self.module = raw[6:].strip()  # libkrb5 loads it instead of the file
                        return
                    if not raw.startswith("["):
                        continue  # text before the first section is a comment
                    started = True
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if not mit:
                if (not started or self.java >= 26) and self._directive(line, origin, lineno):
                    continue
                if not started:
                    if not line.startswith("["):
                        continue  # the JDK ignores unknown directives before the sections
                    started = True
            if want_brace:
                if not line.startswith("{"):
                    raise self._fail(f"{where}: expected '{{' after a 'key ='")
                want_brace = False
                continue
            if line.startswith("[") and not stack:
                end = line.find("]")
                if end < 0:
                    raise self._fail(f"{where}: section header without ']'")
                section_name = line[1:end].strip()
                if not mit:
                    section_name = section_name.lower()  # the JDK lowercases section names
                section = self.profile.setdefault(section_name, {})
                continue
            if line.startswith("}"):
                if not stack:
                    raise self._fail(f"{where}: unmatched '}}'")
                stack.pop()
                continue
            target = stack[-1] if stack else section
            if target is None or "=" not in line:
                got = "Illegal config content" if not mit else "expected 'key = value'"
                raise self._fail(f"{where}: {got} inside a [section], got {line!r}")
            key, _, value = (p.strip() for p in line.partition("="))
            if mit:
                key = key.split("*", 1)[0].strip()  # 'key*' marks a final value
            if value in ("", "{"):
                block: dict[str, list[object]] = {}
                target.setdefault(key, []).append(block)
                stack.append(block)
                want_brace = value == ""
                continue
            if value.startswith('"'):
                value = _unquote_mit(value) if mit else value.strip('"')
            target.setdefault(key, []).append(value)
            if not stack:
                self.origin.setdefault((section_name, key), origin)
        if stack:
            raise self._fail(f"{origin}: a '{{' block is not closed")


def parse_profile(text: str, origin: str) -> Profile:
    """Parse one krb5.conf text by MIT's rules (``include`` lines are followed)."""
    reader = _Reader("mit")
    reader._parse(text, Path(origin), top=True)
    return reader.profile


def _first(profile: Profile, section: str, key: str) -> str | None:
    values = profile.get(section, {}).get(key, [])
    return next((v for v in values if isinstance(v, str)), None)


def expand_ccache_name(
    name: str, uid: int | None = None, env: Mapping[str, str] | None = None
) -> str:
    """Expand MIT's ``%{uid}``-style tokens in ``default_ccache_name`` (``%{TEMP}`` is
    ``env``'s ``TMPDIR``)."""
    uid = os.getuid() if uid is None else uid
    try:
        username = pwd.getpwuid(uid).pw_name
    except KeyError:
        username = str(uid)
    tokens = {
        "%{uid}": str(uid),
        "%{euid}": str(os.geteuid()),
        "%{USERID}": str(uid),
        "%{username}": username,
        "%{TEMP}": (os.environ if env is None else env).get("TMPDIR") or "/tmp",  # MIT, Unix
        "%{null}": "",
    }
    for token, value in tokens.items():
        name = name.replace(token, value)
    return name


def ccache_type(name: str) -> str:
    """``FILE``, ``KEYRING``, ...; ``INVALID`` for a name libkrb5 would refuse."""
    try:
        return parse_ccache_name(name)[0]
    except CcacheNameError:
        return INVALID


def ccache_path(name: str) -> Path | None:
    """The file of a FILE cache (``FILE:/p`` or a bare path); None for other types and
    for invalid names."""
    try:
        ctype, residual = parse_ccache_name(name)
    except CcacheNameError:
        return None
    return Path(residual) if ctype == "FILE" else None


@record
class KerberosSetup:
    """Where Python's and Java's Kerberos will look, without asking the KDC anything.

    ``ccache`` and ``default_realm`` are libkrb5's answers when ``from_libkrb5``;
    otherwise predicted from the files (MIT's rules), and ``evidence`` says why.
    ``conf_files`` are the krb5.conf files libkrb5 reads (includes too), in order.
    """

    krb5_conf: Path | None
    krb5_conf_source: str
    default_realm: str | None
    realms: tuple[str, ...]
    ccache: str
    ccache_source: str
    evidence: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    conf_files: tuple[Path, ...] = ()
    from_libkrb5: bool = False

    @property
    def ccache_type(self) -> str:
        return ccache_type(self.ccache)

    @property
    def ccache_path(self) -> Path | None:
        return ccache_path(self.ccache)

    @property
    def java_readable(self) -> bool:
        """The JDK's Kerberos reads only FILE caches (catalog D3)."""
        return self.ccache_type == "FILE"

    @property
    def krb5_config_set(self) -> bool:
        return self.krb5_conf_source == "KRB5_CONFIG"


def read_krb5_conf(path: Path) -> Profile:
    """Parse a krb5.conf and what it includes (MIT's rules), read bounded and without
    blocking (a FIFO is a ConfigFileError)."""
    if read_small(path, "check KRB5_CONFIG") is None:
        raise ConfigFileError(f"cannot read {path}: it does not exist", "check KRB5_CONFIG")
    reader = _Reader("mit")
    reader.read_file(path, top=True)
    return reader.profile


# --------------------------------------------------------------------------- discovery
_Stamp = tuple[int, int, int, int, int] | None
#: (KRB5_CONFIG, KRB5CCNAME, TMPDIR, uid, check_ccache, our uid) -> (paths, stamps, result)
_CACHE: dict[tuple[object, ...], tuple[tuple[Path, ...], tuple[_Stamp, ...], KerberosSetup]] = {}
_CACHE_MAX = 32
#: A file modified less than this before it was read may change again within the same
#: timestamp tick, unseen: such a result is not cached (ctime still has to match).
_RACY_SECONDS = 2.0


def _stamp(path: Path) -> _Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev)


def discover_kerberos(
    env: Mapping[str, str] | None = None, uid: int | None = None, *, check_ccache: bool = True
) -> KerberosSetup:
    """krb5.conf, the default credential cache and the default realm, as libkrb5 has them
    for a process with environment ``env`` (default: this process's).

    The result is cached in this process per ``KRB5_CONFIG``, ``KRB5CCNAME`` and
    ``TMPDIR`` and the stat results of every krb5.conf file and included directory read:
    a warm call stats those files and nothing else.

    ``uid``: for another user than this process's, predicted from the files (libkrb5
    expands ``%{uid}`` for the calling process only).

    Raises ``ConfigFileError`` for a krb5.conf that cannot be read or that libkrb5
    refuses, and ``CcacheNameError`` when the cache name (``KRB5CCNAME``, even set but
    empty, or ``default_ccache_name``) is one libkrb5 would refuse, unless
    ``check_ccache`` is false (then ``ccache_type`` says ``INVALID``).
    """
    env = os.environ if env is None else env
    key = (*(env.get(v) for v in libkrb5.VARIABLES), uid, check_ccache, os.getuid())
    hit = _CACHE.get(key)
    if hit is not None and tuple(_stamp(p) for p in hit[0]) == hit[1]:
        return hit[2]
    started = time.time()
    result, paths = _discover(env, uid, check_ccache)
    stamps = tuple(_stamp(p) for p in paths)
    racy = (started - _RACY_SECONDS) * 1e9
    if all(s is None or s[0] < racy for s in stamps):  # mtime: ctime cannot be old
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = (paths, stamps, result)
    return result


def _config_paths(env: Mapping[str, str]) -> tuple[list[Path], str, Path | None, list[str]]:
    """The krb5.conf candidates libkrb5 reads, the source, the one file Java can be given,
    and warnings."""
    warnings: list[str] = []
    if env.get("KRB5_CONFIG"):
        files = [Path(p) for p in env["KRB5_CONFIG"].split(":") if p]
        existing = [p for p in files if p.is_file() or p.is_dir()]
        if not existing:
            raise ConfigFileError(
                f"KRB5_CONFIG={env['KRB5_CONFIG']} names no existing file",
                "point KRB5_CONFIG at your krb5.conf, or unset it to use /etc/krb5.conf",
            )
        conf = next((p for p in existing if p.is_file()), None)
        if len(files) > 1:
            warnings.append(f"KRB5_CONFIG lists {len(files)} files; Java can take only one, {conf}")
        return files, "KRB5_CONFIG", conf, warnings
    default = Path(DEFAULT_KRB5_CONF)
    return [default], "default", default if default.is_file() else None, warnings


def _not_ours(paths: Sequence[Path]) -> str | None:
    """Why libkrb5 must not be handed these files in a child (None: every file exists, and
    it, each link on the way and each folder above it are root's or ours and writable by no
    one else), since a krb5.conf can name code for libkrb5 to load (``module``, plugins).

    Links are judged themselves (``lstat``) and then their target, and a file that does not
    exist yet is refused: someone else could create it between this check and the child.
    """
    me = os.geteuid()

    def bad(p: Path) -> str | None:
        try:
            st = os.lstat(p)
        except OSError:
            return f"{p} cannot be checked (missing?)"
        if st.st_uid not in (0, me):
            return f"{p} is owned by uid {st.st_uid}"
        if not stat.S_ISLNK(st.st_mode) and st.st_mode & (stat.S_IWOTH | stat.S_IWGRP):
            return f"{p} is writable by others"
        return None

    for p in paths:
        real = Path(os.path.realpath(p))
        for q in (p, real, *(d for d in (p.parent, *p.parent.parents, *real.parents))):
            if q.is_dir() and (st := os.lstat(q)) and st.st_mode & stat.S_ISVTX:
                continue  # a sticky folder such as /tmp: others cannot replace our entries
            why = bad(q)
            if why:
                return f"{why} (a krb5.conf can name code for libkrb5 to load)"
    return None


def _discover(
    env: Mapping[str, str], uid: int | None, check_ccache: bool
) -> tuple[KerberosSetup, tuple[Path, ...]]:
    candidates, source, conf, warnings = _config_paths(env)
    reader = _Reader("mit")
    for p in candidates:
        if p.is_dir():  # MIT 1.14+: a directory in KRB5_CONFIG is read like includedir
            reader.read_dir(p, "KRB5_CONFIG")
        elif p.exists():
            reader.read_file(p, top=True)
    paths = tuple(dict.fromkeys([*candidates, *reader.files, *reader.dirs]))
    profile = reader.profile
    evidence = [
        f"krb5.conf: {conf or 'none'} ({source})"
        + (
            f"; libkrb5 reads {len(reader.files)} files: " + ", ".join(map(str, reader.files))
            if len(reader.files) > 1
            else ""
        )
    ]
    if reader.module:
        evidence.append(f"krb5.conf loads the profile module {reader.module}: only libkrb5 knows")

    # what the files say, by MIT's rules: the fallback, and which file set the value
    me = os.getuid()
    raw = _first(profile, "libdefaults", "default_ccache_name")
    if "KRB5CCNAME" in env:  # libkrb5 takes it even when empty (secure_getenv != NULL)
        predicted, predicted_source = env["KRB5CCNAME"], "KRB5CCNAME"
    elif raw is not None:
        where = reader.origin.get(("libdefaults", "default_ccache_name"), conf)
        predicted = expand_ccache_name(raw, uid, env)
        predicted_source = f"default_ccache_name in {where}"
    else:
        predicted = f"FILE:/tmp/krb5cc_{me if uid is None else uid}"
        predicted_source = "MIT default"
    realm = _first(profile, "libdefaults", "default_realm")

    answer: libkrb5.Answer | None = None
    if uid is not None and uid != me:
        why_not = f"libkrb5 answers for this process's uid {me} only, not {uid}"
    elif not libkrb5.same_as_process(env) and (unsafe := _not_ours(paths)):
        why_not = f"libkrb5 not asked: {unsafe}"
    else:
        try:
            answer = libkrb5.ask(env)
        except libkrb5.Refused as exc:
            raise ConfigFileError(
                f"libkrb5 refuses the Kerberos configuration ({conf or source}): {exc}",
                f"{KRB5_CONF_FIX}; kinit fails the same way",
            ) from None
        except libkrb5.Unavailable as exc:
            why_not = f"libkrb5 not asked: {exc}"
    if answer is not None:
        ccache = answer.ccache
        cc_source = predicted_source if ccache == predicted else "libkrb5's configuration"
        realm = answer.realm
        how = f"from libkrb5, asked {answer.where}"
        evidence.append(f"credential cache: {ccache} ({cc_source}; {how})")
        if ccache != predicted:
            evidence.append(f"reading the files (MIT's rules) gave {predicted}: libkrb5 wins")
        evidence.append(
            f"default realm: {realm} ({how})"
            if realm
            else f"default realm: none ({how}: {answer.realm_problem})"
        )
    else:
        ccache, cc_source = predicted, predicted_source
        evidence.append(
            f"credential cache: {ccache} ({cc_source}; predicted from the files, {why_not})"
        )
        evidence.append(f"default realm: {realm or 'none'} (predicted from the files)")
    if check_ccache:
        parse_ccache_name(ccache, cc_source if cc_source == "KRB5CCNAME" else "the cache name")
    result = KerberosSetup(
        krb5_conf=conf,
        krb5_conf_source=source,
        default_realm=realm,
        realms=tuple(profile.get("realms", {}).keys()),
        ccache=ccache,
        ccache_source=cc_source,
        evidence=tuple(evidence),
        warnings=tuple(warnings),
        conf_files=tuple(reader.files),
        from_libkrb5=answer is not None,
    )
    return result, paths


# --------------------------------------------------------------------------- Java's view
@record
class JavaKerberosView:
    """What a JVM of ``java_major`` reads: its krb5.conf (and includes, by the JDK's rules),
    its default realm, and the FILE cache it opens. ``problem``: the JDK cannot load that
    krb5.conf at all (then it has no realm: 'Cannot locate default realm')."""

    krb5_conf: Path
    krb5_conf_why: str
    java_major: int | None
    realm: str | None
    realm_why: str
    ccache: Path
    ccache_why: str
    files: tuple[Path, ...] = ()
    problem: str | None = None


def java_view(
    krb5_conf: Path,
    why: str,
    java_major: int | None,
    env: Mapping[str, str],
    jvm_options: str = "",
) -> JavaKerberosView:
    """Predict the JVM's Kerberos settings (see the module docstring for the rules).

    ``krb5_conf``/``why``: the file the JVM reads (``-Djava.security.krb5.conf``, the
    JDK's own, ``/etc/krb5.conf``); ``env``: the JVM's environment; ``jvm_options``: its
    options (``LIBHDFS_OPTS``), for ``-Djava.security.krb5.realm``.
    """
    cc_env = env.get("MLFLOW_KERBEROS_TICKET_CACHE")
    if cc_env:
        cc, cc_why = Path(cc_env), "MLFLOW_KERBEROS_TICKET_CACHE (pyarrow's kerb_ticket)"
    elif env.get("KRB5CCNAME") is not None:
        name = env["KRB5CCNAME"]
        cc = Path(name[5:] if name[:5].upper() == "FILE:" else name)
        cc_why = "KRB5CCNAME (the JDK strips FILE: and takes the rest as a file name)"
    else:
        cc = Path(f"/tmp/krb5cc_{os.getuid()}")
        cc_why = "the JDK's default (it ignores default_ccache_name)"
    reader = _Reader("java", java_major)
    realm: str | None = None
    problem: str | None = None
    if krb5_conf.exists():
        try:
            reader.read_file(krb5_conf.absolute(), top=True, named_by=str(krb5_conf))
        except (_JavaRefuses, ConfigFileError) as exc:
            problem = str(exc) if isinstance(exc, _JavaRefuses) else exc.problem
    if problem is None:
        realm = _first(reader.profile, "libdefaults", "default_realm")
    realm_why = f"default_realm in {reader.origin.get(('libdefaults', 'default_realm'))}"
    for token in jvm_options.split():
        if token.startswith("-Djava.security.krb5.realm="):
            realm, realm_why = token.split("=", 1)[1], "-Djava.security.krb5.realm"
    return JavaKerberosView(
        krb5_conf, why, java_major, realm, realm_why, cc, cc_why, tuple(reader.files), problem
    )


JAVA_INCLUDE_FIX = (
    "put the include/includedir lines above the first [section] of each krb5.conf file "
    "(JDK 9 to 25 honour them only there; JDK 8 not at all), or give Java a krb5.conf "
    "without them through -Djava.security.krb5.conf in LIBHDFS_OPTS"
)


def java_disagreement(
    k: KerberosSetup, ours: JavaKerberosView, inherited: JavaKerberosView | None = None
) -> Finding:
    """Where Java and libkrb5 disagree (catalog D5): the realm of the JVM our environment
    starts (``ours``), and the cache of a JVM started from the inherited environment
    without it (``inherited``; only for a FILE cache: other types are D3)."""
    jdk = f"Java {ours.java_major or '?'}"
    evidence = [
        f"libkrb5: realm {k.default_realm or 'none'}, cache {k.ccache} ({k.ccache_source})",
        f"{jdk}: krb5.conf {ours.krb5_conf} ({ours.krb5_conf_why})"
        + (f" and {len(ours.files) - 1} included file(s)" if len(ours.files) > 1 else "")
        + f", realm {ours.realm or 'none'}",
    ]
    problems: list[tuple[str, str]] = []  # (status, summary)
    if ours.problem:
        problems.append(
            (
                "error",
                f"{jdk} cannot load {ours.krb5_conf}, which libkrb5 reads: {ours.problem}; the "
                "JVM then has no Kerberos settings ('Cannot locate default realm', catalog D5)",
            )
        )
    elif k.default_realm and not ours.realm:
        problems.append(
            (
                "error",
                f"{jdk} finds no default realm in {ours.krb5_conf} while libkrb5 has "
                f"{k.default_realm} ('Cannot locate default realm', catalog D5)",
            )
        )
    elif k.default_realm and ours.realm != k.default_realm:
        problems.append(
            (
                "warn",
                f"{jdk}'s default realm is {ours.realm} ({ours.realm_why}), libkrb5's is "
                f"{k.default_realm} (catalog D5)",
            )
        )
    if inherited is not None and k.java_readable and k.ccache_path is not None:
        evidence.append(f"a JVM started without this environment reads {inherited.ccache}")
        if os.path.abspath(inherited.ccache) != os.path.abspath(k.ccache_path):
            problems.append(
                (
                    "warn",
                    f"a JVM started from this environment without setup()/env reads "
                    f"{inherited.ccache} ({inherited.ccache_why}), while kinit and Python "
                    f"use {k.ccache} ({k.ccache_source})",
                )
            )
    if not problems:
        return Finding(
            "kerberos.java-libkrb5-agree",
            "ok",
            f"{jdk} and libkrb5 agree on the default realm ({k.default_realm or 'none'})",
            tuple(evidence),
        )
    status = "error" if any(s == "error" for s, _ in problems) else "warn"
    fixes = []
    if ours.problem:
        fixes.append(JAVA_INCLUDE_FIX)
    elif any("realm" in p for _, p in problems):
        fixes.append(
            "make the krb5.conf Java reads name the same default_realm, or pass "
            "-Djava.security.krb5.conf pointing at the file kinit uses"
        )
    if inherited is not None and any("without setup()/env" in p for _, p in problems):
        fixes.append(
            "start Java-using processes with this tool's environment (setup(), "
            "'eval \"$(mlflow-client-env env)\"', the kernel): it exports KRB5CCNAME and "
            "MLFLOW_KERBEROS_TICKET_CACHE for both"
        )
    return Finding(
        "kerberos.java-libkrb5-disagree",
        status,  # type: ignore[arg-type]
        "; ".join(p for _, p in problems),
        tuple(evidence),
        "; ".join(fixes),
    )


def cache_not_java_readable(k: KerberosSetup) -> Finding:
    """The one finding for "Java cannot read this ticket cache" (catalog D3), with one status,
    wherever it is found: composing an environment, the doctor, setup()'s report."""
    return Finding(
        "kerberos.cache-not-java-readable",
        "error",
        f"the credential cache {k.ccache} is a {k.ccache_type} cache, which Java cannot read "
        "(catalog D3)",
        fix="run 'mlflow-client-env kinit --to-file' (setup() and the kernel launcher copy it "
        "into a private FILE cache for you)",
    )
