"""Getting a ticket into a FILE cache that the JVM inside libhdfs can read.

The JDK reads only FILE caches (catalog D3), while RHEL/SSSD hosts keep tickets
in KEYRING or KCM caches. So we log in from a keytab in-process (gssapi's
credential store extension, no ``kinit`` subprocess, no password ever), and copy
a KEYRING/KCM/DIR ticket into a private FILE cache (mode 0600). Every write goes
to a fresh private temporary directory next to the cache, then ``os.replace``,
under a file lock kept in the user's private runtime directory (never next to
the cache: ``/tmp`` is world-writable): several processes sharing one cache
never see it half-written. A target that is a symlink, not a regular file, or
another user's file is refused before anything is written.

Logins check before acting: ``check_login_inputs`` validates the keytab (a
regular, readable keytab file), the principal (libkrb5's syntax) and the target
cache without touching the disk; ``keytab_login`` replaces the cache only when
the KDC said yes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import platform
import shutil
import stat
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from ..errors import (
    CacheTargetError,
    CcacheFormatError,
    CcacheUnreadableError,
    KeyringUnavailableError,
    KeytabError,
    KinitError,
    MlflowClientEnvError,
    PrincipalError,
    setting,
)
from ..records import field, record
from ..safeio import file_kind
from ..userdirs import lock_dir, private_base
from .ccache import read_regular_file
from .profile import KerberosSetup, ccache_type, discover_kerberos, parse_ccache_name
from .ticket import TicketStatus, copy_credentials, require_gssapi, ticket_status

#: What we say where KEYRING caches cannot exist (kernel without keyrings, or keyctl blocked).
NO_KEYRING_MESSAGE = (
    "this kernel offers no keyrings (the keyctl system call is missing or blocked, e.g. by a "
    "container's seccomp profile), so there is no KEYRING credential cache to copy"
)
NO_KEYRING_FIX = (
    "use a FILE cache: KRB5CCNAME=FILE:/tmp/krb5cc_$(id -u) kinit, "
    "or 'mlflow-client-env kinit --keytab K --principal P'"
)
LOCK_TIMEOUT = 30.0
#: A keytab holds a few keys per principal: kilobytes.
MAX_KEYTAB_BYTES = 16 * 1024 * 1024


class KeytabPermissionWarning(UserWarning):
    """The keytab can be read by other users: it is as good as a password."""


# --------------------------------------------------------------------------- caches and locks
def private_ccache(uid: int | None = None, env: Mapping[str, str] | None = None) -> str:
    """A FILE cache only the user can reach: in ``$XDG_RUNTIME_DIR`` or ``/run/user/UID``
    when that is ours and 0700, else in ``<cache dir>/run`` (created 0700). Never in
    ``/tmp``. The name says who made it. Nothing is created here."""
    uid = os.getuid() if uid is None else uid
    return f"FILE:{private_base(env) / f'krb5cc_{uid}_mlflow_client_env'}"


def require_file_ccache(ccache: str) -> Path:
    """The path of a FILE cache; ``CcacheNameError`` for an invalid name, ``KinitError``
    for another cache type."""
    ctype, residual = parse_ccache_name(ccache, "the cache")
    if ctype != "FILE":
        raise KinitError(
            f"{ccache} is a {ctype} cache; this needs a FILE cache",
            "pass a FILE cache, e.g. --ccache FILE:/tmp/krb5cc_$(id -u)",
        )
    return Path(residual)


def lock_file(path: Path, env: Mapping[str, str] | None = None) -> Path:
    """The lock of the cache ``path``: in our lock folder (``userdirs.lock_dir``), named by a
    hash of the cache's absolute path (never ``<cache>.lock`` in a world-writable folder)."""
    key = os.path.join(os.path.realpath(path.parent), path.name)
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return lock_dir(env) / f"ccache-{digest}.lock"


