"""The parcel tree looks like a CDH parcel on an edge node, built from real parts."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from mlflow_client_env_sandbox import Assets, build_parcel_tree, pad_parcel
from mlflow_client_env_sandbox.parcel import ParcelTree

pytestmark = pytest.mark.sandbox


def test_layout_matches_a_cdh_parcel(parcel_tree: ParcelTree) -> None:
    p = parcel_tree.parcel_dir
    assert parcel_tree.cdh_link.is_symlink()
    assert parcel_tree.cdh_link.resolve() == p.resolve()
    assert p.name == "CDH-6.3.2-1.cdh6.3.2.p0.1605554"
    meta = json.loads((p / "meta" / "parcel.json").read_text())
    assert meta["name"] == "CDH"
    assert meta["version"] == "6.3.2-1.cdh6.3.2.p0.1605554"
    assert {"name": "hadoop", "version": "2.7.3", "pkg_version": "2.7.3"} in meta["components"]
    assert (p / "lib/hadoop/hadoop-common-2.7.3.jar").is_file()
    assert (p / "lib/hadoop/hadoop-auth-2.7.3.jar").is_file()
    assert (p / "lib/hadoop-hdfs/hadoop-hdfs-2.7.3.jar").is_file()
    assert (p / "lib/hadoop-hdfs/lib").is_dir()
    assert len(list((p / "lib/hadoop/lib").glob("*.jar"))) == 21
    assert (p / "lib/hadoop/lib/native").is_dir()
    assert list((p / "lib/hadoop/lib/native").iterdir()) == []
    assert len(list((p / "jars").glob("*.jar"))) == 226
    assert (parcel_tree.conf_dir / "core-site.xml").is_file()
    assert (parcel_tree.conf_dir / "hdfs-site.xml").is_file()


def test_libhdfs_is_a_real_shared_library(parcel_tree: ParcelTree) -> None:
    lib = parcel_tree.lib64 / "libhdfs.so"
    assert os.readlink(lib) == "libhdfs.so.0.0.0"
    data = lib.read_bytes()
    assert data[:4] == b"\x7fELF"
    assert b"hdfsBuilderConnect" in data


def _hadoop(tree: ParcelTree, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")}
    argv = [str(tree.cdh_link / "bin" / "hadoop"), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


def test_bin_hadoop_classpath_glob_lists_real_jars(parcel_tree: ParcelTree) -> None:
    proc = _hadoop(parcel_tree, "classpath", "--glob")
    assert proc.returncode == 0, proc.stderr
    entries = proc.stdout.strip().split(":")
    assert entries[0] == str(parcel_tree.conf_dir)
    assert not [e for e in entries if e.endswith("*")]
    common = [e for e in entries if e.endswith("/hadoop-common-2.7.3.jar")]
    assert common and Path(common[0]).is_file()


def test_bin_hadoop_classpath_without_glob_keeps_wildcards(parcel_tree: ParcelTree) -> None:
    proc = _hadoop(parcel_tree, "classpath")
    assert proc.returncode == 0, proc.stderr
    assert "/lib/hadoop/lib/*:" in proc.stdout


def test_bin_hadoop_quotes_paths_with_spaces(tmp_path: Path, sandbox_assets: Assets) -> None:
    tree = build_parcel_tree(
        tmp_path / "dir with spaces",
        jars_dir=sandbox_assets.jars_dir,
        libhdfs_so=sandbox_assets.libhdfs_so,
        java_home=sandbox_assets.java_home,
    )
    proc = _hadoop(tree, "version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Hadoop 2.7.3")


def test_padding_reaches_parcel_size_with_valid_jars(parcel_tree: ParcelTree) -> None:
    pad_parcel(parcel_tree, lib_jars=400, all_jars=2000)
    p = parcel_tree.parcel_dir
    in_lib = [j for d in (p / "lib").iterdir() for j in d.rglob("*.jar")]
    assert len(in_lib) >= 400
    all_jars = list((p / "jars").glob("*.jar"))
    assert len(all_jars) >= 2000
    padded = next(j for j in in_lib if "padding" in j.name)
    with zipfile.ZipFile(padded) as zf:
        assert zf.namelist() == []
