"""Bad input to the kernel commands: a ``--python`` that is not a Python with ipykernel,
and kernels folders holding garbage, FIFOs, links and secrets for ``list-kernels``.

Real processes throughout: real interpreters and scripts for ``--python``, and the real
``mlflow-client-env`` command in a new process (with a timeout, so a hang fails) for
``list-kernels``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlflow_client_env import cli
from mlflow_client_env.jupyter import install as ki
from mlflow_client_env.jupyter import spec as ks
from tests.conftest import Edge, Jupyter
from tests.helpers_cli import run_cli as run

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's: no ipykernel


def assert_typed(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "mlflow-client-env: error:" in proc.stderr and "fix:" in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


# --- --python -----------------------------------------------------------------------------


def test_python_that_is_not_python_is_refused(jupyter: Jupyter, edge: Edge, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x7fELF-not-really")
    garbage.chmod(0o755)
    plain = tmp_path / "not-executable"
    plain.write_text("#!/bin/sh\n")
    base = ["install-kernel", "--prefix", str(jupyter.prefix), *edge.cli_args()]
    for python, needles in (
        ("/bin/true", ["exited 0 without running Python code", "not a Python interpreter"]),
        ("/bin/false", ["cannot run the kernel", "pip install"]),
        (SYSTEM_PYTHON, ["No module named 'ipykernel'", f"{SYSTEM_PYTHON} -m pip install"]),
        (str(garbage), ["cannot be run", "Exec format error"]),
        (str(plain), ["no such executable"]),
        (str(tmp_path), ["no such executable"]),
        ("no-such-python-anywhere", ["no such executable"]),
    ):
        for extra in ([], ["--dry-run"], ["--mode", "static"]):
            assert_typed(run(*base, "--python", python, *extra), *needles)
    assert not jupyter.prefix.exists()


def test_a_real_python_with_ipykernel_is_accepted(jupyter: Jupyter, edge: Edge) -> None:
    argv = ["install-kernel", "--prefix", str(jupyter.prefix), *edge.cli_args()]
    assert cli.main([*argv, "--python", sys.executable]) == 0
    spec = json.loads((jupyter.prefix_kernels / "mlflow" / "kernel.json").read_text())
    assert spec["argv"][0] == os.path.abspath(sys.executable)


def test_python_check_ignores_the_callers_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PYTHONPATH (and the like) from whoever runs install-kernel must not reach the check:
    a sitecustomize there would run code, and a fake ipykernel would make a Python
    without ipykernel pass."""
    planted = tmp_path / "planted"
    planted.mkdir()
    marker = tmp_path / "sitecustomize-ran"
    (planted / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (planted / "ipykernel.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(planted))
    monkeypatch.setenv("PYTHONSTARTUP", str(planted / "sitecustomize.py"))
    # the planted dir works when inherited (so the test can tell the difference) ...
    subprocess.run([SYSTEM_PYTHON, "-c", "import ipykernel"], check=True, timeout=60)
    assert marker.exists()
    marker.unlink()
    # ... and the check does not inherit it
    with pytest.raises(ks.KernelSpecError, match="No module named 'ipykernel'"):
        ki.check_python_modules(SYSTEM_PYTHON, ("ipykernel",))
    ki.check_python_modules(sys.executable, ("ipykernel", ks.LAUNCHER_MODULE))
    assert not marker.exists()


def dead(pid: int) -> bool:
    """Gone, or a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_python_that_hangs_times_out_and_is_killed_whole(tmp_path: Path) -> None:
    """A 'python' that never answers (and leaves a child behind) is stopped at the timeout,
    with its whole process group."""
    pidfile = tmp_path / "child.pid"
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\nsleep 600 &\necho $! > {pidfile}\nwait\n")
    script.chmod(0o755)
    start = time.monotonic()
    try:
        with pytest.raises(ks.KernelSpecError, match="did not finish") as exc:
            ki.check_python_modules(str(script), ("ipykernel",), timeout=1.0)
        assert time.monotonic() - start < 30
        assert "fix:" in str(exc.value)
        child = int(pidfile.read_text())
        deadline = time.monotonic() + 10
        while not dead(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dead(child), "the hanging script's child survived the timeout"
    finally:
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text()), 9)


# --- list-kernels over garbage ----------------------------------------------------------------


def our_shaped(**meta: object) -> dict[str, object]:
    return {
        "argv": [sys.executable, "-m", ks.LAUNCHER_MODULE, "-f", "{connection_file}"],
        "display_name": "planted",
        "language": "python",
        "metadata": {ks.METADATA_KEY: {"mode": "launcher", **meta}},
    }


@pytest.fixture
def garbage(jupyter: Jupyter, edge: Edge, tmp_path: Path) -> dict[str, Path]:
    """One good kernel of ours and a zoo of broken ones in the prefix's kernels folder."""
    assert cli.main(["install-kernel", "--prefix", str(jupyter.prefix), *edge.cli_args()]) == 0
    kernels = jupyter.prefix_kernels
    victim = tmp_path / "victim.json"
    victim.write_text(json.dumps(our_shaped()))
    contents: dict[str, bytes | None] = {
        "not-utf8": b'{"argv": ["\xff\xfe"], "display_name": "\xff"}',
        "nested-list": b"[" * 200_000 + b"]" * 200_000,
        "nested-object": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        "not-json": b'{"argv": ',
        "empty": b"",
        "array": b"[1, 2, 3]",
        "huge": b'{"x": "' + b"a" * (ks.SPEC_MAX_BYTES + 10) + b'"}',
        "bad-types": json.dumps(our_shaped(settings="x", extra_env=5)).encode(),
        "bad-argv": json.dumps({"argv": 5, "display_name": []}).encode(),
        "big-number": b'{"argv": [' + b"9" * 100_000 + b"]}",
        "fifo": None,
        "link": None,
    }
    paths = {}
    for name, data in contents.items():
        d = kernels / name
        d.mkdir()
        if name == "fifo":
            os.mkfifo(d / "kernel.json")
        elif name == "link":
            (d / "kernel.json").symlink_to(victim)
        else:
            assert data is not None
            (d / "kernel.json").write_bytes(data)
        paths[name] = d
    secret = {"argv": ["python3"], "display_name": "http://u:s3cr3t@h?token=s3cr3t"}
    (kernels / "foreign-secret").mkdir()
    (kernels / "foreign-secret" / "kernel.json").write_text(json.dumps(secret))
    ours_secret = our_shaped(settings={"tracking_uri": "http://u:s3cr3t@mlflow.example.com"})
    (kernels / "ours-secret").mkdir()
    (kernels / "ours-secret" / "kernel.json").write_text(json.dumps(ours_secret))
    return paths


def test_list_kernels_reports_garbage_as_unreadable(
    garbage: dict[str, Path], jupyter: Jupyter
) -> None:
    proc = run("list-kernels", "--json", "--prefix", str(jupyter.prefix), timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stderr  # unreadable kernels are errors
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    for name in garbage:
        assert rows[name]["status"] == "unreadable", (name, rows[name])
        assert rows[name]["detail"], name
    assert rows["mlflow"]["status"] == "ok" and rows["mlflow"]["ours"] is True
    assert rows["foreign-secret"]["ours"] is False
    assert rows["ours-secret"]["status"] in ("broken", "error")
    assert "s3cr3t" not in proc.stdout + proc.stderr

    table = run("list-kernels", "--prefix", str(jupyter.prefix), timeout=60)
    assert table.returncode == 1 and "Traceback" not in table.stderr
    assert "s3cr3t" not in table.stdout + table.stderr
    assert "fifo: unreadable:" in table.stderr and "is not a regular file" in table.stderr
    assert "link: unreadable:" in table.stderr and "symbolic link" in table.stderr
    assert "nested-list: unreadable:" in table.stderr and "nested too deeply" in table.stderr
    assert "not-utf8: unreadable:" in table.stderr and "not UTF-8" in table.stderr


def test_install_and_uninstall_over_garbage_are_typed(
    garbage: dict[str, Path], jupyter: Jupyter, edge: Edge
) -> None:
    prefix = ["--prefix", str(jupyter.prefix)]
    for name in ("not-utf8", "nested-list", "fifo", "huge"):
        proc = run("install-kernel", "--name", name, *prefix, *edge.cli_args(), timeout=60)
        assert_typed(proc, "was not written by mlflow-client-env")
        proc = run("uninstall-kernel", *prefix, name, timeout=60)
        assert_typed(proc, "not written by mlflow-client-env")
    proc = run("install-kernel", "--name", "fifo", "--force", *prefix, *edge.cli_args())
    assert proc.returncode == 0, proc.stderr  # replaced, as asked
    assert ks.ours_metadata(ks.read_spec(garbage["fifo"])) is not None
    proc = run("uninstall-kernel", "--force", *prefix, "nested-list", timeout=60)
    assert proc.returncode == 0 and not garbage["nested-list"].exists()
