"""Renewal against a real KDC: short tickets outlived, KDC outages survived, shared caches intact."""
# ruff: noqa: F811  (the KDC fixtures are imported from tests.test_ticket_kdc)

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlflow_client_env.errors import CommandStartError
from mlflow_client_env.kerberos.renew import keep_ticket_fresh, run_command
from mlflow_client_env.kerberos.ticket import ticket_status
from tests.test_ticket_kdc import (  # noqa: F401
    CHECKER,
    Krb,
    cli,
    krb,
    krb_env,
    run_checked_proc,
    start_kdc,
    wait_for,
)


def test_run_keeps_a_10s_ticket_valid_for_40s(krb: Krb, tmp_path: Path) -> None:
    """With `run` (kinit -R renewals) the checker passes; without, it fails once the ticket expires."""
    with_run = tmp_path / "cc-run"
    krb.kinit("short", with_run, lifetime="10s", renewable="1h")
    proc = run_checked_proc(
        cli("run", "--", sys.executable, "-c", CHECKER, "40"), krb.env(with_run)
    )
    assert proc.returncode == 0, proc.stdout
    assert "valid for all" in proc.stdout

    without = tmp_path / "cc-plain"
    krb.kinit("short", without, lifetime="10s", renewable="1h")
    plain = run_checked_proc([sys.executable, "-c", CHECKER, "40"], krb.env(without))
    assert plain.returncode == 1, plain.stdout
    assert "ticket failed" in plain.stdout


def test_run_with_keytab_logs_in_again_after_the_renewable_window(krb: Krb, tmp_path: Path) -> None:
    """'brief' tickets live 5 s and are renewable for 12 s: 25 s need renewals *and* re-logins."""
    cache = tmp_path / "cc"
    argv = cli(
        "run", "--keytab", str(krb.keytabs["brief"]), "--principal", "brief",
        "--ccache", f"FILE:{cache}", "--", sys.executable, "-c", CHECKER, "25",
    )  # fmt: skip
    proc = run_checked_proc(argv, krb.env())
    assert proc.returncode == 0, proc.stdout
    assert ticket_status(f"FILE:{cache}", env=krb.env(), realms=()).principal == krb.principal(
        "brief"
    )


def test_keep_ticket_fresh_renews_and_relogs(krb: Krb, krb_env: Path) -> None:
    renewer = keep_ticket_fresh(krb.keytabs["brief"], "brief", f"FILE:{krb_env}")
    try:
        wait_for(
            lambda: renewer.renewals >= 1 and renewer.relogins >= 1, "a renewal and a re-login"
        )
        assert renewer.status == "ok" and renewer.last_error is None
        assert ticket_status(threshold=0).state == "valid"
    finally:
        renewer.stop()
    assert renewer.status == "stopped" and not renewer.running


def restart_kdc(k: Krb) -> None:
    """Kdc.start() minus its free-port check: that check binds without SO_REUSEADDR and so
    fails for a minute on the KDC's own TIME_WAIT sockets; krb5kdc itself reuses the port."""
    from mlflow_client_env_sandbox.kdc import tool
    from mlflow_client_env_sandbox.ports import tcp_open
    from mlflow_client_env_sandbox.procs import spawn
    from mlflow_client_env_sandbox.procs import wait_until as sb_wait

    kdc = k.kdc
    kdc.process = spawn(
        "krb5kdc", [tool("krb5kdc"), "-n", "-r", kdc.realm],
        env=kdc.env, log=kdc.log, cwd=kdc.base, detached=False,
    )  # fmt: skip
    sb_wait(
        lambda: tcp_open(kdc.port),
        what="the KDC",
        timeout=30,
        procs=[kdc.process],
        fix="see kdc.log",
    )


