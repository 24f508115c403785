"""The ``mlflow.artifact_repository`` entry point for ``hdfs`` and ``viewfs``.

MLflow registers entry points after its built-in repositories, so this factory replaces
the built-in one for both schemes as soon as the package is installed. It decides per
repository (:func:`~mlflow_client_env.artifacts.mode.hdfs_client_in_force`): the JVM path
returns MLflow's own ``HdfsArtifactRepository``, unchanged; the native path returns
:class:`~mlflow_client_env.artifacts.repository.NativeHdfsArtifactRepository`.

This module imports nothing of MLflow at import time: MLflow loads it while its own
registry module is being imported, which may happen in the middle of importing
:mod:`.repository` (which imports MLflow); a cycle would make MLflow skip the entry
point with a warning and keep its built-in repository.
"""

from __future__ import annotations

from typing import Any

from .mode import hdfs_client_in_force, log_choice_once

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mlflow.store.artifact.artifact_repo import ArtifactRepository


def hdfs_artifact_repository(
    artifact_uri: str,
    tracking_uri: str | None = None,
    registry_uri: str | None = None,
    **_ignored: Any,
) -> ArtifactRepository:
    """The repository for an ``hdfs://`` or ``viewfs://`` URI: the entry point's target."""
    choice = hdfs_client_in_force(artifact_uri=artifact_uri)
    log_choice_once(choice)
    if not choice.native:
        return builtin_repository(artifact_uri, tracking_uri, registry_uri)
    # here, not at the top: repository imports MLflow, which imports this module (docstring)
    from .repository import NativeHdfsArtifactRepository

    return NativeHdfsArtifactRepository(artifact_uri, tracking_uri, registry_uri, choice=choice)


def builtin_repository(
    artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None
) -> ArtifactRepository:
    """MLflow's own HdfsArtifactRepository (pyarrow -> libhdfs -> JVM), as MLflow makes it."""
    from mlflow.store.artifact.hdfs_artifact_repo import HdfsArtifactRepository

    from .repository import uri_keywords  # here: repository imports MLflow (see the docstring)

    repo: ArtifactRepository = HdfsArtifactRepository(
        artifact_uri, **uri_keywords(HdfsArtifactRepository, tracking_uri, registry_uri)
    )
    return repo
