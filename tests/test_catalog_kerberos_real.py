"""Catalog entries D2, D4, D6 and D7 reproduced for real, and the texts they really print.

Each libhdfs case runs pyarrow -> libhdfs -> JVM (Hadoop 2.7.3, Java 17) in a child process
against the sandbox's Kerberized HDFS; the child's stderr (what the JVM printed) is fed to
``explain()`` and to ``mlflow-client-env explain -``, never a hand-written string.

- D6: a 15 s ticket that is not renewable; one write, then the same filesystem writes again
  after the ticket expired. Hadoop's own renewal thread says why first ("Aborting renew
  thread ... while renewing credentials"), then the write fails with GSS initiate failed.
  Also with the JVM options keep_ticket_fresh() adds: a different Java text, still D6, and
  Java never prompts on the (open) standard input.
- D2: a user name without a ticket cache (pyarrow ``user=``; MLflow's MLFLOW_KERBEROS_USER
  without MLFLOW_KERBEROS_TICKET_CACHE) makes Hadoop use a SIMPLE "remote user":
  "Client cannot authenticate via:[TOKEN, KERBEROS]", though a valid ticket is there.
- B5, next to D2: a client configuration that says ``authentication=simple`` for this
  Kerberized cluster. The NameNode answers "SIMPLE authentication is not enabled", but
  libhdfs raises only "Permission denied"; the doctor's client-config check sees it first.
- D7: Java's krb5.conf asks only for enctypes the KDC has no keys for (as a FIPS/FUTURE
  crypto policy does): "KDC has no support for encryption type". And the honest limit: a TGT
  of a type Java refuses (crypto.policy=limited, AES-256 ticket) is skipped silently and the
  text is D1's.
- D4: Heimdal's kinit first on PATH (a real other kinit with its own libkrb5): its real
  error on a KEYRING cache, and the doctor finding that names it and what it resolves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mlflow_client_env.doctor.catalog import explain, explain_text
from mlflow_client_env.doctor.kinit_on_path import kinit_findings
from mlflow_client_env.kerberos.profile import discover_kerberos
from mlflow_client_env.kerberos.renew import jvm_renewal_options
from mlflow_client_env_sandbox import Kdc, Sandbox
from mlflow_client_env_sandbox.kdc import heimdal_kinit_prefix
from mlflow_client_env_sandbox.procs import pdeathsig_preexec
from tests.sandbox.fixtures import HdfsControl
from tests.sandbox.helpers import base_env, make_client_conf
from tests.test_jvm_renewal import libhdfs_env

#: Writes through ONE HadoopFileSystem: now, then (with "expire") again once the ticket in
#: MLFLOW_KERBEROS_TICKET_CACHE has expired. Prints what happened as JSON on stdout.
WRITER = r"""
import json, os, sys, time
import pyarrow.fs as pafs
from mlflow_client_env.doctor.catalog import explain
from mlflow_client_env.kerberos.ticket import ticket_status
cc = os.environ["MLFLOW_KERBEROS_TICKET_CACHE"]
kw = json.loads(sys.argv[2])
if kw.pop("kerb_ticket", True):
    kw["kerb_ticket"] = cc
fs = pafs.HadoopFileSystem("default", 0, extra_conf={"ipc.client.connection.maxidletime": "500"},
                           **kw)
out = []
def write(i):
    try:
        with fs.open_output_stream(f"{sys.argv[1]}/n{i}") as s:
            s.write(b"x")
        out.append({"ok": True})
    except Exception as exc:
        e = explain(exc)
        out.append({"ok": False, "error": f"{type(exc).__name__}: {exc}", "code": e and e.code})
write(0)
if "expire" in sys.argv[3:]:
    while ticket_status(f"FILE:{cc}", threshold=0, realms=()).state != "expired":
        time.sleep(0.5)
    time.sleep(1.5)  # the KDC's and the NameNode's clock skew is 1 s
    write(1)