@contextlib.contextmanager
def cache_lock(
    path: Path, timeout: float = LOCK_TIMEOUT, env: Mapping[str, str] | None = None
) -> Iterator[None]:
    """Exclusive lock (filelock, 0600, in our 0700 lock folder) for writers of one
    cache, across processes of this user."""
    import filelock

    lock = lock_file(path, env)
    try:
        with filelock.FileLock(str(lock), timeout=timeout, mode=0o600):
            yield
    except filelock.Timeout:
        raise KinitError(
            f"another process has held {lock} (the lock of {path}) for {timeout:.0f} s",
            "wait for it, or remove the lock file if no renewer runs any more",
        ) from None


def check_cache_target(path: Path) -> None:
    """Raise ``CacheTargetError`` unless ``path`` may be replaced by this user: absent or
    a regular file of ours, not a symlink, in a directory of ours or root's. Writes
    nothing."""
    uid = os.geteuid()
    fix = "choose a cache of your own: --ccache FILE:/path/you/own (or unset KRB5CCNAME)"
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise CacheTargetError(f"cannot inspect {path}: {exc.strerror}", fix) from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise CacheTargetError(
                f"{path} is a symbolic link (to {os.readlink(path)}); a ticket cache is never "
                "written through a link, which another user may have planted",
                f"remove the link if it is yours ('rm {path}'), or {fix}",
            )
        if not stat.S_ISREG(st.st_mode):
            raise CacheTargetError(f"{path} is {file_kind(st.st_mode)}, not a cache file", fix)
        if st.st_uid != uid:
            raise CacheTargetError(f"{path} belongs to uid {st.st_uid}, not to you", fix)
    parent = path.parent
    try:
        pst = os.lstat(parent)
    except FileNotFoundError:
        return  # made by replace_ccache, as this user
    except OSError as exc:
        raise CacheTargetError(f"cannot inspect {parent}: {exc.strerror}", fix) from None
    if stat.S_ISLNK(pst.st_mode) and pst.st_uid not in (uid, 0):
        raise CacheTargetError(
            f"{parent} is a symbolic link owned by uid {pst.st_uid}; a ticket cache is never "
            "written through another user's link",
            fix,
        )
    real = os.stat(parent) if stat.S_ISLNK(pst.st_mode) else pst
    if real.st_uid not in (uid, 0) and real.st_mode & 0o022:
        raise CacheTargetError(
            f"{parent} belongs to uid {real.st_uid} and others can write to it, so they "
            "could replace your ticket cache",
            fix,
        )


def _safe_rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def replace_ccache(path: Path, write: Callable[[str], None]) -> None:
    """Let ``write(FILE:tmp)`` fill a fresh cache in a new private directory next to
    ``path``, then swap it in by ``os.replace`` (atomic; a link at ``path`` is replaced,
    never followed). Nothing is replaced when ``write`` raises.

    The cache is made 0600 before it becomes visible. Call under ``cache_lock``.
    Raises ``CacheTargetError`` for a target that is not ours to replace.
    """
    check_cache_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))  # 0700, random
    try:
        tmp = tmpdir / "cc"
        write(f"FILE:{tmp}")
        try:
            st = os.lstat(tmp)
        except FileNotFoundError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            raise KinitError(f"no credential cache was written to {tmp}", "see the error above")
        os.chmod(tmp, stat.S_IRUSR | stat.S_IWUSR)
        check_cache_target(path)  # again: the write may have taken a while
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise CacheTargetError(
                f"cannot replace {path}: {exc.strerror}",
                "the file may belong to another user; choose another cache with --ccache",
            ) from None
    finally:
        _safe_rmtree(tmpdir)


