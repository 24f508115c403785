"""install-kernel / uninstall-kernel against hostile file systems: read-only folders, links
planted by another user, and the modes of what is written.

"Another user" is the real ``nobody`` (uid 65534): commands run as nobody through
``setpriv`` (root ignores permission bits, so a read-only folder only means something to
another uid). Every refusal must be a typed error (exit 2, ``error:``/``fix:``), never a
traceback, never a followed link, and must leave the victim files byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlflow_client_env import cli
from mlflow_client_env.jupyter import install as ki
from tests.conftest import Edge, Jupyter
from tests.test_kernel_names import snapshot

NOBODY = 65534
SETPRIV = shutil.which("setpriv")
ROOT = Path(__file__).resolve().parent.parent


def as_nobody(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert SETPRIV, "setpriv (util-linux) is needed to run as nobody"
    return subprocess.run(
        [SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd="/",
    )


def chown_tree(root: Path, uid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for n in [dirpath, *(os.path.join(dirpath, x) for x in [*dirnames, *filenames])]:
            os.lchown(n, uid, uid)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder nobody can reach (tmp_path is root's 0700): random name, removed after."""
    d = Path(tempfile.mkdtemp(prefix="mce-kernel-fs-"))
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        for dirpath, _, _ in os.walk(d):
            os.chmod(dirpath, 0o755)
        shutil.rmtree(d)


