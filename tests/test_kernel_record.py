"""The launcher's record of an in-process kernel's variables (``jupyter.record``).

Each case runs in a child process: a record is written for the writing process (its PID and
start time) and removed when it exits. The real kernel and ``doctor --pid`` reading the
record are in ``test_kernel`` (the real-Java in-process kernel).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mlflow_client_env.jupyter.record import started_in_process

WRITE = """
import json, os, sys
from mlflow_client_env.jupyter import record
inherited = {"A": "1", "GONE": "g", "KEPT": "k", "MLFLOW_CLIENT_ENV_CACHE": sys.argv[1]}
env = {"A": "2", "KEPT": "k", "B": "b", "MLFLOW_TRACKING_TOKEN": "tok-123",
       "MLFLOW_TRACKING_URI": "https://u:hunter2@mlflow.example", "MLFLOW_CLIENT_ENV_CACHE": sys.argv[1]}
path = record.write(inherited, env)
merged, found = record.read(os.getpid(), inherited)
print(json.dumps({"path": str(path), "found": str(found), "merged": merged,
                  "text": path.read_text(), "mode": os.stat(path).st_mode,
                  "folder_mode": os.stat(path.parent).st_mode}))
"""


def run_child(code: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    env["MLFLOW_CLIENT_ENV_CACHE"] = str(cache)
    return subprocess.run(
        [sys.executable, "-c", code, str(cache)], capture_output=True, text=True, env=env
    )


def test_a_record_holds_only_the_changes_redacted_and_goes_with_its_process(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    kernels = cache / "run" / "mlflow-client-env" / "kernels"
    kernels.mkdir(parents=True, mode=0o700)
    (cache / "run").chmod(0o700)
    (cache / "run" / "mlflow-client-env").chmod(0o700)
    dead = kernels / "999999999-1.json"  # no such process
    reused = kernels / "1-0.json"  # PID 1 is alive, but it did not start at tick 0
    other = kernels / "notes.txt"  # not a record: left alone
    for f in (dead, reused, other):
        f.write_text("{}")
    out = run_child(WRITE, cache)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    saved = json.loads(data["text"])
    assert saved["set"]["A"] == "2" and saved["set"]["B"] == "b"
    assert saved["set"]["MLFLOW_TRACKING_TOKEN"] != "tok-123"  # a secret name: masked
    assert "hunter2" not in data["text"] and "tok-123" not in data["text"]
    assert "KEPT" not in saved["set"] and saved["unset"] == ["GONE"]
    assert stat.S_IMODE(data["mode"]) == 0o600 and stat.S_IMODE(data["folder_mode"]) == 0o700
    assert data["found"] == data["path"]
    assert data["merged"]["A"] == "2" and "GONE" not in data["merged"]
    assert data["merged"]["KEPT"] == "k"
    assert not dead.exists() and not reused.exists() and other.exists()
    assert not Path(data["path"]).exists()  # removed when its process exited


def test_a_record_folder_that_is_a_link_is_refused_with_a_typed_error(tmp_path: Path) -> None:
    """A planted link in place of the kernels folder: PrivateDirError (the launcher then
    notes it in the kernel's log and starts the kernel anyway); nothing written through it."""
    cache = tmp_path / "cache"
    private = cache / "run" / "mlflow-client-env"
    private.mkdir(parents=True, mode=0o700)
    (cache / "run").chmod(0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (private / "kernels").symlink_to(elsewhere)
    code = (
        "import sys\nfrom mlflow_client_env.errors import PrivateDirError\n"
        "from mlflow_client_env.jupyter import record\n"
        "import os\ntry:\n    record.write(dict(os.environ), {**os.environ, 'A': '1'})\n"
        "except PrivateDirError as exc:\n    print('refused:', exc.problem)\n"
    )
    out = run_child(code, cache)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("refused:") and "symbolic link" in out.stdout
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "inside"),
    [
        (["/usr/bin/python3", "-m", "mlflow_client_env.kernel", "-f", "k.json"], True),
        (["python", "-m", "mlflow_client_env.jupyter.launcher", "-f", "k.json"], True),
        (["python", "-m", "ipykernel_launcher", "-f", "k.json"], False),  # exec'd
        (["python", "mlflow_client_env.kernel"], False),
        (["python", "-c", "-m", "x"], False),
    ],
)
def test_an_in_process_launcher_kernel_is_told_by_its_command_line(
    argv: list[str], inside: bool
) -> None:
    assert started_in_process(argv) is inside
