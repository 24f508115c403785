"""Everything the sandbox needs before any server starts: Java, jars, libhdfs.

Prepared once per cache; a warm call only stats a few files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlflow_client_env.java import JavaInstall

from .assets import cache_dir, ensure_libhdfs_sources, ensure_spark_jars
from .java import sandbox_java
from .libhdfs import ensure_libhdfs


@dataclass(frozen=True)
class Assets:
    """Verified inputs: the JDK, pyspark's 226 jars and a libhdfs.so built for that JDK."""

    java: JavaInstall
    jars_dir: Path
    libhdfs_src: Path
    libhdfs_so: Path
    cache: Path

    @property
    def java_home(self) -> Path:
        return Path(self.java.home)


def prepare_assets(
    java_home: str | os.PathLike[str] | None = None, cache: Path | None = None
) -> Assets:
    """Pick Java, then download/verify/extract/build whatever the cache lacks."""
    java = sandbox_java(java_home)
    root = cache or cache_dir()
    jars = ensure_spark_jars(root)
    src = ensure_libhdfs_sources(root)
    lib = ensure_libhdfs(src, Path(java.home), root)
    return Assets(java, jars, src, lib, root)