@pytest.fixture
def own_kdc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Krb]:
    """A KDC this test may stop and start; this process uses it."""
    k = start_kdc(tmp_path / "kdc")
    monkeypatch.setenv("KRB5_CONFIG", str(k.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'cc'}")
    try:
        yield k
    finally:
        k.kdc.stop()


def test_kdc_down_then_back(own_kdc: Krb, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = tmp_path / "cc"
    renewer = keep_ticket_fresh(own_kdc.keytabs["brief"], "brief", max_backoff=1.0)
    try:
        assert renewer.ccache == f"FILE:{cache}"
        wait_for(lambda: renewer.status == "ok", "the first login")
        own_kdc.kdc.stop()
        wait_for(lambda: renewer.status == "retrying" and renewer.failures >= 3, "failed retries")
        assert renewer.running  # no crash
        assert renewer.last_error is not None and "Cannot contact any KDC" in renewer.last_error
        assert "Cannot contact any KDC" in caplog.text and "retrying in" in caplog.text
        wait_for(lambda: ticket_status(threshold=0).state == "expired", "the ticket to expire")
        restart_kdc(own_kdc)
        wait_for(lambda: renewer.status == "ok", "recovery once the KDC is back")
        assert ticket_status(threshold=0).state == "valid"
        assert "valid again" in caplog.text
    finally:
        renewer.stop()


RUN_AND_WATCH = r"""
import sys, time
from mlflow_client_env.kerberos.ticket import ticket_status
end = time.monotonic() + float(sys.argv[1])
seen = set()
while time.monotonic() < end:
    st = ticket_status(threshold=0, realms=())
    seen.add(st.state)
    if not st.ok:
        print("watcher: bad state", st.state, st.message, flush=True)
        sys.exit(1)
    time.sleep(0.1)
print("watcher: states seen", sorted(seen), flush=True)
"""


def test_four_concurrent_renewers_share_one_cache(krb: Krb, tmp_path: Path) -> None:
    """Four `run` processes renew the same 10 s cache for 25 s; each watches it every 0.1 s."""
    cache = tmp_path / "shared"
    krb.kinit("short", cache, lifetime="10s", renewable="1h")
    env = krb.env(cache)
    argv = cli("run", "--", sys.executable, "-c", RUN_AND_WATCH, "25")
    procs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(4)
    ]
    try:
        outs = [p.communicate(timeout=180)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outs
    st = ticket_status(f"FILE:{cache}", env=env, threshold=0, realms=())
    assert st.state == "valid"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".shared.")]


def test_run_returns_the_exit_code_and_forwards_signals(krb: Krb, tmp_path: Path) -> None:
    cache = tmp_path / "cc"
    krb.kinit("alice", cache, lifetime="1h")
    env = krb.env(cache)
    code = run_checked_proc(cli("run", "--", sys.executable, "-c", "raise SystemExit(7)"), env)
    assert code.returncode == 7
    child = (
        "import signal, sys, time, os\n"
        "signal.signal(signal.SIGTERM, lambda s, f: sys.exit(3))\n"
        "print('ready', os.environ['KRB5CCNAME'], flush=True)\n"
        "time.sleep(120)\n"
    )
    proc = subprocess.Popen(
        cli("run", "--", sys.executable, "-c", child), env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == f"ready FILE:{cache}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 3
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    missing = run_checked_proc(cli("run", "--", "/nonexistent/cmd"), env)
    assert missing.returncode == 127
    assert "error: cannot start /nonexistent/cmd: No such file or directory" in missing.stdout
    assert "Traceback" not in missing.stdout
    no_ticket = run_checked_proc(cli("run", "--", "true"), krb.env(tmp_path / "none"))
    assert no_ticket.returncode == 1 and "kinit" in no_ticket.stdout
    assert "k5start" in subprocess.run(cli("run", "--help"), capture_output=True, text=True).stdout
    # the cache that run kept is still alice's valid ticket, and nothing was left beside it
    st = ticket_status(f"FILE:{cache}", env=env, threshold=0, realms=())
    assert st.state == "valid" and st.principal == krb.principal("alice")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cc"]


def test_run_command_raises_instead_of_printing(
    krb: Krb, krb_env: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Library code never prints: a command that cannot start is a typed error (exit 127)."""
    krb.kinit("alice", krb_env, lifetime="1h")
    with pytest.raises(CommandStartError, match="cannot start /nonexistent/cmd") as info:
        run_command(["/nonexistent/cmd"])
    assert info.value.exit_code == 127
    out, err = capfd.readouterr()
    assert out == "" and err == ""
