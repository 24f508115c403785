"""The hdfs-native artifact repository: what MLflow's ``HdfsArtifactRepository`` does.

:class:`NativeHdfsArtifactRepository` implements what the built-in repository
implements, with its path semantics (checked side by side by tests/test_native_repo.py):
``log_artifact``, ``log_artifacts``, ``list_artifacts``, ``_is_directory``,
``_download_file`` (hence ``download_artifacts``, for files and folders) and
``delete_artifacts``. :mod:`.plugin` decides when it serves.

The constructor takes ``(artifact_uri)`` as MLflow 2 calls it, and
``(artifact_uri, tracking_uri=..., registry_uri=...)`` as MLflow 3 does.
"""

from __future__ import annotations

import os
import posixpath
import urllib.parse
from typing import Any

from mlflow.entities import FileInfo
from mlflow.store.artifact.artifact_repo import ArtifactRepository

from .mode import HdfsClientChoice, client_conf
from .native import NativeHdfs

_ACCEPTED: dict[type, frozenset[str]] = {}


def _accepted_keywords(cls: type) -> frozenset[str]:
    """The URI keywords ``cls.__init__`` takes (MLflow 2: none; 3: tracking_uri, registry_uri)."""
    found = _ACCEPTED.get(cls)
    if found is None:
        import inspect

        params = inspect.signature(cls).parameters
        found = frozenset(k for k in ("tracking_uri", "registry_uri") if k in params)
        _ACCEPTED[cls] = found
    return found


def uri_keywords(cls: type, tracking_uri: str | None, registry_uri: str | None) -> dict[str, Any]:
    """The keywords ``cls(artifact_uri, **these)`` takes, of MLflow 3's two URIs."""
    given = {"tracking_uri": tracking_uri, "registry_uri": registry_uri}
    return {k: v for k, v in given.items() if k in _accepted_keywords(cls)}


# ----------------------------------------------------------------------------- paths
# The built-in repository's path rules, restated (tests/test_native_repo.py runs both).
def _connection_params(artifact_uri: str) -> tuple[str, str | None, int | None, str]:
    parsed = urllib.parse.urlparse(artifact_uri)
    return parsed.scheme, parsed.hostname, parsed.port, parsed.path


def _resolve_base_path(path: str, artifact_path: str | None) -> str:
    if path == artifact_path:
        return path
    if artifact_path:
        return posixpath.join(path, artifact_path)
    return path


def _relative_local(base_dir: str, subdir: str) -> str | None:
    rel = os.path.relpath(subdir, base_dir)
    if rel == ".":
        return None
    from mlflow.utils.file_utils import relative_path_to_artifact_path

    return str(relative_path_to_artifact_path(rel))  # type: ignore[no-untyped-call]


def _hdfs_path(path: str) -> str:
    """What Hadoop's ``Path`` makes of a string: no ``.`` or ``..`` segments, no ``//``."""
    normal = posixpath.normpath(path)
    return "/" + normal.lstrip("/") if path.startswith("/") else normal


class NativeHdfsArtifactRepository(ArtifactRepository):
    """Stores artifacts on HDFS through hdfs-native: no JVM, no libhdfs, no CLASSPATH."""

    def __init__(
        self,
        artifact_uri: str,
        tracking_uri: str | None = None,
        registry_uri: str | None = None,
        *,
        choice: HdfsClientChoice | None = None,
    ) -> None:
        super().__init__(
            artifact_uri, **uri_keywords(ArtifactRepository, tracking_uri, registry_uri)
        )
        self.scheme, self.host, self.port, self.path = _connection_params(artifact_uri)
        self.choice = choice
        self._native: NativeHdfs | None = None

    @property
    def hdfs(self) -> NativeHdfs:
        """The hdfs-native client of this repository's target (made on first use)."""
        if self._native is None:
            self._native = NativeHdfs(
                self.scheme, self.host, self.port, conf=client_conf(os.environ)
            )
        return self._native

    def _is_dir(self, path: str) -> bool:
        status = self.hdfs.info(_hdfs_path(path))
        return status is not None and bool(status.isdir)

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        base = _resolve_base_path(self.path, artifact_path)
        _, name = os.path.split(local_file)
        self.hdfs.upload(local_file, _hdfs_path(posixpath.join(base, name)))

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        base = _resolve_base_path(self.path, artifact_path)
        if not self._is_dir(base):
            self.hdfs.mkdirs(_hdfs_path(base))
        for subdir, _, files in os.walk(local_dir):
            rel = _relative_local(local_dir, subdir)
            remote_dir = posixpath.join(base, rel) if rel else base
            if not self._is_dir(remote_dir):
                self.hdfs.mkdirs(_hdfs_path(remote_dir))
            for name in files:
                self.hdfs.upload(
                    os.path.join(subdir, name), _hdfs_path(posixpath.join(remote_dir, name))
                )

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        base = _resolve_base_path(self.path, path)
        status = self.hdfs.info(_hdfs_path(base))
        if status is None or not status.isdir:
            return []  # missing, or a file: the built-in lists a file as nothing
        root = _hdfs_path(self.path)
        infos = []
        for entry in self.hdfs.listdir(_hdfs_path(base)):
            full = str(entry.path)
            offset = full.index(root)
            rel = posixpath.relpath(full[offset:], root)
            is_dir = bool(entry.isdir)
            infos.append(FileInfo(rel, is_dir=is_dir, file_size=None if is_dir else entry.length))
        return infos

    def _is_directory(self, artifact_path: str | None) -> bool:
        return self._is_dir(_resolve_base_path(self.path, artifact_path))

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        base = _resolve_base_path(self.path, remote_file_path)
        self.hdfs.download(_hdfs_path(base), local_path)

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        path = posixpath.join(self.path, artifact_path) if artifact_path else self.path
        status = self.hdfs.info(_hdfs_path(path))
        if status is None:
            return
        if not status.isdir:
            self.hdfs.delete(_hdfs_path(path), False)
            return
        # the built-in deletes what the folder holds and keeps the folder
        for entry in self.hdfs.listdir(_hdfs_path(path)):
            self.hdfs.delete(str(entry.path), True)
