"""Benchmark: the executors' first HDFS write per task, JVM path vs native path (issue 16).

Run: .venv/bin/python benchmarks/bench_spark.py [--tasks N] [--json]

One sandbox (KDC, Kerberized HDFS 2.7.3; no MLflow server) is started here and stopped
at the end, with a Spark ``local-cluster[2,1,1024]`` (a real standalone master, two
workers, two executor JVMs with their own Python workers) whose executors get both
paths' variables from :func:`mlflow_client_env.spark.plan_spark_conf` (``local`` mode,
the JVM path's and the native path's entries together). In the same job each task makes
its first write with both clients, one 1 KiB file each, alternating which goes first
(JVM first on even tasks): pyarrow's ``HadoopFileSystem`` (libhdfs starts a JVM in the
Python worker the first time) and hdfs-native. A write is timed from connecting to the
closed file. Two apps: Spark's default (Python workers reused between tasks, so only a
worker's first task starts libhdfs's JVM) and ``spark.python.worker.reuse=false`` (every
task in a new Python worker). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlflow_client_env.discovery import build_environment  # noqa: E402
from mlflow_client_env.spark import plan_spark_conf  # noqa: E402
from mlflow_client_env_sandbox.cluster import Sandbox  # noqa: E402

MASTER = "local-cluster[2,1,1024]"
EXECUTORS = 2
BASE_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "LOGNAME")


def first_writes(tag: str) -> Any:
    def task(i: int) -> dict[str, Any]:
        import os
        import time

        def jvm() -> float:
            import pyarrow.fs as pafs

            t0 = time.perf_counter()
            fs = pafs.HadoopFileSystem(
                "default", 0, kerb_ticket=os.environ.get("MLFLOW_KERBEROS_TICKET_CACHE")
            )
            with fs.open_output_stream(f"/user/alice/{tag}-jvm-{i}.bin") as out:
                out.write(b"x" * 1024)
            return time.perf_counter() - t0

        def native() -> float:
            from hdfs_native import Client

            t0 = time.perf_counter()
            with Client().create(f"/user/alice/{tag}-native-{i}.bin") as out:
                out.write(b"x" * 1024)
            return time.perf_counter() - t0

        with open("/proc/self/maps") as maps:
            jvm_loaded = "libjvm" in maps.read()
        got = {}
        for name, fn in ((("jvm", jvm), ("native", native)) if i % 2 == 0 else
                         (("native", native), ("jvm", jvm))):  # fmt: skip
            got[name] = fn()
        return {"task": i, "pid": os.getpid(), "jvm_already": jvm_loaded, **got}

    return task


def spark_home(dest: Path) -> Path:
    import pyspark

    pip = Path(pyspark.__file__).parent
    dest.mkdir()
    for name in ("bin", "jars", "python"):
        (dest / name).symlink_to(pip / name)
    return dest


def run_app(conf: dict[str, str], home: Path, java_home: Path, tasks: int) -> dict[str, Any]:
    from pyspark import SparkContext
    from pyspark.cloudpickle import register_pickle_by_value
    from pyspark.sql import SparkSession

    register_pickle_by_value(sys.modules[__name__])  # type: ignore[no-untyped-call]
    builder = (
        SparkSession.builder.master(MASTER)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.executor.memory", "512m")
    )
    for k, v in conf.items():
        builder = builder.config(k, v)
    saved = dict(os.environ)
    if SparkContext._gateway is None:  # executors get the Spark configuration's variables only
        os.environ.clear()
        os.environ.update({k: saved[k] for k in BASE_KEYS if k in saved})
        os.environ.update(
            JAVA_HOME=str(java_home), SPARK_HOME=str(home), SPARK_LOCAL_IP="127.0.0.1"
        )
    os.environ["PYSPARK_PYTHON"] = sys.executable
    try:
        t0 = time.perf_counter()
        session = builder.getOrCreate()
        started = time.perf_counter() - t0
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        sc = session.sparkContext
        sc.parallelize(range(EXECUTORS), EXECUTORS).map(lambda x: x).collect()  # executors up
        t0 = time.perf_counter()
        rows = sc.parallelize(range(tasks), tasks).map(first_writes(uuid.uuid4().hex[:8])).collect()
        job = time.perf_counter() - t0
    finally:
        session.stop()
    return {"start_s": started, "job_s": job, "rows": rows}


def close_gateway() -> None:
    from pyspark import SparkContext

    gw = SparkContext._gateway
    if gw is None:
        return
    proc = getattr(gw, "proc", None)
    gw.shutdown()
    SparkContext._gateway = None
    SparkContext._jvm = None
    if proc is not None:
        proc.terminate()
        proc.wait(30)


def measure(tasks: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp_name:
        tmp = Path(tmp_name)
        sb = Sandbox(tmp / "sandbox")
        try:
            sb.up(with_mlflow=False)
            sb.kinit_alice()
            env = {k: os.environ[k] for k in BASE_KEYS if k in os.environ}
            env.update(
                sb.env(),
                MLFLOW_CLIENT_ENV_CONFIG=str(tmp / "user.toml"),
                MLFLOW_CLIENT_ENV_SITE_CONFIG=str(tmp / "site.toml"),
                MLFLOW_CLIENT_ENV_CACHE=str(tmp / "cache"),
            )
            composed = build_environment(env)
            conf: dict[str, str] = {}
            for client in ("native", "jvm"):  # the JVM path's entries last: the union
                conf.update(
                    plan_spark_conf("local", MASTER, hdfs_client=client, environment=composed)
                    .as_dict()
                )  # fmt: skip
            home = spark_home(tmp / "spark-home")
            out: dict[str, Any] = {"tasks": tasks, "executors": EXECUTORS, "apps": {}}
            try:
                for reuse in ("true", "false"):
                    app_conf = {**conf, "spark.python.worker.reuse": reuse}
                    out["apps"][reuse] = run_app(app_conf, home, sb.assets.java_home, tasks)
            finally:
                close_gateway()
            return out
        finally:
            sb.close()


def ms(values: list[float]) -> str:
    if not values:
        return "-"
    v = sorted(values)
    p90 = v[min(len(v) - 1, round(0.9 * (len(v) - 1)))]
    return f"{statistics.median(v) * 1000:.0f} / {p90 * 1000:.0f} / {v[-1] * 1000:.0f}"


def table(out: dict[str, Any]) -> str:
    lines = [
        f"Spark `{MASTER}`: {out['executors']} executors, {out['tasks']} tasks per job, 1 KiB "
        "first write per task and path, median / p90 / max in ms",
        "",
        "| Python workers | tasks | path | every task | tasks whose worker had no JVM yet "
        "| tasks in a reused worker | job wall time |",
        "|---|---|---|---|---|---|---|",
    ]
    for reuse, app in out["apps"].items():
        rows = app["rows"]
        fresh = [r for r in rows if not r["jvm_already"]]
        warm = [r for r in rows if r["jvm_already"]]
        label = "reused (default)" if reuse == "true" else "one per task (reuse=false)"
        for path in ("jvm", "native"):
            lines.append(
                f"| {label} | {len(rows)} | {'JVM (pyarrow, libhdfs)' if path == 'jvm' else 'native (hdfs-native)'} "
                f"| {ms([r[path] for r in rows])} | {ms([r[path] for r in fresh])} ({len(fresh)}) "
                f"| {ms([r[path] for r in warm])} ({len(warm)}) | {app['job_s']:.1f} s |"
            )
    lines.append("")
    lines.append(
        "App start (driver JVM, master, workers, executors): "
        + ", ".join(f"{a['start_s']:.1f} s" for a in out["apps"].values())
    )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--json", action="store_true", help="print the raw numbers as JSON")
    args = ap.parse_args()
    out = measure(args.tasks)
    print(json.dumps(out, indent=2) if args.json else table(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
