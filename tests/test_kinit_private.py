"""Where tickets, locks and temporary caches are written, and what a planted link does.

No predictable path in /tmp: the private FILE copy for Java, the cache locks and the
temporary copies live in the user's runtime dir (0700, ours) or a 0700 dir under the
cache dir. Real symlinks and real directories owned by ``nobody`` (uid 65534) stand in
for another user's plant; the victim file outside must stay unchanged and the error
must be typed.
"""
# ruff: noqa: F811  (the KDC fixtures are imported from tests.test_ticket_kdc)

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from mlflow_client_env.errors import CacheTargetError, PrivateDirError
from mlflow_client_env.kerberos.login import (
    check_login_inputs,
    copy_to_file,
    keytab_login,
    lock_file,
    private_ccache,
)
from mlflow_client_env.kerberos.ticket import read_any_ccache, ticket_status
from mlflow_client_env.userdirs import lock_dir, private_base, private_dir
from tests.test_ticket_kdc import Krb, cli, krb, krb_env  # noqa: F401

NOBODY = 65534
VICTIM_TEXT = b"precious data of another user\n"


@pytest.fixture(autouse=True)
def as_root() -> None:
    assert os.geteuid() == 0, "these tests plant files as 'nobody' and need to start as root"


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private runtime dir (0700, ours) as XDG_RUNTIME_DIR; a private cache dir too."""
    r = tmp_path / "runtime"
    r.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(r))
    monkeypatch.setenv("MLFLOW_CLIENT_ENV_CACHE", str(tmp_path / "cache"))
    return r


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    v = tmp_path / "elsewhere" / "victim"
    v.parent.mkdir()
    v.write_bytes(VICTIM_TEXT)
    return v


def plant_link(link: Path, target: Path) -> None:
    """A symlink owned by nobody, as another user would leave it."""
    link.symlink_to(target)
    os.lchown(link, NOBODY, NOBODY)


def test_runtime_dir_is_used_when_private(runtime: Path) -> None:
    assert private_base() == runtime
    assert private_ccache() == f"FILE:{runtime}/krb5cc_{os.getuid()}_mlflow_client_env"
    d = private_dir(create=True)
    assert d == runtime / "mlflow-client-env"
    assert stat.S_IMODE(d.stat().st_mode) == 0o700


@pytest.mark.parametrize("problem", ["nobody", "symlink", "mode-0755", "relative"])
def test_an_untrusted_runtime_dir_is_not_used(
    problem: str, runtime: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if problem == "nobody":
        os.chown(runtime, NOBODY, NOBODY)
    elif problem == "symlink":
        link = tmp_path / "runtime-link"
        link.symlink_to(runtime)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(link))
    elif problem == "mode-0755":
        runtime.chmod(0o755)
    else:
        monkeypatch.setenv("XDG_RUNTIME_DIR", "runtime")
        monkeypatch.chdir(tmp_path)
    base = private_base(create=True)
    assert base == tmp_path / "cache" / "run"  # the 0700 fallback under the cache dir
    assert stat.S_IMODE(base.stat().st_mode) == 0o700 and base.stat().st_uid == os.getuid()
    assert not str(private_ccache()).startswith(f"FILE:{runtime}")
    assert list(runtime.iterdir()) == []


def test_never_tmp_without_any_runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root in a container: no XDG_RUNTIME_DIR, no /run/user/0: a dir under HOME's cache."""
    for var in ("XDG_RUNTIME_DIR", "MLFLOW_CLIENT_ENV_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".cache" / "mlflow-client-env" / "run"
    if Path(f"/run/user/{os.getuid()}").is_dir():
        expected = Path(f"/run/user/{os.getuid()}")
    assert private_base(create=True) == expected
    assert not private_ccache().startswith("FILE:/tmp/krb5cc")
    lock = lock_file(Path("/tmp/krb5cc_0"))
    assert lock.parent == tmp_path / "home" / ".cache" / "mlflow-client-env" / "locks"


@pytest.mark.parametrize("where", ["app-dir-symlink", "app-dir-nobody", "fallback-nobody"])
def test_a_planted_private_dir_is_a_typed_error(
    where: str, krb: Krb, krb_env: Path, runtime: Path, tmp_path: Path, victim: Path
) -> None:
    krb.kinit("alice", krb_env, lifetime="1h")
    locks = tmp_path / "cache" / "locks"  # where every lock of ours lives
    locks.parent.mkdir(mode=0o700)
    if where == "app-dir-symlink":
        plant_link(runtime / "mlflow-client-env", victim.parent)
        plant_link(locks, victim.parent)
    elif where == "app-dir-nobody":
        for d in (runtime / "mlflow-client-env", locks):
            d.mkdir(mode=0o700)
            os.chown(d, NOBODY, NOBODY)
    else:
        runtime.chmod(0o755)  # not private: the fallback is used, and it was planted
        run = tmp_path / "cache" / "run"
        run.mkdir(parents=True, mode=0o777)
        os.chown(run, NOBODY, NOBODY)
    before = sorted(p.name for p in victim.parent.iterdir())
    with pytest.raises(PrivateDirError) as info:
        keytab_login(krb.keytabs["alice"], "alice", f"FILE:{tmp_path / 'cc'}")
    assert "private" in info.value.problem
    with pytest.raises(PrivateDirError):
        copy_to_file(f"FILE:{krb_env}")
    assert read_any_ccache("MEMORY:nothing") is None  # its temp dir is refused, no traceback
    assert victim.read_bytes() == VICTIM_TEXT
    assert sorted(p.name for p in victim.parent.iterdir()) == before
    assert not (tmp_path / "cc").exists()


def test_lock_and_temp_files_are_private(krb: Krb, krb_env: Path, runtime: Path) -> None:
    st = keytab_login(krb.keytabs["alice"], "alice", f"FILE:{krb_env}")
    assert st.state == "valid"
    assert not Path(f"{krb_env}.lock").exists()  # never next to the cache
    lock = lock_file(krb_env)
    assert lock.parent == lock_dir()  # one lock folder, whatever the runtime folder
    assert lock.exists() and stat.S_IMODE(lock.stat().st_mode) == 0o600
    assert stat.S_IMODE(lock.parent.stat().st_mode) == 0o700
    # nothing beside the cache: the lock is in <cache>/locks
    assert sorted(p.name for p in krb_env.parent.iterdir()) == ["cache", "krb5cc", "runtime"]


def test_symlink_at_the_cache_is_refused(
    krb: Krb, krb_env: Path, runtime: Path, victim: Path
) -> None:
    plant_link(krb_env, victim)
    with pytest.raises(CacheTargetError, match="symbolic link"):
        check_login_inputs(krb.keytabs["alice"], "alice", f"FILE:{krb_env}")
    with pytest.raises(CacheTargetError, match="symbolic link"):
        keytab_login(krb.keytabs["alice"], "alice", f"FILE:{krb_env}")
    assert victim.read_bytes() == VICTIM_TEXT
    assert krb_env.is_symlink() and os.readlink(krb_env) == str(victim)  # left as it was
    out = subprocess.run(
        cli("kinit", "--keytab", str(krb.keytabs["alice"]), "--principal", "alice"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2 and "symbolic link" in out.stderr, out.stderr  # bad input
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert victim.read_bytes() == VICTIM_TEXT


def test_symlink_at_the_java_copy_is_refused(
    krb: Krb, krb_env: Path, runtime: Path, victim: Path
) -> None:
    krb.kinit("alice", krb_env, lifetime="1h")
    target = Path(private_ccache().split(":", 1)[1])
    plant_link(target, victim)
    with pytest.raises(CacheTargetError, match="symbolic link"):
        copy_to_file(f"FILE:{krb_env}")
    assert victim.read_bytes() == VICTIM_TEXT and target.is_symlink()


@pytest.mark.parametrize("plant", ["file-of-nobody", "dir-of-nobody", "fifo"])
def test_other_plants_at_the_cache_are_refused(
    plant: str, krb: Krb, krb_env: Path, runtime: Path, tmp_path: Path
) -> None:
    if plant == "file-of-nobody":
        cache = krb_env
        cache.write_bytes(VICTIM_TEXT)
        os.chown(cache, NOBODY, NOBODY)
        match = "belongs to uid 65534"
    elif plant == "dir-of-nobody":
        shared = tmp_path / "shared"
        shared.mkdir(mode=0o777)
        shared.chmod(0o777)
        os.chown(shared, NOBODY, NOBODY)
        cache = shared / "cc"
        match = "others can write"
    else:
        cache = krb_env
        os.mkfifo(cache, 0o600)
        match = "FIFO"
    with pytest.raises(CacheTargetError, match=match):
        keytab_login(krb.keytabs["alice"], "alice", f"FILE:{cache}")
    if plant == "file-of-nobody":
        assert cache.read_bytes() == VICTIM_TEXT
    elif plant == "dir-of-nobody":
        assert list(cache.parent.iterdir()) == []
    else:
        assert stat.S_ISFIFO(os.lstat(cache).st_mode)


def test_a_failed_login_leaves_the_cache_alone(
    krb: Krb, krb_env: Path, runtime: Path, tmp_path: Path
) -> None:
    """The cache is replaced only when the KDC said yes: a wrong principal changes nothing."""
    krb.kinit("alice", krb_env, lifetime="1h")
    before = krb_env.read_bytes()
    inode = krb_env.stat().st_ino
    from mlflow_client_env.errors import KinitError

    with pytest.raises(KinitError, match="keytab login of"):
        keytab_login(krb.keytabs["alice"], "short", f"FILE:{krb_env}")  # not in that keytab
    assert krb_env.read_bytes() == before and krb_env.stat().st_ino == inode
    assert ticket_status(threshold=0).principal == krb.principal("alice")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cache",
        "krb5cc",
        "runtime",
    ]  # no leftovers
