"""A Kerberos (SPNEGO) front for the sandbox's tracking server: Apache httpd with mod_auth_gssapi.

On Kerberized clusters the MLflow tracking server often sits behind a reverse proxy that
asks for HTTP Negotiate. This is that proxy, for real, on 127.0.0.1:

- ``/usr/sbin/apache2 -DFOREGROUND`` with its own configuration file in a private folder
  (mode 0700): no system-wide Apache configuration is read or changed, no service is
  started, nothing in /etc is touched;
- mod_auth_gssapi accepts ``HTTP/localhost@REALM`` from a keytab the sandbox KDC issues
  (``GssapiCredStore keytab:``), Negotiate only (``GssapiBasicAuth Off``: no password
  ever crosses the wire);
- mod_proxy forwards to the MLflow server, passing the authenticated principal as
  ``X-Remote-User`` (a value the client sent under that name is replaced) and not the
  client's ``Authorization`` header: the Kerberos token stops at the proxy;
- the access log's third field (``%u``) is the authenticated principal.

Clients must call it ``http://localhost:PORT``: the name in the URL decides the service
principal they ask for (``HTTP@localhost``).

Opt-in extras, for tests and the benchmark: a path without authentication (``open_path``),
a path where the authentication holds for the whole keep-alive connection
(``bound_path``, ``GssapiConnectionBound On``), and redirects answered after
authentication (``redirects``: path prefix -> URL the rest of the path is appended to, through
mod_rewrite, whose rules in a Location run after authentication; 307, so a POST stays a POST).

Run as root, httpd would refuse to serve as root, so the whole process runs as
``nobody`` from the start, in a fresh private folder made with ``mkdtemp`` and owned by
that user (the sandbox's own folders are root's and closed to it); otherwise as the
caller, in ``base``. The replay cache (``KRB5RCACHEDIR``) and krb5.conf it reads are in
that folder too. httpd gets SIGTERM when its parent dies (PR_SET_PDEATHSIG, set after the
change of user, which clears it; SIGTERM so that it stops its workers, which would outlive
a SIGKILL) and ``stop()`` stops its process group. Start-up waits until *this* httpd
answers (401 with Negotiate), not just until something listens on the port.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from .errors import ServerStartError, ToolMissingError
from .kdc import Kdc
from .ports import HOST, check_port_free, free_ports, tcp_open
from .procs import ManagedProcess, ProcessRecord, log_tail, proc_start_time, wait_until

APACHE_FIX = (
    "apt-get install apache2-bin libapache2-mod-auth-gssapi (Debian/Ubuntu; scripts/bootstrap "
    "does) or dnf install httpd mod_auth_gssapi (RHEL)"
)
#: Where distributions put httpd and its modules.
HTTPD_PATHS = ("/usr/sbin/apache2", "/usr/sbin/httpd")
MODULE_DIRS = ("/usr/lib/apache2/modules", "/usr/lib64/httpd/modules", "/usr/lib/httpd/modules")
MODULES = (
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authn_core_module", "mod_authn_core.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_user_module", "mod_authz_user.so"),
    ("auth_gssapi_module", "mod_auth_gssapi.so"),
    ("rewrite_module", "mod_rewrite.so"),
    ("headers_module", "mod_headers.so"),
    ("proxy_module", "mod_proxy.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
)
#: The service the proxy accepts tickets for, and the host name clients must use.
SERVICE_HOST = "localhost"
#: The header that carries the authenticated principal to MLflow.
USER_HEADER = "X-Remote-User"
#: Access log: client, -, authenticated user, time, request line, status, bytes, microseconds.
LOG_FORMAT = '%h %l %u %t \\"%r\\" %>s %b %D'
NOBODY = "nobody"

PR_SET_PDEATHSIG = 1


def find_httpd() -> tuple[Path, Path]:
    """(httpd binary, modules folder holding mod_auth_gssapi), or ToolMissingError."""
    httpd = next((Path(p) for p in HTTPD_PATHS if os.access(p, os.X_OK)), None)
    if httpd is None:
        raise ToolMissingError("Apache httpd is not installed", APACHE_FIX)
    for folder in MODULE_DIRS:
        if (Path(folder) / "mod_auth_gssapi.so").is_file():
            return httpd, Path(folder)
    raise ToolMissingError("mod_auth_gssapi is not installed (no mod_auth_gssapi.so)", APACHE_FIX)


def _quote(value: str) -> str:
    """A value for an httpd configuration line, in double quotes."""
    if any(c in value for c in '"\\\n\r'):
        raise ValueError(f"cannot put {value!r} in an httpd configuration file")
    return f'"{value}"'


def render_config(
    base: Path,
    port: int,
    upstream: str,
    modules: Path,
    *,
    open_path: str | None = None,
    bound_path: str | None = None,
    redirects: Mapping[str, str] | None = None,
) -> str:
    """The whole httpd.conf (nothing else is read)."""
    up = upstream.rstrip("/") + "/"
    # mod_auth_gssapi does not merge its settings into a nested Location: each one that
    # authenticates carries all of them
    gssapi = [
        "    AuthType GSSAPI",
        '    AuthName "MLflow tracking (Kerberos)"',
        f"    GssapiCredStore keytab:{base / 'http.keytab'}",
        "    GssapiBasicAuth Off",
        "    GssapiAllowedMech krb5",
        "    Require valid-user",
        f'    RequestHeader set {USER_HEADER} "expr=%{{REMOTE_USER}}"',
        "    RequestHeader unset Authorization",  # the Kerberos token stops here
    ]
    lines = [
        f"ServerRoot {_quote(str(base))}",
        f"ServerName {SERVICE_HOST}",
        f"Listen {HOST}:{port}",
        f"PidFile {_quote(str(base / 'run' / 'httpd.pid'))}",
        f"DefaultRuntimeDir {_quote(str(base / 'run'))}",
        *(f"LoadModule {name} {_quote(str(modules / so))}" for name, so in MODULES),
        # two cores: one child process, a few threads
        "StartServers 1",
        "ServerLimit 1",
        "ThreadsPerChild 16",
        "MinSpareThreads 1",
        "MaxSpareThreads 16",
        "MaxRequestWorkers 16",
        "Timeout 60",
        "ProxyTimeout 60",
        f"ErrorLog {_quote(str(base / 'error.log'))}",
        "LogLevel warn auth_gssapi:info",
        f'LogFormat "{LOG_FORMAT}" spnego',
        f"CustomLog {_quote(str(base / 'access.log'))} spnego",
        "ProxyRequests Off",
        "<Location />",
        *gssapi,
        f"    ProxyPass {_quote(up)}",
        f"    ProxyPassReverse {_quote(up)}",
        "</Location>",
    ]
    if bound_path:
        lines += [
            f"<Location {_quote(bound_path.rstrip('/') + '/')}>",
            *gssapi,
            "    GssapiConnectionBound On",
            f"    ProxyPass {_quote(up)}",
            f"    ProxyPassReverse {_quote(up)}",
            "</Location>",
        ]
    if open_path:
        lines += [
            f"<Location {_quote(open_path.rstrip('/') + '/')}>",
            "    AuthType None",
            "    Require all granted",
            f"    RequestHeader unset {USER_HEADER}",
            f"    ProxyPass {_quote(up)}",
            f"    ProxyPassReverse {_quote(up)}",
            "</Location>",
        ]
    for prefix, target in (redirects or {}).items():
        lines += [
            # mod_rewrite in a Location runs in the fixup phase: after authentication.
            # The rest of the path after the prefix is kept: /old/a/b -> TARGET/a/b.
            f"<Location {_quote(prefix)}>",
            *gssapi,
            "    ProxyPass !",
            "    RewriteEngine On",
            f"    RewriteCond %{{REQUEST_URI}} {_quote('^' + re.escape(prefix) + '(.*)$')}",
            f"    RewriteRule ^ {_quote(target + '%1')} [R=307,L]",
            "</Location>",
        ]
    return "\n".join(lines) + "\n"


def _become(uid: int, gid: int, parent: int) -> Callable[[], None]:
    """preexec: drop to uid/gid (when given), then get SIGTERM when the parent dies
    (PR_SET_PDEATHSIG, set after the change of user, which would clear it). SIGTERM, not
    SIGKILL: httpd's workers outlive a killed master, a terminated one stops them first."""

    def preexec() -> None:
        if os.geteuid() != uid:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


