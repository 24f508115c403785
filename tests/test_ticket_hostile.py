"""Hostile ticket caches and keytabs: FIFOs, directories, devices, sockets, huge files,
truncated and random bytes. Never a hang, never a traceback: a clear state or a typed error.

All real: ``os.mkfifo``, a bound AF_UNIX socket, ``/dev/zero``, sparse files, and the real
``mlflow-client-env ticket``/``kinit`` commands in subprocesses with a timeout.
"""
# ruff: noqa: F811  (the KDC fixtures are imported from tests.test_ticket_kdc)

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env.errors import CcacheFormatError, CcacheUnreadableError, KeytabError
from mlflow_client_env.kerberos.ccache import MAX_CCACHE_BYTES, parse_file_ccache, read_file_ccache
from mlflow_client_env.kerberos.login import check_keytab, check_login_inputs
from mlflow_client_env.kerberos.ticket import ticket_status
from tests.test_ticket_kdc import Krb, cli, krb, krb_env  # noqa: F401

#: Far above what any of these takes (~1 s for a CLI start); a hang hits it.
TIMEOUT = 60.0


def within(seconds: float, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a daemon thread; fail (instead of hanging the suite) if it blocks."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the test thread
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"blocked for more than {seconds} s (a FIFO read hangs)"
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(1)
    try:
        yield path
    finally:
        s.close()


def hostile(kind: str, tmp_path: Path, sock: Path) -> tuple[Path, str]:
    """A path of the given kind, and the word the message must contain."""
    if kind == "fifo":
        p = tmp_path / "fifo"
        os.mkfifo(p, 0o600)
        return p, "FIFO"
    if kind == "directory":
        p = tmp_path / "dir"
        p.mkdir()
        return p, "directory"
    if kind == "device":
        return Path("/dev/zero"), "character device"
    return sock, "socket"


KINDS = ["fifo", "directory", "device", "socket"]


@pytest.mark.parametrize("kind", KINDS)
def test_not_a_file_is_unreadable_through_the_function(
    kind: str, krb: Krb, krb_env: Path, tmp_path: Path, unix_socket: Path
) -> None:
    path, word = hostile(kind, tmp_path, unix_socket)
    st = within(TIMEOUT, lambda: ticket_status(f"FILE:{path}", threshold=0))
    assert st.state == "unreadable", st
    assert word in st.message and str(path) in st.message
    assert not st.ok and st.fix
    with pytest.raises(CcacheUnreadableError, match=word):
        within(TIMEOUT, lambda: read_file_ccache(path))  # what the kernel launcher calls


@pytest.mark.parametrize("kind", KINDS)
def test_not_a_file_through_the_ticket_command(
    kind: str, krb: Krb, krb_env: Path, tmp_path: Path, unix_socket: Path
) -> None:
    """KRB5CCNAME names it, as a user would; the real command answers, with exit code 1."""
    path, word = hostile(kind, tmp_path, unix_socket)
    env = dict(os.environ, KRB5CCNAME=f"FILE:{path}")
    t0 = time.monotonic()
    out = subprocess.run(
        cli("ticket", "--json"), env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    data = json.loads(out.stdout)
    assert data["state"] == "unreadable" and word in data["message"], data
    human = subprocess.run(cli("ticket"), env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert human.returncode == 1 and "state:        unreadable" in human.stdout
    assert time.monotonic() - t0 < TIMEOUT


def test_fifo_with_a_writer_waiting_is_not_read(krb: Krb, krb_env: Path, tmp_path: Path) -> None:
    """Even when someone holds the FIFO open for writing, nothing is read from it."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer open without blocking
    wfd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(wfd, b"\x05\x04" + b"x" * 100)
        st = within(TIMEOUT, lambda: ticket_status(f"FILE:{fifo}", threshold=0))
        assert st.state == "unreadable" and "FIFO" in st.message
        assert os.read(rfd, 1000) == b"\x05\x04" + b"x" * 100  # still there: never consumed
    finally:
        os.close(wfd)
        os.close(rfd)


def test_dir_cache_with_a_fifo_primary_is_unreadable(
    krb: Krb, krb_env: Path, tmp_path: Path
) -> None:
    d = tmp_path / "ccdir"
    d.mkdir(mode=0o700)
    os.mkfifo(d / "primary", 0o600)
    st = within(TIMEOUT, lambda: ticket_status(f"DIR:{d}", threshold=0))
    assert st.state == "unreadable" and "FIFO" in st.message
    os.mkfifo(d / "tktX", 0o600)
    st = within(TIMEOUT, lambda: ticket_status(f"DIR::{d / 'tktX'}", threshold=0))
    assert st.state == "unreadable" and "FIFO" in st.message


def test_enormous_file_is_corrupt_without_reading_it(
    krb: Krb, krb_env: Path, tmp_path: Path
) -> None:
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.write(b"\x05\x04")
        f.truncate(8 * 1024**3)  # 8 GiB, sparse
    t0 = time.monotonic()
    st = within(TIMEOUT, lambda: ticket_status(f"FILE:{big}", threshold=0))
    assert st.state == "corrupt" and "implausibly large" in st.message
    assert time.monotonic() - t0 < 10
    with pytest.raises(CcacheFormatError, match="implausibly large"):
        read_file_ccache(big)
    just = tmp_path / "just"
    just.write_bytes(b"\0" * (MAX_CCACHE_BYTES + 1))
    with pytest.raises(CcacheFormatError, match="implausibly large"):
        read_file_ccache(just)


def test_every_truncation_of_a_real_cache_is_a_format_error(krb: Krb, tmp_path: Path) -> None:
    cache = tmp_path / "cc"
    krb.kinit("alice", cache, lifetime="1h", renewable="2h")
    data = cache.read_bytes()
    full = parse_file_ccache(data)
    assert full.tgt() is not None
    boundaries = 0
    for n in range(len(data)):
        cut = data[:n]
        try:
            parsed = parse_file_ccache(cut, "cut")
        except CcacheFormatError:
            continue
        # a cut on a record boundary is a valid, shorter cache: whole records, never half one
        boundaries += 1
        assert parsed.credentials == full.credentials[: len(parsed.credentials)]
        assert len(parsed.credentials) < len(full.credentials)
    assert boundaries <= len(full.credentials)  # header end + each record end but the last


def test_random_bytes_give_a_format_error_or_a_parse_never_another_exception() -> None:
    rng = random.Random(1234)
    for i in range(3000):
        size = rng.choice([0, 1, 2, 5, 17, 64, 300, 4096])
        head = rng.choice([b"", b"\x05\x04", b"\x05\x03", b"\x05\x04\x00\x0c"])
        blob = head + rng.randbytes(size)
        with contextlib.suppress(CcacheFormatError):
            parse_file_ccache(blob, f"blob {i}")


def test_random_bytes_as_the_cache_file(krb: Krb, krb_env: Path) -> None:
    rng = random.Random(99)
    for _ in range(20):
        krb_env.write_bytes(b"\x05\x04" + rng.randbytes(rng.randrange(0, 2000)))
        st = ticket_status(threshold=0)
        assert st.state in ("corrupt", "missing"), st  # missing: gssapi says "empty"
        assert not st.ok


@pytest.mark.parametrize("kind", KINDS)
def test_keytab_that_is_not_a_file_is_a_typed_error(
    kind: str, tmp_path: Path, unix_socket: Path
) -> None:
    path, word = hostile(kind, tmp_path, unix_socket)
    with pytest.raises(KeytabError, match=word):
        within(TIMEOUT, lambda: check_keytab(path))


def test_keytab_fifo_through_the_kinit_command(krb: Krb, krb_env: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "kt"
    os.mkfifo(fifo, 0o600)
    krb_env.write_bytes(b"not touched")
    out = subprocess.run(
        cli("kinit", "--keytab", str(fifo), "--principal", "alice"),
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "FIFO" in out.stderr and "Traceback" not in out.stderr
    assert krb_env.read_bytes() == b"not touched"


def test_not_a_keytab(tmp_path: Path) -> None:
    junk = tmp_path / "junk.keytab"
    junk.write_bytes(b"\x05\x04 this is a ccache, not a keytab")
    junk.chmod(0o600)
    with pytest.raises(KeytabError, match="is not a keytab"):
        check_login_inputs(junk, "alice@SANDBOX.TEST", f"FILE:{tmp_path / 'cc'}")
    empty = tmp_path / "empty.keytab"
    empty.touch(0o600)
    with pytest.raises(KeytabError, match="is not a keytab"):
        check_keytab(empty)


def test_krb5_conf_fifo_is_a_typed_error(tmp_path: Path) -> None:
    from mlflow_client_env.errors import ConfigFileError
    from mlflow_client_env.kerberos.profile import read_krb5_conf

    fifo = tmp_path / "krb5.conf"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(ConfigFileError, match="not a regular file"):
        within(TIMEOUT, lambda: read_krb5_conf(fifo))
