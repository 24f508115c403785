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
``ARROW_LIBHDFS_DIR``; the fix is ``spark_conf()``), or ``spark.executors-no-ticket``
(error: neither a ticket nor valid delegation tokens). The workers' own findings follow,
each with its host and pid first in the evidence. The workers need this package in their
Python (the probe is this module's code); without it the probe says so
(``SparkProbeError``). docs/spark.md shows a report.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..errors import SparkProbeError
from ..findings import Finding

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
    """Runs inside a Python worker: the doctor's findings on this very process, as JSON."""
    import json
    import os
    import socket

    from . import run
    from .context import for_process

    report = run(for_process(os.getpid(), {}), list(WORKER_CHECKS))
    findings = [
        {"check": r.name, "code": f.code, "status": f.status, "summary": f.summary,
         "evidence": list(f.evidence), "fix": f.fix}
        for r in report.results for f in r.findings
    ]  # fmt: skip
    from ..artifacts.mode import HDFS_CLIENT_VAR

    yield json.dumps(
        {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "native": os.environ.get(HDFS_CLIENT_VAR) == "native",
            "hadoop_conf_dir": os.environ.get("HADOOP_CONF_DIR"),
            "findings": findings,
        }
    )


def _lacks(worker: dict[str, Any]) -> list[str]:
    """What a worker lacks for logging to HDFS: on the native path a client configuration;
    on the JVM path the variables its host would give a new process (the live-process
    check's "started without"), or any way to its host's Hadoop at all."""
    if worker["native"]:
        return [] if worker["hadoop_conf_dir"] else ["HADOOP_CONF_DIR"]
    found = worker["findings"]
    lacking = [
        f["code"].split(".", 1)[1].upper()
        for f in found
        if f["check"] == "live-process" and f["summary"].startswith("it started without ")
    ]
    lacking += [
        f"a way to Hadoop ({f['summary'].removeprefix('skipped: ')[:200]})"
        for f in found
        if f["code"] == "live-process.skipped" and "no Hadoop installation" in f["summary"]
    ]
    return lacking


def probe_executors(spark: Any, tasks: int | None = None) -> list[Finding]:
    """Ask the executors' Python workers what they see (``spark``: a SparkSession or
    SparkContext). ``tasks``: how many (default: the default parallelism, so that every
    executor gets one). Raises ``SparkProbeError`` when the job cannot run the probe."""
    sc = getattr(spark, "sparkContext", spark)
    n = max(1, int(tasks or sc.defaultParallelism))
    try:
        lines = sc.parallelize(range(n), n).mapPartitions(worker_report).collect()
    except Exception as exc:  # Py4JJavaError: the workers' own traceback is in its text
        text = str(exc)
        if "No module named 'mlflow_client_env" in text:
            raise SparkProbeError(
                "the executors' Python cannot import mlflow_client_env, which runs the probe",
                "install mlflow-client-env into the Python the executors run "
                "(spark.pyspark.python / the archive shipped with --archives)",
            ) from None
        raise SparkProbeError(
            f"the probe job failed: {text.strip().splitlines()[0][:300] if text else exc!r}",
            "see the executors' logs (Spark UI, Executors tab)",
        ) from None
    import json

    reports: dict[tuple[str, int], dict[str, Any]] = {}
    for line in lines:
        data = json.loads(line)
        reports[(data["host"], data["pid"])] = data
    workers = {w: r["findings"] for w, r in reports.items()}
    lacking = {w: m for w, r in reports.items() if (m := _lacks(r))}
    no_ticket = [
        w for w, f in workers.items()
        if any(x["check"] == "kerberos" and x["status"] == "error"
               and x["code"] in ("kerberos.missing", "kerberos.expired") for x in f)
    ]  # fmt: skip
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
