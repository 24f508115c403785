"""All discovery in one call: overrides in, frozen facts out.

This is the seam between the pure readers (``hadoop``, ``hadoop_conf``,
``java``, ``krb5``, ``classpath``) and the callers that apply the result
(``setup()``, the kernel launcher, the CLI).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .artifacts.mode import HdfsClientChoice, checked_mode, hdfs_client_in_force
from .config import Overrides, Setting, resolve_overrides
from .environment import Environment, Options, compose, compose_native, without_hadoop
from .errors import HadoopAbsentError, HadoopNotFoundError
from .findings import Finding
from .hadoop import classpath
from .hadoop.conf import HadoopConf, discover_conf
from .hadoop.install import HadoopHints, HadoopInstall, discover_hadoop
from .java import JavaChoice, select_java
from .kerberos.java_cache import JavaCcachePlan, plan_java_ccache
from .kerberos.profile import KerberosSetup, discover_kerberos
from .records import record, replace
from .userdirs import cache_dir


@record
class Discovery:
    overrides: Overrides
    hadoop: HadoopInstall
    conf: HadoopConf | None
    java: JavaChoice
    kerberos: KerberosSetup
    jars: tuple[str, ...]
    jars_source: str


def _pair(s: Setting | None) -> tuple[str, str] | None:
    return s.pair() if s else None


def choose_java(overrides: Overrides, env: Mapping[str, str]) -> JavaChoice:
    """The JDK for libhdfs: the ``java_home`` setting, else the first compatible one found."""
    if overrides.java_home:
        return select_java(overrides.java_home.value, env, source=overrides.java_home.source)
    return select_java(None, env)


@record
class NativeDiscovery:
    """What a client that asked for hdfs-native needs found: the client configuration and
    the Kerberos setup. ``hadoop`` is the installation when one was found (only its default
    configuration directory is used); ``choice`` is what the repository will decide."""

    overrides: Overrides
    hadoop: HadoopInstall | None
    conf: HadoopConf | None
    kerberos: KerberosSetup
    choice: HdfsClientChoice


def native_requested(overrides: Overrides) -> bool:
    """``hdfs_client=native`` was asked for (argument, environment, config files): the
    environment is then composed for hdfs-native alone, with no JVM variable.

    ``auto`` keeps the JVM variables: it takes the JVM path for any URI whose configuration
    hdfs-native cannot serve, and code that uses pyarrow's HDFS itself needs them too."""
    setting = overrides.hdfs_client
    return setting is not None and checked_mode(*setting.pair()) == "native"


def _hints(overrides: Overrides) -> HadoopHints:
    return HadoopHints(
        parcel=_pair(overrides.parcel),
        hadoop_home=_pair(overrides.hadoop_home),
        parcels_root=_pair(overrides.parcels_root),
    )


def discover_native(
    overrides: Overrides, env: Mapping[str, str], kerberos: KerberosSetup | None = None
) -> NativeDiscovery:
    """Discovery for ``hdfs_client=native`` (pure): no Java, and no Hadoop installation
    needed. A Hadoop path that was given and is not one is still an error; hdfs-native
    missing is :class:`~mlflow_client_env.errors.HdfsClientSettingError`."""
    try:
        hadoop: HadoopInstall | None = discover_hadoop(_hints(overrides), env)
    except HadoopAbsentError:  # looked everywhere, found none: fine, none is needed
        hadoop = None
    default = hadoop.default_conf_dir if hadoop is not None else None
    conf = discover_conf(_pair(overrides.hadoop_conf_dir), env, default)
    if kerberos is None:
        kerberos = discover_kerberos(env)
    composed = {**env, **({"HADOOP_CONF_DIR": str(conf.conf_dir)} if conf else {})}
    assert overrides.hdfs_client is not None  # native_requested() said so
    choice = hdfs_client_in_force(
        env=composed, requested=overrides.hdfs_client.pair(), import_native=False, conf=conf
    )
    return NativeDiscovery(overrides, hadoop, conf, kerberos, choice)


def native_environment_of(
    d: NativeDiscovery, env: Mapping[str, str], login_ccache: str | None = None
) -> Environment:
    """``compose_native`` applied to one native discovery."""
    options = replace(client_options(d.overrides), tracking_uri=_pair(d.overrides.tracking_uri))
    return compose_native(
        d.conf, d.kerberos, env, d.choice, options, hadoop=d.hadoop, login_ccache=login_ccache
    )


def discover(
    overrides: Overrides,
    env: Mapping[str, str] | None = None,
    *,
    exact_classpath: bool = False,
    exact_classpath_timeout: float | None = None,
    kerberos: KerberosSetup | None = None,
) -> Discovery:
    """Everything there is to find, from the overrides and the environment (pure).

    ``kerberos``: the caller's ``discover_kerberos(env)`` when it needed it first (setup()
    and the launcher plan the Java cache before discovery), so it runs once.
    """
    env = os.environ if env is None else env
    hadoop = discover_hadoop(_hints(overrides), env)
    conf = discover_conf(_pair(overrides.hadoop_conf_dir), env, hadoop.default_conf_dir)
    java = choose_java(overrides, env)
    if kerberos is None:
        kerberos = discover_kerberos(env)
    if exact_classpath:
        entries = classpath.exact_classpath(
            hadoop,
            conf.conf_dir if conf else None,
            java.install.home,
            cache_dir(env),
            timeout=exact_classpath_timeout or classpath.EXACT_TIMEOUT,
        )
        conf_str = str(conf.conf_dir) if conf else None
        jars = tuple(e for e in entries if e != conf_str and not e.endswith("/"))
        source = f"{hadoop.bin_dir}/hadoop classpath --glob (cached)"
    else:
        jars = classpath.list_jars(hadoop)
        source = "the installation's classpath folders: " + ", ".join(
            str(d) for d in hadoop.jar_dirs
        )
    return Discovery(overrides, hadoop, conf, java, kerberos, jars, source)


