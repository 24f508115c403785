"""Build the real Apache ``libhdfs.so`` once per (sources, JAVA_HOME) into the cache.

No distribution ships libhdfs for Hadoop 2.7 and PyPI has no binary; pydoop's
sdist carries the C sources. It links against the chosen JVM's ``libjvm.so``
with an rpath, so the key includes that Java's real path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from filelock import FileLock

from .assets import PYDOOP, cache_dir
from .errors import ToolMissingError, disk_full_guard
from .procs import run_checked
from .progress import step

SONAME = "libhdfs.so.0.0.0"


def build_key(java_home: Path) -> str:
    """Key of a build: the sources' sha256 and the resolved JAVA_HOME."""
    raw = f"{PYDOOP.sha256}\n{os.path.realpath(java_home)}\n"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def ensure_libhdfs(src: Path, java_home: Path, cache: Path | None = None) -> Path:
    """Path to a built ``libhdfs.so`` for ``java_home`` (compiled with gcc on first use)."""
    root = (cache or cache_dir()) / "libhdfs" / build_key(java_home)
    lib = root / "libhdfs.so"
    if lib.is_file():
        return lib
    gcc = shutil.which("gcc")
    if gcc is None:
        raise ToolMissingError("gcc is needed to build libhdfs.so", "apt-get install gcc")
    include = java_home / "include"
    if not (include / "jni.h").is_file():
        raise ToolMissingError(
            f"{java_home} has no include/jni.h (a JRE, not a JDK)",
            "install the JDK headers: apt-get install openjdk-17-jdk-headless",
        )
    with disk_full_guard(root.parent):
        root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root / ".lock")):
            if lib.is_file():
                return lib
            with step(f"compiling libhdfs.so against {java_home}"):
                tmp = Path(tempfile.mkdtemp(dir=root, prefix=".build-"))
                server = java_home / "lib" / "server"
                argv = [
                    gcc, "-O2", "-fPIC", "-shared", "-std=gnu99", "-D_GNU_SOURCE",
                    f"-I{src}", f"-I{src / 'include'}", f"-I{src / 'include' / 'hdfs'}",
                    f"-I{src / 'os' / 'posix'}", f"-I{include}", f"-I{include / 'linux'}",
                    str(src / "hdfs.c"), str(src / "jni_helper.c"), str(src / "exception.c"),
                    str(src / "common" / "htable.c"),
                    *sorted(str(p) for p in (src / "os" / "posix").glob("*.c")),
                    f"-L{server}", "-ljvm", "-lpthread", f"-Wl,-rpath,{server}",
                    f"-Wl,-soname,{SONAME.rsplit('.', 2)[0]}", "-o", str(tmp / "libhdfs.so"),
                ]  # fmt: skip
                run_checked(
                    argv,
                    env=os.environ,
                    what="compiling libhdfs.so",
                    fix="check that gcc and the JDK headers are installed",
                )
                os.replace(tmp / "libhdfs.so", lib)
                shutil.rmtree(tmp, ignore_errors=True)
    return lib
