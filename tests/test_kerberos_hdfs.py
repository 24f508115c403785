"""Python and Java agree on the ticket, proven against the real Kerberized HDFS.

- a keytab login through our API (``setup(keytab=, principal=)``), then
  pyarrow -> libhdfs -> JVM reads HDFS with that cache, in the same process;
- a ticket in a KEYRING cache (which the JDK cannot read) is copied by
  ``setup()`` into a private FILE cache, and libhdfs then reads HDFS;
- ``mlflow-client-env run`` keeps a 10-second ticket working against HDFS for
  40 s, while the same reader without ``run`` fails once its ticket expires.
  The reader there is hdfs-native (a JVM-free HDFS client, via libgssapi),
  which opens a new connection, and so reads the cache again, on every read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mlflow_client_env.kerberos.login import NO_KEYRING_MESSAGE, keyring_supported
from tests.sandbox.fixtures import Cluster
from tests.sandbox.helpers import ClientEnv, base_env

DATA = "written by alice, read through whatever cache Java was given\n"

SETUP_THEN_READ = """
import json, os, sys
import mlflow_client_env
report = mlflow_client_env.setup(**json.loads(sys.argv[2]))
import pyarrow.fs as f
fs = f.HadoopFileSystem("default", 0, kerb_ticket=os.environ["MLFLOW_KERBEROS_TICKET_CACHE"])
with fs.open_input_stream(sys.argv[1]) as s:
    data = s.read().decode()
print(json.dumps({"codes": [x.code for x in report.findings], "data": data,
                  "KRB5CCNAME": os.environ["KRB5CCNAME"],
                  "summaries": [x.summary for x in report.findings]}))
"""

SETUP_ONLY = """
import json, os
import mlflow_client_env
report = mlflow_client_env.setup()
print(json.dumps({"findings": {x.code: x.summary for x in report.findings},
                  "MLFLOW_KERBEROS_TICKET_CACHE": os.environ.get("MLFLOW_KERBEROS_TICKET_CACHE")}))
"""

READER = """
import sys, time
from hdfs_native import Client
seconds, uri, path, expected = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
end, n = time.monotonic() + seconds, 0
while time.monotonic() < end:
    try:
        with Client(uri).read(path) as f:
            assert f.read().decode() == expected
    except Exception as exc:
        print(f"FAILED after {n} reads: {type(exc).__name__}: {exc}", flush=True)
        sys.exit(1)
    n += 1
    time.sleep(2)
