"""TicketStatus against a real KDC: every state, with the exact state asserted."""
# ruff: noqa: F811  (the KDC fixtures are imported from tests.test_ticket_kdc)

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlflow_client_env.errors import CcacheFormatError
from mlflow_client_env.kerberos.ccache import parse_file_ccache, read_file_ccache
from mlflow_client_env.kerberos.ticket import cluster_realms, ticket_status
from tests.test_ticket_kdc import ROOT, Krb, cli, krb, krb_env, start_kdc, wait_for  # noqa: F401


def test_valid_ticket_has_times_from_the_cache(krb: Krb, krb_env: Path) -> None:
    krb.kinit("alice", krb_env, lifetime="2h", renewable="1d")
    st = ticket_status(threshold=60)
    assert st.state == "valid"
    assert st.principal == f"alice@{krb.realm}"
    assert st.realm == krb.realm
    assert st.ccache == f"FILE:{krb_env}" and st.ccache_source == "KRB5CCNAME"
    assert st.ccache_type == "FILE" and st.java_readable
    assert st.expires_at is not None and st.renew_until is not None and st.starts_at is not None
    assert st.lifetime == 7200
    assert (st.renew_until - st.starts_at).total_seconds() == 86400
    assert st.renewable and st.ok
    assert st.seconds_left is not None and 7000 < st.seconds_left <= 7200


def test_expiring_below_threshold(krb: Krb, krb_env: Path) -> None:
    krb.kinit("alice", krb_env, lifetime="10m")
    st = ticket_status()  # default threshold: 1 h
    assert st.state == "expiring"
    assert st.ok
    assert st.renew_until is None or not st.renewable


def test_missing(krb_env: Path) -> None:
    st = ticket_status()
    assert st.state == "missing"
    assert not st.ok and st.fix and "kinit" in st.fix


def test_corrupt_garbage(krb_env: Path) -> None:
    krb_env.write_bytes(os.urandom(16) + b"garbage" * 20)
    st = ticket_status()
    assert st.state == "corrupt"
    assert str(krb_env) in st.message


def test_corrupt_truncated(krb: Krb, krb_env: Path) -> None:
    krb.kinit("alice", krb_env)
    data = krb_env.read_bytes()
    krb_env.write_bytes(data[: len(data) // 3])
    assert ticket_status().state == "corrupt"
    with pytest.raises(CcacheFormatError):
        read_file_ccache(krb_env)


def test_expired(krb: Krb, krb_env: Path) -> None:
    krb.kinit("alice", krb_env, lifetime="5s")
    assert ticket_status(threshold=1).ok
    wait_for(lambda: ticket_status().state != "expiring", "the 5 s ticket to expire")
    st = ticket_status()
    assert st.state == "expired"
    assert st.principal == f"alice@{krb.realm}"  # read from the cache itself
    assert st.seconds_left == 0


@pytest.fixture(scope="module")
def other_realm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Krb]:
    k = start_kdc(tmp_path_factory.mktemp("kdc-other"), realm="OTHER.TEST")
    try:
        yield k
    finally:
        k.kdc.stop()


def test_foreign_realm(krb: Krb, other_realm: Krb, krb_env: Path) -> None:
    # a real ticket from a second KDC; this process's krb5.conf says SANDBOX.TEST
    other_realm.kinit("alice", krb_env, lifetime="2h")
    st = ticket_status()
    assert st.state == "foreign_realm"
    assert st.realm == "OTHER.TEST"
    assert st.cluster_realms == (krb.realm,)
    assert "OTHER.TEST" in st.message and krb.realm in st.message


def test_foreign_realm_from_hadoop_conf(krb: Krb, krb_env: Path, tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "hdfs-site.xml").write_text(
        "<configuration><property><name>dfs.namenode.kerberos.principal</name>"
        "<value>nn/_HOST@CLUSTER.TEST</value></property></configuration>"
    )
    assert cluster_realms({}, "SANDBOX.TEST", conf) == ("SANDBOX.TEST", "CLUSTER.TEST")
    krb.kinit("alice", krb_env, lifetime="2h")
    assert ticket_status(realms=["CLUSTER.TEST"]).state == "foreign_realm"
    assert ticket_status(hadoop_conf_dir=conf, threshold=60).state == "valid"


UNREADABLE_CHILD = """
import json, os, sys
import gssapi  # loaded as root: the interpreter lives under /root, unreachable for nobody
from mlflow_client_env.kerberos.ticket import ticket_status
os.setgroups([]); os.setgid(65534); os.setuid(65534)
assert os.geteuid() == 65534
st = ticket_status(sys.argv[1], realms=())
print(json.dumps({"state": st.state, "message": st.message}))
"""


def test_unreadable_as_non_root(krb: Krb, krb_env: Path) -> None:
    """Root ignores file modes, so the reader drops to 'nobody' (uid 65534) before reading."""
    assert os.geteuid() == 0, "this test drops to uid 65534 and needs to start as root"
    shared = Path(tempfile.mkdtemp(prefix="mce-unreadable-"))
    try:
        shared.chmod(0o755)
        cache = shared / "cc"
        krb.kinit("alice", cache)
        cache.chmod(0o600)  # root's ticket
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": "/"}
        proc = subprocess.run(
            [sys.executable, "-c", UNREADABLE_CHILD, f"FILE:{cache}"],
            env=env, capture_output=True, text=True, timeout=60, cwd="/",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["state"] == "unreadable", out
        assert str(cache) in out["message"]
    finally:
        for p in shared.iterdir():
            p.unlink()
        shared.rmdir()


def test_parse_matches_gssapi(krb: Krb, krb_env: Path) -> None:
    krb.kinit("alice", krb_env, lifetime="1h", renewable="2h")
    parsed = parse_file_ccache(krb_env.read_bytes())
    tgt = parsed.tgt()
    assert parsed.principal == f"alice@{krb.realm}"
    assert tgt is not None and tgt.endtime - tgt.starttime == 3600
    assert tgt.renew_till - tgt.starttime == 7200
    with pytest.raises(CcacheFormatError):
        parse_file_ccache(b"\x05\x04\x00")


def test_cli_ticket_json_and_exit_codes(krb: Krb, krb_env: Path) -> None:
    env = dict(os.environ)
    missing = subprocess.run(cli("ticket", "--json"), env=env, capture_output=True, text=True)
    assert missing.returncode == 1, missing.stderr
    assert json.loads(missing.stdout)["state"] == "missing"
    krb.kinit("alice", krb_env, lifetime="2h", renewable="1d")
    ok = subprocess.run(cli("ticket", "--json"), env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    keys = ("principal", "realm", "ccache", "ccache_type", "java_readable", "expires_at")
    assert set(keys) | {"seconds_left", "renew_until", "state"} <= set(data)
    assert data["state"] == "valid" and data["principal"] == f"alice@{krb.realm}"
    assert data["renew_until"] is not None
    human = subprocess.run(
        cli("ticket", "--threshold", "99999"), env=env, capture_output=True, text=True
    )
    assert human.returncode == 0 and "expiring" in human.stdout
    assert (
        "ticket --json"
        in subprocess.run(cli("ticket", "--help"), capture_output=True, text=True).stdout
    )
