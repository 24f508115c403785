"""Shared fixtures: a clean environment and a realistic edge node in a temp dir."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlflow_client_env.config import SETTINGS
from mlflow_client_env.jupyter.launcher import MESSAGE_VAR
from tests import trees
from tests.spawned import Spawned

#: The real sandbox (KDC, Kerberized HDFS, mlflow server) as session fixtures.
pytest_plugins = ["tests.sandbox.fixtures"]

#: Variables our library reads; tests start without them so the host cannot leak in.
#: The settings' variables come from their one declaration (config.SETTINGS).
OUR_VARS = (
    "JAVA_HOME",
    "HADOOP_HOME",
    "HADOOP_CONF_DIR",
    "CLASSPATH",
    "ARROW_LIBHDFS_DIR",
    "LIBHDFS_OPTS",
    "KRB5CCNAME",
    "KRB5_CONFIG",
    "MLFLOW_KERBEROS_TICKET_CACHE",
    "LD_LIBRARY_PATH",
    *(spec.env_var for spec in SETTINGS),
)


@pytest.fixture
def spawned() -> Iterator[Spawned]:
    """Start processes with ``spawned.popen(...)``: all are stopped at teardown."""
    procs = Spawned()
    try:
        yield procs
    finally:
        procs.stop()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, str]]:
    """os.environ without our variables, with private config files and cache.

    The whole environment is restored afterwards: monkeypatch.delenv records
    nothing for a variable that was unset, so without the snapshot a variable
    that setup() sets in-process (JAVA_HOME, ...) would leak into later tests.
    """
    saved = dict(os.environ)
    for var in OUR_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", os.environ.get("PATH", "/usr/bin:/bin"))  # restored after the test
    monkeypatch.setenv("MLFLOW_CLIENT_ENV_CONFIG", str(tmp_path / "user-config.toml"))
    monkeypatch.setenv("MLFLOW_CLIENT_ENV_SITE_CONFIG", str(tmp_path / "site-config.toml"))
    monkeypatch.setenv("MLFLOW_CLIENT_ENV_CACHE", str(tmp_path / "cache"))
    yield dict(os.environ)
    os.environ.clear()
    os.environ.update(saved)


@dataclass
class Edge:
    """A fake Cloudera edge node: parcels, client config, a JDK, a krb5.conf."""

    root: Path
    parcels: Path
    parcel: Path
    conf: Path
    java: Path
    krb5_conf: Path

    def overrides(self) -> dict[str, str]:
        return {
            "parcels_root": str(self.parcels),
            "hadoop_conf_dir": str(self.conf),
            "java_home": str(self.java),
        }

    def cli_args(self) -> list[str]:
        """The same overrides as command-line options."""
        return [f"--{k.replace('_', '-')}={v}" for k, v in self.overrides().items()]


def build_edge(root: Path, release: str = "cdh6.3.2") -> Edge:
    parcels = root / "opt" / "cloudera" / "parcels"
    parcel = trees.make_parcel(parcels, release)
    conf = trees.make_conf(root / "etc" / "hadoop" / "conf")
    java = trees.make_java(root / "usr" / "lib" / "jvm" / "java-17", "jdk9+", "17.0.9")
    krb5 = trees.make_krb5_conf(root / "krb5.conf")
    return Edge(root, parcels, parcel, conf, java, krb5)


@pytest.fixture
def edge(tmp_path: Path, clean_env: dict[str, str]) -> Edge:
    return build_edge(tmp_path / "edge")


@dataclass
class Jupyter:
    """Private Jupyter dirs: a user data dir and a prefix that is on JUPYTER_PATH."""

    data: Path
    prefix: Path

    @property
    def prefix_kernels(self) -> Path:
        return self.prefix / "share" / "jupyter" / "kernels"

    @property
    def user_kernels(self) -> Path:
        return self.data / "kernels"


@pytest.fixture
def jupyter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: dict[str, str]) -> Jupyter:
    j = Jupyter(tmp_path / "jupyter-data", tmp_path / "prefix")
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(j.data))
    monkeypatch.setenv("JUPYTER_PATH", str(j.prefix / "share" / "jupyter"))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "jupyter-config"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    for var in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD", MESSAGE_VAR):
        monkeypatch.delenv(var, raising=False)
    return j
