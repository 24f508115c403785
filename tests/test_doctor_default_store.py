"""Without a tracking URI the doctor names the store the installed MLflow would really use
(issue 11): ``sqlite:///mlflow.db`` for MLflow >= 3.7, ``./mlruns`` before.

The doctor runs in the user's interpreter, so it is run in two real ones: this project's
venv (MLflow 3.x) and the cached venv with MLflow 2.15.1 (``test_doctor_old_pair``). Each
time its answer is checked against what that MLflow itself resolves in the same folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers_cli import run_cli
from tests.test_doctor_old_pair import old_python  # noqa: F401  (the cached 2.15.1 venv)

ROOT = Path(__file__).resolve().parent.parent


def mlflow_says(python: Path | str, cwd: Path, env: dict[str, str]) -> tuple[str, str]:
    """(MLflow's version, the tracking URI it resolves with none set), in ``cwd``."""
    out = subprocess.run(
        [str(python), "-c", "import mlflow; print(mlflow.__version__, mlflow.get_tracking_uri())"],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=True,
    )
    version, uri = out.stdout.split()
    return version, uri


def doctor_unset(python: Path | str, cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    out = run_cli(
        "doctor",
        "--check",
        "tracking-server",
        "--json",
        env={**env, "PYTHONPATH": str(ROOT)},  # this checkout, in that interpreter
        python=python,
        cwd=cwd,
        timeout=300,
    )
    (check,) = json.loads(out.stdout)["checks"]
    (f,) = check["findings"]
    assert f["code"] == "tracking-server.unset", out.stdout
    assert f["status"] == "warn" and out.returncode == 0
    assert "--tracking-uri" in f["fix"], f  # the command line's words
    return f


def clean(env: dict[str, str]) -> dict[str, str]:
    assert "MLFLOW_TRACKING_URI" not in env
    return env


def test_mlflow_3_logs_to_sqlite(clean_env: dict[str, str], tmp_path: Path) -> None:
    env = clean(clean_env)
    version, uri = mlflow_says(sys.executable, tmp_path, env)
    assert tuple(int(n) for n in version.split(".")[:2]) >= (3, 7), version
    assert uri == f"sqlite:///{tmp_path}/mlflow.db"  # what MLflow itself does here
    f = doctor_unset(sys.executable, tmp_path, env)
    summary = f["summary"]
    assert f"MLflow {version} would log to sqlite:///mlflow.db in the current folder" in summary
    assert "log to ./mlruns" not in summary
    assert any("mlflow/store/tracking/__init__.py" in e for e in f["evidence"])  # MLflow's own


def test_the_store_is_read_without_importing_mlflow() -> None:
    code = (
        "import sys; from mlflow_client_env.doctor.remote import mlflow_default_store; "
        "d = mlflow_default_store(); print(d.store, 'mlflow' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    )
    assert out.stdout.split() == ["sqlite:///mlflow.db", "False"]


def test_mlflow_2_logs_to_mlruns(
    old_python: Path,  # noqa: F811
    clean_env: dict[str, str],
    tmp_path: Path,
) -> None:
    env = clean(clean_env)
    version, uri = mlflow_says(old_python, tmp_path, env)
    assert version == "2.15.1"
    assert uri == f"file://{tmp_path}/mlruns"  # what MLflow 2.15.1 itself does here
    f = doctor_unset(old_python, tmp_path, env)
    summary = f["summary"]
    assert "MLflow 2.15.1 would log to ./mlruns in the current folder" in summary
    assert "sqlite" not in summary
    assert not (tmp_path / "mlruns").exists() and os.listdir(tmp_path) == []  # only read
