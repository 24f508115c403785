"""A real KCM credential cache server (SSSD's ``sssd_kcm``) in a directory, without systemd.

RHEL/FreeIPA hosts keep tickets in ``KCM:`` caches served by sssd-kcm over a UNIX
socket. Here the real daemon runs for the tests, without touching the host:

- it runs inside a private mount namespace (``unshare --mount --propagation
  private``; ``--user --map-root-user`` too when not root), where ``/etc/sssd``,
  ``/var/lib/sss``, ``/var/log/sssd`` and ``/run`` are bind mounts of folders
  under ``base``. Its configuration database and its ticket store (the
  ``secrets.ldb`` of ``/var/lib/sss/secrets``) are therefore ours and vanish
  with ``base``; the mounts vanish with the process;
- ``sssd --genconf-section=kcm`` loads our ``sssd.conf`` (mode 0600, owned by
  root as SSSD requires), whose ``[kcm]`` section sets ``socket_path`` to a
  socket under ``base``;
- clients find it through a krb5.conf with ``kcm_socket`` set to that socket and
  ``default_ccache_name = KCM:`` (``write_client_krb5_conf``).

``start`` waits (bounded) until the daemon answers a KCM NOOP request on the socket.
The server is one process (``unshare`` and ``sh`` exec into ``sssd_kcm``), in its own
process group, killed with its parent (PR_SET_PDEATHSIG) and stopped as a group.
Stopping it leaves the socket file behind, like a crashed daemon: clients then get
"Connection refused". Starting it again in the same ``base`` serves the same caches.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
from pathlib import Path

from .errors import ServerStartError, ToolMissingError
from .procs import ManagedProcess, log_tail, spawn, wait_until

KCM_FIX = "apt-get install sssd-kcm (Debian/Ubuntu) or dnf install sssd-kcm (RHEL/Fedora)"
#: Where distributions put the daemon (Debian: libexec; older Ubuntu: the multiarch lib dir).
SSSD_KCM_PATHS = (
    "/usr/libexec/sssd/sssd_kcm",
    "/usr/lib/x86_64-linux-gnu/sssd/sssd_kcm",
    "/usr/lib/aarch64-linux-gnu/sssd/sssd_kcm",
    "/usr/lib/sssd/sssd_kcm",
)
#: Host folders hidden by bind mounts inside the namespace, and the folder under base
#: that takes each one's place.
BINDS = (
    ("etc", "/etc/sssd"),
    ("lib", "/var/lib/sss"),
    ("log", "/var/log/sssd"),
    ("run", "/run"),
)
#: What SSSD expects to find under /var/lib/sss (created empty, 0700 where it holds secrets).
LIB_DIRS = ("db", "secrets", "pipes/private", "mc", "pubconf", "gpo_cache", "deskprofile")
#: sun_path is 108 bytes on Linux, with the terminating NUL.
MAX_SOCKET_PATH = 107

# Inside the namespace: bind the four folders, load the kcm section, then become sssd_kcm
# (exec: the spawned PID is the daemon's). Paths arrive as arguments, never quoted into code.
_START = """set -e
mount --bind "$1" /etc/sssd
mount --bind "$2" /var/lib/sss
mount --bind "$3" /var/log/sssd
mount --bind "$4" /run
"$5" --genconf-section=kcm --logger=stderr
exec "$6" --uid 0 --gid 0 --logger=stderr
"""


def find_sssd_kcm() -> str:
    """The ``sssd_kcm`` daemon; ``ToolMissingError`` when sssd-kcm is not installed."""
    for path in SSSD_KCM_PATHS:
        if os.access(path, os.X_OK):
            return path
    raise ToolMissingError(
        f"sssd_kcm is not installed (looked in {', '.join(SSSD_KCM_PATHS)})", KCM_FIX
    )


def _tool(name: str, fix: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if path is None:
        raise ToolMissingError(f"'{name}' is not installed", fix)
    return path


def render_sssd_conf(socket_path: Path, debug_level: int = 2) -> str:
    return f"""[sssd]
services =
domains =

[kcm]
socket_path = {socket_path}
debug_level = {debug_level}
"""


def render_client_krb5_conf(source_text: str, socket_path: Path) -> str:
    """``source_text`` (a krb5.conf) with ``default_ccache_name = KCM:`` and ``kcm_socket``
    first in ``[libdefaults]`` (MIT takes the first value of a key)."""
    lines = [
        "    default_ccache_name = KCM:",
        f"    kcm_socket = {socket_path}",
    ]
    out: list[str] = []
    done = False
    for line in source_text.splitlines():
        out.append(line)
        if not done and line.strip() == "[libdefaults]":
            out.extend(lines)
            done = True
    if not done:
        out = ["[libdefaults]", *lines, "", *out]
    return "\n".join(out) + "\n"


def write_client_krb5_conf(source: Path, dest: Path, socket_path: Path) -> Path:
    """Write ``source`` with the KCM settings to ``dest``; return ``dest``."""
    dest.write_text(render_client_krb5_conf(source.read_text(), socket_path))
    return dest


#: A KCM request as MIT's client frames it on a UNIX socket: a 4-byte big-endian length,
#: then the protocol version (2.0) and the opcode (0: NOOP). Any reply shows the server works.
KCM_NOOP = struct.pack(">IBBH", 4, 2, 0, 0)


def kcm_answers(path: Path, timeout: float = 2.0) -> bool:
    """True when a KCM server on ``path`` answers a NOOP request within ``timeout``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            sock.sendall(KCM_NOOP)
            return bool(sock.recv(8))
        except OSError:  # refused, missing, or TimeoutError: no answer
            return False


