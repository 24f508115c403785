"""doctor against the real sandbox: healthy, then each link of the chain broken for real.

Every run is ``python -m mlflow_client_env doctor`` in a subprocess whose environment is
the client's shell after ``eval "$(mlflow-client-env env)"``. Each test asserts the
exact finding code, its status and the exit code. Tests that stop a server restart it
in ``finally`` and wait until it serves again, so the session's one sandbox stays healthy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env.kerberos.login import NO_KEYRING_MESSAGE, keyring_supported
from mlflow_client_env_sandbox.procs import pdeathsig_preexec
from tests.sandbox.fixtures import Cluster, HdfsControl, MlflowControl
from tests.sandbox.helpers import ClientEnv, base_env
from tests.spawned import Spawned

pytestmark = pytest.mark.sandbox


@dataclass
class Doctor:
    code: int
    data: dict[str, Any]
    stderr: str

    @property
    def found(self) -> dict[str, dict[str, Any]]:
        return {f["code"]: f for c in self.data["checks"] for f in c["findings"]}

    def check(self, name: str) -> dict[str, Any]:
        return next(c for c in self.data["checks"] if c["name"] == name)


def private(tmp_path: Path) -> dict[str, str]:
    """Our config and cache files in tmp_path: nothing of the host's leaks in."""
    return {
        "MLFLOW_CLIENT_ENV_CONFIG": str(tmp_path / "user.toml"),
        "MLFLOW_CLIENT_ENV_SITE_CONFIG": str(tmp_path / "site.toml"),
        "MLFLOW_CLIENT_ENV_CACHE": str(tmp_path / "cache"),
    }


def shell_env(client: ClientEnv, tmp_path: Path, **over: str) -> dict[str, str]:
    """The user's shell: the sandbox's variables, then ``eval "$(mlflow-client-env env)"``."""
    env = {**base_env(), **client.env, **private(tmp_path), **over}
    out = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "env", "--json"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.stdout.strip(), out.stderr
    return {**env, **json.loads(out.stdout)}


def doctor(env: dict[str, str], *args: str, timeout: float = 240) -> Doctor:
    out = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "doctor", "--json", *args],
        env=env, capture_output=True, text=True, timeout=timeout,
        preexec_fn=pdeathsig_preexec(),
    )  # fmt: skip
    assert out.returncode in (0, 1), out.stderr
    return Doctor(out.returncode, json.loads(out.stdout), out.stderr)


def doctor_text(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "doctor", *args],
        env=env, capture_output=True, text=True, timeout=240,
        preexec_fn=pdeathsig_preexec(),
    )  # fmt: skip


def tmp_uri(client: ClientEnv, what: str) -> str:
    """A fresh folder for one probe (/tmp on the sandbox HDFS is world-writable)."""
    return f"{client.namenode_uri}/tmp/doctor-{what}-{uuid.uuid4().hex[:8]}"


def fresh_tgt(cluster: Cluster, tmp_path: Path) -> str:
    """A new FILE cache holding only alice's TGT, for 10 h: client_env's 1 h ticket is
    'expiring' (threshold 1 h) as soon as a second has passed."""
    cc = tmp_path / "krb5cc_alice_10h"
    cluster.kdc.kinit("alice", cc, lifetime="10h", renewable="1d")
    return f"FILE:{cc}"


HDFS_CHECKS = ("--check", "kerberos", "--check", "tracking-server", "--check", "hdfs")


@dataclass(frozen=True)
class Experiment:
    name: str
    artifact_location: str


