"""Failures of the native HDFS path are typed, explained, and never hang (issue 14).

Each case runs MLflow's repository (native mode) in a fresh process against the
sandbox, with a real fault: no ticket, a ticket of another principal, an expired
ticket, the KDC stopped or frozen, the NameNode stopped or frozen (SIGSTOP: it accepts
connections and never answers), the DataNode stopped or frozen. Every case must end
with a typed error (an ``MlflowClientEnvError`` that is also an ``OSError``, as
pyarrow's are) naming its troubleshooting code and a fix, not a Rust panic text and
not a hang: the process runs under a hard limit, and the frozen servers need
``MLFLOW_CLIENT_ENV_HDFS_TIMEOUT`` (set to 5 s here) because hdfs-native has no RPC
timeout of its own. Servers stopped here are started again before the test ends.

Also: what hdfs-native does with a delegation token file (``HADOOP_TOKEN_FILE_LOCATION``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env.hadoop.conf import parse_site_xml
from mlflow_client_env.kerberos.ccache import read_file_ccache
from mlflow_client_env_sandbox import Kdc, Sandbox
from mlflow_client_env_sandbox.hadoop_xml import write_configuration
from tests.sandbox.fixtures import HdfsControl
from tests.sandbox.helpers import run_python

pytestmark = pytest.mark.sandbox
ROOT = Path(__file__).resolve().parent.parent
#: The hard limit for one failing process: far above every bound the code sets.
HANG_GUARD = 150.0

FAIL = r"""
import json, os, sys
op, root, local = sys.argv[1], sys.argv[2], sys.argv[3]
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow_client_env.errors import MlflowClientEnvError
out = {}
try:
    repo = get_artifact_repository(root)
    out["class"] = type(repo).__name__
    if op == "write":
        repo.log_artifact(local)
    elif op == "read":
        repo._download_file(os.path.basename(local), local + ".back")
    elif op == "list":
        repo.list_artifacts()
    out["ok"] = True
except Exception as exc:
    out.update(
        type=type(exc).__name__, code=getattr(exc, "code", None),
        problem=getattr(exc, "problem", str(exc)), fix=getattr(exc, "fix", None),
        typed=isinstance(exc, MlflowClientEnvError), oserror=isinstance(exc, OSError),
    )
print("RESULT " + json.dumps(out))
"""


def _run(op: str, env: dict[str, str], root: str, local: Path) -> dict[str, Any]:
    code = f"import sys\nsys.argv[1:] = {[op, root, str(local)]!r}\n" + FAIL
    proc = run_python(code, env, timeout=HANG_GUARD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    got: dict[str, Any] = json.loads(line[len("RESULT ") :])
    return got


def _typed(got: dict[str, Any], error: str, code: str) -> None:
    assert got.get("class") in (None, "NativeHdfsArtifactRepository"), got
    assert got.get("type") == error, got
    assert got["code"] == code and got["typed"] is True and got["oserror"] is True, got
    assert f"[{'catalog ' if code[0].isupper() else ''}{code}]" in got["problem"], got
    assert got["fix"], got
    for rust in ("panicked", "called `Result::unwrap()`", "RUST_BACKTRACE"):
        assert rust not in got["problem"], got


@pytest.fixture
def native(sandbox: Sandbox, kdc: Kdc, hdfs: HdfsControl, tmp_path: Path) -> dict[str, Any]:
    """A fresh ticket for alice, a 1 KiB file to log, the native client's environment."""
    ccache = tmp_path / "krb5cc_alice"
    kdc.kinit("alice", ccache, lifetime="1h")
    local = tmp_path / "one.bin"
    local.write_bytes(os.urandom(1024))
    env = {
        "KRB5_CONFIG": str(kdc.krb5_conf),
        "KRB5CCNAME": f"FILE:{ccache}",
        "HADOOP_CONF_DIR": str(hdfs.client_conf_dir),
        "MLFLOW_CLIENT_ENV_CONFIG": str(tmp_path / "user-config.toml"),
        "MLFLOW_CLIENT_ENV_SITE_CONFIG": str(tmp_path / "site-config.toml"),
        "MLFLOW_CLIENT_ENV_CACHE": str(tmp_path / "cache"),
        "MLFLOW_CLIENT_ENV_HDFS_CLIENT": "native",
        "PYTHONPATH": str(ROOT),
    }
    root = f"hdfs:///user/alice/failures-{uuid.uuid4().hex[:8]}"
    return {"env": env, "root": root, "local": local, "ccache": ccache, "tmp": tmp_path}


