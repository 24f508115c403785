"""Catalog B3 for real: a CLASSPATH without the jar whose ExceptionUtils libhdfs reports with.

The sandbox's libhdfs.so is Hadoop 2's (built from pydoop 2.0.0's sources): it reports a
Java exception through ``org.apache.commons.lang.exception.ExceptionUtils.getStackTrace``
(commons-lang 2). Hadoop 3's libhdfs calls commons-lang3's ``getRootCauseMessage`` and,
without it, can crash the JVM; no Hadoop 3 libhdfs is at hand here, so what is reproduced
is what the sandbox's does: with commons-lang-2.6.jar left out of CLASSPATH, Hadoop 2.7.3
itself fails (``NoClassDefFoundError: org/apache/commons/lang/StringUtils``) and libhdfs
cannot print why ("unable to get stack trace ... ExceptionUtils::getStackTrace error").
The doctor names the missing jar before that, from the class named in libhdfs.so itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlflow_client_env.doctor.catalog import explain
from mlflow_client_env.hadoop.classpath import exception_utils_class
from mlflow_client_env_sandbox import Assets, Kdc
from mlflow_client_env_sandbox.parcel import ParcelTree
from mlflow_client_env_sandbox.procs import pdeathsig_preexec
from tests.helpers_cli import doctor_check
from tests.sandbox.helpers import base_env

COMMONS_LANG = "commons-lang-2.6.jar"

#: connects as MLflow's HDFS repository does and makes a folder
CONNECT = """
import pyarrow.fs as pafs
pafs.HadoopFileSystem("default", 0).create_dir("/tmp/mce-b3", recursive=True)
print("connected")
"""


def private(tmp_path: Path) -> dict[str, str]:
    return {
        "MLFLOW_CLIENT_ENV_CONFIG": str(tmp_path / "user.toml"),
        "MLFLOW_CLIENT_ENV_SITE_CONFIG": str(tmp_path / "site.toml"),
        "MLFLOW_CLIENT_ENV_CACHE": str(tmp_path / "cache"),
    }


def client(tree: ParcelTree, java_home: Path, kdc: Kdc, tmp_path: Path) -> dict[str, str]:
    """A user's shell on the edge node, with a ticket (the configuration is Kerberized):
    the parcel tree's settings, nothing composed yet."""
    kdc.kinit("alice", tmp_path / "krb5cc_alice", lifetime="10h")
    return {
        **base_env(),
        **private(tmp_path),
        "KRB5_CONFIG": str(kdc.krb5_conf),
        "KRB5CCNAME": f"FILE:{tmp_path / 'krb5cc_alice'}",
        "MLFLOW_CLIENT_ENV_PARCELS_ROOT": str(tree.parcels_root),
        "HADOOP_CONF_DIR": str(tree.conf_dir),
        "JAVA_HOME": str(java_home),
    }


def composed(env: dict[str, str]) -> dict[str, str]:
    """``eval "$(mlflow-client-env env)"`` in that shell."""
    out = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "env", "--json"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return {**env, **json.loads(out.stdout)}


def without(classpath: str, jar: str) -> str:
    kept = [e for e in classpath.split(":") if Path(e).name != jar]
    assert len(kept) == len(classpath.split(":")) - 1, f"{jar} was not on {classpath}"
    return ":".join(kept)


@pytest.fixture
def java_home(sandbox_assets: Assets) -> Path:
    return sandbox_assets.java_home


def test_the_sandbox_libhdfs_reports_through_commons_lang_2(parcel_tree: ParcelTree) -> None:
    """What the doctor reads from the library is what its sources call."""
    assert exception_utils_class(parcel_tree.libhdfs) == (
        "org/apache/commons/lang/exception/ExceptionUtils"
    )


def test_a_classpath_without_commons_lang_is_b3_before_libhdfs_fails(
    parcel_tree: ParcelTree, java_home: Path, kdc: Kdc, tmp_path: Path
) -> None:
    shell = client(parcel_tree, java_home, kdc, tmp_path)
    full = composed(shell)
    partial = without(full["CLASSPATH"], COMMONS_LANG)
    jar = parcel_tree.cdh_link / "lib" / "hadoop" / "lib" / COMMONS_LANG

    # the doctor, in the shell of a user who built CLASSPATH by hand without that jar
    code, found = doctor_check("classpath", {**shell, "CLASSPATH": partial})
    b3 = found["classpath.inherited.no-commons-lang"]
    assert code == 1 and b3["status"] == "error", found
    assert "(catalog B3)" in b3["summary"]
    assert "org.apache.commons.lang.exception.ExceptionUtils" in b3["summary"]
    assert b3["evidence"] == [
        f"{parcel_tree.cdh_link}/lib64/libhdfs.so calls "
        "org.apache.commons.lang.exception.ExceptionUtils"
    ]
    assert b3["fix"].startswith(f"add {jar} to CLASSPATH")
    # our own CLASSPATH (the one 'env' gives) has it, and so has the full one inherited
    assert "classpath.ours.no-commons-lang" not in found
    _, found_full = doctor_check("classpath", full)
    assert not [c for c in found_full if c.endswith("no-commons-lang")], found_full

    # what the user would have hit: the real libhdfs in a JVM with that CLASSPATH
    run = subprocess.run(
        [sys.executable, "-c", CONNECT],
        env={**full, "CLASSPATH": partial}, capture_output=True, text=True, timeout=120,
        preexec_fn=pdeathsig_preexec(),
    )  # fmt: skip
    assert run.returncode == 1, (run.returncode, run.stderr[-3000:])  # an exception, no crash
    assert "connected" not in run.stdout
    assert "NoClassDefFoundError: org/apache/commons/lang/StringUtils" in run.stderr
    # libhdfs's own report of the failure is lost: its ExceptionUtils is not there
    assert (
        "(unable to get stack trace for java.lang.NoClassDefFoundError exception: "
        "ExceptionUtils::getStackTrace error.)" in run.stderr
    )
    assert run.stderr.strip().splitlines()[-1] == "OSError: HDFS connection failed"
    err = subprocess.CalledProcessError(run.returncode, "python", stderr=run.stderr)
    exp = explain(err)
    assert exp is not None and exp.code == "B3", exp


