"""Catalog G4: a JDK installed with conda is found even where conda's activation did not run.

conda-forge's ``openjdk`` (and Anaconda's copy of its recipe) puts the JDK in
``$PREFIX/lib/jvm`` and exports ``JAVA_HOME=$CONDA_PREFIX/lib/jvm`` only from the env's
``etc/conda/activate.d`` script. A Jupyter kernel started from the env's Python without
activation gets neither variable. Discovery looks in the active env (CONDA_PREFIX) and in
the env the running Python belongs to; when the Java it uses is in an env that this Python
is not from, the finding ``java.conda-needs-activation`` says a kernel would not see it.

The env is built from the machine's real OpenJDK 17: ``lib/jvm`` holds copies of its
``bin``, ``conf`` and ``lib`` (libjvm.so included), so ``lib/jvm/bin/java`` starts that
copied JVM; the env's Python is a venv at the same prefix, so its ``sys.prefix`` is the env.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

import mlflow_client_env
from mlflow_client_env.java import JavaInstall, find_java_installs, select_java
from tests import trees
from tests.conftest import Edge, Jupyter
from tests.helpers_cli import run_cli as cli
from tests.test_kernel import probe, run_cell, running_kernel
from tests.test_kernel import run_cli as kernel_cli

CODE = "java.conda-needs-activation"


def real_jdk17() -> JavaInstall:
    found = [j for j in find_java_installs({"PATH": ""}, prefixes=()) if j.major == 17]
    assert found, "these tests need the machine's real OpenJDK 17 in /usr/lib/jvm"
    return found[0]


@dataclass(frozen=True)
class CondaEnv:
    prefix: Path
    jvm: Path
    python: Path


@pytest.fixture(scope="module")
def conda_env(tmp_path_factory: pytest.TempPathFactory) -> CondaEnv:
    prefix = tmp_path_factory.mktemp("miniconda") / "envs" / "ml"
    python = trees.make_env_python(prefix)
    jvm = trees.make_conda_openjdk(prefix, real_jdk17().home)
    assert (jvm / "lib" / "server" / "libjvm.so").is_file()
    assert not (jvm / "lib" / "server" / "libjvm.so").is_symlink()  # its own copy
    return CondaEnv(prefix, jvm, python)


def without_conda(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith("CONDA")}


def test_found_through_conda_prefix_before_path_and_system_roots(
    conda_env: CondaEnv, clean_env: dict[str, str]
) -> None:
    """PATH's java and /usr/lib/jvm hold the system's JDK 17: the env's comes first."""
    system = real_jdk17()
    env = {**without_conda(clean_env), "CONDA_PREFIX": str(conda_env.prefix)}
    choice = select_java(None, env, prefixes=())  # this Python: not from that env
    j = choice.install
    assert j.home == conda_env.jvm and j.layout == "jdk9+"
    assert j.libjvm == conda_env.jvm / "lib" / "server" / "libjvm.so"
    assert j.version == system.version  # read from the copied release file
    assert j.source == f"the active conda env (CONDA_PREFIX={conda_env.prefix})"
    libjvms = [os.path.realpath(i.libjvm) for i in find_java_installs(env, prefixes=())]
    assert libjvms.index(str(j.libjvm)) < libjvms.index(os.path.realpath(system.libjvm))


def test_java_home_comes_before_the_conda_env(
    conda_env: CondaEnv, clean_env: dict[str, str]
) -> None:
    system = real_jdk17()
    env = {
        **without_conda(clean_env),
        "CONDA_PREFIX": str(conda_env.prefix),
        "JAVA_HOME": str(system.home),
    }
    choice = select_java(None, env, prefixes=())
    assert choice.install.home == system.home and choice.install.source == "JAVA_HOME"
    assert CODE not in [f.code for f in choice.findings]  # a system JDK needs no activation
    assert [i.home for i in find_java_installs(env, prefixes=())][:2] == [
        system.home,
        conda_env.jvm,
    ]


def test_older_layout_with_the_jdk_in_the_prefix_itself(tmp_path: Path) -> None:
    """Older openjdk builds (Java 8) went into the prefix; activation set JAVA_HOME to it."""
    prefix = trees.make_java(tmp_path / "envs" / "legacy", "jdk8", "1.8.0_152")
    (prefix / "conda-meta").mkdir()
    choice = select_java(None, {"CONDA_PREFIX": str(prefix), "PATH": ""}, roots=(), prefixes=())
    assert choice.install.home == prefix and choice.install.layout == "jdk8"
    assert choice.install.libjvm == prefix / "jre/lib/amd64/server/libjvm.so"