print(json.dumps(out), flush=True)
"""


def start_writer(
    env: dict[str, str], folder: str, tmp: Path, *args: str, kw: str = "{}"
) -> tuple[subprocess.Popen[bytes], Path, Path, int]:
    """Start WRITER with output to files and a standard input that stays open (a prompt
    would hang, not read end-of-file). Returns the process, its stdout/stderr files and the
    write end of its stdin, which the caller closes."""
    out, err = tmp / "stdout", tmp / "stderr"
    rfd, wfd = os.pipe()
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, f"{folder}/{uuid.uuid4().hex}", kw, *args],
            env=env, stdin=rfd, stdout=o, stderr=e, preexec_fn=pdeathsig_preexec(),
        )  # fmt: skip
    os.close(rfd)
    return proc, out, err, wfd


def finish(
    proc: subprocess.Popen[bytes], out: Path, err: Path, wfd: int
) -> tuple[list[dict[str, object]], str]:
    try:
        proc.wait(timeout=180)
    finally:
        os.close(wfd)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = err.read_text(errors="replace")
    assert proc.returncode == 0, stderr[-4000:]
    return json.loads(out.read_text().strip().splitlines()[-1]), stderr


def run_writer(
    env: dict[str, str], folder: str, tmp: Path, kw: str = "{}"
) -> tuple[list[dict[str, object]], str]:
    return finish(*start_writer(env, folder, tmp, kw=kw))


def explain_cli(text: str) -> tuple[int, str]:
    """``mlflow-client-env explain -`` with ``text`` on stdin."""
    proc = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "explain", "--json", "-"],
        input=text, capture_output=True, text=True, timeout=60, env={**base_env()},
    )  # fmt: skip
    return proc.returncode, proc.stdout


@pytest.fixture(scope="module")
def folder(sandbox: Sandbox, kdc: Kdc, hdfs: HdfsControl) -> str:
    sandbox.ensure_parcel()
    return "/tmp/catalog-kerberos-real"


def ticket(kdc: Kdc, tmp: Path, lifetime: str = "10m", renewable: str | None = None) -> Path:
    cc = tmp / "krb5cc_alice"
    kdc.kinit("alice", cc, lifetime=lifetime, renewable=renewable)
    return cc


# ------------------------------------------------------------------------------------ D6
def test_d6_ticket_expired_mid_job_on_the_libhdfs_path(
    sandbox: Sandbox, kdc: Kdc, folder: str, tmp_path: Path
) -> None:
    plain_dir, opts_dir = tmp_path / "plain", tmp_path / "opts"
    plain_dir.mkdir()
    opts_dir.mkdir()
    plain_env = libhdfs_env(sandbox, ticket(kdc, plain_dir, lifetime="15s"))
    opts_cc = ticket(kdc, opts_dir, lifetime="15s")
    opts_env = libhdfs_env(sandbox, opts_cc)
    opts_env["LIBHDFS_OPTS"] += " " + " ".join(jvm_renewal_options(opts_cc))
    runs = [
        start_writer(plain_env, folder, plain_dir, "expire"),
        start_writer(opts_env, folder, opts_dir, "expire"),
    ]
    (plain, plain_err), (with_opts, opts_err) = [finish(*r) for r in runs]

    assert plain[0] == {"ok": True}
    assert plain[1]["ok"] is False and plain[1]["code"] == "libhdfs-failed"  # in-process
    # what the JVM printed, in order: its renewal gave up, then the write failed
    assert "Aborting renew thread" in plain_err
    assert "KDC can't fulfill requested option while renewing credentials" in plain_err
    assert "Failed to find any Kerberos tgt" in plain_err
    assert plain_err.index("Aborting renew thread") < plain_err.index("GSS initiate failed")
    exp = explain(plain_err)
    assert exp is not None and exp.code == "D6", exp
    assert "Aborting renew thread" in exp.matched
    code, out = explain_cli(plain_err)
    assert code == 0 and json.loads(out)["code"] == "D6"

    # with the options keep_ticket_fresh() gives the JVM: another Java text, still D6,
    # and Java asked nothing on its standard input (which stayed open)
    assert with_opts[0] == {"ok": True} and with_opts[1]["ok"] is False
    assert "Attempt to obtain new INITIATE credentials failed" in opts_err
    assert "Kerberos username" not in opts_err
    exp2 = explain(opts_err)
    assert exp2 is not None and exp2.code == "D6"


# ------------------------------------------------------------------------------- D2 / B5
def test_d2_a_user_name_without_the_ticket_cache_is_a_simple_login(
    sandbox: Sandbox, kdc: Kdc, folder: str, tmp_path: Path
) -> None:
    env = libhdfs_env(sandbox, ticket(kdc, tmp_path))
    # control: the same user name with the ticket cache works
    ok, _ = run_writer(env, folder, tmp_path, kw='{"user": "alice"}')
    assert ok == [{"ok": True}]
    (tmp_path / "d2").mkdir()
    res, err = run_writer(
        env, folder, tmp_path / "d2", kw='{"user": "alice", "kerb_ticket": false}'
    )
    assert res[0]["ok"] is False
    assert "Client cannot authenticate via:[TOKEN, KERBEROS]" in err
    exp = explain(err)
    assert exp is not None and exp.code == "D2"
    code, out = explain_cli(err)
    assert code == 0 and json.loads(out)["code"] == "D2"
    assert "MLFLOW_KERBEROS_TICKET_CACHE" in json.loads(out)["fix"]


def test_b5_a_simple_client_config_against_the_kerberized_namenode(
    sandbox: Sandbox, kdc: Kdc, hdfs: HdfsControl, folder: str, tmp_path: Path
) -> None:
    conf = make_client_conf(
        tmp_path / "conf", kdc.realm, hdfs.nn_port,
        core={"hadoop.security.authentication": "simple"},
    )  # fmt: skip
    cc = ticket(kdc, tmp_path)
    client = {**sandbox.env(), "HADOOP_CONF_DIR": str(conf)}
    # the doctor sees the mismatch before anything is written
    doctor = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "doctor", "--json", "--check", "client-config"],
        env={**base_env(), **client, "KRB5CCNAME": f"FILE:{cc}"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    report = json.loads(doctor.stdout)
    codes = {f["code"]: f for c in report["checks"] for f in c["findings"]}
    assert "client-config.simple-against-kerberos" in codes, report
    assert (
        "dfs.namenode.kerberos.principal"
        in codes["client-config.simple-against-kerberos"]["summary"]
    )
    # the real failure, with the environment built from that configuration: libhdfs
    # says "Permission denied", the JVM says why on stderr
    env = libhdfs_env(sandbox, cc, HADOOP_CONF_DIR=str(conf))
    assert env["CLASSPATH"].startswith(f"{conf}:")
    res, err = run_writer(env, folder, tmp_path)
    assert res[0]["ok"] is False and "Permission denied" in str(res[0]["error"])
    assert res[0]["code"] == "permission-denied"  # all the in-process text allows
    assert "SIMPLE authentication is not enabled.  Available:[TOKEN, KERBEROS]" in err
    exp = explain(err)
    assert exp is not None and exp.code == "B5"


# ------------------------------------------------------------------------------------ D7
def java_krb5_conf(kdc: Kdc, dest: Path, enctypes: str) -> Path:
    """The sandbox krb5.conf with Java's enctype lists replaced (a Java-only copy)."""
    lines = []
    for line in kdc.krb5_conf.read_text().splitlines():
        key = line.strip().split(" ", 1)[0]
        if key in ("default_tkt_enctypes", "default_tgs_enctypes", "permitted_enctypes"):
            line = f"    {key} = {enctypes}"
        lines.append(line)
    dest.write_text("\n".join(lines) + "\n")
    return dest


