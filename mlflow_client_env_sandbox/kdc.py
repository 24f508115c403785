"""An MIT KDC in a directory, on 127.0.0.1 only, with keytabs for the test principals.

``clockskew = 1`` because the default 300 s skew lets an expired test ticket
still renew; ``max_life``/``max_renewable_life`` allow both 5-second tickets
and renewable ones. Only AES enctypes, as on current clusters.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from .errors import SandboxKinitError, ToolMissingError
from .ports import HOST, check_port_free, tcp_open
from .procs import ManagedProcess, run_checked, spawn, wait_until

DEFAULT_REALM = "SANDBOX.TEST"
ENCTYPES = "aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96"
SERVICE_PRINCIPALS = ("nn/localhost", "dn/localhost", "HTTP/localhost")
USER_PRINCIPALS = ("alice", "bob")
KRB_FIX = "apt-get install krb5-kdc krb5-admin-server krb5-user"


def tool(name: str) -> str:
    """Absolute path of a Kerberos tool (kadmin.local and krb5kdc live in /usr/sbin)."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")
    if path is None:
        raise ToolMissingError(f"'{name}' is not installed", KRB_FIX)
    return path


def render_krb5_conf(realm: str, port: int) -> str:
    return f"""[libdefaults]
    default_realm = {realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
    clockskew = 1
    ticket_lifetime = 10h
    forwardable = true
    default_tkt_enctypes = {ENCTYPES}
    default_tgs_enctypes = {ENCTYPES}
    permitted_enctypes = {ENCTYPES}

[realms]
    {realm} = {{
        kdc = {HOST}:{port}
        admin_server = {HOST}:{port}
    }}

[domain_realm]
    localhost = {realm}
    .localhost = {realm}
"""


def render_kdc_conf(realm: str, port: int, base: Path) -> str:
    enctypes = " ".join(f"{e}:normal" for e in ENCTYPES.split())
    return f"""[kdcdefaults]
    kdc_listen = {HOST}:{port}
    kdc_tcp_listen = {HOST}:{port}

[realms]
    {realm} = {{
        database_name = {base / "principal"}
        key_stash_file = {base / "stash"}
        acl_file = {base / "kadm5.acl"}
        kdc_listen = {HOST}:{port}
        kdc_tcp_listen = {HOST}:{port}
        max_life = 1d
        max_renewable_life = 7d
        supported_enctypes = {enctypes}
        master_key_type = aes256-cts-hmac-sha1-96
    }}

[logging]
    kdc = FILE:{base / "kdc.log"}
    default = FILE:{base / "kdc.log"}
"""


