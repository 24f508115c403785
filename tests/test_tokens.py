"""Delegation tokens the way YARN ships them, against the real Kerberized sandbox.

Tokens are fetched with the ticket by Hadoop's own ``DelegationTokenFetcher`` (the
sandbox's Hadoop 2.7.3 jars: ``hdfs fetchdt``); Hadoop 3.3.4 (pip pyspark's client jars)
rewrites one in the protobuf format. A "container" is a Python process with
``HADOOP_TOKEN_FILE_LOCATION``, no usable ticket (``KRB5CCNAME`` pointing at nothing, the
ticket cache deleted) and the environment ``spark_conf(mode="yarn")`` gives executors.
A token the NameNode stops honouring (cancelled with ``DelegationTokenFetcher --cancel``,
or expired on a NameNode of its own with a 3 s renew interval) fails fast with the
explanation, never a hang.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env.discovery import build_environment
from mlflow_client_env.findings import Finding
from mlflow_client_env.hadoop import TOKEN_FILE_VAR
from mlflow_client_env.hadoop.conf import discover_conf
from mlflow_client_env.hadoop.tokens import (
    NO_TICKET_CACHE,
    DelegationTokenRejectedError,
    TokenFileError,
    TokenFormatError,
    parse_token_storage,
    probe_tokens,
    read_token_file,
    rejection_of,
    target_services,
    ticket_or_tokens,
    token_findings,
)
from mlflow_client_env.spark import EXECUTOR_ENV, spark_conf
from mlflow_client_env_sandbox import Assets
from mlflow_client_env_sandbox.hadoop_xml import write_configuration
from mlflow_client_env_sandbox.hdfs import Hdfs, HdfsPorts, client_jvm_options
from mlflow_client_env_sandbox.ports import free_ports
from tests.helpers_cli import doctor_check, run_cli
from tests.sandbox.fixtures import Cluster
from tests.sandbox.helpers import ClientEnv, base_env, run_python

pytestmark = [pytest.mark.sandbox, pytest.mark.jvm]

FETCHER = "org.apache.hadoop.hdfs.tools.DelegationTokenFetcher"
WEEK_MS = 7 * 24 * 3600 * 1000  # dfs.namenode.delegation.token.max-lifetime's default


def fetcher(
    hdfs: Hdfs, ccache: Path, *args: str, conf_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Hadoop's ``DelegationTokenFetcher`` (``hdfs fetchdt``) as the owner of ``ccache``."""
    argv = [
        hdfs.java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        *client_jvm_options(hdfs.kdc.krb5_conf),
        "-cp", hdfs.client_classpath(conf_dir), FETCHER, *args,
    ]  # fmt: skip
    env = {**base_env(), "KRB5CCNAME": f"FILE:{ccache}", "KRB5_CONFIG": str(hdfs.kdc.krb5_conf)}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def fetch_token(
    hdfs: Hdfs, ccache: Path, dest: Path, *extra: str, conf_dir: Path | None = None
) -> Path:
    proc = fetcher(hdfs, ccache, *extra, "--renewer", "alice", str(dest), conf_dir=conf_dir)
    assert proc.returncode == 0 and dest.is_file(), proc.stdout + proc.stderr[-3000:]
    return dest


@pytest.fixture
def token(cluster: Cluster, client_env: ClientEnv, tmp_path: Path) -> Path:
    return fetch_token(cluster.sandbox.hdfs, client_env.ccache, tmp_path / "container_tokens")


def driver_env(client: ClientEnv, **more: str) -> dict[str, str]:
    """The client's environment as the driver has it, with private config files."""
    private = client.ccache.parent
    return {
        **base_env(),
        **client.env,
        "MLFLOW_CLIENT_ENV_CONFIG": str(private / "user-config.toml"),
        "MLFLOW_CLIENT_ENV_SITE_CONFIG": str(private / "site-config.toml"),
        "MLFLOW_CLIENT_ENV_CACHE": str(private / "cache"),
        **more,
    }


