"""Spark: the executors' environment, and the parcel's Spark for the driver.

Executors do not run ``setup()`` and do not see the notebook's environment; on YARN they
have no Kerberos ticket either, only the delegation tokens YARN ships
(``HADOOP_TOKEN_FILE_LOCATION``, :mod:`mlflow_client_env.hadoop.tokens`). Without
help, a task that writes to HDFS fails there with A1/B1 (catalog H1).

- :func:`spark_conf` is the Spark configuration that gives every executor's Python
  workers what they need: a plain ``dict`` of ``spark.executorEnv.*`` (and
  ``spark.yarn.appMasterEnv.*`` for a YARN cluster-mode driver), for
  ``SparkSession.builder.config(map=...)``; :func:`spark_submit_args` and
  :func:`render_spark_submit` give the same as ``spark-submit --conf k=v``. The values
  are the composed environment's (:func:`~mlflow_client_env.discovery.build_environment`),
  never derived again, and only those the chosen HDFS path needs: the native path
  (hdfs-native) needs no JVM variables. ``yarn`` never exports a ticket cache (it does not
  exist on other hosts, and a wrong ``KRB5CCNAME`` would shadow the tokens); ``local``
  exports the FILE cache (or the private copy made for Java).
- Spark's own JVMs are protected: a Kerberized client configuration in the environment of
  a JVM Spark starts on this host (``HADOOP_CONF_DIR`` goes onto its classpath) makes
  Hadoop's client log in with Kerberos, and Java reads /etc/krb5.conf, not
  ``KRB5_CONFIG``: ``No rules applied to alice@REALM``, and the standalone master
  relaunches the dying executors forever. ``spark.executor.extraJavaOptions`` and (for a
  driver on this host) ``spark.driver.extraJavaOptions`` get
  ``-Djava.security.krb5.conf``, merged with the values given.
- :func:`find_parcel_spark` finds the parcel's Spark (``P/lib/spark``, a ``SPARK3``
  parcel's ``lib/spark3``) the way findspark finds a plain install, and
  :func:`apply_spark_driver` puts it in force: ``SPARK_HOME``, and its pyspark and py4j
  first on ``sys.path``.

docs/spark.md has the recipes (driver, executors, YARN client and cluster modes, tokens).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping, MutableMapping, MutableSequence, Sequence
from pathlib import Path

from .artifacts.mode import HDFS_CLIENT_VAR, hdfs_client_in_force
from .discovery import build_environment
from .environment import JVM_PATH_VARIABLES, Environment
from .errors import MlflowClientEnvError, OutputFormatError, SparkHomeError, SparkSetupError
from .findings import Finding
from .hadoop import TOKEN_FILE_VAR
from .hadoop.install import find_parcel
from .records import record, replace
from .safeio import read_small_text

MODES = ("auto", "yarn", "local")
DEPLOY_MODES = ("client", "cluster")
EXECUTOR_ENV = "spark.executorEnv."
APP_MASTER_ENV = "spark.yarn.appMasterEnv."
EXECUTOR_JAVA_OPTIONS = "spark.executor.extraJavaOptions"
DRIVER_JAVA_OPTIONS = "spark.driver.extraJavaOptions"
#: The file systems Spark fetches delegation tokens for, besides fs.defaultFS (Spark 3;
#: Spark 2 calls it spark.yarn.access.hadoopFileSystems, which Spark 3 still reads).
ACCESS_FILESYSTEMS = "spark.kerberos.access.hadoopFileSystems"
KRB5_OPTION = "-Djava.security.krb5.conf="

#: The variables each HDFS path needs on an executor (besides the ticket's and MLflow's).
NATIVE_PATH_VARIABLES = ("HADOOP_CONF_DIR",)
TICKET_VARIABLES = ("KRB5CCNAME", "MLFLOW_KERBEROS_TICKET_CACHE")

#: Composed variables an executor never gets, and why.
LEFT_OUT = {
    "PATH": "the hadoop and java commands are not needed by pyarrow or MLflow, and the "
    "driver's PATH would replace the executor's whole PATH",
    "LD_LIBRARY_PATH": "pyarrow loads libhdfs and libjvm by absolute path; the executor's "
    "own library path is left alone",
    "MLFLOW_CLIENT_ENV_KRB5_COPIED_FROM": "bookkeeping of setup()'s ticket copy on this host",
}


# ============================================================================ executors
@record
class SparkConfEntry:
    key: str
    value: str
    reason: str


@record(eq=False)
class SparkConfPlan:
    """The Spark configuration for the executors, with why each entry is there.

    ``left_out``: composed variables not exported, with the reason; ``findings``: what the
    caller should know (a missing ticket for ``local``, the native path's needs).
    """

    entries: tuple[SparkConfEntry, ...]
    mode: str  # "yarn" or "local"
    mode_source: str
    master: str | None
    deploy_mode: str
    hdfs_client: str  # "native" or "jvm"
    hdfs_client_reason: str
    left_out: tuple[tuple[str, str], ...] = ()
    findings: tuple[Finding, ...] = ()

    def as_dict(self) -> dict[str, str]:
        return {e.key: e.value for e in self.entries}


def _submit_arg(args: str | None, name: str) -> str | None:
    """``--master yarn`` / ``--master=yarn`` out of ``PYSPARK_SUBMIT_ARGS``."""
    if not args:
        return None
    try:
        words = shlex.split(args)
    except ValueError:
        return None
    for i, word in enumerate(words):
        if word == name and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def _spark_defaults(env: Mapping[str, str], spark_home: str | None) -> tuple[dict[str, str], str]:
    """``spark-defaults.conf`` of ``SPARK_CONF_DIR``, else of ``SPARK_HOME/conf`` (Cloudera's
    client configuration sets ``spark.master=yarn`` there)."""
    for base in (env.get("SPARK_CONF_DIR"), f"{spark_home}/conf" if spark_home else None):
        if not base:
            continue
        path = Path(base) / "spark-defaults.conf"
        try:
            text = read_small_text(path, "fix or remove the file")
        except MlflowClientEnvError:
            continue
        if text is None:
            continue
        out: dict[str, str] = {}
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = re.split(r"[\s=]+", line, maxsplit=1)
            if len(parts) == 2:
                out[parts[0]] = parts[1].strip()
        return out, str(path)
    return {}, ""


def resolve_master(
    master: str | None,
    existing: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """``(master, where it came from)``: the argument, the Spark configuration given
    (``spark.master``), ``PYSPARK_SUBMIT_ARGS``, ``MASTER``, spark-defaults.conf, else
    Spark's own default ``local[*]``."""
    env = os.environ if env is None else env
    if master:
        return master, "argument"
    if existing and existing.get("spark.master"):
        return existing["spark.master"], "the Spark configuration given (spark.master)"
    found = _submit_arg(env.get("PYSPARK_SUBMIT_ARGS"), "--master")
    if found:
        return found, "PYSPARK_SUBMIT_ARGS"
    if env.get("MASTER"):
        return env["MASTER"], "MASTER"
    defaults, path = _spark_defaults(env, env.get("SPARK_HOME"))
    if defaults.get("spark.master"):
        return defaults["spark.master"], path
    return "local[*]", "Spark's default"


_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


def mode_of_master(master: str) -> str | None:
    """``yarn`` or ``local`` for a master URL, None when it cannot tell (a standalone
    master on another host, Kubernetes): executors there may or may not share this
    host's files and ticket."""
    m = master.strip().lower()
    if m == "yarn" or m.startswith(("yarn-", "yarn:")):
        return "yarn"
    if m.startswith("local"):  # local, local[*], local[4,2], local-cluster[2,1,1024]
        return "local"
    if m.startswith("spark://"):
        hosts = [h.rpartition(":")[0] or h for h in m[len("spark://") :].split(",")]
        if hosts and all(h in _LOCAL_HOSTS for h in hosts):
            return "local"
    return None


def _choose_mode(
    mode: str, master: str | None, existing: Mapping[str, str] | None, env: Mapping[str, str]
) -> tuple[str, str, str | None]:
    if mode not in MODES:
        raise SparkSetupError(
            f"unknown Spark mode {mode!r}",
            "use 'yarn' (executors on other hosts, authenticated by YARN's delegation tokens), "
            "'local' (executors on this host, with this host's ticket) or 'auto' (from the "
            "master URL)",
        )
    if mode != "auto":
        where = f"master {master}" if master else "no master given"
        return mode, f"asked for ({where})", master
    url, source = resolve_master(master, existing, env)
    found = mode_of_master(url)
    if found is None:
        raise SparkSetupError(
            f"the master {url!r} (from {source}) does not say where the executors run",
            "pass mode='yarn' when they run on other hosts with the same parcel paths and "
            "get delegation tokens, or mode='local' when they run on this host",
        )
    return found, f"the master {url} (from {source})", url


def _deploy_mode(
    deploy_mode: str | None,
    master: str | None,
    existing: Mapping[str, str] | None,
    env: Mapping[str, str],
) -> str:
    value = (
        deploy_mode
        or (existing or {}).get("spark.submit.deployMode")
        or _submit_arg(env.get("PYSPARK_SUBMIT_ARGS"), "--deploy-mode")
        or ("cluster" if (master or "").strip().lower() == "yarn-cluster" else "client")
    )
    if value not in DEPLOY_MODES:
        raise SparkSetupError(
            f"unknown deploy mode {value!r}", "use 'client' (the driver runs here) or 'cluster'"
        )
    return value


def _java_option(path: Path) -> str:
    text = f"{KRB5_OPTION}{path}"
    return shlex.quote(text) if any(c.isspace() for c in text) else text


def merge_java_options(existing: str | None, option: str) -> tuple[str, str]:
    """``option`` (``-Dkey=value``) before the options in ``existing``, unless they set the
    same property already (theirs is kept). Returns the value and what was done."""
    key = option.split("=", 1)[0].strip("'\"") + "="
    words = (existing or "").split()
    if any(w.strip("'\"").startswith(key) for w in words):
        return existing or "", "your value of the property is kept"
    merged = " ".join([option, *([existing.strip()] if existing and existing.strip() else [])])
    return merged, ("added before your options" if existing and existing.strip() else "set")


def _hdfs_choice(
    hdfs_client: str | None,
    artifact_uri: str | None,
    sim_env: Mapping[str, str],
) -> tuple[str, str, tuple[str, ...]]:
    """The HDFS client the executors will use, decided as the artifact repository decides
    (:func:`mlflow_client_env.artifacts.mode.hdfs_client_in_force`), for the executors'
    environment."""
    choice = hdfs_client_in_force(hdfs_client, artifact_uri=artifact_uri, env=sim_env)
    return choice.client, choice.summary(), choice.gaps


def _authority(uri: str | None) -> str | None:
    if not uri:
        return None
    import urllib.parse

    p = urllib.parse.urlparse(uri)
    return f"{p.scheme.lower()}://{p.netloc}" if p.scheme and p.netloc else None


def plan_spark_conf(
    mode: str = "auto",
    master: str | None = None,
    *,
    deploy_mode: str | None = None,
    hdfs_client: str | None = None,
    artifact_uri: str | None = None,
    existing: Mapping[str, str] | None = None,
    environment: Environment | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: str | os.PathLike[str] | None,
) -> SparkConfPlan:
    """The executors' Spark configuration and why (:func:`spark_conf` is its ``dict``).

    ``mode``: ``yarn``, ``local`` or ``auto`` (from ``master``, else ``spark.master`` in
    ``existing``, ``PYSPARK_SUBMIT_ARGS``, ``MASTER``, spark-defaults.conf, else Spark's
    ``local[*]``). ``deploy_mode``: ``client`` (default) or ``cluster`` (YARN only: the
    driver runs in a container and gets the same variables as ``spark.yarn.appMasterEnv.*``).
    ``hdfs_client``: ``native``/``jvm``/``auto`` as for artifacts (default: the configured
    mode, ``MLFLOW_CLIENT_ENV_HDFS_CLIENT``), decided for the executors' environment; pass
    ``"jvm"`` when tasks use pyarrow's HDFS themselves. ``artifact_uri``: where the
    executors write, when it is not fs.defaultFS. ``existing``: the Spark configuration
    already set (its ``extraJavaOptions`` are merged, not replaced). ``environment``: the
    composed environment (default ``build_environment(env, overrides)``); ``env``: the
    driver's environment (default ``os.environ``).
    """
    env = os.environ if env is None else env
    chosen, mode_source, url = _choose_mode(mode, master, existing, env)
    deploy = _deploy_mode(deploy_mode, url or master, existing, env)
    if chosen == "local" and deploy == "cluster":
        raise SparkSetupError(
            "deploy mode 'cluster' with executors on this host ('local')",
            "use deploy mode 'client' for local masters (Spark refuses cluster mode there), or "
            "mode='yarn'",
        )
    if environment is None:  # composed for the executors' HDFS client when one is asked for
        asked = {"hdfs_client": hdfs_client} if hdfs_client else {}
        environment = build_environment(env, {**overrides, **asked})
    if environment.hadoop is None and not environment.native_only:
        raise SparkSetupError(
            "no Hadoop was found, so there is no HDFS environment for the executors "
            "(the tracking server stores the artifacts itself)",
            "nothing to pass to Spark for HDFS; MLFLOW_TRACKING_URI alone is enough "
            "(spark.executorEnv.MLFLOW_TRACKING_URI)",
        )
    yarn = chosen == "yarn"
    composed = environment.as_dict()
    kerberos = environment.kerberos
    kerberized = environment.conf is None or environment.conf.kerberos
    krb5 = kerberos.krb5_conf if kerberos.krb5_config_set else None

    # the executors' environment, to decide the HDFS client as they will
    sim_env = {**env, **composed}
    for ticket_var in TICKET_VARIABLES if yarn else ():
        sim_env.pop(ticket_var, None)
    if yarn:
        sim_env[TOKEN_FILE_VAR] = "(the file YARN writes in each container)"
    client, client_reason, gaps = _hdfs_choice(hdfs_client, artifact_uri, sim_env)
    if client == "jvm" and environment.native_only:
        raise SparkSetupError(
            "the executors would use the JVM path, but the environment given was composed "
            "for hdfs-native alone (hdfs_client=native): it has no JAVA_HOME, CLASSPATH or "
            "ARROW_LIBHDFS_DIR to pass on",
            "pass the environment of build_environment(hdfs_client='jvm'), or leave "
            "environment= out and give hdfs_client='jvm'",
        )

    entries: list[SparkConfEntry] = []
    left_out: list[tuple[str, str]] = []
    findings: list[Finding] = []
    env_prefixes = [EXECUTOR_ENV] + ([APP_MASTER_ENV] if yarn and deploy == "cluster" else [])

    def export(name: str, value: str, reason: str) -> None:
        for prefix in env_prefixes:
            who = "the driver in its YARN container" if prefix == APP_MASTER_ENV else "executors"
            entries.append(SparkConfEntry(prefix + name, value, f"{who}: {reason}"))

    wanted = [*(JVM_PATH_VARIABLES if client == "jvm" else NATIVE_PATH_VARIABLES)]
    for var in environment.variables:
        name = var.name
        if name == HDFS_CLIENT_VAR:  # exported below, for the executors' own choice
            continue
        if name in LEFT_OUT:
            left_out.append((name, LEFT_OUT[name]))
        elif name in TICKET_VARIABLES:
            if yarn:
                left_out.append((name, "YARN containers authenticate with the delegation "
                                 "tokens YARN ships; this host's ticket cache does not exist "
                                 "there, and a KRB5CCNAME would shadow the tokens"))  # fmt: skip
            elif name == "MLFLOW_KERBEROS_TICKET_CACHE" and client != "jvm":
                left_out.append((name, "only MLflow's pyarrow (JVM) path reads it"))
            else:
                export(name, var.value, var.reason)
        elif name == "JAVA_HOME" and yarn and client == "jvm":
            left_out.append((name, "the NodeManager gives each container the cluster's "
                             "JAVA_HOME (pyarrow finds libjvm there), and Spark would run the "
                             "executor JVMs themselves with this one"))  # fmt: skip
        elif name in wanted or name == "MLFLOW_TRACKING_URI":
            export(name, var.value, var.reason)
        else:
            path = "hdfs-native" if client == "native" else "the JVM path (pyarrow, libhdfs)"
            left_out.append((name, f"{path} does not need it"))
    if not yarn and krb5 is not None:
        export("KRB5_CONFIG", str(krb5), "the Kerberos configuration Python's libkrb5 reads "
               f"(hdfs-native, SPNEGO), as on the driver ({kerberos.krb5_conf_source})")  # fmt: skip
    elif yarn and krb5 is not None:
        left_out.append(("KRB5_CONFIG", f"{krb5} is this host's; tokens need no Kerberos "
                         "configuration, and the cluster's hosts have their own"))  # fmt: skip
    export(HDFS_CLIENT_VAR, client, f"the HDFS path these variables are for: {client_reason}")
    if not yarn and kerberized and "KRB5CCNAME" not in composed:
        findings.append(
            Finding(
                "spark.no-ticket-for-executors",
                "error",
                "the executors on this host get no ticket cache: the composed environment "
                "has no FILE cache Java and Python can read",
                tuple(f.summary for f in environment.findings if f.status == "error"),
                "kinit (or setup(keytab=..., principal=...)) first, then build the Spark "
                "configuration again",
            )
        )
    if client == "native":
        findings.append(
            Finding(
                "spark.native-path",
                "ok",
                "the executors use hdfs-native (no JVM variables are exported): their Python "
                "needs mlflow-client-env[native] for MLflow's artifacts; tasks that use "
                "pyarrow's HDFS themselves need hdfs_client='jvm'",
                gaps,
            )
        )

    # Spark's own JVMs on this host: a Kerberized HADOOP_CONF_DIR in their environment
    # (exported here, or inherited from the driver) puts the client configuration on their
    # classpath, and Java ignores KRB5_CONFIG.
    given = existing or {}
    if kerberized and krb5 is not None:
        option = _java_option(krb5)
        targets = []
        if not yarn:
            targets.append(
                (EXECUTOR_JAVA_OPTIONS, "the executor JVMs Spark starts on this host",
                 "they die and the master launches new ones forever")
            )  # fmt: skip
        if deploy == "client":
            targets.append(
                (DRIVER_JAVA_OPTIONS, "the driver JVM, which starts on this host",
                 "the SparkContext fails to start")
            )  # fmt: skip
        for key, who, outcome in targets:
            value, how = merge_java_options(given.get(key), option)
            entries.append(
                SparkConfEntry(
                    key,
                    value,
                    f"{who}: with a Kerberized HADOOP_CONF_DIR in their environment (it goes on "
                    f"their classpath) Hadoop logs in with Kerberos, and Java ignores "
                    f"KRB5_CONFIG ({krb5}); without the option 'No rules applied to "
                    f"<principal>' and {outcome} ({how})",
                )
            )
    if yarn:
        target, default = (
            _authority(artifact_uri),
            _authority(environment.conf.default_fs if environment.conf else None),
        )
        if target and target.startswith(("hdfs://", "webhdfs://")) and target != default:
            listed = [s.strip() for s in given.get(ACCESS_FILESYSTEMS, "").split(",") if s.strip()]
            if target not in listed:
                entries.append(
                    SparkConfEntry(
                        ACCESS_FILESYSTEMS,
                        ",".join([*listed, target]),
                        f"YARN fetches delegation tokens for fs.defaultFS only; the artifacts "
                        f"go to {target}",
                    )
                )
    return SparkConfPlan(
        tuple(entries), chosen, mode_source, url or master, deploy, client, client_reason,
        tuple(left_out), tuple(findings),
    )  # fmt: skip


def spark_conf(
    mode: str = "auto",
    master: str | None = None,
    *,
    deploy_mode: str | None = None,
    hdfs_client: str | None = None,
    artifact_uri: str | None = None,
    existing: Mapping[str, str] | None = None,
    environment: Environment | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: str | os.PathLike[str] | None,
) -> dict[str, str]:
    """The Spark configuration that gives every executor's Python workers the environment
    they need to log to MLflow on HDFS (see :func:`plan_spark_conf` for the arguments).

    ``SparkSession.builder.config(map=spark_conf(master="yarn"))``, before the session
    (and its JVM) starts; ``spark-submit`` takes :func:`spark_submit_args`.
    """
    return plan_spark_conf(
        mode, master, deploy_mode=deploy_mode, hdfs_client=hdfs_client,
        artifact_uri=artifact_uri, existing=existing, environment=environment, env=env,
        **overrides,
    ).as_dict()  # fmt: skip


def spark_submit_args(conf: Mapping[str, str]) -> list[str]:
    """``["--conf", "k=v", ...]``: an argv fragment for ``spark-submit`` (no shell)."""
    out: list[str] = []
    for key, value in conf.items():
        out += ["--conf", f"{key}={value}"]
    return out


def render_spark_submit(conf: Mapping[str, str] | SparkConfPlan, explain: bool = False) -> str:
    """``--conf 'k=v' \\`` lines for a ``spark-submit`` command line (shell-quoted; every line
    but the last ends with a continuation, so the text pastes or ``eval``s as one command).
    With ``explain`` (a plan), the reasons come first, as ``#`` comment lines (a comment
    inside a continued command would end it)."""
    if isinstance(conf, SparkConfPlan):
        items = [(e.key, e.value, e.reason) for e in conf.entries]
    else:
        items = [(k, v, "") for k, v in conf.items()]
    for key, value, _ in items:
        if any(c in key + value for c in "\n\r\0"):
            raise OutputFormatError(
                f"the Spark setting {key} holds a newline or NUL, which a --conf argument "
                "cannot carry faithfully",
                "rename the folder that holds it",
            )
    lines: list[str] = []
    if explain:
        for key, _, reason in items:
            if reason:
                lines += ["# " + line for line in f"{key}: {reason}".splitlines()]
    for i, (key, value, _) in enumerate(items):
        cont = " \\" if i < len(items) - 1 else ""
        lines.append(f"--conf {shlex.quote(f'{key}={value}')}{cont}")
    return "\n".join(lines) + ("\n" if lines else "")


def format_spark_conf(
    environment: Environment,
    explain: bool = False,
    *,
    mode: str = "auto",
    master: str | None = None,
    deploy_mode: str | None = None,
    hdfs_client: str | None = None,
    artifact_uri: str | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """The ``--format spark-conf`` text of ``mlflow-client-env env`` for ``environment``
    (the signature of :data:`mlflow_client_env.formats.FORMATS`' functions, plus the
    Spark choices)."""
    plan = plan_spark_conf(
        mode, master, deploy_mode=deploy_mode, hdfs_client=hdfs_client,
        artifact_uri=artifact_uri, environment=environment, env=env,
    )  # fmt: skip
    head = ""
    if explain:
        head = (
            f"# Spark mode {plan.mode} ({plan.mode_source}), deploy mode {plan.deploy_mode}, "
            f"HDFS client {plan.hdfs_client}\n"
            + "".join(f"# not exported: {name}: {why}\n" for name, why in plan.left_out)
        )
    return head + render_spark_submit(plan, explain=explain)


# ============================================================================ the driver
@record(eq=False)
class SparkDriver:
    """A Spark installation for the driver, found as findspark finds one.

    ``sys_path``: what goes first on ``sys.path`` (pyspark, then py4j);
    ``pip_pyspark``/``pip_py4j``: ``(version, location)`` of pip-installed copies, if any.
    """

    spark_home: Path
    source: str
    version: str | None
    pyspark_path: Path
    py4j_path: Path
    py4j_version: str | None
    pip_pyspark: tuple[str, str] | None = None
    pip_py4j: tuple[str, str] | None = None
    findings: tuple[Finding, ...] = ()
    candidates: tuple[str, ...] = ()

    @property
    def sys_path(self) -> tuple[str, str]:
        return (str(self.pyspark_path), str(self.py4j_path))


_VERSION_RE = re.compile(r"""__version__(?:\s*:\s*str)?\s*=\s*["']([^"']+)["']""")
_PY4J_RE = re.compile(r"py4j-([0-9][^/]*?)-src\.zip$")


def _zip_text(path: Path, member: str) -> str | None:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z, z.open(member) as fh:
            return fh.read(65536).decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return None


def spark_version(home: Path, pyspark_path: Path | None = None) -> str | None:
    """The version of the Spark at ``home``: its pyspark's ``version.py`` (what Python will
    import), else its ``spark-core`` jar's name, else its ``RELEASE`` file."""
    text = None
    if pyspark_path is not None and pyspark_path.suffix == ".zip":
        text = _zip_text(pyspark_path, "pyspark/version.py")
    elif pyspark_path is not None:
        try:
            text = (pyspark_path / "pyspark" / "version.py").read_text(errors="replace")
        except OSError:
            text = None
    m = _VERSION_RE.search(text or "")
    if m:
        return m.group(1)
    try:
        for jar in sorted((home / "jars").glob("spark-core_*.jar")):
            jm = re.match(r"spark-core_[0-9.]+-(.+)\.jar$", jar.name)
            if jm:
                return jm.group(1)
    except OSError:
        pass
    try:
        first = (home / "RELEASE").read_text(errors="replace").split("\n", 1)[0]
    except OSError:
        return None
    rm = re.match(r"Spark (\S+)", first)
    return rm.group(1) if rm else None


def _layout(home: Path) -> tuple[Path, Path] | str:
    """``(pyspark, py4j)`` of a Spark home, or why it is not one."""
    lib = home / "python" / "lib"
    py4j = sorted(lib.glob("py4j-*-src.zip")) if lib.is_dir() else []
    if not py4j:
        return f"{home} has no python/lib/py4j-*-src.zip"
    if (lib / "pyspark.zip").is_file():
        return lib / "pyspark.zip", py4j[-1]
    if (home / "python" / "pyspark" / "__init__.py").is_file():
        return home / "python", py4j[-1]
    return f"{home} has neither python/lib/pyspark.zip nor python/pyspark"


def _pip_copy(name: str) -> tuple[str, str] | None:
    """``(version, location)`` of an installed distribution, without importing it."""
    from importlib import metadata

    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    return dist.version, str(dist.locate_file(name))


def _parcels_roots(environment: Environment | None, env: Mapping[str, str]) -> list[Path]:
    roots: list[Path] = []
    hadoop = environment.hadoop if environment is not None else None
    if hadoop is not None and hadoop.parcel is not None:
        roots.append(hadoop.parcel.path.parent)
    for value in (env.get("MLFLOW_CLIENT_ENV_PARCELS_ROOT"), "/opt/cloudera/parcels"):
        if value and Path(value) not in roots:
            roots.append(Path(value))
    return roots


def spark_candidates(
    environment: Environment | None, env: Mapping[str, str]
) -> list[tuple[Path, str]]:
    """Where the parcel's Spark may be, best first: a ``SPARK3`` parcel's ``lib/spark3``,
    the CDH parcel's ``lib/spark3`` (CDP 7.1.9 and later) and ``lib/spark``."""
    out: list[tuple[Path, str]] = []
    cdh: list[Path] = []
    hadoop = environment.hadoop if environment is not None else None
    if hadoop is not None and hadoop.kind == "parcel":
        cdh.append(hadoop.root)
    for root in _parcels_roots(environment, env):
        try:
            spark3 = find_parcel(root, "SPARK3")
        except MlflowClientEnvError:
            spark3 = None
        if spark3 is not None:
            out.append((spark3[0].path / "lib" / "spark3", f"the SPARK3 parcel in {root}"))
        try:
            found = find_parcel(root, "CDH")
        except MlflowClientEnvError:
            found = None
        if found is not None and found[0].path not in cdh:
            cdh.append(found[0].path)
    for p in cdh:
        out.append((p / "lib" / "spark3", f"the CDH parcel {p}"))
        out.append((p / "lib" / "spark", f"the CDH parcel {p}"))
    return out


def find_parcel_spark(
    environment: Environment | None = None,
    env: Mapping[str, str] | None = None,
    *,
    spark_home: str | os.PathLike[str] | None = None,
    python_version: tuple[int, int] | None = None,
) -> SparkDriver:
    """The Spark the driver should use, as findspark finds one, preferring the parcel's.

    First found: ``spark_home``, ``SPARK_HOME``, a ``SPARK3`` parcel's ``lib/spark3``, the
    CDH parcel's ``lib/spark3`` then ``lib/spark`` (parcels of ``environment``'s install,
    ``MLFLOW_CLIENT_ENV_PARCELS_ROOT``, /opt/cloudera/parcels). A home counts when it has
    ``python/lib/py4j-*-src.zip`` and pyspark (``python/lib/pyspark.zip``, else
    ``python/pyspark``). Nothing is changed (:func:`apply_spark_driver` does that);
    raises :class:`SparkHomeError` when none is found.
    """
    env = os.environ if env is None else env
    tried: list[str] = []
    given: list[tuple[Path, str]] = []
    if spark_home is not None:
        given.append((Path(spark_home), "argument"))
    elif env.get("SPARK_HOME"):
        given.append((Path(env["SPARK_HOME"]), "SPARK_HOME"))
    candidates = given or spark_candidates(environment, env)
    for home, source in candidates:
        if not home.is_dir():
            tried.append(f"{home} ({source}): not a folder")
            if given:
                break
            continue
        layout = _layout(home)
        if isinstance(layout, str):
            tried.append(f"{layout} ({source})")
            if given:
                break
            continue
        pyspark, py4j = layout
        version = spark_version(home, pyspark)
        m = _PY4J_RE.search(py4j.name)
        return _driver(
            home, source, version, pyspark, py4j, m.group(1) if m else None,
            tuple(tried), python_version or sys.version_info[:2],
        )  # fmt: skip
    looked = "; ".join(tried) or "no parcel with a Spark was found"
    fix = (
        "name the Spark installation: spark_home=... or SPARK_HOME"
        if not given
        else "point it at a Spark installation (a folder with python/lib/py4j-*-src.zip)"
    )
    raise SparkHomeError(f"no Spark installation for the driver: {looked}", fix)


def _driver(
    home: Path,
    source: str,
    version: str | None,
    pyspark: Path,
    py4j: Path,
    py4j_version: str | None,
    tried: tuple[str, ...],
    python_version: tuple[int, int],
) -> SparkDriver:
    pip_pyspark, pip_py4j = _pip_copy("pyspark"), _pip_copy("py4j")
    findings = [
        Finding(
            "spark.home",
            "ok",
            f"Spark {version or '(version unknown)'} at {home} ({source}): its pyspark and "
            f"py4j {py4j_version or '?'} go first on sys.path, and SPARK_HOME names it",
            (str(pyspark), str(py4j)),
        )
    ]
    same_install = pip_pyspark is not None and Path(pip_pyspark[1]) == home
    if pip_pyspark and version and pip_pyspark[0] != version and not same_install:
        findings.append(
            Finding(
                "spark.pip-pyspark-differs",
                "warn",
                f"a pip-installed pyspark {pip_pyspark[0]} differs from the cluster's Spark "
                f"{version}: the cluster's comes first on sys.path (a pyspark imported before "
                "that stays the pip one)",
                (
                    f"pip: pyspark {pip_pyspark[0]} at {pip_pyspark[1]}"
                    + (f", py4j {pip_py4j[0]} at {pip_py4j[1]}" if pip_py4j else ""),
                    f"cluster: Spark {version} at {home}, py4j {py4j_version or '?'} ({py4j})",
                ),
                f"pip uninstall pyspark py4j, or pip install 'pyspark=={version}', so the "
                "driver's pyspark and the cluster's Spark agree",
            )
        )
    major = int(version.split(".")[0]) if version and version.split(".")[0].isdigit() else None
    if major is not None and major < 3 and python_version >= (3, 8):
        findings.append(
            Finding(
                "spark.python-too-new",
                "error",
                f"pyspark {version} does not import on Python "
                f"{python_version[0]}.{python_version[1]}: Spark 2's pickling code (cloudpickle) "
                "predates Python 3.8",
                fix="use the cluster's Spark 3 (a SPARK3 parcel: setup(spark_home=.../lib/spark3)) "
                "or a Python 3.7 environment for Spark 2",
            )
        )
    return SparkDriver(
        home, source, version, pyspark, py4j, py4j_version, pip_pyspark, pip_py4j,
        tuple(findings), tried,
    )  # fmt: skip


def apply_spark_driver(
    driver: SparkDriver | None = None,
    *,
    environ: MutableMapping[str, str] | None = None,
    path: MutableSequence[str] | None = None,
    modules: Mapping[str, object] | None = None,
    **find_args: object,
) -> SparkDriver:
    """Put ``driver`` (default: :func:`find_parcel_spark`) in force for this process, as
    ``findspark.init`` does: ``SPARK_HOME``, and its pyspark and py4j first on ``sys.path``
    (moved there when already present, so calling again changes nothing).

    A pyspark (or py4j) already imported from elsewhere cannot be replaced: a
    ``spark.pyspark-already-imported`` warning says so, and the returned driver carries it.
    """
    import importlib

    environ = os.environ if environ is None else environ
    path = sys.path if path is None else path
    modules = sys.modules if modules is None else modules
    if driver is None:
        driver = find_parcel_spark(**find_args)  # type: ignore[arg-type]
    for entry in reversed(driver.sys_path):
        while entry in path:
            path.remove(entry)
        path.insert(0, entry)
    environ["SPARK_HOME"] = str(driver.spark_home)
    importlib.invalidate_caches()
    findings = list(driver.findings)
    for name in ("pyspark", "py4j"):
        mod = modules.get(name)
        where = str(getattr(mod, "__file__", "") or "")
        if mod is not None and not where.startswith(tuple(driver.sys_path)):
            findings.append(
                Finding(
                    "spark.pyspark-already-imported",
                    "warn",
                    f"{name} was imported from {where or 'elsewhere'} before the cluster's "
                    f"Spark was put first, so this process keeps that copy",
                    fix="restart the kernel and call setup(spark=True) before importing pyspark",
                )
            )

    return replace(driver, findings=tuple(findings))


__all__: Sequence[str] = (
    "SparkConfPlan", "SparkDriver", "SparkHomeError", "SparkSetupError", "apply_spark_driver",
    "find_parcel_spark", "format_spark_conf", "plan_spark_conf", "render_spark_submit",
    "resolve_master", "spark_conf", "spark_submit_args",
)  # fmt: skip
