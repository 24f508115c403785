"""Catalog A6 and C2 reproduced in real venvs, and the doctor's versions rule for both.

What MLflow's HDFS artifact repository calls was read from MLflow's own wheels: 1.8.0
passes ``driver=`` to ``pyarrow.hdfs.connect``, 1.9.0 does not (PR #2743); 1.9 to 2.15
call ``pyarrow.hdfs.connect`` (from 2.8 behind an inverted version test, so any
pyarrow >= 2 takes the legacy call); 2.16 switched to ``pyarrow.fs.HadoopFileSystem``.
pyarrow dropped ``driver=`` in 0.17 and ``pyarrow.hdfs`` itself in 16.

A6: MLflow 1.8.0 is a pure-Python wheel, but its pins (sqlalchemy<=1.3.13, ...) have no
wheels for this Python, so it is installed with ``--no-deps`` over recent versions of
what its import needs, next to pyarrow 15.0.2 (the last pyarrow that has
``pyarrow.hdfs``). The HDFS code path that fails is MLflow's own, unchanged: its
``log_artifact`` raises the TypeError before any connection is made.

C2: mlflow-skinny 2.15.1 with pyarrow 16.0.0, which pip installs together without a
complaint (mlflow-skinny declares no pyarrow). ``log_artifact`` raises the
AttributeError, again before any connection.

Both venvs are cached under ~/.cache/mlflow-client-env/venvs (tests/sandbox/venvs.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env.doctor.versions import version_findings
from tests.sandbox.venvs import (
    C2_BROKEN_PAIR,
    LEGACY_PAIR,
    cached_venv,
    pair_venv,
    project_dependencies,
)
from tests.test_doctor_versions_real import doctor_versions as real_doctor_versions

#: What ``import mlflow`` 1.8.0 needs, in versions that have wheels for this Python
#: (protobuf 3.20: MLflow 1.8's generated code predates protobuf 4).
MLFLOW_18_IMPORTS = (
    "pyarrow==15.0.2",
    "numpy<2",
    "pandas<2.2",
    "protobuf==3.20.3",
    "requests",
    "entrypoints",
    "six",
    "pyyaml",
    "sqlparse",
    "databricks-cli",
    "docker",
    "click",
)

#: Run once after the install: MLflow 1.8.0 itself, without its unsatisfiable pins.
INSTALL_MLFLOW_18 = """
import subprocess, sys, importlib.metadata as md
subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
                "--no-deps", "mlflow==1.8.0"], check=True)
import mlflow, pyarrow
assert (mlflow.__version__, pyarrow.__version__) == ("1.8.0", "15.0.2")
"""

#: MLflow's own HDFS artifact repository logs one file to an address where nothing listens:
#: the failure of interest comes before any connection. Prints the exception as JSON.
LOG_ONE_ARTIFACT = """
import json, sys, tempfile, warnings
warnings.simplefilter("ignore")  # the legacy API's FutureWarning is C1, not the point here
import mlflow, pyarrow
from mlflow.store.artifact.hdfs_artifact_repo import HdfsArtifactRepository
with tempfile.NamedTemporaryFile(suffix=".txt") as f:
    f.write(b"x"); f.flush()
    try:
        HdfsArtifactRepository("hdfs://127.0.0.1:1/tmp/mce-a6-c2").log_artifact(f.name)
    except Exception as exc:
        out = {"type": type(exc).__name__, "message": str(exc)}
    else:
        out = {"type": None, "message": ""}