def container_env(
    driver: dict[str, str], java_home: Path, token_file: Path, hdfs_client: str | None
) -> dict[str, str]:
    """A YARN container's environment: what the NodeManager gives it (JAVA_HOME, the token
    file), no ticket, and the executors' variables of ``spark_conf(mode="yarn")``."""
    composed = build_environment(driver)
    conf = spark_conf("yarn", hdfs_client=hdfs_client, environment=composed, env=driver)
    env = {k.removeprefix(EXECUTOR_ENV): v for k, v in conf.items() if k.startswith(EXECUTOR_ENV)}
    assert not {"KRB5CCNAME", "MLFLOW_KERBEROS_TICKET_CACHE", "KRB5_CONFIG"} & set(env), env
    return {
        **env,
        "JAVA_HOME": str(java_home),  # the NodeManager's
        TOKEN_FILE_VAR: str(token_file),
        "KRB5CCNAME": NO_TICKET_CACHE,
        "HOME": str(token_file.parent),
    }


WRITE_PYARROW = """
import json, os, sys
import pyarrow.fs as pafs
from mlflow_client_env.hadoop.tokens import ticket_or_tokens, token_findings
from mlflow_client_env.findings import Finding
out = {"findings": [[f.code, f.status] for f in token_findings()]}
missing = Finding("kerberos.missing", "error", "no ticket")
out["combined"] = [[f.code, f.status] for f in ticket_or_tokens([missing], token_findings())]
try:
    # as MLflow calls it: kerb_ticket only when MLFLOW_KERBEROS_TICKET_CACHE is set
    fs = pafs.HadoopFileSystem("default", 0,
                               kerb_ticket=os.environ.get("MLFLOW_KERBEROS_TICKET_CACHE"))
    with fs.open_output_stream(sys.argv[1]) as f:
        f.write(b"written with a delegation token\\n")
    out["wrote"] = True
except Exception as exc:
    out["error"] = f"{type(exc).__name__}: {exc}"
print("RESULT " + json.dumps(out))
"""

WRITE_NATIVE = """
import json, os, sys
from hdfs_native import Client
try:
    with Client().create(sys.argv[1]) as f:
        f.write(b"written with a delegation token\\n")
    print("RESULT " + json.dumps({"wrote": True}))
except Exception as exc:
    print("RESULT " + json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
"""

WRITE_REPO = """
import json, os, sys, tempfile
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
local = os.path.join(tempfile.mkdtemp(), "one.txt")
with open(local, "w") as f:
    f.write("one")
try:
    get_artifact_repository(sys.argv[1]).log_artifact(local)
    print("RESULT " + json.dumps({"wrote": True}))
except Exception as exc:
    print("RESULT " + json.dumps({"type": type(exc).__name__, "problem": getattr(exc, "problem", str(exc)),
          "fix": getattr(exc, "fix", None), "oserror": isinstance(exc, OSError)}))
"""


def run_container(code: str, env: dict[str, str], path: str) -> tuple[dict[str, Any], str]:
    """Run ``code`` in a token-only process; its RESULT and its stderr (libhdfs prints the
    Java exceptions there). A hang fails the test (run_python's guard)."""
    import json

    proc = run_python(code.replace("sys.argv[1]", repr(path)), env, timeout=120)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-4000:]
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result, proc.stderr


# ============================================================================ the reader
def test_reads_a_token_hadoop_fetched(cluster: Cluster, token: Path) -> None:
    tf = read_token_file(token)
    assert tf.format == "writable"
    assert len(tf.tokens) == 1
    t = tf.tokens[0]
    assert (t.kind, t.service, t.alias) == (
        "HDFS_DELEGATION_TOKEN", "ha-hdfs:sandboxns", "ha-hdfs:sandboxns"
    )  # fmt: skip
    assert t.decoded is not None
    assert t.decoded.owner == f"alice@{cluster.sandbox.realm}"
    assert t.decoded.renewer == "alice" and t.decoded.real_user == ""
    assert t.decoded.max_date_ms - t.decoded.issue_date_ms == WEEK_MS
    assert abs(t.decoded.issue_date - time.time()) < 3600
    assert t.password_length > 0 and not hasattr(t, "password")  # a secret: never kept
    # Hadoop's own reading of the same file agrees
    printed = fetcher(cluster.sandbox.hdfs, Path("/nonexistent"), "--print", str(token))
    assert printed.returncode == 0, printed.stderr[-2000:]
    m = re.search(r"Token \((\S+) token (\d+) for (\S+)\) for (\S+)", printed.stdout)
    assert m, printed.stdout
    short = t.decoded.owner.split("@")[0]
    assert m.groups() == (t.kind, str(t.decoded.sequence_number), short, t.service)


