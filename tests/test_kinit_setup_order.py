"""Check before acting: a keytab login replaces the ticket cache only after every input
and the discovery are known to be good (issue 9: setup(keytab=...) replaced the cache
even when discovery then failed)."""
# ruff: noqa: F811  (the KDC fixtures are imported from tests.test_ticket_kdc)

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mlflow_client_env.errors import KeytabError, MlflowClientEnvError, PrincipalError
from mlflow_client_env.kerberos.java_cache import plan_java_ccache
from mlflow_client_env.kerberos.ticket import ticket_status
from tests.conftest import Edge
from tests.test_ticket_kdc import Krb, krb, krb_env  # noqa: F401


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under root: inode, mtime_ns, bytes (a rewrite in place changes mtime)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            st = p.stat()
            out[str(p)] = (st.st_ino, st.st_mtime_ns, p.read_bytes())
    return out


@pytest.fixture
def alice_cache(krb: Krb, krb_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """alice's valid ticket in the user's cache; a private runtime dir."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    krb.kinit("alice", krb_env, lifetime="1h")
    return krb_env


def test_planning_a_login_writes_nothing(krb: Krb, alice_cache: Path, tmp_path: Path) -> None:
    before = snapshot(tmp_path)
    plan = plan_java_ccache(os.environ, krb.keytabs["short"], "short")
    assert plan.kind == "login" and plan.path == str(alice_cache)
    assert snapshot(tmp_path) == before  # no login, no lock, no temp dir yet
    assert ticket_status(threshold=0).principal == krb.principal("alice")
    path, findings = plan.carry_out()
    assert path == str(alice_cache) and [f.code for f in findings] == ["kerberos.keytab-login"]
    assert ticket_status(threshold=0).principal == krb.principal("short")


@pytest.mark.parametrize(
    "keytab, principal, error, match",
    [
        ("fifo", "short", KeytabError, "FIFO"),
        ("missing", "short", KeytabError, "does not exist"),
        ("short", "short@R@S", PrincipalError, "second '@'"),
        ("short", "short\n@SANDBOX.TEST", PrincipalError, "control character"),
        ("short", "short@", PrincipalError, "empty realm"),
        ("short", None, KeytabError, "both"),
    ],
)
def test_bad_login_inputs_are_refused_before_any_write(
    keytab: str,
    principal: str | None,
    error: type[Exception],
    match: str,
    krb: Krb,
    alice_cache: Path,
    tmp_path: Path,
) -> None:
    kt: Path = tmp_path / "kt"
    if keytab == "fifo":
        os.mkfifo(kt, 0o600)
    elif keytab == "short":
        kt = krb.keytabs["short"]
    before = snapshot(tmp_path)
    with pytest.raises(error, match=match):
        plan_java_ccache(os.environ, kt, principal)
    assert snapshot(tmp_path) == before
    assert ticket_status(threshold=0).principal == krb.principal("alice")


def test_setup_with_a_keytab_leaves_the_cache_alone_when_discovery_fails(
    krb: Krb, alice_cache: Path, tmp_path: Path, edge: Edge, monkeypatch: pytest.MonkeyPatch
) -> None:
    """setup() must validate, then discover, and only then log in (session.py)."""
    import mlflow_client_env

    monkeypatch.setenv("KRB5_CONFIG", str(krb.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{alice_cache}")
    before = snapshot(tmp_path / "runtime") | {
        str(alice_cache): snapshot(tmp_path)[str(alice_cache)]
    }
    with pytest.raises(MlflowClientEnvError, match="no CDH parcel"):
        mlflow_client_env.setup(
            keytab=krb.keytabs["short"], principal="short", parcels_root=str(tmp_path / "none")
        )
    after = snapshot(tmp_path / "runtime") | {
        str(alice_cache): snapshot(tmp_path)[str(alice_cache)]
    }
    assert after == before
    assert ticket_status(threshold=0).principal == krb.principal("alice")
    # with a good discovery the same call logs in
    report = mlflow_client_env.setup(
        keytab=krb.keytabs["short"],
        principal="short",
        parcels_root=str(edge.parcels),
        hadoop_conf_dir=str(edge.conf),
        java_home=str(edge.java),
    )
    assert "kerberos.keytab-login" in [f.code for f in report.findings]
    assert ticket_status(threshold=0).principal == krb.principal("short")


@pytest.mark.parametrize("how", ["keytab", "keyring"])
def test_setup_reads_the_kerberos_facts_once_when_it_logs_in_or_copies(
    how: str, krb: Krb, alice_cache: Path, edge: Edge, monkeypatch: pytest.MonkeyPatch
) -> None:
    """discover_kerberos runs once per setup() on the paths that work on the ticket too:
    a keytab login, and the copy of a KEYRING ticket for Java. Real KDC, real caches;
    only the calls of the real function are counted."""
    import uuid

    import mlflow_client_env
    import mlflow_client_env.discovery as discovery
    import mlflow_client_env.kerberos.java_cache as java_cache
    import mlflow_client_env.kerberos.login as login
    import mlflow_client_env.kerberos.profile as profile
    import mlflow_client_env.session as session

    monkeypatch.setenv("KRB5_CONFIG", str(krb.krb5_conf))
    kw: dict[str, object] = {}
    if how == "keyring":
        keyring = f"KEYRING:session:mce-once-{uuid.uuid4().hex[:8]}"
        subprocess.run(
            ["kinit", "-l", "1h", "-kt", str(krb.keytabs["alice"]), krb.principal("alice")],
            env=dict(os.environ, KRB5CCNAME=keyring), check=True, capture_output=True,
        )  # fmt: skip
        monkeypatch.setenv("KRB5CCNAME", keyring)
    else:
        monkeypatch.setenv("KRB5CCNAME", f"FILE:{alice_cache}")
        kw = {"keytab": str(krb.keytabs["short"]), "principal": "short"}
    calls: list[object] = []
    real = profile.discover_kerberos

    def counting(env: object = None) -> object:
        calls.append(env)
        return real(env)  # type: ignore[arg-type]

    for module in (profile, discovery, java_cache, session, login):
        monkeypatch.setattr(module, "discover_kerberos", counting)
    report = mlflow_client_env.setup(**edge.overrides(), **kw)  # type: ignore[arg-type]
    codes = [f.code for f in report.findings]
    assert ("kerberos.keytab-login" if how == "keytab" else "kerberos.copied-for-java") in codes
    assert len(calls) == 1
