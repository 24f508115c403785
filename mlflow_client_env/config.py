"""Overrides for everything discovery finds, and where each one came from.

Precedence: argument > environment variable > user config
(``~/.config/mlflow-client-env/config.toml``) > site config
(``/etc/mlflow-client-env/config.toml``, where admins set the tracking URI and
the parcel once for everyone) > detection.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigFileError, setting
from .records import fields, record
from .safeio import read_small_text

SITE_CONFIG = "/etc/mlflow-client-env/config.toml"


@record(eq=False)  # a declaration: identity is its equality
class SettingSpec:
    """One discovery setting, declared once: everything else (argparse options, the kernel
    launcher's options, kernel settings, config-file keys, messages) is derived from it."""

    name: str  # the Python keyword and the config-file key
    env_var: str  # the environment variable that overrides the config files
    metavar: str
    help: str

    @property
    def option(self) -> str:
        """The command-line option, e.g. ``--hadoop-conf-dir``."""
        return "--" + self.name.replace("_", "-")


#: The discovery settings, in the order help shows them.
SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "parcel", "MLFLOW_CLIENT_ENV_PARCEL", "PATH",
        "a parcel directory, e.g. /opt/cloudera/parcels/CDH",
    ),
    SettingSpec(
        "parcels_root", "MLFLOW_CLIENT_ENV_PARCELS_ROOT", "DIR",
        "where parcels live (default /opt/cloudera/parcels)",
    ),
    SettingSpec(
        "hadoop_home", "MLFLOW_CLIENT_ENV_HADOOP_HOME", "DIR",
        "Hadoop's home (package or tarball installs)",
    ),
    SettingSpec(
        "hadoop_conf_dir", "MLFLOW_CLIENT_ENV_HADOOP_CONF_DIR", "DIR",
        "client configuration (default $HADOOP_CONF_DIR, /etc/hadoop/conf)",
    ),
    SettingSpec(
        "java_home", "MLFLOW_CLIENT_ENV_JAVA_HOME", "DIR",
        "the JDK/JRE for libhdfs (default: a Hadoop-compatible one)",
    ),
    SettingSpec(
        "tracking_uri", "MLFLOW_TRACKING_URI", "URI",
        "MLflow tracking server (default $MLFLOW_TRACKING_URI)",
    ),
    SettingSpec(
        "tracking_auth", "MLFLOW_TRACKING_AUTH", "NAME",
        "kerberos: SPNEGO to a tracking server behind a Kerberos proxy (docs/spnego.md)",
    ),
    SettingSpec(
        "tracking_spn", "MLFLOW_CLIENT_ENV_TRACKING_SPN", "PRINCIPAL",
        "that proxy's service principal (default HTTP@<host of the tracking URI>)",
    ),
    SettingSpec(
        "hdfs_client", "MLFLOW_CLIENT_ENV_HDFS_CLIENT", "MODE",
        "HDFS artifacts through native (hdfs-native, no JVM), jvm, or auto (the default)",
    ),
)  # fmt: skip
SETTINGS_BY_NAME: dict[str, SettingSpec] = {s.name: s for s in SETTINGS}
#: Setting name -> environment variable that overrides it.
ENV_VARS: dict[str, str] = {s.name: s.env_var for s in SETTINGS}
#: Setting name -> CLI option, for messages.
OPTIONS: dict[str, str] = {s.name: s.option for s in SETTINGS}


@record
class Setting:
    value: str
    source: str

    def pair(self) -> tuple[str, str]:
        return self.value, self.source


@record
class Overrides:
    """The value and source of each setting; one field per ``SETTINGS`` entry, same order."""

    parcel: Setting | None = None
    parcels_root: Setting | None = None
    hadoop_home: Setting | None = None
    hadoop_conf_dir: Setting | None = None
    java_home: Setting | None = None
    tracking_uri: Setting | None = None
    tracking_auth: Setting | None = None
    tracking_spn: Setting | None = None
    hdfs_client: Setting | None = None


def user_config_path(env: Mapping[str, str]) -> Path:
    if env.get("MLFLOW_CLIENT_ENV_CONFIG"):
        return Path(env["MLFLOW_CLIENT_ENV_CONFIG"])
    base = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME", "~"), ".config")
    return Path(os.path.expanduser(base)) / "mlflow-client-env" / "config.toml"


def site_config_path(env: Mapping[str, str]) -> Path:
    return Path(env.get("MLFLOW_CLIENT_ENV_SITE_CONFIG", SITE_CONFIG))


def read_config(path: Path) -> dict[str, str]:
    """The settings of one TOML file; a missing file is empty, a malformed one an error."""
    text = read_small_text(path, 'each line looks like: parcels_root = "/opt/cloudera/parcels"')
    if text is None:
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise ConfigFileError(
            f"{path} is not valid TOML ({exc})",
            'fix the file; each line looks like: parcels_root = "/opt/cloudera/parcels"',
        ) from None
    unknown = sorted(set(data) - set(ENV_VARS))
    if unknown:
        raise ConfigFileError(
            f"{path}: unknown setting(s) {', '.join(unknown)}",
            "the settings are: " + ", ".join(ENV_VARS),
        )
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad:
        raise ConfigFileError(
            f"{path}: {', '.join(bad)} must be strings", 'quote the values: key = "value"'
        )
    return {k: str(v) for k, v in data.items()}


def resolve_setting(
    name: str, argument: str | None = None, env: Mapping[str, str] | None = None
) -> Setting | None:
    """One setting, in the same order as every other: the argument, its environment
    variable, the user config, the site config; None when nothing sets it."""
    return getattr(resolve_overrides({name: argument}, env), name)  # type: ignore[no-any-return]


def resolve_overrides(
    arguments: Mapping[str, str | os.PathLike[str] | None] | None = None,
    env: Mapping[str, str] | None = None,
) -> Overrides:
    """Merge arguments, environment variables and both config files into Overrides."""
    env = os.environ if env is None else env
    arguments = arguments or {}
    unknown = sorted(set(arguments) - set(ENV_VARS))
    if unknown:
        raise TypeError(f"unknown override(s): {', '.join(unknown)}; known: {', '.join(ENV_VARS)}")
    user_path, site_path = user_config_path(env), site_config_path(env)
    user, site = read_config(user_path), read_config(site_path)
    values: dict[str, Setting | None] = {}
    for f in fields(Overrides):
        key = f.name
        arg = arguments.get(key)
        var = ENV_VARS[key]
        if arg is not None and str(arg) != "":
            values[key] = Setting(os.fspath(arg), setting(key))  # --parcel / setup(parcel=...)
        elif env.get(var):
            values[key] = Setting(env[var], f"environment {var}")
        elif key in user:
            values[key] = Setting(user[key], f"user config {user_path}")
        elif key in site:
            values[key] = Setting(site[key], f"site config {site_path}")
        else:
            values[key] = None
    return Overrides(**values)
