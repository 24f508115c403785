"""Downloads into a cache outside the git tree, each checked against its sha256.

Only PyPI is reachable, so the Hadoop jars come from the ``pyspark==2.4.8``
sdist and the libhdfs C sources from ``pydoop==2.0.0``. Both sdists fail to
build metadata with today's tools, which ``pip download`` insists on doing; a
pip (build) constraint (``pypandoc<1.8``, ``setuptools<70``) makes it work. We extract
only what we need and mark each extraction complete with the source's sha256,
so a warm start does no network, no hashing of 220 MB and no extraction.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from mlflow_client_env import userdirs

from .errors import ChecksumError, DownloadError, disk_full_guard
from .progress import step


@dataclass(frozen=True)
class Sdist:
    """A pinned PyPI source distribution and how to make ``pip download`` fetch it."""

    name: str
    version: str
    sha256: str
    constraint: str
    binary_flag: str

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}.tar.gz"


PYSPARK = Sdist(
    "pyspark",
    "2.4.8",
    "3a19b71b8dc8dd91ebc943604a05e1ab01bce052456d42937035632d852d78dc",
    "pypandoc<1.8",
    "--no-binary=pyspark",
)
PYDOOP = Sdist(
    "pydoop",
    "2.0.0",
    "c7eb2ad8c36d2a75dc1c6cee701928334614f2e862a70798b0cb278e3102f77d",
    "setuptools<70",
    "--no-binary=:all:",
)


def cache_dir() -> Path:
    """The project's one cache folder (``userdirs.cache_dir``: ``$MLFLOW_CLIENT_ENV_CACHE``,
    else ``~/.cache/mlflow-client-env``)."""
    return userdirs.cache_dir()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pip_download(sdist: Sdist, dest: Path) -> Path:
    with tempfile.TemporaryDirectory(dir=dest, prefix=".pip-") as tmp:
        constraint = Path(tmp) / "constraints.txt"
        constraint.write_text(sdist.constraint + "\n")
        # PIP_CONSTRAINT replaces any global constraint file from pip.conf; that is
        # intended: the build of this one sdist needs exactly this pin. pip >= 25.3
        # applies only --build-constraint to the isolated build env (where the pin
        # matters), older pip only PIP_CONSTRAINT; setting both works with either.
        env = {**os.environ, "PIP_CONSTRAINT": str(constraint)}
        if "PIP_NO_BUILD_ISOLATION" not in env:  # pip refuses both together
            env["PIP_BUILD_CONSTRAINT"] = str(constraint)
        argv = [
            sys.executable, "-m", "pip", "download", "--no-deps", sdist.binary_flag,
            f"{sdist.name}=={sdist.version}", "-d", tmp, "--disable-pip-version-check",
        ]  # fmt: skip
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        got = Path(tmp) / sdist.filename
        if proc.returncode != 0 or not got.is_file():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-12:])
            raise DownloadError(
                f"could not download {sdist.name}=={sdist.version} from PyPI "
                f"(pip exit {proc.returncode}):\n{tail}",
                "check network access to PyPI (proxy, PIP_INDEX_URL), or copy "
                f"{sdist.filename} (sha256 {sdist.sha256}) into {dest}",
            )
        actual = sha256_file(got)
        if actual != sdist.sha256:
            raise ChecksumError(
                f"downloaded {sdist.filename} has sha256 {actual}, expected {sdist.sha256}",
                "your index or proxy serves a different file; use the real PyPI, "
                f"or place the genuine {sdist.filename} into {dest}",
            )
        final = dest / sdist.filename
        os.replace(got, final)
        return final


def ensure_sdist(sdist: Sdist, cache: Path | None = None) -> Path:
    """The verified sdist in ``<cache>/downloads``, downloaded only if missing or bad."""
    dest = (cache or cache_dir()) / "downloads"
    with disk_full_guard(dest):
        dest.mkdir(parents=True, exist_ok=True)
        with FileLock(str(dest / f".{sdist.name}.lock")):
            path = dest / sdist.filename
            if path.is_file():
                if sha256_file(path) == sdist.sha256:
                    return path
                bad = path.with_suffix(".bad")
                os.replace(path, bad)
                with step(
                    f"cached {sdist.filename} has a wrong sha256 (kept as {bad}); downloading again"
                ):
                    return _pip_download(sdist, dest)
            with step(f"downloading {sdist.name}=={sdist.version} from PyPI"):
                return _pip_download(sdist, dest)


def _extract(sdist: Sdist, prefix: str, suffix: str, out_name: str, cache: Path | None) -> Path:
    """Extract members under ``prefix`` ending with ``suffix`` into ``<cache>/<out_name>``."""
    root = cache or cache_dir()
    out = root / out_name
    marker = out / ".complete"
    if marker.is_file() and marker.read_text().strip() == sdist.sha256:
        return out
    with disk_full_guard(root):
        root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root / f".{out_name}.lock")):
            if marker.is_file() and marker.read_text().strip() == sdist.sha256:
                return out
            archive = ensure_sdist(sdist, root)
            with step(f"extracting {out_name} from {archive.name}"):
                tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{out_name}-"))
                with tarfile.open(archive, "r:gz") as tar:
                    for member in tar:
                        if not (member.isfile() and member.name.startswith(prefix)):
                            continue
                        rel = member.name[len(prefix) :]
                        if not rel.endswith(suffix) or ".." in Path(rel).parts:
                            continue
                        target = tmp / rel
                        target.parent.mkdir(parents=True, exist_ok=True)
                        src = tar.extractfile(member)
                        assert src is not None
                        with src, open(target, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                (tmp / ".complete").write_text(sdist.sha256 + "\n")
                if out.exists():
                    shutil.rmtree(out)
                os.replace(tmp, out)
    return out


def ensure_spark_jars(cache: Path | None = None) -> Path:
    """The 226 jars of pyspark 2.4.8 (Hadoop 2.7.3 among them), flat in one directory."""
    return _extract(
        PYSPARK,
        f"pyspark-{PYSPARK.version}/deps/jars/",
        ".jar",
        f"pyspark-{PYSPARK.version}-jars",
        cache,
    )


def ensure_libhdfs_sources(cache: Path | None = None) -> Path:
    """The Apache libhdfs C sources shipped in pydoop 2.0.0 (``src/libhdfs``)."""
    return _extract(
        PYDOOP,
        f"pydoop-{PYDOOP.version}/src/libhdfs/",
        "",
        f"pydoop-{PYDOOP.version}-libhdfs",
        cache,
    )
