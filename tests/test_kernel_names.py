"""Hostile kernel names, through the real ``mlflow-client-env`` command, against real folders.

Before the fix, ``install-kernel --name . --force`` swapped the whole kernels folder away
(every kernel gone, exit 0), ``uninstall-kernel .`` did the same and ``..`` gave a
traceback. Each name here must be refused with a typed error (exit 2, ``error:`` and
``fix:`` on stderr, no traceback) *before* anything is touched: every file under the
temp tree (several kernels, ours and foreign, in a prefix and in the user dir) is
compared byte for byte, with its mode, before and after.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mlflow_client_env import cli
from mlflow_client_env.jupyter import install as ki
from mlflow_client_env.jupyter import spec as ks
from tests.conftest import Edge, Jupyter
from tests.helpers_cli import run_cli as run

#: Every one of these is refused; none of them reaches the disk.
HOSTILE = [
    ".",
    "..",
    "a/b",
    "../x",
    "../../etc",
    "x/..",
    "./mlflow",
    "mlflow/",
    "/",
    "/etc",
    "",
    "my kernel",
    " mlflow",
    "a\nb",
    "mlflow\n",
    "a" * (ks.NAME_MAX + 1),
    "kérnel",
    "\u212a",  # the Kelvin sign: case-folds to 'k' under jupyter_client's IGNORECASE
    "\u017f",  # the long s: folds to 's'
    "a\tb",
    "*",
    "mlflow;rm -rf ~",
]


Snapshot = dict[str, tuple[str, int, bytes]]


def snapshot(root: Path) -> Snapshot:
    """Every entry under ``root``: kind, mode and content (a link's target), not followed."""
    out: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in [*dirnames, *filenames]:
            p = Path(dirpath) / n
            st = p.lstat()
            if p.is_symlink():
                out[str(p)] = ("link", st.st_mode, os.readlink(p).encode())
            elif p.is_dir():
                out[str(p)] = ("dir", st.st_mode, b"")
            else:
                out[str(p)] = ("file", st.st_mode, p.read_bytes())
    return out


def write_foreign(kernels: Path, name: str) -> Path:
    d = kernels / name
    d.mkdir(parents=True)
    spec = {"argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"]}
    (d / "kernel.json").write_text(json.dumps({**spec, "display_name": name, "language": "python"}))
    return d


@pytest.fixture
def populated(jupyter: Jupyter, edge: Edge) -> Jupyter:
    """Kernels of ours and of others, in the prefix and in the user dir."""
    for name, where in (("mlflow", "--prefix"), ("mlflow-b", "--prefix"), ("mine", "--user")):
        argv = ["install-kernel", "--name", name, *edge.cli_args()]
        argv += ["--prefix", str(jupyter.prefix)] if where == "--prefix" else ["--user"]
        assert cli.main(argv) == 0
    write_foreign(jupyter.prefix_kernels, "python3")
    write_foreign(jupyter.prefix_kernels, "ir")
    write_foreign(jupyter.user_kernels, "julia-1.9")
    return jupyter


