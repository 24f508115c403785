"""Builders for realistic Hadoop, Java and config trees in temp dirs.

The layouts follow real Cloudera parcels (CDH 5.16, CDH 6.3.2, CDP 7.1.7),
bigtop package installs, Apache tarballs and the three Java layouts. Jars are
valid (empty) zip files; libraries are copies of a real shared object, so ELF
readers see a real file.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

REAL_SO = Path("/usr/lib/x86_64-linux-gnu/libz.so.1")


@dataclass(frozen=True)
class Release:
    parcel_version: str
    hadoop: str
    hdfs_client_jar: bool  # CDH 6+ split hadoop-hdfs-client out
    protobuf: str = "2.5.0"


RELEASES = {
    "cdh5.16": Release("5.16.2-1.cdh5.16.2.p0.8", "2.6.0-cdh5.16.2", False),
    "cdh6.3.2": Release("6.3.2-1.cdh6.3.2.p0.1605554", "3.0.0-cdh6.3.2", True),
    "cdp7.1.7": Release("7.1.7-1.cdh7.1.7.p0.15945976", "3.1.1.7.1.7.0-551", True),
}

COMMON_LIBS = (
    "guava-11.0.2",
    "commons-cli-1.2",
    "commons-collections-3.2.2",
    "commons-configuration-1.6",
    "commons-lang-2.6",
    "commons-logging-1.1.3",
    "commons-io-2.4",
    "commons-codec-1.10",
    "log4j-1.2.17",
    "slf4j-api-1.7.25",
    "slf4j-log4j12-1.7.25",
    "htrace-core4-4.1.0-incubating",
    "jackson-core-asl-1.9.13",
    "jackson-mapper-asl-1.9.13",
    "commons-lang3-3.7",
)


def make_jar(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w"):
        pass
    return path


def make_so(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REAL_SO, path)
    return path


def bigtop_components(lib: Path, rel: Release) -> None:
    """``lib/hadoop*`` folders as parcels and packages lay them out."""
    h = rel.hadoop
    for name in ("hadoop-common", "hadoop-auth", "hadoop-annotations"):
        make_jar(lib / "hadoop" / f"{name}-{h}.jar")
    make_jar(lib / "hadoop" / f"hadoop-common-{h}-tests.jar")
    os.symlink(f"hadoop-common-{h}.jar", lib / "hadoop" / "hadoop-common.jar")
    for dep in (*COMMON_LIBS, f"protobuf-java-{rel.protobuf}"):
        make_jar(lib / "hadoop" / "lib" / f"{dep}.jar")
    make_jar(lib / "hadoop-hdfs" / f"hadoop-hdfs-{h}.jar")
    if rel.hdfs_client_jar:
        make_jar(lib / "hadoop-hdfs" / f"hadoop-hdfs-client-{h}.jar")
    make_jar(lib / "hadoop-hdfs" / "lib" / "netty-all-4.1.17.Final.jar")
    for comp, jar in (
        ("hadoop-yarn", "hadoop-yarn-api"),
        ("hadoop-mapreduce", "hadoop-mapreduce-client-core"),
    ):
        make_jar(lib / comp / f"{jar}-{h}.jar")
        make_jar(lib / comp / "lib" / "aopalliance-1.0.jar")
    (lib / "hadoop" / "lib" / "native").mkdir(parents=True, exist_ok=True)
    make_so(lib / "hadoop" / "lib" / "native" / "libhadoop.so.1.0.0")


def make_parcel(parcels_root: Path, release: str = "cdh6.3.2", activate: bool = True) -> Path:
    """A CDH parcel: meta/parcel.json, lib/hadoop*, lib64/libhdfs.so, jars/, bin/, CDH link."""
    rel = RELEASES[release]
    p = parcels_root / f"CDH-{rel.parcel_version}"
    meta = {
        "schema_version": 1,
        "name": "CDH",
        "version": rel.parcel_version,
        "setActiveSymlink": True,
        "components": [
            {"name": "hadoop", "version": rel.hadoop, "pkg_version": rel.hadoop},
            {"name": "hadoop-hdfs", "version": rel.hadoop, "pkg_version": rel.hadoop},
        ],
    }
    (p / "meta").mkdir(parents=True)
    (p / "meta" / "parcel.json").write_text(json.dumps(meta, indent=2))
    bigtop_components(p / "lib", rel)
    make_so(p / "lib64" / "libhdfs.so.0.0.0")
    os.symlink("libhdfs.so.0.0.0", p / "lib64" / "libhdfs.so")
    (p / "bin").mkdir()
    (p / "bin" / "hadoop").write_text("#!/bin/sh\nexit 1\n")
    (p / "bin" / "hadoop").chmod(0o755)
    for name in (
        f"hadoop-common-{rel.hadoop}",
        "protobuf-java-2.5.0",
        "protobuf-java-3.5.1",
        "guava-11.0.2",
        "guava-28.1-jre",
    ):
        make_jar(p / "jars" / f"{name}.jar")
    if activate:
        link = parcels_root / "CDH"
        if link.is_symlink():
            link.unlink()
        os.symlink(p.name, link)
    return p


def make_package(usr: Path, release: str = "cdh5.16") -> Path:
    """A bigtop package install: usr/lib/hadoop*, usr/lib64/libhdfs.so."""
    bigtop_components(usr / "lib", RELEASES[release])
    make_so(usr / "lib64" / "libhdfs.so")
    return usr / "lib" / "hadoop"


def make_tarball(root: Path, version: str = "3.3.6") -> Path:
    """An unpacked Apache Hadoop tarball: share/hadoop/*, lib/native, etc/hadoop."""
    h = root / f"hadoop-{version}"
    share = h / "share" / "hadoop"
    make_jar(share / "common" / f"hadoop-common-{version}.jar")
    make_jar(share / "common" / "lib" / "protobuf-java-2.5.0.jar")
    make_jar(share / "common" / "lib" / "guava-27.0-jre.jar")
    make_jar(share / "hdfs" / f"hadoop-hdfs-client-{version}.jar")
    make_jar(share / "hdfs" / f"hadoop-hdfs-{version}.jar")
    make_jar(share / "hdfs" / "lib" / "netty-3.10.6.Final.jar")
    make_jar(share / "yarn" / f"hadoop-yarn-api-{version}.jar")
    make_jar(share / "mapreduce" / f"hadoop-mapreduce-client-core-{version}.jar")
    make_so(h / "lib" / "native" / "libhdfs.so")
    make_so(h / "lib" / "native" / "libhadoop.so")
    make_conf(h / "etc" / "hadoop", "hdfs://localhost:9000", kerberos=False)
    (h / "bin").mkdir()
    return h


def make_java(root: Path, layout: str, version: str) -> Path:
    """A Java root of the given layout ('jdk8', 'jre8', 'jdk9+') with a release file."""
    rel = {"jdk9+": "lib/server", "jdk8": "jre/lib/amd64/server", "jre8": "lib/amd64/server"}[
        layout
    ]
    make_so(root / rel / "libjvm.so")
    (root / "bin").mkdir(parents=True, exist_ok=True)
    (root / "bin" / "java").write_text("#!/bin/sh\nexit 0\n")
    (root / "bin" / "java").chmod(0o755)
    if layout == "jdk8":
        (root / "jre" / "bin").mkdir(parents=True, exist_ok=True)
    (root / "release").write_text(f'JAVA_VERSION="{version}"\nIMPLEMENTOR="Test"\n')
    return root


def make_conf(
    conf: Path,
    default_fs: str = "hdfs://nameservice1",
    kerberos: bool = True,
    nameservices: str | None = "nameservice1",
) -> Path:
    conf.mkdir(parents=True, exist_ok=True)

    def site(props: dict[str, str]) -> str:
        body = "".join(
            f"  <property>\n    <name>{k}</name>\n    <value>{v}</value>\n  </property>\n"
            for k, v in props.items()
        )
        return f'<?xml version="1.0" encoding="UTF-8"?>\n<configuration>\n{body}</configuration>\n'

    core = {
        "fs.defaultFS": default_fs,
        "hadoop.security.authentication": "kerberos" if kerberos else "simple",
    }
    (conf / "core-site.xml").write_text(site(core))
    (conf / "hdfs-site.xml").write_text(site(ha_definition(nameservices)))
    return conf


#: The provider Cloudera Manager writes for every HA nameservice of a client configuration.
FAILOVER_PROXY_PROVIDER = (
    "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider"
)


def ha_definition(nameservices: str | None) -> dict[str, str]:
    """The hdfs-site.xml keys that define each of the comma-separated ``nameservices`` as a
    deployed HA client configuration does: the list, two NameNode IDs a nameservice, each
    one's RPC address and the failover proxy provider (without all of these Hadoop's client
    cannot reach the nameservice: catalog B4). The NameNode hosts are under ``.invalid``
    (RFC 2606: never a real host), so nothing can reach them by accident."""
    if not nameservices:
        return {}
    props = {"dfs.nameservices": nameservices}
    for ns in nameservices.split(","):
        props[f"dfs.ha.namenodes.{ns}"] = "nn1,nn2"
        for nn in ("nn1", "nn2"):
            props[f"dfs.namenode.rpc-address.{ns}.{nn}"] = f"{nn}.{ns}.invalid:8020"
        props[f"dfs.client.failover.proxy.provider.{ns}"] = FAILOVER_PROXY_PROVIDER
    return props


def make_krb5_conf(path: Path, realm: str = "EXAMPLE.COM", ccache: str | None = None) -> Path:
    extra = f"  default_ccache_name = {ccache}\n" if ccache else ""
    path.write_text(
        f"[libdefaults]\n  default_realm = {realm}\n{extra}  dns_lookup_kdc = false\n\n"
        f"[realms]\n  {realm} = {{\n    kdc = 127.0.0.1:88\n  }}\n"
    )
    return path


# --- Cloudera ML runtime add-on (catalog H2) -------------------------------------------

#: An add-on folder name as it appears in public CML code (jvprosser/hdfs-mcp-server's
#: README: ARROW_LIBHDFS_DIR=/runtime-addons/hadoop-cli-7.3.1.101-c2jhs/usr/lib).
CML_ADDON = "hadoop-cli-7.3.1.101-c2jhs"
#: Jars for a stand-in add-on; the build suffix of the version is illustrative only.
CML_RELEASE = Release("7.3.1.101", "3.1.1.7.3.1.101", True)


def _link_or_copy(src: Path, dst: Path) -> None:
    """A hard link (a real file, no space), or a symlink across filesystems."""
    try:
        os.link(src, dst)
    except OSError:
        dst.symlink_to(src)


def make_cml_addon(
    runtime_addons: Path,
    name: str = CML_ADDON,
    *,
    jars_dir: Path | None = None,
    libhdfs_so: Path | None = None,
    bin_hadoop: bool = False,
) -> Path:
    """A CML Hadoop CLI runtime add-on as a session sees it mounted: ``<root>/<name>/usr/lib``
    holding ``hadoop``, ``hadoop/lib``, ``hadoop-hdfs``, ... (the CLASSPATH the public
    example lists, with ``hadoop-aws``, ``hadoop-azure`` and ``ranger-raz``), ``libhdfs.so``
    directly in ``usr/lib`` (its ARROW_LIBHDFS_DIR) and ``usr/lib/native``.

    With ``jars_dir`` and ``libhdfs_so`` (the sandbox's real Hadoop 2.7.3 jars and libhdfs)
    the add-on is made of those real parts; otherwise of empty jars and a stand-in .so.
    ``bin_hadoop`` adds ``usr/lib/hadoop/bin/hadoop`` (a stub), as bigtop lays it out.
    """
    lib = runtime_addons / name / "usr" / "lib"
    if jars_dir is None:
        bigtop_components(lib, CML_RELEASE)
        for folder in ("hadoop-aws", "hadoop-azure", "ranger-raz"):
            make_jar(lib / folder / f"{folder}-{CML_RELEASE.hadoop}.jar")
    else:
        from mlflow_client_env_sandbox.jars import DEPENDENCY_JARS
        from mlflow_client_env_sandbox.parcel import HADOOP_VERSION, LIB_LAYOUT

        jars = sorted(p for p in jars_dir.iterdir() if p.suffix == ".jar")
        for folder, prefixes in LIB_LAYOUT.items():
            (lib / folder / "lib").mkdir(parents=True)
            for jar in jars:
                if jar.name.startswith(prefixes) and HADOOP_VERSION in jar.name:
                    _link_or_copy(jar, lib / folder / jar.name)
        for dep in DEPENDENCY_JARS:
            _link_or_copy(jars_dir / f"{dep}.jar", lib / "hadoop" / "lib" / f"{dep}.jar")
        for folder in ("hadoop-aws", "hadoop-azure", "ranger-raz"):
            (lib / folder / "lib").mkdir(parents=True)
    (lib / "native").mkdir(exist_ok=True)
    if libhdfs_so is None:
        make_so(lib / "libhdfs.so.0.0.0")
    else:
        shutil.copy2(libhdfs_so, lib / "libhdfs.so.0.0.0")
    (lib / "libhdfs.so.0").symlink_to("libhdfs.so.0.0.0")
    (lib / "libhdfs.so").symlink_to("libhdfs.so.0.0.0")
    if bin_hadoop:
        script = lib / "hadoop" / "bin" / "hadoop"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text("#!/bin/sh\nexit 1\n")
        script.chmod(0o755)
    return runtime_addons / name


# --- a conda env with conda-forge's openjdk (catalog G4) -------------------------------

#: What openjdk's etc/conda/activate.d script does (conda-forge's recipe, which Anaconda's
#: copies): the JDK is in $CONDA_PREFIX/lib/jvm, libjvm.so in its lib/server.
CONDA_OPENJDK_ACTIVATE = """\
if [ "${JAVA_HOME+x}" ]; then export JAVA_HOME_CONDA_BACKUP="${JAVA_HOME}"; fi
export JAVA_HOME="${CONDA_PREFIX}/lib/jvm"
if [ "${JAVA_LD_LIBRARY_PATH+x}" ]; then
  export JAVA_LD_LIBRARY_PATH_BACKUP="${JAVA_LD_LIBRARY_PATH}"
fi
export JAVA_LD_LIBRARY_PATH="${JAVA_HOME}/lib/server"
"""

#: Big files of a JDK's lib that are linked, not copied (the class image) or left out
#: (class-data-sharing archives and javac's ct.sym, which a JVM for libhdfs never reads).
_JDK_LINKED = ("modules",)
_JDK_SKIPPED = ("classes.jsa", "classes_nocoops.jsa", "ct.sym", "src.zip")


def make_conda_openjdk(prefix: Path, jdk: Path) -> Path:
    """The real JDK ``jdk`` installed into the conda env ``prefix`` the way conda-forge's
    ``openjdk`` package lays it out; returns ``prefix/lib/jvm``.

    The JDK goes to ``lib/jvm`` (``bin``, ``conf``, ``lib`` with its own copy of
    ``lib/server/libjvm.so``, ``release``), every tool gets a relative link in
    ``prefix/bin``, and ``etc/conda/{activate,deactivate}.d`` hold the scripts that export
    JAVA_HOME. ``conda-meta/`` marks the prefix as a conda env. ``lib/jvm/bin/java`` is a
    copy, so it starts the copied libjvm.so (the launcher finds it from its own path).
    """
    jvm = prefix / "lib" / "jvm"
    jvm.mkdir(parents=True)
    shutil.copy2(jdk / "release", jvm / "release")
    for folder in ("bin", "conf"):
        shutil.copytree(jdk / folder, jvm / folder, symlinks=True)
    shutil.copytree(
        jdk / "lib",
        jvm / "lib",
        symlinks=True,
        ignore=shutil.ignore_patterns(*_JDK_LINKED, *_JDK_SKIPPED),
    )
    for name in _JDK_LINKED:
        if (jdk / "lib" / name).exists():
            (jvm / "lib" / name).symlink_to(jdk / "lib" / name)
    (prefix / "bin").mkdir(exist_ok=True)
    for tool in sorted((jvm / "bin").iterdir()):
        link = prefix / "bin" / tool.name
        if not link.exists():
            link.symlink_to(Path("..") / "lib" / "jvm" / "bin" / tool.name)
    version = next(
        (
            line.split("=", 1)[1].strip('"')
            for line in (jvm / "release").read_text().splitlines()
            if line.startswith("JAVA_VERSION=")
        ),
        "0",
    )
    meta = prefix / "conda-meta"
    meta.mkdir(exist_ok=True)
    (meta / "history").touch()
    record = {"name": "openjdk", "version": version, "channel": "conda-forge", "files": []}
    (meta / f"openjdk-{version}-h0_0.json").write_text(json.dumps(record))
    for change in ("activate", "deactivate"):
        d = prefix / "etc" / "conda" / f"{change}.d"
        d.mkdir(parents=True, exist_ok=True)
    (prefix / "etc/conda/activate.d/openjdk_activate.sh").write_text(CONDA_OPENJDK_ACTIVATE)
    (prefix / "etc/conda/deactivate.d/openjdk_deactivate.sh").write_text(
        'export JAVA_HOME="${JAVA_HOME_CONDA_BACKUP:-}"\nunset JAVA_HOME_CONDA_BACKUP\n'
    )
    return jvm


def make_env_python(prefix: Path) -> Path:
    """A Python whose ``sys.prefix`` is ``prefix``: a venv there, given this interpreter's
    packages (and so this project, installed editable) by links, nothing copied."""
    import subprocess
    import sys
    import venv

    venv.EnvBuilder(with_pip=False, symlinks=True).create(prefix)
    python = prefix / "bin" / "python"
    ask = "import site; print(site.getsitepackages()[0])"
    site = Path(subprocess.check_output([python, "-c", ask], text=True).strip())
    ours = Path(subprocess.check_output([sys.executable, "-c", ask], text=True).strip())
    for entry in ours.iterdir():
        if not (site / entry.name).exists():
            (site / entry.name).symlink_to(entry)
    return python
