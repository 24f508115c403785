"""Catalog H3 for real: a client configuration older than the cluster it is used for.

Three signs, each against the running sandbox (Kerberized NameNode, its MLflow server
with an ``hdfs://`` artifact root, its parcel tree):

1. the experiment's artifact location, as the tracking server says it, is on a NameNode
   the configuration does not know (the cluster moved since it was written);
2. every file of the configuration is older than the parcel in use (an upgrade without a
   client configuration deploy);
3. the configuration says ``hadoop.security.authentication=simple`` and names no Kerberos
   principal (it was written before Kerberos was turned on), while the NameNode refuses
   SIMPLE: an error, which the real HDFS probe confirms (B5).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from pathlib import Path

import pytest

from mlflow_client_env_sandbox.hdfs import NAMESERVICE
from mlflow_client_env_sandbox.ports import free_ports
from tests.sandbox.fixtures import Cluster
from tests.sandbox.helpers import ClientEnv, make_client_conf
from tests.test_doctor_nameservice import conf_copy, hosts_only
from tests.test_doctor_sandbox import doctor, shell_env

pytestmark = pytest.mark.sandbox

H3_CODES = (
    "client-config.artifacts-elsewhere",
    "client-config.older-than-parcel",
    "client-config.stale-simple-auth",
)


def test_the_sandbox_configuration_is_not_stale(client_env: ClientEnv, tmp_path: Path) -> None:
    """Its artifacts are on hdfs://localhost:<port>, the NameNode of its nameservice, its
    configuration was deployed after the parcel, and it says Kerberos."""
    d = doctor(shell_env(client_env, tmp_path), "--check", "client-config")
    assert d.code == 0 and not [c for c in d.found if c in H3_CODES], d.data


def test_artifacts_on_a_namenode_the_configuration_does_not_know_are_h3(
    client_env: ClientEnv, cluster: Cluster, tmp_path: Path
) -> None:
    """The configuration of the cluster as it was: the same nameservice at the NameNode's
    old address. The tracking server puts the artifacts on the NameNode of today."""
    old_port = free_ports(1)[0]
    conf = make_client_conf(tmp_path / "conf", cluster.kdc.realm, old_port)
    env = shell_env(client_env, tmp_path, HADOOP_CONF_DIR=str(conf))
    d = doctor(env, "--check", "client-config")
    found = d.found["client-config.artifacts-elsewhere"]
    assert found["status"] == "warn" and d.code == 0
    now = f"localhost:{cluster.hdfs.nn_port}"
    location = f"{cluster.mlflow_server.artifact_root}/0"  # the Default experiment's
    assert found["summary"] == (
        f"the artifact location {location} of experiment 'Default (id 0)' is on {now}, "
        f"which is not the cluster of {conf} (fs.defaultFS=hdfs://{NAMESERVICE}, NameNodes "
        f"localhost:{old_port}): the configuration may be stale or another cluster's, and its "
        "settings (Kerberos, encryption) may not fit the artifacts' (catalog H3)"
    )
    assert found["fix"].startswith("deploy the cluster's current client configuration")


def test_a_configuration_older_than_the_parcel_is_h3(
    client_env: ClientEnv, cluster: Cluster, tmp_path: Path
) -> None:
    conf = conf_copy(client_env.conf_dir, tmp_path / "conf")
    env = shell_env(client_env, tmp_path, HADOOP_CONF_DIR=str(conf))
    fresh = doctor(env, "--check", "client-config")
    assert "client-config.older-than-parcel" not in fresh.found  # copied just now
    link = cluster.parcel.cdh_link
    activated = os.lstat(link).st_mtime
    for f in conf.iterdir():
        os.utime(f, (activated - 86400, activated - 86400))  # deployed a day before
    d = doctor(env, "--check", "client-config")
    found = d.found["client-config.older-than-parcel"]
    assert found["status"] == "warn" and d.code == 0
    assert found["summary"].startswith(f"the client configuration in {conf} (newest file written ")
    assert "(catalog H3)" in found["summary"]
    assert f"{link}: installed or activated " in found["evidence"][-1]


def test_a_simple_configuration_against_the_kerberized_namenode_is_an_h3_error(
    client_env: ClientEnv, tmp_path: Path
) -> None:
    """Written before Kerberos was turned on: SIMPLE, and no server principals (so the
    B5 check of the principals cannot see it)."""
    conf = conf_copy(
        client_env.conf_dir,
        tmp_path / "conf",
        drop="dfs.namenode.kerberos.principal,dfs.datanode.kerberos.principal",
        core={"hadoop.security.authentication": "simple"},
    )
    env = hosts_only(shell_env(client_env, tmp_path, HADOOP_CONF_DIR=str(conf)), tmp_path)
    probe = f"{client_env.namenode_uri}/tmp/stale-{uuid.uuid4().hex[:8]}"
    d = doctor(
        env, "--check", "client-config", "--check", "kerberos", "--check", "hdfs",
        "--probe-path", probe,
    )  # fmt: skip
    assert d.code == 1
    assert "client-config.simple-against-kerberos" not in d.found
    stale = d.found["client-config.stale-simple-auth"]
    assert stale["status"] == "error"
    assert stale["summary"].startswith(
        f"{conf} says hadoop.security.authentication=simple, but the NameNode "
        f"localhost:{client_env.namenode_uri.rsplit(':', 1)[1]} requires Kerberos"
    )
    assert "(catalog H3)" in stale["summary"]
    assert stale["evidence"][-1].endswith(
        "answered a SIMPLE handshake: SIMPLE authentication is not enabled.  "
        "Available:[TOKEN, KERBEROS]"
    )
    nn = f"localhost:{client_env.namenode_uri.rsplit(':', 1)[1]}"
    # the kerberos check does not call SIMPLE fine: the cluster needs Kerberos after all
    assert "kerberos.not-used" not in d.found
    refused = d.found["kerberos.simple-refused"]
    assert refused["status"] == "error"
    assert refused["summary"] == (
        f"{conf} says hadoop.security.authentication=simple, so the client would use no "
        f"ticket, but the NameNode {nn} refuses SIMPLE authentication: the cluster uses "
        "Kerberos (see client-config.stale-simple-auth, catalog H3)"
    )
    assert refused["fix"].startswith("fix the client configuration first")
    # what the client then really hits: the HDFS probe (pyarrow, libhdfs, the JVM) fails,
    # and all libhdfs says of it is "Permission denied" (it does not print the NameNode's
    # AccessControlException for mkdirs): the finding says it is the stale configuration
    hdfs = d.check("hdfs")["findings"]
    assert [f["code"] for f in hdfs] == ["hdfs.permission-denied"], hdfs
    denied = hdfs[0]
    assert denied["status"] == "error"
    assert any("Permission denied" in line for line in denied["evidence"])
    assert denied["summary"].endswith(
        f": not the path's permissions, the client offered SIMPLE authentication ({conf} says "
        f"hadoop.security.authentication=simple) and the NameNode {nn} refuses it (see "
        "client-config.stale-simple-auth, catalog H3)"
    )
    assert denied["fix"] == stale["fix"]


class CountingRelay:
    """A TCP relay on 127.0.0.1 to the NameNode that counts the connections it accepts:
    who asked the NameNode, and how often. Closed (every socket, every thread) by close()."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.connections = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port: int = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(self.target, timeout=10)
            self._sockets += [conn, upstream]
            for a, b in ((conn, upstream), (upstream, conn)):
                t = threading.Thread(target=self._pump, args=(a, b), daemon=True)
                self._threads.append(t)
                t.start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stop.set()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            t.join(timeout=30)
        for sock in (self._server, *self._sockets):
            sock.close()


