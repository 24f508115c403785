"""The JDK the sandbox runs Hadoop on: the core's discovery, plus the sandbox's limits.

Hadoop 2.7 fails on Java 24+ (``getSubject is not supported``) and the
``--add-exports`` flag every JVM here needs does not exist before Java 9, so
the sandbox needs Java 11 to 23; it is measured on 17. Building libhdfs also
needs the JDK headers (``include/jni.h``).
"""

from __future__ import annotations

import os
from pathlib import Path

from mlflow_client_env.errors import JavaNotFoundError
from mlflow_client_env.java import HADOOP_MAX_JAVA_EXCLUSIVE, JavaInstall, select_java

MIN_MAJOR = 11
FIX = (
    "install Java 17 ('apt-get install openjdk-17-jdk-headless') and, if several JDKs are "
    "installed, pass --java-home /usr/lib/jvm/java-17-openjdk-amd64 (or set JAVA_HOME)"
)


def sandbox_java(java_home: str | os.PathLike[str] | None = None) -> JavaInstall:
    """A Hadoop-compatible JDK (11..23, preferably 17) or a JavaNotFoundError naming the fix."""
    try:
        choice = select_java(java_home)
    except JavaNotFoundError as exc:
        raise JavaNotFoundError(exc.problem, FIX) from exc
    inst = choice.install
    if not inst.hadoop_compatible:
        raise JavaNotFoundError(
            f"only Java {inst.major} found ({inst.home}); Hadoop 2.7 fails on Java "
            f"{HADOOP_MAX_JAVA_EXCLUSIVE}+ with 'getSubject is not supported'",
            FIX,
        )
    if inst.major is not None and inst.major < MIN_MAJOR:
        raise JavaNotFoundError(
            f"{inst.home} is Java {inst.major}; the sandbox needs Java {MIN_MAJOR}..23 "
            "(it passes --add-exports to every JVM)",
            FIX,
        )
    if not (Path(inst.home) / "bin" / "java").is_file():
        raise JavaNotFoundError(f"{inst.home} has no bin/java", FIX)
    return inst
