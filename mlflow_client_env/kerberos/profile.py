"""Kerberos facts the environment needs: which krb5.conf, which credential cache.

Python (MIT krb5) and the JVM inside libhdfs can disagree on both (catalog D3,
D5): Java ignores ``KRB5_CONFIG`` and reads only FILE caches. We resolve the
cache the way MIT does (``KRB5CCNAME`` -> ``default_ccache_name`` ->
``FILE:/tmp/krb5cc_<uid>``) so the environment can pin both sides to the same
file. Ticket validity is not read here (see ``ticket``).
"""

from __future__ import annotations

import os
import pwd
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CcacheNameError, ConfigFileError
from ..findings import Finding
from ..safeio import read_small

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


def parse_profile(text: str, origin: str) -> Profile:
    """Parse MIT profile syntax (``[section]``, ``key = value``, ``key = { ... }``).

    Only what we need is kept: values are strings, sub-blocks are dicts of lists.
    """
    profile: Profile = {}
    section: dict[str, list[object]] | None = None
    stack: list[dict[str, list[object]]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and not stack:
            end = line.find("]")
            if end < 0:
                raise ConfigFileError(
                    f"{origin}, line {lineno}: section header without ']'", "fix the krb5.conf"
                )
            section = profile.setdefault(line[1:end].strip(), {})
            continue
        if line.startswith("}"):
            if not stack:
                raise ConfigFileError(
                    f"{origin}, line {lineno}: unmatched '}}'", "fix the krb5.conf"
                )
            stack.pop()
            continue
        if line.startswith(("include ", "includedir ", "module ")):
            continue
        target = stack[-1] if stack else section
        if target is None or "=" not in line:
            raise ConfigFileError(
                f"{origin}, line {lineno}: expected 'key = value' inside a [section], got {line!r}",
                "fix the krb5.conf (see 'man krb5.conf')",
            )
        key, _, value = (p.strip() for p in line.partition("="))
        if value == "{":
            block: dict[str, list[object]] = {}
            target.setdefault(key, []).append(block)
            stack.append(block)
        else:
            target.setdefault(key, []).append(value.rstrip("*").strip())
    if stack:
        raise ConfigFileError(f"{origin}: a '{{' block is not closed", "fix the krb5.conf")
    return profile


def _first(profile: Profile, section: str, key: str) -> str | None:
    values = profile.get(section, {}).get(key, [])
    return next((v for v in values if isinstance(v, str)), None)


def expand_ccache_name(name: str, uid: int | None = None) -> str:
    """Expand MIT's ``%{uid}``-style tokens in ``default_ccache_name``."""
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
        "%{TEMP}": os.environ.get("TMPDIR") or "/tmp",  # what MIT uses on Unix
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


@dataclass(frozen=True)
class KerberosSetup:
    """Where Python's and Java's Kerberos will look, without asking the KDC anything."""

    krb5_conf: Path | None
    krb5_conf_source: str
    default_realm: str | None
    realms: tuple[str, ...]
    ccache: str
    ccache_source: str
    evidence: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

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
    """Parse a krb5.conf, read bounded and without blocking (a FIFO is a ConfigFileError)."""

    data = read_small(path, "check KRB5_CONFIG")
    if data is None:
        raise ConfigFileError(f"cannot read {path}: it does not exist", "check KRB5_CONFIG")
    return parse_profile(data.decode("utf-8", errors="replace"), str(path))


def discover_kerberos(
    env: Mapping[str, str] | None = None, uid: int | None = None, *, check_ccache: bool = True
) -> KerberosSetup:
    """Resolve krb5.conf and the credential cache the way MIT krb5 does.

    Raises ``CcacheNameError`` when the cache name (``KRB5CCNAME``, even set but
    empty, or ``default_ccache_name``) is one libkrb5 would refuse, unless
    ``check_ccache`` is false (then ``ccache_type`` says ``INVALID``).
    """
    env = os.environ if env is None else env
    evidence: list[str] = []
    warnings: list[str] = []
    conf: Path | None = None
    if env.get("KRB5_CONFIG"):
        source = "KRB5_CONFIG"
        files = [Path(p) for p in env["KRB5_CONFIG"].split(":") if p]
        existing = [p for p in files if p.is_file()]
        if not existing:
            raise ConfigFileError(
                f"KRB5_CONFIG={env['KRB5_CONFIG']} names no existing file",
                "point KRB5_CONFIG at your krb5.conf, or unset it to use /etc/krb5.conf",
            )
        conf = existing[0]
        if len(files) > 1:
            warnings.append(f"KRB5_CONFIG lists {len(files)} files; Java can take only one, {conf}")
    else:
        source = "default"
        conf = Path(DEFAULT_KRB5_CONF) if Path(DEFAULT_KRB5_CONF).is_file() else None
    profile: Profile = read_krb5_conf(conf) if conf else {}
    evidence.append(f"krb5.conf: {conf or 'none'} ({source})")
    realm = _first(profile, "libdefaults", "default_realm")
    realms = tuple(profile.get("realms", {}).keys())
    if "KRB5CCNAME" in env:  # libkrb5 takes it even when empty (secure_getenv != NULL)
        ccache, cc_source = env["KRB5CCNAME"], "KRB5CCNAME"
    elif _first(profile, "libdefaults", "default_ccache_name"):
        raw = _first(profile, "libdefaults", "default_ccache_name") or ""
        ccache, cc_source = expand_ccache_name(raw, uid), f"default_ccache_name in {conf}"
    else:
        ccache = f"FILE:/tmp/krb5cc_{os.getuid() if uid is None else uid}"
        cc_source = "MIT default"
    evidence.append(f"credential cache: {ccache} ({cc_source})")
    if check_ccache:
        parse_ccache_name(ccache, cc_source if cc_source == "KRB5CCNAME" else "the cache name")
    return KerberosSetup(
        krb5_conf=conf,
        krb5_conf_source=source,
        default_realm=realm,
        realms=realms,
        ccache=ccache,
        ccache_source=cc_source,
        evidence=tuple(evidence),
        warnings=tuple(warnings),
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
