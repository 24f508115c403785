"""Sandbox faults, each with the fix a developer needs (never a bare stack trace)."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlflow_client_env.errors import MlflowClientEnvError


class SandboxError(MlflowClientEnvError):
    """Base class for everything that stops the sandbox from coming up."""


class PortInUseError(SandboxError):
    """A port the sandbox needs is already bound by another process."""


class DownloadError(SandboxError):
    """An sdist could not be downloaded (no network, index unreachable, pip failure)."""


class ChecksumError(SandboxError):
    """A downloaded or cached file does not have the expected sha256."""


class DiskFullError(SandboxError):
    """ENOSPC while writing the cache or the state dir."""


class SandboxRunningError(SandboxError):
    """A previous sandbox in the same state dir is still running."""


class SandboxSettingError(SandboxError):
    """A sandbox parameter has a value the sandbox does not know (e.g. data_protection)."""


class ServerStartError(SandboxError):
    """A server exited or did not become ready in time; the message has its log tail."""


class ToolMissingError(SandboxError):
    """A required host tool (kadmin.local, krb5kdc, kinit, gcc) is not installed."""


class SandboxKinitError(SandboxError):
    """``kinit`` failed (KDC down, unknown principal, bad keytab)."""


class SandboxStateError(SandboxError):
    """The state file is missing or unreadable (no sandbox was started there)."""


@contextmanager
def disk_full_guard(where: Path) -> Iterator[None]:
    """Turn ENOSPC into a DiskFullError that names the directory and the fix."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise DiskFullError(
            f"no space left on the device holding {where} ({exc})",
            f"free disk space (check with 'df -h {where}') or point the sandbox elsewhere "
            "(MLFLOW_CLIENT_ENV_CACHE for downloads, --state-dir for the servers)",
        ) from exc
