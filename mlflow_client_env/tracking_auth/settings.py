"""The plugin's two settings and where each comes from.

- ``tracking_auth``: ``kerberos`` turns the plugin on. MLflow reads it from its own variable
  ``MLFLOW_TRACKING_AUTH`` (``setup(tracking_auth="kerberos")`` exports that); the config
  files may set it for everyone (site config) or for one user.
- ``tracking_spn``: the service principal to ask a ticket for. Default ``HTTP@<host>``,
  the host of the URL being asked (the tracking URI's), which libkrb5 maps to
  ``HTTP/<host>@<realm of host>``. Behind a load balancer whose name is not the one in
  the proxy's keytab, set it: ``HTTP@lb.example.com`` (a host-based name) or
  ``HTTP/proxy.example.com@EXAMPLE.COM`` (a full principal).

Both are settings of ``mlflow_client_env.config.SETTINGS``, resolved as every setting is:
argument > environment > user config > site config > default.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..config import resolve_setting
from ..errors import TrackingAuthConfigError
from ..records import record

#: MLflow's own variable: the name of the request auth provider to use.
AUTH_VAR = "MLFLOW_TRACKING_AUTH"
#: The provider's name (``MLFLOW_TRACKING_AUTH=kerberos``).
PROVIDER_NAME = "kerberos"
#: The values ``tracking_auth`` accepts: ours, or explicitly none.
AUTH_CHOICES = (PROVIDER_NAME, "none")
AUTH_KEY = "tracking_auth"
SPN_VAR = "MLFLOW_CLIENT_ENV_TRACKING_SPN"
SPN_KEY = "tracking_spn"
#: The service of a tracking server behind an HTTP proxy.
SERVICE = "HTTP"
SPN_FIX = (
    f"set {SPN_VAR} (or {SPN_KEY} in the config file) to the proxy's principal: HTTP@host "
    "(the host name in the proxy's keytab) or HTTP/host@REALM"
)


@record
class ServicePrincipal:
    """The service principal asked for, as configured, and where that came from."""

    name: str  # "HTTP@host" (host-based service) or "HTTP/host@REALM" (a principal)
    source: str

    @property
    def hostbased(self) -> bool:
        """``service@host`` (libkrb5 finds the realm) rather than a full principal."""
        return "/" not in self.name


def check_spn(value: str, source: str) -> str:
    """``value`` when it can name a service principal, else ``TrackingAuthConfigError``."""
    service, at, rest = value.partition("@")
    if (
        not value.isprintable()
        or any(c.isspace() for c in value)
        or not service
        or (not at and "/" not in service)
        or (at and not rest)
        or value.count("@") > 1
    ):
        raise TrackingAuthConfigError(
            f"the tracking server's service principal {value!r} (from {source}) is neither "
            "service@host nor service/host@REALM",
            SPN_FIX,
        )
    return value


def service_principal(host: str, env: Mapping[str, str] | None = None) -> ServicePrincipal:
    """The principal to ask a ticket for, to talk to ``host``: the configured one
    (``MLFLOW_CLIENT_ENV_TRACKING_SPN``, else ``tracking_spn`` in the user, then the site
    config), else ``HTTP@host``."""
    found = resolve_setting(SPN_KEY, None, env)
    if found is not None:
        return ServicePrincipal(check_spn(*found.pair()), found.source)
    if not host:
        raise TrackingAuthConfigError("the tracking URI names no host", SPN_FIX)
    return ServicePrincipal(f"{SERVICE}@{host}", "default: HTTP@<host of the tracking URI>")


def checked_auth(value: str, source: str) -> str:
    """``value`` of ``tracking_auth`` when valid: ``kerberos`` or ``none`` from an argument
    or a config file; ``MLFLOW_TRACKING_AUTH`` (MLflow's own variable) may also name another
    MLflow provider (``kubernetes``), which is returned as it is."""
    if source == f"environment {AUTH_VAR}" or value in AUTH_CHOICES:
        return value
    raise TrackingAuthConfigError(
        f"tracking_auth {value!r} (from {source}) is not one of {', '.join(AUTH_CHOICES)}",
        'use tracking_auth = "kerberos" for a tracking server behind Kerberos (SPNEGO)',
    )


def tracking_auth(
    argument: str | None, env: Mapping[str, str] | None = None
) -> tuple[str, str] | None:
    """(mode, source) of ``tracking_auth``, in the order of every setting (config.SETTINGS):
    the argument (``setup(tracking_auth=...)`` or ``--tracking-auth``), else
    ``MLFLOW_TRACKING_AUTH``, else the user, then the site config; None when nothing sets
    it. An invalid value is a ``TrackingAuthConfigError`` (:func:`checked_auth`)."""
    found = resolve_setting(AUTH_KEY, argument, env)
    if found is None:
        return None
    return checked_auth(*found.pair()), found.source


def environment_for(mode: str | None) -> dict[str, str]:
    """What ``setup()``/the kernel launcher export for ``mode``: ``MLFLOW_TRACKING_AUTH=kerberos``
    for kerberos, nothing otherwise (``none`` leaves MLflow's default, no plugin)."""
    return {AUTH_VAR: PROVIDER_NAME} if mode == PROVIDER_NAME else {}
