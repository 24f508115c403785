"""The quickstart notebook end to end, through a launcher kernel, against the real sandbox.

Kerberized HDFS + MLflow server (artifacts not proxied: the kernel itself writes
to HDFS through pyarrow -> libhdfs -> JVM). The bytes are read back by Java's
FsShell in a separate process, and the run is checked through MLflow's REST API.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Jupyter
from tests.sandbox.fixtures import Cluster, hdfs_cat
from tests.sandbox.helpers import ClientEnv
from tests.test_kernel import run_cell, run_cli, running_kernel

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
pytestmark = pytest.mark.sandbox


@pytest.fixture
def sandbox_jupyter(
    jupyter: Jupyter, monkeypatch: pytest.MonkeyPatch, client_env: ClientEnv
) -> Jupyter:
    """Private Jupyter dirs (``jupyter``), and the client's environment as the server's."""
    for key, value in client_env.env.items():
        monkeypatch.setenv(key, value)
    return jupyter


def install(j: Jupyter, client_env: ClientEnv) -> None:
    rc = run_cli(
        [
            "install-kernel",
            "--prefix",
            str(j.prefix),
            "--tracking-uri",
            client_env.tracking_uri,
            "--experiment",
            "test_mlflow",
        ]
    )
    assert rc == 0


def outputs_text(nb: Any) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.extend(str(v) for v in out.get("data", {}).values())
    return "\n".join(parts)


def test_quickstart_notebook_logs_to_kerberized_hdfs(
    sandbox_jupyter: Jupyter, client_env: ClientEnv, cluster: Cluster, tmp_path: Path
) -> None:
    import nbformat
    from nbclient import NotebookClient

    install(sandbox_jupyter, client_env)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, kernel_name="mlflow", timeout=600, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell's output, on failure
    text = outputs_text(nb)
    run_id = re.search(r"run id: ([0-9a-f]{32})", text)
    assert run_id, text
    artifact_uri = re.search(r"artifact URI: (\S+)", text)
    assert artifact_uri and artifact_uri.group(1).startswith("hdfs://"), text
    assert "artifact: config.yaml" in text

    from mlflow.tracking import MlflowClient  # REST only: no HDFS access from this process

    run = MlflowClient(client_env.tracking_uri).get_run(run_id.group(1))
    assert run.data.params == {"param_1": "1"}
    assert run.data.metrics == {"my_metric": 1.0}
    assert run.info.status == "FINISHED"

    # the bytes are on the Kerberized HDFS, read back by another process (Java FsShell)
    content = hdfs_cat(cluster.hdfs, artifact_uri.group(1) + "/config.yaml", client_env.ccache)
    assert content == "model: quickstart\nparam_1: 1\n"


def test_destroyed_ticket_first_cell_shows_our_message(
    sandbox_jupyter: Jupyter, client_env: ClientEnv
) -> None:
    import nbformat

    install(sandbox_jupyter, client_env)
    client_env.ccache.unlink()  # kdestroy
    first_cell = next(
        c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"
    )
    with running_kernel("mlflow") as kc:
        out = run_cell(kc, first_cell)
    shown = out.stderr + (out.result or "")
    assert "no Kerberos ticket" in shown and str(client_env.ccache) in shown
    assert "kinit" in shown
    assert out.error is None
    assert "Traceback" not in shown and "GSSException" not in shown


def test_expired_ticket_first_cell_says_expired(
    sandbox_jupyter: Jupyter, client_env: ClientEnv, cluster: Cluster
) -> None:
    """A real 2-second ticket from the KDC, expired before the kernel starts."""
    import time

    cluster.kdc.kinit("alice", client_env.ccache, lifetime="2s")
    time.sleep(3)
    install(sandbox_jupyter, client_env)
    with running_kernel("mlflow") as kc:
        out = run_cell(kc, "1 + 1")
    assert "expired at" in out.stderr and str(client_env.ccache) in out.stderr
    assert "kinit" in out.stderr and out.error is None
