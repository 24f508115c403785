"""Hadoop on the client: where it is installed, its client configuration, and its CLASSPATH.

- ``install``: the layouts (parcels, packages, HDP, tarballs) and what each holds;
- ``conf``: the client configuration folder and the few keys that matter;
- ``classpath``: the jar list the JNI JVM needs, built and checked;
- ``tokens``: Hadoop's delegation-token file (``HADOOP_TOKEN_FILE_LOCATION``), read, never
  its secrets kept.
"""

from __future__ import annotations

#: The variable YARN (and ``hdfs fetchdt`` users) set to the token storage file. Here, not
#: in ``tokens``, so that a process can ask whether it has tokens without importing it.
TOKEN_FILE_VAR = "HADOOP_TOKEN_FILE_LOCATION"

TYPE_CHECKING = False  # typing is not imported at run time (import cost; mypy honours this)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ..findings import Finding
    from .conf import HadoopConf


def with_tokens(
    findings: Sequence[Finding],
    env: Mapping[str, str],
    conf: HadoopConf | None,
    now: float | None = None,
) -> list[Finding]:
    """The ticket's ``findings`` as a process with ``env`` should read them: unchanged
    without a token file; else "no ticket" becomes ``kerberos.token-only`` (ok) where its
    HDFS delegation tokens are valid (a YARN container), and the token findings follow
    (``tokens.ticket_or_tokens``). ``tokens`` is imported only for a process with tokens."""
    if not env.get(TOKEN_FILE_VAR):
        return list(findings)
    from .tokens import ticket_or_tokens, token_findings  # here: tokens imports this package

    return ticket_or_tokens(findings, token_findings(env, conf, now=now))
