"""Which FILE cache Java should read, decided before the environment is composed.

Shared by ``setup()`` and the kernel launcher. The JDK reads only FILE caches,
so a keytab login or a KEYRING/KCM/DIR ticket means work for ``kinit`` (gssapi,
ctypes: ~10 ms of imports). A user whose cache is already a FILE cache pays one
krb5.conf read here and nothing else, at every ``setup()`` and kernel start.

Check before acting: ``plan_java_ccache`` validates everything (keytab,
principal, target cache, private directory) and writes nothing; the caller
runs discovery, and only then ``JavaCcachePlan.carry_out`` logs in or copies.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..errors import KinitError, MlflowClientEnvError
from ..findings import Finding
from ..records import field, record, replace
from .profile import KerberosSetup, discover_kerberos

#: Set beside KRB5CCNAME when that is a FILE copy made for Java: the cache it was copied from.
COPIED_FROM_VAR = "MLFLOW_CLIENT_ENV_COPIED_FROM"


@record(eq=False)  # an instruction to carry_out, never compared
class JavaCcachePlan:
    """What ``carry_out`` will do: ``kind`` is ``none`` (the discovered cache is a FILE
    cache), ``login`` (keytab login into ``path``) or ``copy`` (a FILE copy of a
    KEYRING/KCM/DIR ticket at ``path``)."""

    kind: str
    path: str | None
    env: Mapping[str, str] = field(repr=False)
    keytab: str | os.PathLike[str] | None = None
    principal: str | None = None
    kerberos: KerberosSetup | None = field(default=None, repr=False)  # read once, by the plan

    @property
    def copied_from(self) -> str | None:
        """The cache a ``copy`` copies (exported beside KRB5CCNAME, so the next plan can
        copy it again); None for the other kinds."""
        return self.kerberos.ccache if self.kind == "copy" and self.kerberos else None

    def carry_out(self) -> tuple[str | None, list[Finding]]:
        """Do it: the FILE cache Java should use (None: the discovered one, or the copy
        failed), and findings. A keytab login that fails raises ``KinitError`` and leaves
        the cache as it was; a failed copy is an ``error`` finding."""
        if self.kind == "none":
            return None, []
        # here, not at the top: login pulls tempfile, shutil, hashlib and platform, which
        # setup() and the kernel launcher need only for a login or a copy
        from .login import ensure_java_ccache, keytab_login, require_file_ccache

        if self.kind == "login":
            assert self.keytab is not None and self.principal is not None and self.path
            status = keytab_login(self.keytab, self.principal, f"FILE:{self.path}", env=self.env)
            path = require_file_ccache(status.ccache)
            return str(path), [
                Finding(
                    "kerberos.keytab-login",
                    "ok",
                    f"logged in as {status.principal} from {self.keytab} into FILE:{path} (0600)",
                )
            ]
        try:
            jc = ensure_java_ccache(
                self.env, f"FILE:{self.path}" if self.path else None, self.kerberos
            )
        except KinitError as exc:
            return None, [Finding("kerberos.copy-failed", "error", exc.problem, fix=exc.fix)]
        return str(jc.path), [Finding("kerberos.copied-for-java", "ok", jc.message)]


def plan_java_ccache(
    env: Mapping[str, str],
    keytab: str | os.PathLike[str] | None = None,
    principal: str | None = None,
    kerberos: KerberosSetup | None = None,
    *,
    for_java: bool = True,
) -> JavaCcachePlan:
    """Decide, without writing anything, which FILE cache Java will use.

    ``kerberos`` is the caller's ``discover_kerberos(env)``, so it runs once per ``setup()``
    or kernel start (None: discovered here). ``for_java=False`` (``hdfs_client=native``:
    no JVM): only a keytab login is planned, never a copy; when ``KRB5CCNAME`` is the copy
    an earlier ``setup()`` made for Java, the plan (``none``) carries the cache it was
    copied from as ``kerberos``, so the client uses that cache itself.

    Raises ``KeytabError`` (also for a keytab without a principal or the reverse, and
    ``PrincipalError`` for a malformed principal), ``CcacheNameError`` for a
    ``KRB5CCNAME`` libkrb5 would refuse, ``CacheTargetError``/``PrivateDirError``
    for a target that is not the user's to write.
    """
    if kerberos is None:
        kerberos = discover_kerberos(env)
    # login (keytabs, locks, hashing) is imported only when a copy or a login is planned: a
    # FILE cache, the common case, is on the cold path of every setup() and kernel start
    source = env.get(COPIED_FROM_VAR)
    if keytab is None and principal is None and source and kerberos.ccache_type == "FILE":
        from .login import private_ccache, require_file_ccache

        # KRB5CCNAME is the FILE copy an earlier setup() made for Java: copy its source again,
        # or a new kinit into the KEYRING/KCM cache would never reach Java (nor this report)
        try:
            copy: str | None = str(require_file_ccache(private_ccache(env=env)))
        except MlflowClientEnvError:
            if for_java:
                raise
            copy = None  # no private folder of ours, so no copy of ours to go back from
        here = kerberos.ccache_path
        if copy and here is not None and os.path.realpath(here) == os.path.realpath(copy):
            origin = f"{COPIED_FROM_VAR} (what the FILE copy for Java was made from)"
            again = replace(kerberos, ccache=source, ccache_source=origin)
            if not for_java:  # the source itself: libgssapi reads KEYRING/KCM caches
                return JavaCcachePlan("none", None, env, kerberos=again)
            return JavaCcachePlan("copy", copy, env, kerberos=again)
    if keytab is None and principal is None and (kerberos.java_readable or not for_java):
        return JavaCcachePlan("none", None, env)
    from .login import check_login_inputs, private_ccache, require_file_ccache  # (see above)

    if keytab is not None or principal is not None:
        inputs = check_login_inputs(keytab, principal, env=env, kerberos=kerberos)
        return JavaCcachePlan(
            "login", str(inputs.path), env, keytab, inputs.principal, kerberos=kerberos
        )
    target = str(require_file_ccache(private_ccache(env=env)))
    return JavaCcachePlan("copy", target, env, kerberos=kerberos)
