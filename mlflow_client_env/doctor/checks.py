"""The local checks: versions, installation, Java, client config, CLASSPATH,
native libraries and the process's start-time environment.

Each check takes the Context and returns findings; none raises for a broken
setup (that is what it reports). Probes that could crash or hang (loading
libjvm/libhdfs) run in a subprocess with a timeout.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..environment import hadoop_not_needed
from ..errors import (
    HadoopAbsentError,
    HadoopNotFoundError,
    HdfsClientSettingError,
    JavaNotFoundError,
    MlflowClientEnvError,
    setting,
)
from ..findings import Finding
from ..hadoop.classpath import lint, lint_error_reporting
from ..hadoop.conf import FAILOVER_PROVIDER, HadoopConf, hdfs_authority, is_logical_name
from ..hadoop.install import HadoopInstall
from ..java import inspect_java_home, normalise_java_home
from ..jvm import preloaded
from ..pathlist import appended
from ..redact import redact
from ..tracking import experiment_query, needs_hadoop
from . import native
from .context import Context, ForeignEnvironment, Unmet
from .remote import proxied_location, server_info
from .versions import check_installed


def check_versions(ctx: Context) -> list[Finding]:
    def not_needed() -> str | None:  # pyarrow serves HDFS on the JVM path only
        why = ctx.jvm_not_needed()
        return why.problem if why else None

    return check_installed(not_needed)


def check_installation(ctx: Context) -> list[Finding]:
    if ctx.native_only() is not None:
        # the native discovery's errors are reported here, as the JVM path's are below (a
        # path given that is not Hadoop, an unreadable client configuration or krb5.conf);
        # hdfs-native itself missing is the hdfs-native check's error
        n = ctx.native_discovery()
        if isinstance(n, MlflowClientEnvError) and not isinstance(n, HdfsClientSettingError):
            return [Finding("installation.error", "error", n.problem, fix=n.fix)]
        found = None if isinstance(n, MlflowClientEnvError) else n.hadoop
        ctx.jvm_needed(
            "the Hadoop installation (its jars, libhdfs.so"
            + (
                f"; the one found, {found.hadoop_home}, only supplies its default client "
                "configuration directory)"
                if found is not None
                else ")"
            )
        )  # raises: not needed, and why
    d = ctx.discovery()
    if isinstance(d, JavaNotFoundError):  # the java check owns it: one error, where it belongs
        raise Unmet("java discovery", d)
    if isinstance(d, HadoopNotFoundError):
        location, uri = proxied_location(ctx), ctx.tracking_uri()
        if location and uri and isinstance(d, HadoopAbsentError):  # nothing needs Hadoop (H4)
            label = experiment_query(ctx.experiment, ctx.env)[1]  # as env and setup() name it
            return [hadoop_not_needed(d.problem, uri, location, label)]
        problem, fix = _hadoop_missing(ctx, d)
        return [Finding("installation.error", "error", problem, fix=fix)]
    if isinstance(d, MlflowClientEnvError):
        return [Finding("installation.error", "error", d.problem, fix=d.fix)]
    h = d.hadoop
    name = f"{h.parcel.name} {h.parcel.version}" if h.parcel else h.kind
    out = [
        Finding(
            "installation.found",
            "ok",
            f"{name} (Hadoop {h.version or '?'}), HADOOP_HOME={h.hadoop_home}",
            h.evidence,
        )
    ]
    out += [Finding("installation.warning", "warn", w) for w in h.warnings]
    if h.libhdfs is None:
        out.append(
            Finding(
                "installation.no-libhdfs",
                "error",
                f"no libhdfs.so in {h.root} (looked in lib64 and lib/native)",
                fix="install the Hadoop libhdfs package; parcels carry it in P/lib64",
            )
        )
    if not h.jar_dirs:
        out.append(
            Finding(
                "installation.no-jars",
                "error",
                f"no jar folders under {h.root}",
                fix=f"point {setting('parcel')} or {setting('hadoop_home')} at a full Hadoop "
                "client",
            )
        )
    return out


def _hadoop_missing(ctx: Context, missing: HadoopNotFoundError) -> tuple[str, str]:
    """The installation error for no Hadoop, with why the tracking server does not make it
    unnecessary and that one with ``--serve-artifacts`` would (its clients need none)."""
    serving = "mlflow server --serve-artifacts"
    if not isinstance(missing, HadoopAbsentError):  # a path given is not Hadoop
        return missing.problem, (
            f"{missing.fix}; or, when the tracking server stores the artifacts itself "
            f"({serving}), leave the Hadoop settings unset: its clients need no Hadoop"
        )
    info = server_info(ctx)
    if info is not None and info.artifact_location and needs_hadoop(info.artifact_location):
        label = experiment_query(ctx.experiment, ctx.env)[1]  # as env and setup() name it
        return (
            f"{missing.problem}; experiment {label}'s artifacts are at {info.artifact_location}, "
            "which MLflow's client writes through Hadoop",
            f"{missing.fix}; or have the tracking server store the artifacts itself "
            f"({serving}, artifacts at mlflow-artifacts:/): its clients need no Hadoop",
        )
    if info is not None and info.error:
        return missing.problem, (
            f"{missing.fix}. No Hadoop is needed when the tracking server stores the artifacts "
            f"itself ({serving}), but that could not be checked: {redact(info.error)}"
        )
    return missing.problem, (
        f"{missing.fix}; or use a tracking server that stores the artifacts itself "
        f"({serving}) and set its URI ({setting('tracking_uri')}): its clients need no Hadoop"
    )


def _not_needed_here(ctx: Context, finding: Finding) -> Finding:
    """``finding``, an error about Java, as a warning when this client needs no Hadoop (then
    nothing here runs Java: setup() and env succeed without it)."""
    why = ctx.not_needed() if finding.status == "error" else None
    if why is None:
        return finding
    return Finding(
        finding.code,
        "warn",
        f"{finding.summary}; this client needs no Hadoop, so no Java: {why.problem}",
        finding.evidence,
        f"only if this client will use HDFS: {finding.fix}" if finding.fix else None,
    )


def check_java(ctx: Context) -> Iterator[Finding]:
    ctx.jvm_needed("Java")
    out: list[Finding] = []
    chosen = ctx.java()  # memoised: the installation check has usually run discovery
    # java.home-passed-over, made where discovery chose another Java than this JAVA_HOME; it
    # names that JAVA_HOME's version and the Java chosen, so it stands for the inherited-* ones
    choice = () if isinstance(chosen, MlflowClientEnvError) else chosen.findings
    passed_over = [f for f in choice if f.code == "java.home-passed-over"]
    inherited = ctx.env.get("JAVA_HOME")
    if inherited and not passed_over:
        root = normalise_java_home(inherited)
        inst = inspect_java_home(inherited, "JAVA_HOME")
        if inst is None:
            out.append(
                Finding(
                    "java.inherited-no-libjvm",
                    "warn",
                    f"this process's JAVA_HOME={inherited} has no libjvm.so under it: "
                    "pyarrow cannot load the JVM (catalog A2)",
                    fix="use the JAVA_HOME from 'mlflow-client-env env'",
                )
            )
        elif str(root) != inherited.rstrip("/"):
            out.append(
                Finding(
                    "java.inherited-not-root",
                    "warn",
                    f"JAVA_HOME={inherited} is not a Java root; pyarrow expects {root} (F1)",
                    fix=f"export JAVA_HOME={root}",
                )
            )
        elif not inst.hadoop_compatible:
            out.append(
                Finding(
                    "java.inherited-incompatible",
                    "warn",
                    f"this process's JAVA_HOME is Java {inst.major}, which Hadoop cannot "
                    "run on ('getSubject is not supported')",
                    fix="use the JAVA_HOME from 'mlflow-client-env env'",
                )
            )
    yield from (*out, *choice)  # the choice's own findings (passed over, conda, ...)
    out = []
    if isinstance(chosen, JavaNotFoundError):  # no usable Java: this check's own error
        yield _not_needed_here(
            ctx, Finding("java.not-found", "error", chosen.problem, fix=chosen.fix)
        )
        return
    if isinstance(chosen, MlflowClientEnvError):
        raise Unmet("discovery", chosen)
    j = chosen.install
    if not j.hadoop_compatible:
        out.append(
            _not_needed_here(
                ctx,
                Finding(
                    "java.incompatible",
                    "error",
                    f"Java {j.major} at {j.home}: Hadoop up to 3.4 fails on Java 24+ "
                    "with 'getSubject is not supported'",
                    j.evidence,
                    fix=f"install Java 8, 11 or 17 and choose it with {setting('java_home')}",
                ),
            )
        )
    else:
        out.append(
            Finding(
                "java.ok",
                "ok",
                f"Java {j.version or '?'} ({j.layout}) at {j.home}, libjvm.so found",
                (*j.evidence, chosen.reason),
            )
        )
    yield from out


#: Keys a client configuration has only when the cluster's servers use Kerberos.
KERBEROS_SERVER_KEYS = (
    "dfs.namenode.kerberos.principal",
    "dfs.datanode.kerberos.principal",
    "dfs.secondary.namenode.kerberos.principal",
    "yarn.resourcemanager.principal",
)


#: What to do about a stale client configuration (catalog H3).
STALE_FIX = (
    "deploy the cluster's current client configuration to this host (Cloudera Manager: a "
    "Gateway role, then Deploy Client Configuration), or point "
    f"{setting('hadoop_conf_dir')} at a current copy"
)


def check_client_config(ctx: Context) -> list[Finding]:
    ctx.hadoop_needed()  # hdfs-native reads the client configuration too: no jvm_needed()
    conf = ctx.client().conf
    if conf is None:
        return [
            Finding(
                "client-config.missing",
                "error",
                "no Hadoop client configuration (HADOOP_CONF_DIR, /etc/hadoop/conf)",
                fix=f"point {setting('hadoop_conf_dir')} at a copy of it, or deploy the client "
                "configuration (Cloudera Manager: add a Gateway role to this host)",
            )
        ]
    out = []
    fs = conf.default_fs
    if not fs:
        out.append(
            Finding(
                "client-config.no-default-fs",
                "error",
                f"fs.defaultFS is not set in {conf.conf_dir}",
                fix="re-deploy the client configuration",
            )
        )
    else:
        unknown = _unknown_nameservice(conf, fs, f"fs.defaultFS={fs}")
        if unknown is not None:
            out.append(unknown)
    artifacts = _artifact_location(ctx)
    if artifacts is not None:
        out += _artifacts_elsewhere(conf, *artifacts)
    older = _older_than_parcel(ctx, conf)
    if older is not None:
        out.append(older)
    auth = conf.authentication
    secure = [k for k in KERBEROS_SERVER_KEYS if conf.get(k)]
    if not conf.kerberos and secure:
        out.append(
            Finding(
                "client-config.simple-against-kerberos",
                "error",
                f"{conf.conf_dir} says hadoop.security.authentication={auth}, but names the "
                f"Kerberos principals of the cluster's servers ({', '.join(secure)}): the client "
                "will offer SIMPLE authentication, which a Kerberized NameNode refuses "
                "(catalog B5; libhdfs reports only 'Permission denied' for most calls)",
                conf.evidence,
                fix="re-deploy the client configuration, or set "
                "hadoop.security.authentication=kerberos in its core-site.xml",
            )
        )
    elif not conf.kerberos and fs:
        refused = _simple_refused(ctx, conf)
        if refused is not None:
            out.append(refused)
    out.append(
        Finding(
            "client-config.ok",
            "ok" if fs else "skip",
            f"{conf.conf_dir}: fs.defaultFS={fs or 'unset'}, authentication={auth}"
            + (f", nameservices={','.join(conf.nameservices)}" if conf.nameservices else ""),
            conf.evidence,
        )
    )
    return out


def _unknown_nameservice(
    conf: HadoopConf, uri: str, label: str, code: str = "client-config.unknown-nameservice"
) -> Finding | None:
    """Catalog B4: ``uri`` names an HA nameservice (one label, no port) this configuration
    does not define, so Hadoop's client looks it up in DNS (UnknownHostException) or finds
    no NameNode for it; None when it does not."""
    authority = hdfs_authority(uri)
    if authority is None or authority[1] is not None or not is_logical_name(authority[0]):
        return None
    ns = authority[0]
    gaps = conf.nameservice_gaps(ns)
    if not gaps:
        return None
    fails = (
        f"UnknownHostException: {ns}"
        if not conf.get(FAILOVER_PROVIDER + ns)
        else f"'Could not find any configured addresses for URI hdfs://{ns}'"
    )
    # listed in dfs.nameservices but defined in part fails just the same (tested): an error
    return Finding(
        code,
        "error",
        f"{label} names the nameservice '{ns}', which {conf.conf_dir} does not define "
        f"({'; '.join(gaps)}): the client will fail with {fails} (catalog B4)",
        conf.evidence,
        fix=f"use the client configuration of the cluster that serves '{ns}' (its "
        f"hdfs-site.xml defines the nameservice): {STALE_FIX}; if '{ns}' is a host, "
        "write its full name",
    )


def _artifact_location(ctx: Context) -> tuple[str, str] | None:
    """(label, URI) of the experiment's artifact location on HDFS, as the tracking server
    said it (shared with the tracking-server check); None when there is none."""
    info = server_info(ctx)
    loc = info.artifact_location if info else None
    if info is None or not loc or hdfs_authority(loc) is None:
        return None
    return f"the artifact location {loc} of experiment {info.experiment!r}", loc


def _artifacts_elsewhere(conf: HadoopConf, label: str, uri: str) -> list[Finding]:
    """Catalog H3 (and B4): the artifact URI names a cluster this configuration does not
    describe: a nameservice it does not define (an error: the upload fails), or a NameNode
    that is none of its own (a warning: it may work, or be a cluster moved since)."""
    unknown = _unknown_nameservice(conf, uri, label, "client-config.artifact-nameservice-unknown")
    if unknown is not None:
        return [
            Finding(
                unknown.code,
                unknown.status,
                unknown.summary.replace("(catalog B4)", "(catalog B4; a stale configuration: H3)"),
                unknown.evidence,
                unknown.fix,
            )
        ]
    authority = hdfs_authority(uri)
    fs = conf.default_fs or ""
    if authority is None or hdfs_authority(fs) is None:
        return []
    host, port = authority
    if port is None and is_logical_name(host):
        return []  # a nameservice the configuration defines: the client reaches it
    known = conf.known_namenodes()
    here = conf.namenode_addresses(uri)
    if any((h.lower(), p) in known for h, p in here):
        return []  # one of this cluster's NameNodes, addressed directly
    return [
        Finding(
            "client-config.artifacts-elsewhere",
            "warn",
            f"{label} is on {host}{f':{port}' if port else ''}, which is not the cluster "
            f"of {conf.conf_dir} (fs.defaultFS={fs}, NameNodes "
            f"{', '.join(f'{h}:{p}' for h, p in known) or 'none named'}): the configuration "
            "may be stale or another cluster's, and its settings (Kerberos, encryption) may not "
            "fit the artifacts' (catalog H3)",
            conf.evidence,
            fix=STALE_FIX,
        )
    ]


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _older_than_parcel(ctx: Context, conf: HadoopConf) -> Finding | None:
    """Catalog H3: every file of the client configuration is older than the parcel in use
    (the later of its folder and, when active, its link): written before that parcel was
    installed or activated, so before what came with it (HA, a new nameservice,
    Kerberos). Cloudera Manager deploys the client configuration after an upgrade."""
    hadoop = ctx.client().hadoop  # None: hdfs_client=native, and no installation found
    parcel = hadoop.parcel if hadoop is not None else None
    if parcel is None or not conf.files:
        return None
    try:
        installed = max(os.lstat(parcel.path).st_mtime, os.stat(parcel.resolved).st_mtime)
        written = {f: os.stat(f).st_mtime for f in conf.files}
    except OSError:
        return None
    newest = max(written, key=lambda f: written[f])
    if written[newest] >= installed:
        return None
    return Finding(
        "client-config.older-than-parcel",
        "warn",
        f"the client configuration in {conf.conf_dir} (newest file written "
        f"{_when(written[newest])}) is older than the parcel {parcel.name}-{parcel.version} "
        f"({_when(installed)}): it may predate the cluster's changes made with that upgrade "
        "(catalog H3)",
        (
            *conf.evidence,
            f"{newest}: modified {_when(written[newest])}",
            f"{parcel.path}: installed or activated {_when(installed)}",
        ),
        fix=STALE_FIX,
    )


#: The NameNode's refusal of a client offering SIMPLE authentication (Hadoop's own text).
_SIMPLE_REFUSED = re.compile(rb"SIMPLE authentication is not enabled\.\s+Available:\s*\[[^\]]*\]")
#: The first bytes of Hadoop's RPC connection: "hrpc", RPC version 9, service class 0,
#: authentication protocol 0 (none: SIMPLE).
_RPC_SIMPLE_HEADER = b"hrpc\x09\x00\x00"
#: the SIMPLE probe's own cap, each NameNode; a NameNode that accepts SIMPLE says nothing
#: and is waited for this long
SIMPLE_PROBE_CAP = 2.0


def namenode_refuses_simple(host: str, port: int, timeout: float) -> str | None:
    """The NameNode's refusal when it does not accept SIMPLE authentication, asked with the
    first bytes of Hadoop's RPC handshake (no JVM, no call, no credentials sent); None when
    it does not refuse within ``timeout`` or cannot be reached (nothing can be told)."""
    import socket

    data = b""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(_RPC_SIMPLE_HEADER)
            while len(data) < 4096 and not _SIMPLE_REFUSED.search(data):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:  # refused, unreachable, or no answer in time (it accepts SIMPLE)
        pass
    m = _SIMPLE_REFUSED.search(data)
    return m.group(0).decode() if m else None


def simple_refusal(ctx: Context, conf: HadoopConf) -> tuple[str, int, str] | None:
    """``(host, port, refusal)`` of a NameNode of this SIMPLE configuration (fs.defaultFS's,
    then the experiment's artifact location's) that refuses SIMPLE authentication; None for
    a Kerberos configuration, or when none refuses or none answers. Asked once a run
    (memoised per conf dir), so the client-config, kerberos and hdfs checks share one
    probe whichever runs first."""
    fs = conf.default_fs
    if conf.kerberos or not fs:
        return None

    def make() -> tuple[str, int, str] | None:
        artifacts = _artifact_location(ctx)
        addresses = conf.namenode_addresses(fs) + (
            conf.namenode_addresses(artifacts[1]) if artifacts else ()
        )
        for host, port in list(dict.fromkeys(addresses))[:4]:
            seconds, _ = ctx.step_timeout(
                f"asking the NameNode {host}:{port} for SIMPLE", SIMPLE_PROBE_CAP
            )
            refusal = namenode_refuses_simple(host, port, seconds)
            if refusal is not None:
                return host, port, refusal
        return None

    found: tuple[str, int, str] | None = ctx.memo(f"simple-refusal:{conf.conf_dir}", make)
    return found


def simple_refusal_cause(conf: HadoopConf) -> tuple[str, str]:
    """(client-config finding code, catalog entry) that says why this SIMPLE configuration
    meets a NameNode that refuses SIMPLE: B5 when it names the servers' Kerberos principals
    (copied from a secure cluster, the switch left off), else H3 (written before Kerberos
    was turned on)."""
    if any(conf.get(k) for k in KERBEROS_SERVER_KEYS):
        return "client-config.simple-against-kerberos", "B5"
    return "client-config.stale-simple-auth", "H3"


def _simple_refused(ctx: Context, conf: HadoopConf) -> Finding | None:
    """Catalog H3: the configuration says SIMPLE (and names no Kerberos principal, else
    B5 says it) while the cluster's NameNode requires Kerberos: written before Kerberos
    was turned on."""
    refused = simple_refusal(ctx, conf)
    if refused is None:
        return None
    host, port, refusal = refused
    return Finding(
        "client-config.stale-simple-auth",
        "error",
        f"{conf.conf_dir} says hadoop.security.authentication={conf.authentication}, but "
        f"the NameNode {host}:{port} requires Kerberos: the configuration predates "
        "Kerberos on this cluster (catalog H3); every HDFS call will fail with 'SIMPLE "
        "authentication is not enabled' (B5, which libhdfs reports as 'Permission denied')",
        (*conf.evidence, f"the NameNode {host}:{port} answered a SIMPLE handshake: {refusal}"),
        fix=STALE_FIX,
    )


def check_classpath(ctx: Context) -> Iterator[Finding]:
    ctx.jvm_needed("CLASSPATH")  # else the lint of the inherited one is noise: nothing uses it
    ctx.hadoop_needed()
    out: list[Finding] = []
    inherited = ctx.env.get("CLASSPATH")
    d = ctx.discovery()
    install = None if isinstance(d, MlflowClientEnvError) else d.hadoop
    if not inherited:
        out.append(
            Finding(
                "classpath.inherited-unset",
                "warn",
                "CLASSPATH is not set in this process: pyarrow.fs.HadoopFileSystem "
                "(MLflow >= 2.16) cannot connect without it (catalog B1)",
                fix='call mlflow_client_env.setup() first, or eval "$(mlflow-client-env env)"',
            )
        )
    else:
        b3 = lint_error_reporting(inherited.split(":"), _libhdfs_for(ctx.env, install), install)
        for f in [*lint(inherited.split(":"), install), *([b3] if b3 else [])]:
            out.append(
                Finding(
                    f"classpath.inherited.{f.code.removeprefix('classpath.')}",
                    f.status,
                    f"inherited CLASSPATH: {f.summary}",
                    f.evidence,
                    f.fix,
                )
            )
    yield from out
    out = []
    env = ctx.composed()
    ours = lint(env["CLASSPATH"].split(":"), install)
    b3 = lint_error_reporting(
        env["CLASSPATH"].split(":"), _libhdfs_for(env.as_dict(), install), install
    )
    ours += [b3] if b3 else []
    out += [
        Finding(
            f"classpath.ours.{f.code.removeprefix('classpath.')}",
            f.status,
            f"our CLASSPATH: {f.summary}",
            f.evidence,
            f.fix,
        )
        for f in ours
    ]
    if not ours:
        n = len(env["CLASSPATH"].split(":"))
        out.append(
            Finding(
                "classpath.ours-ok",
                "ok",
                f"our CLASSPATH: conf dir first, {n - 1} jars, no wildcards, one "
                "version of hadoop-common and protobuf-java",
            )
        )
    yield from out


def _libhdfs_for(env: Mapping[str, str], install: HadoopInstall | None) -> Path | None:
    """The libhdfs.so pyarrow loads with ``env``: ARROW_LIBHDFS_DIR's, else
    HADOOP_HOME/lib/native's, else the installation's."""
    arrow, home = env.get("ARROW_LIBHDFS_DIR"), env.get("HADOOP_HOME")
    candidates = [Path(arrow, "libhdfs.so")] if arrow else []
    candidates += [Path(home, "lib", "native", "libhdfs.so")] if home else []
    found = next((lib for lib in candidates if lib.is_file()), None)
    return found or (install.libhdfs if install is not None else None)


def check_native(ctx: Context) -> list[Finding]:
    ctx.jvm_needed("libhdfs.so and libjvm.so")
    ctx.hadoop_needed()
    env = ctx.composed()
    found = ctx.found()  # composed() succeeded, so discovery did
    libhdfs = found.hadoop.libhdfs
    java = found.java.install
    proposed = env["LD_LIBRARY_PATH"]
    out: list[Finding] = []
    if libhdfs is None:
        out.append(Finding("native-libraries.no-libhdfs", "error", "no libhdfs.so to check"))
    else:
        out += native.check_library(libhdfs, proposed, jvm_dir=java.server_dir)
        # a launcher kernel with no record: what the loader gives libhdfs there is unknown
        inherited = (
            []
            if ctx.unrecorded
            else native.check_library(
                libhdfs, ctx.env.get("LD_LIBRARY_PATH"), jvm_dir=java.server_dir
            )
        )
        out += [
            Finding(
                f.code.replace("native-libraries.", "native-libraries.inherited."),
                f.status,
                f"with this process's LD_LIBRARY_PATH: {f.summary}; only pyarrow, which loads "
                "libjvm itself, can use libhdfs here (catalog A3)",
                f.evidence,
                f.fix,
            )
            for f in inherited
            if f.code == "native-libraries.missing-dependency"
        ]
    out += native.find_shadowing(ctx.env.get("LD_LIBRARY_PATH"), label="inherited")
    out += native.find_shadowing(proposed, label="proposed")
    if libhdfs is not None and not any(f.status == "error" for f in out):
        out.append(_load_probe(ctx, java.libjvm, libhdfs, env.as_dict()))
    return out


#: the load probe's own cap; the run's budget may cut it shorter
LOAD_PROBE_CAP = 60.0


def _load_probe(ctx: Context, libjvm: Path, libhdfs: Path, ours: dict[str, str]) -> Finding:
    try:
        done = ctx.spawn(
            "the native load probe",
            native.probe_argv(libjvm, libhdfs),
            extra_env=ours,
            cap=LOAD_PROBE_CAP,
        )
    except ForeignEnvironment as exc:
        return Finding(
            "native-libraries.load-skipped",
            "skip",
            f"load probe skipped: {exc.reason}",
            (f"libjvm: {libjvm}", f"libhdfs: {libhdfs}"),
        )
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        return native.load_finding(native.probe_timed_out(libjvm, libhdfs, LOAD_PROBE_CAP, err))
    return native.load_finding(native.probe_result(libjvm, libhdfs, done))


def _libjvm_loaded_from(added: list[str] | None) -> str | None:
    """The ``libjvm.so`` of the one folder in ``added``, when this process loaded it at its
    start for the libraries that need it (the launcher kernel: ``jvm.preload``)."""
    lib = preloaded()
    if not added or len(added) != 1 or lib is None:
        return None
    return lib if os.path.normpath(os.path.dirname(lib)) == os.path.normpath(added[0]) else None


def check_process_start(ctx: Context) -> list[Finding]:
    ctx.jvm_needed("LD_LIBRARY_PATH at process start")  # it matters to libhdfs and libjvm only
    ctx.hadoop_needed()
    if ctx.start_env is None:
        return [
            Finding("process-start.unknown", "skip", "the start-time environment is not readable")
        ]
    start = ctx.start_env.get("LD_LIBRARY_PATH")
    now = ctx.env.get("LD_LIBRARY_PATH")
    out: list[Finding] = []
    early = _libjvm_loaded_from(appended(start, now)) if ctx.pid is None else None
    if early is not None:
        out.append(
            Finding(
                "process-start.libjvm-loaded",
                "ok",
                f"LD_LIBRARY_PATH gained {os.path.dirname(early)} after this process "
                f"started, for libjvm.so: {early} is already loaded here (as the launcher "
                "kernel does at start), so a library that needs libjvm.so is given it",
                (f"at start: {start or '(unset)'}", f"now:      {now or '(unset)'}"),
            )
        )
    elif ctx.pid is None and start != now:
        out.append(
            Finding(
                "process-start.ld-changed",
                "warn",
                "LD_LIBRARY_PATH was changed after this process started; the dynamic "
                "loader read it only at start, so the change has no effect here (E2)",
                (f"at start: {start or '(unset)'}", f"now:      {now or '(unset)'}"),
                fix="set it before the process starts: a kernel from "
                "'mlflow-client-env install-kernel', or export it in the shell",
            )
        )
    else:
        out.append(
            Finding("process-start.ok", "ok", f"LD_LIBRARY_PATH at start: {start or '(unset)'}")
        )
    return out
