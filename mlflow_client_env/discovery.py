"""All discovery in one call: overrides in, frozen facts out.

This is the seam between the pure readers (``hadoop``, ``hadoop_conf``,
``java``, ``krb5``, ``classpath``) and the callers that apply the result
(``setup()``, the kernel launcher, the CLI).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .config import Overrides, Setting, resolve_overrides
from .environment import Environment, Options, compose, without_hadoop
from .errors import HadoopNotFoundError
from .hadoop import classpath
from .hadoop.conf import HadoopConf, discover_conf
from .hadoop.install import HadoopHints, HadoopInstall, discover_hadoop
from .java import JavaChoice, select_java
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
    hadoop = discover_hadoop(
        HadoopHints(
            parcel=_pair(overrides.parcel),
            hadoop_home=_pair(overrides.hadoop_home),
            parcels_root=_pair(overrides.parcels_root),
        ),
        env,
    )
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

    Overrides (``parcel``, ``parcels_root``, ``hadoop_home``, ``hadoop_conf_dir``,
    ``java_home``, ``tracking_uri``) come as a mapping or as keywords. With ``ask_server``,
    when no Hadoop is found, one bounded GET asks the tracking server where ``experiment``'s
    artifacts go: a server that stores them itself needs no Hadoop on this client
    (``environment.without_hadoop``).
    """
    env = os.environ if env is None else env
    ov = resolve_overrides({**(overrides or {}), **more_overrides}, env)
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
