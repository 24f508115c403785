"""The tracking server as our users run it: PostgreSQL metadata, artifacts on Kerberized HDFS.

A real PostgreSQL 15 backs a second ``mlflow server`` (the sandbox's own class,
``--backend-store-uri``), next to the session's KDC and HDFS. The client logs a
run through ``setup()``; the run is then found in PostgreSQL's own tables, and
the artifact's bytes on HDFS.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlflow_client_env_sandbox.cluster import Sandbox
from mlflow_client_env_sandbox.mlflow_server import MlflowServer
from mlflow_client_env_sandbox.ports import free_port
from mlflow_client_env_sandbox.prepare import Assets
from mlflow_client_env_sandbox.state import STATE_FILE
from tests.sandbox.fixtures import Cluster, hdfs_cat
from tests.sandbox.helpers import ClientEnv, base_env
from tests.sandbox.postgres import Postgres

CLIENT = """
import json, sys, tempfile, pathlib
import mlflow_client_env
mlflow_client_env.setup(tracking_uri=sys.argv[1], experiment=sys.argv[2])
import mlflow
with mlflow.start_run(run_name="pg_run") as run:
    mlflow.log_param("param_1", 1)
    mlflow.log_metric("my_metric", 1)
    cfg = pathlib.Path(tempfile.mkdtemp()) / "config.yaml"
    cfg.write_text("backend: postgresql\\n")
    mlflow.log_artifact(str(cfg))
print(json.dumps({"run_id": run.info.run_id, "artifact_uri": run.info.artifact_uri}))
"""


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    # not under pytest's tmp dirs: those are 0700 root, and PostgreSQL runs as 'postgres'
    base = Path(tempfile.mkdtemp(prefix="mce-postgres-"))
    base.chmod(0o755)  # mkdtemp makes it 0700
    pg = Postgres(base / "pg")
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_mlflow_on_postgres_with_artifacts_on_hdfs(
    postgres: Postgres, cluster: Cluster, client_env: ClientEnv, tmp_path: Path
) -> None:
    root = f"{cluster.hdfs.namenode_uri}/user/alice/mlflow-pg-{uuid.uuid4().hex[:8]}"
    server = MlflowServer(tmp_path / "mlflow-pg", free_port(), root, postgres.uri)
    server.start()
    try:
        server.wait_ready()
        env = {**base_env(), **client_env.env}
        out = subprocess.run(
            [sys.executable, "-c", CLIENT, server.tracking_uri, "on_postgres"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        got = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        server.stop()
    run_id, artifact_uri = got["run_id"], got["artifact_uri"]
    assert artifact_uri.startswith(root)
    # the metadata is in PostgreSQL's tables, not in a sqlite file
    assert postgres.psql(f"SELECT name FROM runs WHERE run_uuid = '{run_id}'", "mlflow") == "pg_run"
    assert postgres.psql(f"SELECT value FROM params WHERE run_uuid = '{run_id}'", "mlflow") == "1"
    assert not (tmp_path / "mlflow-pg" / "mlflow.db").exists()
    # the server got its URI through the environment: not in its argv (ps, state files)
    assert not any("postgresql" in a for a in server.argv())
    # and the artifact's bytes are on the Kerberized HDFS
    assert (
        hdfs_cat(cluster.hdfs, f"{artifact_uri}/config.yaml", client_env.ccache)
        == "backend: postgresql\n"
    )


def test_state_file_never_holds_the_backend_password(
    tmp_path: Path, sandbox_assets: Assets
) -> None:
    """A password in --backend-store-uri must not be written to the sandbox's state file."""
    secret = "postgresql+psycopg2://bob:s3cret@127.0.0.1:1/mlflow"
    sb = Sandbox(tmp_path / "state", backend_store_uri=secret, assets=sandbox_assets)
    try:
        text = (tmp_path / "state" / STATE_FILE).read_text()
        assert "s3cret" not in text
        assert "***@127.0.0.1:1/mlflow" in text
    finally:
        sb.close()
