"""A long-lived libhdfs JVM across ticket renewals, against the real Kerberized HDFS.

Each child process holds ONE JVM (pyarrow -> libhdfs -> Hadoop 2.7.3 UGI on Java 17) and
keeps writing while ``keep_ticket_fresh()`` renews its 20-second ticket (renewable for 5
minutes) in the same process. The NameNode connection is closed after 0.5 s idle
(``ipc.client.connection.maxidletime``), so every write authenticates again, as a
notebook's writes do after a pause. What it shows:

- ``same-fs-fixed``: one ``HadoopFileSystem`` (with ``kerb_ticket``, as MLflow passes it)
  keeps writing for four lifetimes: keep_ticket_fresh() put the JVM options into
  LIBHDFS_OPTS before the JVM started, so Java logs in again from the renewed cache;
- ``same-fs-bare``: the same without those options: the cache is renewed, yet the first
  write after the first ticket's expiry fails (Hadoop keeps the TGT it read at connect);
- ``mlflow``: MLflow's HDFS artifact repository, also without the options, keeps logging,
  because it makes a new HadoopFileSystem (a new login from the cache) for every call.

The three children run at once (about 90 s in all).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env.kerberos.renew import (
    LIBHDFS_VARIABLES,
    SUBJECT_CREDS_OPTION,
    keep_ticket_fresh,
    prepare_jvm,
)
from mlflow_client_env_sandbox import Kdc, Sandbox
from mlflow_client_env_sandbox.procs import pdeathsig_preexec
from tests.sandbox.fixtures import HdfsControl
from tests.sandbox.helpers import base_env

LIFETIME = "20s"
RENEWABLE = "5m"

CHILD = r"""
import json, os, sys, time, uuid
mode, jvm, lifetimes, folder = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), sys.argv[4]
from mlflow_client_env import keep_ticket_fresh
from mlflow_client_env.kerberos.ticket import ticket_status

cc = os.environ["MLFLOW_KERBEROS_TICKET_CACHE"]
first = ticket_status(f"FILE:{cc}", threshold=0, realms=())
assert first.ok and first.lifetime and first.expires_at, first
end_at = first.expires_at.timestamp() + (lifetimes - 1) * first.lifetime
renewer = keep_ticket_fresh(ccache=f"FILE:{cc}", jvm=jvm)
opts_at_start = os.environ.get("LIBHDFS_OPTS", "")

if mode == "mlflow":
    from mlflow.store.artifact.hdfs_artifact_repo import HdfsArtifactRepository
    repo = HdfsArtifactRepository(folder)
    local = os.path.join(os.environ["CHILD_TMP"], "artifact.txt")
    def write(i):
        with open(local, "w") as f:
            f.write(f"artifact {i}\n")
        repo.log_artifact(local, f"n{i}")
else:
    import pyarrow.fs as pafs
    from urllib.parse import urlparse
    fs = pafs.HadoopFileSystem("default", 0, kerb_ticket=cc,
                               extra_conf={"ipc.client.connection.maxidletime": "500"})
    path = urlparse(folder).path
    fs.create_dir(path, recursive=True)
    def write(i):
        with fs.open_output_stream(f"{path}/n{i}") as s:
            s.write(f"write {i}\n".encode())

late_state = None
if not jvm:  # the JVM runs now: too late for the options, and keep_ticket_fresh says so
    late = keep_ticket_fresh(ccache=f"FILE:{cc}")
    late_state = late.jvm.state
    late.stop()

writes = []
i = 0
while time.time() < end_at:
    st = ticket_status(f"FILE:{cc}", threshold=0, realms=())
    at = time.time()
    try:
        write(i)
        writes.append({"at": at, "ok": True, "cache_ok": st.ok, "error": ""})
    except Exception as exc:
        writes.append({"at": at, "ok": False, "cache_ok": st.ok, "error": f"{type(exc).__name__}: {exc}"})
        if at > first.expires_at.timestamp():
            break  # the JVM lost its ticket; once is enough to show it
    i += 1
    time.sleep(2)