def test_no_ticket_is_d1(native: dict[str, Any]) -> None:
    missing = native["tmp"] / "no-such-cache"
    env = {**native["env"], "KRB5CCNAME": f"FILE:{missing}"}
    got = _run("write", env, native["root"], native["local"])
    _typed(got, "HdfsKerberosError", "D1")
    assert str(missing) in got["problem"] and "kinit" in got["fix"]


def test_ticket_of_another_principal_is_d1(native: dict[str, Any]) -> None:
    """MLflow's MLFLOW_KERBEROS_USER names bob; the cache MLFLOW_KERBEROS_TICKET_CACHE names
    holds alice's ticket (pyarrow gets the same pair as user= and kerb_ticket=)."""
    env = {
        **native["env"],
        "MLFLOW_KERBEROS_TICKET_CACHE": str(native["ccache"]),
        "MLFLOW_KERBEROS_USER": "bob",
    }
    got = _run("write", env, native["root"], native["local"])
    _typed(got, "HdfsKerberosError", "D1")
    assert "does not match" in got["problem"] and str(native["ccache"]) in got["problem"]


def test_expired_ticket_is_d6(native: dict[str, Any], kdc: Kdc) -> None:
    ccache = native["tmp"] / "krb5cc_short"
    kdc.kinit("alice", ccache, lifetime="5s")
    tgt = read_file_ccache(ccache).tgt()
    assert tgt is not None
    while time.time() <= tgt.endtime + 1:  # the precondition: the ticket is past its end
        time.sleep(0.5)
    env = {**native["env"], "KRB5CCNAME": f"FILE:{ccache}"}
    got = _run("write", env, native["root"], native["local"])
    _typed(got, "HdfsKerberosError", "D6")
    assert "expired" in got["problem"] and "keep_ticket_fresh" in got["fix"]


def test_kdc_down_is_kdc_unreachable(native: dict[str, Any], kdc: Kdc) -> None:
    """A fresh cache holds only the TGT: the NameNode's service ticket needs the KDC."""
    kdc.stop()
    try:
        got = _run("write", native["env"], native["root"], native["local"])
    finally:
        kdc.start()
    _typed(got, "HdfsKerberosError", "kdc-unreachable")
    assert "Cannot contact any KDC" in got["problem"]


def test_frozen_kdc_is_kdc_unreachable(native: dict[str, Any], frozen: dict[str, Any]) -> None:
    """A KDC that accepts connections and never answers: libkrb5 gives up on its own (about
    27 s with the sandbox's krb5.conf) and says so. hdfs-native calls GSSAPI synchronously,
    so that bound is libkrb5's, not MLFLOW_CLIENT_ENV_HDFS_TIMEOUT's."""
    frozen["freeze"]("kdc")
    env = {**native["env"], "MLFLOW_CLIENT_ENV_HDFS_TIMEOUT": "5"}
    got = _run("write", env, native["root"], native["local"])
    _typed(got, "HdfsKerberosError", "kdc-unreachable")


@pytest.fixture
def namenode_stopped(hdfs: HdfsControl) -> Iterator[None]:
    hdfs.stop_namenode()
    try:
        yield
    finally:
        hdfs.start_namenode()


@pytest.mark.usefixtures("namenode_stopped")
def test_namenode_down_is_namenode_unreachable(native: dict[str, Any]) -> None:
    """hdfs-native alone retries a refused NameNode for about three minutes; the repository
    gives up after Hadoop's own budget (ipc.client.connect.max.retries x retry.interval)."""
    for op in ("write", "list"):
        got = _run(op, native["env"], native["root"], native["local"])
        _typed(got, "HdfsUnreachableError", "namenode-unreachable")
        assert "refused" in got["problem"], got


