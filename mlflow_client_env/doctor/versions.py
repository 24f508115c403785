"""The mlflow x pyarrow rules (catalog C1-C3, A5, A6), on version data alone.

What MLflow's HDFS artifact repository calls, from its own source: up to 1.8
``pyarrow.hdfs.connect(..., driver=...)``; 1.9 to 2.15 ``pyarrow.hdfs.connect``
without ``driver`` (from 2.8 behind a pyarrow version test that is inverted, so
every pyarrow >= 2 still gets the legacy call); from 2.16
``pyarrow.fs.HadoopFileSystem``. pyarrow removed ``driver=`` in 0.17 (A6) and
``pyarrow.hdfs`` in 16 (C2).

Kept apart from the installed-package lookup so the rules can be checked for
pairs that cannot be installed on a current Python (pyarrow 0.16.0). The lookup
(:func:`check_installed`) reads distribution metadata and looks for files; it
imports neither MLflow nor pyarrow.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import operator
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
    """Whether the installed pyarrow ships its HDFS extension module (``pyarrow._hdfs``, or
    ``_hdfsio`` before pyarrow 2), without importing pyarrow: a file this interpreter would
    load as that module, under one of its extension suffixes. A build without ARROW_HDFS
    lacks it, and ``pyarrow.fs.HadoopFileSystem`` then raises ImportError (catalog A5)."""
    spec = importlib.util.find_spec("pyarrow")  # finds the package, does not import it
    if spec is None or not spec.submodule_search_locations:
        return None
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    return any(
        (Path(d) / f"{mod}{suffix}").is_file()
        for d in spec.submodule_search_locations
        for mod in ("_hdfs", "_hdfsio")
        for suffix in suffixes
    )


_OPS: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _pad(v: tuple[int, ...], n: int) -> tuple[int, ...]:
    return v + (0,) * (n - len(v))


def _simple_contains(specifier: str, version: str) -> bool | None:
    """``version`` against a specifier of <, <=, >, >=, ==, != on release numbers, for an
    environment without ``packaging``; None when a clause is beyond that (``~=``, ``*``)."""
    have = vtuple(version)
    for clause in filter(None, (c.strip() for c in specifier.split(","))):
        m = re.fullmatch(r"(<=|>=|==|!=|<|>)\s*(\d+(?:\.\d+)*)", clause)
        if m is None:
            return None
        want = vtuple(m.group(2))
        n = max(len(have), len(want))
        if not _OPS[m.group(1)](_pad(have, n), _pad(want, n)):
            return False
    return True


def in_specifier(specifier: str, version: str) -> bool | None:
    """Whether ``version`` satisfies ``specifier`` ("<18,>=4.0.0"); None if unknown.

    ``packaging`` when it is importable (ipykernel, pip and MLflow itself depend on it),
    else a check of the plain comparison operators."""
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
        from packaging.version import InvalidVersion, Version
    except ImportError:  # pragma: no cover - packaging comes with ipykernel
        return _simple_contains(specifier, version)
    try:
        return SpecifierSet(specifier).contains(Version(version), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return _simple_contains(specifier, version)


def declared_pyarrow_range(*dists: str) -> tuple[str, str] | None:
    """(distribution, specifier) of the first of ``dists`` whose metadata requires pyarrow
    unconditionally (no extra, no marker): the full ``mlflow`` does ("pyarrow<18,>=4.0.0"),
    ``mlflow-skinny`` does not. None when none declares a range."""
    for dist in dists:
        try:
            requires = importlib.metadata.requires(dist) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for req in requires:
            m = re.fullmatch(r"\s*pyarrow\s*\(?\s*([^;()]*?)\s*\)?\s*(;.*)?", req, re.IGNORECASE)
            if m is None or m.group(2) or not m.group(1):
                continue  # another package, an optional or conditional pyarrow, no bound
            return dist, m.group(1).replace(" ", "")
    return None


def version_findings(
    mlflow: str | None,
    pyarrow: str | None,
    pyarrow_hdfs: bool | None,
    declared: tuple[str, str] | None = None,
) -> list[Finding]:
    """The findings for this MLflow x pyarrow pair. ``declared``: (distribution, pyarrow
    specifier) that the installed MLflow's metadata requires, if any (catalog C3)."""
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
    if declared is not None and in_specifier(declared[1], pyarrow) is False:
        dist, spec = declared
        out.append(
            Finding(
                "versions.pyarrow-outside-mlflow-range",
                "warn",
                f"pyarrow {pyarrow} is outside the range that {dist} {mlflow} declares "
                f"(pyarrow{spec}): a pair pip would not install together, forced by "
                "--no-deps or another installer (C3); pip check reports it",
                (f"{dist} {mlflow} requires pyarrow{spec}",),
                fix=f"install a pyarrow that {dist} {mlflow} accepts ('pyarrow{spec}'), "
                "or an MLflow release whose range includes pyarrow " + pyarrow,
            )
        )
    ml = vtuple(mlflow)
    if ml < (1, 9) and pa >= (16,):
        out.append(
            Finding(
                "versions.skew-broken",
                "error",
                f"MLflow {mlflow} calls pyarrow.hdfs, which pyarrow {pyarrow} no longer has: "
                "logging artifacts to HDFS fails with \"module 'pyarrow' has no attribute 'hdfs'\" "
                "(C2); with a pyarrow that still has it (< 16), this MLflow's driver= argument "
                "fails instead (A6)",
                fix="upgrade MLflow to >= 2.16 (pinning pyarrow < 16 is not enough for an MLflow "
                "before 1.9)",
            )
        )
    elif ml < (1, 9) and pa >= (0, 17):
        out.append(
            Finding(
                "versions.driver-arg",
                "error",
                f"MLflow {mlflow} passes driver= to pyarrow.hdfs.connect, which pyarrow {pyarrow} "
                "no longer accepts (removed in 0.17): logging artifacts to HDFS fails with "
                "\"TypeError: connect() got an unexpected keyword argument 'driver'\" (A6)",
                (
                    "MLflow 1.9 is the first release that calls pyarrow.hdfs.connect without driver=",
                ),
                fix="upgrade MLflow to >= 2.16 with pyarrow >= 16 (MLflow 1.9 to 2.15 work, "
                "on the deprecated pyarrow.hdfs API)",
            )
        )
    elif ml < (2, 16) and pa >= (16,):
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
    out = version_findings(
        mlflow,
        pyarrow,
        pyarrow_has_hdfs() if pyarrow else None,
        declared_pyarrow_range("mlflow", "mlflow-skinny") if mlflow and pyarrow else None,
    )
    why = not_needed() if any(f.status == "error" for f in out) else None
    if why is not None:
        out = not_needed_findings(out, why)
    jc = installed_version("jupyter_client", "jupyter-client")
    extra = f"jupyter_client {jc}" if jc else "jupyter_client not installed"
    return [Finding(f.code, f.status, f.summary, (*f.evidence, extra), f.fix) for f in out]