@pytest.fixture(scope="module")
def experiment(cluster: Cluster) -> Experiment:
    """An experiment on the sandbox server whose artifacts go to its own hdfs:// folder."""
    name = f"doctor-{uuid.uuid4().hex[:8]}"
    location = f"{cluster.hdfs.namenode_uri}/user/alice/{name}"
    req = urllib.request.Request(
        f"{cluster.mlflow_server.tracking_uri}/api/2.0/mlflow/experiments/create",
        data=json.dumps({"name": name, "artifact_location": location}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    return Experiment(name, location)


# --------------------------------------------------------------------------- healthy
def test_healthy_sandbox_is_ok_everywhere(
    client_env: ClientEnv, cluster: Cluster, tmp_path: Path, experiment: Experiment
) -> None:
    env = shell_env(client_env, tmp_path, KRB5CCNAME=fresh_tgt(cluster, tmp_path))
    d = doctor(env, "--experiment", experiment.name)
    assert d.code == 0 and d.data["verdict"] == "ok", json.dumps(d.data, indent=1)[-6000:]
    statuses = {c["name"]: c["status"] for c in d.data["checks"]}
    assert statuses == {
        "versions": "ok", "installation": "ok", "java": "ok", "client-config": "ok",
        "classpath": "ok", "native-libraries": "ok", "process-start": "ok",
        "jvm": "ok", "live-process": "skip", "kerberos": "ok", "tracking-server": "ok",
        "hdfs": "ok", "hdfs-native": "ok",
    }  # fmt: skip
    f = d.found
    assert f["live-process.not-asked"]["status"] == "skip"  # the only skip: no --pid
    assert f["kerberos.valid"]["status"] == "ok" and f["native-libraries.load"]["status"] == "ok"
    assert f["kerberos.krb5-conf-agrees"]["status"] == "ok"
    ts = f["tracking-server.ok"]
    assert (
        ts["status"] == "ok"
        and f"stores artifacts at {experiment.artifact_location}" in (ts["summary"])
    )
    assert "the Hadoop chain below must work" in ts["evidence"][0]
    probe = f["hdfs.ok"]
    assert probe["status"] == "ok"
    assert (
        f"under {experiment.artifact_location} (the experiment's artifact location)"
        in probe["summary"]
    )


# --------------------------------------------------------------------------- Kerberos
def test_keyring_cache_is_reported_and_setup_copies_it_for_java(
    client_env: ClientEnv,
    cluster: Cluster,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    keyring = f"KEYRING:session:mce-doctor-{uuid.uuid4().hex[:8]}"
    runtime = tmp_path / "run"  # setup()'s private FILE copy goes here (XDG_RUNTIME_DIR, 0700)
    runtime.mkdir(mode=0o700)
    user = {"KRB5CCNAME": keyring, "XDG_RUNTIME_DIR": str(runtime)}
    if not keyring_supported():
        msg = "this kernel has no keyrings: checking the documented fallback instead"
        print(msg)
        record_property("keyring", msg)
        warnings.warn(msg, stacklevel=1)
        env = shell_env(client_env, tmp_path, **user)
        d = doctor(env, "--check", "kerberos")
        assert d.found["kerberos.cache-not-java-readable"]["status"] == "error"
        report = setup_in_subprocess(env)
        copy = next(f for f in report["findings"] if f["code"] == "kerberos.copy-failed")
        assert copy["status"] == "error" and NO_KEYRING_MESSAGE in copy["summary"]
        return
    record_property("keyring", "kernel keyrings available: KEYRING cache used for real")
    kinit_env = {**base_env(), "KRB5_CONFIG": str(client_env.krb5_conf), "KRB5CCNAME": keyring}
    keytab = cluster.kdc.add_principal("alice")
    subprocess.run(
        ["kinit", "-l", "10h", "-r", "1d", "-kt", str(keytab), cluster.kdc.principal("alice")],
        env=kinit_env, check=True, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    try:
        env_cli = subprocess.run(
            [sys.executable, "-m", "mlflow_client_env", "env", "--json"],
            env={**base_env(), **client_env.env, **private(tmp_path), **user},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        # 'env' cannot hand Java a KEYRING cache: it says so and leaves KRB5CCNAME alone
        assert env_cli.returncode == 1
        assert "KEYRING cache, which Java cannot read (catalog D3)" in env_cli.stderr
        assert "kinit --to-file" in env_cli.stderr
        env = shell_env(client_env, tmp_path, **user)
        assert env["KRB5CCNAME"] == keyring and "MLFLOW_KERBEROS_TICKET_CACHE" not in env
        d = doctor(env, *HDFS_CHECKS)
        f = d.found
        assert f["kerberos.valid"]["status"] == "ok"  # Python (MIT krb5) reads the keyring
        w = f["kerberos.cache-not-java-readable"]
        assert w["status"] == "error" and keyring in w["summary"] and "(catalog D3)" in w["summary"]
        # ... and the JVM really cannot: the end-to-end probe fails with D1
        assert f["hdfs.D1"]["status"] == "error" and d.code == 1
        assert "Failed to find any Kerberos tgt" in f["hdfs.D1"]["evidence"][0]

        # setup() (and the kernel launcher) copy the ticket to a private FILE cache
        report = setup_in_subprocess(env)
        copied = next(f for f in report["findings"] if f["code"] == "kerberos.copied-for-java")
        assert copied["status"] == "ok" and keyring in copied["summary"]
        cc = runtime / f"krb5cc_{os.getuid()}_mlflow_client_env"
        assert report["environ"]["KRB5CCNAME"] == f"FILE:{cc}"
        assert report["environ"]["MLFLOW_KERBEROS_TICKET_CACHE"] == str(cc)
        fixed = doctor({**env, **report["environ"]}, *HDFS_CHECKS)
        assert fixed.code == 0, json.dumps(fixed.data, indent=1)[-4000:]
        assert "kerberos.cache-not-java-readable" not in fixed.found
        assert fixed.found["kerberos.valid"]["status"] == "ok"
        assert fixed.found["hdfs.ok"]["status"] == "ok"
    finally:
        subprocess.run(["kdestroy", "-c", keyring], env=kinit_env, capture_output=True)


SETUP_CHILD = """
import json, os
import mlflow_client_env
r = mlflow_client_env.setup()
names = ("KRB5CCNAME", "MLFLOW_KERBEROS_TICKET_CACHE")
print(json.dumps({
    "findings": [{"code": f.code, "status": f.status, "summary": f.summary} for f in r.findings],
    "environ": {k: os.environ[k] for k in names if k in os.environ},
}))
"""


def setup_in_subprocess(env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", SETUP_CHILD], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def test_expired_ticket(
    client_env: ClientEnv, cluster: Cluster, tmp_path: Path, experiment: Experiment
) -> None:
    cc = tmp_path / "krb5cc_short"
    kenv = {**base_env(), "KRB5_CONFIG": str(client_env.krb5_conf)}
    subprocess.run(
        ["kinit", "-l", "5s", "-c", f"FILE:{cc}", "-kt", str(cluster.kdc.add_principal("alice")),
         cluster.kdc.principal("alice")],
        env=kenv, check=True, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    # wait until klist itself says expired, then past the 1 s clock skew
    for _ in range(60):
        if subprocess.run(["klist", "-s", "-c", f"FILE:{cc}"], env=kenv).returncode != 0:
            break
        time.sleep(0.5)
    time.sleep(1.5)
    env = shell_env(client_env, tmp_path, KRB5CCNAME=f"FILE:{cc}")
    assert env["MLFLOW_KERBEROS_TICKET_CACHE"] == str(cc)
    d = doctor(env, *HDFS_CHECKS, "--experiment", experiment.name)
    assert d.code == 1 and d.data["verdict"] == "error"
    f = d.found
    assert f["kerberos.expired"]["status"] == "error"
    assert "has expired" in f["kerberos.expired"]["summary"]
    # libhdfs gets the cache as kerb_ticket; the JVM's text does not say "expired":
    # "failure to login using ticket cache file ... Unable to obtain Principal Name"
    probe = f["hdfs.D1"]
    assert probe["status"] == "error" and "[catalog D1]" in probe["summary"]
    assert probe["evidence"][0].startswith("matched: java.io.IOException: failure to login using")
    assert any("Unable to obtain Principal Name" in e for e in probe["evidence"])


def test_kdc_down(
    client_env: ClientEnv, cluster: Cluster, tmp_path: Path, experiment: Experiment
) -> None:
    """client_env's fresh cache holds only the TGT: the JVM needs the KDC for the
    NameNode's service ticket (Java keeps no service ticket of its own across processes)."""
    env = shell_env(client_env, tmp_path, KRB5CCNAME=fresh_tgt(cluster, tmp_path))
    cluster.kdc.stop()
    try:
        d = doctor(env, *HDFS_CHECKS, "--experiment", experiment.name)
    finally:
        cluster.kdc.start()
    assert d.code == 1
    f = d.found
    assert f["kerberos.valid"]["status"] == "ok"  # the TGT itself is fine
    assert f["tracking-server.ok"]["status"] == "ok"
    probe = f["hdfs.kdc-unreachable"]
    assert probe["status"] == "error" and "the KDC cannot be reached" in probe["summary"]
    assert "Mechanism level: Connection refused" in probe["evidence"][0]
    # the KDC is back: a new ticket can be had again
    cluster.kdc.kinit("alice", tmp_path / "after", lifetime="5m")


# --------------------------------------------------------------------------- servers down
def test_tracking_server_down(
    client_env: ClientEnv, mlflow_server: MlflowControl, tmp_path: Path
) -> None:
    env = shell_env(client_env, tmp_path)
    probe_path = tmp_uri(client_env, "no-tracking")
    mlflow_server.stop()
    try:
        d = doctor(env, "--check", "tracking-server", "--check", "hdfs")
        given = doctor(env, "--check", "tracking-server", "--check", "hdfs",
                       "--probe-path", probe_path)  # fmt: skip
    finally:
        mlflow_server.start()
    assert d.code == 1
    down = d.found["tracking-server.unreachable"]
    assert down["status"] == "error" and "Connection refused" in down["summary"]
    skipped = d.found["hdfs.skipped"]
    assert skipped["status"] == "skip" and "no artifact location known" in skipped["summary"]
    # with --probe-path the HDFS chain is checked anyway, and works
    assert given.code == 1 and given.found["tracking-server.unreachable"]["status"] == "error"
    assert given.found["hdfs.ok"]["status"] == "ok"
    assert f"under {probe_path} (given with --probe-path)" in given.found["hdfs.ok"]["summary"]


def test_namenode_down(client_env: ClientEnv, hdfs: HdfsControl, tmp_path: Path) -> None:
    env = shell_env(client_env, tmp_path)
    hdfs.stop_namenode()
    try:
        d = doctor(env, "--check", "hdfs", "--probe-path", tmp_uri(client_env, "nn"))
    finally:
        hdfs.start_namenode()  # returns once JMX shows a live DataNode, Operational
    assert d.code == 1
    probe = d.found["hdfs.namenode-unreachable"]
    assert probe["status"] == "error"
    assert f"localhost:{hdfs.nn_port} failed on connection exception" in probe["evidence"][0]
    assert "Connection refused" in probe["evidence"][0]
    assert hdfs.hdfs.is_ready()


def test_datanode_down(client_env: ClientEnv, hdfs: HdfsControl, tmp_path: Path) -> None:
    env = shell_env(client_env, tmp_path)
    hdfs.stop_datanode()
    try:
        d = doctor(env, "--check", "hdfs", "--probe-path", tmp_uri(client_env, "dn"))
    finally:
        hdfs.start_datanode()  # returns once the DataNode re-registered and reported blocks
    assert d.code == 1
    probe = d.found["hdfs.no-datanode"]
    assert probe["status"] == "error" and "no DataNode accepted the write" in probe["summary"]
    assert "could only be replicated to 0 nodes" in probe["evidence"][0]
    live = hdfs.hdfs.jmx("Hadoop:service=NameNode,name=FSNamesystemState")["NumLiveDataNodes"]
    assert live == 1 and hdfs.hdfs.is_ready()


def test_permission_denied_on_the_artifact_path(
    client_env: ClientEnv, cluster: Cluster, tmp_path: Path
) -> None:
    bob_cc = tmp_path / "krb5cc_bob"
    cluster.kdc.kinit("bob", bob_cc, lifetime="10m")
    private_dir = f"/tmp/bob-{uuid.uuid4().hex[:8]}/private"
    made = cluster.hdfs.fs(
        "-D", "fs.permissions.umask-mode=077", "-mkdir", "-p", private_dir, ccache=bob_cc
    )
    assert made.returncode == 0, made.stderr[-2000:]
    env = shell_env(client_env, tmp_path)
    d = doctor(env, "--check", "hdfs", "--probe-path", f"{client_env.namenode_uri}{private_dir}")
    assert d.code == 1
    probe = d.found["hdfs.permission-denied"]
    assert probe["status"] == "error" and "HDFS refused access to the path" in probe["summary"]
    assert "Permission denied" in probe["evidence"][0]
    assert probe["fix"].startswith("write under a directory you own")


# --------------------------------------------------------------------------- live process
LIVE_CHILD = """
import ctypes, sys, time
ctypes.CDLL(sys.argv[1])
print("loaded", flush=True)
time.sleep(600)
"""


@pytest.fixture
def live_process(spawned: Spawned) -> Any:
    """Start ``python`` processes that loaded a libjvm; each is killed in teardown."""

    def start(libjvm: Path, env: dict[str, str]) -> subprocess.Popen[str]:
        p: subprocess.Popen[str] = spawned.popen(
            [sys.executable, "-c", LIVE_CHILD, str(libjvm)], env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert p.stdout is not None and p.stdout.readline().strip() == "loaded", p.stderr
        return p

    return start


def test_pid_of_a_kernel_with_a_stale_environment(
    client_env: ClientEnv, tmp_path: Path, live_process: Any
) -> None:
    libjvm = client_env.java_home / "lib" / "server" / "libjvm.so"
    # a kernel started before the environment was set: no CLASSPATH, no ARROW_LIBHDFS_DIR
    bare = {**base_env(), **client_env.env, **private(tmp_path)}
    kernel = live_process(libjvm, bare)
    d = doctor({**base_env(), **private(tmp_path)}, "--pid", str(kernel.pid),
               "--check", "live-process")  # fmt: skip
    assert d.code == 0 and d.data["verdict"] == "warn"
    f = d.found
    mapped = f["live-process.mapped"]
    assert (
        mapped["status"] == "ok"
        and f"process {kernel.pid} mapped: libjvm.so" in (mapped["summary"])
    )
    assert mapped["evidence"] == [f"libjvm.so: {libjvm}"]
    assert "live-process.other-jvm" not in f
    cp = f["live-process.classpath"]
    assert cp["status"] == "warn"
    assert cp["summary"] == "it started without CLASSPATH, which a new process would get"
    assert cp["evidence"][0] == "it has: (unset)"
    assert cp["evidence"][1].startswith(f"new:     {client_env.conf_dir}:")
    assert f["live-process.arrow_libhdfs_dir"]["status"] == "warn"

    # a kernel that runs another JDK's JVM, with a stale CLASSPATH
    other = tmp_path / "old-jdk" / "lib" / "server" / "libjvm.so"
    other.parent.mkdir(parents=True)
    try:
        os.link(libjvm, other)
    except OSError:
        other.write_bytes(libjvm.read_bytes())
    stale = shell_env(client_env, tmp_path, CLASSPATH="/opt/old/hadoop-common-2.6.0.jar")
    stale["CLASSPATH"] = "/opt/old/hadoop-common-2.6.0.jar"
    old = live_process(other, stale)
    d2 = doctor({**base_env(), **private(tmp_path)}, "--pid", str(old.pid),
                "--check", "live-process")  # fmt: skip
    f2 = d2.found
    assert d2.code == 0
    assert f2["live-process.mapped"]["evidence"] == [f"libjvm.so: {other}"]
    jvm = f2["live-process.other-jvm"]
    assert jvm["status"] == "warn" and jvm["summary"] == f"it runs the JVM {other}, not {libjvm}"
    cp2 = f2["live-process.classpath"]
    assert cp2["summary"] == "it started with a different CLASSPATH than a new process would get"
    assert cp2["evidence"][0] == "it has: /opt/old/hadoop-common-2.6.0.jar"
    assert "live-process.arrow_libhdfs_dir" not in f2  # the rest of its environment is ours


# --------------------------------------------------------------------------- text output
def test_text_output_labels_jvm_output_only_under_verbose(
    client_env: ClientEnv, tmp_path: Path
) -> None:
    env = shell_env(client_env, tmp_path, KRB5CCNAME=f"FILE:{tmp_path / 'no-ticket'}")
    args = ("--check", "hdfs", "--probe-path", tmp_uri(client_env, "text"))
    plain = doctor_text(env, *args)
    verbose = doctor_text(env, *args, "-v")
    assert plain.returncode == 1 and verbose.returncode == 1
    for out in (plain, verbose):
        first = out.stdout.splitlines()[0]  # the headline: the catalog entry, not a trace
        assert first.startswith("✗ hdfs: HDFS probe of ") and "[catalog D1]" in first
        assert "Doctor found 1 error in 1 checks." in out.stdout
        for line in out.stdout.splitlines():  # never a bare Java trace line
            assert not line.lstrip().startswith(("at ", "Caused by:", "java.", "javax."))
    assert "JVM/libhdfs output:" not in plain.stdout and "Exception" not in plain.stdout
    assert "fix: " in plain.stdout and "kinit into a FILE cache" in plain.stdout
    jvm_lines = [line for line in verbose.stdout.splitlines() if "JVM/libhdfs output:" in line]
    assert jvm_lines and any("Caused by:" in line for line in jvm_lines)
    for line in verbose.stdout.splitlines():
        if "Exception" in line:
            assert line.lstrip().startswith(
                ("JVM/libhdfs output: ", "matched: ", "pyarrow raised: ")
            )
