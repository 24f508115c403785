"""Each discovery setting is declared once (config.SETTINGS); every place that offers it is
derived from that declaration. This test walks the declaration and checks each place, so a
setting added to SETTINGS but missed somewhere fails here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlflow_client_env import config
from mlflow_client_env.cli import app as cli_main
from mlflow_client_env.config import SETTINGS, Overrides, read_config, resolve_overrides
from mlflow_client_env.jupyter import launcher
from mlflow_client_env.jupyter import spec as ks
from mlflow_client_env.records import fields
from tests.conftest import OUR_VARS

NAMES = [s.name for s in SETTINGS]
#: A valid value of each kind of setting (by its metavar).
SAMPLES = {
    "PATH": "/x/y", "DIR": "/x/y", "URI": "http://127.0.0.1:5999", "NAME": "kerberos",
    "PRINCIPAL": "HTTP@proxy.example.com", "MODE": "jvm",
}  # fmt: skip


def sample(spec: config.SettingSpec) -> str:
    return SAMPLES[spec.metavar]


def test_overrides_has_one_field_per_setting_in_order() -> None:
    assert [f.name for f in fields(Overrides)] == NAMES


@pytest.mark.parametrize("spec", SETTINGS, ids=NAMES)
def test_every_place_offers_the_setting(spec: config.SettingSpec, tmp_path: Path) -> None:
    value = sample(spec)
    # argparse: the main CLI's discovery options (env, install-kernel, doctor)
    for command in ("env", "install-kernel", "doctor"):
        args = cli_main.build_parser().parse_args([command, spec.option, value])
        assert getattr(args, spec.name) == value
    # the kernel launcher's options, and what install-kernel writes into kernel.json
    args = launcher.parse_args(["-f", "c.json", spec.option, value])
    assert getattr(args, spec.name) == value
    settings = ks.KernelSettings(**{spec.name: value})
    assert settings.launcher_options()[:2] == [spec.option, value]
    assert settings.overrides()[spec.name] == value
    # the config files' key and the environment variable, with their precedence
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'{spec.name} = "{value}"\n')
    assert read_config(cfg) == {spec.name: value}
    env = {"MLFLOW_CLIENT_ENV_CONFIG": str(cfg), "MLFLOW_CLIENT_ENV_SITE_CONFIG": "/nonexistent"}
    assert getattr(resolve_overrides({}, env), spec.name).value == value
    env[spec.env_var] = value + "2"
    assert getattr(resolve_overrides({}, env), spec.name).value == value + "2"
    assert getattr(resolve_overrides({spec.name: value + "3"}, env), spec.name).value == value + "3"
    # the tests' clean environment drops its variable, so the host cannot leak in
    assert spec.env_var in OUR_VARS
    # the README's list of the settings
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    listed = readme.split("Each setting (", 1)[1].split(")", 1)[0]
    assert f"`{spec.name}`" in listed


def test_help_shows_every_setting() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "env", "--help"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    for spec in SETTINGS:
        assert spec.option in out.stdout


@pytest.mark.parametrize("spec", SETTINGS, ids=NAMES)
def test_install_kernel_writes_every_setting_into_the_launcher(
    spec: config.SettingSpec, jupyter: object
) -> None:
    """install-kernel takes the setting from its options and writes it into kernel.json's argv."""
    value = sample(spec)
    out = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "install-kernel", "--dry-run", spec.option, value],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    argv = json.loads(out.stdout)["argv"]
    assert argv[argv.index(spec.option) + 1] == value
