"""The local checks: versions, installation, Java, client config, CLASSPATH,
native libraries and the process's start-time environment.

Each check takes the Context and returns findings; none raises for a broken
setup (that is what it reports). Probes that could crash or hang (loading
libjvm/libhdfs) run in a subprocess with a timeout.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

from ..errors import (
    HadoopAbsentError,
    HadoopNotFoundError,
    JavaNotFoundError,
    MlflowClientEnvError,
    setting,
)
from ..findings import Finding
from ..hadoop.classpath import lint
from ..java import inspect_java_home, normalise_java_home
from .context import Context, ForeignEnvironment, Unmet
from .versions import check_installed


def check_versions(ctx: Context) -> list[Finding]:
    def not_needed() -> str | None:
        why = ctx.not_needed()
        return why.problem if why else None

    return check_installed(not_needed)


def check_installation(ctx: Context) -> list[Finding]:
    d = ctx.discovery()
    if isinstance(d, JavaNotFoundError):  # the java check owns it: one error, where it belongs
        raise Unmet("java discovery", d)
    if isinstance(d, HadoopNotFoundError):
        from ..environment import hadoop_not_needed
        from ..tracking import experiment_query
        from .remote import proxied_location

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
    from ..redact import redact
    from ..tracking import experiment_query, needs_hadoop
    from .remote import server_info

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


def check_client_config(ctx: Context) -> list[Finding]:
    ctx.hadoop_needed()
    conf = ctx.found().conf
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
        authority = fs.split("://", 1)[-1].split("/", 1)[0]
        if fs.startswith("hdfs://") and ":" not in authority and authority not in conf.nameservices:
            out.append(
                Finding(
                    "client-config.unknown-nameservice",
                    "error",
                    f"fs.defaultFS={fs} names '{authority}', which is not in "
                    "dfs.nameservices: UnknownHostException (catalog B4)",
                    fix="re-deploy the client configuration (hdfs-site.xml)",
                )
            )
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


def check_classpath(ctx: Context) -> Iterator[Finding]:
    ctx.hadoop_needed()  # else the lint of the inherited CLASSPATH is noise: nothing uses it
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
        for f in lint(inherited.split(":"), install):
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


def check_native(ctx: Context) -> list[Finding]:
    from . import native

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
        inherited = native.check_library(
            libhdfs, ctx.env.get("LD_LIBRARY_PATH"), jvm_dir=java.server_dir
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
    from . import native

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


def check_process_start(ctx: Context) -> list[Finding]:
    ctx.hadoop_needed()  # LD_LIBRARY_PATH at start matters to libhdfs only
    if ctx.start_env is None:
        return [
            Finding("process-start.unknown", "skip", "the start-time environment is not readable")
        ]
    start = ctx.start_env.get("LD_LIBRARY_PATH")
    now = ctx.env.get("LD_LIBRARY_PATH")
    out: list[Finding] = []
    if ctx.pid is None and start != now:
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