def assert_refused(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "mlflow-client-env: error: invalid kernel name" in proc.stderr, proc.stderr
    assert "fix:" in proc.stderr


def hostile_argvs(name: str, jupyter: Jupyter, edge: Edge) -> list[list[str]]:
    prefix = ["--prefix", str(jupyter.prefix)]
    return [
        ["install-kernel", "--name", name, "--force", *prefix, *edge.cli_args()],
        ["install-kernel", "--name", name, "--force", "--user", *edge.cli_args()],
        ["install-kernel", "--name", name, "--dry-run", *prefix, *edge.cli_args()],
        ["uninstall-kernel", *prefix, "--force", "--", name],
        ["uninstall-kernel", *prefix, "--", name],
        ["uninstall-kernel", *prefix, "--force", "--dry-run", "--", name],
    ]


def test_hostile_names_are_refused_before_the_disk(
    populated: Jupyter, edge: Edge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every name, every command, through the real entry point (``cli.main``)."""
    before = snapshot(tmp_path)
    assert len([p for p in before if p.endswith("kernel.json")]) == 6
    capsys.readouterr()
    for name in HOSTILE:
        for argv in hostile_argvs(name, populated, edge):
            assert cli.main(argv) == 2, (name, argv)
            out = capsys.readouterr()
            assert "mlflow-client-env: error: invalid kernel name" in out.err, (name, out.err)
            assert "fix:" in out.err and "Traceback" not in out.err and out.out == ""
        assert snapshot(tmp_path) == before, name


@pytest.mark.parametrize("name", [".", "..", "../x", "a/b", "a" * 300, "\u212a"])
def test_hostile_names_in_a_new_process(
    populated: Jupyter, edge: Edge, tmp_path: Path, name: str
) -> None:
    """The same as a user runs it: a new process, exit status 2, no traceback."""
    before = snapshot(tmp_path)
    for argv in hostile_argvs(name, populated, edge)[:4]:
        assert_refused(run(*argv))
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["a\0b", "\0", "mlflow\0/.."])
def test_nul_in_a_name_is_refused(
    populated: Jupyter, edge: Edge, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """No argv can carry NUL, so through the entry point in this process."""
    before = snapshot(tmp_path)
    prefix = ["--prefix", str(populated.prefix)]
    for argv in (
        ["install-kernel", "--name", name, "--force", *prefix, *edge.cli_args()],
        ["uninstall-kernel", "--force", *prefix, "--", name],
    ):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert "invalid kernel name" in err and "fix:" in err and "\0" not in err
    assert snapshot(tmp_path) == before


def test_longest_name_installs_and_uninstalls(populated: Jupyter, edge: Edge) -> None:
    """255 bytes is a legal folder name: the staging folders and the lock file must not
    add to it (they do not contain the name)."""
    name = "k" * ks.NAME_MAX
    prefix = ["--prefix", str(populated.prefix)]
    proc = run("install-kernel", "--name", name, *prefix, *edge.cli_args())
    assert proc.returncode == 0, proc.stderr
    assert (populated.prefix_kernels / name / "kernel.json").is_file()
    proc = run("uninstall-kernel", *prefix, name)
    assert proc.returncode == 0, proc.stderr
    assert not (populated.prefix_kernels / name).exists()
    assert (populated.prefix_kernels / "mlflow" / "kernel.json").is_file()


def test_uppercase_name_is_installed_lowercase_like_jupyter(populated: Jupyter, edge: Edge) -> None:
    prefix = ["--prefix", str(populated.prefix)]
    proc = run("install-kernel", "--name", "MLflow-Upper", *prefix, *edge.cli_args())
    assert proc.returncode == 0, proc.stderr
    assert (populated.prefix_kernels / "mlflow-upper" / "kernel.json").is_file()
    assert not (populated.prefix_kernels / "MLflow-Upper").exists()
    proc = run("uninstall-kernel", *prefix, "MLFLOW-UPPER")
    assert proc.returncode == 0, proc.stderr
    assert not (populated.prefix_kernels / "mlflow-upper").exists()


def test_removal_only_ever_takes_the_kernels_own_folder(populated: Jupyter, tmp_path: Path) -> None:
    """The structural check in front of every removal, given paths a bug could produce."""
    kernels = populated.prefix_kernels
    before = snapshot(tmp_path)
    for path in (
        kernels,
        kernels.parent,
        kernels / "mlflow" / "..",
        kernels / "mlflow-b",  # another kernel's folder
        kernels / "mlflow" / "logo-64x64.png",
        Path("/"),
    ):
        with pytest.raises(ks.KernelSpecError):
            ki._check_removable(kernels, "mlflow", path, require_ours=True)
    for name in (".", "..", "", "a/b"):
        with pytest.raises(ks.KernelNameError):
            ki._check_removable(kernels, name, kernels / name, require_ours=False)
    with pytest.raises(ks.KernelSpecError, match="not written by mlflow-client-env"):
        ki._check_removable(kernels, "python3", kernels / "python3", require_ours=True)
    ki._check_removable(kernels, "mlflow", kernels / "mlflow", require_ours=True)  # the one
    assert snapshot(tmp_path) == before


def test_uninstall_leaves_every_other_kernel(populated: Jupyter, tmp_path: Path) -> None:
    before = snapshot(tmp_path)
    proc = run("uninstall-kernel", "--prefix", str(populated.prefix), "mlflow")
    assert proc.returncode == 0, proc.stderr
    after = snapshot(tmp_path)
    gone = str(populated.prefix_kernels / "mlflow")
    assert {k: v for k, v in before.items() if k != gone and not k.startswith(gone + "/")} == after