def nobody_env(home: Path) -> dict[str, str]:
    """A complete private environment for nobody: its own Jupyter dirs, cache and config."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "MLFLOW_CLIENT_ENV_CACHE": str(home / "cache"),
        "MLFLOW_CLIENT_ENV_CONFIG": str(home / "config.toml"),
        "MLFLOW_CLIENT_ENV_SITE_CONFIG": str(home / "site.toml"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "IPYTHONDIR": str(home / "ipython"),
        "KRB5CCNAME": f"FILE:{home / 'krb5cc'}",
    }


def cmd(*argv: str) -> list[str]:
    return [sys.executable, "-m", "mlflow_client_env", *argv]


def assert_typed(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "mlflow-client-env: error:" in proc.stderr and "fix:" in proc.stderr, proc.stderr
    assert needle in proc.stderr, proc.stderr


# --- a read-only folder -------------------------------------------------------------------


def test_read_only_kernels_folder_is_a_typed_error_and_leaves_nothing(shared: Path) -> None:
    home = shared / "home"
    prefix = shared / "prefix"
    kernels = prefix / "share" / "jupyter" / "kernels"
    (kernels / "other").mkdir(parents=True)
    (kernels / "other" / "kernel.json").write_text('{"argv": ["python3"], "display_name": "x"}')
    home.mkdir(mode=0o700)
    chown_tree(shared, NOBODY)  # nobody's own folders: only the mode bits stop it
    for d in (kernels / "other", kernels, kernels.parent, kernels.parent.parent):
        os.chmod(d, 0o555)
    env = nobody_env(home)
    before = snapshot(prefix)

    proc = as_nobody(cmd("install-kernel", "--prefix", str(prefix)), env)
    assert_typed(proc, "cannot install kernel 'mlflow'")
    assert "Permission denied" in proc.stderr
    proc = as_nobody(
        cmd("install-kernel", "--name", "other", "--force", "--prefix", str(prefix)), env
    )
    assert_typed(proc, "cannot install kernel 'other'")
    proc = as_nobody(cmd("uninstall-kernel", "--force", "--prefix", str(prefix), "other"), env)
    assert_typed(proc, "cannot remove")
    assert snapshot(prefix) == before  # no staging folder, no half kernel, nothing removed

    # and a kernels folder that does not exist yet, under a read-only share/jupyter
    os.chmod(kernels.parent, 0o755)
    for d in (kernels / "other", kernels):
        os.chmod(d, 0o755)
    shutil.rmtree(kernels)
    os.chmod(kernels.parent, 0o555)
    before = snapshot(prefix)
    proc = as_nobody(cmd("install-kernel", "--prefix", str(prefix)), env)
    assert_typed(proc, "cannot install kernel 'mlflow'")
    assert snapshot(prefix) == before


# --- links planted by another user --------------------------------------------------------


@pytest.fixture
def planted(edge: Edge, shared: Path) -> tuple[Path, Path, Path]:
    """A shared kernels folder anyone may write to (0777, not sticky), a victim folder
    outside it that holds a kernel.json of ours (so following a link would look fine)
    and a secret, and nobody's links: ``mlflow`` -> the victim folder, and a real
    ``half/`` folder whose ``kernel.json`` -> the victim's kernel.json.
    Returns (kernels folder, victim folder, the folder that holds both)."""
    prefix = shared / "prefix"
    argv = ["install-kernel", "--name", "model", *edge.cli_args(), "--prefix", str(prefix)]
    assert cli.main(argv) == 0
    kernels = prefix / "share" / "jupyter" / "kernels"
    victim = shared / "victim"
    shutil.copytree(kernels / "model", victim)
    (victim / "secret.txt").write_text("do not touch\n")
    os.chmod(kernels, 0o777)
    env = nobody_env(shared)
    for argv in (
        ["ln", "-s", str(victim), str(kernels / "mlflow")],
        ["mkdir", str(kernels / "half")],
        ["ln", "-s", str(victim / "kernel.json"), str(kernels / "half" / "kernel.json")],
    ):
        proc = as_nobody(argv, env)
        assert proc.returncode == 0, proc.stderr
    assert (kernels / "mlflow").lstat().st_uid == NOBODY
    return kernels, victim, shared


def test_planted_link_as_the_kernel_folder_is_refused(
    planted: tuple[Path, Path, Path], edge: Edge
) -> None:
    kernels, victim, shared = planted
    before = snapshot(shared)
    prefix = ["--prefix", str(shared / "prefix")]
    for extra in ([], ["--force"], ["--dry-run"]):
        proc = subprocess.run(
            cmd("install-kernel", "--name", "mlflow", *prefix, *edge.cli_args(), *extra),
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert_typed(proc, "is a symbolic link")
    for extra in ([], ["--force"], ["--dry-run"]):
        proc = subprocess.run(
            cmd("uninstall-kernel", *prefix, *extra, "mlflow"),
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert_typed(proc, "is a symbolic link")
    assert snapshot(shared) == before
    assert (kernels / "mlflow").is_symlink() and os.readlink(kernels / "mlflow") == str(victim)
    assert (kernels / "model" / "kernel.json").is_file()  # the user's own kernel is untouched


def test_planted_link_as_kernel_json_is_refused(
    planted: tuple[Path, Path, Path], edge: Edge
) -> None:
    kernels, _, shared = planted
    before = snapshot(shared)
    prefix = ["--prefix", str(shared / "prefix")]
    for extra in ([], ["--force"]):
        proc = subprocess.run(
            cmd("install-kernel", "--name", "half", *prefix, *edge.cli_args(), *extra),
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert_typed(proc, "is a symbolic link")
    # not followed to decide that the kernel is ours: it needs --force ...
    proc = subprocess.run(
        cmd("uninstall-kernel", *prefix, "half"), capture_output=True, text=True, timeout=120
    )
    assert_typed(proc, "not written by mlflow-client-env")
    assert snapshot(shared) == before
    assert (kernels / "half" / "kernel.json").is_symlink()
    # ... and --force removes the folder with the link in it, never what it points to
    proc = subprocess.run(
        cmd("uninstall-kernel", *prefix, "--force", "half"), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert not os.path.lexists(kernels / "half")
    half = str(kernels / "half")
    assert snapshot(shared) == {k: v for k, v in before.items() if not k.startswith(half)}


def test_planted_link_as_the_lock_file_is_refused(
    jupyter: Jupyter, edge: Edge, tmp_path: Path
) -> None:
    """The lock folder is the user's own 0700 folder, so another user cannot plant here;
    the link is made by root to show that even then it is not followed."""
    kernels = jupyter.prefix_kernels
    lock = ki.lock_path(kernels, "mlflow")
    assert stat.S_IMODE(lock.parent.stat().st_mode) == 0o700
    assert lock.parent.stat().st_uid == os.geteuid()
    victim = tmp_path / "victim.txt"
    victim.write_text("do not touch\n")
    os.symlink(victim, lock)
    proc = subprocess.run(
        cmd("install-kernel", "--prefix", str(jupyter.prefix), *edge.cli_args()),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert_typed(proc, "symbolic link")
    assert victim.read_text() == "do not touch\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert lock.is_symlink()
    assert not os.path.lexists(kernels / "mlflow")


def test_lock_folder_of_another_user_is_refused(
    jupyter: Jupyter, edge: Edge, capsys: pytest.CaptureFixture[str]
) -> None:
    locks = ki.lock_path(jupyter.prefix_kernels, "mlflow").parent
    os.chown(locks, NOBODY, NOBODY)
    argv = ["install-kernel", "--prefix", str(jupyter.prefix), *edge.cli_args()]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"belongs to uid {NOBODY}" in err and "fix:" in err
    assert not jupyter.prefix_kernels.exists()


def test_staging_never_writes_through_a_link(tmp_path: Path) -> None:
    """Files in a staging folder are created O_EXCL|O_NOFOLLOW: a link there is an error."""
    victim = tmp_path / "victim.txt"
    victim.write_text("do not touch\n")
    link = tmp_path / "kernel.json"
    link.symlink_to(victim)
    with pytest.raises(FileExistsError):
        ki._create_file(link, b"{}")
    assert victim.read_text() == "do not touch\n"
    stage = ki._stage(tmp_path, {"argv": ["python"], "display_name": "x"})
    try:
        assert stage.name.startswith(ki.STAGING_PREFIX) and stage.parent == tmp_path
        assert stat.S_IMODE(stage.stat().st_mode) == 0o700
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in stage.iterdir()}
        assert "kernel.json" in modes and set(modes.values()) == {0o600}
    finally:
        shutil.rmtree(stage)


# --- modes on disk --------------------------------------------------------------------------


def modes(folder: Path) -> tuple[int, set[int]]:
    return (
        stat.S_IMODE(folder.stat().st_mode),
        {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()},
    )


def test_kernel_json_modes(
    jupyter: Jupyter, edge: Edge, capsys: pytest.CaptureFixture[str]
) -> None:
    """0600/0700 when the kernel holds anything of this user's; 0644/0755 otherwise."""
    prefix = ["--prefix", str(jupyter.prefix)]
    assert cli.main(["install-kernel", "--user", *edge.cli_args()]) == 0
    assert modes(jupyter.user_kernels / "mlflow") == (0o700, {0o600})

    assert cli.main(["install-kernel", "--name", "plain", *prefix, *edge.cli_args()]) == 0
    assert modes(jupyter.prefix_kernels / "plain") == (0o755, {0o644})
    capsys.readouterr()

    for name, extra in (
        ("env", ["--env", "A=1"]),
        ("exp", ["--experiment", "alice-exp"]),
        ("who", ["--tracking-uri", "http://alice@mlflow.example.com"]),  # a user, no password
    ):
        assert cli.main(["install-kernel", "--name", name, *prefix, *edge.cli_args(), *extra]) == 0
        assert modes(jupyter.prefix_kernels / name) == (0o700, {0o600}), name
        assert "readable by you only (0600)" in capsys.readouterr().err

    # a reinstall without the user-specific part opens it up again, and vice versa
    assert cli.main(["install-kernel", "--name", "env", *prefix, *edge.cli_args()]) == 0
    assert modes(jupyter.prefix_kernels / "env") == (0o755, {0o644})
    assert not [p for p in jupyter.prefix_kernels.parent.iterdir() if p.name != "kernels"]
    spec = json.loads((jupyter.prefix_kernels / "plain" / "kernel.json").read_text())
    assert "env" not in spec  # nothing user-specific went into the shared one