def test_d7_java_asks_for_enctypes_the_kdc_has_no_keys_for(
    sandbox: Sandbox, kdc: Kdc, folder: str, tmp_path: Path
) -> None:
    cc = ticket(kdc, tmp_path)
    sha2 = java_krb5_conf(
        kdc, tmp_path / "java-krb5.conf", "aes256-cts-hmac-sha384-192 aes128-cts-hmac-sha256-128"
    )
    env = libhdfs_env(sandbox, cc)
    env["LIBHDFS_OPTS"] = env["LIBHDFS_OPTS"].replace(str(kdc.krb5_conf), str(sha2))
    assert str(sha2) in env["LIBHDFS_OPTS"]
    res, err = run_writer(env, folder, tmp_path)
    assert res[0]["ok"] is False
    assert "KDC has no support for encryption type (14) - BAD_ENCRYPTION_TYPE" in err
    exp = explain(err)
    assert exp is not None and exp.code == "D7"
    code, out = explain_cli(err)
    assert code == 0 and json.loads(out)["code"] == "D7"


def test_d7_a_tgt_java_refuses_is_skipped_silently(
    sandbox: Sandbox, kdc: Kdc, folder: str, tmp_path: Path
) -> None:
    """The honest limit: with crypto.policy=limited Java cannot use the AES-256 TGT, drops it
    without a word, and the text is D1's. Only comparing enctypes can tell (klist -e)."""
    cc = ticket(kdc, tmp_path)
    limited = tmp_path / "limited.security"
    limited.write_text("crypto.policy=limited\n")
    env = libhdfs_env(sandbox, cc)
    env["LIBHDFS_OPTS"] += f" -Djava.security.properties={limited}"
    res, err = run_writer(env, folder, tmp_path, kw='{"kerb_ticket": false}')
    assert res[0]["ok"] is False
    assert "Failed to find any Kerberos tgt" in err and "Encryption type" not in err
    exp = explain(err)
    assert exp is not None and exp.code == "D1"
    klist = subprocess.run(
        ["klist", "-e", "-c", f"FILE:{cc}"], capture_output=True, text=True,
        env={**base_env(), "KRB5_CONFIG": str(kdc.krb5_conf)},
    )  # fmt: skip
    assert "aes256-cts-hmac-sha1-96" in klist.stdout


