"""Getting a ticket into a FILE cache that the JVM inside libhdfs can read.

The JDK reads only FILE caches (catalog D3), while RHEL/SSSD hosts keep tickets
in KEYRING or KCM caches. So we log in from a keytab in-process (gssapi's
credential store extension, no ``kinit`` subprocess, no password ever), and copy
a KEYRING/KCM/DIR ticket into a private FILE cache (mode 0600). Every write goes
to a temporary file next to the cache, then ``os.replace``, under a
``<cache>.lock`` file lock: several processes sharing one cache never see it
half-written.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import shutil
import stat
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import MlflowClientEnvError
from .krb5 import ccache_path, ccache_type, discover_kerberos
from .ticket import TicketStatus, copy_credentials, ticket_status

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


class KinitError(MlflowClientEnvError):
    """Logging in or copying a ticket failed (KDC unreachable, wrong key, ...)."""


class KeytabError(KinitError):
    """The keytab cannot be used (missing, unreadable); a usage error."""


class KeyringUnavailableError(KinitError):
    """A KEYRING cache was named, but this kernel has no keyrings."""


class KeytabPermissionWarning(UserWarning):
    """The keytab can be read by other users: it is as good as a password."""


# --------------------------------------------------------------------------- caches and locks
def private_ccache(uid: int | None = None, env: Mapping[str, str] | None = None) -> str:
    """A FILE cache only the user can reach: ``$XDG_RUNTIME_DIR`` (a private tmpfs) when
    it is ours, else ``/tmp``; the name says who made it."""
    uid = os.getuid() if uid is None else uid
    env = os.environ if env is None else env
    runtime = env.get("XDG_RUNTIME_DIR")
    base = Path(tempfile.gettempdir())
    if runtime:
        with contextlib.suppress(OSError):
            st = os.stat(runtime)
            if st.st_uid == uid and not st.st_mode & 0o077:
                base = Path(runtime)
    return f"FILE:{base / f'krb5cc_{uid}_mlflow_client_env'}"


def require_file_ccache(ccache: str) -> Path:
    path = ccache_path(ccache)
    if path is None:
        raise KinitError(
            f"{ccache} is a {ccache_type(ccache)} cache; this needs a FILE cache",
            "pass a FILE cache, e.g. --ccache FILE:/tmp/krb5cc_$(id -u)",
        )
    return path


def lock_file(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def cache_lock(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Exclusive ``<cache>.lock`` (filelock) for writers of one cache, across processes."""
    import filelock

    try:
        with filelock.FileLock(str(lock_file(path)), timeout=timeout, mode=0o600):
            yield
    except filelock.Timeout:
        raise KinitError(
            f"another process has held {lock_file(path)} for {timeout:.0f} s",
            "wait for it, or remove the lock file if no renewer runs any more",
        ) from None


def replace_ccache(path: Path, write: Callable[[str], None]) -> None:
    """Let ``write(FILE:tmp)`` fill a fresh cache next to ``path``, then swap it in.

    The cache is made 0600 before it becomes visible. Call under ``cache_lock``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        tmp = tmpdir / "cc"
        write(f"FILE:{tmp}")
        if not tmp.is_file():
            raise KinitError(f"no credential cache was written to {tmp}", "see the error above")
        os.chmod(tmp, stat.S_IRUSR | stat.S_IWUSR)
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise KinitError(
                f"cannot replace {path}: {exc.strerror}",
                "the file may belong to another user; choose another cache with --ccache",
            ) from None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


# --------------------------------------------------------------------------- keytab login
def check_keytab(keytab: str | os.PathLike[str]) -> list[str]:
    """Raise KeytabError when the keytab is unusable; return warnings (loose permissions)."""
    path = Path(keytab)
    if not path.is_file():
        raise KeytabError(
            f"keytab {path} does not exist",
            "pass the keytab file (e.g. --keytab ~/alice.keytab); create one with ktutil or ask "
            "your Kerberos admin",
        )
    if not os.access(path, os.R_OK):
        raise KeytabError(f"no permission to read the keytab {path}", f"chmod 600 {path}")
    mode = path.stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        who = "everyone" if mode & stat.S_IROTH else "its group"
        return [
            f"keytab {path} is readable by {who} (mode {stat.S_IMODE(mode):04o}); anyone who "
            f"can read it can log in as you. Fix: chmod 600 {path}"
        ]
    return []


def _gss_message(exc: Exception) -> str:
    text = str(exc)
    return text.split("Minor (", 1)[-1].split("): ", 1)[-1] if "Minor (" in text else text


def _login_into(keytab: Path, principal: str, target: str) -> None:
    import gssapi
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
    ``private_ccache()``. Always fetches a fresh TGT (a new cache is written and
    swapped in). Loose keytab permissions give a ``KeytabPermissionWarning``.
    The KDC configuration comes from this process's ``KRB5_CONFIG``.
    """
    kt = Path(keytab)
    for w in check_keytab(kt):
        warnings.warn(w, KeytabPermissionWarning, stacklevel=2)
    if ccache is None:
        ccache = default_file_ccache(env)
    path = require_file_ccache(ccache)
    with cache_lock(path, lock_timeout):
        login_locked(kt, principal, path)
    return ticket_status(f"FILE:{path}", env=env)


def login_locked(keytab: Path, principal: str, path: Path) -> None:
    """Keytab login into the FILE cache ``path``; the caller holds ``cache_lock(path)``."""
    replace_ccache(path, lambda tmp: _login_into(keytab, principal, tmp))


def default_file_ccache(env: Mapping[str, str] | None = None) -> str:
    """The user's cache if Java can read it (FILE), else our private FILE cache."""
    ks = discover_kerberos(env)
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
    without keyrings.
    """
    from gssapi.raw.misc import GSSError

    if source is None:
        source = discover_kerberos(env).ccache
    if ccache_type(source) == "KEYRING" and not keyring_supported():
        raise KeyringUnavailableError(f"{NO_KEYRING_MESSAGE} ({source})", NO_KEYRING_FIX)
    src = ticket_status(source, env=env, threshold=0, realms=())
    if not src.ok:
        raise KinitError(f"cannot copy {source}: {src.message}", src.fix or "run kinit")
    path = require_file_ccache(target or private_ccache(env=env))
    if ccache_path(source) == path:
        return ticket_status(f"FILE:{path}", env=env)

    def write(tmp: str) -> None:
        try:
            copy_credentials(source, tmp)
        except GSSError as exc:
            raise KinitError(
                f"copying {source} to {tmp} failed: {_gss_message(exc)}", "run kinit again"
            ) from None

    with cache_lock(path, lock_timeout):
        replace_ccache(path, write)
    return ticket_status(f"FILE:{path}", env=env)


@dataclass(frozen=True)
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
    env: Mapping[str, str] | None = None, target: str | None = None
) -> JavaCcache:
    """A FILE cache Java can read: the user's own when it is a FILE cache, else a
    private copy of their KEYRING/KCM/DIR ticket. Raises KinitError when a copy is
    needed but impossible (no ticket, no keyrings)."""
    ks = discover_kerberos(env)
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
