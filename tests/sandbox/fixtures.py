"""Session fixtures for the real sandbox: KDC, Kerberized HDFS, MLflow server, parcel tree.

Enable in ``tests/conftest.py`` with::

    pytest_plugins = ["tests.sandbox.fixtures"]

Components start lazily: a session that asks only for ``kdc`` never starts
HDFS. When any collected test needs the MLflow server, it is spawned before
HDFS starts, so its slow start overlaps with HDFS's. A component that cannot
start FAILS the tests that need it (never skips). Every process is stopped by
PID at session teardown, and PR_SET_PDEATHSIG kills them if pytest dies.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from mlflow_client_env.errors import MlflowClientEnvError
from mlflow_client_env_sandbox import Assets, Kdc, Sandbox, build_parcel_tree, prepare_assets
from mlflow_client_env_sandbox.kcm import KcmServer
from mlflow_client_env_sandbox.parcel import ParcelTree

from .helpers import ClientEnv

MLFLOW_FIXTURES = ("mlflow_server", "cluster", "client_env")
_WANTS_MLFLOW = pytest.StashKey[bool]()


def _fail(exc: MlflowClientEnvError, what: str) -> NoReturn:
    """Fail (never skip) the tests that need a component which cannot start."""
    pytest.fail(f"sandbox {what} failed:\n{exc}", pytrace=False)


@pytest.fixture(scope="session")
def sandbox_assets() -> Assets:
    """Java 17, pyspark's jars and a built libhdfs.so (downloaded/built once into the cache)."""
    try:
        return prepare_assets()
    except MlflowClientEnvError as exc:
        _fail(exc, "asset preparation")


@pytest.fixture(scope="session")
def sandbox(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sandbox_assets: Assets,
) -> Iterator[Sandbox]:
    """The orchestrator (nothing started yet). Stops everything at session end."""
    try:
        sb = Sandbox(tmp_path_factory.mktemp("sandbox"), assets=sandbox_assets)
    except MlflowClientEnvError as exc:
        _fail(exc, "setup")
    items = getattr(request.session, "items", [])
    request.config.stash[_WANTS_MLFLOW] = any(
        name in getattr(item, "fixturenames", ()) for item in items for name in MLFLOW_FIXTURES
    )
    try:
        yield sb
    finally:
        sb.close()


@pytest.fixture(scope="session")
def kdc(sandbox: Sandbox) -> Kdc:
    """The MIT KDC: ``realm``, ``krb5_conf``, ``add_principal(name) -> keytab``,
    ``kinit(principal, ccache, lifetime="10m", renewable=None)``, ``stop()``, ``start()``."""
    try:
        return sandbox.ensure_kdc()
    except MlflowClientEnvError as exc:
        _fail(exc, "KDC start")


@pytest.fixture(scope="session")
def kcm(kdc: Kdc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KcmServer]:
    """A real sssd_kcm (KCM credential caches) in a private mount namespace, for the KDC's
    realm: ``krb5_conf``/``env`` (``KRB5_CONFIG`` with ``default_ccache_name = KCM:`` and
    ``kcm_socket``), ``socket_path``, ``log``, ``stop()``/``start()``. Stopped at session end."""
    server = KcmServer(tmp_path_factory.mktemp("kcm"), client_krb5_conf_from=kdc.krb5_conf)
    try:
        server.start()
    except MlflowClientEnvError as exc:
        _fail(exc, "KCM server (sssd_kcm) start")
    try:
        yield server
    finally:
        server.stop()