renewer.stop()
print(json.dumps({
    "first_expiry": first.expires_at.timestamp(),
    "lifetime": first.lifetime,
    "writes": writes,
    "renewals": renewer.renewals,
    "jvm": renewer.jvm.state if renewer.jvm else None,
    "late_jvm": late_state,
    "libhdfs_opts": opts_at_start,
}), flush=True)
"""


@dataclass
class ChildRun:
    result: dict[str, Any]
    stderr: str
    folder: str
    ccache: Path

    @property
    def writes(self) -> list[dict[str, Any]]:
        return list(self.result["writes"])

    def after_expiry(self) -> list[dict[str, Any]]:
        return [w for w in self.writes if w["at"] > self.result["first_expiry"]]


def libhdfs_env(sandbox: Sandbox, ccache: Path, **over: str) -> dict[str, str]:
    """What a shell gets from ``mlflow-client-env env --json`` for alice's ``ccache`` (and
    the variables ``over``); MLFLOW_KERBEROS_TICKET_CACHE names ``ccache`` in any case."""
    sb_env = {k: v for k, v in sandbox.env().items() if k != "MLFLOW_TRACKING_URI"}
    env = {**base_env(), **sb_env, "KRB5CCNAME": f"FILE:{ccache}", **over}
    proc = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "env", "--json"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return {"MLFLOW_KERBEROS_TICKET_CACHE": str(ccache), **env, **json.loads(proc.stdout)}


@pytest.fixture(scope="module")
def runs(
    sandbox: Sandbox, kdc: Kdc, hdfs: HdfsControl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ChildRun]]:
    sandbox.ensure_parcel()
    plans = {  # name -> (mode, keep_ticket_fresh(jvm=...), lifetimes)
        "same-fs-fixed": ("same-fs", "1", "4"),
        "same-fs-bare": ("same-fs", "0", "3"),
        "mlflow": ("mlflow", "0", "3"),
    }
    procs: dict[str, tuple[subprocess.Popen[str], str, Path]] = {}
    try:
        for name, (mode, jvm, lifetimes) in plans.items():
            tmp = tmp_path_factory.mktemp(name)
            cc = tmp / "krb5cc_alice"
            kdc.kinit("alice", cc, lifetime=LIFETIME, renewable=RENEWABLE)
            env = {**libhdfs_env(sandbox, cc), "CHILD_TMP": str(tmp)}
            folder = f"{hdfs.namenode_uri}/user/alice/jvm-renewal-{name}-{uuid.uuid4().hex[:8]}"
            proc = subprocess.Popen(
                [sys.executable, "-c", CHILD, mode, jvm, lifetimes, folder],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                preexec_fn=pdeathsig_preexec(),
            )  # fmt: skip
            procs[name] = (proc, folder, cc)
        out: dict[str, ChildRun] = {}
        for name, (proc, folder, cc) in procs.items():
            stdout, stderr = proc.communicate(timeout=300)
            assert proc.returncode == 0, f"{name} crashed:\n{stdout}\n{stderr[-4000:]}"
            out[name] = ChildRun(json.loads(stdout.strip().splitlines()[-1]), stderr, folder, cc)
        yield out
    finally:
        for proc, _, _ in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def files_in(hdfs: HdfsControl, folder: str, ccache: Path) -> list[str]:
    """What Java's FsShell lists under ``folder`` (recursively), with a valid ticket."""
    ls = hdfs.fs("-ls", "-R", folder, ccache=ccache)
    assert ls.returncode == 0, ls.stderr[-2000:]
    return sorted(line.rsplit("/", 1)[1] for line in ls.stdout.splitlines() if line[:1] == "-")


def test_same_filesystem_keeps_writing_across_four_lifetimes_with_keep_ticket_fresh(
    runs: dict[str, ChildRun], kdc: Kdc, hdfs: HdfsControl, tmp_path: Path
) -> None:
    run = runs["same-fs-fixed"]
    assert [w["error"] for w in run.writes if not w["ok"]] == []
    # it wrote on past the first ticket's expiry, well into the fourth lifetime ...
    last = run.writes[-1]["at"]
    assert last > run.result["first_expiry"] + 2 * run.result["lifetime"]
    assert len(run.after_expiry()) >= 20
    # ... on tickets renewed at least once per lifetime
    assert run.result["renewals"] >= 4
    assert run.result["jvm"] == "prepared"
    assert SUBJECT_CREDS_OPTION in run.result["libhdfs_opts"]
    cc = tmp_path / "reader"
    kdc.kinit("alice", cc)
    assert len(files_in(hdfs, run.folder, cc)) == len(run.writes)


def test_without_the_jvm_options_hadoop_keeps_the_expired_ticket(
    runs: dict[str, ChildRun],
) -> None:
    """Hadoop 2.7.3 does not pick up a renewed cache for a filesystem made with kerb_ticket."""
    run = runs["same-fs-bare"]
    before = [w for w in run.writes if w["at"] < run.result["first_expiry"]]
    assert before and all(w["ok"] for w in before)
    failed = run.writes[-1]
    assert not failed["ok"] and failed["at"] > run.result["first_expiry"]
    assert failed["cache_ok"]  # the cache held a renewed, valid ticket all along
    assert run.result["renewals"] >= 1
    assert "Failed to find any Kerberos tgt" in run.stderr
    assert run.result["jvm"] is None  # keep_ticket_fresh(jvm=False): nothing added
    assert SUBJECT_CREDS_OPTION not in run.result["libhdfs_opts"]
    # keep_ticket_fresh() called once the JVM runs: it cannot help, and says so
    assert run.result["late_jvm"] == "started"
    assert "a JVM already runs in this process" in run.stderr


