"""HDFS artifacts for MLflow without a JVM: a repository on hdfs-native, and its modes.

- :mod:`.mode`: which client serves (``native``, ``jvm``, ``auto``) and why:
  :func:`hdfs_client_in_force`;
- :mod:`.plugin`: the ``mlflow.artifact_repository`` entry point for ``hdfs`` and
  ``viewfs`` (it replaces MLflow's built-in repository once installed, and hands back
  that very repository in ``jvm`` mode);
- :mod:`.repository`: the repository on hdfs-native;
- :mod:`.native`: the hdfs-native client with a deadline on every step;
- the typed errors of the native path (``HdfsClientSettingError``, ``NativeHdfsError`` and
  its kinds) are declared in :mod:`mlflow_client_env.errors`, with every other.

Importing this package imports neither mlflow nor hdfs_native.
"""

from __future__ import annotations

from ..errors import (
    HdfsClientSettingError,
    HdfsDataNodeError,
    HdfsKerberosError,
    HdfsPermissionError,
    HdfsTimeoutError,
    HdfsUnreachableError,
    NativeHdfsError,
)
from .mode import DEFAULT_MODE, HDFS_CLIENT_VAR, MODES, HdfsClientChoice, hdfs_client_in_force

__all__ = [
    "DEFAULT_MODE",
    "HDFS_CLIENT_VAR",
    "MODES",
    "HdfsClientChoice",
    "HdfsClientSettingError",
    "HdfsDataNodeError",
    "HdfsKerberosError",
    "HdfsPermissionError",
    "HdfsTimeoutError",
    "HdfsUnreachableError",
    "NativeHdfsError",
    "hdfs_client_in_force",
]
