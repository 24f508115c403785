"""doctor's jvm check, E5: the maximum heap libhdfs's JVM would take, from real JVMs.

The sandbox's parcel tree and Java 17 (``parcel_tree``), the real CLI (``doctor --check
jvm``). Two JVMs answer: one started like libhdfs's with the environment ``env``/``setup()``
give (ours), one with this process's own LIBHDFS_OPTS (a kernel that uses pyarrow without
``setup()``). The numbers are checked against a JVM the test starts itself.
"""

# ruff: noqa: F811  (fixtures imported from tests.test_doctor_pid and tests.test_doctor_files)
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env.doctor.jvm_probe import human
from mlflow_client_env_sandbox import Assets
from mlflow_client_env_sandbox.parcel import ParcelTree
from tests.conftest import Edge
from tests.test_doctor_checknative import doctor_jvm, shell_env, user_env
from tests.test_doctor_files import real_edge  # noqa: F401  (the real-JDK edge fixture)
from tests.test_doctor_pid import NOBODY, Evil, evil, target  # noqa: F401

GIB = 1 << 30


def jvm_max_heap(java_home: Path, *options: str, env: dict[str, str] | None = None) -> int:
    """MaxHeapSize as a JVM started here with ``options`` reports it."""
    out = subprocess.run(
        [str(java_home / "bin" / "java"), *options, "-XX:+PrintFlagsFinal", "-version"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    m = re.search(r"\bMaxHeapSize\s+:?=\s+(\d+)", out.stdout)
    assert m, out.stdout[-2000:]
    return int(m[1])


@pytest.fixture
def edge(parcel_tree: ParcelTree, sandbox_assets: Assets, tmp_path: Path) -> dict[str, str]:
    return user_env(parcel_tree, sandbox_assets, tmp_path)


def test_no_xmx_in_this_process_is_a_warning_with_the_jvms_own_number(
    edge: dict[str, str], sandbox_assets: Assets
) -> None:
    assert "LIBHDFS_OPTS" not in edge and "_JAVA_OPTIONS" not in edge
    default = jvm_max_heap(sandbox_assets.java_home, env={"PATH": os.environ["PATH"]})
    # the case E5 is about: the default (1/4 of the memory) is large on this machine
    assert default > GIB, f"this machine's JVM default heap is only {default} bytes"
    code, found = doctor_jvm(edge)  # the shell before eval "$(mlflow-client-env env)"
    warn = found["jvm.inherited.E5"]
    assert warn["status"] == "warn" and code == 0
    assert warn["summary"].startswith("this process's LIBHDFS_OPTS has no -Xmx: libhdfs's JVM ")
    assert "(the JVM's default: 1/4 of the memory it sees)" in warn["summary"]
    assert warn["evidence"][:2] == [
        f"MaxHeapSize {default} ({human(default)}), set by: ergonomic",
        "LIBHDFS_OPTS unset",
    ]
    assert "LIBHDFS_OPTS='-Xmx512m'" in warn["fix"]
    # what env/setup() give that same kernel is capped
    ours = found["jvm.heap"]
    assert ours["status"] == "ok"
    assert ours["summary"] == (
        "libhdfs's JVM would take a heap of at most 512 MiB (-Xmx512m in our LIBHDFS_OPTS)"
    )
    assert ours["evidence"][0] == (
        f"MaxHeapSize {jvm_max_heap(sandbox_assets.java_home, '-Xmx512m')} (512 MiB), "
        "set by: command line"
    )
    assert "jvm.E5" not in found


def test_an_xmx_in_libhdfs_opts_is_what_the_jvm_takes(
    edge: dict[str, str], sandbox_assets: Assets
) -> None:
    user = {**edge, "LIBHDFS_OPTS": "-Xmx300m"}
    code, found = doctor_jvm(user)
    assert code == 0 and not [c for c, f in found.items() if f["status"] == "warn"], found
    capped = jvm_max_heap(sandbox_assets.java_home, "-Xmx300m")
    mine = found["jvm.inherited.heap"]
    assert mine["summary"] == (
        "libhdfs's JVM would take a heap of at most 300 MiB "
        "(-Xmx300m in this process's LIBHDFS_OPTS)"
    )
    assert mine["evidence"][0] == f"MaxHeapSize {capped} (300 MiB), set by: command line"
    # env keeps the user's -Xmx instead of adding its own 512m
    ours = found["jvm.heap"]
    assert ours["summary"].endswith("at most 300 MiB (-Xmx300m in our LIBHDFS_OPTS)")
    # after eval "$(mlflow-client-env env)" this process's options are ours: one JVM answers
    _, after = doctor_jvm(shell_env(user))
    assert after["jvm.heap"]["summary"] == ours["summary"]
    assert not [c for c in after if c.startswith("jvm.inherited")]


def test_a_heap_option_from_elsewhere_that_overrides_the_cap_is_a_warning(
    edge: dict[str, str], sandbox_assets: Assets
) -> None:
    """_JAVA_OPTIONS is read by every JVM, libhdfs's too, after its own options: its -Xmx
    wins over LIBHDFS_OPTS's."""
    env = {**shell_env(edge), "_JAVA_OPTIONS": "-Xmx3g"}
    assert "-Xmx512m" in env["LIBHDFS_OPTS"]
    code, found = doctor_jvm(env)
    warn = found["jvm.E5"]
    assert warn["status"] == "warn" and code == 0
    assert warn["summary"] == (
        "our LIBHDFS_OPTS asks for -Xmx512m, but libhdfs's JVM takes up to 3 GiB: another "
        "setting overrides it (E5)"
    )
    assert "Picked up _JAVA_OPTIONS: -Xmx3g" in warn["evidence"]
    assert warn["evidence"][0].startswith(
        f"MaxHeapSize {jvm_max_heap(sandbox_assets.java_home, '-Xmx3g')} (3 GiB)"
    )
    assert "_JAVA_OPTIONS" in warn["fix"]


# --------------------------------------------------------------------------- whose environment
def doctor_pid(e: Edge, pid: int, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """``doctor --pid PID --check jvm`` through the real CLI, as root."""
    argv = [sys.executable, "-m", "mlflow_client_env", "doctor", "--pid", str(pid), "--json",
            *e.cli_args(), "--check", "jvm"]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert "Traceback" not in out.stderr and out.stdout, out.stderr
    data = json.loads(out.stdout)
    return out.returncode, {f["code"]: f for c in data["checks"] for f in c["findings"]}


def test_no_jvm_is_started_with_another_users_environment(
    real_edge: Edge, clean_env: dict[str, str], evil: Evil, target: Callable[..., Any]
) -> None:
    """``--pid`` of a process of another user: its LIBHDFS_OPTS, LD_PRELOAD, _JAVA_OPTIONS...
    are read, never run; the same process of our own uid is probed (the positive control:
    its LD_PRELOAD library marks every process started with its environment)."""
    victim = target(evil.env, uid=NOBODY)
    code, found = doctor_pid(real_edge, victim.pid, clean_env)
    assert code == 2  # asked for with --check and could not run: never "no issues"
    skipped = found["jvm.skipped"]
    assert skipped["status"] == "skip"
    assert f"process {victim.pid} runs as uid {NOBODY}, you are uid 0" in str(skipped["summary"])
    assert not [c for c in found if c.startswith(("jvm.heap", "jvm.native", "jvm.inherited"))]
    assert evil.markers_of(0) == [], "a probe ran with the nobody process's environment"

    mine = target(evil.env)  # our own uid: the JVMs run, with its environment
    code, found = doctor_pid(real_edge, mine.pid, clean_env)
    assert code in (0, 1) and "jvm.skipped" not in found
    assert [m for m in evil.markers_of(0, except_pid=mine.pid) if m.startswith("preload-")]