@pytest.fixture
def frozen(hdfs: HdfsControl, kdc: Kdc) -> Iterator[dict[str, Any]]:
    """SIGSTOP a server (by the PID the sandbox started it with), SIGCONT it afterwards."""
    stopped: list[int] = []

    def freeze(which: str) -> None:
        proc = kdc.process if which == "kdc" else getattr(hdfs.hdfs, which)
        assert proc is not None, f"no {which} running"
        os.kill(proc.pid, signal.SIGSTOP)
        stopped.append(proc.pid)

    try:
        yield {"freeze": freeze}
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)


def test_frozen_namenode_times_out(native: dict[str, Any], frozen: dict[str, Any]) -> None:
    """The NameNode's socket accepts (the kernel does it) but nothing answers: without the
    deadline hdfs-native waits forever."""
    frozen["freeze"]("namenode")
    env = {**native["env"], "MLFLOW_CLIENT_ENV_HDFS_TIMEOUT": "5"}
    got = _run("write", env, native["root"], native["local"])
    assert got.get("type") == "HdfsTimeoutError" and got["typed"] and got["oserror"], got
    assert (
        "no answer within 5 s" in got["problem"] and "MLFLOW_CLIENT_ENV_HDFS_TIMEOUT" in got["fix"]
    )


@pytest.fixture
def written(native: dict[str, Any]) -> dict[str, Any]:
    """The file, logged while everything runs (to be read back while a DataNode is down)."""
    got = _run("write", native["env"], native["root"], native["local"])
    assert got.get("ok") is True, got
    return native


def test_datanode_down_is_no_datanode(written: dict[str, Any], hdfs: HdfsControl) -> None:
    hdfs.stop_datanode()
    try:
        reads = _run("read", written["env"], written["root"], written["local"])
        root = written["root"] + "-more"
        writes = _run("write", written["env"], root, written["local"])
    finally:
        hdfs.start_datanode()
    for got in (reads, writes):
        _typed(got, "HdfsDataNodeError", "no-datanode")
        assert "DataNode" in got["problem"], got


def test_frozen_datanode_times_out(written: dict[str, Any], frozen: dict[str, Any]) -> None:
    """hdfs-native's own dfs.client.socket-timeout (60 s) would end this too; the step
    deadline does it first."""
    frozen["freeze"]("datanode")
    env = {**written["env"], "MLFLOW_CLIENT_ENV_HDFS_TIMEOUT": "5"}
    for op, root in (("read", written["root"]), ("write", written["root"] + "-more")):
        got = _run(op, env, root, written["local"])
        assert got.get("type") == "HdfsTimeoutError" and got["typed"] and got["oserror"], (op, got)
        assert "no answer within 5 s" in got["problem"], got


def _client_conf(hdfs: HdfsControl, dest: Path, nameservice: str | None) -> Path:
    """The sandbox's client configuration, addressing the NameNode as ``localhost:PORT`` or
    through an HA nameservice of one NameNode (whatever the sandbox's own conf does)."""
    core = parse_site_xml(hdfs.client_conf_dir / "core-site.xml")
    site = {
        k: v
        for k, v in parse_site_xml(hdfs.client_conf_dir / "hdfs-site.xml").items()
        if not k.startswith(
            ("dfs.nameservices", "dfs.ha.", "dfs.namenode.rpc-address", "dfs.client.failover")
        )
    }
    address = f"localhost:{hdfs.nn_port}"
    core["fs.defaultFS"] = f"hdfs://{nameservice or address}"
    if nameservice:
        site.update({
            "dfs.nameservices": nameservice,
            f"dfs.ha.namenodes.{nameservice}": "nn1",
            f"dfs.namenode.rpc-address.{nameservice}.nn1": address,
            f"dfs.client.failover.proxy.provider.{nameservice}":
                "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider",
        })  # fmt: skip
    write_configuration(dest / "core-site.xml", core)
    write_configuration(dest / "hdfs-site.xml", site)
    return dest


