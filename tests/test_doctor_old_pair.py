"""The MLflow/pyarrow skew rule against an environment that really has the old pair.

MLflow 2.15.1 with pyarrow 15 is the last pair on the legacy ``pyarrow.hdfs``
API (catalog C1). It installs on this Python, so it is installed for real in a
venv cached under ~/.cache/mlflow-client-env, and the doctor runs inside it.
(pyarrow 0.16.0 has no wheel for this Python: that era is tested on version
data in test_doctor_files.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sandbox.venvs import LEGACY_PAIR, ROOT, pair_venv


@pytest.fixture(scope="module")
def old_python() -> Path:
    """The legacy pair's venv, the same one the support matrix logs through (cached)."""
    return pair_venv(LEGACY_PAIR).python


def test_old_pair_really_uses_the_legacy_api(old_python: Path) -> None:
    out = subprocess.run(
        [
            str(old_python),
            "-c",
            "import mlflow, pyarrow, pyarrow.hdfs; "
            "print(mlflow.__version__, pyarrow.__version__, hasattr(pyarrow.hdfs, 'connect'))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert out.stdout.split() == ["2.15.1", "15.0.2", "True"]


def test_doctor_flags_the_deprecated_pair(old_python: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [str(old_python), "-m", "mlflow_client_env", "doctor", "--check", "versions", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=ROOT,
    )
    data = json.loads(out.stdout)
    (check,) = data["checks"]
    assert check["status"] == "warn", out.stderr
    (f,) = [f for f in check["findings"] if f["code"] == "versions.skew-deprecated"]
    assert "MLflow 2.15.1 with pyarrow 15.0.2" in f["summary"]
    assert out.returncode == 0  # a warning, not an error
    # the doctor judged the interpreter it ran in: the old MLflow's legacy HDFS API
    (ok,) = [f for f in check["findings"] if f["code"] == "versions.ok"]
    assert ok["summary"].endswith(
        "MLflow 2.15.1, pyarrow 15.0.2: HDFS through pyarrow.hdfs (legacy)"
    )

    # and the rule is not a blanket warning: this project's own pair (MLflow >= 2.16) passes it
    now = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "doctor", "--check", "versions", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    (mine,) = json.loads(now.stdout)["checks"]
    codes = [f["code"] for f in mine["findings"]]
    assert mine["status"] == "ok" and "versions.skew-deprecated" not in codes, now.stdout
    assert now.returncode == 0