TO_PROTOBUF = """
import java.io.*;
import org.apache.hadoop.security.Credentials;
public class ToProtobuf {
    public static void main(String[] a) throws Exception {
        Credentials c = new Credentials();
        try (DataInputStream in = new DataInputStream(new FileInputStream(a[0]))) {
            c.readTokenStorageStream(in);
        }
        try (DataOutputStream out = new DataOutputStream(new FileOutputStream(a[1]))) {
            c.writeTokenStorageToStream(out, Credentials.SerializedFormat.PROTOBUF);
        }
    }
}
"""


def test_reads_the_protobuf_format_hadoop3_writes(
    token: Path, client_env: ClientEnv, sandbox_assets: Assets, tmp_path: Path
) -> None:
    """Hadoop 3.3.4 (pip pyspark's client jars) rewrites the real token as format 1, which
    hdfs-native also reads."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    src = tmp_path / "ToProtobuf.java"
    src.write_text(TO_PROTOBUF)
    out = tmp_path / "tokens.pb"
    proc = subprocess.run(
        [str(sandbox_assets.java_home / "bin" / "java"), "-cp", f"{jars}/*", str(src),
         str(token), str(out)],
        capture_output=True, text=True, timeout=300, env=base_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.read_bytes()[:5] == b"HDTS\x01"
    pb, writable = read_token_file(out), read_token_file(token)
    assert pb.format == "protobuf"
    assert pb.tokens == writable.tokens
    env = {
        "HADOOP_CONF_DIR": str(client_env.conf_dir),
        "KRB5_CONFIG": str(client_env.krb5_conf),
        "KRB5CCNAME": NO_TICKET_CACHE,
        TOKEN_FILE_VAR: str(out),
    }
    listed = run_python(
        "from hdfs_native import Client; print(Client().get_file_info('/user').isdir)", env
    )
    assert listed.stdout.strip() == "True", listed.stderr[-2000:]


def test_damaged_files_are_typed_errors(token: Path, tmp_path: Path) -> None:
    data = token.read_bytes()
    for cut in range(5, len(data) - 1):  # every truncation inside the token
        with pytest.raises(TokenFormatError, match=r"truncated|out of range|UTF-8"):
            parse_token_storage(data[:cut], "cut")
    with pytest.raises(TokenFormatError, match="not a Hadoop token storage file"):
        parse_token_storage(b"\x00\x01" + data, "shifted")
    with pytest.raises(TokenFormatError, match="format 7"):
        parse_token_storage(b"HDTS\x07" + data[5:], "v7")
    with pytest.raises(TokenFileError, match="does not exist"):
        read_token_file(tmp_path / "absent")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(TokenFileError, match="not a regular file"):
        read_token_file(fifo)  # never blocks on a FIFO


# ============================================================================ findings
def test_findings_of_a_token_only_process(token: Path, client_env: ClientEnv) -> None:
    env = {**client_env.env, TOKEN_FILE_VAR: str(token)}
    conf = discover_conf(env=env)
    t = read_token_file(token).tokens[0]
    assert t.decoded is not None
    now = time.time()
    assert [f.code for f in token_findings(env, conf, now=now)] == ["kerberos.tokens-valid"]
    soon = token_findings(env, conf, now=t.decoded.max_date - 600)
    assert [(f.code, f.status) for f in soon] == [("kerberos.tokens-expiring", "warn")]
    late = token_findings(env, conf, now=t.decoded.max_date + 1)
    assert [(f.code, f.status) for f in late] == [("kerberos.tokens-expired", "error")]
    assert "max date" in late[0].summary and late[0].fix and "keytab" in late[0].fix
    # the artifacts of the sandbox's server are on hdfs://localhost:<port>: Hadoop wants
    # a token for 127.0.0.1:<port> there, which a token of the nameservice is not
    target = client_env.namenode_uri
    port = target.rsplit(":", 1)[1]
    assert target_services(target, conf, {"localhost": ["127.0.0.1"]}) == (f"127.0.0.1:{port}",)
    other = token_findings(env, conf, targets=[target], now=now)
    assert [f.code for f in other] == ["kerberos.no-token-for-target", "kerberos.tokens-valid"]
    assert f"127.0.0.1:{port}" in other[0].summary
    assert token_findings({k: v for k, v in env.items() if k != TOKEN_FILE_VAR}, conf) == []
    gone = token_findings({**env, TOKEN_FILE_VAR: str(token) + ".gone"}, conf)
    assert [f.code for f in gone] == ["kerberos.token-file-missing"]
    # a missing ticket is healthy where valid tokens serve, and only there
    missing = Finding("kerberos.missing", "error", "no ticket in FILE:/nowhere")
    ok = ticket_or_tokens([missing], token_findings(env, conf, now=now))
    assert (ok[0].code, ok[0].status) == ("kerberos.token-only", "ok")
    bad = ticket_or_tokens([missing], late)
    assert [f.code for f in bad] == ["kerberos.missing", "kerberos.tokens-expired"]


def test_ticket_doctor_and_setup_call_a_token_only_process_healthy(
    cluster: Cluster, client_env: ClientEnv, token: Path
) -> None:
    """A YARN container: no ticket (KRB5CCNAME names nothing), valid HDFS tokens. The
    ticket command, the doctor and setup() say token-only (ok), not "missing"."""
    env = container_env(driver_env(client_env), client_env.java_home, token, "jvm")
    shown = run_cli("ticket", "--json", env=env)
    data = json.loads(shown.stdout)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert data["state"] == "missing" and data["token_only"] is True, data
    assert [t["code"] for t in data["tokens"]] == ["kerberos.tokens-valid"], data
    text = run_cli("ticket", env=env)
    assert text.returncode == 0 and "token-only" in text.stdout, text.stdout
    _, findings = doctor_check("kerberos", env)
    assert findings["kerberos.token-only"]["status"] == "ok", findings
    assert findings["kerberos.tokens-valid"]["status"] == "ok", findings
    assert "kerberos.missing" not in findings, findings
    code = (
        "import json, mlflow_client_env as m\n"
        "r = m.setup()\n"
        "print('RESULT ' + json.dumps([[f.code, f.status] for f in r.findings]))\n"
    )
    # setup() in the container: YARN gives every container the NodeManager's HADOOP_CONF_DIR
    nm_conf = {**env, "HADOOP_CONF_DIR": str(client_env.env["HADOOP_CONF_DIR"])}
    proc = run_python(code, nm_conf, timeout=120)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-3000:]
    got = json.loads(lines[-1][len("RESULT ") :])
    assert ["kerberos.token-only", "ok"] in got and ["kerberos.missing", "error"] not in got, got
    # the same process whose token file is gone is not healthy: the doctor says why
    gone = {**env, TOKEN_FILE_VAR: str(token) + ".gone"}
    assert run_cli("ticket", "--json", env=gone).returncode == 1
    _, findings = doctor_check("kerberos", gone)
    assert findings["kerberos.missing"]["status"] == "error", findings
    assert findings["kerberos.token-file-missing"]["status"] == "error", findings


def test_the_executor_probe_calls_a_yarn_shaped_worker_ready(
    cluster: Cluster, client_env: ClientEnv, token: Path, tmp_path: Path
) -> None:
    """The doctor's executor probe (doctor.spark_probe), run in a process shaped like a
    YARN container: spark_conf(mode="yarn")'s variables, the NodeManager's JAVA_HOME and
    HADOOP_CONF_DIR, a token file, no ticket. spark_conf leaves KRB5CCNAME out on purpose:
    that is no missing variable (the tokens serve), so the probe says ready."""
    env = container_env(driver_env(client_env), client_env.java_home, token, "jvm")
    env["HADOOP_CONF_DIR"] = str(client_env.env["HADOOP_CONF_DIR"])
    # a container has no KRB5CCNAME at all; its host's krb5.conf names a cache that is not
    # there (so no ticket of this test machine can leak in)
    del env["KRB5CCNAME"]
    krb5 = client_env.krb5_conf.read_text().replace(
        "[libdefaults]", "[libdefaults]\n  default_ccache_name = FILE:/dev/null/no-ticket", 1
    )
    (tmp_path / "krb5.conf").write_text(krb5)
    env["KRB5_CONFIG"] = str(tmp_path / "krb5.conf")
    code = (
        "import json\n"
        "from mlflow_client_env.doctor.spark_probe import summarize, worker_report\n"
        "report = json.loads(next(worker_report()))\n"
        "found = summarize({(report['host'], report['pid']): report})\n"
        "print('RESULT ' + json.dumps([[f.code, f.status, f.summary] for f in found]))\n"
    )
    proc = run_python(code, env, timeout=120)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-3000:]
    got = json.loads(lines[-1][len("RESULT ") :])
    assert got[0][:2] == ["spark.executors-ready", "ok"], got
    assert ["kerberos.token-only", "ok"] in [g[:2] for g in got], got


def test_a_malformed_default_fs_with_tokens_is_no_crash(
    client_env: ClientEnv, token: Path, tmp_path: Path
) -> None:
    """fs.defaultFS=hdfs://a..b:8020 (an empty DNS label: getaddrinfo raises UnicodeError)
    and hdfs://[::1:8020 (urlparse raises ValueError), in a process with tokens: ticket,
    the doctor and token_findings answer, with no traceback."""
    for bad in ("hdfs://a..b:8020", "hdfs://[::1:8020"):
        conf = tmp_path / f"conf-{len(bad)}"
        write_configuration(
            conf / "core-site.xml",
            {"fs.defaultFS": bad, "hadoop.security.authentication": "kerberos"},
        )
        env = {**client_env.env, TOKEN_FILE_VAR: str(token), "HADOOP_CONF_DIR": str(conf)}
        found = token_findings(env, discover_conf(env=env))
        assert found and all(f.code.startswith("kerberos.") for f in found), found
        shown = run_cli("ticket", "--json", env=env)
        assert shown.returncode in (0, 1) and "internal error" not in shown.stderr, shown
        json.loads(shown.stdout)
        proc = run_cli("doctor", "--json", "--check", "kerberos", env=env)
        assert proc.returncode in (0, 1), proc.stderr
        assert "crashed" not in proc.stdout, proc.stdout


# ============================================================================ containers
def test_token_only_process_writes_through_pyarrow_with_yarn_conf(
    cluster: Cluster, client_env: ClientEnv, token: Path
) -> None:
    env = container_env(driver_env(client_env), client_env.java_home, token, "jvm")
    client_env.ccache.unlink()  # the container's host has no such ticket cache
    path = f"/user/alice/token-jvm-{uuid.uuid4().hex[:8]}.txt"
    result, stderr = run_container(WRITE_PYARROW, env, path)
    assert result.get("wrote") is True, (result, stderr[-3000:])
    assert result["findings"] == [["kerberos.tokens-valid", "ok"]]
    assert result["combined"][0] == ["kerberos.token-only", "ok"]
    reader_cc = client_env.ccache.parent / "reader_cc"
    cluster.kdc.kinit("alice", reader_cc, lifetime="10m")
    stat = cluster.hdfs.fs("-stat", "%u", path, ccache=reader_cc)
    assert stat.stdout.split() == ["alice"], stat.stderr[-2000:]
    cat = cluster.hdfs.fs("-cat", path, ccache=reader_cc)
    assert cat.stdout == "written with a delegation token\n"


def test_token_only_process_writes_through_hdfs_native(
    cluster: Cluster, client_env: ClientEnv, token: Path
) -> None:
    """hdfs-native reads HADOOP_TOKEN_FILE_LOCATION itself; ``auto`` keeps it for the
    nameservice target (its token service, ha-hdfs:sandboxns, matches in both clients)."""
    env = container_env(driver_env(client_env), client_env.java_home, token, None)  # auto
    assert env["MLFLOW_CLIENT_ENV_HDFS_CLIENT"] == "native"
    assert "CLASSPATH" not in env and "LIBHDFS_OPTS" not in env
    client_env.ccache.unlink()
    path = f"/user/alice/token-native-{uuid.uuid4().hex[:8]}.txt"
    result, stderr = run_container(WRITE_NATIVE, env, path)
    assert result.get("wrote") is True, (result, stderr[-3000:])
    reader_cc = client_env.ccache.parent / "reader_cc"
    cluster.kdc.kinit("alice", reader_cc, lifetime="10m")
    cat = cluster.hdfs.fs("-cat", path, ccache=reader_cc)
    assert cat.stdout == "written with a delegation token\n", cat.stderr[-2000:]


def test_cancelled_token_fails_fast_with_the_explanation(
    cluster: Cluster, client_env: ClientEnv, token: Path
) -> None:
    cancel = fetcher(cluster.sandbox.hdfs, client_env.ccache, "--cancel", str(token))
    assert cancel.returncode == 0, cancel.stderr[-2000:]
    tf = read_token_file(token)
    driver = driver_env(client_env)
    env = container_env(driver, client_env.java_home, token, "jvm")
    native_env = container_env(driver, client_env.java_home, token, "native")
    client_env.ccache.unlink()
    result, stderr = run_container(WRITE_PYARROW, env, f"/user/alice/c-{uuid.uuid4().hex}")
    assert "wrote" not in result and "error" in result, result
    # pyarrow's own message says nothing useful; the NameNode's words are on stderr
    assert "can't be found in cache" in stderr, stderr[-3000:]
    err = rejection_of(stderr, tf)
    assert isinstance(err, DelegationTokenRejectedError)
    assert err.reason == "cancelled"
    t = tf.tokens[0]
    assert t.decoded is not None
    assert f"token {t.decoded.sequence_number} of {t.decoded.owner}" in err.problem
    assert "cancelled" in err.problem and "submit the job again" in err.fix
    # the file alone still looks fine; asking the NameNode (hdfs-native, no JVM) does not
    assert [f.code for f in token_findings(env)] == ["kerberos.tokens-valid"]
    probed = probe_tokens(env)
    assert [(f.code, f.status) for f in probed] == [("kerberos.token-rejected", "error")]
    assert "cancelled" in probed[0].summary
    native, _ = run_container(WRITE_NATIVE, native_env, "/user/alice/never-written")
    assert "can't be found in cache" in str(native.get("error")), native
    # MLflow's repository on the native path: the same explanation, as a typed error
    repo, _ = run_container(WRITE_REPO, native_env, "hdfs:///user/alice/never-logged")
    assert repo["type"] == "HdfsKerberosError" and repo["oserror"] is True, repo
    assert f"token {t.decoded.sequence_number} of {t.decoded.owner}" in repo["problem"], repo
    assert "cancelled" in repo["problem"] and "submit the job again" in repo["fix"], repo


# ============================================================================ expiry
@pytest.fixture(scope="module")
def short_lived_hdfs(
    cluster: Cluster, sandbox_assets: Assets, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hdfs]:
    """A NameNode and DataNode of their own whose delegation tokens must be renewed every
    3 s (the sandbox's KDC; their keytab is private to them). Stopped at module end."""
    base = tmp_path_factory.mktemp("short-tokens")
    hdfs = Hdfs(
        base / "hdfs", HdfsPorts(*free_ports(5)), cluster.kdc, sandbox_assets.java_home,
        sandbox_assets.jars_dir, client_conf_dir=base / "client-conf",
    )  # fmt: skip
    hdfs.keytab = base / "hdfs-services.keytab"
    try:
        hdfs.configure()
        site = hdfs.conf_dir / "hdfs-site.xml"
        extra = "".join(
            f"<property><name>{k}</name><value>{v}</value></property>"
            for k, v in {
                "dfs.namenode.delegation.token.renew-interval": "3000",
                "dfs.namenode.delegation.token.max-lifetime": "7200000",
            }.items()
        )
        site.write_text(site.read_text().replace("</configuration>", extra + "</configuration>"))
        hdfs.format()
        hdfs.start_namenode()
        hdfs.start_datanode()
        hdfs.wait_ready()
        hdfs.create_home_dirs(["alice"])
        yield hdfs
    finally:
        hdfs.stop_datanode()
        hdfs.stop_namenode()


def test_expired_token_fails_fast_with_the_explanation(
    short_lived_hdfs: Hdfs, client_env: ClientEnv, tmp_path: Path
) -> None:
    """Not renewed within the renew interval: the NameNode says 'is expired', while the
    file (max date two hours ahead) still looks valid."""
    hdfs = short_lived_hdfs
    token = fetch_token(hdfs, client_env.ccache, tmp_path / "tokens")
    tf = read_token_file(token)
    t = tf.tokens[0]
    assert t.decoded is not None
    renew_by = t.decoded.issue_date + 3.0
    while time.time() < renew_by + 1.0:  # let the renew interval pass (a wait, not a check)
        time.sleep(0.5)
    driver = driver_env(client_env, HADOOP_CONF_DIR=str(hdfs.client_conf_dir))
    env = container_env(driver, client_env.java_home, token, "jvm")
    client_env.ccache.unlink()
    result, stderr = run_container(WRITE_PYARROW, env, f"/user/alice/e-{uuid.uuid4().hex}")
    assert "wrote" not in result and "error" in result, result
    assert "is expired" in stderr, stderr[-3000:]
    err = rejection_of(stderr, tf)
    assert err is not None and err.reason == "expired"
    assert "nobody renewed it in time" in err.problem
    assert [f.code for f in token_findings(env)] == ["kerberos.tokens-valid"]
    probed = probe_tokens(env)
    assert [(f.code, f.status) for f in probed] == [("kerberos.token-rejected", "error")]
    assert "expired" in probed[0].summary