@pytest.mark.parametrize("activated", [True, False], ids=["activated", "conda-prefix-only"])
def test_setup_warns_when_only_activation_shows_the_jdk(
    edge: Edge, conda_env: CondaEnv, monkeypatch: pytest.MonkeyPatch, activated: bool
) -> None:
    """This test's Python is not the env's: a kernel of it would not see the env's JDK."""
    monkeypatch.setenv("CONDA_PREFIX", str(conda_env.prefix))
    if activated:  # what the env's activate.d script exports
        monkeypatch.setenv("JAVA_HOME", str(conda_env.jvm))
    report = mlflow_client_env.setup(parcels_root=str(edge.parcels), hadoop_conf_dir=str(edge.conf))
    assert os.environ["JAVA_HOME"] == str(conda_env.jvm)
    (f,) = [f for f in report.findings if f.code == CODE]
    assert f.status == "warn"
    assert f"at {conda_env.jvm} belongs to the conda env {conda_env.prefix}" in f.summary
    assert ("through JAVA_HOME" if activated else "CONDA_PREFIX=") in f.summary
    assert "will not find this Java" in f.summary
    assert f.fix is not None and "setup(java_home=...)" in f.fix
    assert f"install-kernel --java-home {conda_env.jvm}" in f.fix


def test_env_command_says_it_on_stderr(
    edge: Edge, conda_env: CondaEnv, clean_env: dict[str, str]
) -> None:
    env = {**without_conda(clean_env), "CONDA_PREFIX": str(conda_env.prefix)}
    out = cli(
        "env", "--parcels-root", str(edge.parcels), "--hadoop-conf-dir", str(edge.conf), env=env
    )
    assert f"export JAVA_HOME={conda_env.jvm}\n" in out.stdout, out.stderr  # (no ticket: exit 1)
    (warning,) = [line for line in out.stderr.splitlines() if "conda env" in line]
    assert warning.startswith("mlflow-client-env: warning: Java ")
    assert "--java-home" in out.stderr and "setup(" not in out.stderr


def test_no_warning_in_the_envs_own_python(conda_env: CondaEnv, clean_env: dict[str, str]) -> None:
    """Run in the env's Python, discovery finds the JDK whether or not the env is active."""
    code = (
        "import json, sys; from mlflow_client_env.java import select_java; c = select_java(); "
        "print(json.dumps([sys.prefix, str(c.install.home), c.install.source, "
        "[f.code for f in c.findings]]))"
    )
    for active in (True, False):
        env = without_conda(clean_env) | ({"CONDA_PREFIX": str(conda_env.prefix)} if active else {})
        out = subprocess.run(
            [conda_env.python, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr
        prefix, home, source, codes = json.loads(out.stdout)
        assert prefix == str(conda_env.prefix)
        assert home == str(conda_env.jvm) and codes == [], (source, codes)


def test_kernel_without_activation_gets_the_envs_jdk(
    jupyter: Jupyter, edge: Edge, conda_env: CondaEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """G4 for real: a kernel of the env's Python, started by jupyter_client with no
    JAVA_HOME, no CONDA_PREFIX and the system's java first on PATH, gets the env's JDK,
    and that JDK starts."""
    for var in [v for v in os.environ if v.startswith("CONDA")]:
        monkeypatch.delenv(var)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert not [v for v in os.environ if v.startswith("CONDA") or v == "JAVA_HOME"]
    argv = ["install-kernel", "--name", "conda-ml", "--prefix", str(jupyter.prefix)]
    argv += ["--python", str(conda_env.python), "--parcels-root", str(edge.parcels)]
    assert kernel_cli([*argv, "--hadoop-conf-dir", str(edge.conf)]) == 0
    spec = json.loads((jupyter.prefix_kernels / "conda-ml" / "kernel.json").read_text())
    assert spec["argv"][0] == str(conda_env.python) and "--java-home" not in spec["argv"]
    with running_kernel("conda-ml") as kc:
        env, start, _ = probe(kc)
        java = run_cell(
            kc,
            "import os, subprocess, sys; r = subprocess.run([os.environ['JAVA_HOME'] + "
            "'/bin/java', '-version'], capture_output=True, text=True); "
            "print(sys.prefix); print(r.returncode); print(r.stderr)",
        )
    assert "CONDA_PREFIX" not in start  # the env was never activated
    # the kernel's JAVA_HOME is the env's JDK: set by the launcher in the kernel's own
    # process (it loaded that JDK's libjvm.so at start) or before an exec
    assert env["JAVA_HOME"] == str(conda_env.jvm)
    assert start.get("JAVA_HOME") in (None, env["JAVA_HOME"])  # never another Java
    lines = java.stdout.splitlines()
    assert lines[0] == str(conda_env.prefix) and lines[1] == "0", java
    assert f'version "{real_jdk17().version}"' in java.stdout