def _fetch_token(hdfs: HdfsControl, conf: Path, env: dict[str, str], token: Path) -> None:
    """Hadoop's own DelegationTokenFetcher (what 'hdfs fetchdt' runs), with alice's ticket."""
    fetch = subprocess.run(
        [hdfs.hdfs.java, "-Djava.security.krb5.conf=" + env["KRB5_CONFIG"],
         "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
         "-cp", hdfs.hdfs.client_classpath(conf),
         "org.apache.hadoop.hdfs.tools.DelegationTokenFetcher", "--renewer", "alice", str(token)],
        env={**os.environ, "KRB5CCNAME": env["KRB5CCNAME"], "KRB5_CONFIG": env["KRB5_CONFIG"]},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert fetch.returncode == 0 and token.is_file(), fetch.stderr[-2000:]


def _auto(env: dict[str, str]) -> str:
    proc = run_python(
        "from mlflow_client_env.artifacts import hdfs_client_in_force as f\n"
        "c = f(artifact_uri='hdfs:///x'); print(c.client, '|', c.reason)",
        {**env, "MLFLOW_CLIENT_ENV_HDFS_CLIENT": "auto"},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_delegation_token_file_of_a_namenode_is_used_only_for_its_literal_service(
    native: dict[str, Any], hdfs: HdfsControl
) -> None:
    """Hadoop writes a NameNode's token with the service IP:port (127.0.0.1:PORT). Without
    a ticket, hdfs-native authenticates with it for hdfs://127.0.0.1:PORT; for
    hdfs://localhost:PORT it ignores the token and asks GSSAPI, which finds no ticket.
    Java's client matches by address and uses the token for both: so ``auto`` picks the
    JVM when HADOOP_TOKEN_FILE_LOCATION is set for such a target."""
    conf = _client_conf(hdfs, native["tmp"] / "conf-plain", None)
    token = native["tmp"] / "dt.token"
    env = {**native["env"], "HADOOP_CONF_DIR": str(conf)}
    _fetch_token(hdfs, conf, env, token)
    env.update(
        KRB5CCNAME=f"FILE:{native['tmp'] / 'no-ticket'}", HADOOP_TOKEN_FILE_LOCATION=str(token)
    )
    port, tag = hdfs.nn_port, uuid.uuid4().hex
    by_ip = _run("write", env, f"hdfs://127.0.0.1:{port}/user/alice/dt-{tag}", native["local"])
    assert by_ip.get("ok") is True, json.dumps(by_ip)
    by_name = _run(
        "write", env, f"hdfs://localhost:{port}/user/alice/dt-{tag}-name", native["local"]
    )
    _typed(by_name, "HdfsKerberosError", "D1")
    chosen = _auto(env)
    assert chosen.startswith("jvm |") and "HADOOP_TOKEN_FILE_LOCATION" in chosen, chosen


def test_delegation_token_file_of_a_nameservice_is_used(
    native: dict[str, Any], hdfs: HdfsControl
) -> None:
    """A nameservice's token (service ha-hdfs:NAME) matches in hdfs-native as in Java: no
    ticket is needed, and ``auto`` keeps the native client."""
    conf = _client_conf(hdfs, native["tmp"] / "conf-ha", "nativens")
    token = native["tmp"] / "dt-ha.token"
    env = {**native["env"], "HADOOP_CONF_DIR": str(conf)}
    _fetch_token(hdfs, conf, env, token)
    env.update(
        KRB5CCNAME=f"FILE:{native['tmp'] / 'no-ticket'}", HADOOP_TOKEN_FILE_LOCATION=str(token)
    )
    got = _run("write", env, f"hdfs:///user/alice/dt-ha-{uuid.uuid4().hex}", native["local"])
    assert got.get("ok") is True, json.dumps(got)
    chosen = _auto(env)
    assert chosen.startswith("native |"), chosen
