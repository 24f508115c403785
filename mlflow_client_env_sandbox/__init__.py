"""A real, local copy of our users' world: MIT KDC, Kerberized HDFS 2.7.3 on Java 17,
a real libhdfs.so, a CDH-style parcel tree and ``mlflow server``, all on 127.0.0.1.

Used by the test suite (``tests/sandbox``) and by people (``scripts/sandbox``).
"""

from __future__ import annotations

from .cluster import ENV_NAMES, Sandbox, down
from .errors import (
    ChecksumError,
    DiskFullError,
    DownloadError,
    PortInUseError,
    SandboxError,
    SandboxKinitError,
    SandboxRunningError,
    SandboxSettingError,
    SandboxStateError,
    ServerStartError,
    ToolMissingError,
)
from .hdfs import Hdfs, client_jvm_options
from .kdc import Kdc
from .mlflow_server import MlflowServer
from .parcel import ParcelTree, build_parcel_tree, pad_parcel
from .prepare import Assets, prepare_assets

__all__ = [
    "ENV_NAMES",
    "Assets",
    "ChecksumError",
    "DiskFullError",
    "DownloadError",
    "Hdfs",
    "Kdc",
    "MlflowServer",
    "ParcelTree",
    "PortInUseError",
    "Sandbox",
    "SandboxError",
    "SandboxKinitError",
    "SandboxRunningError",
    "SandboxSettingError",
    "SandboxStateError",
    "ServerStartError",
    "ToolMissingError",
    "build_parcel_tree",
    "client_jvm_options",
    "down",
    "pad_parcel",
    "prepare_assets",
]
