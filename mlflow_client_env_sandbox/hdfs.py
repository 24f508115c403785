"""A Kerberized HDFS 2.7.3 NameNode and DataNode on Java 17, on loopback ports.

Security is on for real: Kerberos RPC auth, block access tokens and SASL
data-transfer protection (``authentication``; ``privacy`` or encrypted data transfer
with ``data_protection``, servers and clients alike). ``ignore.secure.ports.for.testing``
lets the DataNode start on unprivileged ports without SSL. Ready means the
NameNode's JMX reports a live DataNode, ``Operational`` and no safe mode.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import PortInUseError, SandboxSettingError, ServerStartError
from .hadoop_xml import write_configuration
from .jars import classpath, jar_paths
from .kdc import Kdc
from .ports import HOST, check_port_free
from .procs import ManagedProcess, log_tail, pdeathsig_preexec, run_checked, spawn, wait_until

JVM_FAST = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
KRB5_EXPORTS = "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED"
LOG4J = """log4j.rootLogger=INFO, console
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.target=System.err
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n
"""
CLIENT_LOG4J = LOG4J.replace("rootLogger=INFO", "rootLogger=WARN")
#: With a data protection other than the default, the servers log each SASL negotiation
#: (DEBUG), which shows the protection really in force for every client connection: the
#: DataNode ``Verifying QOP, requested QOP = [auth-conf], negotiated QOP = auth-conf``,
#: ``SASL server doing encrypted handshake``, ``Server using cipher suite
#: AES/CTR/NoPadding``; with ``privacy`` the RPC servers ``SASL server context established.
#: Negotiated QoP is auth-conf`` (ipc.Server, which also logs every call at DEBUG).
SASL_DEBUG_LOG4J = {
    "privacy": "log4j.logger.org.apache.hadoop.hdfs.protocol.datatransfer.sasl=DEBUG\n"
    "log4j.logger.org.apache.hadoop.ipc.Server=DEBUG\n",
    "encrypt": "log4j.logger.org.apache.hadoop.hdfs.protocol.datatransfer.sasl=DEBUG\n",
}


def client_jvm_options(krb5_conf: Path) -> list[str]:
    """Options every client JVM on Java 17 needs (also what LIBHDFS_OPTS must carry)."""
    return [f"-Djava.security.krb5.conf={krb5_conf}", KRB5_EXPORTS]


@dataclass(frozen=True)
class HdfsPorts:
    nn_rpc: int
    nn_http: int
    dn_xfer: int
    dn_http: int
    dn_ipc: int

    def items(self) -> list[tuple[str, int]]:
        return [
            ("NameNode RPC", self.nn_rpc), ("NameNode HTTP", self.nn_http),
            ("DataNode transfer", self.dn_xfer), ("DataNode HTTP", self.dn_http),
            ("DataNode IPC", self.dn_ipc),
        ]  # fmt: skip


#: The HA nameservice clients of the sandbox address the cluster by (fs.defaultFS), as on
#: a Cloudera HA cluster; it has one NameNode, the one the servers run.
NAMESERVICE = "sandboxns"
FAILOVER_PROXY_PROVIDER = (
    "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider"
)


#: How the sandbox protects RPC and block data (``data_protection``). The servers and the
#: clients get the same keys (both configurations are built by ``client_site``):
#:
#: - ``authentication`` (the default): SASL authentication only, on RPC and on the
#:   DataNode's data transfer (``hadoop.rpc.protection`` and
#:   ``dfs.data.transfer.protection`` ``authentication``);
#: - ``privacy``: both ``privacy`` (SASL QOP auth-conf: RPC and block data are wrapped,
#:   integrity-checked and encrypted by the Kerberos/digest security layer);
#: - ``encrypt``: ``dfs.encrypt.data.transfer=true`` (the DataNode refuses anything but an
#:   encrypted handshake with a data encryption key the NameNode hands out, then AES/CTR
#:   streams, ``dfs.encrypt.data.transfer.cipher.suites``); RPC stays ``authentication``.
DATA_PROTECTIONS = ("authentication", "privacy", "encrypt")
DEFAULT_DATA_PROTECTION = "authentication"


def checked_data_protection(value: str) -> str:
    """``value`` when it is one of :data:`DATA_PROTECTIONS`, else ``SandboxSettingError``."""
    if value not in DATA_PROTECTIONS:
        raise SandboxSettingError(
            f"unknown HDFS data protection {value!r}",
            f"use one of: {', '.join(DATA_PROTECTIONS)}",
        )
    return value


def protection_keys(data_protection: str) -> tuple[str, dict[str, str]]:
    """``(qop, extra)`` of ``data_protection``, for servers and clients alike: the value of
    ``hadoop.rpc.protection`` and ``dfs.data.transfer.protection``, and further hdfs-site
    keys."""
    checked_data_protection(data_protection)
    if data_protection == "encrypt":
        return "authentication", {
            "dfs.encrypt.data.transfer": "true",
            "dfs.encrypt.data.transfer.cipher.suites": "AES/CTR/NoPadding",
        }
    return data_protection, {}


def client_site(
    realm: str,
    nn_port: int,
    nameservice: str | None = NAMESERVICE,
    data_protection: str = DEFAULT_DATA_PROTECTION,
) -> tuple[dict[str, str], dict[str, str]]:
    """core-site and hdfs-site for a client of the sandbox (what /etc/hadoop/conf holds).

    With ``nameservice`` (the default) fs.defaultFS is ``hdfs://<nameservice>``, which only
    these keys resolve to the NameNode at ``localhost:<nn_port>``; None gives the plain
    ``hdfs://localhost:<nn_port>`` the servers' own configuration uses.
    ``data_protection`` is one of :data:`DATA_PROTECTIONS` (``SandboxSettingError`` else).
    """
    qop, extra = protection_keys(data_protection)
    core = {
        "fs.defaultFS": f"hdfs://{nameservice or f'localhost:{nn_port}'}",
        "hadoop.security.authentication": "kerberos",
        "hadoop.security.authorization": "true",
        "hadoop.rpc.protection": qop,
    }
    hdfs = {
        "dfs.namenode.kerberos.principal": f"nn/localhost@{realm}",
        "dfs.datanode.kerberos.principal": f"dn/localhost@{realm}",
        "dfs.block.access.token.enable": "true",
        "dfs.data.transfer.protection": qop,
        "dfs.client.block.write.replace-datanode-on-failure.enable": "false",
        "dfs.client.use.datanode.hostname": "true",
        "dfs.webhdfs.enabled": "false",
        **extra,
    }
    if nameservice:
        hdfs.update({
            "dfs.nameservices": nameservice,
            f"dfs.ha.namenodes.{nameservice}": "nn1",
            f"dfs.namenode.rpc-address.{nameservice}.nn1": f"localhost:{nn_port}",
            f"dfs.client.failover.proxy.provider.{nameservice}": FAILOVER_PROXY_PROVIDER,
            # One NameNode: failing over to it again is pointless, and Hadoop's default (15
            # failovers, sleeps growing to 15 s) keeps a client of a stopped NameNode
            # waiting for minutes. Two quick tries, then the error.
            "dfs.client.failover.max.attempts": "2",
            "dfs.client.failover.sleep.base.millis": "100",
            "dfs.client.failover.sleep.max.millis": "500",
        })  # fmt: skip
    return core, hdfs


def write_client_conf(
    conf_dir: Path, realm: str, nn_port: int, data_protection: str = DEFAULT_DATA_PROTECTION
) -> Path:
    core, hdfs = client_site(realm, nn_port, data_protection=data_protection)
    write_configuration(conf_dir / "core-site.xml", core)
    write_configuration(conf_dir / "hdfs-site.xml", hdfs)
    (conf_dir / "log4j.properties").write_text(CLIENT_LOG4J)
    return conf_dir


class Hdfs:
    """NameNode + DataNode in ``base`` with their own (server) conf dir."""

    def __init__(
        self,
        base: Path,
        ports: HdfsPorts,
        kdc: Kdc,
        java_home: Path,
        jars_dir: Path,
        client_conf_dir: Path | None = None,
        data_protection: str = DEFAULT_DATA_PROTECTION,
    ) -> None:
        self.data_protection = checked_data_protection(data_protection)
        self.base = base
        self.ports = ports
        self.kdc = kdc
        self.java_home = java_home
        self.jars_dir = jars_dir
        self.conf_dir = base / "conf"
        self.client_conf_dir = client_conf_dir or base / "client-conf"
        self.keytab = kdc.keytab_dir / "hdfs-services.keytab"
        self.superuser_ccache = base / "krb5cc_hdfs"
        self.namenode: ManagedProcess | None = None
        self.datanode: ManagedProcess | None = None

    @property
    def uri(self) -> str:
        return f"hdfs://localhost:{self.ports.nn_rpc}"

    @property
    def java(self) -> str:
        return str(self.java_home / "bin" / "java")

    def jars(self) -> list[Path]:
        return jar_paths(self.jars_dir)

    def server_classpath(self) -> str:
        return classpath([self.conf_dir, self.base / "cp-extra", *self.jars()])

    def client_classpath(self, conf_dir: Path | None = None) -> str:
        return classpath([conf_dir or self.client_conf_dir, *self.jars()])

    def configure(self) -> None:
        """Service principals, keytab, server and client conf dirs, empty webapps."""
        realm = self.kdc.realm
        self.kdc.add_principals(
            {p: self.keytab for p in ("nn/localhost", "dn/localhost", "HTTP/localhost")}
        )
        for sub in ("hdfs", "datanode", "secondary", "static"):
            (self.base / "cp-extra" / "webapps" / sub).mkdir(parents=True, exist_ok=True)
        kt = str(self.keytab)
        core, hdfs = client_site(  # no HA: one NN
            realm, self.ports.nn_rpc, nameservice=None, data_protection=self.data_protection
        )
        core["hadoop.security.auth_to_local"] = "\n".join([
            f"RULE:[2:$1@$0](nn@{realm})s/.*/hdfs/",
            f"RULE:[2:$1@$0](dn@{realm})s/.*/hdfs/",
            f"RULE:[2:$1@$0](HTTP@{realm})s/.*/hdfs/",
            "DEFAULT",
        ])  # fmt: skip
        core["hadoop.tmp.dir"] = str(self.base / "tmp")
        hdfs.update({
            "dfs.replication": "1",
            "dfs.namenode.name.dir": str(self.base / "name"),
            "dfs.datanode.data.dir": str(self.base / "data"),
            "dfs.namenode.rpc-address": f"localhost:{self.ports.nn_rpc}",
            "dfs.namenode.http-address": f"{HOST}:{self.ports.nn_http}",
            "dfs.namenode.secondary.http-address": "localhost:0",
            "dfs.datanode.address": f"{HOST}:{self.ports.dn_xfer}",
            "dfs.datanode.http.address": f"{HOST}:{self.ports.dn_http}",
            "dfs.datanode.ipc.address": f"{HOST}:{self.ports.dn_ipc}",
            "dfs.datanode.hostname": "localhost",
            "dfs.namenode.safemode.extension": "0",
            "dfs.namenode.datanode.registration.ip-hostname-check": "false",
            "dfs.heartbeat.interval": "1",
            "dfs.permissions.superusergroup": "hdfs",
            "dfs.namenode.keytab.file": kt,
            "dfs.datanode.keytab.file": kt,
            "dfs.namenode.kerberos.internal.spnego.principal": f"HTTP/localhost@{realm}",
            "dfs.web.authentication.kerberos.principal": f"HTTP/localhost@{realm}",
            "dfs.web.authentication.kerberos.keytab": kt,
            "dfs.http.policy": "HTTP_ONLY",
            "ignore.secure.ports.for.testing": "true",
        })  # fmt: skip
        write_configuration(self.conf_dir / "core-site.xml", core)
        write_configuration(self.conf_dir / "hdfs-site.xml", hdfs)
        log4j = LOG4J + SASL_DEBUG_LOG4J.get(self.data_protection, "")
        (self.conf_dir / "log4j.properties").write_text(log4j)
        self.write_client_conf(self.client_conf_dir)

    def write_client_conf(self, conf_dir: Path) -> Path:
        """The client configuration of this HDFS (its data protection) into ``conf_dir``."""
        return write_client_conf(conf_dir, self.kdc.realm, self.ports.nn_rpc, self.data_protection)

    def _server_argv(self, main: str, *args: str) -> list[str]:
        return [
            self.java, *JVM_FAST, *client_jvm_options(self.kdc.krb5_conf),
            "-Djava.net.preferIPv4Stack=true", f"-Dhadoop.log.dir={self.base / 'logs'}",
            "-cp", self.server_classpath(), main, *args,
        ]  # fmt: skip

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HADOOP_", "KRB5"))}
        env.pop("CLASSPATH", None)
        env["JAVA_HOME"] = str(self.java_home)
        env["KRB5_CONFIG"] = str(self.kdc.krb5_conf)
        return env

    def format(self) -> None:
        run_checked(
            self._server_argv("org.apache.hadoop.hdfs.server.namenode.NameNode",
                              "-format", "-force", "-nonInteractive"),
            env=self._env(), what="formatting the NameNode", timeout=120,
            fix=f"see the output above; server conf is in {self.conf_dir}",
        )  # fmt: skip

    def _check_ports(self, which: str) -> None:
        for what, port in self.ports.items():
            if what.startswith(which):
                check_port_free(port, what)

    def start_namenode(self, detached: bool = False) -> ManagedProcess:
        self._check_ports("NameNode")
        self.namenode = spawn(
            "namenode", self._server_argv("org.apache.hadoop.hdfs.server.namenode.NameNode"),
            env=self._env(), log=self.base / "namenode.log", cwd=self.base, detached=detached,
        )  # fmt: skip
        return self.namenode

    def start_datanode(self, detached: bool = False) -> ManagedProcess:
        self._check_ports("DataNode")
        self.datanode = spawn(
            "datanode", self._server_argv("org.apache.hadoop.hdfs.server.datanode.DataNode"),
            env=self._env(), log=self.base / "datanode.log", cwd=self.base, detached=detached,
        )  # fmt: skip
        return self.datanode

    def stop_namenode(self) -> None:
        if self.namenode is not None:
            self.namenode.stop()
            self.namenode = None

    def stop_datanode(self) -> None:
        if self.datanode is not None:
            self.datanode.stop()
            self.datanode = None

    def jmx(self, query: str) -> dict[str, object]:
        url = f"http://{HOST}:{self.ports.nn_http}/jmx?qry={query}"
        with urllib.request.urlopen(url, timeout=2) as resp:
            beans = json.load(resp).get("beans", [])
        return dict(beans[0]) if beans else {}

    def is_ready(self) -> bool:
        try:
            state = self.jmx("Hadoop:service=NameNode,name=FSNamesystemState")
            info = self.jmx("Hadoop:service=NameNode,name=NameNodeInfo")
        except (OSError, ValueError):
            return False
        live = state.get("NumLiveDataNodes", 0)
        return (
            isinstance(live, int) and live >= 1
            and state.get("FSState") == "Operational"
            and not info.get("Safemode")
        )  # fmt: skip

    def wait_ready(self, timeout: float = 90.0) -> None:
        procs = [p for p in (self.namenode, self.datanode) if p is not None]
        try:
            wait_until(
                self.is_ready, what="HDFS (NameNode JMX: a live DataNode, Operational)",
                timeout=timeout, procs=procs, interval=0.2,
                fix=f"read the server logs in {self.base}",
            )  # fmt: skip
        except ServerStartError as exc:
            for proc in procs:
                if re.search(r"BindException|Address already in use", log_tail(proc.log, 200)):
                    raise PortInUseError(
                        f"{proc.name} could not bind its port:\n{log_tail(proc.log)}",
                        "another process took the port; run again (ports are picked at start)",
                    ) from exc
            raise

    def log_size(self, which: str) -> int:
        """Current size of the namenode/datanode log, to look only at what comes after."""
        try:
            return (self.base / f"{which}.log").stat().st_size
        except OSError:
            return 0

    def wait_datanode_registered(self, log_offset: int, timeout: float = 60.0) -> None:
        """Wait for a (re)started DataNode's first block report after ``log_offset``.

        The NameNode keeps counting a stopped DataNode as live for minutes, so its JMX
        cannot tell a restarted DataNode is back; the DataNode's own log can.
        """
        log = self.base / "datanode.log"

        def reported() -> bool:
            with open(log, "rb") as fh:
                fh.seek(log_offset)
                return b"Successfully sent block report" in fh.read()

        procs = [p for p in (self.namenode, self.datanode) if p is not None]
        wait_until(
            reported, what="the DataNode to register and report its blocks",
            timeout=timeout, procs=procs, interval=0.2, fix=f"read {log}",
        )  # fmt: skip

    def superuser_kinit(self) -> None:
        self.kdc.kinit("nn/localhost", self.superuser_ccache, lifetime="1d", keytab=self.keytab)

    def create_home_dirs(self, users: Sequence[str]) -> None:
        """mkdir /tmp and /user/<u> as the HDFS superuser, in one FsShell JVM."""
        self.superuser_kinit()
        dirs = ["/tmp", *(f"/user/{u}" for u in users)]
        args = ["-D", "fs.permissions.umask-mode=000", "-mkdir", "-p", *dirs]
        proc = self.fs(args, ccache=self.superuser_ccache)
        if proc.returncode != 0:
            raise ServerStartError(
                f"creating {dirs} on HDFS failed:\n{proc.stderr[-3000:]}",
                f"read the NameNode log {self.base / 'namenode.log'}",
            )
        # Note: the homes stay owned by the superuser, mode 777 (umask 000), as in the
        # measured recipe; a chown would cost one more JVM start per user.

    def fs(
        self,
        args: Sequence[str],
        *,
        ccache: Path | None,
        conf_dir: Path | None = None,
        defs: Mapping[str, str] | None = None,
        timeout: float = 120.0,
        stdin: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``hadoop fs ARGS`` (FsShell) as the owner of ``ccache`` with a client conf.

        ``ccache=None`` means no ticket cache at all (KRB5CCNAME points at a
        missing file). ``defs`` become ``-D key=value`` generic options.
        """
        env = self._env()
        env["KRB5CCNAME"] = f"FILE:{ccache}" if ccache else f"FILE:{self.base / 'no-such-ccache'}"
        generic: list[str] = []
        for key, value in (defs or {}).items():
            generic += ["-D", f"{key}={value}"]
        argv = [
            self.java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            *client_jvm_options(self.kdc.krb5_conf),
            "-cp", self.client_classpath(conf_dir), "org.apache.hadoop.fs.FsShell",
            *generic, *args,
        ]  # fmt: skip
        return subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=timeout,
            preexec_fn=pdeathsig_preexec(),
            input=None if stdin is None else stdin.decode(),
        )  # fmt: skip
