"""``mlflow server`` as our users run it: SQL backend, artifacts on HDFS, not proxied.

The backend store URI goes to the server through MLFLOW_BACKEND_STORE_URI, so a
password in it appears neither in ``ps`` nor in the state file.
``--no-serve-artifacts`` with an ``hdfs://`` default artifact root makes the
*client* write artifacts through libhdfs, as in our users' deployments. The
server never touches HDFS, so it can start in parallel with HDFS (its ~20 s
start on 2 cores is the slow part of the sandbox). ``--workers 1`` keeps it
to one uvicorn process; job execution is off so no huey consumers are spawned.
The mlflow CLI forwards SIGTERM to its uvicorn child, so attached servers die
with SIGTERM (not SIGKILL) when the test process dies.
"""

from __future__ import annotations

import os
import signal
import sys
import urllib.request
from pathlib import Path

from mlflow_client_env.redact import redact

from .errors import PortInUseError, ServerStartError
from .ports import HOST, check_port_free
from .procs import ManagedProcess, log_tail, spawn, wait_until


class MlflowServer:
    """One ``mlflow server`` process with its sqlite store in ``base``."""

    def __init__(
        self,
        base: Path,
        port: int,
        artifact_root: str,
        backend_store_uri: str | None = None,
    ) -> None:
        self.base = base
        self.port = port
        self.artifact_root = artifact_root
        self.backend_store_uri = backend_store_uri or f"sqlite:///{base / 'mlflow.db'}"
        self.log = base / "mlflow-server.log"
        self.process: ManagedProcess | None = None

    @property
    def tracking_uri(self) -> str:
        return f"http://{HOST}:{self.port}"

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "mlflow", "server",
            "--host", HOST, "--port", str(self.port), "--workers", "1",
            "--default-artifact-root", self.artifact_root,
            "--no-serve-artifacts",
        ]  # fmt: skip

    def start(self, detached: bool = False) -> ManagedProcess:
        """Spawn the server and return at once; call wait_ready() later."""
        check_port_free(self.port, "MLflow tracking server")
        self.base.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        # through the environment, not argv: a password in the URI must not reach
        # 'ps' or the sandbox's state file (which records each server's argv)
        env["MLFLOW_BACKEND_STORE_URI"] = self.backend_store_uri
        self.process = spawn(
            "mlflow-server", self.argv(), env=env, log=self.log, cwd=self.base,
            detached=detached, pdeathsig=signal.SIGTERM,
        )  # fmt: skip
        return self.process

    def is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.tracking_uri}/health", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def wait_ready(self, timeout: float = 120.0) -> None:
        if self.process is None:
            raise ServerStartError("the MLflow server was not started", "call start() first")
        try:
            wait_until(
                self.is_ready, what=f"the MLflow server on {self.tracking_uri}/health",
                timeout=timeout, procs=[self.process], interval=0.25,
                fix=f"read {self.log}; check --backend-store-uri {redact(self.backend_store_uri)}",
            )  # fmt: skip
        except ServerStartError as exc:
            if "address already in use" in log_tail(self.log, 100).lower():
                raise PortInUseError(
                    f"the MLflow server could not bind port {self.port}:\n{log_tail(self.log)}",
                    "free the port or pass another --mlflow-port",
                ) from exc
            raise

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=15)
            self.process = None
