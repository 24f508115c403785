"""The doctor inside Spark's executors: what their Python workers see (catalog H1).

Executors do not run ``setup()`` and do not see the driver's environment. ``doctor --pid``
reads one Python worker on this host; :func:`probe_executors` asks every executor, on any
host, with a small ``mapPartitions`` job that runs the doctor's ``live-process`` and
``kerberos`` checks inside each Python worker, on that worker's own process::

    from mlflow_client_env.doctor.spark_probe import probe_executors
    for f in probe_executors(spark):
        print(f.status, f.code, f.summary)

The first finding speaks for all workers: ``spark.executors-ready`` (ok), or
``spark.executors-missing-environment`` (error, catalog H1: a worker started without a
variable a new process on its host would get, such as ``CLASSPATH`` or
``ARROW_LIBHDFS_DIR``; the fix is ``spark_conf()``), ``spark.executors-no-ticket``
(error: neither a ticket nor valid delegation tokens), ``spark.executors-errors``
(error: any other error a worker reports). The workers' own findings follow,
each with its host and pid first in the evidence. The workers need this package in their
Python (the probe is this module's code); without it the probe says so
(``SparkProbeError``). docs/spark.md shows a report.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..artifacts.mode import hdfs_client_in_force
from ..errors import MlflowClientEnvError, SparkProbeError
from ..findings import Finding
from ..spark import TICKET_VARIABLES  # judged by the ticket (or tokens), never "missing"
from . import run
from .context import for_process

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: The checks a worker runs on itself: its variables against what its host needs, its ticket.
WORKER_CHECKS = ("live-process", "kerberos")
H1_FIX = (
    "start the session with mlflow_client_env.spark_conf() (SparkSession.builder"
    ".config(map=spark_conf())), or pass 'mlflow-client-env env --format spark-conf' to "
    "spark-submit: executors get their variables only from spark.executorEnv.*"
)


def worker_report(_: Iterable[Any] = ()) -> Iterator[str]:
    """Runs inside a Python worker: the doctor's findings on this very process, as JSON.
    Never raises: a failure inside is sent back as ``error``."""
    import json
    import os
    import socket

    out: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(), "native": False}
    try:
        try:
            choice = hdfs_client_in_force(env=os.environ)
            out["native"], out["hdfs_client"] = choice.native, choice.summary()
        except MlflowClientEnvError as exc:
            out["hdfs_client"] = exc.problem
        conf_dir = os.environ.get("HADOOP_CONF_DIR")
        out["hadoop_conf_dir"] = conf_dir if conf_dir and os.path.isdir(conf_dir) else None
        report = run(for_process(os.getpid(), {}), list(WORKER_CHECKS))
        out["findings"] = [
            {"check": r.name, "code": f.code, "status": f.status, "summary": f.summary,
             "evidence": list(f.evidence), "fix": f.fix}
            for r in report.results for f in r.findings
        ]  # fmt: skip
    except Exception as exc:  # the worker's own answer, not a job failure
        out["error"] = f"{type(exc).__name__}: {exc}"[:500]
        out.setdefault("findings", [])
    yield json.dumps(out)


NO_TICKET_CODES = ("kerberos.missing", "kerberos.expired")


def _lacks(worker: dict[str, Any]) -> list[str]:
    """What a worker lacks for logging to HDFS: on the native path a client configuration;
    on the JVM path the variables its host would give a new process (the live-process
    check's "started without"), or any way to its host's Hadoop at all."""
    if worker.get("native"):
        return [] if worker.get("hadoop_conf_dir") else ["HADOOP_CONF_DIR (a folder)"]

    found = worker["findings"]
    lacking = [
        name
        for f in found
        if f["check"] == "live-process" and f["summary"].startswith("it started without ")
        and (name := f["code"].split(".", 1)[1].upper()) not in TICKET_VARIABLES
    ]  # fmt: skip
    lacking += [
        f"a way to Hadoop ({f['summary'].removeprefix('skipped: ')[:200]})"
        for f in found
        if f["code"] == "live-process.skipped" and "no Hadoop installation" in f["summary"]
    ]
    return lacking


def _job_failure(exc: BaseException) -> SparkProbeError:
    """The probe job's failure, with the workers' own exception when the text has one."""
    import re

    text = str(exc)
    if "No module named 'mlflow_client_env" in text:
        return SparkProbeError(
            "the executors' Python cannot import mlflow_client_env (or this version of it), "
            "which runs the probe",
            "install the same mlflow-client-env into the Python the executors run "
            "(spark.pyspark.python / the archive shipped with --archives)",
        )
    names = re.findall(r"^\s*([A-Z]\w*(?:Error|Exception): .+)$", text, re.MULTILINE)
    cause = names[-1] if names else (text.strip().splitlines() or [repr(exc)])[0]
    return SparkProbeError(
        f"the probe job failed: {cause[:300]}",
        "see the executors' logs (Spark UI, Executors tab)",
    )


def _collect(sc: Any, n: int, timeout: float) -> list[str]:
    """Run the probe as its own job, cancelled after ``timeout`` s (no executors, a full
    queue); the caller's job group and tags are left as they were."""
    import threading
    import uuid

    tag = f"mlflow-client-env-probe-{uuid.uuid4().hex[:8]}"
    fired = threading.Event()

    def cancel() -> None:
        fired.set()
        sc.cancelJobsWithTag(tag)

    sc.addJobTag(tag)
    timer = threading.Timer(timeout, cancel)
    timer.daemon = True
    timer.start()
    try:
        lines: list[str] = sc.parallelize(range(n), n).mapPartitions(worker_report).collect()
        return lines
    except Exception as exc:
        if fired.is_set():
            raise SparkProbeError(
                f"the probe did not finish within {timeout:g} s",
                "are executors available (YARN queue, dynamic allocation)? see the Spark UI",
            ) from None
        raise _job_failure(exc) from None
    finally:
        timer.cancel()
        sc.removeJobTag(tag)


def probe_executors(spark: Any, tasks: int | None = None, timeout: float = 300.0) -> list[Finding]:
    """Ask the executors' Python workers what they see (``spark``: a SparkSession or
    SparkContext). ``tasks``: how many (default: the default parallelism, so that every
    executor gets one). Raises ``SparkProbeError`` when the job cannot run the probe, or
    has not finished within ``timeout`` seconds."""
    import json

    try:
        sc = getattr(spark, "sparkContext", spark)
        n = max(1, int(tasks or sc.defaultParallelism))
        if not hasattr(sc, "addJobTag"):
            raise AttributeError("addJobTag")
    except Exception as exc:  # Spark Connect has no SparkContext; Spark < 3.5 no job tags
        raise SparkProbeError(
            f"the probe needs a classic SparkSession or SparkContext of Spark 3.5 or later "
            f"({type(exc).__name__}: {str(exc)[:200]})",
            "run it from a session started with SparkSession.builder (not Spark Connect); on "
            "an older Spark use 'mlflow-client-env doctor --pid' on a worker",
        ) from None
    reports: dict[tuple[str, int], dict[str, Any]] = {}
    for line in _collect(sc, n, timeout):
        data = json.loads(line)
        reports[(data["host"], data["pid"])] = data
    return summarize(reports)


def summarize(reports: dict[tuple[str, int], dict[str, Any]]) -> list[Finding]:
    """The probe's findings from the workers' reports (``worker_report``), by (host, pid):
    the headlines first, then every worker's own findings."""
    workers = {w: r["findings"] for w, r in reports.items()}
    lacking = {w: m for w, r in reports.items() if (m := _lacks(r))}
    no_ticket = [
        w for w, f in workers.items()
        if any(x["check"] == "kerberos" and x["status"] == "error"
               and x["code"] in NO_TICKET_CODES for x in f)
    ]  # fmt: skip
    others: dict[tuple[str, int], list[str]] = {}
    for w, f in workers.items():
        codes = {
            x["code"] for x in f if x["status"] == "error" and x["code"] not in NO_TICKET_CODES
        }
        if reports[w].get("error"):
            codes.add("the probe itself")
        if codes:
            others[w] = sorted(codes)
    names = ", ".join(f"{h}:{p}" for h, p in sorted(workers))
    head: list[Finding] = []
    if lacking:
        head.append(
            Finding(
                "spark.executors-missing-environment",
                "error",
                f"{len(lacking)} of {len(workers)} executor Python workers started without "
                "what logging to HDFS needs there, so their first write fails with A1/B1 "
                "(catalog H1)",
                tuple(f"{h}:{p} lacks {', '.join(m)}" for (h, p), m in sorted(lacking.items())),
                H1_FIX,
            )
        )
    if no_ticket:
        head.append(
            Finding(
                "spark.executors-no-ticket",
                "error",
                f"{len(no_ticket)} of {len(workers)} executor Python workers have neither a "
                "Kerberos ticket nor valid HDFS delegation tokens (catalog D1 on the workers)",
                tuple(f"{h}:{p}" for h, p in sorted(no_ticket)),
                "local executors: spark_conf(mode='local') passes the ticket cache; on YARN, "
                "Spark fetches tokens when it has the ticket or --principal/--keytab",
            )
        )
    if others:
        head.append(
            Finding(
                "spark.executors-errors",
                "error",
                f"{len(others)} of {len(workers)} executor Python workers report other errors",
                tuple(
                    f"{h}:{p}: {', '.join(c)}"
                    + (f" ({reports[(h, p)]['error']})" if reports[(h, p)].get("error") else "")
                    for (h, p), c in sorted(others.items())
                ),
                "see the workers' findings below",
            )
        )
    if not head:
        head.append(
            Finding(
                "spark.executors-ready",
                "ok",
                f"{len(workers)} executor Python workers have what logging to HDFS needs",
                (names,),
            )
        )
    for (host, pid), found in sorted(workers.items()):
        for f in found:
            head.append(
                Finding(
                    f["code"], f["status"], f"{host}:{pid}: {f['summary']}",
                    (f"worker {host}:{pid}", *f["evidence"]), f["fix"],
                )
            )  # fmt: skip
    return head