def socket_accepts(path: Path, timeout: float = 1.0) -> bool:
    """True when something accepts connections on the UNIX socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


class KcmServer:
    """sssd_kcm living in ``base``: its config, its ticket store, its socket and its log."""

    def __init__(self, base: Path, client_krb5_conf_from: Path | None = None) -> None:
        """``client_krb5_conf_from``: a krb5.conf (e.g. the sandbox KDC's) that ``create``
        copies to ``krb5_conf`` with the KCM settings added."""
        self.base = base
        self.socket_path = base / "sock" / "kcm.socket"
        self.sssd_conf = base / "etc" / "sssd.conf"
        self.log = base / "sssd_kcm.log"
        self.krb5_conf = base / "krb5.conf"
        self._krb5_source = client_krb5_conf_from
        self.process: ManagedProcess | None = None

    @property
    def env(self) -> dict[str, str]:
        """What a client needs to use this server: ``KRB5_CONFIG`` (default cache ``KCM:``)."""
        return {"KRB5_CONFIG": str(self.krb5_conf)}

    def _check_base(self) -> None:
        real = os.path.realpath(self.base)
        for _, target in BINDS:
            if real == target or real.startswith(target + "/"):
                raise ServerStartError(
                    f"the KCM server's folder {self.base} lies under {target}, which its "
                    "namespace hides behind a bind mount",
                    "put it elsewhere (e.g. under pytest's tmp_path or $TMPDIR)",
                )
        if len(os.fsencode(self.socket_path)) > MAX_SOCKET_PATH:
            raise ServerStartError(
                f"the KCM socket path {self.socket_path} is longer than the {MAX_SOCKET_PATH} "
                "bytes a UNIX socket address holds",
                "use a shorter base folder (e.g. set TMPDIR=/tmp)",
            )

    def create(self) -> None:
        """The folders the namespace binds and the 0600 sssd.conf (idempotent)."""
        self._check_base()
        self.base.mkdir(parents=True, exist_ok=True)
        for name, _ in BINDS:
            (self.base / name).mkdir(mode=0o700, exist_ok=True)
        (self.base / "etc" / "conf.d").mkdir(mode=0o700, exist_ok=True)
        for sub in LIB_DIRS:
            (self.base / "lib" / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.base / "log").chmod(0o700)
        self.socket_path.parent.mkdir(mode=0o755, exist_ok=True)
        fd = os.open(self.sssd_conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(render_sssd_conf(self.socket_path))
        os.chmod(self.sssd_conf, 0o600)  # an existing file keeps its mode on O_CREAT
        if self._krb5_source is not None:
            write_client_krb5_conf(self._krb5_source, self.krb5_conf, self.socket_path)

    def argv(self) -> list[str]:
        unshare = _tool("unshare", "apt-get install util-linux")
        ns = ["--mount", "--propagation", "private"]
        if os.geteuid() != 0:  # map ourselves to root in a user namespace, to mount there
            ns = ["--user", "--map-root-user", *ns]
        sssd = _tool("sssd", KCM_FIX)
        folders = [str(self.base / name) for name, _ in BINDS]
        return [unshare, *ns, "--", "/bin/sh", "-c", _START, "sh", *folders, sssd, find_sssd_kcm()]

    def start(self, timeout: float = 30.0) -> None:
        """Start sssd_kcm and wait until it answers a KCM request on its socket.

        Raises ``ToolMissingError`` without sssd-kcm or unshare, ``ServerStartError``
        (with the log's tail) when it exits or does not listen within ``timeout``.
        """
        if self.process is not None and self.process.alive():
            return
        self.create()
        argv = self.argv()
        with open(self.log, "ab") as out:
            out.write(f"--- starting: {' '.join(argv[:5])} ... {argv[-1]}\n".encode())
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
        self.process = spawn("sssd_kcm", argv, env=env, log=self.log, cwd=self.base, detached=False)
        try:
            wait_until(
                lambda: kcm_answers(self.socket_path),
                what=f"sssd_kcm to answer on {self.socket_path}",
                timeout=timeout,
                procs=[self.process],
                fix=f"see the log {self.log}; sssd_kcm needs root or user namespaces "
                f"(unshare), and {KCM_FIX}",
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the daemon (its process group); the socket file stays, answering nothing."""
        if self.process is not None:
            self.resume()  # a frozen daemon would sit on SIGTERM until the SIGKILL
            self.process.stop()
            self.process = None

    def freeze(self) -> None:
        """SIGSTOP the daemon: its socket still accepts connections (the kernel queues
        them) but no request is ever answered, as with a hung sssd_kcm."""
        if self.process is not None and self.process.alive():
            os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after ``freeze``."""
        if self.process is not None and self.process.alive():
            os.killpg(self.process.pid, signal.SIGCONT)

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def log_tail(self, lines: int = 25) -> str:
        return log_tail(self.log, lines)