def test_mlflow_reconnects_on_every_call_so_a_renewed_cache_is_enough(
    runs: dict[str, ChildRun], kdc: Kdc, hdfs: HdfsControl, tmp_path: Path
) -> None:
    run = runs["mlflow"]
    assert [w["error"] for w in run.writes if not w["ok"]] == []
    assert len(run.after_expiry()) >= 10 and run.result["renewals"] >= 2
    assert SUBJECT_CREDS_OPTION not in run.result["libhdfs_opts"]
    cc = tmp_path / "reader"
    kdc.kinit("alice", cc)
    assert files_in(hdfs, run.folder, cc) == ["artifact.txt"] * len(run.writes)


def test_run_gives_the_command_the_jvm_options(kdc: Kdc, tmp_path: Path) -> None:
    """``mlflow-client-env run`` hands its command the options (its JVM starts fresh)."""
    cc = tmp_path / "cc"
    kdc.kinit("alice", cc, lifetime="1h", renewable="2h")
    env = {
        **base_env(),
        "KRB5_CONFIG": str(kdc.krb5_conf),
        "KRB5CCNAME": f"FILE:{cc}",
        "LIBHDFS_OPTS": "-Xmx256m",
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
    }
    show = "import os; print(os.environ['LIBHDFS_OPTS'])"
    proc = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "run", "--", sys.executable, "-c", show],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    opts = proc.stdout.split()
    assert opts[0] == "-Xmx256m" and SUBJECT_CREDS_OPTION in opts
    jaas = Path(
        next(o for o in opts if o.startswith("-Djava.security.auth.login.config=")).split("=", 1)[1]
    )
    assert jaas.is_relative_to(tmp_path / "xdg-cache")
    assert (jaas.stat().st_mode & 0o777) == 0o600
    text = jaas.read_text()
    assert f'ticketCache="{cc}"' in text and "doNotPrompt=true" in text


def test_keep_ticket_fresh_prepares_only_a_process_set_up_for_libhdfs(
    kdc: Kdc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cc = tmp_path / "cc"
    kdc.kinit("alice", cc, lifetime="1h", renewable="2h")
    monkeypatch.setenv("KRB5_CONFIG", str(kdc.krb5_conf))
    monkeypatch.setenv("MLFLOW_CLIENT_ENV_CACHE", str(tmp_path / "cache"))
    for var in LIBHDFS_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    # not (yet) set up for libhdfs: nothing is changed or written
    r = keep_ticket_fresh(ccache=f"FILE:{cc}")
    r.stop()
    assert r.jvm is not None and r.jvm.state == "no-libhdfs"
    # said where a notebook shows it (a warning), not at INFO: the order is the user's to fix
    assert any(
        rec.levelname == "WARNING" and "after setup()" in rec.getMessage() for rec in caplog.records
    ), caplog.text
    assert "LIBHDFS_OPTS" not in os.environ and not (tmp_path / "cache").exists()
    # after setup() (here: LIBHDFS_OPTS by hand), before the first HDFS access
    monkeypatch.setenv("LIBHDFS_OPTS", "-Xmx1g")
    r = keep_ticket_fresh(ccache=f"FILE:{cc}")
    r.stop()
    assert r.jvm is not None and r.jvm.state == "prepared" and r.jvm.ok
    assert os.environ["LIBHDFS_OPTS"] == " ".join(("-Xmx1g", *r.jvm.options))
    r = keep_ticket_fresh(ccache=f"FILE:{cc}")  # a second call adds nothing
    r.stop()
    assert r.jvm is not None and r.jvm.state == "already"
    assert os.environ["LIBHDFS_OPTS"].count(SUBJECT_CREDS_OPTION) == 1
    # what prepare_jvm leaves alone
    theirs = {"LIBHDFS_OPTS": "-Djava.security.auth.login.config=/etc/their.jaas"}
    assert prepare_jvm(f"FILE:{cc}", theirs).state == "user-jaas"
    assert theirs["LIBHDFS_OPTS"] == "-Djava.security.auth.login.config=/etc/their.jaas"
    off = {"LIBHDFS_OPTS": "-Djavax.security.auth.useSubjectCredsOnly=true"}
    assert prepare_jvm(f"FILE:{cc}", off).state == "off"
    assert prepare_jvm("KEYRING:persistent:0", {}).state == "not-file"
    spaced = {"LIBHDFS_OPTS": ""}
    assert prepare_jvm(f"FILE:{tmp_path / 'a b'}", spaced).state == "unavailable"
    assert spaced["LIBHDFS_OPTS"] == ""
