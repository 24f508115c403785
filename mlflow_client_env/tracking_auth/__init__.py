"""Kerberos-protected tracking servers: SPNEGO for MLflow's REST client (catalog D8).

A tracking server behind a reverse proxy that asks for HTTP Negotiate (Apache with
mod_auth_gssapi, Knox, a corporate gateway) needs a Kerberos token on every request.
MLflow has no Kerberos of its own, but lets a plugin give the auth of its requests:
the entry point ``mlflow.request_auth_provider`` named ``kerberos`` (pyproject.toml) is
:class:`KerberosAuthProvider`, which MLflow (2.8 or later) uses when
``MLFLOW_TRACKING_AUTH=kerberos``.

- :mod:`.settings`: ``tracking_auth`` and the service principal (``tracking_spn``,
  ``MLFLOW_CLIENT_ENV_TRACKING_SPN``), and where each comes from.
- :mod:`.spnego`: the auth object (requests-gssapi underneath), why an exchange failed.
- :mod:`.check`: findings for ``setup()`` (no network) and the doctor (asks the server).
- the typed errors, each with its finding code (``TrackingAuthError`` and its kinds), are
  declared in :mod:`mlflow_client_env.errors`, with every other.

This package imports neither requests-gssapi nor gssapi until a request is authenticated
or a check runs: ``setup()`` and the kernel launcher stay fast.
"""

from __future__ import annotations

import os

from ..errors import (
    AuthRejectedError,
    ClockSkewError,
    ExpiredTicketError,
    KdcUnreachableError,
    MutualAuthError,
    NoTicketError,
    PluginMissingError,
    ProxyUnreachableError,
    TrackingAuthConfigError,
    TrackingAuthError,
    UnknownServicePrincipalError,
    WrongRealmError,
)
from .settings import (
    AUTH_VAR,
    PROVIDER_NAME,
    SPN_KEY,
    SPN_VAR,
    ServicePrincipal,
    environment_for,
    service_principal,
    tracking_auth,
)

TYPE_CHECKING = False  # typing is not imported at run time (import cost; mypy honours this)
if TYPE_CHECKING:
    from typing import Any

EXTRA_FIX = (
    "install the kerberos extra: pip install 'mlflow-client-env[kerberos]' (python-gssapi "
    "builds against the Kerberos headers: libkrb5-dev or krb5-devel, and gcc)"
)


class KerberosAuthProvider:
    """MLflow's ``RequestAuthProvider`` (``get_name``/``get_auth``; MLflow calls nothing
    else, so the class does not import MLflow to subclass it)."""

    def get_name(self) -> str:
        return PROVIDER_NAME

    def get_auth(self) -> Any:
        """A new auth object for one request: MLflow calls this for every request. Raises
        ``PluginMissingError`` without requests-gssapi, ``NoTicketError`` (catalog D8) or
        ``ExpiredTicketError`` when the ticket cache holds no live ticket."""
        try:  # here, not at the top: spnego imports gssapi and requests (maybe missing)
            from .spnego import KerberosAuth, ensure_ticket
        except ImportError as exc:
            raise PluginMissingError(
                f"MLFLOW_TRACKING_AUTH=kerberos needs requests-gssapi and python-gssapi: {exc}",
                EXTRA_FIX,
            ) from None
        ensure_ticket(os.environ)
        return KerberosAuth(os.environ)


__all__ = [
    "AUTH_VAR",
    "PROVIDER_NAME",
    "SPN_KEY",
    "SPN_VAR",
    "AuthRejectedError",
    "ClockSkewError",
    "ExpiredTicketError",
    "KdcUnreachableError",
    "KerberosAuthProvider",
    "MutualAuthError",
    "NoTicketError",
    "PluginMissingError",
    "ProxyUnreachableError",
    "ServicePrincipal",
    "TrackingAuthConfigError",
    "TrackingAuthError",
    "UnknownServicePrincipalError",
    "WrongRealmError",
    "environment_for",
    "service_principal",
    "tracking_auth",
]
