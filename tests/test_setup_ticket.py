"""setup(), env and the kernel launcher report the ticket of a Kerberized client (issue 12).

Real tickets from the sandbox KDC (``kinit -kt``), real FILE and KEYRING caches, the
real ``mlflow-client-env`` command; the edge node's client configuration says
``hadoop.security.authentication=kerberos`` unless a test rewrites it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import mlflow_client_env
from mlflow_client_env import build_environment
from mlflow_client_env.jupyter.launcher import ticket_notes
from mlflow_client_env.kerberos.ccache import read_file_ccache
from mlflow_client_env.kerberos.readiness import ticket_readiness
from mlflow_client_env.session import SetupReport
from mlflow_client_env_sandbox import Kdc
from tests import trees
from tests.conftest import Edge
from tests.helpers_cli import run_cli


@pytest.fixture
def cc(kdc: Kdc, edge: Edge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process uses the sandbox KDC's krb5.conf and a private FILE cache (empty yet)."""
    path = tmp_path / "krb5cc"
    monkeypatch.setenv("KRB5_CONFIG", str(kdc.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{path}")
    return path


def ticket_codes(report: SetupReport) -> dict[str, str]:
    """code -> status of the ticket findings (kerberos.<state>) of a setup() report."""
    states = ("valid", "expiring", "expired", "missing", "unreadable", "corrupt", "foreign_realm")
    return {
        f.code: f.status for f in report.findings if f.code in {f"kerberos.{s}" for s in states}
    }


def wait_until_expired(cache: Path) -> None:
    """Sleep past the TGT's end time, read from the cache itself (no fixed sleep)."""
    tgt = read_file_ccache(cache).tgt()
    assert tgt is not None
    while time.time() <= tgt.endtime + 1:
        time.sleep(0.5)


def test_no_ticket_is_an_error_in_the_report(edge: Edge, cc: Path) -> None:
    report = mlflow_client_env.setup(**edge.overrides())
    assert ticket_codes(report) == {"kerberos.missing": "error"}
    assert report.status == "error"
    assert report.ticket is not None and report.ticket.state == "missing"
    text = repr(report)
    assert text.startswith("mlflow-client-env setup: NOT ready")
    assert "Ticket: none (kinit first)" in text
    assert "✗ ticket missing" in text and str(cc) in text and "fix: run 'kinit'" in text
    html = report._repr_html_()
    assert "Ticket: none (kinit first)" in html and "<b>error</b>: ticket missing" in html


def test_valid_ticket_is_ok_with_principal_and_time_left(edge: Edge, cc: Path, kdc: Kdc) -> None:
    kdc.kinit("alice", cc, lifetime="10h")
    report = mlflow_client_env.setup(**edge.overrides())
    assert ticket_codes(report) == {"kerberos.valid": "ok"}
    assert report.status == "ok"
    st = report.ticket
    assert st is not None and st.principal == f"alice@{kdc.realm}" and st.ccache == f"FILE:{cc}"
    assert st.seconds_left is not None and 9 * 3600 < st.seconds_left <= 10 * 3600
    text = repr(report)
    assert text.startswith("mlflow-client-env setup: ready\n")
    assert f"Ticket: alice@{kdc.realm}, valid 9 h " in text
    assert f"✓ ticket valid: ticket of alice@{kdc.realm}" in text
    assert f"Ticket: alice@{kdc.realm}, valid 9 h " in report._repr_html_()


def test_expired_ticket_is_an_error(edge: Edge, cc: Path, kdc: Kdc) -> None:
    kdc.kinit("alice", cc, lifetime="5s")
    wait_until_expired(cc)
    report = mlflow_client_env.setup(**edge.overrides())
    assert ticket_codes(report) == {"kerberos.expired": "error"}
    assert report.status == "error"
    text = repr(report)
    assert f"Ticket: alice@{kdc.realm}, expired (kinit again)" in text
    assert "✗ ticket expired" in text and "keep_ticket_fresh" in text


def test_ticket_expiring_soon_is_a_warning(edge: Edge, cc: Path, kdc: Kdc) -> None:
    """Under an hour left (ticket.DEFAULT_THRESHOLD, the threshold of 'ticket' and the doctor)."""
    kdc.kinit("alice", cc, lifetime="20m")
    report = mlflow_client_env.setup(**edge.overrides())
    assert ticket_codes(report) == {"kerberos.expiring": "warn"}
    assert report.status == "warn"
    text = repr(report)
    assert text.startswith("mlflow-client-env setup: ready, with warnings")
    assert "(expiring soon: renew it)" in text and "kinit -R" in text


def test_ticket_of_another_realm_is_an_error(
    edge: Edge, cc: Path, kdc: Kdc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """krb5.conf's default realm and the NameNode's realm are OTHER.TEST; alice's is not."""
    hdfs_site = edge.conf / "hdfs-site.xml"
    hdfs_site.write_text(
        hdfs_site.read_text().replace(
            "</configuration>",
            "  <property>\n    <name>dfs.namenode.kerberos.principal</name>\n"
            "    <value>nn/_HOST@OTHER.TEST</value>\n  </property>\n</configuration>",
        )
    )
    kdc.kinit("alice", cc, lifetime="10h")
    other = tmp_path / "krb5-other.conf"
    other.write_text(
        kdc.krb5_conf.read_text().replace(
            f"default_realm = {kdc.realm}", "default_realm = OTHER.TEST"
        )
    )
    monkeypatch.setenv("KRB5_CONFIG", str(other))
    report = mlflow_client_env.setup(**edge.overrides())
    assert ticket_codes(report) == {"kerberos.foreign_realm": "error"}
    assert "not of the cluster's realm (OTHER.TEST)" in repr(report)


def test_not_kerberized_gives_no_ticket_finding(edge: Edge, cc: Path) -> None:
    trees.make_conf(edge.conf, kerberos=False)  # hadoop.security.authentication=simple
    report = mlflow_client_env.setup(**edge.overrides())
    assert ticket_codes(report) == {}
    assert report.ticket is None and report.status == "ok"
    assert "Ticket:" not in repr(report)


def test_keytab_login_is_read_from_the_login_cache(
    edge: Edge, kdc: Kdc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's cache is an empty KEYRING; setup(keytab=...) logs in into a private FILE
    cache, and the report reads the ticket there (after the login, not before)."""
    monkeypatch.setenv("KRB5_CONFIG", str(kdc.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", f"KEYRING:session:mce-none-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    (tmp_path / "run").mkdir(mode=0o700)
    keytab = kdc.add_principal("alice")
    report = mlflow_client_env.setup(**edge.overrides(), keytab=str(keytab), principal="alice")
    assert ticket_codes(report) == {"kerberos.valid": "ok"}
    st = report.ticket
    assert st is not None and st.principal == f"alice@{kdc.realm}"
    assert st.ccache == os.environ["KRB5CCNAME"] and st.ccache.startswith("FILE:")
    assert f", in {st.ccache}" in repr(report)


@pytest.fixture
def keyring(kdc: Kdc) -> Iterator[str]:
    """A KEYRING cache of this session holding alice's ticket; destroyed afterwards."""
    name = f"KEYRING:session:mce-ticket-{uuid.uuid4().hex[:8]}"
    env = {**kdc.env, "KRB5CCNAME": name}
    subprocess.run(
        ["kinit", "-l", "10h", "-kt", str(kdc.add_principal("alice")), kdc.principal("alice")],
        env=env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    try:
        yield name
    finally:
        subprocess.run(["kdestroy", "-c", name], env=env, capture_output=True, timeout=60)


def test_keyring_ticket_is_read_from_the_copy_made_for_java(
    edge: Edge, kdc: Kdc, keyring: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRB5_CONFIG", str(kdc.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", keyring)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    (tmp_path / "run").mkdir(mode=0o700)
    report = mlflow_client_env.setup(**edge.overrides())
    codes = [f.code for f in report.findings]
    assert "kerberos.copied-for-java" in codes and ticket_codes(report) == {"kerberos.valid": "ok"}
    st = report.ticket
    assert st is not None and st.ccache_type == "FILE" and st.ccache != keyring
    assert st.ccache == os.environ["KRB5CCNAME"]
    assert "made for Java" in st.ccache_source


def test_a_second_setup_copies_the_keyring_again(
    edge: Edge, kdc: Kdc, keyring: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the first setup() KRB5CCNAME names the FILE copy; a new kinit into the KEYRING
    must still reach Java and the report: the next setup() copies the source again."""
    monkeypatch.setenv("KRB5_CONFIG", str(kdc.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", keyring)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    (tmp_path / "run").mkdir(mode=0o700)
    first = mlflow_client_env.setup(**edge.overrides())
    assert first.ticket is not None and first.ticket.seconds_left is not None
    assert os.environ["MLFLOW_CLIENT_ENV_COPIED_FROM"] == keyring
    subprocess.run(
        ["kinit", "-l", "20h", "-kt", str(kdc.keytab_path("alice")), kdc.principal("alice")],
        env={**kdc.env, "KRB5CCNAME": keyring}, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    second = mlflow_client_env.setup(**edge.overrides())
    codes = [f.code for f in second.findings]
    assert "kerberos.copied-for-java" in codes, codes
    assert second.ticket is not None and second.ticket.seconds_left is not None
    assert second.ticket.seconds_left > first.ticket.seconds_left + 5 * 3600
    reason = second.environment.get("KRB5CCNAME")
    assert reason is not None and keyring in reason.reason and "copy" in reason.reason


def test_a_file_cache_never_imports_gssapi(edge: Edge, cc: Path, kdc: Kdc) -> None:
    """The warm-setup() budget: a FILE cache is read with struct, gssapi stays unloaded."""
    kdc.kinit("alice", cc, lifetime="10h")
    code = (
        "import json, sys, mlflow_client_env\n"
        f"r = mlflow_client_env.setup(**{edge.overrides()!r})\n"
        "print(json.dumps({'gssapi': 'gssapi' in sys.modules, "
        "'codes': [f.code for f in r.findings]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert "kerberos.valid" in data["codes"] and data["gssapi"] is False


def test_env_prints_the_missing_ticket_on_stderr_and_exits_1(edge: Edge, cc: Path) -> None:
    for extra in ((), ("--explain",)):
        out = run_cli("env", *extra, *edge.cli_args())
        assert out.returncode == 1, out.stderr
        assert "export CLASSPATH=" in out.stdout and "ticket missing" not in out.stdout
        assert "error: ticket missing" in out.stderr and str(cc) in out.stderr
        assert "fix: run 'kinit'" in out.stderr and "Traceback" not in out.stderr


def test_env_with_a_valid_ticket_is_quiet_and_exits_0(edge: Edge, cc: Path, kdc: Kdc) -> None:
    kdc.kinit("alice", cc, lifetime="10h")
    out = run_cli("env", "--explain", *edge.cli_args())
    assert out.returncode == 0, out.stderr
    assert "ticket" not in out.stderr


def test_env_expiring_ticket_warns_and_exits_0(edge: Edge, cc: Path, kdc: Kdc) -> None:
    kdc.kinit("alice", cc, lifetime="20m")
    out = run_cli("env", *edge.cli_args())
    assert out.returncode == 0, out.stderr
    assert "warning: ticket expiring" in out.stderr


def test_env_keyring_without_gssapi_says_so(
    edge: Edge, kdc: Kdc, keyring: str, tmp_path: Path
) -> None:
    """python-gssapi not importable (the 'kerberos' extra not installed): a KEYRING ticket
    cannot be checked, which is a warning with the install fix (Java's side is the error)."""
    blocker = tmp_path / "no-gssapi"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['gssapi'] = None\n")
    env = {
        **os.environ,
        "KRB5_CONFIG": str(kdc.krb5_conf),
        "KRB5CCNAME": keyring,
        "PYTHONPATH": str(blocker),
    }
    out = run_cli("env", *edge.cli_args(), env=env)
    assert out.returncode == 1, out.stderr  # kerberos.cache-not-java-readable is an error
    assert "warning: the ticket in " + keyring in out.stderr
    assert "needs python-gssapi" in out.stderr and "pip install" in out.stderr
    assert "Java cannot read" in out.stderr


def test_setup_env_and_doctor_agree_on_the_ticket(edge: Edge, cc: Path, kdc: Kdc) -> None:
    """The same ticket gets the same code and status from setup(), env's findings, the
    kernel launcher's check (notes only for non-ok) and the doctor's kerberos check."""
    kdc.kinit("alice", cc, lifetime="20m")
    report = mlflow_client_env.setup(**edge.overrides())
    env = build_environment(None, edge.overrides())
    _, found = ticket_readiness(env)
    assert (
        ticket_codes(report) == {f.code: f.status for f in found} == {"kerberos.expiring": "warn"}
    )
    out = run_cli("doctor", "--json", "--check", "kerberos", *edge.cli_args())
    data = json.loads(out.stdout)
    doctor = {f["code"]: f["status"] for c in data["checks"] for f in c["findings"]}
    assert doctor["kerberos.expiring"] == "warn", out.stdout


def test_launcher_notes_come_from_the_same_check(edge: Edge, cc: Path, kdc: Kdc) -> None:
    """ticket_notes (kernel start) uses ticket_readiness: nothing for a valid ticket, a note
    for a missing, expiring or expired one, in the launcher's words."""
    env = build_environment(None, edge.overrides())
    (missing,) = ticket_notes(env)
    assert missing.startswith("no Kerberos ticket") and str(cc) in missing
    assert "GSS initiate failed" in missing and "no kernel restart needed" in missing
    kdc.kinit("alice", cc, lifetime="10h")
    assert ticket_notes(env) == []
    kdc.kinit("alice", cc, lifetime="20m")
    (expiring,) = ticket_notes(env)
    assert expiring.startswith("ticket expiring") and "kinit -R" in expiring
    kdc.kinit("alice", cc, lifetime="5s")
    wait_until_expired(cc)
    (expired,) = ticket_notes(env)
    assert "expired at" in expired and str(cc) in expired and "run 'kinit'" in expired
