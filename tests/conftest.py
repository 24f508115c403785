"""Shared fixtures: a clean environment and a realistic edge node in a temp dir."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import trees

#: The real sandbox (KDC, Kerberized HDFS, mlflow server) as session fixtures.
pytest_plugins = ["tests.sandbox.fixtures"]

#: Variables our library reads; tests start without them so the host cannot leak in.
OUR_VARS = (
    "JAVA_HOME",
    "HADOOP_HOME",
    "HADOOP_CONF_DIR",
    "CLASSPATH",
    "ARROW_LIBHDFS_DIR",
    "LIBHDFS_OPTS",
    "KRB5CCNAME",
    "KRB5_CONFIG",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_KERBEROS_TICKET_CACHE",
    "LD_LIBRARY_PATH",
    "MLFLOW_CLIENT_ENV_PARCEL",
    "MLFLOW_CLIENT_ENV_PARCELS_ROOT",
    "MLFLOW_CLIENT_ENV_HADOOP_HOME",
    "MLFLOW_CLIENT_ENV_HADOOP_CONF_DIR",
    "MLFLOW_CLIENT_ENV_JAVA_HOME",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """os.environ without our variables, with private config files and cache."""
    for var in OUR_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", os.environ.get("PATH", "/usr/bin:/bin"))  # restored after the test
    monkeypatch.setenv("MLFLOW_CLIENT_ENV_CONFIG", str(tmp_path / "user-config.toml"))
    monkeypatch.setenv("MLFLOW_CLIENT_ENV_SITE_CONFIG", str(tmp_path / "site-config.toml"))
    monkeypatch.setenv("MLFLOW_CLIENT_ENV_CACHE", str(tmp_path / "cache"))
    return dict(os.environ)


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
