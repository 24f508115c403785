"""The plugin's two settings and where each comes from.

- ``tracking_auth``: ``kerberos`` turns the plugin on. MLflow reads it from its own variable
  ``MLFLOW_TRACKING_AUTH`` (``setup(tracking_auth="kerberos")`` exports that); the config
  files may set it for everyone (site config) or for one user.
- ``tracking_spn``: the service principal to ask a ticket for. Default ``HTTP@<host>``,
  the host of the URL being asked (the tracking URI's), which libkrb5 maps to
  ``HTTP/<host>@<realm of host>``. Behind a load balancer whose name is not the one in
  the proxy's keytab, set it: ``HTTP@lb.example.com`` (a host-based name) or
  ``HTTP/proxy.example.com@EXAMPLE.COM`` (a full principal).

Precedence, as for every setting: argument > environment > user config > site config >
default. Config files are read through ``mlflow_client_env.config`` (whose ``read_config``
refuses keys it does not declare, so both keys must be declared there).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..records import record
from .errors import TrackingAuthConfigError

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


#: path -> (stat key, settings): the config files are read again only when they change.
_READ: dict[Path, tuple[tuple[int, int, int] | None, dict[str, str]]] = {}


def _settings_of(path: Path) -> dict[str, str]:
    from ..config import read_config

    try:
        st = os.stat(path)
        key: tuple[int, int, int] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        key = None
    hit = _READ.get(path)
    if hit is not None and hit[0] == key and key is not None:
        return hit[1]
    data = read_config(path)
    _READ[path] = (key, data)
    return data


def configured(key: str, env: Mapping[str, str]) -> tuple[str, str] | None:
    """(value, source) of ``key`` in the user config, else the site config, else None."""
    from ..config import site_config_path, user_config_path

    for label, path in (("user", user_config_path(env)), ("site", site_config_path(env))):
        value = _settings_of(path).get(key)
        if value:
            return value, f"{label} config {path}"
    return None


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
    env = os.environ if env is None else env
    if env.get(SPN_VAR):
        source = f"environment {SPN_VAR}"
        return ServicePrincipal(check_spn(env[SPN_VAR], source), source)
    found = configured(SPN_KEY, env)
    if found is not None:
        return ServicePrincipal(check_spn(*found), found[1])
    if not host:
        raise TrackingAuthConfigError("the tracking URI names no host", SPN_FIX)
    return ServicePrincipal(f"{SERVICE}@{host}", "default: HTTP@<host of the tracking URI>")


def tracking_auth(
    argument: str | None, env: Mapping[str, str] | None = None
) -> tuple[str, str] | None:
    """(mode, source) of ``tracking_auth``: the argument (``setup(tracking_auth=...)`` or
    ``--tracking-auth``), else ``MLFLOW_TRACKING_AUTH``, else the user, then the site
    config; None when nothing sets it. A value other than ``kerberos``/``none`` from the
    argument or a config file is a ``TrackingAuthConfigError``; ``MLFLOW_TRACKING_AUTH`` may
    name another MLflow provider (``kubernetes``), which is returned as it is."""
    env = os.environ if env is None else env
    if argument is not None and argument != "":
        found: tuple[str, str] | None = (argument, "argument tracking_auth")
    elif env.get(AUTH_VAR):
        return env[AUTH_VAR], f"environment {AUTH_VAR}"
    else:
        found = configured(AUTH_KEY, env)
    if found is None:
        return None
    if found[0] not in AUTH_CHOICES:
        raise TrackingAuthConfigError(
            f"tracking_auth {found[0]!r} (from {found[1]}) is not one of {', '.join(AUTH_CHOICES)}",
            'use tracking_auth = "kerberos" for a tracking server behind Kerberos (SPNEGO)',
        )
    return found


def environment_for(mode: str | None) -> dict[str, str]:
    """What ``setup()``/the kernel launcher export for ``mode``: ``MLFLOW_TRACKING_AUTH=kerberos``
    for kerberos, nothing otherwise (``none`` leaves MLflow's default, no plugin)."""
    return {AUTH_VAR: PROVIDER_NAME} if mode == PROVIDER_NAME else {}
