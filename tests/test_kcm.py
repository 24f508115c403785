"""KCM credential caches for real: SSSD's sssd_kcm, the sandbox KDC, MIT kinit/klist, the JVM.

RHEL/FreeIPA edge nodes keep tickets in ``KCM:`` caches, which the JDK cannot read.
Here a real ``sssd_kcm`` (``kcm`` fixture: a private mount namespace, its own
socket) holds the ticket that MIT ``kinit`` got from the sandbox KDC, and:

- ``mlflow-client-env ticket --json`` reads its state through gssapi;
- ``setup()`` and the kernel launcher copy it into a private 0600 FILE cache and point
  ``KRB5CCNAME`` there, and libhdfs (pyarrow -> JVM) reads Kerberized HDFS with it;
- an expired KCM ticket, and a KCM server that is down (its socket file left behind,
  as after a crash), give a clear state and fix, within a subprocess timeout.

Every client runs in a subprocess with the KCM krb5.conf (``default_ccache_name =
KCM:``, ``kcm_socket``) and no ``KRB5CCNAME``, as on such a host. Each test starts
from an empty KCM collection.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path

import pytest

from mlflow_client_env_sandbox.kcm import KcmServer, kcm_answers, socket_accepts
from mlflow_client_env_sandbox.kdc import Kdc
from mlflow_client_env_sandbox.procs import pdeathsig_preexec
from tests.sandbox.fixtures import Cluster
from tests.sandbox.helpers import ClientEnv, base_env

#: Bounds for the subprocesses: only a hang trips them (a JVM start takes a few seconds).
TOOL_TIMEOUT = 60.0
JVM_TIMEOUT = 180.0
DATA = "written by alice, read by libhdfs through the FILE copy of a KCM ticket\n"

SETUP_THEN_READ = """
import json, os, sys
import mlflow_client_env
from mlflow_client_env.kerberos.ticket import ticket_status
report = mlflow_client_env.setup()
out = {"findings": {x.code: {"status": x.status, "summary": x.summary, "fix": x.fix}
                    for x in report.findings},
       "KRB5CCNAME": os.environ.get("KRB5CCNAME"),
       "MLFLOW_KERBEROS_TICKET_CACHE": os.environ.get("MLFLOW_KERBEROS_TICKET_CACHE")}
st = ticket_status()  # Python's view after setup(): the copy KRB5CCNAME now names
out["python_view"] = {"ccache": st.ccache, "state": st.state, "principal": st.principal}
if sys.argv[1]:
    import pyarrow.fs as f
    fs = f.HadoopFileSystem("default", 0, kerb_ticket=os.environ["MLFLOW_KERBEROS_TICKET_CACHE"])
    with fs.open_input_stream(sys.argv[1]) as s:
        out["data"] = s.read().decode()
print(json.dumps(out))
"""

LAUNCHER_PREPARE = """
import json, os
from mlflow_client_env.jupyter import launcher
args = launcher.parse_args(["-f", "connection.json"])
env, problems, notes = launcher.prepare(args, dict(os.environ))
print(json.dumps({"env": env, "problems": problems, "notes": notes}))
"""

# What MLflow's HDFS artifact repository does in the kernel: the cache it is given.
KERNEL_READ = """
import os, sys
import pyarrow.fs as f
fs = f.HadoopFileSystem("default", 0, kerb_ticket=os.environ["MLFLOW_KERBEROS_TICKET_CACHE"])
with fs.open_input_stream(sys.argv[1]) as s:
    print(s.read().decode(), end="")