def test_a_parcel_without_commons_lang_makes_our_classpath_b3(
    parcel_tree: ParcelTree, java_home: Path, kdc: Kdc, tmp_path: Path
) -> None:
    """The jar gone from the installation itself: our CLASSPATH cannot have it either."""
    (parcel_tree.parcel_dir / "lib" / "hadoop" / "lib" / COMMONS_LANG).unlink()
    shell = client(parcel_tree, java_home, kdc, tmp_path)
    code, found = doctor_check("classpath", shell)
    b3 = found["classpath.ours.no-commons-lang"]
    assert code == 1 and b3["status"] == "error" and "(catalog B3)" in b3["summary"]
    assert b3["fix"].startswith("add the commons-lang jar of this Hadoop to CLASSPATH")


# --------------------------------------------------------------------------- commons-lang3
HADOOP2_CLASS = b"org/apache/commons/lang/exception/ExceptionUtils"
HADOOP3_CLASS = b"org/apache/commons/lang3/exception/ExceptionUtils"


@pytest.fixture(scope="module")
def lang3_libhdfs(sandbox_assets: Assets, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sandbox's libhdfs built again with one change: it reports exceptions through
    commons-lang3's ExceptionUtils, the class Hadoop 3's libhdfs calls. Only that lookup
    is Hadoop 3's (not its cached classes, not getRootCauseMessage, not its crash)."""
    from mlflow_client_env_sandbox.libhdfs import ensure_libhdfs

    src = tmp_path_factory.mktemp("libhdfs-lang3-src") / "libhdfs"
    shutil.copytree(sandbox_assets.libhdfs_src, src)
    exc = src / "exception.c"
    code = exc.read_bytes()
    assert code.count(HADOOP2_CLASS) == 1, "pydoop's exception.c changed"
    exc.write_bytes(code.replace(HADOOP2_CLASS, HADOOP3_CLASS))
    return ensure_libhdfs(src, sandbox_assets.java_home, tmp_path_factory.mktemp("build"))


def test_a_libhdfs_that_calls_commons_lang3_needs_that_jar(
    parcel_tree: ParcelTree, java_home: Path, kdc: Kdc, lang3_libhdfs: Path, tmp_path: Path
) -> None:
    assert exception_utils_class(lang3_libhdfs) == HADOOP3_CLASS.decode()
    for lib in parcel_tree.lib64.glob("libhdfs.so*"):
        if not lib.is_symlink():
            shutil.copy2(lang3_libhdfs, lib)  # the parcel now ships that libhdfs
    shell = client(parcel_tree, java_home, kdc, tmp_path)
    env = composed(shell)  # Hadoop 2.7.3's jars: commons-lang, no commons-lang3
    code, found = doctor_check("classpath", env)
    for where in ("inherited", "ours"):
        b3 = found[f"classpath.{where}.no-commons-lang3"]
        assert b3["status"] == "error" and "(catalog B3)" in b3["summary"], found
        assert "org.apache.commons.lang3.exception.ExceptionUtils" in b3["summary"]
    assert code == 1
    # the real failure: nothing listens at the configuration's NameNode (localhost:8020);
    # the ConnectException is there, libhdfs cannot say so
    run = subprocess.run(
        [sys.executable, "-c", CONNECT],
        env=env, capture_output=True, text=True, timeout=120, preexec_fn=pdeathsig_preexec(),
    )  # fmt: skip
    assert run.returncode == 1, run.stderr[-3000:]
    lost = "exception: ExceptionUtils::getStackTrace error.)"
    assert lost in run.stderr, run.stderr[-3000:]
    # with commons-lang3 on CLASSPATH the same libhdfs prints the reason, and the doctor
    # has nothing to say
    jar = parcel_tree.parcel_dir / "jars" / "commons-lang3-3.5.jar"
    assert jar.is_file()
    with_jar = {**env, "CLASSPATH": f"{env['CLASSPATH']}:{jar}"}
    _, found_with = doctor_check("classpath", with_jar)
    assert "classpath.inherited.no-commons-lang3" not in found_with
    run = subprocess.run(
        [sys.executable, "-c", CONNECT],
        env=with_jar, capture_output=True, text=True, timeout=120,
        preexec_fn=pdeathsig_preexec(),
    )  # fmt: skip
    assert run.returncode == 1 and lost not in run.stderr
    assert "java.net.ConnectException: Connection refused" in run.stderr, run.stderr[-3000:]
