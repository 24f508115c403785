"""The doctor's versions check against installs that really have the faults (catalog A5, C3).

A5: a pyarrow whose HDFS extension (``pyarrow/_hdfs.*.so``) is missing, the way a build
without ``ARROW_HDFS`` ships. The PyPI wheel always has it, so a venv of its own (its own
cache key, never a shared pair venv) gets the wheel and then loses the file; the build
check proves the fault is real: ``pyarrow.fs.HadoopFileSystem`` raises pyarrow's own
"not built with support for 'HadoopFileSystem'" ImportError.

C3: the full ``mlflow`` distribution declares a pyarrow range (2.16.2: ``pyarrow<18``);
pyarrow 18 is forced over it with ``pip install --no-deps``, as users do by hand or by
mixing installers. pip itself then reports the conflict (``pip check``), and the doctor
must say so too, from the installed metadata. (mlflow-skinny declares no pyarrow, so a
skinny venv gives no range and no finding: the shared pair venv shows that.)

Both venvs are cached under ~/.cache/mlflow-client-env/venvs (tests/sandbox/venvs.py);
the full MLflow takes about a minute to install the first time.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.sandbox.venvs import (
    CURRENT_PAIR,
    NEWEST_PYARROW_PAIR,
    ROOT,
    cached_venv,
    pair_venv,
    project_dependencies,
)

#: Run in the A5 venv once after the install: remove the HDFS extension, prove the fault.
DROP_HDFS = """
import pathlib, importlib.util
pkg = pathlib.Path(importlib.util.find_spec("pyarrow").submodule_search_locations[0])
(ext,) = pkg.glob("_hdfs.*.so")
ext.unlink()
import pyarrow.fs
try:
    pyarrow.fs.HadoopFileSystem
except ImportError as exc:
    assert "not built with support for 'HadoopFileSystem'" in str(exc), exc
else:
    raise SystemExit("pyarrow.fs.HadoopFileSystem still imports")
"""

#: Run in the C3 venv after the install: force pyarrow 18 over mlflow 2.16.2's pyarrow<18.
FORCE_PYARROW_18 = """
import subprocess, sys, importlib.metadata as md
subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
                "--no-deps", "--only-binary=pyarrow", "pyarrow==18.1.0"], check=True)
reqs = [r for r in md.requires("mlflow") if r.startswith("pyarrow")]
assert reqs and "<18" in reqs[0], reqs
assert md.version("pyarrow") == "18.1.0", md.version("pyarrow")
"""


def a5_python() -> Path:
    return cached_venv(
        "a5-pyarrow-without-hdfs+mlflow-skinny-3.17.2+pyarrow-25.0.1",
        ["mlflow-skinny==3.17.2", "pyarrow==25.0.1", *project_dependencies()],
        check=DROP_HDFS,
    ).python


def c3_python() -> Path:
    return cached_venv(
        "c3-mlflow-2.16.2-full+pyarrow-18.1.0-no-deps",
        ["mlflow==2.16.2", *project_dependencies()],
        check=FORCE_PYARROW_18,
    ).python


def doctor_versions(python: Path) -> tuple[int, dict[str, Any], str]:
    """``doctor --check versions --json`` run by ``python``, with this repo on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [str(python), "-m", "mlflow_client_env", "doctor", "--check", "versions", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=ROOT,
    )
    (check,) = json.loads(proc.stdout)["checks"]
    return proc.returncode, check, proc.stderr


def by_code(check: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["code"]: f for f in check["findings"]}


def test_a5_pyarrow_without_its_hdfs_extension_is_an_error() -> None:
    rc, check, err = doctor_versions(a5_python())
    found = by_code(check)
    assert "versions.pyarrow-no-hdfs" in found, (check, err)
    f = found["versions.pyarrow-no-hdfs"]
    assert f["status"] == "error"
    assert f["summary"].startswith("pyarrow 25.0.1 was built without HDFS support")
    assert check["status"] == "error" and "versions.ok" not in found
    assert rc != 0


def test_a5_the_same_wheel_with_its_extension_passes() -> None:
    """The control: the shared venv with the same wheel, untouched, has no A5 finding."""
    rc, check, err = doctor_versions(pair_venv(CURRENT_PAIR).python)
    assert "versions.pyarrow-no-hdfs" not in by_code(check), (check, err)
    assert check["status"] == "ok" and rc == 0


def test_c3_pyarrow_forced_outside_mlflows_declared_range_warns() -> None:
    python = c3_python()
    # pip agrees that the pair is broken: the finding reports a real conflict
    pip = subprocess.run(
        [str(python), "-m", "pip", "check"], capture_output=True, text=True, timeout=300
    )
    assert pip.returncode != 0 and "pyarrow 18.1.0" in pip.stdout, pip.stdout

    rc, check, err = doctor_versions(python)
    found = by_code(check)
    assert "versions.pyarrow-outside-mlflow-range" in found, (check, err)
    f = found["versions.pyarrow-outside-mlflow-range"]
    assert f["status"] == "warn"
    assert "pyarrow 18.1.0" in f["summary"] and "mlflow 2.16.2" in f["summary"]
    assert "<18" in f["summary"], f["summary"]
    assert check["status"] == "warn" and rc == 0  # a warning: MLflow 2.16 does use pyarrow.fs


def test_c3_skinny_declares_no_range_and_gets_no_finding() -> None:
    """mlflow-skinny 3.17.2 with pyarrow 26: skinny caps nothing, so nothing is said."""
    python = pair_venv(NEWEST_PYARROW_PAIR).python
    rc, check, err = doctor_versions(python)
    assert "versions.pyarrow-outside-mlflow-range" not in by_code(check), (check, err)
    assert check["status"] == "ok" and rc == 0


def test_the_fallback_specifier_check_agrees_with_packaging() -> None:
    """Without ``packaging`` the doctor compares release numbers itself; it must give
    packaging's answer for the operators MLflow's ranges use."""
    from packaging.specifiers import SpecifierSet

    from mlflow_client_env.doctor.versions import _simple_contains

    specs = ["<18,>=4.0.0", "<16", ">=4.0.0,<26", "==17.0.0", "!=17.0.0", ">18", "<=18.1"]
    for spec in specs:
        for version in ["3.0.0", "4.0.0", "15.0.2", "16.0.0", "17.0.0", "18.0", "18.1.0", "26.0.1"]:
            want = SpecifierSet(spec).contains(version)
            assert _simple_contains(spec, version) is want, (spec, version)
    assert _simple_contains("~=17.0", "17.1.0") is None  # beyond the fallback: no verdict


if __name__ == "__main__":  # build both venvs ahead of a test run
    print(a5_python(), c3_python())