# --------------------------------------------------------------------------- login inputs
def validate_principal(principal: object) -> str:
    """``principal`` if libkrb5's ``krb5_parse_name`` would accept it; else ``PrincipalError``.

    The rules: not empty, no NUL or other control character; ``\\`` escapes the next
    character (so a trailing backslash is malformed); at most one unescaped ``@``,
    after which comes the realm, which must not be empty and must not contain an
    unescaped ``/``; the name before it must not be empty.
    """
    fix = "give the principal as name[/instance][@REALM], e.g. alice@EXAMPLE.COM"
    if not isinstance(principal, str) or not principal:
        raise PrincipalError(f"the principal {principal!r} is empty or not a string", fix)
    bad = [c for c in principal if ord(c) < 0x20 or ord(c) == 0x7F]
    if bad:
        raise PrincipalError(
            f"the principal {principal!r} contains a control character ({bad[0]!r})", fix
        )
    in_realm = False
    name_len = realm_len = 0
    escaped = False
    for c in principal:
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
            continue
        elif c == "@":
            if in_realm:
                raise PrincipalError(f"the principal {principal!r} has a second '@'", fix)
            in_realm = True
            continue
        elif c == "/" and in_realm:
            raise PrincipalError(f"the realm of {principal!r} contains a '/'", fix)
        if in_realm:
            realm_len += 1
        else:
            name_len += 1
    if escaped:
        raise PrincipalError(f"the principal {principal!r} ends with a lone backslash", fix)
    if in_realm and not realm_len:
        raise PrincipalError(f"the principal {principal!r} has an empty realm after '@'", fix)
    if not name_len:
        raise PrincipalError(f"the principal {principal!r} has no name before the realm", fix)
    return principal


def keytab_login_asked(keytab: object | None, principal: object | None) -> bool:
    """Whether a keytab login is asked for: the keytab and the principal come together, or
    not at all (``KeytabError`` otherwise). The one place this pairing is checked."""
    if (keytab is None or keytab == "") != (principal is None or principal == ""):
        raise KeytabError(
            "a keytab login needs both the keytab and the principal",
            f"give both ({setting('keytab')} and {setting('principal')}), or neither",
        )
    return keytab is not None and keytab != ""


def check_keytab(keytab: str | os.PathLike[str]) -> list[str]:
    """Raise KeytabError when the keytab is unusable (missing, unreadable, not a regular
    file, not a keytab); return warnings (loose permissions). Reads, never writes; a FIFO
    never blocks."""
    path = Path(keytab)
    missing_fix = (
        f"pass the keytab file with {setting('keytab')}; create one with ktutil or ask "
        "your Kerberos admin"
    )
    if "\0" in str(path) or "\n" in str(path):
        raise KeytabError(f"the keytab path {str(path)!r} contains a NUL or a newline", missing_fix)
    try:
        data = read_regular_file(path, MAX_KEYTAB_BYTES, what="keytab")
    except FileNotFoundError:
        raise KeytabError(f"keytab {path} does not exist", missing_fix) from None
    except PermissionError:
        raise KeytabError(f"no permission to read the keytab {path}", f"chmod 600 {path}") from None
    except OSError as exc:
        raise KeytabError(f"cannot read the keytab {path}: {exc.strerror}", missing_fix) from None
    except CcacheUnreadableError as exc:
        raise KeytabError(
            exc.problem.replace("not a file", "not a keytab file"), missing_fix
        ) from None
    except CcacheFormatError as exc:
        raise KeytabError(exc.problem, missing_fix) from None
    if len(data) < 2 or data[0] != 5 or data[1] not in (1, 2):
        raise KeytabError(
            f"{path} is not a keytab (MIT keytabs start with 0x05 0x01 or 0x05 0x02)",
            f"check the file ('klist -kt {path}'); {missing_fix}",
        )
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        who = "everyone" if mode & stat.S_IROTH else "its group"
        return [
            f"keytab {path} is readable by {who} (mode {stat.S_IMODE(mode):04o}); anyone who "
            f"can read it can log in as you. Fix: chmod 600 {path}"
        ]
    return []


@record
class LoginInputs:
    """Validated inputs of a keytab login (from ``check_login_inputs``)."""

    keytab: Path
    principal: str
    ccache: str
    path: Path
    warnings: tuple[str, ...] = field(default=())


