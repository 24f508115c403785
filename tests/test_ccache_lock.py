"""A FILE cache is read the way libkrb5's own readers read it: under the shared lock, and
never written.

Both failures were seen in CI: four renewers and their watchers shared one 10 s cache, the
cache grew by ~300 bytes a check (gssapi's ``refresh_time`` entries, appended by libkrb5
to the cache it was asked about), and a watcher parsed it halfway through an append
("corrupt").

The writer of the second test takes libkrb5's own lock (``krb5_lock_file``, the routine
its FILE cache code locks with) through ctypes, on a cache the real KDC issued. What it
writes while it holds the lock (the cache cut in half, then whole again) stands in for
libkrb5 rewriting a cache, whose lock window cannot be held open from outside.
"""
# ruff: noqa: F811  (the KDC fixtures are imported from tests.test_ticket_kdc)

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlflow_client_env.kerberos import ccache
from mlflow_client_env.kerberos.ticket import ticket_status
from tests.helpers_cli import run_cli
from tests.test_ticket_kdc import Krb, krb  # noqa: F401

WRITER = r"""
import ctypes, os, sys, time
path, ready = sys.argv[1], sys.argv[2]
k5 = ctypes.CDLL("libkrb5.so.3")
k5.krb5_init_context.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
k5.krb5_lock_file.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
k5.krb5_unlock_file.argtypes = [ctypes.c_void_p, ctypes.c_int]
ctx = ctypes.c_void_p()
assert k5.krb5_init_context(ctypes.byref(ctx)) == 0
with open(path, "rb") as f:
    data = f.read()
fd = os.open(path, os.O_RDWR)
assert k5.krb5_lock_file(ctx, fd, 2) == 0  # KRB5_LOCKMODE_EXCLUSIVE
os.ftruncate(fd, 0)
os.write(fd, data[: len(data) // 2])
open(ready, "w").close()
time.sleep(float(sys.argv[3]))
os.write(fd, data[len(data) // 2 :])
assert k5.krb5_unlock_file(ctx, fd) == 0
os.close(fd)
"""


def test_a_status_check_never_writes_the_cache(krb: Krb, tmp_path: Path) -> None:
    """A 10 s ticket: gssapi would append a refresh_time entry on every check."""
    cache = tmp_path / "cc"
    krb.kinit("short", cache, lifetime="10s", renewable="1h")
    env = krb.env(cache)
    before = cache.read_bytes()
    for _ in range(3):
        st = ticket_status(f"FILE:{cache}", env=env, threshold=0, realms=())
        assert st.state == "valid", st
    shown = run_cli("ticket", "--json", "--threshold", "0", env=env)
    assert shown.returncode == 0 and json.loads(shown.stdout)["state"] == "valid", shown
    assert cache.read_bytes() == before


@contextlib.contextmanager
def half_written(
    krb: Krb, tmp_path: Path, hold: float
) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """alice's cache, cut in half under libkrb5's lock by WRITER, which restores it after
    ``hold`` seconds; yields once the lock is held. The writer is stopped at the end."""
    cache = tmp_path / "cc"
    krb.kinit("alice", cache, lifetime="1h")
    ready = tmp_path / "ready"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(cache), str(ready), str(hold)], env=krb.env(cache)
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert writer.poll() is None, "the writer ended before it held the lock"
            assert time.monotonic() < deadline, "the writer never took the lock"
            time.sleep(0.01)
        yield cache, writer
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()


def test_a_cache_being_written_is_read_once_the_writer_is_done(
    krb: Krb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader waits for the writer (here up to 10 min, so a loaded machine cannot make
    the writer late: the test judges no time)."""
    monkeypatch.setattr(ccache, "LOCK_WAIT", 600.0)
    with half_written(krb, tmp_path, 0.8) as (cache, writer):
        st = ticket_status(f"FILE:{cache}", env=krb.env(cache), threshold=0, realms=())
        assert st.state == "valid", st
        assert writer.wait(timeout=60) == 0


def test_a_writer_that_never_finishes_is_read_past(krb: Krb, tmp_path: Path) -> None:
    """The wait is bounded: a lock held for minutes gives the half-written cache's answer
    ("corrupt") after LOCK_WAIT, not a hang."""
    with half_written(krb, tmp_path, 300) as (cache, writer):
        st = ticket_status(f"FILE:{cache}", env=krb.env(cache), threshold=0, realms=())
        assert st.state == "corrupt", st
        assert writer.poll() is None  # it still holds the lock: we did not wait for it
