"""Typed errors of the hdfs-native artifact path.

These belong in :mod:`mlflow_client_env.errors` (owned by the lead); they live here
until they are moved. Each one is also an ``OSError``, as pyarrow's HDFS errors are,
so code that catches ``OSError`` around ``mlflow.log_artifact`` catches these too.

``code`` names the troubleshooting entry (:mod:`mlflow_client_env.reference`) that
explains the failure: ``D1``, ``D6``, ``kdc-unreachable``, ``namenode-unreachable``,
``no-datanode``, ``permission-denied``, ``B5``; None when no entry fits.
"""

from __future__ import annotations

from ..errors import MlflowClientEnvError


class HdfsClientSettingError(MlflowClientEnvError, ValueError):
    """A setting of the HDFS client is wrong: an unknown mode (``native``, ``jvm``,
    ``auto``), ``native`` asked for where hdfs-native cannot load, a bad timeout or
    ``MLFLOW_PYARROW_EXTRA_CONF``."""


class NativeHdfsError(MlflowClientEnvError, OSError):
    """An HDFS operation through hdfs-native failed; ``code`` is its troubleshooting entry."""

    code: str | None = None

    def __init__(self, problem: str, fix: str, code: str | None = None) -> None:
        if code is not None:
            self.code = code
        if self.code is not None:
            label = f"catalog {self.code}" if self.code[0].isupper() else self.code
            problem = f"{problem} [{label}]"
        super().__init__(problem, fix)


class HdfsKerberosError(NativeHdfsError):
    """No usable Kerberos ticket for HDFS: none, another principal's, expired (D1, D6), or
    the KDC could not be reached for a service ticket (kdc-unreachable)."""


class HdfsUnreachableError(NativeHdfsError):
    """No NameNode accepted a connection (namenode-unreachable)."""

    code = "namenode-unreachable"


class HdfsTimeoutError(NativeHdfsError):
    """An HDFS step got no answer within the timeout (a NameNode, DataNode or KDC that
    accepts connections but does not answer)."""


class HdfsDataNodeError(NativeHdfsError):
    """The NameNode answered, but no DataNode could store or serve the block (no-datanode)."""

    code = "no-datanode"


class HdfsPermissionError(NativeHdfsError, PermissionError):
    """HDFS refused access to the path (permission-denied)."""

    code = "permission-denied"
