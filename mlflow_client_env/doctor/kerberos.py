"""The Kerberos check: the ticket, the cache Java will read, the krb5.conf Java will read.

Python (MIT krb5) and the JVM can disagree on the cache (catalog D3), the krb5.conf
file and how it is read (D5): the cache and realm on libkrb5's side are libkrb5's own
answers (``discover_kerberos``), Java's side is predicted with the JDK's rules
(``java_view``: no ``KRB5_CONFIG``, no ``default_ccache_name``, ``include`` lines only
before the first section). This check compares them as a new process would see them.

A client that needs no Hadoop (its tracking server keeps the artifacts) starts no JVM:
it gets libkrb5's side and the ticket, which the tracking server may ask for, and Java's
side is reported as skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from ..errors import MlflowClientEnvError
from ..findings import Finding
from ..hadoop import with_tokens
from ..hadoop.conf import HadoopConf
from ..kerberos.profile import (
    cache_not_java_readable,
    discover_kerberos,
    java_disagreement,
    java_view,
)
from ..kerberos.ticket import status_finding, ticket_status
from .checks import STALE_FIX, simple_refusal, simple_refusal_cause
from .context import Context
from .kinit_on_path import kinit_findings


def java_krb5_conf(libhdfs_opts: str, java_home: Path) -> tuple[Path, str]:
    """The krb5.conf the JVM will read, and why: the -D option, the JDK's own, /etc/krb5.conf."""
    for token in libhdfs_opts.split():
        if token.startswith("-Djava.security.krb5.conf="):
            return Path(token.split("=", 1)[1]), "-Djava.security.krb5.conf in LIBHDFS_OPTS"
    for rel in ("conf/security/krb5.conf", "lib/security/krb5.conf", "jre/lib/security/krb5.conf"):
        if (java_home / rel).is_file():
            return java_home / rel, f"the JDK's own {rel}"
    return Path("/etc/krb5.conf"), "Java's default"


def ticket_finding(ctx: Context, conf_dir: Path | None) -> Finding:
    """The ticket's state (read through gssapi and the cache file, not klist)."""
    return status_finding(ticket_status(None, env=ctx.env, hadoop_conf_dir=conf_dir))


#: what the check leaves out when this client needs no Hadoop: only a JVM would read them
JAVA_SIDE = "Java's side (the krb5.conf and cache the JVM would read, LIBHDFS_OPTS)"


def _kinit(ctx: Context) -> list[Finding]:
    """The kinit on PATH, when it is not the system's (D4); our own environment only."""
    if ctx.foreign_reason() is not None:
        return [
            Finding(
                "kerberos.kinit-skipped",
                "skip",
                "the kinit on the process's PATH was not checked: that means running the klist "
                "beside it, and another user's environment is read, never run",
            )
        ]

    try:
        system_ccache: str | None = discover_kerberos(ctx.env).ccache
    except MlflowClientEnvError:  # a krb5.conf that cannot be read: reported below
        system_ccache = None
    return kinit_findings(ctx.env, system_ccache)


def check_kerberos(ctx: Context) -> Iterator[Finding]:
    kinit = _kinit(ctx)  # whatever else is found: first when a precondition may stop the check
    # the discovery this client is set up with (hdfs_client=native: the native one)
    if isinstance(ctx.client_discovery(), MlflowClientEnvError):
        yield from kinit
        kinit = []
    if isinstance(ctx.client_discovery(), MlflowClientEnvError) and ctx.not_needed() is not None:
        # no Hadoop, so no JVM: the ticket still matters, the tracking server may ask for it
        yield from _without_hadoop(ctx)
        ctx.hadoop_needed(JAVA_SIDE)  # raises: the runner says what was skipped, and why
    d = ctx.client()
    if d.conf is not None and not d.conf.kerberos:
        refused = simple_refusal(ctx, d.conf)  # the client-config check's probe, shared
        if refused is None:
            yield Finding(
                "kerberos.not-used",
                "ok",
                f"the cluster uses {d.conf.authentication} authentication; no ticket needed",
            )
            yield from kinit
            return
        yield _simple_refused(d.conf, *refused)
        yield ticket_finding(ctx, d.conf.conf_dir)  # what a fixed configuration will need
        yield from kinit
        return
    out: list[Finding] = []
    k = d.kerberos
    # the headline; in a YARN container, tokens may stand in for the ticket
    out += with_tokens([ticket_finding(ctx, d.conf.conf_dir if d.conf else None)], ctx.env, d.conf)
    if not k.java_readable and ctx.native_only() is None:  # hdfs-native reads any cache type
        out.append(cache_not_java_readable(k))
    user_only = user_without_ticket_cache(ctx.env)
    if user_only is not None:
        out.append(user_only)
    out += kinit
    yield from out
    out = []
    ctx.jvm_needed(JAVA_SIDE)  # hdfs_client=native: Java's side is not needed, and why
    env = ctx.composed()
    py_conf = k.krb5_conf
    inherited_opts = ctx.env.get("LIBHDFS_OPTS", "")
    install = ctx.found().java.install
    inherited_java, why_inherited = java_krb5_conf(inherited_opts, install.home)
    ours_java, why_ours = java_krb5_conf(env["LIBHDFS_OPTS"], install.home)
    inherited = java_view(inherited_java, why_inherited, install.major, ctx.env, inherited_opts)
    ours = java_view(
        ours_java, why_ours, install.major, {**ctx.env, **env.as_dict()}, env["LIBHDFS_OPTS"]
    )
    if py_conf and inherited_java.resolve() != py_conf.resolve():
        out.append(
            Finding(
                "kerberos.krb5-conf-differs",
                "warn",
                f"this process's JVM would read {inherited_java} ({why_inherited}) while Python reads "
                f"{py_conf} ({k.krb5_conf_source}) (catalog D5)",
                (
                    f"Java realm: {inherited.realm or inherited.problem or 'none'}",
                    f"Python realm: {k.default_realm} (libkrb5)",
                ),
                fix="add -Djava.security.krb5.conf to LIBHDFS_OPTS (setup() and 'env' do)",
            )
        )
    if py_conf and ours_java.resolve() == py_conf.resolve():
        out.append(
            Finding(
                "kerberos.krb5-conf-agrees",
                "ok",
                f"Java and Python both read {py_conf} ({why_ours})",
            )
        )
    out.append(java_disagreement(k, ours, inherited))
    yield from out