# ------------------------------------------------------------------------------------ D4
def test_d4_a_heimdal_kinit_first_on_path(kdc: Kdc, tmp_path: Path) -> None:
    bindir = heimdal_kinit_prefix(tmp_path / "conda-env")
    keytab = kdc.add_principal("alice")
    keyring = f"KEYRING:session:mce-{os.getpid()}"
    env = {
        **base_env(),
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "KRB5_CONFIG": str(kdc.krb5_conf),
        "KRB5CCNAME": keyring,
    }
    # the real error, from the kinit a shell with this PATH runs
    proc = subprocess.run(
        ["kinit", "-kt", str(keytab), kdc.principal("alice")],
        env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode != 0
    assert f"unknown ccache type {keyring}" in proc.stderr
    exp = explain_text(proc.stderr)
    assert exp is not None and exp.code == "D4"
    code, out = explain_cli(proc.stderr)
    assert code == 0 and json.loads(out)["code"] == "D4"

    # the doctor finding: which kinit, which libkrb5, and what it resolves
    [f] = kinit_findings(env, system_ccache=keyring)
    assert f.code == "kerberos.kinit-foreign" and f.status == "error"
    assert str(bindir / "kinit") in f.summary and "Heimdal" in f.summary
    assert "unknown ccache type" in f.summary
    evidence = "\n".join(f.evidence)
    assert "NEEDED libkrb5.so.26 (Heimdal)" in evidence
    assert "loads " in evidence and "libkrb5.so.26" in evidence
    assert f.fix is not None and "/usr/bin/kinit" in f.fix

    # RHEL's default cache in krb5.conf, no KRB5CCNAME: Heimdal does not read
    # default_ccache_name and resolves a FILE cache that nothing else reads
    rhel = tmp_path / "krb5.conf"
    rhel.write_text(
        kdc.krb5_conf.read_text().replace(
            "[libdefaults]\n",
            "[libdefaults]\n    default_ccache_name = KEYRING:persistent:%{uid}\n",
        )
    )
    env2 = {k: v for k, v in env.items() if k != "KRB5CCNAME"} | {"KRB5_CONFIG": str(rhel)}
    system = discover_kerberos(env2).ccache
    assert system == f"KEYRING:persistent:{os.geteuid()}"
    [f2] = kinit_findings(env2, system_ccache=system)
    assert f2.status == "warn" and f"/tmp/krb5cc_{os.geteuid()}" in f2.summary
    assert system in f2.summary

    # the system's own kinit is recognised as such
    [ok] = kinit_findings({**env, "PATH": "/usr/bin:/bin"}, system_ccache=keyring)
    assert ok.status == "ok" and ok.code == "kerberos.kinit"

    # and the doctor's kerberos check reports it, with or without a Hadoop installation
    doc = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "doctor", "--check", "kerberos", "--json"],
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    (check,) = json.loads(doc.stdout)["checks"]
    codes = [f["code"] for f in check["findings"]]
    assert "kerberos.kinit-foreign" in codes, doc.stdout
