"""Installing on an edge node as a user would: the built wheel, a fresh venv, no compiler.

The wheel is built from this checkout, and the venv is created new for the test run and
filled from PyPI (pip's cache) with ``--only-binary=:all:``: nothing may compile. Without
the ``kerberos`` extra there is no python-gssapi; FILE caches still work, KEYRING/KCM ones
and keytab logins say what to install. An environment that already holds an older MLflow and
pyarrow keeps them (checked with ``pip install --dry-run --report``).
"""
# ruff: noqa: F811  (the KDC fixtures are imported from tests.test_ticket_kdc)

from __future__ import annotations

import json
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers_cli import run_cli
from tests.test_doctor_old_pair import old_python  # noqa: F401  (the real old-pair venv)
from tests.test_ticket_kdc import Krb, krb  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(out), str(ROOT)],
        check=True, timeout=600, capture_output=True,
    )  # fmt: skip
    (whl,) = out.glob("mlflow_client_env-*.whl")
    return whl


@pytest.fixture(scope="module")
def core_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with the wheel installed from binaries only (no compiler may run)."""
    home = tmp_path_factory.mktemp("core-venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(home)
    python = home / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--only-binary=:all:", str(wheel)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    yield python


def run(
    python: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The command of the venv ``python``, from ``/`` (nothing of this checkout in reach)."""
    return run_cli(*args, env=env, python=python, cwd="/")


def test_core_install_has_no_compiled_or_user_chosen_packages(core_python: Path) -> None:
    probe = (
        "import importlib.util as u; "
        "print([m for m in ('gssapi', 'mlflow', 'pyarrow') if u.find_spec(m)])"
    )
    out = subprocess.run(
        [str(core_python), "-c", probe], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
    ver = run(core_python, "--version")
    assert ver.returncode == 0 and ver.stdout.startswith("mlflow-client-env ")


def test_without_gssapi_file_caches_work_and_the_rest_says_what_to_install(
    core_python: Path, krb: Krb, tmp_path: Path
) -> None:
    cache = tmp_path / "krb5cc"
    krb.kinit("alice", cache, lifetime="2h")
    env = {**krb.env(f"FILE:{cache}"), "PATH": "/usr/bin:/bin"}
    ok = run(core_python, "ticket", "--json", env=env)
    data = json.loads(ok.stdout)
    assert ok.returncode == 0 and data["state"] == "valid", ok.stdout + ok.stderr
    assert data["principal"] == krb.principal("alice")
    keyring = run(core_python, "ticket", "--json", "--ccache", "KCM:", env=env)
    st = json.loads(keyring.stdout)
    assert keyring.returncode == 1 and st["state"] == "unreadable"
    assert "needs python-gssapi" in st["message"] and "mlflow-client-env[kerberos]" in st["fix"]
    login = run(
        core_python, "kinit", "--keytab", str(krb.keytabs["alice"]), "--principal", "alice",
        "--ccache", f"FILE:{tmp_path / 'other'}", env=env,
    )  # fmt: skip
    assert login.returncode == 1 and "needs python-gssapi" in login.stderr
    assert "Traceback" not in login.stderr + keyring.stderr


def test_installing_leaves_the_users_mlflow_and_pyarrow_alone(
    wheel: Path,
    old_python: Path,
) -> None:
    """A venv that holds mlflow 2.15.1 and pyarrow 15: pip would install or change neither."""
    report = subprocess.run(
        [str(old_python), "-m", "pip", "install", "--dry-run", "-q", "--only-binary=:all:",
         "--report", "-", str(wheel)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    names = {i["metadata"]["name"].lower() for i in json.loads(report.stdout)["install"]}
    assert "mlflow-client-env" in names
    assert not names & {"mlflow", "mlflow-skinny", "pyarrow", "numpy", "gssapi"}, names


def test_setup_works_without_mlflow_and_says_so_when_asked_for_an_experiment(
    core_python: Path, tmp_path: Path
) -> None:
    from tests.conftest import build_edge

    e = build_edge(tmp_path / "edge")
    code = (
        "import os, mlflow_client_env as m\n"
        f"kw = {e.overrides()!r}\n"
        "r = m.setup(**kw)\n"
        "print(r.status, os.environ['CLASSPATH'].split(':')[0])\n"
        "try:\n"
        "    m.setup(experiment='demo', **kw)\n"
        "except m.MlflowClientEnvError as exc:\n"
        "    print('typed:', exc.problem)\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "MLFLOW_CLIENT_ENV_CONFIG": "/nonexistent",
    }
    out = subprocess.run(
        [str(core_python), "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd="/",
    )
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert first.endswith(str(e.conf))
    assert second.startswith("typed: setup(experiment='demo') needs MLflow")


def test_the_wheel_ships_what_it_needs_and_not_the_sandbox(wheel: Path) -> None:
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    assert "mlflow_client_env/CHANGELOG.md" in names
    assert "mlflow_client_env/jupyter/resources/logo-64x64.png" in names
    assert "mlflow_client_env/reference.py" in names  # the troubleshooting reference (explain)
    assert not [n for n in names if "sandbox" in n]
    changelog = zipfile.ZipFile(wheel).read("mlflow_client_env/CHANGELOG.md").decode()
    assert changelog.startswith("# Changelog")
