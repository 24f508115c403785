"""The orchestrator: KDC, HDFS, MLflow server and the parcel tree in one state dir.

Components start lazily (``ensure_kdc``/``ensure_hdfs``/``ensure_mlflow``) so a
test session pays only for what it uses. ``up`` starts the MLflow server
first without waiting (it never touches HDFS and is the slowest part), then
the KDC and HDFS, then waits for MLflow. All spawns happen on the calling
(main) thread, which PR_SET_PDEATHSIG requires.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mlflow_client_env.redact import redact

from .errors import SandboxError, SandboxRunningError, disk_full_guard
from .hdfs import DEFAULT_DATA_PROTECTION, Hdfs, HdfsPorts, checked_data_protection
from .kdc import DEFAULT_REALM, USER_PRINCIPALS, Kdc
from .mlflow_server import MlflowServer
from .parcel import ParcelTree, build_parcel_tree
from .ports import check_port_free, free_ports
from .prepare import Assets, prepare_assets
from .procs import ManagedProcess
from .progress import say, step
from .spnego_proxy import SpnegoProxy
from .state import STATE_FILE, SandboxState, load_state

MARKER = ".mlflow-client-env-sandbox"

#: Environment variables ``env`` prints; the core library reads exactly these.
ENV_NAMES = (
    "KRB5_CONFIG", "KRB5CCNAME", "MLFLOW_CLIENT_ENV_PARCELS_ROOT", "HADOOP_CONF_DIR",
    "MLFLOW_TRACKING_URI", "JAVA_HOME",
)  # fmt: skip


def _claim_state_dir(state_dir: Path) -> None:
    """Refuse a running sandbox; wipe a dead one; never wipe a foreign directory."""
    if (state_dir / STATE_FILE).exists():
        old = load_state(state_dir)
        alive = old.alive()
        if alive:
            names = ", ".join(f"{p.name} (pid {p.pid})" for p in alive)
            raise SandboxRunningError(
                f"a sandbox is still running from {state_dir}: {names}",
                f"stop it with 'scripts/sandbox down --state-dir {state_dir}' "
                "(or use it: 'scripts/sandbox env'), or pick another --state-dir",
            )
        say(f"removing the stopped sandbox left in {state_dir}")
    if state_dir.exists() and any(state_dir.iterdir()):
        if not (state_dir / MARKER).exists():
            raise SandboxError(
                f"{state_dir} exists, is not empty and is not a sandbox state dir",
                "pass an empty or new --state-dir",
            )
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / MARKER).write_text("state dir of an mlflow-client-env sandbox\n")


class Sandbox:
    """One sandbox in ``state_dir``. Use as a context manager or call ``close()``.

    ``data_protection`` (``authentication``, ``privacy`` or ``encrypt``, see
    ``hdfs.DATA_PROTECTIONS``) sets how HDFS protects RPC and block data, in the servers'
    and the clients' configuration alike.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        detached: bool = False,
        java_home: str | os.PathLike[str] | None = None,
        mlflow_port: int | None = None,
        backend_store_uri: str | None = None,
        realm: str = DEFAULT_REALM,
        assets: Assets | None = None,
        data_protection: str = DEFAULT_DATA_PROTECTION,
    ) -> None:
        checked_data_protection(data_protection)  # before anything is touched
        self.state_dir = state_dir.absolute()
        self.detached = detached
        self.realm = realm
        with disk_full_guard(self.state_dir):
            _claim_state_dir(self.state_dir)
        self.assets = assets or prepare_assets(java_home)
        if mlflow_port is not None:
            check_port_free(mlflow_port, "MLflow tracking server")
        p = free_ports(6)
        self.kdc = Kdc(self.state_dir / "kdc", p[0], realm)
        self.hdfs = Hdfs(
            self.state_dir / "hdfs", HdfsPorts(*p[1:6]), self.kdc, self.assets.java_home,
            self.assets.jars_dir, client_conf_dir=self.state_dir / "etc" / "hadoop" / "conf",
            data_protection=data_protection,
        )  # fmt: skip
        self.mlflow = MlflowServer(
            self.state_dir / "mlflow",
            mlflow_port or free_ports(1)[0],
            f"{self.hdfs.uri}/user/alice/mlflow",
            backend_store_uri,
        )
        self.alice_ccache = self.state_dir / "krb5cc_alice"
        self.state = SandboxState(self.state_dir, detached)
        self.parcel: ParcelTree | None = None
        #: opt-in (ensure_spnego_proxy): httpd with mod_auth_gssapi in front of MLflow
        self.spnego_proxy: SpnegoProxy | None = None
        self._kdc_up = False
        self._hdfs_up = False
        self._mlflow_ready = False
        self._save()

    # -- bookkeeping -----------------------------------------------------------------
    def _processes(self) -> list[ManagedProcess]:
        procs = [self.kdc.process, self.hdfs.namenode, self.hdfs.datanode, self.mlflow.process]
        if self.spnego_proxy is not None:
            procs.append(self.spnego_proxy.process)
        return [p for p in procs if p is not None]

    def _save(self) -> None:
        self.state.processes = [p.record for p in self._processes()]
        self.state.env = self.env()
        self.state.info = {
            "realm": self.realm,
            "namenode_uri": self.hdfs.uri,
            "tracking_uri": self.mlflow.tracking_uri,
            "backend_store_uri": redact(self.mlflow.backend_store_uri),
            "artifact_root": self.mlflow.artifact_root,
            "ports": {"kdc": self.kdc.port, **vars(self.hdfs.ports), "mlflow": self.mlflow.port},
            "logs": {
                "kdc": str(self.kdc.base / "kdc.log"),
                "namenode": str(self.hdfs.base / "namenode.log"),
                "datanode": str(self.hdfs.base / "datanode.log"),
                "mlflow": str(self.mlflow.log),
            },
            "components": {"kdc": self._kdc_up, "hdfs": self._hdfs_up,
                           "mlflow": self._mlflow_ready},
        }  # fmt: skip
        if self.hdfs.data_protection != DEFAULT_DATA_PROTECTION:  # the default: as before
            self.state.info["data_protection"] = self.hdfs.data_protection
        if self.spnego_proxy is not None:
            self.state.info["spnego_proxy"] = {
                "url": self.spnego_proxy.url, "access_log": str(self.spnego_proxy.access_log),
            }  # fmt: skip
        with disk_full_guard(self.state_dir):
            self.state.save()

    def env(self) -> dict[str, str]:
        """What a shell (and the core library) needs to use this sandbox."""
        return {
            "KRB5_CONFIG": str(self.kdc.krb5_conf),
            "KRB5CCNAME": f"FILE:{self.alice_ccache}",
            "MLFLOW_CLIENT_ENV_PARCELS_ROOT": str(self.state_dir / "parcels"),
            "HADOOP_CONF_DIR": str(self.hdfs.client_conf_dir),
            "MLFLOW_TRACKING_URI": self.mlflow.tracking_uri,
            "JAVA_HOME": str(self.assets.java_home),
        }

    # -- components -----------------------------------------------------------------
    def ensure_parcel(self) -> ParcelTree:
        if self.parcel is None:
            with disk_full_guard(self.state_dir):
                self.parcel = build_parcel_tree(
                    self.state_dir, jars_dir=self.assets.jars_dir,
                    libhdfs_so=self.assets.libhdfs_so, java_home=self.assets.java_home,
                    krb5_conf=self.kdc.krb5_conf, realm=self.realm, nn_port=self.hdfs.ports.nn_rpc,
                )  # fmt: skip
                if self.hdfs.data_protection != DEFAULT_DATA_PROTECTION:
                    # the parcel's client configuration has the default protection
                    self.hdfs.write_client_conf(self.parcel.conf_dir)
        return self.parcel

    def ensure_kdc(self) -> Kdc:
        if not self._kdc_up:
            with step(f"starting the KDC (realm {self.realm}, port {self.kdc.port})"):
                self.kdc.create()
                self.kdc.start(detached=self.detached)
                self._save()
                self.kdc.add_principals({u: self.kdc.keytab_path(u) for u in USER_PRINCIPALS})
            self._kdc_up = True
            self._save()
        return self.kdc

    def ensure_hdfs(self) -> Hdfs:
        if not self._hdfs_up:
            self.ensure_kdc()
            self.ensure_parcel()
            with step(f"starting Kerberized HDFS ({self.hdfs.uri})"):
                self.hdfs.configure()
                self.hdfs.format()
                self.hdfs.start_namenode(detached=self.detached)
                self.hdfs.start_datanode(detached=self.detached)
                self._save()
                self.hdfs.wait_ready()
                self.hdfs.create_home_dirs(USER_PRINCIPALS)
            self._hdfs_up = True
            self._save()
        return self.hdfs

    def start_mlflow(self) -> None:
        """Spawn the MLflow server without waiting for it."""
        if self.mlflow.process is None:
            say(f"starting the MLflow server on {self.mlflow.tracking_uri} (in the background)")
            self.mlflow.start(detached=self.detached)
            self._save()

    def ensure_mlflow(self) -> MlflowServer:
        if not self._mlflow_ready:
            self.start_mlflow()
            with step("waiting for the MLflow server"):
                self.mlflow.wait_ready()
            self._mlflow_ready = True
            self._save()
        return self.mlflow

    def ensure_spnego_proxy(self) -> SpnegoProxy:
        """Apache httpd with mod_auth_gssapi (HTTP/localhost) in front of the MLflow server
        (started first); clients use ``spnego_proxy.url``. Stopped by ``close()``."""
        if self.spnego_proxy is None:
            self.ensure_kdc()
            self.ensure_mlflow()
            proxy = SpnegoProxy(self.kdc, self.mlflow.tracking_uri, self.state_dir / "spnego-proxy")
            with step(f"starting the SPNEGO proxy (httpd, mod_auth_gssapi) on {proxy.url}"):
                proxy.start()  # stops what it started when it fails
            self.spnego_proxy = proxy
            self._save()
        return self.spnego_proxy

    def kinit_alice(self, lifetime: str = "10h", renewable: str | None = "7d") -> Path:
        self.ensure_kdc()
        self.kdc.kinit("alice", self.alice_ccache, lifetime=lifetime, renewable=renewable)
        return self.alice_ccache

    def up(self, with_mlflow: bool = True) -> None:
        """Start everything; on any failure stop what started and re-raise."""
        try:
            if with_mlflow:
                self.start_mlflow()
            self.ensure_hdfs()
            self.kinit_alice()
            if with_mlflow:
                self.ensure_mlflow()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop every process by PID (SPNEGO proxy, MLflow, DataNode, NameNode, KDC)."""
        if self.spnego_proxy is not None:
            self.spnego_proxy.stop()
            self.spnego_proxy = None
        self.mlflow.stop()
        self.hdfs.stop_datanode()
        self.hdfs.stop_namenode()
        self.kdc.stop()
        self._kdc_up = self._hdfs_up = self._mlflow_ready = False
        if (self.state_dir / STATE_FILE).exists():
            self._save()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def down(state_dir: Path) -> list[str]:
    """Stop the processes recorded in ``state_dir``; returns what was stopped."""
    from .procs import stop_record

    state = load_state(state_dir)
    stopped = []
    for rec in reversed(state.processes):
        if stop_record(rec):
            stopped.append(f"{rec.name} (pid {rec.pid})")
    return stopped
