"""Which FILE cache Java should read, decided before the environment is composed.

Shared by ``setup()`` and the kernel launcher. The JDK reads only FILE caches,
so a keytab login or a KEYRING/KCM/DIR ticket means work for ``kinit`` (gssapi,
ctypes: ~10 ms of imports). A user whose cache is already a FILE cache pays one
krb5.conf read here and nothing else, at every ``setup()`` and kernel start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .findings import Finding
from .krb5 import discover_kerberos


def prepare_java_ccache(
    env: Mapping[str, str],
    keytab: str | os.PathLike[str] | None = None,
    principal: str | None = None,
) -> tuple[str | None, list[Finding]]:
    """The FILE cache Java should use (None: the discovered one is fine), and findings.

    With a keytab: log in (into the user's FILE cache, else a private one).
    Without: when the user's cache is not a FILE cache, copy its TGT to a
    private FILE cache. Raises ``KeytabError`` for a keytab without a principal
    (or the reverse) and ``KinitError`` when a keytab login fails.
    """
    if keytab is None and principal is None and discover_kerberos(env).java_readable:
        return None, []
    from .kinit import (
        KeytabError,
        KinitError,
        ensure_java_ccache,
        keytab_login,
        require_file_ccache,
    )

    if (keytab is None) != (principal is None):
        raise KeytabError(
            "a keytab login needs both the keytab and the principal",
            "pass keytab= and principal= together (--keytab K --principal P)",
        )
    if keytab is not None and principal is not None:
        status = keytab_login(keytab, principal, env=env)
        path = require_file_ccache(status.ccache)
        return str(path), [
            Finding(
                "kinit.keytab-login",
                "ok",
                f"logged in as {status.principal} from {keytab} into FILE:{path} (0600)",
            )
        ]
    try:
        jc = ensure_java_ccache(env)
    except KinitError as exc:
        return None, [Finding("kinit.copy-failed", "error", exc.problem, fix=exc.fix)]
    return str(jc.path), [Finding("kinit.copied-for-java", "ok", jc.message)]