def check_login_inputs(
    keytab: str | os.PathLike[str] | None,
    principal: str | None,
    ccache: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    kerberos: KerberosSetup | None = None,
) -> LoginInputs:
    """Validate a keytab login without side effects: nothing is written, no KDC is asked.

    Checks the pair (both or neither is an error to call this with), the principal
    (libkrb5's syntax), the keytab (a regular, readable keytab file, never blocking on a
    FIFO), and the target FILE cache (default: the user's FILE cache, else
    ``private_ccache()``), which must be ours to replace. Raises ``KeytabError``
    (``PrincipalError``), ``CcacheNameError``, ``CacheTargetError`` or ``PrivateDirError``.
    """
    if not keytab_login_asked(keytab, principal):
        raise KeytabError(
            "a keytab login needs both the keytab and the principal",
            f"give both ({setting('keytab')} and {setting('principal')})",
        )
    assert keytab is not None and principal is not None
    name = validate_principal(principal)
    notes = check_keytab(keytab)
    if ccache is None:
        ccache = default_file_ccache(env, kerberos)
    path = require_file_ccache(ccache)
    check_cache_target(path)
    return LoginInputs(Path(keytab), name, f"FILE:{path}", path, tuple(notes))


# --------------------------------------------------------------------------- keytab login


def _gss_message(exc: Exception) -> str:
    text = str(exc)
    return text.split("Minor (", 1)[-1].split("): ", 1)[-1] if "Minor (" in text else text


def _login_into(keytab: Path, principal: str, target: str) -> None:
    gssapi = require_gssapi(f"a keytab login of {principal}")
    from gssapi.raw.misc import GSSError

    name = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
    try:
        gssapi.Credentials(
            name=name,
            usage="initiate",
            store={"client_keytab": str(keytab), "ccache": target},
        )
    except GSSError as exc:
        msg = _gss_message(exc)
        if "KDC" in msg:
            fix = "check that the KDC is reachable (krb5.conf [realms] kdc =, firewall); retry"
        else:
            fix = f"check that {keytab} holds a current key for {principal} ('klist -kt {keytab}')"
        raise KinitError(f"keytab login of {principal} failed: {msg}", fix) from None


def keytab_login(
    keytab: str | os.PathLike[str],
    principal: str,
    ccache: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    lock_timeout: float = LOCK_TIMEOUT,
) -> TicketStatus:
    """Log ``principal`` in from ``keytab`` into a FILE cache (0600), in-process.

    ``ccache`` defaults to the user's cache when it is a FILE cache, else to
    ``private_ccache()``. Inputs are checked first (``check_login_inputs``); then a
    fresh TGT is written to a new file and swapped in, so the cache is replaced only
    when the login succeeded. Loose keytab permissions give a
    ``KeytabPermissionWarning``. The KDC configuration comes from this process's
    ``KRB5_CONFIG``.
    """
    inputs = check_login_inputs(keytab, principal, ccache, env=env)
    for w in inputs.warnings:
        warnings.warn(w, KeytabPermissionWarning, stacklevel=2)
    if inputs.path.parent == private_base(env):
        private_base(env, create=True)
    with cache_lock(inputs.path, lock_timeout, env):
        login_locked(inputs.keytab, inputs.principal, inputs.path)
    return ticket_status(inputs.ccache, env=env)


def login_locked(keytab: Path, principal: str, path: Path) -> None:
    """Keytab login into the FILE cache ``path``; the caller holds ``cache_lock(path)``."""
    replace_ccache(path, lambda tmp: _login_into(keytab, principal, tmp))


def default_file_ccache(
    env: Mapping[str, str] | None = None, kerberos: KerberosSetup | None = None
) -> str:
    """The user's cache if Java can read it (FILE), else our private FILE cache."""
    ks = kerberos if kerberos is not None else discover_kerberos(env)
    return ks.ccache if ks.java_readable else private_ccache(env=env)


# --------------------------------------------------------------------------- KEYRING -> FILE
_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219, "i686": 288, "armv7l": 311, "ppc64le": 271}


