"""Why we expand: a real JVM, real Hadoop 2.7.3 jars and a real libhdfs.so.

The jars come from the pyspark 2.4.8 sdist and libhdfs.so is built from the
pydoop 2.0.0 sources (see mlflow_client_env_sandbox); both are cached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlflow_client_env.discovery import build_environment
from mlflow_client_env.environment import Environment
from mlflow_client_env.hadoop import classpath
from mlflow_client_env_sandbox.parcel import ParcelTree, build_parcel_tree
from mlflow_client_env_sandbox.prepare import Assets, prepare_assets
from tests import trees

CONNECT = (
    "import pyarrow.fs as f\nf.HadoopFileSystem('default')\nprint('connected through libhdfs')\n"
)


@dataclass
class RealTree:
    assets: Assets
    tree: ParcelTree
    conf: Path
    env: Environment


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealTree]:
    assets = prepare_assets()
    root = tmp_path_factory.mktemp("real-parcel")
    tree = build_parcel_tree(
        root, jars_dir=assets.jars_dir, libhdfs_so=assets.libhdfs_so, java_home=assets.java_home
    )
    # a local (file:///) client config: this test is about CLASSPATH, not Kerberos
    conf = trees.make_conf(root / "local-conf", "file:///", kerberos=False, nameservices=None)
    env = build_environment(
        {"PATH": os.environ["PATH"]},
        parcels_root=str(tree.parcels_root),
        hadoop_conf_dir=str(conf),
        java_home=str(assets.java_home),
    )
    yield RealTree(assets, tree, conf, env)


def run_env(real: RealTree, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("CLASSPATH", "LIBHDFS_OPTS")}
    return {**base, **real.env.as_dict(), **extra}


def test_fsshell_lists_with_our_classpath(real: RealTree) -> None:
    java = real.assets.java_home / "bin" / "java"
    out = subprocess.run(
        [str(java), "org.apache.hadoop.fs.FsShell", "-ls", "file:///"],
        env=run_env(real),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "file:///tmp" in out.stdout


def test_libhdfs_jvm_connects_with_our_classpath(real: RealTree) -> None:
    out = subprocess.run(
        [sys.executable, "-c", CONNECT],
        env=run_env(real),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "connected through libhdfs" in out.stdout


def test_libhdfs_jvm_fails_with_wildcard_classpath(real: RealTree) -> None:
    wild = ":".join([str(real.conf), *(f"{d}/*" for d in real.env.hadoop.jar_dirs)])
    out = subprocess.run(
        [sys.executable, "-c", CONNECT],
        env=run_env(real, CLASSPATH=wild),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert "NoClassDefFoundError" in out.stderr
    assert "HDFS connection failed" in out.stderr
    assert "classpath.wildcard" in {f.code for f in classpath.lint(wild.split(":"))}


def test_exact_classpath_matches_listing_and_is_cached(real: RealTree, tmp_path: Path) -> None:
    inst = real.env.hadoop
    exact = classpath.exact_classpath(inst, real.conf, real.assets.java_home, tmp_path)
    assert exact[0] == str(real.conf)
    listed = {os.path.realpath(j) for j in classpath.list_jars(inst)}
    got = {os.path.realpath(e) for e in exact[1:] if e.endswith(".jar")}
    assert got == listed
    # the second call must not start the JVM: break bin/hadoop and ask again
    hadoop = inst.bin_dir / "hadoop"  # type: ignore[operator]
    saved = hadoop.read_bytes()
    try:
        hadoop.write_text("#!/bin/sh\necho broken >&2; exit 3\n")
        assert classpath.exact_classpath(inst, real.conf, real.assets.java_home, tmp_path) == exact
        shutil.rmtree(tmp_path)
        with pytest.raises(Exception, match="exit 3"):
            classpath.exact_classpath(inst, real.conf, real.assets.java_home, tmp_path)
    finally:
        hadoop.write_bytes(saved)