"""


def run(
    argv: list[str], env: Mapping[str, str], timeout: float = TOOL_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """A client command with exactly ``env``; a hang fails the test with what it printed."""
    try:
        return subprocess.run(
            argv, env=dict(env), capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL, preexec_fn=pdeathsig_preexec(),
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"{argv[:4]} hung for {timeout} s: {exc.stdout!r} {exc.stderr!r}"
        ) from exc


def cli(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "mlflow_client_env", *args], env)


def python(code: str, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-c", code, *args], env, JVM_TIMEOUT)


def last_json(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert isinstance(got, dict)
    return got


def kinit(kdc: Kdc, env: Mapping[str, str], lifetime: str, renewable: str | None = None) -> None:
    """Real MIT ``kinit`` of alice from her keytab, into the default cache (``KCM:``)."""
    argv = ["kinit", "-l", lifetime, *(["-r", renewable] if renewable else [])]
    proc = run([*argv, "-kt", str(kdc.add_principal("alice")), kdc.principal("alice")], env)
    assert proc.returncode == 0, proc.stderr


def client_env_for(server: KcmServer, tmp_path: Path) -> dict[str, str]:
    """A shell on a KCM host: the KCM krb5.conf, no KRB5CCNAME, private runtime/cache dirs."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return {
        **base_env(),
        **server.env,
        "XDG_RUNTIME_DIR": str(runtime),
        "MLFLOW_CLIENT_ENV_CACHE": str(tmp_path / "cache"),
        "MLFLOW_CLIENT_ENV_CONFIG": str(tmp_path / "user-config.toml"),
        "MLFLOW_CLIENT_ENV_SITE_CONFIG": str(tmp_path / "site-config.toml"),
    }


