"""Catalog B4 for real: the sandbox's clients address HDFS by an HA nameservice.

The sandbox's client configuration says ``fs.defaultFS=hdfs://sandboxns`` and defines the
nameservice (``dfs.nameservices``, ``dfs.ha.namenodes.sandboxns``, its RPC address, the
failover proxy provider), pointing at its one NameNode; the servers' own configuration
knows nothing of it. A copy of that configuration without the nameservice is what a host
with an old or partial client configuration has: the doctor's client-config check says
B4 before anything connects, and a real libhdfs connect in that state fails with
``UnknownHostException: sandboxns``.

Java resolves host names from a hosts file of the test's own (``jdk.net.hosts.file``), so
no name is ever sent to a DNS server.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from defusedxml import ElementTree

from mlflow_client_env.doctor.catalog import explain
from mlflow_client_env_sandbox.hadoop_xml import write_configuration
from mlflow_client_env_sandbox.hdfs import NAMESERVICE
from mlflow_client_env_sandbox.mlflow_server import MlflowServer
from mlflow_client_env_sandbox.ports import free_ports
from mlflow_client_env_sandbox.procs import pdeathsig_preexec
from tests.sandbox.fixtures import Cluster
from tests.sandbox.helpers import ClientEnv
from tests.test_doctor_sandbox import doctor, shell_env

pytestmark = pytest.mark.sandbox

#: connects as MLflow's HDFS repository does for ``argv[1]``, makes a folder, writes a file
CONNECT = """
import sys
from urllib.parse import urlparse
import pyarrow.fs as pafs
u = urlparse(sys.argv[1])
fs = pafs.HadoopFileSystem(f"hdfs://{u.hostname}", u.port or 0)
fs.create_dir(u.path, recursive=True)
with fs.open_output_stream(u.path + "/hello.txt") as out:
    out.write(b"hello")
print("written")
"""


def read_site(path: Path) -> dict[str, str]:
    root = ElementTree.parse(path).getroot()
    return {p.findtext("name") or "": p.findtext("value") or "" for p in root.iter("property")}


def conf_copy(src: Path, dest: Path, *, drop: str = "", core: dict[str, str] | None = None) -> Path:
    """A copy of the client conf dir ``src``: hdfs-site.xml keys starting with any of the
    comma-separated ``drop`` prefixes removed, core-site.xml keys replaced by ``core``."""
    shutil.copytree(src, dest)
    prefixes = tuple(p for p in drop.split(",") if p)
    hdfs = {k: v for k, v in read_site(src / "hdfs-site.xml").items() if not k.startswith(prefixes)}
    write_configuration(dest / "hdfs-site.xml", hdfs)
    if core:
        write_configuration(dest / "core-site.xml", {**read_site(src / "core-site.xml"), **core})
    return dest


#: Every key by which the client configuration defines the sandbox's nameservice.
NAMESERVICE_KEYS = ",".join(
    [
        "dfs.nameservices",
        f"dfs.ha.namenodes.{NAMESERVICE}",
        f"dfs.namenode.rpc-address.{NAMESERVICE}.",
        f"dfs.client.failover.proxy.provider.{NAMESERVICE}",
    ]
)


@pytest.fixture(scope="module")
def ns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` whose artifacts are on ``hdfs://sandboxns`` (it never touches
    HDFS itself: its clients write there). Stopped at the end of the module."""
    base = tmp_path_factory.mktemp("mlflow-ns")
    server = MlflowServer(
        base, free_ports(1)[0], f"hdfs://{NAMESERVICE}/user/alice/mlflow-{uuid.uuid4().hex[:8]}"
    )
    server.start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def hosts_only(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """``env`` whose JVM resolves names only from a hosts file naming localhost."""
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    opts = f"{env.get('LIBHDFS_OPTS', '')} -Djdk.net.hosts.file={hosts}".strip()
    return {**env, "LIBHDFS_OPTS": opts}


def connect(env: dict[str, str], uri: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CONNECT, uri],
        env=env, capture_output=True, text=True, timeout=120, preexec_fn=pdeathsig_preexec(),
    )  # fmt: skip


def test_the_sandbox_clients_use_the_nameservice(
    client_env: ClientEnv, cluster: Cluster, tmp_path: Path
) -> None:
    core = read_site(client_env.conf_dir / "core-site.xml")
    hdfs = read_site(client_env.conf_dir / "hdfs-site.xml")
    assert core["fs.defaultFS"] == f"hdfs://{NAMESERVICE}"
    assert hdfs["dfs.nameservices"] == NAMESERVICE
    nn = f"localhost:{cluster.hdfs.nn_port}"
    assert hdfs[f"dfs.namenode.rpc-address.{NAMESERVICE}.nn1"] == nn
    # the servers' own configuration has no nameservice: the NameNode is not in HA mode
    assert "dfs.nameservices" not in read_site(cluster.hdfs.conf_dir / "hdfs-site.xml")
    env = hosts_only(shell_env(client_env, tmp_path), tmp_path)
    d = doctor(env, "--check", "client-config")
    assert d.code == 0, d.data
    ok = d.found["client-config.ok"]
    assert f"fs.defaultFS=hdfs://{NAMESERVICE}" in ok["summary"]
    assert f"nameservices={NAMESERVICE}" in ok["summary"]
    # the nameservice really leads to the NameNode, with Kerberos
    run = connect(env, f"hdfs://{NAMESERVICE}/tmp/ns-{uuid.uuid4().hex[:8]}")
    assert run.returncode == 0 and run.stdout.strip() == "written", run.stderr[-3000:]