class HdfsControl:
    """The running HDFS, with stop/start of each server for fault tests."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self.hdfs = sandbox.hdfs

    @property
    def namenode_uri(self) -> str:
        return self.hdfs.uri

    @property
    def nn_port(self) -> int:
        return self.hdfs.ports.nn_rpc

    @property
    def conf_dir(self) -> Path:
        """The servers' conf dir (clients use ``client_conf_dir``)."""
        return self.hdfs.conf_dir

    @property
    def client_conf_dir(self) -> Path:
        return self.hdfs.client_conf_dir

    @property
    def namenode_log(self) -> Path:
        return self.hdfs.base / "namenode.log"

    @property
    def datanode_log(self) -> Path:
        return self.hdfs.base / "datanode.log"

    def stop_namenode(self) -> None:
        self.hdfs.stop_namenode()

    def start_namenode(self) -> None:
        """Restart the NameNode; returns once it is serving (when the DataNode runs)."""
        self.hdfs.start_namenode()
        if self.hdfs.datanode is not None:
            self.hdfs.wait_ready()

    def stop_datanode(self) -> None:
        self.hdfs.stop_datanode()

    def start_datanode(self) -> None:
        """Restart the DataNode; returns once it re-registered with a running NameNode."""
        offset = self.hdfs.log_size("datanode")
        self.hdfs.start_datanode()
        if self.hdfs.namenode is not None:
            self.hdfs.wait_datanode_registered(offset)

    def fs(
        self,
        *args: str,
        ccache: Path | None,
        conf_dir: Path | None = None,
        defs: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``hadoop fs ARGS`` (Java FsShell) as the owner of ``ccache`` (None: no ticket)."""
        return self.hdfs.fs(args, ccache=ccache, conf_dir=conf_dir, defs=defs, stdin=stdin)


@pytest.fixture(scope="session")
def hdfs(sandbox: Sandbox, kdc: Kdc, request: pytest.FixtureRequest) -> HdfsControl:
    """Kerberized HDFS (NameNode + DataNode) with /tmp, /user/alice and /user/bob."""
    try:
        if request.config.stash.get(_WANTS_MLFLOW, False):
            sandbox.start_mlflow()  # overlap its slow start with HDFS's
        sandbox.ensure_hdfs()
    except MlflowClientEnvError as exc:
        _fail(exc, "HDFS start")
    return HdfsControl(sandbox)


class MlflowControl:
    """The running ``mlflow server`` (sqlite store, hdfs:// artifact root, not proxied)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self.server = sandbox.mlflow

    @property
    def tracking_uri(self) -> str:
        return self.server.tracking_uri

    @property
    def artifact_root(self) -> str:
        return self.server.artifact_root

    @property
    def log(self) -> Path:
        return self.server.log

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server.start()
        self.server.wait_ready()


@pytest.fixture(scope="session")
def mlflow_server(sandbox: Sandbox, hdfs: HdfsControl) -> MlflowControl:
    """The MLflow tracking server; its default artifact root is on the sandbox HDFS."""
    try:
        sandbox.ensure_mlflow()
    except MlflowClientEnvError as exc:
        _fail(exc, "MLflow server start")
    return MlflowControl(sandbox)


@dataclass(frozen=True)
class Cluster:
    """All sandbox parts together."""

    sandbox: Sandbox
    kdc: Kdc
    hdfs: HdfsControl
    mlflow_server: MlflowControl
    parcel: ParcelTree


@pytest.fixture(scope="session")
def cluster(sandbox: Sandbox, kdc: Kdc, hdfs: HdfsControl, mlflow_server: MlflowControl) -> Cluster:
    return Cluster(sandbox, kdc, hdfs, mlflow_server, sandbox.ensure_parcel())


@pytest.fixture
def client_env(cluster: Cluster, tmp_path: Path) -> ClientEnv:
    """The sandbox as a client sees it, with a FRESH FILE ticket cache for alice in tmp_path.

    ``.env`` holds exactly the variables ``sandbox env`` prints.
    """
    ccache = tmp_path / "krb5cc_alice"
    cluster.kdc.kinit("alice", ccache, lifetime="10h", renewable="1d")  # a working day
    sb = cluster.sandbox
    env = {**sb.env(), "KRB5CCNAME": f"FILE:{ccache}"}
    return ClientEnv(
        env=env,
        parcels_root=cluster.parcel.parcels_root,
        parcel_dir=cluster.parcel.parcel_dir,
        conf_dir=cluster.parcel.conf_dir,
        ccache=ccache,
        krb5_conf=cluster.kdc.krb5_conf,
        java_home=sb.assets.java_home,
        namenode_uri=cluster.hdfs.namenode_uri,
        tracking_uri=cluster.mlflow_server.tracking_uri,
    )


@pytest.fixture
def parcel_tree(tmp_path: Path, sandbox_assets: Assets) -> ParcelTree:
    """A parcel tree + client conf in tmp_path built from the real jars, with no servers."""
    return build_parcel_tree(
        tmp_path / "edge",
        jars_dir=sandbox_assets.jars_dir,
        libhdfs_so=sandbox_assets.libhdfs_so,
        java_home=sandbox_assets.java_home,
    )


def hdfs_cat(hdfs: HdfsControl, path: str, ccache: Path) -> str:
    """Read a file through Java FsShell; assert success."""
    proc = hdfs.fs("-cat", path, ccache=ccache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@contextmanager
def extra_sandbox(
    state_dir: Path, assets: Assets, *, data_protection: str = "authentication"
) -> Iterator[Sandbox]:
    """One more sandbox of its own, for a module that needs HDFS set up otherwise (e.g.
    ``data_protection="privacy"``): its own KDC and Kerberized HDFS in ``state_dir``, alice's
    ticket in ``sandbox.alice_ccache``, no MLflow server. Stopped on exit, even on failure;
    a sandbox that cannot start fails the tests (never skips)."""
    try:
        sb = Sandbox(state_dir, assets=assets, data_protection=data_protection)
        sb.up(with_mlflow=False)  # stops what it started when it fails
    except MlflowClientEnvError as exc:
        _fail(exc, f"extra sandbox (data protection {data_protection})")
    try:
        yield sb
    finally:
        sb.close()


def sandbox_client_env(sb: Sandbox, ccache: Path) -> ClientEnv:
    """``client_env`` for a sandbox started without its MLflow server (``extra_sandbox``):
    the variables ``sandbox env`` prints less MLFLOW_TRACKING_URI, with ``ccache``."""
    parcel = sb.ensure_parcel()
    env = {**sb.env(), "KRB5CCNAME": f"FILE:{ccache}"}
    env.pop("MLFLOW_TRACKING_URI")
    return ClientEnv(
        env=env,
        parcels_root=parcel.parcels_root,
        parcel_dir=parcel.parcel_dir,
        conf_dir=parcel.conf_dir,
        ccache=ccache,
        krb5_conf=sb.kdc.krb5_conf,
        java_home=sb.assets.java_home,
        namenode_uri=sb.hdfs.uri,
        tracking_uri="",
    )


__all__: Sequence[str] = (
    "Cluster", "HdfsControl", "MlflowControl", "client_env", "cluster", "extra_sandbox", "hdfs",
    "hdfs_cat", "kcm", "kdc", "mlflow_server", "parcel_tree", "sandbox", "sandbox_assets",
    "sandbox_client_env",
)  # fmt: skip
