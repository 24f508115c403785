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
import time
from pathlib import Path

import pytest

from mlflow_client_env.jupyter import record
from mlflow_client_env.jupyter.record import started_in_process

WRITE = """
import json, os, sys
from mlflow_client_env.jupyter import record
inherited = {"A": "1", "GONE": "g", "KEPT": "k", "MLFLOW_CLIENT_ENV_CACHE": sys.argv[1]}
env = {"A": "2", "KEPT": "k", "B": "b", "MLFLOW_TRACKING_TOKEN": "tok-123",
       "MLFLOW_TRACKING_URI": "https://u:hunter2@mlflow.example", "MLFLOW_CLIENT_ENV_CACHE": sys.argv[1]}
path = record.write(inherited, env, libjvm="/jvm/lib/server/libjvm.so")
namespace, pid, ticks = record._own()
found = record.read(inherited, namespace, pid, ticks, shown_as=pid)
kid = os.fork()
if kid == 0:  # a child of the kernel exits through sys.exit: the kernel's record stays
    sys.exit(0)
os.waitpid(kid, 0)
print(json.dumps({"path": str(path), "found": str(found.path), "merged": found.env,
                  "masked": found.masked, "libjvm": found.libjvm,
                  "text": path.read_text(), "mode": os.stat(path).st_mode,
                  "folder_mode": os.stat(path.parent).st_mode,
                  "after_child": path.exists()}))
"""


def run_child(code: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    env["MLFLOW_CLIENT_ENV_CACHE"] = str(cache)
    return subprocess.run(
        [sys.executable, "-c", code, str(cache)], capture_output=True, text=True, env=env
    )


def private_kernels(cache: Path) -> Path:
    kernels = cache / "run" / "mlflow-client-env" / "kernels"
    kernels.mkdir(parents=True, mode=0o700)
    for folder in (cache / "run", cache / "run" / "mlflow-client-env"):
        folder.chmod(0o700)
    return kernels


def test_a_record_holds_only_the_changes_redacted_and_goes_with_its_process(
    tmp_path: Path,
) -> None:
    kernels = private_kernels(tmp_path / "cache")
    boot, namespace = record.boot_id(), os.stat("/proc/self/ns/pid").st_ino
    with open("/proc/self/stat", "rb") as fh:
        mine = record.start_ticks(fh.read())  # pytest's own process: alive
    me = os.getpid()
    gone = [
        f"{boot}-{namespace}-999999999-1.json",  # no such process
        f"{boot}-{namespace}-999999999-1.tmp",  # a write that died half way
        f"{boot}-{namespace}-{me}-0.json",  # this PID, but another process's start time
    ]
    kept = [
        f"{boot}-{namespace}-{me}-{mine}.json",  # a live process
        f"{'f' * 32}-{namespace}-999999999-1.json",  # another host sharing the folder (NFS)
        f"{boot}-{namespace + 1}-999999999-1.json",  # another PID namespace (a container)
        "notes.txt",  # not a record
    ]
    for name in (*gone, *kept):
        (kernels / name).write_text("{}")
    old = f"{'e' * 32}-{namespace}-999999999-1.json"  # another host's, 31 days old: gone too
    (kernels / old).write_text("{}")
    month_ago = time.time() - 31 * 24 * 3600
    os.utime(kernels / old, (month_ago, month_ago))
    link = f"{boot}-{namespace}-999999998-1.json"  # named like a dead record, a link: kept
    (kernels / link).symlink_to(tmp_path / "elsewhere.json")
    kept.append(link)
    out = run_child(WRITE, tmp_path / "cache")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    saved = json.loads(data["text"])
    assert saved["set"]["A"] == "2" and saved["set"]["B"] == "b"
    assert saved["set"]["MLFLOW_TRACKING_TOKEN"] != "tok-123"  # a secret name: masked
    assert "hunter2" not in data["text"] and "tok-123" not in data["text"]
    assert data["masked"] == ["MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_URI"]
    assert "KEPT" not in saved["set"] and saved["unset"] == ["GONE"]
    assert data["libjvm"] == "/jvm/lib/server/libjvm.so"  # (its real path: no links there)
    assert "MLFLOW_TRACKING_TOKEN" not in data["merged"]  # a mask is never a value to use
    assert stat.S_IMODE(data["mode"]) == 0o600 and stat.S_IMODE(data["folder_mode"]) == 0o700
    assert data["found"] == data["path"] and Path(data["path"]).parent == kernels
    assert data["merged"]["A"] == "2" and "GONE" not in data["merged"]
    assert data["merged"]["KEPT"] == "k"
    assert data["after_child"]  # a forked child's exit did not remove it
    assert sorted(p.name for p in kernels.iterdir()) == sorted(kept)  # its own one removed
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
        (["python", "-mmlflow_client_env.kernel", "-f", "k.json"], True),
        (["python", "-X", "importtime", "-m", "mlflow_client_env.kernel", "-f", "k"], True),
        (["python", "-c", "pass", "-m", "mlflow_client_env.kernel"], False),  # -c's arguments
        (["python", "script.py", "-m", "mlflow_client_env.kernel"], False),
    ],
)
def test_an_in_process_launcher_kernel_is_told_by_its_command_line(
    argv: list[str], inside: bool
) -> None:
    assert started_in_process(argv) is inside