print(f"survived {n} reads", flush=True)
"""


@pytest.fixture(scope="module")
def hdfs_file(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    cc = tmp_path_factory.mktemp("writer") / "krb5cc_alice"
    cluster.kdc.kinit("alice", cc, lifetime="1h")
    path = f"/user/alice/agree-{uuid.uuid4().hex}.txt"
    put = cluster.hdfs.fs("-put", "-", path, ccache=cc, stdin=DATA.encode())
    assert put.returncode == 0, put.stderr[-2000:]
    return path


def _run(
    code: str, env: dict[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**base_env(), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_keytab_login_then_libhdfs_reads(
    cluster: Cluster, client_env: ClientEnv, hdfs_file: str, tmp_path: Path
) -> None:
    keytab = cluster.kdc.add_principal("alice")
    cc = tmp_path / "krb5cc_from_keytab"
    env = {**client_env.env, "KRB5CCNAME": f"FILE:{cc}"}
    args = json.dumps({"keytab": str(keytab), "principal": f"alice@{cluster.sandbox.realm}"})
    out = _run(SETUP_THEN_READ, env, hdfs_file, args)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert "kerberos.keytab-login" in got["codes"]
    assert got["KRB5CCNAME"] == f"FILE:{cc}"
    assert got["data"] == DATA
    assert (cc.stat().st_mode & 0o777) == 0o600


def read_through_a_copy(env: dict[str, str], hdfs_file: str, runtime: Path) -> None:
    """setup() in a fresh process copies the ticket to a private FILE cache under
    ``runtime`` for Java, and libhdfs reads ``hdfs_file`` with it."""
    out = _run(SETUP_THEN_READ, env, hdfs_file, "{}")
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert "kerberos.copied-for-java" in got["codes"]
    assert got["KRB5CCNAME"].startswith(f"FILE:{runtime}")
    assert got["data"] == DATA


def test_keyring_ticket_is_copied_for_java(
    cluster: Cluster, client_env: ClientEnv, hdfs_file: str, tmp_path: Path
) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    keyring = f"KEYRING:session:mce-{uuid.uuid4().hex[:8]}"
    env = {**client_env.env, "KRB5CCNAME": keyring, "XDG_RUNTIME_DIR": str(runtime)}
    if not keyring_supported():
        print("NOTE: this kernel has no keyrings; asserting the documented fallback instead")
        out = _run(SETUP_ONLY, env)
        assert out.returncode == 0, out.stderr[-3000:]
        got = json.loads(out.stdout.strip().splitlines()[-1])
        copy_failed = got["findings"].get("kerberos.copy-failed")
        assert copy_failed is not None, got
        assert NO_KEYRING_MESSAGE in copy_failed and keyring in copy_failed
        # and the environment says Java cannot read the cache, instead of pointing it elsewhere
        assert "kerberos.cache-not-java-readable" in got["findings"], got
        assert got["MLFLOW_KERBEROS_TICKET_CACHE"] is None
        return
    keytab = cluster.kdc.add_principal("alice")
    kinit = subprocess.run(
        ["kinit", "-kt", str(keytab), "-c", keyring, f"alice@{cluster.sandbox.realm}"],
        env={**base_env(), **env},
        capture_output=True,
        text=True,
    )
    assert kinit.returncode == 0, kinit.stderr
    try:
        read_through_a_copy(env, hdfs_file, runtime)
    finally:
        subprocess.run(["kdestroy", "-c", keyring], env={**base_env(), **env}, capture_output=True)


def test_dir_ticket_is_copied_for_java(
    cluster: Cluster, client_env: ClientEnv, hdfs_file: str, tmp_path: Path
) -> None:
    """A DIR collection (what 'kinit' with KRB5CCNAME=DIR: makes): Java reads only FILE
    caches, so setup() copies the primary ticket to a private FILE cache and libhdfs reads."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    collection = tmp_path / "ccdir"
    collection.mkdir(mode=0o700)
    env = {**client_env.env, "KRB5CCNAME": f"DIR:{collection}", "XDG_RUNTIME_DIR": str(runtime)}
    keytab = cluster.kdc.add_principal("alice")
    kinit = subprocess.run(
        ["kinit", "-kt", str(keytab), f"alice@{cluster.sandbox.realm}"],
        env={**base_env(), **env},
        capture_output=True,
        text=True,
    )
    assert kinit.returncode == 0, kinit.stderr
    assert any(p.name.startswith("tkt") for p in collection.iterdir())  # a real collection
    read_through_a_copy(env, hdfs_file, runtime)


@pytest.fixture(scope="module")
def ten_second_principal(cluster: Cluster) -> tuple[str, Path]:
    """A principal whose tickets live 10 s (renewable for an hour)."""
    name = f"tenner@{cluster.sandbox.realm}"
    keytab = cluster.kdc.keytab_path("tenner")
    if not keytab.exists():
        cluster.kdc.kadmin(
            f'addprinc -randkey -maxlife "10 seconds" -maxrenewlife "1 hour" {name}',
            f"ktadd -k {keytab} -norandkey {name}",
        )
    return name, keytab


def test_run_keeps_a_10s_ticket_working_against_hdfs_for_40s(
    cluster: Cluster,
    client_env: ClientEnv,
    hdfs_file: str,
    tmp_path: Path,
    ten_second_principal: tuple[str, Path],
) -> None:
    name, keytab = ten_second_principal
    uri = cluster.hdfs.namenode_uri
    reader = [sys.executable, "-c", READER, "40", uri, hdfs_file, DATA]

    # without run: the ticket expires after 10 s and the reader fails
    bare = tmp_path / "krb5cc_bare"
    cluster.kdc.kinit(name, bare, lifetime="10s", renewable="1h", keytab=keytab)
    env = {**base_env(), **client_env.env, "KRB5CCNAME": f"FILE:{bare}"}
    without = subprocess.run(reader, env=env, capture_output=True, text=True, timeout=120)
    assert without.returncode == 1, without.stdout + without.stderr
    assert "FAILED after" in without.stdout
    reads_before_expiry = int(without.stdout.split("FAILED after ")[1].split()[0])
    assert reads_before_expiry >= 1  # it worked, then the ticket ran out

    # with run: renewed before expiry, the same reader survives 40 s
    kept = tmp_path / "krb5cc_kept"
    env = {**base_env(), **client_env.env, "KRB5CCNAME": f"FILE:{kept}"}
    argv = [
        sys.executable,
        "-m",
        "mlflow_client_env",
        "run",
        "--keytab",
        str(keytab),
        "--principal",
        name,
        "--",
        *reader,
    ]
    with_run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180)
    assert with_run.returncode == 0, with_run.stdout + with_run.stderr[-3000:]
    assert "survived" in with_run.stdout
    assert int(with_run.stdout.split("survived ")[1].split()[0]) >= 15
    assert os.path.exists(kept)
