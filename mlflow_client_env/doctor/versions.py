"""The mlflow x pyarrow rules (catalog C1-C3, A5, A6), on version data alone.

Kept apart from the installed-package lookup so the rules can be checked for
pairs that cannot be installed on a current Python (pyarrow 0.16.0).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path

from ..findings import Finding


def vtuple(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version.split("+")[0])[:3])


def installed_version(*dists: str) -> str | None:
    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def pyarrow_has_hdfs() -> bool | None:
    """Whether the installed pyarrow ships its HDFS extension, without importing pyarrow."""
    spec = importlib.util.find_spec("pyarrow")
    if spec is None or not spec.submodule_search_locations:
        return None
    pkg = Path(next(iter(spec.submodule_search_locations)))
    return any(pkg.glob("_hdfs*.so")) or any(pkg.glob("_hdfsio*.so"))


def version_findings(
    mlflow: str | None, pyarrow: str | None, pyarrow_hdfs: bool | None
) -> list[Finding]:
    out: list[Finding] = []
    no_mlflow = Finding(
        "versions.no-mlflow", "warn", "mlflow is not installed", fix="pip install 'mlflow>=2.16'"
    )
    if pyarrow is None:
        out.append(
            Finding(
                "versions.no-pyarrow",
                "error",
                "pyarrow is not installed",
                fix="pip install 'pyarrow>=16'",
            )
        )
        return [*out, no_mlflow] if mlflow is None else out
    pa = vtuple(pyarrow)
    if pa < (1,):
        out.append(
            Finding(
                "versions.legacy-pin",
                "error",
                f"pyarrow {pyarrow} is the MLflow 1.x-era pin (pyarrow==0.16.0): the legacy "
                "pyarrow.hdfs API, and no wheel for any Python that current MLflow supports",
                fix="use mlflow>=2.16 with pyarrow>=16 (pyarrow.fs.HadoopFileSystem); "
                "mlflow-client-env sets the CLASSPATH the new API requires",
            )
        )
    if pyarrow_hdfs is False:
        out.append(
            Finding(
                "versions.pyarrow-no-hdfs",
                "error",
                f"pyarrow {pyarrow} was built without HDFS support (catalog A5)",
                fix="install the PyPI manylinux wheel of pyarrow",
            )
        )
    if mlflow is None:
        out.append(no_mlflow)
        return out
    ml = vtuple(mlflow)
    if ml < (2, 16) and pa >= (16,):
        out.append(
            Finding(
                "versions.skew-broken",
                "error",
                f"MLflow {mlflow} calls pyarrow.hdfs, which pyarrow {pyarrow} no longer has: "
                "logging artifacts to HDFS fails with \"module 'pyarrow' has no attribute 'hdfs'\" (C2)",
                fix="upgrade MLflow to >= 2.16, or pin 'pyarrow<16'",
            )
        )
    elif ml < (2, 16) and (2,) <= pa < (16,):
        out.append(
            Finding(
                "versions.skew-deprecated",
                "warn",
                f"MLflow {mlflow} with pyarrow {pyarrow} goes through the deprecated pyarrow.hdfs "
                "API (FutureWarning on every connection, C1)",
                fix="upgrade to MLflow >= 2.16 and pyarrow >= 16",
            )
        )
    elif ml < (1, 9) and pa >= (0, 17):
        out.append(
            Finding(
                "versions.driver-arg",
                "error",
                f"MLflow {mlflow} passes driver= to pyarrow.hdfs.connect, which pyarrow {pyarrow} "
                "removed (A6)",
                fix="upgrade MLflow",
            )
        )
    if not any(f.status == "error" for f in out):
        api = "pyarrow.fs.HadoopFileSystem" if ml >= (2, 16) else "pyarrow.hdfs (legacy)"
        out.append(
            Finding(
                "versions.ok",
                "ok",
                f"Python {sys.version.split()[0]}, MLflow {mlflow}, pyarrow {pyarrow}: HDFS through {api}",
                ("MLflow >= 2.16 needs CLASSPATH exported before the first HDFS call (B1)",)
                if ml >= (2, 16)
                else (),
            )
        )
    return out


def not_needed_findings(findings: list[Finding], why: str) -> list[Finding]:
    """The findings of a client that writes no artifact through pyarrow (no Hadoop is
    needed: ``why``): its errors, all about HDFS through pyarrow, become warnings."""
    return [
        Finding(
            f.code,
            "warn",
            f"{f.summary}; this client needs no pyarrow for HDFS: {why}",
            f.evidence,
            f"only if this client will use HDFS: {f.fix}" if f.fix else None,
        )
        if f.status == "error"
        else f
        for f in findings
    ]


def check_installed(not_needed: Callable[[], str | None] = lambda: None) -> list[Finding]:
    """The installed versions' findings. ``not_needed``: why this client needs no Hadoop
    (or None), asked only when there is an error to judge."""
    mlflow = installed_version("mlflow", "mlflow-skinny")
    pyarrow = installed_version("pyarrow")
    out = version_findings(mlflow, pyarrow, pyarrow_has_hdfs() if pyarrow else None)
    why = not_needed() if any(f.status == "error" for f in out) else None
    if why is not None:
        out = not_needed_findings(out, why)
    jc = installed_version("jupyter_client", "jupyter-client")
    extra = f"jupyter_client {jc}" if jc else "jupyter_client not installed"
    return [Finding(f.code, f.status, f.summary, (*f.evidence, extra), f.fix) for f in out]
