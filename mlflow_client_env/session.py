"""``setup()``: make the running Python process ready to log to MLflow on HDFS.

Only variables that are read lazily (when pyarrow first connects, when MLflow
first resolves its tracking URI) are written to ``os.environ``. Variables read
at process start (LD_LIBRARY_PATH) are reported, not set: only a kernel made by
``install-kernel`` (or a re-exec) can change them (catalog E2).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from .config import resolve_overrides
from .discovery import plan_ticket, resolve
from .environment import Environment, Variable, refuse_credentials_in_uri
from .errors import MlflowClientEnvError, SparkHomeError
from .findings import Finding, worst
from .forksafety import warn_after_fork
from .jupyter.ipython_hook import install_if_running
from .jvm import preloaded, running_jvm
from .jvm_state import failed_jvm_load
from .kerberos.profile import discover_kerberos
from .kerberos.readiness import ticket_line, ticket_readiness
from .records import record
from .redact import redact, redact_value
from .tracking_auth.settings import AUTH_VAR, PROVIDER_NAME

TYPE_CHECKING = False  # typing is not imported at run time (import cost; mypy honours this)
if TYPE_CHECKING:
    from .kerberos.ticket import TicketStatus

#: Variables the JVM inside libhdfs reads once, when it is created.
JVM_VARIABLES = ("CLASSPATH", "LIBHDFS_OPTS", "JAVA_HOME", "ARROW_LIBHDFS_DIR")


@record(repr=False)  # its own __repr__ redacts
class Change:
    name: str
    old: str | None
    new: str

    def __repr__(self) -> str:  # a report is printed and saved in notebooks: never a secret
        old = None if self.old is None else redact_value(self.name, self.old)
        return f"Change(name={self.name!r}, old={old!r}, new={redact_value(self.name, self.new)!r})"


@record(eq=False)  # one call's report, never compared
class SetupReport:
    """What ``setup()`` found, set, and could not set, with the reasons."""

    environment: Environment
    applied: tuple[Change, ...]
    not_applied: tuple[Variable, ...]
    findings: tuple[Finding, ...]
    #: the libjvm.so of a JVM already made in this process, if one was (a libjvm.so only
    #: loaded, as the launcher kernel does at start, made none: ``jvm.running_jvm``)
    jvm_loaded: Path | None
    experiment: str | None
    #: The ticket Java and Python will use (None: the client is not Kerberized). Its state
    #: is also among ``findings`` (``kerberos.<state>``, as the doctor reports it).
    ticket: TicketStatus | None = None

    @property
    def status(self) -> str:
        return worst(self.findings)

    def _summary(self) -> list[str]:
        env = self.environment
        h, java = env.hadoop, env.java
        if env.native_only:  # hdfs_client=native: no JVM, whatever else is installed
            lines = [
                "HDFS client: hdfs-native (no Java, CLASSPATH or libhdfs needed)",
                f"Conf:   {env.conf.conf_dir if env.conf else 'none found'}",
            ]
        elif h is None or java is None:  # proxied artifacts: the findings say why
            lines = ["Hadoop: not needed (the tracking server stores the artifacts)"]
        else:
            j = java.install
            parcel = f" {h.parcel.name} {h.parcel.version}" if h.parcel else ""
            lines = [
                f"Hadoop: {h.kind}{parcel} (Hadoop {h.version or '?'}) at {h.root}",
                f"Java:   {j.version or '?'} at {j.home}",
                f"Conf:   {env.conf.conf_dir if env.conf else 'none found'}",
            ]
        lines.append(f"Ticket cache: {env.kerberos.ccache} ({env.kerberos.ccache_type})")
        t = self.ticket
        if t is not None:  # a Kerberized client: who, and for how long
            copy = t.ccache_file is not None and t.ccache_file != env.kerberos.ccache_path
            lines.append(f"Ticket: {ticket_line(t)}" + (f", in {t.ccache}" if copy else ""))
        if "MLFLOW_TRACKING_URI" in env.as_dict():
            lines.append(f"Tracking URI: {redact(env['MLFLOW_TRACKING_URI'])}")
        if self.experiment:
            lines.append(f"Experiment: {self.experiment}")
        return lines

    def __repr__(self) -> str:
        head = {"ok": "ready", "warn": "ready, with warnings", "error": "NOT ready"}.get(
            self.status, self.status
        )
        out = [f"mlflow-client-env setup: {head}"]
        out += ["  " + line for line in self._summary()]
        if self.applied:
            out.append("  set: " + ", ".join(c.name for c in self.applied))
        else:
            out.append("  set: nothing (already up to date)")
        for v in self.not_applied:
            out.append(f"  not set: {v.name} (read at process start; use install-kernel)")
        for f in self.findings:  # they quote paths and variables (JAVA_HOME=...): redacted
            mark = {"error": "✗", "warn": "!"}.get(f.status, "✓")
            out.append(f"  {mark} {redact(f.summary)}")
            if f.fix:
                out.append(f"      fix: {redact(f.fix)}")
        return "\n".join(out)

    __str__ = __repr__

    def _repr_html_(self) -> str:
        import html

        e = html.escape
        colour = {"ok": "#2e7d32", "warn": "#ef6c00", "error": "#c62828"}.get(self.status, "#555")
        rows = []
        applied = {c.name for c in self.applied}
        skipped = {v.name for v in self.not_applied}
        for v in self.environment.variables:
            state = (
                "set"
                if v.name in applied
                else "not set (process start)"
                if v.name in skipped
                else "unchanged"
            )
            shown = redact_value(v.name, v.value)  # notebooks are saved and shared: no secret
            value = shown if len(shown) <= 160 else shown[:150] + f"… ({len(shown)} chars)"
            rows.append(
                f"<tr><td><code>{e(v.name)}</code></td><td>{e(state)}</td>"
                f"<td style='word-break:break-all'><code>{e(value)}</code></td><td>{e(redact(v.reason))}</td></tr>"
            )
        items = "".join(
            f"<li><b>{e(f.status)}</b>: {e(redact(f.summary))}"
            + (f"<br><i>fix:</i> {e(redact(f.fix))}" if f.fix else "")
            + "</li>"
            for f in self.findings
        )
        summary = "<br>".join(e(line) for line in self._summary())
        return (
            f"<div><p style='color:{colour}'><b>mlflow-client-env setup: {e(self.status)}</b></p>"
            f"<p>{summary}</p>"
            + (f"<ul>{items}</ul>" if items else "")
            + "<details><summary>environment</summary><table><tr><th>variable</th><th>state</th>"
            "<th>value</th><th>why</th></tr>" + "".join(rows) + "</table></details></div>"
        )


def setup(
    tracking_uri: str | None = None,
    experiment: str | None = None,
    *,
    keytab: str | os.PathLike[str] | None = None,
    principal: str | None = None,
    exact_classpath: bool = False,
    exact_classpath_timeout: float | None = None,
    spark: bool = False,
    spark_home: str | os.PathLike[str] | None = None,
    **overrides: str | os.PathLike[str] | None,
) -> SetupReport:
    """Discover Hadoop, Java and Kerberos, and set the lazily-read variables in ``os.environ``.

    Keyword overrides are the discovery settings, as on the command line: each of
    ``config.SETTINGS`` (``parcel``, ``hadoop_conf_dir``, ``java_home``, ``hdfs_client``
    and the others ``mlflow-client-env env --help`` lists). With ``keytab`` and
    ``principal`` it logs in first (into a FILE cache, 0600); a KEYRING/KCM ticket is copied to a
    private FILE cache, because Java reads only FILE caches. With a Kerberized client
    configuration the report says whose ticket that cache holds and for how long (an
    ``error`` finding when there is none or it expired). Raises a subclass of
    ``MlflowClientEnvError`` (with the path at fault and the fix) on bad input.
    Calling it again changes nothing.

    With ``spark=True`` the driver uses the cluster's Spark, as findspark would: the
    parcel's (``SPARK3``, else CDH's ``lib/spark3``/``lib/spark``) or ``spark_home``, with
    ``SPARK_HOME`` set and its pyspark and py4j first on ``sys.path``. Executors get their
    environment from :func:`mlflow_client_env.spark_conf` (docs/spark.md).
    """
    # Check before acting: the keytab login or the KEYRING copy is planned (everything
    # validated, nothing written), then discovery runs, and only then is the plan carried out.
    if experiment and "mlflow" not in sys.modules:
        from importlib.util import find_spec

        if find_spec("mlflow") is None:  # checked before anything is changed
            raise MlflowClientEnvError(
                f"setup(experiment={experiment!r}) needs MLflow, which is not installed here",
                "install the MLflow your tracking server supports (pip install 'mlflow==X.Y'); "
                "mlflow-client-env never chooses it for you",
            )
    kerberos = discover_kerberos(os.environ)  # once: the plan and discovery both need it
    ov = resolve_overrides({**overrides, "tracking_uri": tracking_uri}, os.environ)
    plan = plan_ticket(ov, os.environ, keytab, principal, kerberos)
    if ov.tracking_uri is not None:
        refuse_credentials_in_uri(*ov.tracking_uri.pair())
    resolved = resolve(
        ov,
        os.environ,
        plan,
        kerberos,
        experiment=experiment,
        exact_classpath=exact_classpath,
        exact_classpath_timeout=exact_classpath_timeout,
    )
    env, kinit_findings = resolved.environment, resolved.findings
    # after the login or the copy: the ticket of the cache Java and Python will use
    ticket, ticket_findings = ticket_readiness(env)
    findings = [*kinit_findings, *env.findings, *ticket_findings]
    # a tracking server behind Kerberos (tracking_auth=kerberos): the plugin and the ticket
    # MLflow's requests will use, checked now, without the network
    after = {**os.environ, **env.as_dict()}
    if after.get(AUTH_VAR) == PROVIDER_NAME:  # (imported only then: setup()'s cold path)
        from .tracking_auth.check import setup_findings as spnego_setup_findings

        findings += spnego_setup_findings(
            after.get(AUTH_VAR), after.get("MLFLOW_TRACKING_URI"), after
        )
    driver = None
    if spark or spark_home is not None:  # the driver: the cluster's pyspark and py4j
        # imported here, not at the top: setup()'s import graph stays minimal (issue 10)
        from .spark import find_parcel_spark

        try:  # found before anything is changed: a spark_home that is none is bad input
            driver = find_parcel_spark(env, os.environ, spark_home=spark_home)
        except SparkHomeError as exc:
            if spark_home is not None:
                raise
            findings.append(Finding("spark.not-found", "error", exc.problem, fix=exc.fix))
    changed = env.changes(os.environ)
    applied = [
        Change(v.name, os.environ.get(v.name), v.value) for v in changed if v.timing == "lazy"
    ]
    not_applied = tuple(v for v in changed if v.timing == "start")
    jvm = None
    # pyarrow keeps a failed libjvm/libhdfs load for the life of the process (A4, F2):
    # nothing set now can reach it, whatever this call changes
    failed_load = failed_jvm_load()
    findings += failed_load
    if failed_load:
        warnings.warn(failed_load[0].summary, RuntimeWarning, stacklevel=2)
    if any(c.name in JVM_VARIABLES for c in applied) and not failed_load:
        jvm = running_jvm(also=(env.java.install.libjvm,) if env.java else ())
        if jvm is not None:
            findings.append(
                Finding(
                    "process-start.jvm-already-loaded",
                    "warn",
                    f"a JVM ({jvm}) is already running in this process, so the new CLASSPATH and "
                    "LIBHDFS_OPTS can no longer take effect (catalog A4, F2)",
                    fix="restart the kernel (Kernel > Restart) and call setup() before any HDFS "
                    "access, or use a kernel from 'mlflow-client-env install-kernel'",
                )
            )
            warnings.warn(findings[-1].summary, RuntimeWarning, stacklevel=2)
    early = preloaded()  # the launcher kernel's libjvm: libhdfs will be given that one
    java = env.java.install if env.java is not None else None
    if early and java and os.path.realpath(early) != os.path.realpath(java.libjvm):
        findings.append(
            Finding(
                "process-start.other-libjvm-loaded",
                "warn",
                f"this kernel loaded {early} at its start, so libhdfs will run that Java, not "
                f"{java.libjvm}: a library that needs libjvm.so is given the one already "
                "loaded (catalog A3)",
                fix="reinstall the kernel with 'mlflow-client-env install-kernel --java-home "
                f"{java.home}' and restart it (Kernel > Restart)",
            )
        )
        warnings.warn(findings[-1].summary, RuntimeWarning, stacklevel=2)
    for c in applied:
        os.environ[c.name] = c.new
    warn_after_fork()  # a child forked once libhdfs has a JVM here hangs on HDFS (E4)
    if driver is not None:  # the cluster's Spark for the driver, found above
        from .spark import apply_spark_driver

        findings += apply_spark_driver(driver).findings
    if tracking_uri and "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(tracking_uri)
    if "IPython" in sys.modules:
        install_if_running()
    if experiment:
        import mlflow

        mlflow.set_experiment(experiment)
    return SetupReport(env, tuple(applied), not_applied, tuple(findings), jvm, experiment, ticket)