def build_environment(
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, str | os.PathLike[str] | None] | None = None,
    /,
    *,
    exact_classpath: bool = False,
    exact_classpath_timeout: float | None = None,
    legacy_ld_library_path: bool = False,
    java_ccache: str | None = None,
    ask_server: bool = False,
    experiment: str | None = None,
    **more_overrides: str | os.PathLike[str] | None,
) -> Environment:
    """Discover everything and compose the environment (no side effects).

    Overrides, the discovery settings of ``config.SETTINGS`` (as ``setup()`` takes them),
    come as a mapping or as keywords. With ``ask_server``,
    when no Hadoop is found, one bounded GET asks the tracking server where ``experiment``'s
    artifacts go: a server that stores them itself needs no Hadoop on this client
    (``environment.without_hadoop``).
    """
    env = os.environ if env is None else env
    ov = resolve_overrides({**(overrides or {}), **more_overrides}, env)
    if native_requested(ov):
        return native_environment_of(discover_native(ov, env), env)
    try:
        d = discover(
            ov,
            env,
            exact_classpath=exact_classpath,
            exact_classpath_timeout=exact_classpath_timeout,
        )
    except HadoopNotFoundError as missing:
        if not ask_server:
            raise
        # here, not at the top: tracking pulls ssl and http, and setup() imports this module
        from .tracking import confirm_no_hadoop_needed

        store, uri = confirm_no_hadoop_needed(missing, ov, env, experiment)
        return without_hadoop(
            missing.problem, uri, store, discover_kerberos(env), options=client_options(ov)
        )
    return environment_of(
        d, env, legacy_ld_library_path=legacy_ld_library_path, java_ccache=java_ccache
    )


def client_options(ov: Overrides) -> Options:
    """The settings a client needs with or without Hadoop: its tracking server's
    authentication and principal, and the HDFS client."""
    return Options(
        tracking_auth=_pair(ov.tracking_auth),
        tracking_spn=_pair(ov.tracking_spn),
        hdfs_client=_pair(ov.hdfs_client),
    )


def environment_of(
    d: Discovery,
    env: Mapping[str, str],
    *,
    legacy_ld_library_path: bool = False,
    java_ccache: str | None = None,
    copied_from: str | None = None,
) -> Environment:
    """``compose`` applied to one discovery, with the options taken from its overrides."""
    return compose(
        d.hadoop, d.conf, d.java, d.kerberos, d.jars, env,
        replace(
            client_options(d.overrides),
            legacy_ld_library_path=legacy_ld_library_path,
            tracking_uri=_pair(d.overrides.tracking_uri),
            java_ccache=java_ccache,
            copied_from=copied_from if java_ccache else None,
        ),
    )  # fmt: skip


@record(eq=False)  # one call's result, never compared
class Resolved:
    """What :func:`resolve` composed, with the findings of the login or copy it made."""

    environment: Environment
    findings: tuple[Finding, ...]
    #: the FILE cache made now (a keytab login, or a copy of a KEYRING/KCM ticket for Java)
    made_ccache: str | None


def plan_ticket(
    overrides: Overrides,
    env: Mapping[str, str],
    keytab: str | os.PathLike[str] | None,
    principal: str | None,
    kerberos: KerberosSetup,
) -> JavaCcachePlan:
    """The ticket work :func:`resolve` will carry out, planned and checked (nothing written):
    a keytab login, or on the JVM path a FILE copy of a KEYRING/KCM ticket for Java (never
    with ``hdfs_client=native``: hdfs-native reads such a cache as it is)."""
    return plan_java_ccache(
        env, keytab, principal, kerberos, for_java=not native_requested(overrides)
    )


def resolve(
    overrides: Overrides,
    env: Mapping[str, str],
    plan: JavaCcachePlan,
    kerberos: KerberosSetup,
    *,
    experiment: str | None = None,
    exact_classpath: bool = False,
    exact_classpath_timeout: float | None = None,
) -> Resolved:
    """The sequence ``setup()`` and the kernel launcher share: discover, then carry out
    ``plan`` (:func:`plan_ticket`'s: the one side effect, a keytab login or a FILE copy of a
    KEYRING/KCM ticket for Java), then compose. Nothing is written when discovery fails.

    Three kinds of client: ``hdfs_client=native`` (no JVM: a login is carried out, never a
    copy for Java); no Hadoop found, which is fine when the tracking server stores the
    artifacts itself (one bounded GET asks it; login only); and the JVM path.
    """
    if native_requested(overrides):  # plan_ticket() planned no copy for Java
        native = discover_native(overrides, env, plan.kerberos or kerberos)
        made, found = plan.carry_out() if plan.kind == "login" else (None, [])
        return Resolved(native_environment_of(native, env, made), tuple(found), made)
    try:
        d = discover(
            overrides,
            env,
            exact_classpath=exact_classpath,
            exact_classpath_timeout=exact_classpath_timeout,
            kerberos=kerberos,
        )
    except HadoopNotFoundError as missing:  # fine when the server stores the artifacts (H4)
        from .tracking import confirm_no_hadoop_needed  # here: tracking pulls ssl and http

        store, uri = confirm_no_hadoop_needed(missing, overrides, env, experiment)
        made, found = plan.carry_out() if plan.kind == "login" else (None, [])
        resolved = without_hadoop(
            missing.problem, uri, store, kerberos, made, client_options(overrides)
        )
        return Resolved(resolved, tuple(found), made)
    made, found = plan.carry_out()
    resolved = environment_of(d, env, java_ccache=made, copied_from=plan.copied_from)
    return Resolved(resolved, tuple(found), made)