def user_without_ticket_cache(env: Mapping[str, str]) -> Finding | None:
    """Catalog D2: ``MLFLOW_KERBEROS_USER`` without ``MLFLOW_KERBEROS_TICKET_CACHE`` on a
    Kerberized cluster. MLflow's HDFS repository then passes pyarrow ``user=`` and no
    ``kerb_ticket``; libhdfs makes a SIMPLE "remote user" of that name, which the NameNode
    refuses ("Client cannot authenticate via:[TOKEN, KERBEROS]"), whatever ticket the user
    holds. None when the variable is unset, or the cache is named too."""
    user = env.get("MLFLOW_KERBEROS_USER")
    if not user or env.get("MLFLOW_KERBEROS_TICKET_CACHE"):
        return None
    return Finding(
        "kerberos.user-without-ticket-cache",
        "error",
        f"MLFLOW_KERBEROS_USER={user} is set without MLFLOW_KERBEROS_TICKET_CACHE: MLflow's "
        "HDFS repository then connects as that user name with no ticket (a SIMPLE login), "
        "which this Kerberized cluster refuses: 'Client cannot authenticate via:[TOKEN, "
        "KERBEROS]', even with a valid ticket (catalog D2)",
        (
            f"MLFLOW_KERBEROS_USER={user}",
            "MLFLOW_KERBEROS_TICKET_CACHE is not set",
        ),
        fix="unset MLFLOW_KERBEROS_USER, or let setup() or 'eval \"$(mlflow-client-env env)\"' "
        "export MLFLOW_KERBEROS_TICKET_CACHE (the FILE cache holding your ticket)",
    )


def _simple_refused(conf: HadoopConf, host: str, port: int, refusal: str) -> Finding:
    """The client configuration says SIMPLE, so nothing would use a ticket, but the
    cluster's NameNode refuses SIMPLE: Kerberos is needed after all, and the configuration
    is what is wrong (the client-config check's finding says how)."""
    code, entry = simple_refusal_cause(conf)
    return Finding(
        "kerberos.simple-refused",
        "error",
        f"{conf.conf_dir} says hadoop.security.authentication={conf.authentication}, so the "
        f"client would use no ticket, but the NameNode {host}:{port} refuses SIMPLE "
        f"authentication: the cluster uses Kerberos (see {code}, catalog {entry})",
        (f"the NameNode {host}:{port} answered a SIMPLE handshake: {refusal}",),
        fix=f"fix the client configuration first ({code}: {STALE_FIX}); then HDFS needs a "
        "Kerberos ticket (kinit)",
    )


def _without_hadoop(ctx: Context) -> Iterator[Finding]:
    """libkrb5's krb5.conf, realm and cache, and the ticket, for a client without Hadoop.

    A krb5.conf libkrb5 refuses is an error, as it is for ``setup()`` and ``env``. A
    ticket that is missing or expired is a warning: nothing here needs it but the tracking
    server, which has just answered the doctor without Kerberos.
    """
    try:
        k = discover_kerberos(ctx.env)
    except MlflowClientEnvError as exc:
        yield Finding("kerberos.config-error", "error", exc.problem, fix=exc.fix)
        return
    yield Finding(
        "kerberos.krb5-conf",
        "ok",
        f"libkrb5 reads {k.krb5_conf or 'no krb5.conf'} ({k.krb5_conf_source}), default realm "
        f"{k.default_realm or 'none'}, credential cache {k.ccache}",
        k.evidence,
    )
    ticket = ticket_finding(ctx, None)
    if ticket.status == "error":
        ticket = Finding(
            ticket.code,
            "warn",
            f"{ticket.summary}; this client uses no Hadoop, and the tracking server answered "
            "without Kerberos: a ticket is needed only if it asks for one",
            ticket.evidence,
            ticket.fix,
        )
    yield ticket