out["versions"] = [mlflow.__version__, pyarrow.__version__]
out["has_hdfs"] = hasattr(pyarrow, "hdfs")
print(json.dumps(out))
"""


def a6_python() -> Path:
    return cached_venv(
        "a6-mlflow-1.8.0-no-deps+pyarrow-15.0.2",
        [*MLFLOW_18_IMPORTS, *project_dependencies()],
        check=INSTALL_MLFLOW_18,
    ).python


def log_one_artifact(python: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [str(python), "-c", LOG_ONE_ARTIFACT], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def doctor_versions(python: Path) -> tuple[int, dict[str, Any], str]:
    """``doctor --check versions --json`` run by ``python``, never with a traceback."""
    rc, check, err = real_doctor_versions(python)
    assert "Traceback" not in err, err
    return rc, check, err


def by_code(check: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["code"]: f for f in check["findings"]}


# --------------------------------------------------------------------------- A6
def test_a6_mlflow_1_8_with_pyarrow_15_fails_on_driver_for_real() -> None:
    got = log_one_artifact(a6_python())
    assert got["versions"] == ["1.8.0", "15.0.2"] and got["has_hdfs"] is True
    assert got["type"] == "TypeError", got
    assert got["message"] == "connect() got an unexpected keyword argument 'driver'"


def test_a6_the_doctor_reports_it_from_the_installed_metadata() -> None:
    rc, check, err = doctor_versions(a6_python())
    found = by_code(check)
    assert "versions.driver-arg" in found, (check, err)
    f = found["versions.driver-arg"]
    assert f["status"] == "error"
    assert f["summary"].startswith("MLflow 1.8.0 passes driver= to pyarrow.hdfs.connect")
    assert "(A6)" in f["summary"] and "unexpected keyword argument 'driver'" in f["summary"]
    assert "upgrade MLflow" in f["fix"]
    # not mistaken for the mere deprecation of C1, which the old rule reported here
    assert "versions.skew-deprecated" not in found and "versions.ok" not in found
    assert check["status"] == "error" and rc == 1


# --------------------------------------------------------------------------- C2
def test_c2_mlflow_2_15_with_pyarrow_16_has_no_pyarrow_hdfs_for_real() -> None:
    got = log_one_artifact(pair_venv(C2_BROKEN_PAIR).python)
    assert got["versions"] == ["2.15.1", "16.0.0"] and got["has_hdfs"] is False
    assert got["type"] == "AttributeError", got
    assert got["message"] == "module 'pyarrow' has no attribute 'hdfs'"


def test_c2_pyarrow_15_is_the_last_with_pyarrow_hdfs() -> None:
    """The control: the same MLflow with pyarrow 15.0.2 gets past the attribute (and then
    fails to connect to the closed port, which is a connection error, not C2)."""
    got = log_one_artifact(pair_venv(LEGACY_PAIR).python)
    assert got["versions"] == ["2.15.1", "15.0.2"] and got["has_hdfs"] is True
    assert got["type"] != "AttributeError", got


def test_c2_the_doctor_reports_it_from_the_installed_metadata() -> None:
    rc, check, err = doctor_versions(pair_venv(C2_BROKEN_PAIR).python)
    found = by_code(check)
    assert "versions.skew-broken" in found, (check, err)
    f = found["versions.skew-broken"]
    assert f["status"] == "error"
    assert f["summary"].startswith("MLflow 2.15.1 calls pyarrow.hdfs, which pyarrow 16.0.0")
    assert "(C2)" in f["summary"]
    assert f["fix"] == "upgrade MLflow to >= 2.16, or pin 'pyarrow<16'"
    assert check["status"] == "error" and rc == 1


# --------------------------------------------------------------------------- the matrix
#: (mlflow, pyarrow) -> the rule's finding, from MLflow's and pyarrow's source history (see
#: the module docstring). The pairs without a wheel for this Python are checked on version
#: data only; the two reproduced above are in the table too.
MATRIX = [
    # pyarrow < 1 is also the 1.x-era pin that has no wheel for current Pythons (legacy-pin)
    ("1.8.0", "0.16.0", ("versions.legacy-pin",)),  # works with MLflow 1.8
    ("1.8.0", "0.17.0", ("versions.legacy-pin", "versions.driver-arg")),
    ("1.8.0", "1.0.1", ("versions.driver-arg",)),
    ("1.8.0", "2.0.0", ("versions.driver-arg",)),  # was reported as C1's deprecation only
    ("1.8.0", "15.0.2", ("versions.driver-arg",)),  # reproduced above
    ("1.8.0", "16.0.0", ("versions.skew-broken",)),  # AttributeError first (C2)
    ("1.9.0", "0.17.0", ("versions.legacy-pin",)),
    ("1.9.0", "1.0.1", ()),
    ("1.9.0", "15.0.2", ("versions.skew-deprecated",)),
    ("1.9.0", "16.0.0", ("versions.skew-broken",)),
    ("2.15.1", "15.0.2", ("versions.skew-deprecated",)),
    ("2.15.1", "16.0.0", ("versions.skew-broken",)),  # reproduced above
    ("2.16.0", "10.0.1", ()),
    ("2.16.0", "16.0.0", ()),
]
RULE_CODES = {
    "versions.legacy-pin",
    "versions.driver-arg",
    "versions.skew-broken",
    "versions.skew-deprecated",
}


@pytest.mark.parametrize(("mlflow", "pyarrow", "codes"), MATRIX)
def test_the_rule_over_the_matrix(mlflow: str, pyarrow: str, codes: tuple[str, ...]) -> None:
    findings = version_findings(mlflow, pyarrow, True)
    assert tuple(f.code for f in findings if f.code in RULE_CODES) == codes, findings


def test_mlflow_before_1_9_with_pyarrow_16_is_told_to_upgrade_not_to_pin() -> None:
    """Pinning pyarrow < 16 would only trade C2 for A6 there."""
    (f,) = [f for f in version_findings("1.8.0", "16.0.0", True) if f.status == "error"]
    assert "(C2)" in f.summary and "(A6)" in f.summary
    assert f.fix is not None and "pin" not in f.fix.split("(")[0]