class SpnegoProxy:
    """One httpd: ``start()``, ``url``, ``access_log``, ``stop()`` (also a context manager).

    ``base``: the private folder (created 0700) when not root; as root a fresh
    ``mkdtemp`` folder owned by ``nobody`` is used instead and removed by ``stop()``.
    """

    def __init__(
        self,
        kdc: Kdc,
        upstream: str,
        base: Path,
        *,
        port: int | None = None,
        open_path: str | None = None,
        bound_path: str | None = None,
        redirects: Mapping[str, str] | None = None,
    ) -> None:
        self.kdc = kdc
        self.upstream = upstream
        self.requested_base = base
        self.port = port if port is not None else free_ports(1)[0]
        self.open_path = open_path
        self.bound_path = bound_path
        self.redirects = dict(redirects or {})
        self.base = base
        self.process: ManagedProcess | None = None
        #: the configuration file of the last start (httpd's -f: names its processes)
        self.config: Path | None = None
        self._owned_tmp: Path | None = None

    @property
    def principal(self) -> str:
        return self.kdc.principal(f"HTTP/{SERVICE_HOST}")

    @property
    def url(self) -> str:
        """What clients use: the host name decides the service principal (HTTP@localhost)."""
        return f"http://{SERVICE_HOST}:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.base / "access.log"

    @property
    def error_log(self) -> Path:
        return self.base / "error.log"

    @property
    def log(self) -> Path:
        """httpd's own stdout/stderr (start-up errors)."""
        return self.base / "httpd.out"

    def _prepare(self) -> tuple[int, int]:
        """Create the private folder and its files; returns the (uid, gid) httpd runs as."""
        if os.geteuid() == 0:
            user = pwd.getpwnam(NOBODY)
            uid, gid = user.pw_uid, user.pw_gid
            self._owned_tmp = Path(tempfile.mkdtemp(prefix="mlflow-client-env-spnego-"))
            self.base = self._owned_tmp
        else:
            uid, gid = os.geteuid(), os.getegid()
            self.base = self.requested_base
            self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o700)
        for sub in ("run", "rcache"):
            (self.base / sub).mkdir(mode=0o700, exist_ok=True)
        # the service key, issued by the sandbox KDC (the existing key when HDFS made it)
        shutil.copyfile(self.kdc.add_principal(f"HTTP/{SERVICE_HOST}"), self.base / "http.keytab")
        shutil.copyfile(self.kdc.krb5_conf, self.base / "krb5.conf")
        _, modules = find_httpd()
        self.config = self.base / "httpd.conf"
        self.config.write_text(
            render_config(
                self.base, self.port, self.upstream, modules,
                open_path=self.open_path, bound_path=self.bound_path, redirects=self.redirects,
            )
        )  # fmt: skip
        for path in [self.base, *self.base.rglob("*")]:
            os.chmod(path, 0o700 if path.is_dir() else 0o600)
            if (uid, gid) != (os.geteuid(), os.getegid()):
                os.chown(path, uid, gid)
        return uid, gid

    def _env(self) -> dict[str, str]:
        return {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C",
            "KRB5_CONFIG": str(self.base / "krb5.conf"),
            "KRB5RCACHEDIR": str(self.base / "rcache"),  # not /var/tmp
        }

    def start(self, timeout: float = 30.0) -> None:
        """Write the configuration, check it (``-t``), start httpd and wait until it listens.
        On any failure what started is stopped again."""
        if self.process is not None:
            return
        httpd, _ = find_httpd()
        check_port_free(self.port, "SPNEGO proxy (httpd)")
        try:
            uid, gid = self._prepare()
            argv = [str(httpd), "-d", str(self.base), "-f", str(self.base / "httpd.conf")]
            check = subprocess.run(
                [*argv, "-t"], env=self._env(), capture_output=True, text=True, timeout=30,
                preexec_fn=_become(uid, gid, os.getpid()), stdin=subprocess.DEVNULL,
            )  # fmt: skip
            if check.returncode != 0:
                raise ServerStartError(
                    f"httpd refuses the proxy configuration {self.base / 'httpd.conf'}:\n"
                    + (check.stderr or check.stdout).strip()[-2000:],
                    APACHE_FIX,
                )
            self.process = self._spawn([*argv, "-DFOREGROUND"], uid, gid)
            wait_until(
                self.answers, what=f"the SPNEGO proxy (httpd) on {HOST}:{self.port}",
                timeout=timeout, procs=[self.process],
                fix=f"read {self.requested_base / 'error.log'} and httpd.out there (kept after stop)",
            )  # fmt: skip
        except BaseException:
            self.stop()
            raise

    def answers(self) -> bool:
        """True when this httpd answers: 401 with ``WWW-Authenticate: Negotiate`` (anything
        else listening on the port does not count)."""
        if not tcp_open(self.port):
            return False
        req = urllib.request.Request(f"http://{HOST}:{self.port}/", headers={"Host": SERVICE_HOST})
        try:
            with urllib.request.urlopen(req, timeout=2):
                return False
        except urllib.error.HTTPError as exc:
            return exc.code == 401 and exc.headers.get("WWW-Authenticate") == "Negotiate"
        except OSError:
            return False

    def _spawn(self, argv: list[str], uid: int, gid: int) -> ManagedProcess:
        with open(self.log, "ab") as out:
            popen = subprocess.Popen(
                argv, env=self._env(), cwd=self.base, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_become(uid, gid, os.getpid()),
            )  # fmt: skip
        start = proc_start_time(popen.pid) or 0
        return ManagedProcess(
            ProcessRecord("spnego-proxy", popen.pid, start, str(self.log), tuple(argv)), popen
        )

    def log_tail(self, lines: int = 25) -> str:
        return f"error log:\n{log_tail(self.error_log, lines)}\nhttpd output:\n{log_tail(self.log, lines)}"

    def stop(self) -> None:
        """Stop httpd (its process group); remove the mkdtemp folder made when root."""
        if self.process is not None:
            self.process.stop(timeout=10)
            self.process = None
        if self._owned_tmp is not None:
            # the logs stay where the caller asked for them (the state dir), the rest goes
            self.requested_base.mkdir(parents=True, exist_ok=True)
            for name in ("access.log", "error.log", "httpd.out", "httpd.conf"):
                with contextlib.suppress(OSError):
                    shutil.copyfile(self._owned_tmp / name, self.requested_base / name)
            with contextlib.suppress(OSError):
                shutil.rmtree(self._owned_tmp)
            self._owned_tmp = None
            self.base = self.requested_base

    def __enter__(self) -> SpnegoProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
