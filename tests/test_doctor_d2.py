"""Catalog D2 for real: MLflow's own HDFS artifact repository with MLFLOW_KERBEROS_USER and
no MLFLOW_KERBEROS_TICKET_CACHE, against the sandbox's Kerberized HDFS.

MLflow's HdfsArtifactRepository passes pyarrow ``user=`` (MLFLOW_KERBEROS_USER) and
``kerb_ticket=`` (MLFLOW_KERBEROS_TICKET_CACHE). With the user name alone libhdfs makes a
SIMPLE "remote user" and the NameNode refuses it: "Client cannot authenticate
via:[TOKEN, KERBEROS]", though alice holds a valid ticket in KRB5CCNAME's cache. The
repository is MLflow's own: MLFLOW_CLIENT_ENV_HDFS_CLIENT=jvm makes this package's
``hdfs`` entry point hand it back (the native repository would replace it otherwise).

The doctor's kerberos check says so before the upload (kerberos.user-without-ticket-cache,
error); with the variables ``mlflow-client-env env`` exports (MLFLOW_KERBEROS_TICKET_CACHE
among them) the same upload, user name still set, works and Java reads the file back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from mlflow_client_env_sandbox import Kdc, Sandbox
from mlflow_client_env_sandbox.procs import pdeathsig_preexec
from tests.helpers_cli import doctor_check
from tests.sandbox.fixtures import HdfsControl
from tests.sandbox.helpers import base_env

D2 = "kerberos.user-without-ticket-cache"

#: MLflow's repository for the URI (argv[1]) uploads one file; prints what happened
UPLOAD = r"""
import json, os, sys, tempfile
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
repo = get_artifact_repository(sys.argv[1])
kind = f"{type(repo).__module__}.{type(repo).__name__}"
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "model.txt")
    with open(path, "w") as f:
        f.write("d2 payload")
    try:
        repo.log_artifact(path)
        names = [a.path for a in repo.list_artifacts()]
        out = {"ok": True, "repo": kind, "listed": names}
    except Exception as exc:
        out = {"ok": False, "repo": kind, "error": f"{type(exc).__name__}: {exc}"}
print(json.dumps(out), flush=True)
"""


def run(
    args: list[str], env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout,
        preexec_fn=pdeathsig_preexec(),
    )  # fmt: skip


def upload(env: dict[str, str], uri: str) -> tuple[dict[str, Any], str]:
    proc = run(["-c", UPLOAD, uri], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_d2_user_name_without_the_cache_fails_and_envs_variables_fix_it(
    sandbox: Sandbox, kdc: Kdc, hdfs: HdfsControl, tmp_path: Path
) -> None:
    sandbox.ensure_parcel()
    cc = tmp_path / "krb5cc_alice"
    kdc.kinit("alice", cc, lifetime="10h")
    shell = {
        **base_env(),
        **{k: v for k, v in sandbox.env().items() if k != "MLFLOW_TRACKING_URI"},
        "KRB5CCNAME": f"FILE:{cc}",
        "MLFLOW_CLIENT_ENV_CONFIG": str(tmp_path / "user.toml"),
        "MLFLOW_CLIENT_ENV_SITE_CONFIG": str(tmp_path / "site.toml"),
        "MLFLOW_CLIENT_ENV_CACHE": str(tmp_path / "cache"),
        "MLFLOW_CLIENT_ENV_HDFS_CLIENT": "jvm",  # MLflow's own repository
        "MLFLOW_KERBEROS_USER": "alice",
    }
    proc = run(["-m", "mlflow_client_env", "env", "--json"], shell, 60)
    assert proc.returncode == 0, proc.stderr
    exported = json.loads(proc.stdout)
    # env exports the cache (alice's FILE cache, which Java can read)
    assert exported["MLFLOW_KERBEROS_TICKET_CACHE"] == str(cc)
    fixed = {**shell, **exported}
    # the user's environment: every Hadoop variable in place, the cache variable not
    broken = {k: v for k, v in fixed.items() if k != "MLFLOW_KERBEROS_TICKET_CACHE"}

    # the doctor, before the upload
    code, found = doctor_check("kerberos", broken)
    d2 = found[D2]
    assert code == 1 and d2["status"] == "error", found
    assert "(catalog D2)" in d2["summary"] and "MLFLOW_KERBEROS_USER=alice" in d2["summary"]
    assert "Client cannot authenticate via:[TOKEN, KERBEROS]" in d2["summary"]
    assert d2["fix"].startswith("unset MLFLOW_KERBEROS_USER")
    assert "MLFLOW_KERBEROS_TICKET_CACHE" in d2["fix"]
    assert found["kerberos.valid"]["status"] == "ok", found  # the ticket itself is fine

    # what the user would have hit: MLflow's own repository, a SIMPLE login
    folder = f"{hdfs.namenode_uri}/tmp/d2-{uuid.uuid4().hex}"
    res, err = upload(broken, folder)
    assert res["repo"] == "mlflow.store.artifact.hdfs_artifact_repo.HdfsArtifactRepository"
    assert res["ok"] is False, res
    assert "Client cannot authenticate via:[TOKEN, KERBEROS]" in err, err[-3000:]

    # with env's variables, user name still set: the doctor is quiet and the upload works
    code, found = doctor_check("kerberos", fixed)
    assert D2 not in found, found
    res, err = upload(fixed, folder)
    assert res == {"ok": True, "repo": res["repo"], "listed": ["model.txt"]}, err[-3000:]
    back = hdfs.fs("-cat", f"{folder}/model.txt", ccache=cc)
    assert back.returncode == 0 and back.stdout == "d2 payload", back.stderr[-2000:]
