"""Cached virtual environments holding a real MLflow x pyarrow pair, for tests that run in them.

One builder, :func:`cached_venv`: a venv per key under ``<cache>/venvs`` (the cache is
``~/.cache/mlflow-client-env`` unless ``MLFLOW_CLIENT_ENV_CACHE`` says otherwise; CI
caches ``~/.cache``). The folder name carries the key and a hash of what goes in (the
requirements and this interpreter), so a changed pin is a new venv, never a stale one.
A ``.complete`` marker is written only after pip and the check succeeded; a folder
without it is wiped and built again. A file lock around the check-and-build keeps
parallel pytest runs from building the same venv twice or using a half-built one.
pip's own cache (``~/.cache/pip``) is used, so a rebuild downloads nothing new.

The project is not installed into these venvs: tests put the repo root on
PYTHONPATH, and the venv gets the project's runtime dependencies (read from
pyproject.toml) next to the pair.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from mlflow_client_env.userdirs import CACHE_FIX, cache_dir, ensure_private_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the project's own dependency on 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
MARKER = ".complete"
#: A first build downloads MLflow, pyarrow (~40 MB) and their dependencies.
INSTALL_TIMEOUT = 1800.0

#: How MLflow's HDFS artifact repository reaches HDFS.
FS_API = "pyarrow.fs.HadoopFileSystem"
LEGACY_API = "pyarrow.hdfs.connect"


class VenvBuildError(RuntimeError):
    """A venv could not be built (pip or the check failed); nothing is marked complete."""


@dataclass(frozen=True)
class Venv:
    home: Path
    python: Path
    built: bool  # True when this call built it, False when it was already complete


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+_-]+", "_", key).strip("_") or "venv"


def _tail(text: str, limit: int = 4000) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


def cached_venv(
    key: str,
    requirements: Sequence[str],
    *,
    check: str | None = None,
    root: Path | None = None,
    timeout: float = INSTALL_TIMEOUT,
) -> Venv:
    """The venv for ``key`` with ``requirements`` installed (built on first use).

    ``check`` is Python code run in the new venv after the install (a non-zero exit
    fails the build). Raises :class:`VenvBuildError` with pip's output when the build
    fails; the partial folder stays unmarked and the next call starts over.
    """
    base = ensure_private_dir(root or cache_dir() / "venvs", create=True, fix=CACHE_FIX)
    spec = {
        "key": key,
        "requirements": list(requirements),
        "check": check,
        "python": sys.version,
        "base_prefix": sys.base_prefix,
    }
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    name = f"{_slug(key)}-{digest}"
    home = base / name
    python = home / "bin" / "python"
    marker = home / MARKER
    with FileLock(str(base / f"{name}.lock")):
        if marker.is_file() and python.exists():
            return Venv(home, python, built=False)
        if home.is_symlink():
            home.unlink()
        elif home.exists():
            shutil.rmtree(home)  # a build that did not finish
        venv.EnvBuilder(with_pip=True, clear=True, symlinks=True).create(home)
        steps: list[list[str]] = []
        if requirements:
            # pyarrow and numpy from wheels only: a source build of either is never wanted
            steps.append(
                [str(python), "-m", "pip", "install", "--disable-pip-version-check",
                 "--only-binary=pyarrow,numpy", *requirements]
            )  # fmt: skip
        if check is not None:
            steps.append([str(python), "-c", check])
        # the venv's own packages only: nothing of this process's PYTHONPATH leaks in
        clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        for argv in steps:
            try:
                proc = subprocess.run(
                    argv, capture_output=True, text=True, timeout=timeout, cwd=home, env=clean
                )
            except subprocess.TimeoutExpired as exc:
                raise VenvBuildError(f"{argv[1:4]} timed out after {timeout} s in {home}") from exc
            if proc.returncode != 0:
                raise VenvBuildError(
                    f"building the venv {home} failed: {' '.join(argv)} exited "
                    f"{proc.returncode}\nstdout:\n{_tail(proc.stdout)}\nstderr:\n{_tail(proc.stderr)}"
                )
        marker.write_text(json.dumps(spec, indent=1) + "\n")
    return Venv(home, python, built=True)


def project_dependencies() -> list[str]:
    """The runtime dependencies of mlflow-client-env, as pyproject.toml declares them."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(data["project"]["dependencies"])


@dataclass(frozen=True)
class Pair:
    """An MLflow x pyarrow pair as a user installs it, and the HDFS API that MLflow uses with it."""

    mlflow_dist: str  # "mlflow" or "mlflow-skinny"
    mlflow: str  # exact version
    pyarrow: str  # exact version
    hdfs_api: str  # FS_API or LEGACY_API
    extra: tuple[str, ...] = ()  # e.g. numpy<2 for a pyarrow built against NumPy 1

    @property
    def id(self) -> str:
        return f"mlflow-{self.mlflow}+pyarrow-{self.pyarrow}"

    @property
    def requirements(self) -> tuple[str, ...]:
        return (f"{self.mlflow_dist}=={self.mlflow}", f"pyarrow=={self.pyarrow}", *self.extra)


#: The last MLflow on the legacy API (catalog C1), with the last pyarrow that still has it.
LEGACY_PAIR = Pair("mlflow-skinny", "2.15.1", "15.0.2", LEGACY_API, ("numpy<2",))
#: The first MLflow on pyarrow.fs, with the oldest pyarrow it allows (>=4.0.0) that has a
#: wheel for CPython 3.11 (10.0.1: 10.0.0 and older have no cp311 wheel).
OLDEST_FS_PAIR = Pair("mlflow-skinny", "2.16.2", "10.0.1", FS_API, ("numpy<2",))
#: The newest MLflow on PyPI that installs (3.18.0 needs an mlflow-skinny 3.18.0 that is not
#: published), with the newest pyarrow the full mlflow 3.17.2 allows (pyarrow<26).
CURRENT_PAIR = Pair("mlflow-skinny", "3.17.2", "25.0.1", FS_API)
#: The same MLflow with the newest pyarrow: mlflow-skinny does not cap pyarrow.
NEWEST_PYARROW_PAIR = Pair("mlflow-skinny", "3.17.2", "26.0.1", FS_API)

SUPPORTED_PAIRS = (LEGACY_PAIR, OLDEST_FS_PAIR, CURRENT_PAIR, NEWEST_PYARROW_PAIR)

#: Catalog C2, a broken pair that pip installs without complaint: the last MLflow on the legacy
#: API with the first pyarrow without ``pyarrow.hdfs`` (16.0.0). mlflow-skinny declares no
#: pyarrow, so nothing stops it (the full mlflow 2.15.1 pins pyarrow<16). Not supported.
C2_BROKEN_PAIR = Pair("mlflow-skinny", "2.15.1", "16.0.0", LEGACY_API, ("numpy<2",))


def pair_venv(pair: Pair) -> Venv:
    """The cached venv holding ``pair`` and the project's runtime dependencies."""
    check = (
        "import mlflow, pyarrow, pyarrow.fs\n"
        "from mlflow.store.artifact import hdfs_artifact_repo\n"
        f"assert (mlflow.__version__, pyarrow.__version__) == {(pair.mlflow, pair.pyarrow)!r}, "
        "(mlflow.__version__, pyarrow.__version__)\n"
    )
    return cached_venv(pair.id, [*pair.requirements, *project_dependencies()], check=check)
