"""Which of pyspark's jars make a Hadoop 2.7.3 NameNode, DataNode and client.

The 25 names below were measured (test-cluster.md section 2): enough for a
secure NameNode, a DataNode, FsShell and libhdfs. ``javax.ws.rs-api`` is
needed because the audit logger touches ``StreamingOutput``.
"""

from __future__ import annotations

from pathlib import Path

from .errors import SandboxError

HADOOP_VERSION = "2.7.3"

HADOOP_JARS: tuple[str, ...] = (
    "hadoop-hdfs-2.7.3", "hadoop-common-2.7.3", "hadoop-auth-2.7.3", "hadoop-annotations-2.7.3",
)  # fmt: skip

DEPENDENCY_JARS: tuple[str, ...] = (
    "jackson-mapper-asl-1.9.13", "jackson-core-asl-1.9.13", "guava-14.0.1",
    "netty-all-4.1.47.Final", "protobuf-java-2.5.0", "jetty-6.1.26", "jetty-util-6.1.26",
    "log4j-1.2.17", "htrace-core-3.1.0-incubating", "commons-collections-3.2.2",
    "commons-cli-1.2", "slf4j-api-1.7.16", "slf4j-log4j12-1.7.16", "javax.servlet-api-3.1.0",
    "commons-logging-1.1.3", "commons-configuration-1.6", "commons-lang-2.6",
    "commons-codec-1.10", "commons-io-2.4", "xmlenc-0.52", "javax.ws.rs-api-2.0.1",
)  # fmt: skip

SERVER_JARS: tuple[str, ...] = HADOOP_JARS + DEPENDENCY_JARS


def jar_paths(jars_dir: Path, names: tuple[str, ...] = SERVER_JARS) -> list[Path]:
    """Absolute paths of ``names`` (without ``.jar``) in ``jars_dir``; fail if any is missing."""
    paths = [jars_dir / f"{n}.jar" for n in names]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise SandboxError(
            f"jars missing from {jars_dir}: {', '.join(missing)}",
            f"delete {jars_dir} so the sandbox extracts it again from the pyspark sdist",
        )
    return paths


def classpath(entries: list[Path]) -> str:
    """Join explicit classpath entries (no wildcards: the JNI JVM does not expand them)."""
    return ":".join(str(e) for e in entries)
