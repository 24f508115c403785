"""The doctor knows the native path (issue 14): ``hdfs_client=native`` and the hdfs-native check.

Against the real sandbox (KDC, Kerberized HDFS behind an HA nameservice, MLflow server whose
experiments keep their artifacts on HDFS). Every run is ``python -m mlflow_client_env
doctor`` in a subprocess, as in tests/test_doctor_sandbox.py:

- ``native`` asked for on a host without Java or Hadoop: every JVM layer is "not needed"
  (one declared precondition, naming the setting and its source), the ticket and the client
  configuration are still checked, and the hdfs-native probe writes, reads back and deletes
  a file on HDFS (which FsShell then finds gone);
- ``native`` asked for where hdfs-native cannot be imported: an error with the native extra
  as its fix, never a traceback;
- ``auto`` (the default) in the development environment: the JVM checks run and pass as
  always, and the hdfs-native check says hdfs-native is in force, and probes;
- the NameNode stopped: the probe's failure is the typed explanation
  (namenode-unreachable), within the probe's bounds. The NameNode is started again in
  ``finally``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env.artifacts.mode import NATIVE_EXTRA
from mlflow_client_env_sandbox.procs import pdeathsig_preexec
from tests.sandbox.fixtures import Cluster
from tests.sandbox.helpers import ClientEnv, base_env
from tests.test_doctor_sandbox import (
    Doctor,
    Experiment,
    doctor,
    doctor_text,
    experiment,
    fresh_tgt,
    private,
    shell_env,
)
from tests.test_native_mode import native_host

__all__ = ["experiment"]  # the module fixture, shared with test_doctor_sandbox

pytestmark = pytest.mark.sandbox

#: the checks of the JVM path, each "not needed" with hdfs_client=native
JVM_CHECKS = (
    "installation", "java", "classpath", "native-libraries", "process-start", "jvm", "hdfs",
)  # fmt: skip
ASKED = "not needed with hdfs_client=native (environment MLFLOW_CLIENT_ENV_HDFS_CLIENT)"


def native_shell(client_env: ClientEnv, tmp_path: Path) -> dict[str, str]:
    """A user's shell on a host without Java or Hadoop, with hdfs_client=native, after
    ``eval "$(mlflow-client-env env)"`` (which then exports no JVM variable)."""
    env = {
        **base_env(),
        **native_host(client_env),
        **private(tmp_path),
        "MLFLOW_CLIENT_ENV_HDFS_CLIENT": "native",
    }
    out = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "env", "--json"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    exported = json.loads(out.stdout)
    assert "JAVA_HOME" not in exported and "CLASSPATH" not in exported, exported
    return {**env, **exported}


def by_code(d: Doctor, name: str) -> dict[str, dict[str, Any]]:
    return {f["code"]: f for f in d.check(name)["findings"]}


# --------------------------------------------------------------------------- native
def test_native_on_a_host_without_java_or_hadoop(
    client_env: ClientEnv, cluster: Cluster, tmp_path: Path, experiment: Experiment
) -> None:
    env = native_shell(client_env, tmp_path)
    d = doctor(env, "--experiment", experiment.name)
    assert d.code == 0 and d.data["verdict"] == "ok", json.dumps(d.data, indent=1)[-6000:]
    for name in JVM_CHECKS:
        (only,) = d.check(name)["findings"]
        assert only["code"] == f"{name}.not-needed", only
        assert only["status"] == "skip" and ASKED in only["summary"], only
    assert d.check("installation")["findings"][0]["summary"].startswith(
        "the Hadoop installation (its jars, libhdfs.so): not needed"
    )
    # what hdfs-native needs is still checked: the client configuration, the ticket
    assert d.check("client-config")["status"] == "ok"
    assert d.found["client-config.ok"]["status"] == "ok"
    krb = by_code(d, "kerberos")
    assert krb["kerberos.valid"]["status"] == "ok"
    java_side = krb["kerberos.not-needed"]["summary"]
    assert java_side.startswith("Java's side") and ASKED in java_side
    assert "kerberos.krb5-conf-agrees" not in krb and "kerberos.cache-not-java-readable" not in krb
    # the hdfs-native check: installed, libgssapi, in force, and the probe
    native = by_code(d, "hdfs-native")
    assert d.check("hdfs-native")["status"] == "ok", native
    assert native["hdfs-native.installed"]["summary"].startswith("hdfs-native 0.")
    assert native["hdfs-native.libgssapi"]["status"] == "ok"
    in_force = native["hdfs-native.in-force"]["summary"]
    assert in_force.startswith("HDFS artifacts go through hdfs-native: asked for (mode native")
    assert d.check("hdfs-native")["summary"] == in_force  # the check's headline
    note = d.found["tracking-server.ok"]["evidence"][0]
    assert "through hdfs-native (hdfs_client=native)" in note, note
    probe = native["hdfs-native.probe"]
    assert probe["status"] == "ok"
    assert (
        f"under {experiment.artifact_location} (the experiment's artifact location) "
        "through hdfs-native" in probe["summary"]
    )
    # deleted: the folder the probe wrote into holds nothing (Java's FsShell looks)
    ls = cluster.hdfs.fs("-ls", experiment.artifact_location, ccache=client_env.ccache)
    assert ls.returncode == 0, ls.stderr[-2000:]
    assert "native-probe" not in ls.stdout, ls.stdout
    # the text report says "not needed" in so many words
    text = doctor_text(env, "--check", "java", "--check", "installation", "--check", "hdfs")
    assert text.returncode == 0, text.stdout + text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(
        "- installation: the Hadoop installation (its jars, libhdfs.so): not needed with "
        "hdfs_client=native (environment MLFLOW_CLIENT_ENV_HDFS_CLIENT)"
    ), text.stdout
    assert lines[1].startswith(f"- java: Java: {ASKED}"), text.stdout
    assert lines[2].startswith("- hdfs: the HDFS probe through pyarrow and libhdfs"), text.stdout
    assert "No issues found (3 checks)." in text.stdout


UNIMPORTABLE = """
import sys
sys.modules["hdfs_native"] = None  # its import fails as a missing package's does
from mlflow_client_env.cli.app import main
raise SystemExit(main(sys.argv[1:]))
"""


def test_native_without_hdfs_native_is_an_error_with_the_extra_as_fix(
    client_env: ClientEnv, tmp_path: Path, experiment: Experiment
) -> None:
    """``sys.modules['hdfs_native'] = None``, as tests/test_native_mode.py does for setup()
    (a real venv without it: tests/test_native_repo_modes.py)."""
    env = {
        **base_env(),
        **native_host(client_env),
        **private(tmp_path),
        "MLFLOW_CLIENT_ENV_HDFS_CLIENT": "native",
    }
    argv = ["doctor", "--json", "--experiment", experiment.name]
    out = subprocess.run(
        [sys.executable, "-c", UNIMPORTABLE, *argv],
        env=env, capture_output=True, text=True, timeout=240, preexec_fn=pdeathsig_preexec(),
    )  # fmt: skip
    assert "Traceback" not in out.stdout + out.stderr, out.stderr[-3000:]
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-3000:]
    d = Doctor(out.returncode, json.loads(out.stdout), out.stderr)
    assert d.data["verdict"] == "error"
    (missing,) = d.check("hdfs-native")["findings"]
    assert missing["code"] == "hdfs-native.not-installed" and missing["status"] == "error"
    assert missing["summary"].startswith(
        "the native HDFS client was asked for (hdfs_client=native, environment "
        "MLFLOW_CLIENT_ENV_HDFS_CLIENT), but hdfs-native is not installed"
    ), missing
    assert missing["fix"].startswith(f"{NATIVE_EXTRA} (the native extra)"), missing
    # the JVM layers are still not needed: the error is where it belongs, once
    for name in JVM_CHECKS:
        assert d.check(name)["findings"][0]["code"] == f"{name}.not-needed", d.check(name)
    errors = [c["name"] for c in d.data["checks"] if c["status"] == "error"]
    assert errors == ["hdfs-native"], errors


# --------------------------------------------------------------------------- auto
def test_auto_runs_the_jvm_checks_and_probes_hdfs_native_too(
    client_env: ClientEnv, cluster: Cluster, tmp_path: Path, experiment: Experiment
) -> None:
    env = shell_env(client_env, tmp_path, KRB5CCNAME=fresh_tgt(cluster, tmp_path))
    assert "MLFLOW_CLIENT_ENV_HDFS_CLIENT" not in env  # the default: auto
    d = doctor(env, "--experiment", experiment.name)
    assert d.code == 0 and d.data["verdict"] == "ok", json.dumps(d.data, indent=1)[-6000:]
    statuses = {c["name"]: c["status"] for c in d.data["checks"]}
    assert all(statuses[name] == "ok" for name in JVM_CHECKS), statuses
    f = d.found
    assert f["native-libraries.load"]["status"] == "ok" and f["hdfs.ok"]["status"] == "ok"
    assert f["kerberos.krb5-conf-agrees"]["status"] == "ok"  # Java's side: judged
    assert not [code for code in f if code.endswith(".not-needed")], sorted(f)
    native = by_code(d, "hdfs-native")
    assert list(native) == [
        "hdfs-native.in-force", "hdfs-native.installed", "hdfs-native.libgssapi",
        "hdfs-native.probe",
    ], native  # fmt: skip
    in_force = native["hdfs-native.in-force"]["summary"]
    assert in_force.startswith("HDFS artifacts go through hdfs-native: hdfs-native can serve")
    assert "(mode auto, default)" in in_force and "the JVM checks above still apply" in in_force
    assert native["hdfs-native.probe"]["status"] == "ok"
    assert experiment.artifact_location in native["hdfs-native.probe"]["summary"]


# --------------------------------------------------------------------------- a failing probe
def test_a_stopped_namenode_is_explained_not_a_hang(
    client_env: ClientEnv, cluster: Cluster, tmp_path: Path, experiment: Experiment
) -> None:
    env = native_shell(client_env, tmp_path)
    cluster.hdfs.stop_namenode()
    try:
        d = doctor(env, "--check", "hdfs-native", "--experiment", experiment.name)
    finally:
        cluster.hdfs.start_namenode()
    assert d.code == 1 and d.data["verdict"] == "error", json.dumps(d.data, indent=1)
    assert "Traceback" not in d.stderr
    failed = by_code(d, "hdfs-native")["hdfs-native.namenode-unreachable"]
    assert failed["status"] == "error"
    assert failed["summary"].startswith(
        f"the hdfs-native probe of {experiment.artifact_location} failed: "
    )
    assert "refused" in failed["summary"] and "[namenode-unreachable]" in failed["summary"]
    assert failed["fix"] and failed["fix"].endswith(
        "or use the JVM client: MLFLOW_CLIENT_ENV_HDFS_CLIENT=jvm"
    )
    for rust in ("panicked", "called `Result::unwrap()`", "RUST_BACKTRACE"):
        assert rust not in failed["summary"], failed
