"""A CDH-style parcel tree made of the real Hadoop 2.7.3 jars and the real libhdfs.

The core library's discovery must find it unchanged, exactly as on an edge
node, so the layout copies Cloudera's: ``parcels/CDH-<version>/`` with
``meta/parcel.json``, ``jars/`` holding every jar, ``lib/hadoop*/`` whose jars
are relative symlinks into ``../../jars``, ``lib64/libhdfs.so*``, an empty
``lib/hadoop/lib/native/`` (no libhadoop.so exists for us; nothing fake goes
there), ``bin/hadoop``, and the ``CDH`` symlink. ``jars/`` entries are hard
links into the download cache (real files, no extra space), or symlinks when
the cache is on another filesystem. A client config dir sits next to it in
``etc/hadoop/conf``.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from .hdfs import KRB5_EXPORTS, write_client_conf
from .jars import DEPENDENCY_JARS
from .kdc import DEFAULT_REALM

CDH_VERSION = "6.3.2-1.cdh6.3.2.p0.1605554"
PARCEL_NAME = f"CDH-{CDH_VERSION}"
HADOOP_VERSION = "2.7.3"

#: parcel lib folder -> jar name prefixes taken from pyspark's jars
LIB_LAYOUT: dict[str, tuple[str, ...]] = {
    "hadoop": ("hadoop-common-", "hadoop-auth-", "hadoop-annotations-"),
    "hadoop-hdfs": ("hadoop-hdfs-",),
    "hadoop-yarn": ("hadoop-yarn-",),
    "hadoop-mapreduce": ("hadoop-mapreduce-client-",),
}

#: The smallest valid zip: an empty end-of-central-directory record.
EMPTY_ZIP = b"PK\x05\x06" + b"\x00" * 18


@dataclass(frozen=True)
class ParcelTree:
    """Paths of a laid-out parcel tree and its client config."""

    root: Path
    parcels_root: Path
    parcel_dir: Path
    cdh_link: Path
    conf_dir: Path
    lib64: Path
    bin_hadoop: Path

    @property
    def libhdfs(self) -> Path:
        return self.lib64 / "libhdfs.so"


def parcel_json() -> dict[str, object]:
    return {
        "schema_version": 1,
        "name": "CDH",
        "version": CDH_VERSION,
        "setActiveSymlink": True,
        "components": [
            {"name": "hadoop", "version": HADOOP_VERSION, "pkg_version": HADOOP_VERSION},
            {"name": "hadoop-hdfs", "version": HADOOP_VERSION, "pkg_version": HADOOP_VERSION},
        ],
    }


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        dst.symlink_to(src)


def render_bin_hadoop(java_home: Path, conf_dir: Path, krb5_conf: Path) -> str:
    """A POSIX sh ``bin/hadoop`` for 'classpath', 'fs'/'dfs' and 'version'."""
    q = shlex.quote
    return f"""#!/bin/sh