@pytest.fixture
def kcm_env(kcm: KcmServer, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The shared sssd_kcm with an empty collection (``kdestroy -A`` before and after)."""
    assert kcm.alive(), f"sssd_kcm is not running:\n{kcm.log_tail()}"
    env = client_env_for(kcm, tmp_path)
    run(["kdestroy", "-A"], env)
    yield env
    run(["kdestroy", "-A"], env)


def with_cluster(client_env: ClientEnv, kcm_env: Mapping[str, str]) -> dict[str, str]:
    """The sandbox client's settings (parcels, conf dir, Java, tracking URI) on the KCM host."""
    env = {k: v for k, v in client_env.env.items() if k != "KRB5CCNAME"}
    return {**env, **kcm_env}


@pytest.fixture(scope="module")
def hdfs_file(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    cc = tmp_path_factory.mktemp("kcm-writer") / "krb5cc_alice"
    cluster.kdc.kinit("alice", cc, lifetime="1h")
    path = f"/user/alice/kcm-{uuid.uuid4().hex}.txt"
    put = cluster.hdfs.fs("-put", "-", path, ccache=cc, stdin=DATA.encode())
    assert put.returncode == 0, put.stderr[-2000:]
    return path


def assert_private_copy(ccache: object, runtime: Path) -> Path:
    """``ccache`` is ``FILE:`` + a 0600 file of ours in the private runtime folder."""
    assert isinstance(ccache, str) and ccache.startswith("FILE:"), ccache
    path = Path(ccache.removeprefix("FILE:"))
    assert path.parent == runtime, path
    st = path.stat()
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert st.st_uid == os.geteuid()
    return path


# --------------------------------------------------------------------------- the KCM server


def test_kinit_stores_the_ticket_in_sssd_kcm(
    kdc: Kdc, kcm: KcmServer, kcm_env: dict[str, str]
) -> None:
    kinit(kdc, kcm_env, "10h")
    klist = run(["klist"], kcm_env)
    assert klist.returncode == 0, klist.stderr
    assert "Ticket cache: KCM:" in klist.stdout, klist.stdout
    assert f"Default principal: {kdc.principal('alice')}" in klist.stdout
    assert f"krbtgt/{kdc.realm}@{kdc.realm}" in klist.stdout
    # one cache in the daemon's collection for this uid, named by sssd (KCM:<uid>[:<n>])
    listed = run(["klist", "-l"], kcm_env)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[2:]]
    assert len(rows) == 1 and rows[0][0] == kdc.principal("alice"), listed.stdout
    assert rows[0][1].startswith(f"KCM:{os.getuid()}"), listed.stdout
    assert (kcm.base / "lib" / "secrets" / "secrets.ldb").is_file()  # its store, not the host's


def test_ticket_json_reads_the_kcm_cache_through_gssapi(kdc: Kdc, kcm_env: dict[str, str]) -> None:
    kinit(kdc, kcm_env, "2h", renewable="1d")
    proc = cli("ticket", "--json", env=kcm_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    st = json.loads(proc.stdout)
    assert st["state"] == "valid", st
    assert st["principal"] == kdc.principal("alice")
    assert st["ccache"] == "KCM:" and st["ccache_type"] == "KCM"  # no KRB5CCNAME: found as MIT does
    assert st["java_readable"] is False
    assert "Java" in st["message"] and "KCM" in st["message"], st["message"]
    # the times the KDC granted (exactly what kinit asked for), read from the KCM cache
    start, end = (datetime.fromisoformat(st[k]) for k in ("starts_at", "expires_at"))
    assert (end - start).total_seconds() == 2 * 3600, st
    renew = datetime.fromisoformat(st["renew_until"])
    assert (renew - start).total_seconds() == 24 * 3600, st
    assert st["renewable"] is True


# --------------------------------------------------------------------------- the copy for Java


def test_setup_copies_the_kcm_ticket_and_libhdfs_reads_hdfs(
    kdc: Kdc, client_env: ClientEnv, kcm_env: dict[str, str], hdfs_file: str
) -> None:
    kinit(kdc, kcm_env, "10h")
    env = with_cluster(client_env, kcm_env)
    got = last_json(python(SETUP_THEN_READ, env, hdfs_file))
    findings = got["findings"]
    assert isinstance(findings, dict)
    copied = findings.get("kerberos.copied-for-java")
    assert copied is not None and copied["status"] == "ok", findings
    assert f"copied the ticket of {kdc.principal('alice')} from KCM:" in copied["summary"]
    path = assert_private_copy(got["KRB5CCNAME"], Path(env["XDG_RUNTIME_DIR"]))
    assert got["MLFLOW_KERBEROS_TICKET_CACHE"] == str(path)
    assert got["python_view"] == {
        "ccache": f"FILE:{path}",
        "state": "valid",
        "principal": kdc.principal("alice"),
    }
    assert got["data"] == DATA
    # the original stays in KCM
    assert "Ticket cache: KCM:" in run(["klist"], kcm_env).stdout


def test_launcher_copies_the_kcm_ticket_and_the_kernel_env_reads_hdfs(
    kdc: Kdc, client_env: ClientEnv, kcm_env: dict[str, str], hdfs_file: str
) -> None:
    kinit(kdc, kcm_env, "10h")
    env = with_cluster(client_env, kcm_env)
    got = last_json(python(LAUNCHER_PREPARE, env))
    assert got["problems"] == [], got["problems"]
    notes = got["notes"]
    assert isinstance(notes, list)
    assert any("copied the ticket of" in n and "from KCM:" in n for n in notes), notes
    kernel_env = got["env"]
    assert isinstance(kernel_env, dict)
    path = assert_private_copy(kernel_env["KRB5CCNAME"], Path(env["XDG_RUNTIME_DIR"]))
    assert kernel_env["MLFLOW_KERBEROS_TICKET_CACHE"] == str(path)
    # the kernel's process, with exactly the environment the launcher gives it
    read = python(KERNEL_READ, kernel_env, hdfs_file)
    assert read.returncode == 0, read.stderr[-3000:]
    assert read.stdout == DATA


# ------------------------------------------------------------------ native mode: no copy
NATIVE_SETUP_LOG_READ = """
import json, os, sys
import mlflow_client_env
report = mlflow_client_env.setup(hdfs_client="native")
from mlflow_client_env.artifacts.plugin import hdfs_artifact_repository
repo = hdfs_artifact_repository(sys.argv[1])
src = os.path.join(os.environ["XDG_RUNTIME_DIR"], "..", "native-kcm.txt")
with open(src, "w") as f:
    f.write("written by hdfs-native with a KCM ticket\\n")
repo.log_artifact(src)
out = {"findings": [x.code for x in report.findings], "class": type(repo).__name__,
       "KRB5CCNAME": os.environ.get("KRB5CCNAME"),
       "runtime": sorted(os.path.join(d, n) for d, _, names in os.walk(os.environ["XDG_RUNTIME_DIR"])
                         for n in names)}
print(json.dumps(out))
"""


def test_native_mode_uses_the_kcm_cache_itself_and_writes_hdfs(
    kdc: Kdc, client_env: ClientEnv, kcm_env: dict[str, str], cluster: Cluster
) -> None:
    """hdfs_client=native: no FILE copy is made, KRB5CCNAME stays the KCM cache, and
    hdfs-native's libgssapi reads it in the process (written, then read back by FsShell
    with a FILE ticket of alice's)."""
    kinit(kdc, kcm_env, "10h")
    env = with_cluster(client_env, kcm_env)
    target = f"{cluster.hdfs.namenode_uri}/user/alice/kcm-native-{uuid.uuid4().hex}"
    got = last_json(python(NATIVE_SETUP_LOG_READ, env, target))
    assert got["class"] == "NativeHdfsArtifactRepository"
    assert got["KRB5CCNAME"] == "KCM:", got
    assert got["runtime"] == [], got  # no private FILE copy (or any file) for Java
    findings = got["findings"]
    assert isinstance(findings, list)
    assert "kerberos.valid" in findings and "kerberos.copied-for-java" not in findings, findings
    cc = Path(env["XDG_RUNTIME_DIR"]).parent / "krb5cc_reader"
    kdc.kinit("alice", cc, lifetime="1h")
    cat = cluster.hdfs.fs("-cat", f"{target}/native-kcm.txt", ccache=cc)
    assert cat.returncode == 0, cat.stderr[-2000:]
    assert cat.stdout == "written by hdfs-native with a KCM ticket\n"


# --------------------------------------------------------------------------- failures


def wait_for_expiry(env: Mapping[str, str], bound: float = 60.0) -> None:
    """Poll ``klist -s`` (exit 1 once no valid ticket is left); a bound, never a measurement."""
    deadline = time.monotonic() + bound
    while run(["klist", "-s"], env).returncode == 0:
        assert time.monotonic() < deadline, f"the 5 s KCM ticket still valid after {bound} s"
        time.sleep(0.5)


def test_an_expired_kcm_ticket_is_expired_with_a_fix(
    kdc: Kdc, client_env: ClientEnv, kcm_env: dict[str, str]
) -> None:
    kinit(kdc, kcm_env, "5s")
    wait_for_expiry(kcm_env)
    proc = cli("ticket", "--json", env=kcm_env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    st = json.loads(proc.stdout)
    assert st["state"] == "expired", st
    assert st["ccache"] == "KCM:" and st["ok"] is False
    assert "kinit" in st["fix"], st
    # setup(): the copy for Java failed because the ticket expired, with the fix
    got = last_json(python(SETUP_THEN_READ, with_cluster(client_env, kcm_env), ""))
    failed = copy_failed(got)
    summary = str(failed["summary"])
    assert "KCM:" in summary and "expired" in summary, failed
    assert "kinit" in (failed["fix"] or ""), failed
    assert got["MLFLOW_KERBEROS_TICKET_CACHE"] is None
    assert got["KRB5CCNAME"] in (None, "KCM:"), got  # never a cache libkrb5 would not use


def copy_failed(got: dict[str, object]) -> dict[str, str | None]:
    findings = got["findings"]
    assert isinstance(findings, dict)
    failed = findings.get("kerberos.copy-failed")
    assert isinstance(failed, dict) and failed["status"] == "error", findings
    return failed


@pytest.fixture
def own_kcm(kdc: Kdc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KcmServer]:
    """A second sssd_kcm, for tests that break it (the shared one keeps serving)."""
    server = KcmServer(tmp_path_factory.mktemp("kcmown"), client_krb5_conf_from=kdc.krb5_conf)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def ticket_of_stopped_server(
    kdc: Kdc, server: KcmServer, tmp_path: Path
) -> tuple[dict[str, str], dict[str, object]]:
    """alice's ticket in ``server``, the server stopped (socket file left), ``ticket --json``."""
    env = client_env_for(server, tmp_path)
    kinit(kdc, env, "10h")
    server.stop()
    assert server.socket_path.exists() and not socket_accepts(server.socket_path)
    klist = run(["klist"], env)  # what MIT says
    assert klist.returncode == 1 and "Connection refused" in klist.stderr, klist.stderr
    proc = cli("ticket", "--json", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    st = json.loads(proc.stdout)
    assert isinstance(st, dict)
    return env, st


def test_a_kcm_server_that_is_down_gives_a_clear_state(
    kdc: Kdc, client_env: ClientEnv, own_kcm: KcmServer, tmp_path: Path
) -> None:
    env, st = ticket_of_stopped_server(kdc, own_kcm, tmp_path)
    assert st["state"] == "unreadable", st
    assert st["ccache"] == "KCM:" and st["ok"] is False
    message = str(st["message"])  # asked before libkrb5 is (ticket.kcm_problem)
    assert "not running" in message and str(own_kcm.socket_path) in message, st
    assert st["fix"], st

    got = last_json(python(SETUP_THEN_READ, with_cluster(client_env, env), ""))
    failed = copy_failed(got)
    assert "not running" in str(failed["summary"]), failed
    assert got["MLFLOW_KERBEROS_TICKET_CACHE"] is None
    assert got["KRB5CCNAME"] in (None, "KCM:"), got

    # the ticket was never lost: with the server back, it is there again
    own_kcm.start()
    proc = cli("ticket", "--json", env=env)
    assert proc.returncode == 0 and json.loads(proc.stdout)["state"] == "valid", proc.stdout


def test_a_kcm_server_that_is_down_gets_the_fix_to_start_it(
    kdc: Kdc, own_kcm: KcmServer, tmp_path: Path
) -> None:
    _, st = ticket_of_stopped_server(kdc, own_kcm, tmp_path)
    assert "sssd-kcm" in str(st["fix"]) or "KCM server" in str(st["fix"]), st["fix"]


def test_a_hung_kcm_server_does_not_hang_ticket(
    kdc: Kdc, client_env: ClientEnv, own_kcm: KcmServer, tmp_path: Path
) -> None:
    env = client_env_for(own_kcm, tmp_path)
    kinit(kdc, env, "10h")
    own_kcm.freeze()
    assert socket_accepts(own_kcm.socket_path) and not kcm_answers(own_kcm.socket_path)
    try:
        proc = run([sys.executable, "-m", "mlflow_client_env", "ticket", "--json"], env, 20)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        st = json.loads(proc.stdout)
        assert st["state"] == "unreadable" and st["ccache"] == "KCM:", st
        assert "hangs" in str(st["message"]) and "restart" in str(st["fix"]), st
        # setup() (its Java copy) does not hang either, and says why there is no copy
        code = "import json, mlflow_client_env as m\nr = m.setup()\n"
        code += "print(json.dumps({f.code: f.summary for f in r.findings}))\n"
        out = run([sys.executable, "-c", code], with_cluster(client_env, env), 60)
        assert out.returncode == 0, out.stderr[-2000:]
        findings = json.loads(out.stdout.strip().splitlines()[-1])
        assert "hangs" in findings.get("kerberos.copy-failed", ""), findings
    finally:
        own_kcm.resume()