def test_the_kerberos_check_shares_the_client_config_checks_simple_probe(
    client_env: ClientEnv, cluster: Cluster, tmp_path: Path
) -> None:
    """The same stale configuration, its NameNode reached through a relay that counts: the
    client-config check asks the NameNode once, the kerberos check uses that answer (one
    connection in all), and alone the kerberos check asks it itself."""
    relay = CountingRelay(("localhost", cluster.hdfs.nn_port))
    try:
        conf = make_client_conf(
            tmp_path / "conf",
            cluster.kdc.realm,
            relay.port,
            core={"hadoop.security.authentication": "simple"},
            hdfs={"dfs.namenode.kerberos.principal": None, "dfs.datanode.kerberos.principal": None},
        )
        env = shell_env(client_env, tmp_path, HADOOP_CONF_DIR=str(conf))
        d = doctor(env, "--check", "client-config", "--check", "kerberos")
        assert d.code == 1
        assert d.found["client-config.stale-simple-auth"]["status"] == "error"
        assert d.found["kerberos.simple-refused"]["status"] == "error"
        assert (
            f"the NameNode localhost:{relay.port} refuses SIMPLE"
            in (d.found["kerberos.simple-refused"]["summary"])
        )
        assert relay.connections == 1  # one SIMPLE handshake for both checks
        alone = doctor(env, "--check", "kerberos")
        assert alone.code == 1 and "kerberos.simple-refused" in alone.found
        assert "kerberos.not-used" not in alone.found
        assert relay.connections == 2
    finally:
        relay.close()