# Stand-in for a CDH parcel's bin/hadoop, written by mlflow_client_env_sandbox.
# Like the real script it builds CLASSPATH from HADOOP_CONF_DIR and the parcel's
# lib/hadoop* folders (wildcards, which the java launcher expands) and runs
# the Java tool. Knows: classpath [--glob|--jar PATH], fs|dfs ARGS, version.
set -e
self=$(readlink -f -- "$0")
PARCEL_ROOT=$(dirname -- "$(dirname -- "$self")")
JAVA_HOME=${{JAVA_HOME:-{q(str(java_home))}}}
HADOOP_CONF_DIR=${{HADOOP_CONF_DIR:-{q(str(conf_dir))}}}
KRB5_CONFIG=${{KRB5_CONFIG:-{q(str(krb5_conf))}}}
# Like hadoop_add_classpath: a folder's wildcard goes in only when it holds jars
# (the java launcher keeps an empty folder's "dir/*" entry verbatim).
add_jars() {{
    for f in "$1"/*.jar; do
        if [ -e "$f" ]; then CLASSPATH="$CLASSPATH:$1/*"; fi
        break
    done
}}
CLASSPATH=$HADOOP_CONF_DIR
for d in hadoop/lib hadoop hadoop-hdfs/lib hadoop-hdfs hadoop-yarn/lib hadoop-yarn \
         hadoop-mapreduce/lib hadoop-mapreduce; do
    add_jars "$PARCEL_ROOT/lib/$d"
done
export CLASSPATH JAVA_HOME HADOOP_CONF_DIR KRB5_CONFIG

run() {{
    class=$1
    shift
    set -f  # HADOOP_OPTS is split into words on purpose, but never globbed
    exec "$JAVA_HOME/bin/java" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \\
        "-Djava.security.krb5.conf=$KRB5_CONFIG" {q(KRB5_EXPORTS)} \\
        ${{HADOOP_OPTS:-}} "$class" "$@"
}}

cmd=${{1:-}}
[ $# -gt 0 ] && shift
case $cmd in
    classpath)
        if [ $# -eq 0 ]; then
            printf '%s\\n' "$CLASSPATH"
            exit 0
        fi
        run org.apache.hadoop.util.Classpath "$@" ;;
    fs|dfs) run org.apache.hadoop.fs.FsShell "$@" ;;
    version) run org.apache.hadoop.util.VersionInfo "$@" ;;
    *)
        echo "Usage: hadoop classpath [--glob|--jar PATH] | fs ARGS | version" >&2
        exit 1 ;;
esac
"""


def install_libhdfs(parcel: Path, libhdfs_so: Path) -> None:
    """``P/lib64/libhdfs.so*`` as a parcel lays it out: the file and its two soname links."""
    lib64 = parcel / "lib64"
    lib64.mkdir()
    shutil.copy2(libhdfs_so, lib64 / "libhdfs.so.0.0.0")
    (lib64 / "libhdfs.so.0").symlink_to("libhdfs.so.0.0.0")
    (lib64 / "libhdfs.so").symlink_to("libhdfs.so.0.0.0")


def build_parcel_tree(
    root: Path,
    *,
    jars_dir: Path,
    libhdfs_so: Path,
    java_home: Path,
    krb5_conf: Path | None = None,
    realm: str = DEFAULT_REALM,
    nn_port: int = 8020,
) -> ParcelTree:
    """Lay out ``root/parcels/CDH-…`` and ``root/etc/hadoop/conf`` (no servers needed)."""
    parcels_root = root / "parcels"
    parcel = parcels_root / PARCEL_NAME
    if parcel.exists():
        shutil.rmtree(parcel)
    jars = parcel / "jars"
    jars.mkdir(parents=True)
    all_jars = sorted(p for p in jars_dir.iterdir() if p.suffix == ".jar")
    for jar in all_jars:
        _link_or_copy(jar, jars / jar.name)

    lib = parcel / "lib"
    for folder, prefixes in LIB_LAYOUT.items():
        (lib / folder / "lib").mkdir(parents=True)
        for jar in all_jars:
            if jar.name.startswith(prefixes) and HADOOP_VERSION in jar.name:
                (lib / folder / jar.name).symlink_to(Path("../../jars") / jar.name)
    for name in DEPENDENCY_JARS:
        (lib / "hadoop" / "lib" / f"{name}.jar").symlink_to(Path("../../../jars") / f"{name}.jar")
    (lib / "hadoop" / "lib" / "native").mkdir()

    install_libhdfs(parcel, libhdfs_so)

    meta = parcel / "meta"
    meta.mkdir()
    (meta / "parcel.json").write_text(json.dumps(parcel_json(), indent=2) + "\n")

    conf_dir = root / "etc" / "hadoop" / "conf"
    krb5 = krb5_conf or root / "etc" / "krb5.conf"
    bin_hadoop = parcel / "bin" / "hadoop"
    bin_hadoop.parent.mkdir()
    bin_hadoop.write_text(render_bin_hadoop(java_home, conf_dir, krb5))
    bin_hadoop.chmod(0o755)

    link = parcels_root / "CDH"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(PARCEL_NAME)
    # last, as Cloudera Manager deploys it after activating a parcel: a client
    # configuration older than the parcel is a stale one (catalog H3)
    write_client_conf(conf_dir, realm, nn_port)
    return ParcelTree(root, parcels_root, parcel, link, conf_dir, parcel / "lib64", bin_hadoop)


def pad_parcel(tree: ParcelTree, lib_jars: int = 400, all_jars: int = 2000) -> None:
    """Pad to a real parcel's size with valid empty zips: >= lib_jars in lib/hadoop*,
    >= all_jars in jars/. Padding jars are hard links of one file (no space used)."""
    jars = tree.parcel_dir / "jars"
    template = jars / "zz-sandbox-padding-template.jar"
    template.write_bytes(EMPTY_ZIP)
    lib_dirs = [tree.parcel_dir / "lib" / f / "lib" for f in LIB_LAYOUT]
    in_lib = sum(1 for d in lib_dirs for _ in d.parent.rglob("*.jar"))
    i = 0
    while in_lib < lib_jars:
        name = f"sandbox-padding-{i:05d}-1.0.jar"
        os.link(template, jars / name)
        target = lib_dirs[i % len(lib_dirs)]
        (target / name).symlink_to(Path("../../../jars") / name)
        in_lib += 1
        i += 1
    count = sum(1 for _ in jars.glob("*.jar"))
    while count < all_jars:
        os.link(template, jars / f"sandbox-padding-{i:05d}-1.0.jar")
        count += 1
        i += 1