def test_a_configuration_without_the_nameservice_is_b4_before_the_unknown_host(
    client_env: ClientEnv, ns_server: MlflowServer, tmp_path: Path
) -> None:
    conf = conf_copy(client_env.conf_dir, tmp_path / "conf", drop=NAMESERVICE_KEYS)
    assert read_site(conf / "core-site.xml")["fs.defaultFS"] == f"hdfs://{NAMESERVICE}"
    location = f"{ns_server.artifact_root}/0"  # the Default experiment's
    env = shell_env(
        client_env, tmp_path, HADOOP_CONF_DIR=str(conf), MLFLOW_TRACKING_URI=ns_server.tracking_uri
    )
    env = hosts_only(env, tmp_path)

    d = doctor(env, "--check", "client-config")
    assert d.code == 1
    default_fs = d.found["client-config.unknown-nameservice"]
    assert default_fs["status"] == "error"
    assert default_fs["summary"].startswith(
        f"fs.defaultFS=hdfs://{NAMESERVICE} names the nameservice '{NAMESERVICE}', which {conf} "
        f"does not define (no dfs.client.failover.proxy.provider.{NAMESERVICE}; no "
        f"dfs.nameservices; no dfs.ha.namenodes.{NAMESERVICE})"
    )
    assert default_fs["summary"].endswith(
        f"the client will fail with UnknownHostException: {NAMESERVICE} (catalog B4)"
    )
    artifacts = d.found["client-config.artifact-nameservice-unknown"]
    assert artifacts["status"] == "error"
    assert artifacts["summary"].startswith(
        f"the artifact location {location} of experiment 'Default (id 0)' names the nameservice "
        f"'{NAMESERVICE}', which {conf} does not define"
    )
    assert "(catalog B4; a stale configuration: H3)" in artifacts["summary"]

    # what MLflow's upload would hit: the real libhdfs, for the artifact location
    run = connect(env, location)
    assert run.returncode == 1 and "written" not in run.stdout
    assert f"java.lang.IllegalArgumentException: java.net.UnknownHostException: {NAMESERVICE}" in (
        run.stderr
    )
    err = subprocess.CalledProcessError(run.returncode, "python", stderr=run.stderr)
    exp = explain(err)
    assert exp is not None and exp.code == "B4", exp


def test_a_nameservice_listed_but_without_its_provider_is_reported(
    client_env: ClientEnv, tmp_path: Path
) -> None:
    """dfs.nameservices names it, the provider is missing: the same UnknownHostException."""
    conf = conf_copy(
        client_env.conf_dir, tmp_path / "conf", drop="dfs.client.failover.proxy.provider."
    )
    env = hosts_only(shell_env(client_env, tmp_path, HADOOP_CONF_DIR=str(conf)), tmp_path)
    d = doctor(env, "--check", "client-config")
    assert d.code == 1
    found = d.found["client-config.unknown-nameservice"]
    assert found["status"] == "error"  # listed, but not enough to connect
    assert f"(no dfs.client.failover.proxy.provider.{NAMESERVICE})" in found["summary"]
    assert f"UnknownHostException: {NAMESERVICE} (catalog B4)" in found["summary"]
    run = connect(env, f"hdfs://{NAMESERVICE}/tmp/ns-{uuid.uuid4().hex[:8]}")
    assert run.returncode == 1
    assert f"java.net.UnknownHostException: {NAMESERVICE}" in run.stderr


def test_a_nameservice_without_its_namenode_addresses_is_reported(
    client_env: ClientEnv, tmp_path: Path
) -> None:
    """Listed, its provider and NameNode IDs given, the NameNodes' RPC addresses missing:
    Hadoop's failover provider finds no address for the name (no DNS lookup this time)."""
    conf = conf_copy(
        client_env.conf_dir, tmp_path / "conf", drop=f"dfs.namenode.rpc-address.{NAMESERVICE}."
    )
    env = hosts_only(shell_env(client_env, tmp_path, HADOOP_CONF_DIR=str(conf)), tmp_path)
    d = doctor(env, "--check", "client-config")
    assert d.code == 1
    found = d.found["client-config.unknown-nameservice"]
    assert found["status"] == "error"
    assert f"(no dfs.namenode.rpc-address.{NAMESERVICE}.nn1)" in found["summary"]
    assert found["summary"].endswith(
        f"'Could not find any configured addresses for URI hdfs://{NAMESERVICE}' (catalog B4)"
    )
    run = connect(env, f"hdfs://{NAMESERVICE}/tmp/ns-{uuid.uuid4().hex[:8]}")
    assert run.returncode == 1 and "written" not in run.stdout
    assert f"Could not find any configured addresses for URI hdfs://{NAMESERVICE}" in run.stderr