def keyring_supported() -> bool:
    """Whether the kernel lets this process use keyrings (keyctl neither ENOSYS nor EPERM)."""
    nr = _SYS_KEYCTL.get(platform.machine())
    if nr is None:
        return os.path.exists("/proc/keys")
    libc = ctypes.CDLL(None, use_errno=True)
    # KEYCTL_GET_KEYRING_ID (0) of KEY_SPEC_USER_KEYRING (-4), create=1
    res = libc.syscall(ctypes.c_long(nr), ctypes.c_long(0), ctypes.c_long(-4), ctypes.c_long(1))
    return bool(res >= 0 or ctypes.get_errno() not in (errno.ENOSYS, errno.EPERM))


def copy_to_file(
    source: str | None = None,
    target: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    lock_timeout: float = LOCK_TIMEOUT,
) -> TicketStatus:
    """Copy the ticket of ``source`` (default: the user's cache) into a FILE cache (0600).

    ``target`` defaults to ``private_ccache()``. Returns the status of the copy.
    Raises KinitError when the source holds no usable ticket, and
    KeyringUnavailableError (with NO_KEYRING_MESSAGE) for KEYRING sources on a kernel
    without keyrings, GssapiMissingError without python-gssapi.
    """
    require_gssapi("copying a ticket into a FILE cache for Java")
    from gssapi.raw.misc import GSSError

    if source is None:
        source = discover_kerberos(env).ccache
    if ccache_type(source) == "KEYRING" and not keyring_supported():
        raise KeyringUnavailableError(f"{NO_KEYRING_MESSAGE} ({source})", NO_KEYRING_FIX)
    src = ticket_status(source, env=env, threshold=0, realms=())
    if not src.ok:
        raise KinitError(f"cannot copy {source}: {src.message}", src.fix or "run kinit")
    path = require_file_ccache(target or private_ccache(env=env))
    if path.parent == private_base(env):
        private_base(env, create=True)
    try:
        same = require_file_ccache(source) == path
    except MlflowClientEnvError:
        same = False
    if same:
        return ticket_status(f"FILE:{path}", env=env)

    def write(tmp: str) -> None:
        try:
            copy_credentials(source, tmp)
        except GSSError as exc:
            raise KinitError(
                f"copying {source} to {tmp} failed: {_gss_message(exc)}", "run kinit again"
            ) from None

    with cache_lock(path, lock_timeout, env):
        replace_ccache(path, write)
    return ticket_status(f"FILE:{path}", env=env)


@record
class JavaCcache:
    """The FILE cache Java should use, and whether we had to make it."""

    ccache: str
    source: str
    copied: bool
    status: TicketStatus
    message: str

    @property
    def path(self) -> Path:
        return require_file_ccache(self.ccache)

    @property
    def env(self) -> dict[str, str]:
        """What to export so Python and Java agree (catalog D1, D3)."""
        return {"KRB5CCNAME": f"FILE:{self.path}", "MLFLOW_KERBEROS_TICKET_CACHE": str(self.path)}


def ensure_java_ccache(
    env: Mapping[str, str] | None = None,
    target: str | None = None,
    kerberos: KerberosSetup | None = None,
) -> JavaCcache:
    """A FILE cache Java can read: the user's own when it is a FILE cache, else a
    private copy of their KEYRING/KCM/DIR ticket. Raises KinitError when a copy is
    needed but impossible (no ticket, no keyrings). ``kerberos``: the caller's
    ``discover_kerberos(env)``, so it is not read twice."""
    ks = kerberos if kerberos is not None else discover_kerberos(env)
    if ks.java_readable:
        st = ticket_status(ks.ccache, env=env)
        return JavaCcache(ks.ccache, ks.ccache, False, st, f"Java reads {ks.ccache} directly")
    st = copy_to_file(ks.ccache, target, env=env)
    return JavaCcache(
        st.ccache,
        ks.ccache,
        True,
        st,
        f"copied the ticket of {st.principal} from {ks.ccache} ({ks.ccache_type}, which Java "
        f"cannot read) to {st.ccache} (0600); KRB5CCNAME and MLFLOW_KERBEROS_TICKET_CACHE "
        "point there. Renewals of the original are not seen by the copy: run "
        "'mlflow-client-env kinit --to-file' again (or log in with a keytab)",
    )
