"""Typed errors of the SPNEGO plugin, each with its finding code and, where one applies, the
catalog entry (D8: the Python side has no usable ticket).

Defined here until ``mlflow_client_env.errors`` takes them over; every one derives from
``MlflowClientEnvError`` (problem, fix) like the others.
"""

from __future__ import annotations

from ..errors import MlflowClientEnvError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..findings import Finding


class TrackingAuthError(MlflowClientEnvError):
    """Kerberos (SPNEGO) authentication to the tracking server failed."""

    #: the finding code the doctor and setup() report it under
    code = "tracking.spnego-failed"
    #: the troubleshooting catalog entry, when one explains it
    catalog: str | None = None

    def __init__(self, problem: str, fix: str) -> None:
        if self.catalog and f"catalog {self.catalog}" not in problem:
            problem = f"{problem} (catalog {self.catalog})"
        super().__init__(problem, fix)

    def finding(self, evidence: tuple[str, ...] = ()) -> Finding:
        """This error as an ``error`` finding (same code, problem and fix)."""
        from ..findings import Finding

        return Finding(self.code, "error", self.problem, evidence, self.fix)


class TrackingAuthConfigError(TrackingAuthError, ValueError):
    """A setting of the plugin (``tracking_auth``, the service principal) is not valid."""

    code = "tracking.spnego-config"


class PluginMissingError(TrackingAuthError):
    """requests-gssapi or python-gssapi (the ``kerberos`` extra) is not installed."""

    code = "tracking.spnego-plugin-missing"


class NoTicketError(TrackingAuthError):
    """No usable Kerberos ticket in the cache Python uses (catalog D8)."""

    code = "tracking.spnego-no-ticket"
    catalog = "D8"


class ExpiredTicketError(NoTicketError):
    """The ticket in the cache has expired (catalog D8)."""

    code = "tracking.spnego-ticket-expired"


class UnknownServicePrincipalError(TrackingAuthError):
    """The KDC has no principal for the tracking server's service name."""

    code = "tracking.spnego-unknown-principal"


class WrongRealmError(TrackingAuthError):
    """The service principal is in a realm the user's realm has no trust with."""

    code = "tracking.spnego-wrong-realm"


class ClockSkewError(TrackingAuthError):
    """This machine's clock and the KDC's (or the proxy's) differ by more than allowed."""

    code = "tracking.spnego-clock-skew"


class KdcUnreachableError(TrackingAuthError):
    """No KDC of the realm answered while asking for the service ticket."""

    code = "tracking.spnego-kdc-unreachable"


class AuthRejectedError(TrackingAuthError):
    """The server answered 401 again after it got a Kerberos token."""

    code = "tracking.spnego-rejected"


class MutualAuthError(TrackingAuthError):
    """The server's answer to mutual authentication does not prove it holds the key."""

    code = "tracking.spnego-mutual-auth-failed"


class ProxyUnreachableError(TrackingAuthError):
    """Nothing accepts connections at the tracking server's address (the proxy is down)."""

    code = "tracking.spnego-proxy-unreachable"