class Kdc:
    """A KDC living in ``base``: config files, database, keytabs and log."""

    def __init__(self, base: Path, port: int, realm: str = DEFAULT_REALM) -> None:
        self.base = base
        self.port = port
        self.realm = realm
        self.krb5_conf = base / "krb5.conf"
        self.kdc_conf = base / "kdc.conf"
        self.keytab_dir = base / "keytabs"
        self.log = base / "krb5kdc.out"
        self.process: ManagedProcess | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment for the MIT tools: this realm's config, not /etc/krb5.conf."""
        return {
            **os.environ,
            "KRB5_CONFIG": str(self.krb5_conf),
            "KRB5_KDC_PROFILE": str(self.kdc_conf),
        }

    def principal(self, name: str) -> str:
        return name if "@" in name else f"{name}@{self.realm}"

    def create(self) -> None:
        """Write the configs and create the database (once per state dir)."""
        self.base.mkdir(parents=True, exist_ok=True)
        self.keytab_dir.mkdir(exist_ok=True)
        self.krb5_conf.write_text(render_krb5_conf(self.realm, self.port))
        self.kdc_conf.write_text(render_kdc_conf(self.realm, self.port, self.base))
        (self.base / "kadm5.acl").write_text(f"*/admin@{self.realm} *\n")
        run_checked(
            [tool("kdb5_util"), "create", "-s", "-r", self.realm, "-P", "sandbox-master-pw"],
            env=self.env, what="creating the KDC database", fix=KRB_FIX, cwd=self.base,
        )  # fmt: skip

    def kadmin(self, *queries: str) -> str:
        """Run kadmin.local queries in one process (they are read from stdin)."""
        proc = run_checked(
            [tool("kadmin.local"), "-r", self.realm],
            env=self.env,
            input_text="".join(q + "\n" for q in queries),
            what="kadmin.local",
            fix=KRB_FIX,
        )
        return proc.stdout

    def add_principals(self, names: Mapping[str, Path]) -> None:
        """Create principals with random keys and export each into its keytab path."""
        queries: list[str] = []
        for name, keytab in names.items():
            p = self.principal(name)
            queries.append(f"addprinc -randkey -maxrenewlife 7d -maxlife 1d {p}")
            queries.append(f"ktadd -k {keytab} -norandkey {p}")
        self.kadmin(*queries)

    def add_principal(self, name: str) -> Path:
        """Create ``name`` (if new) and return a keytab holding its key."""
        keytab = self.keytab_path(name)
        if not keytab.exists():
            self.add_principals({name: keytab})
        return keytab

    def keytab_path(self, name: str) -> Path:
        return self.keytab_dir / (name.split("@")[0].replace("/", "_") + ".keytab")

    def start(self, detached: bool = False, timeout: float = 10.0) -> None:
        """Start krb5kdc in the foreground (-n) so we own its PID; wait for TCP."""
        check_port_free(self.port, "KDC", udp=True)
        self.process = spawn(
            "krb5kdc",
            [tool("krb5kdc"), "-n", "-r", self.realm],
            env=self.env, log=self.log, cwd=self.base, detached=detached,
        )  # fmt: skip
        wait_until(
            lambda: tcp_open(self.port), what=f"the KDC on {HOST}:{self.port}",
            timeout=timeout, procs=[self.process], fix=f"see {self.base / 'kdc.log'}",
        )  # fmt: skip

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def kinit(
        self,
        principal: str,
        ccache: Path,
        lifetime: str = "10m",
        renewable: str | None = None,
        keytab: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Real ``kinit -kt`` into a FILE cache; raises on failure."""
        kt = keytab or self.add_principal(principal)
        argv = [tool("kinit"), "-l", lifetime, "-c", f"FILE:{ccache}"]
        if renewable is not None:
            argv += ["-r", renewable]
        argv += ["-kt", str(kt), self.principal(principal)]
        ccache.parent.mkdir(parents=True, exist_ok=True)
        return run_checked(
            argv,
            env=self.env,
            what=f"kinit {principal}",
            fix=f"is the KDC running? see {self.base / 'kdc.log'}",
            error=SandboxKinitError,
        )


# ------------------------------------------------------------------ a kinit that is not MIT's
#: Heimdal's kinit stands in for a kinit that is not the system's (catalog D4): like
#: conda's, it comes with its own libkrb5, and it has no KEYRING cache type. The Debian
#: package heimdal-clients is never installed: its postinst points /usr/bin/kinit (and
#: klist, kdestroy, ...) at Heimdal's through update-alternatives, replacing MIT's tools
#: for everyone. Only its two programs are taken from the .deb (``apt-get download``,
#: cached); the libraries they load come from the Heimdal library packages, which
#: scripts/bootstrap installs and which touch nothing in /usr/bin.
HEIMDAL_CLIENTS = "heimdal-clients"
HEIMDAL_FIX = (
    "apt-get install libkrb5-26-heimdal libkafs0-heimdal libheimntlm0-heimdal libsl0-heimdal "
    "(scripts/bootstrap does); fetching heimdal-clients needs Debian's package index "
    "(apt-get update)"
)


def _heimdal_deb(cache: Path) -> Path:
    """The heimdal-clients .deb in ``cache`` (fetched once with ``apt-get download``)."""
    import tempfile

    debs = sorted(cache.glob(f"{HEIMDAL_CLIENTS}_*.deb"))
    if debs:
        return debs[-1]
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        proc = subprocess.run(
            ["apt-get", "download", HEIMDAL_CLIENTS],
            cwd=tmp, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        got = sorted(Path(tmp).glob(f"{HEIMDAL_CLIENTS}_*.deb"))
        if proc.returncode != 0 or not got:
            raise ToolMissingError(
                f"cannot fetch {HEIMDAL_CLIENTS}: {proc.stderr.strip()[-500:]}", HEIMDAL_FIX
            )
        os.replace(got[0], cache / got[0].name)  # whole, or not at all
    return cache / got[0].name


def heimdal_kinit_prefix(dest: Path, cache: Path | None = None) -> Path:
    """A conda-like prefix: ``dest/bin/kinit`` and ``dest/bin/klist`` are Heimdal's.

    Returns ``dest/bin`` (put it first on PATH). Raises ToolMissingError when the
    programs cannot be fetched or do not run (their libraries missing).
    """
    import tempfile

    from .assets import cache_dir

    deb = _heimdal_deb(cache or cache_dir() / "debs")
    bindir = dest / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        run_checked(
            ["dpkg-deb", "-x", str(deb), tmp],
            env=dict(os.environ), what=f"unpacking {deb.name}", fix=HEIMDAL_FIX,
        )  # fmt: skip
        shutil.copy2(Path(tmp) / "usr/bin/kinit.heimdal", bindir / "kinit")
        shutil.copy2(Path(tmp) / "usr/bin/heimtools", bindir / "heimtools")
    (bindir / "klist").symlink_to("heimtools")
    proc = subprocess.run(
        [str(bindir / "kinit"), "--version"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if proc.returncode != 0 or "Heimdal" not in proc.stdout + proc.stderr:
        raise ToolMissingError(
            f"Heimdal's kinit does not run: {(proc.stderr or proc.stdout).strip()[-500:]}",
            HEIMDAL_FIX,
        )
    return bindir
