"""Messages name a setting the way the caller gives it: ``setup(parcel=...)`` from Python,
``--parcel`` on the command line and in a kernel made by ``install-kernel`` (issue 11).

The words come from one declaration (``config.SETTINGS``) through ``errors.setting``; the
command line and the kernel launcher speak as options while they run. Every test goes
through a real entry point: ``setup()`` in this process, the real ``mlflow-client-env``
command in a subprocess, a real Jupyter kernel.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import mlflow_client_env
from mlflow_client_env import errors
from mlflow_client_env.config import SETTINGS
from tests import trees
from tests.conftest import Edge, Jupyter
from tests.helpers_cli import run_cli as cli


def shown_in_notebook(exc: errors.MlflowClientEnvError) -> str:
    """Everything a Python user sees of the error: str() and IPython's rendering."""
    return str(exc) + "\n" + "\n".join(exc._render_traceback_())


def test_every_setting_has_both_forms() -> None:
    for spec in SETTINGS:
        assert errors.setting(spec.name) == f"setup({spec.name}=...)"
        with errors.speaking("cli"):
            assert errors.setting(spec.name) == spec.option
    with pytest.raises(KeyError):
        errors.setting("no_such_setting")
    with pytest.raises(RuntimeError), errors.speaking("cli"):  # restored even on the way out
        raise RuntimeError
    assert errors.setting("parcel") == "setup(parcel=...)"


def test_setup_with_a_bad_parcel_says_the_keyword(edge: Edge, tmp_path: Path) -> None:
    bad = tmp_path / "no-such-parcel"
    with pytest.raises(errors.ParcelError) as exc:
        mlflow_client_env.setup(parcel=str(bad), hadoop_conf_dir=str(edge.conf))
    text = shown_in_notebook(exc.value)
    assert str(bad) in text
    assert "setup(parcel=...)" in exc.value.fix and "parcel=" in text
    assert "--parcel" not in text


def test_env_with_a_bad_parcel_says_the_option(edge: Edge, clean_env: dict[str, str]) -> None:
    out = cli("env", "--parcel", "/bad", "--hadoop-conf-dir", str(edge.conf), env=clean_env)
    assert out.returncode == 2, out.stderr
    assert "/bad" in out.stderr and "fix:" in out.stderr
    assert "--parcel" in out.stderr and "parcel=" not in out.stderr


def two_parcels_without_link(root: Path) -> Path:
    """Two parcels and no active CDH link: discovery takes the newest and warns."""
    trees.make_parcel(root, "cdh6.3.2", activate=False)
    trees.make_parcel(root, "cdp7.1.7", activate=False)
    return root


def test_a_warning_in_setups_report_says_the_keyword(edge: Edge, tmp_path: Path) -> None:
    root = two_parcels_without_link(tmp_path / "parcels")
    report = mlflow_client_env.setup(parcels_root=str(root), hadoop_conf_dir=str(edge.conf))
    (warning,) = [f for f in report.findings if f.code == "installation.warning"]
    assert "setup(parcel=...)" in warning.summary
    text = repr(report) + report._repr_html_()
    assert "setup(parcel=...)" in text and "--parcel" not in text


def test_a_warning_on_envs_stderr_says_the_option(
    edge: Edge, clean_env: dict[str, str], tmp_path: Path
) -> None:
    root = two_parcels_without_link(tmp_path / "parcels")
    out = cli(
        "env", "--parcels-root", str(root), "--hadoop-conf-dir", str(edge.conf), env=clean_env
    )
    assert "export HADOOP_HOME=" in out.stdout, out.stderr
    (warning,) = [line for line in out.stderr.splitlines() if "parcels are present" in line]
    assert "Choose another with --parcel." in warning
    assert "setup(" not in out.stderr


def test_the_doctors_checks_say_options_though_they_run_in_threads(
    edge: Edge, clean_env: dict[str, str], tmp_path: Path
) -> None:
    """Each doctor check runs in its own thread; an error made there (the installation
    check's) and the skips it causes (the java check's) still speak as the command."""
    out = cli(
        "doctor",
        "--json",
        "--check",
        "installation",
        "--check",
        "java",
        "--parcel",
        str(tmp_path / "gone"),
        env=clean_env,
    )
    data = json.loads(out.stdout)
    found = {f["code"]: f for c in data["checks"] for f in c["findings"]}
    error = found["installation.error"]
    assert str(tmp_path / "gone") in error["summary"] and "--parcel" in error["fix"]
    assert "--parcel" in found["java.skipped"]["fix"]
    assert "setup(" not in out.stdout + out.stderr


def test_a_kernels_first_cell_says_install_kernels_option(jupyter: Jupyter, edge: Edge) -> None:
    """The kernel's settings were install-kernel's options, so its message names them so."""
    from tests.test_kernel import install_kernel, run_cell, running_kernel

    install_kernel(jupyter, edge)
    link = edge.parcels / "CDH"
    link.unlink()
    os.symlink("CDH-0.0.0", link)  # the active parcel removed from disk after the install
    with running_kernel("mlflow") as kc:
        first = run_cell(kc, "1")
    assert first.result == "1"
    assert "started WITHOUT a working" in first.stderr and str(link) in first.stderr
    assert "choose one with --parcel" in first.stderr and "install-kernel" in first.stderr
    assert "setup(" not in first.stderr
