"""Is there a ticket for a Kerberized client? One answer for ``setup()``, ``env`` and the launcher.

A Hadoop client configuration with ``hadoop.security.authentication=kerberos`` and no
usable ticket composes a fine environment, and then the first ``log_artifact`` fails
with "GSS initiate failed" (catalog D1). ``ticket_readiness`` reads the ticket of the
cache that will actually be used (``KRB5CCNAME`` of the composed environment: the
user's FILE cache, or the FILE cache a keytab login or a KEYRING/KCM copy made for Java)
and turns its state into a finding of the doctor's ``kerberos`` check, with the same
code and status as the doctor gives the same ticket (``ticket.status_finding``):

- ``kerberos.missing``, ``kerberos.expired`` (and ``unreadable``, ``corrupt``,
  ``foreign_realm``): ``error``;
- ``kerberos.expiring``: ``warn``, below ``ticket.DEFAULT_THRESHOLD`` (1 hour) left, the
  threshold of ``ticket`` and ``doctor``, so one ticket gets one verdict everywhere;
- ``kerberos.valid``: ``ok``, with the principal and the time left;
- ``kerberos.gssapi-missing``: ``warn``, a KEYRING/KCM/DIR cache (no Java copy was made)
  cannot be read without python-gssapi.

"Java cannot read this cache" is ``kerberos.cache-not-java-readable``, which composing
the environment reports already; it is not repeated here.

A FILE cache is read with ``struct`` (``ticket.file_ticket_status``: tens of
microseconds, so the warm ``setup()`` stays within 1 ms); gssapi is imported only for
other cache types, and never when the caller says ``gssapi=False`` (the kernel
launcher, for its start time). A client that is not Kerberized (the configuration
says ``simple``, there is none, or no Hadoop is used at all) gets no ticket finding.
"""

from __future__ import annotations

import os

from ..findings import Finding
from ..hadoop import with_tokens
from ..records import replace
from .profile import ccache_type
from .ticket import (
    GSSAPI_FIX,
    TicketStatus,
    file_ticket_status,
    human_duration,
    load_gssapi,
    status_finding,
    ticket_status,
)

TYPE_CHECKING = False  # typing is not imported at run time (import cost; mypy honours this)
if TYPE_CHECKING:
    from ..environment import Environment

GSSAPI_MISSING = "kerberos.gssapi-missing"


def cluster_realms_of(environment: Environment) -> tuple[str, ...]:
    """krb5.conf's ``default_realm`` and the realm of ``dfs.namenode.kerberos.principal``
    (from the already parsed client configuration: nothing is read again)."""
    realms = [environment.kerberos.default_realm] if environment.kerberos.default_realm else []
    nn = environment.conf.get("dfs.namenode.kerberos.principal") if environment.conf else None
    if nn and "@" in nn:
        realm = nn.rpartition("@")[2]
        if realm and realm not in realms:
            realms.append(realm)
    return tuple(realms)


def ticket_readiness(
    environment: Environment, *, gssapi: bool = True, now: float | None = None
) -> tuple[TicketStatus | None, list[Finding]]:
    """The ticket a Kerberized client will use, and its finding (none when not Kerberized).

    ``gssapi=False``: a cache that is not a FILE cache is not looked at (no finding).
    ``now``: POSIX seconds, for tests. Never contacts the KDC.
    """
    conf = environment.conf
    if conf is None or not conf.kerberos:  # no Hadoop used, or not Kerberized
        return None, []
    k = environment.kerberos
    var = environment.get("KRB5CCNAME")
    ccache = var.value if var is not None else k.ccache
    ctype = ccache_type(ccache)
    realms = cluster_realms_of(environment)
    if ctype == "FILE":
        mine = ccache in (k.ccache, f"FILE:{k.ccache}")  # else a login or a copy made for Java
        source = (
            k.ccache_source if mine else "the FILE cache made for Java (a keytab login or a copy)"
        )
        st = file_ticket_status(ccache, realms=realms, source=source, now=now)
        return st, _with_tokens(environment, st, now)
    if not gssapi:
        return None, []
    st = ticket_status(ccache, realms=realms, now=now)  # never discovers: both are given
    st = replace(st, ccache_source=k.ccache_source)
    if load_gssapi() is None:
        return st, [
            Finding(
                GSSAPI_MISSING,
                "warn",
                f"the ticket in {ccache} cannot be checked: reading a {ctype} credential cache "
                "needs python-gssapi, which is not installed",
                (f"cache: {ccache} ({ctype}, from {k.ccache_source})",),
                GSSAPI_FIX,
            )
        ]
    return st, _with_tokens(environment, st, now)


def _with_tokens(environment: Environment, st: TicketStatus, now: float | None) -> list[Finding]:
    """The ticket's finding, read with this process's delegation tokens (``hadoop.with_tokens``)."""
    return with_tokens([status_finding(st)], os.environ, environment.conf, now)


def ticket_line(st: TicketStatus) -> str:
    """The report's one line on the ticket: ``alice@EXAMPLE.COM, valid 9 h 58 min``,
    ``none (kinit first)``, ``alice@EXAMPLE.COM, expired (kinit again)``..."""
    who = st.principal or "the ticket"
    if st.fix == GSSAPI_FIX:
        return f"unknown ({st.ccache_type} cache, and python-gssapi is not installed)"
    if st.state == "valid":
        return f"{who}, valid {human_duration(st.seconds_left or 0)}"
    if st.state == "expiring":
        return f"{who}, valid {human_duration(st.seconds_left or 0)} (expiring soon: renew it)"
    if st.state == "expired":
        return f"{who}, expired (kinit again)"
    if st.state == "missing":
        return "none (kinit first)"
    if st.state == "foreign_realm":
        return f"{who}, not of the cluster's realm ({', '.join(st.cluster_realms)})"
    return f"{st.state} ({st.ccache})"
