"""Catalog B7 and B6 for real: a CLASSPATH a user built by hand, the real libhdfs and JVM
(Hadoop 2.7.3 on Java 17) against the sandbox's Kerberized HDFS, and the doctor in that
user's shell before it.

- B7: the sandbox CLASSPATH without hadoop-hdfs-2.7.3.jar. Hadoop finds no FileSystem
  implementation for the scheme: ``java.io.IOException: No FileSystem for scheme: hdfs``
  (FileSystem.getFileSystemClass), and pyarrow raises ``OSError: HDFS connection failed``.
- B6: pip pyspark 3.5's real hadoop-client-api-3.3.4.jar and hadoop-client-runtime-3.3.4.jar
  among Hadoop 2.7.3's jars. What really happens depends on the order, and this says so:
  with hadoop-hdfs-2.7.3.jar ahead of them, DFSClient is 2.7.3's while hadoop-common's
  classes are 3.3.4's: ``java.lang.NoSuchMethodError: ... TraceUtils.wrapHadoopConf``.
  With the pair wholly ahead of (or wholly behind) the 2.7.3 jars, one Hadoop wins every
  class and the write works; the doctor's rule reads jar names, not the order, so it calls
  that CLASSPATH shaded-mix as well (an error that has not failed yet, said here honestly).
  The catalog's ClassCastException (the protobuf Message of the other world) is not what
  this pair produces here.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mlflow_client_env_sandbox import Kdc, Sandbox
from mlflow_client_env_sandbox.procs import pdeathsig_preexec
from tests.helpers_cli import doctor_check
from tests.sandbox.fixtures import HdfsControl
from tests.test_jvm_renewal import libhdfs_env

HDFS_JAR = "hadoop-hdfs-2.7.3.jar"
PYSPARK_JARS = Path(sys.prefix, "lib", "python3.11", "site-packages", "pyspark", "jars")
CLIENT_API = PYSPARK_JARS / "hadoop-client-api-3.3.4.jar"
CLIENT_RUNTIME = PYSPARK_JARS / "hadoop-client-runtime-3.3.4.jar"

#: connects as MLflow's HDFS repository does (host "default", port 0) and writes one file
WRITE = """
import sys
import pyarrow.fs as pafs
fs = pafs.HadoopFileSystem("default", 0)
with fs.open_output_stream(sys.argv[1]) as s:
    s.write(b"x")
print("written")
"""


@pytest.fixture
def shell(sandbox: Sandbox, kdc: Kdc, hdfs: HdfsControl, tmp_path: Path) -> dict[str, str]:
    """alice's shell after ``eval "$(mlflow-client-env env)"``, with private config files."""
    sandbox.ensure_parcel()
    cc = tmp_path / "krb5cc_alice"
    kdc.kinit("alice", cc, lifetime="10h")
    return {
        **libhdfs_env(sandbox, cc),
        "MLFLOW_CLIENT_ENV_CONFIG": str(tmp_path / "user.toml"),
        "MLFLOW_CLIENT_ENV_SITE_CONFIG": str(tmp_path / "site.toml"),
        "MLFLOW_CLIENT_ENV_CACHE": str(tmp_path / "cache"),
    }


def write(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real pyarrow -> libhdfs -> JVM write, in a child (one JVM per CLASSPATH)."""
    return subprocess.run(
        [sys.executable, "-c", WRITE, f"/tmp/b7b6-{uuid.uuid4().hex}"],
        env=env, capture_output=True, text=True, timeout=180, preexec_fn=pdeathsig_preexec(),
    )  # fmt: skip


def failed_connect(run: subprocess.CompletedProcess[str]) -> None:
    assert run.returncode == 1, (run.returncode, run.stderr[-3000:])  # an exception, no crash
    assert "written" not in run.stdout
    assert run.stderr.strip().splitlines()[-1] == "OSError: HDFS connection failed"


def test_the_full_classpath_writes_and_the_doctor_has_no_b6_b7(shell: dict[str, str]) -> None:
    """The control: env's own CLASSPATH writes, and neither finding is there."""
    run = write(shell)
    assert run.returncode == 0 and "written" in run.stdout, run.stderr[-3000:]
    _, found = doctor_check("classpath", shell)
    assert not [c for c in found if c.endswith(("no-hdfs-client", "shaded-mix"))], found


def test_b7_a_classpath_without_the_hdfs_jar(shell: dict[str, str]) -> None:
    full = shell["CLASSPATH"].split(":")
    partial = [e for e in full if Path(e).name != HDFS_JAR]
    assert len(partial) == len(full) - 1, f"{HDFS_JAR} was not on {full}"
    user = {**shell, "CLASSPATH": ":".join(partial)}

    # the doctor, before the user writes anything
    code, found = doctor_check("classpath", user)
    b7 = found["classpath.inherited.no-hdfs-client"]
    assert code == 1 and b7["status"] == "error", found
    assert "No FileSystem for scheme: hdfs" in b7["summary"] and "B7" in b7["summary"]
    assert "classpath.ours.no-hdfs-client" not in found  # env's own CLASSPATH has it

    # what the user would have hit
    run = write(user)
    failed_connect(run)
    assert "java.io.IOException: No FileSystem for scheme: hdfs" in run.stderr
    assert "at org.apache.hadoop.fs.FileSystem.getFileSystemClass" in run.stderr


def test_b6_pysparks_shaded_hadoop_3_among_hadoop_2_jars(shell: dict[str, str]) -> None:
    assert CLIENT_API.is_file() and CLIENT_RUNTIME.is_file(), (
        f"pip pyspark 3.5's jars: {PYSPARK_JARS}"
    )
    full = shell["CLASSPATH"].split(":")
    hdfs_jar = next(e for e in full if Path(e).name == HDFS_JAR)
    rest = [e for e in full[1:] if e != hdfs_jar]
    pair = [str(CLIENT_API), str(CLIENT_RUNTIME)]
    mixed = {**shell, "CLASSPATH": ":".join([full[0], hdfs_jar, *pair, *rest])}

    code, found = doctor_check("classpath", mixed)
    b6 = found["classpath.inherited.shaded-mix"]
    assert code == 1 and b6["status"] == "error", found
    assert "B6" in b6["summary"]
    assert "classpath.ours.shaded-mix" not in found

    # Hadoop 2.7.3's DFSClient calls a hadoop-common method that 3.3.4's classes lack
    run = write(mixed)
    failed_connect(run)
    assert "java.lang.NoSuchMethodError" in run.stderr
    assert "org.apache.hadoop.tracing.TraceUtils.wrapHadoopConf" in run.stderr
    assert "at org.apache.hadoop.hdfs.DFSClient.<init>" in run.stderr

    # the same pair wholly ahead of the 2.7.3 jars: Hadoop 3.3.4 serves every class and the
    # write works; the doctor flags it all the same (it reads names, not the order)
    ahead = {**shell, "CLASSPATH": ":".join([full[0], *pair, *full[1:]])}
    run = write(ahead)
    assert run.returncode == 0 and "written" in run.stdout, run.stderr[-3000:]
    _, found = doctor_check("classpath", ahead)
    assert found["classpath.inherited.shaded-mix"]["status"] == "error"
