"""Spark against real parts: local-cluster executors that log to the Kerberized sandbox, and
the parcel's Spark found for the driver (issue 16, catalog H1).

``local-cluster[2,1,1024]`` starts a real standalone master and two workers inside the
driver's JVM, and each worker launches its own executor JVM, whose Python workers write
to HDFS. The driver's JVM (the pyspark gateway) is launched once for the module with a
bare environment (no Hadoop, no Kerberos variables), so executors get only what the
Spark configuration gives them, as on other hosts. Apps run one at a time; the gateway
JVM is stopped at the end of the module, also on failure.

Task functions are pickled by value (the executors cannot import this module).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env.discovery import build_environment
from mlflow_client_env.doctor.catalog import explain
from mlflow_client_env.environment import Environment
from mlflow_client_env.spark import (
    DRIVER_JAVA_OPTIONS,
    EXECUTOR_ENV,
    EXECUTOR_JAVA_OPTIONS,
    SparkHomeError,
    SparkSetupError,
    find_parcel_spark,
    merge_java_options,
    plan_spark_conf,
    render_spark_submit,
    resolve_master,
    spark_conf,
    spark_submit_args,
)
from mlflow_client_env_sandbox import Assets
from mlflow_client_env_sandbox.assets import PYSPARK, ensure_sdist
from mlflow_client_env_sandbox.parcel import ParcelTree
from tests.sandbox.fixtures import Cluster
from tests.sandbox.helpers import base_env, run_python

pytestmark = [pytest.mark.sandbox, pytest.mark.jvm]

MASTER = "local-cluster[2,1,1024]"
EXECUTORS = 2
TASKS = 4
#: A hang guard for one Spark job (a broken setup otherwise waits forever while the master
#: relaunches dying executors); never a timing assertion.
JOB_GUARD_S = 420.0


def _pip_pyspark() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


# ============================================================================ the cluster
def private_spark_home(dest: Path) -> Path:
    """A SPARK_HOME of links into pip's pyspark, so the workers' ``work/`` folders (executor
    logs) land in ``dest``, not in the virtualenv."""
    pip = _pip_pyspark()
    dest.mkdir(parents=True)
    for name in ("bin", "jars", "python"):
        (dest / name).symlink_to(pip / name)
    (dest / "conf").mkdir()
    return dest


class LocalCluster:
    """The module's pyspark gateway and its local-cluster apps, one at a time."""

    def __init__(self, spark_home: Path, java_home: Path) -> None:
        self.spark_home = spark_home
        self.java_home = java_home
        self.session: Any = None
        self.conf: dict[str, str] = {}

    def _gateway_env(self) -> dict[str, str]:
        return {
            **base_env(),
            "JAVA_HOME": str(self.java_home),
            "SPARK_HOME": str(self.spark_home),
            "PYSPARK_PYTHON": sys.executable,
            "SPARK_LOCAL_IP": "127.0.0.1",  # master, workers and their UIs on loopback
        }

    def ensure(self, conf: Mapping[str, str]) -> Any:
        """The current app when it was started with ``conf``, else a new one."""
        if self.session is not None and self.conf == dict(conf):
            return self.session
        return self.start(conf)

    def start(self, conf: Mapping[str, str]) -> Any:
        """A new app with ``conf`` (the previous one is stopped first)."""
        from pyspark import SparkContext
        from pyspark.cloudpickle import register_pickle_by_value
        from pyspark.sql import SparkSession

        self.stop_app()
        register_pickle_by_value(sys.modules[__name__])  # type: ignore[no-untyped-call]
        builder = (
            SparkSession.builder.master(MASTER)
            .appName("mlflow-client-env-test")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.executor.memory", "512m")
            .config("spark.pyspark.python", sys.executable)
        )
        for key, value in conf.items():
            builder = builder.config(key, value)
        self.conf = dict(conf)
        # The gateway JVM (and so every worker and executor) gets this environment only;
        # pyspark reads the Python workers' interpreter from PYSPARK_PYTHON at each start.
        saved = dict(os.environ)
        if SparkContext._gateway is None:
            os.environ.clear()
            os.environ.update(self._gateway_env())
        os.environ["PYSPARK_PYTHON"] = sys.executable
        try:
            self.session = builder.getOrCreate()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return self.session

    def executor_dirs(self) -> list[Path]:
        """The executor folders (one per executor JVM launched) of the current app."""
        app = self.session.sparkContext.applicationId
        folder = self.spark_home / "work" / app
        return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def executor_logs(self, lines: int = 15) -> str:
        out = []
        for d in self.executor_dirs()[-4:]:
            text = (d / "stderr").read_text(errors="replace") if (d / "stderr").exists() else ""
            out.append(f"--- executor {d.name} stderr (last {lines} lines):")
            out += text.splitlines()[-lines:]
        return "\n".join(out)

    def run(self, fn: Callable[[int], Any], n: int = TASKS) -> list[Any]:
        """``fn`` over ``range(n)``, one task each; fails (never hangs) when executors die and
        are relaunched, or after the guard."""
        from pyspark import InheritableThread

        sc = self.session.sparkContext
        group = f"test-{uuid.uuid4().hex[:8]}"
        box: dict[str, Any] = {}

        def body() -> None:
            sc.setJobGroup(group, "mlflow-client-env test", interruptOnCancel=True)
            try:
                box["out"] = sc.parallelize(range(n), n).map(fn).collect()
            except BaseException as exc:  # reported in the test's thread
                box["err"] = exc

        thread = InheritableThread(target=body, daemon=True)
        thread.start()
        deadline = time.monotonic() + JOB_GUARD_S
        problem = None
        while thread.is_alive():
            thread.join(1.0)
            if len(self.executor_dirs()) > EXECUTORS:
                problem = "executor JVMs died and were relaunched"
            elif time.monotonic() > deadline:
                problem = f"the job did not finish within the {JOB_GUARD_S:.0f} s hang guard"
            if problem:
                sc.cancelJobGroup(group)
                thread.join(60)
                raise AssertionError(f"{problem}\n{self.executor_logs()}")
        if "err" in box:
            raise box["err"]
        return list(box["out"])

    def stop_app(self) -> None:
        if self.session is not None:
            self.session.stop()
            self.session = None

    def close(self) -> None:
        from pyspark import SparkContext

        try:
            self.stop_app()
        finally:
            gateway = SparkContext._gateway
            if gateway is not None:
                proc = getattr(gateway, "proc", None)
                try:
                    gateway.shutdown()
                finally:
                    SparkContext._gateway = None
                    SparkContext._jvm = None
                    if proc is not None:
                        proc.terminate()
                        try:
                            proc.wait(30)
                        except subprocess.TimeoutExpired:
                            proc.kill()
                            proc.wait(30)


@pytest.fixture(scope="module")
def spark(
    cluster: Cluster, sandbox_assets: Assets, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    home = private_spark_home(tmp_path_factory.mktemp("spark") / "spark-home")
    lc = LocalCluster(home, sandbox_assets.java_home)
    try:
        yield lc
    finally:
        lc.close()


@pytest.fixture(scope="module")
def driver_env(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The driver's environment as the user's shell has it: the sandbox's variables and a
    10 h ticket for alice in a FILE cache; private config files and cache."""
    tmp = tmp_path_factory.mktemp("driver")
    ccache = tmp / "krb5cc_alice"
    cluster.kdc.kinit("alice", ccache, lifetime="10h")
    return {
        **base_env(),
        **cluster.sandbox.env(),
        "KRB5CCNAME": f"FILE:{ccache}",
        "MLFLOW_CLIENT_ENV_CONFIG": str(tmp / "user-config.toml"),
        "MLFLOW_CLIENT_ENV_SITE_CONFIG": str(tmp / "site-config.toml"),
        "MLFLOW_CLIENT_ENV_CACHE": str(tmp / "cache"),
    }


@pytest.fixture(scope="module")
def composed(driver_env: dict[str, str]) -> Environment:
    return build_environment(driver_env)


def ccache_of(env: Mapping[str, str]) -> Path:
    return Path(env["KRB5CCNAME"].removeprefix("FILE:"))


# ============================================================================ tasks
def write_with_pyarrow(tag: str) -> Callable[[int], Any]:
    def task(i: int) -> tuple[int, int, str]:
        import os

        try:
            import pyarrow.fs as pafs

            fs = pafs.HadoopFileSystem(
                "default", 0, kerb_ticket=os.environ.get("MLFLOW_KERBEROS_TICKET_CACHE")
            )
            with fs.open_output_stream(f"/user/alice/{tag}-{i}.txt") as out:
                out.write(f"task {i} of {tag}\n".encode())
        except Exception as exc:
            return i, os.getpid(), f"{type(exc).__name__}: {exc}"
        return i, os.getpid(), "ok"

    return task


def write_with_hdfs_native(tag: str) -> Callable[[int], Any]:
    def task(i: int) -> tuple[int, int, str, bool]:
        import os

        from hdfs_native import Client

        with Client().create(f"/user/alice/{tag}-{i}.txt") as out:
            out.write(f"task {i} of {tag}\n".encode())
        with open("/proc/self/maps") as maps:
            jvm = "libjvm" in maps.read()
        return i, os.getpid(), os.environ.get("MLFLOW_CLIENT_ENV_HDFS_CLIENT", ""), jvm

    return task


def log_runs(experiment_id: str, parent_run_id: str) -> Callable[[int], Any]:
    def task(i: int) -> str:
        import os
        import tempfile

        from mlflow.tracking import MlflowClient

        client = MlflowClient()  # MLFLOW_TRACKING_URI: from the executor's environment
        run = client.create_run(
            experiment_id, tags={"mlflow.parentRunId": parent_run_id, "task": str(i)}
        )
        rid = run.info.run_id
        client.log_metric(rid, "loss", 1.0 / (i + 1))
        client.log_param(rid, "pid", str(os.getpid()))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, f"task-{i}.txt")
            with open(path, "w") as fh:
                fh.write(f"artifact of task {i}\n")
            client.log_artifact(rid, path)
        client.set_terminated(rid)
        return str(rid)

    return task


# ============================================================================ executors
def test_without_spark_conf_executors_fail_with_a1(spark: LocalCluster) -> None:
    """The problem (H1): the driver is fine, the executors know nothing of Hadoop."""
    spark.start({})
    results = spark.run(write_with_pyarrow(f"nospark-{uuid.uuid4().hex[:8]}"))
    errors = [r[2] for r in results]
    assert all(e != "ok" for e in errors), results
    codes = {getattr(explain(e), "code", None) for e in errors}
    assert "A1" in codes, errors  # 'Unable to load libhdfs' on each worker's first task
    assert codes <= {"A1", "A4"}, errors  # then pyarrow's cached failure (A4)
    assert any("Unable to load libhdfs" in e for e in errors), errors


def test_the_doctors_probe_finds_h1_on_the_executors_first(
    spark: LocalCluster, composed: Environment, driver_env: dict[str, str]
) -> None:
    """Before any task fails: the probe (the doctor inside each Python worker) says H1 on
    executors started without spark_conf(), and ready once they have it."""
    from mlflow_client_env.doctor.spark_probe import probe_executors

    def codes(findings: list[Any]) -> list[tuple[str, str, str]]:
        return [(f.code, f.status, f.summary[:160]) for f in findings]

    # a worker whose variables lead to no Hadoop at all
    spark.start({})
    bare = probe_executors(spark.session, tasks=4)
    head = bare[0]
    assert (head.code, head.status) == ("spark.executors-missing-environment", "error"), codes(bare)
    assert "H1" in head.summary and "spark_conf()" in (head.fix or ""), head
    assert all("a way to Hadoop" in e for e in head.evidence), head
    assert {e for f in bare[1:] for e in f.evidence[:1] if e.startswith("worker ")}, codes(bare)
    # a worker on a host with the parcel (the sandbox's parcels root stands in for
    # /opt/cloudera/parcels): it finds Hadoop, and lacks what libhdfs needs
    root = driver_env["MLFLOW_CLIENT_ENV_PARCELS_ROOT"]
    spark.start({EXECUTOR_ENV + "MLFLOW_CLIENT_ENV_PARCELS_ROOT": root})
    host = probe_executors(spark.session, tasks=4)
    head = host[0]
    assert head.code == "spark.executors-missing-environment", codes(host)
    assert all("CLASSPATH" in e and "ARROW_LIBHDFS_DIR" in e for e in head.evidence), head
    # with spark_conf(): ready
    spark.ensure(spark_conf("local", MASTER, hdfs_client="jvm", environment=composed))
    ready = probe_executors(spark.session, tasks=4)
    bad = [c for c in codes(ready) if c[1] == "error"]
    assert ready[0].code == "spark.executors-ready" and not bad, (ready[0], bad)


def test_with_spark_conf_every_task_writes_and_fsshell_reads_back(
    spark: LocalCluster, cluster: Cluster, composed: Environment, driver_env: dict[str, str]
) -> None:
    conf = spark_conf("local", MASTER, hdfs_client="jvm", environment=composed)
    assert conf["spark.executorEnv.MLFLOW_CLIENT_ENV_HDFS_CLIENT"] == "jvm"
    spark.ensure(conf)
    tag = f"spark-jvm-{uuid.uuid4().hex[:8]}"
    results = spark.run(write_with_pyarrow(tag))
    assert [r[2] for r in results] == ["ok"] * TASKS, results
    assert len(spark.executor_dirs()) == EXECUTORS
    paths = [f"/user/alice/{tag}-{i}.txt" for i in range(TASKS)]
    cat = cluster.hdfs.fs("-cat", *paths, ccache=ccache_of(driver_env))
    assert cat.returncode == 0, cat.stderr[-3000:]
    assert cat.stdout == "".join(f"task {i} of {tag}\n" for i in range(TASKS))
    owners = cluster.hdfs.fs("-stat", "%u", *paths, ccache=ccache_of(driver_env))
    assert owners.stdout.split() == ["alice"] * TASKS, owners.stderr[-2000:]


def test_mlflow_runs_from_executors_nested_under_the_drivers_run(
    spark: LocalCluster, cluster: Cluster, composed: Environment, driver_env: dict[str, str]
) -> None:
    """Each task logs a nested run (metric, param, artifact on HDFS) to the real server."""
    from mlflow.tracking import MlflowClient

    spark.ensure(spark_conf("local", MASTER, hdfs_client="jvm", environment=composed))
    client = MlflowClient(cluster.mlflow_server.tracking_uri)
    exp = client.create_experiment(f"spark-{uuid.uuid4().hex[:8]}")
    parent = client.create_run(exp).info.run_id
    run_ids = spark.run(log_runs(exp, parent))
    client.set_terminated(parent)
    assert len(set(run_ids)) == TASKS
    children = client.search_runs([exp], f"tags.mlflow.parentRunId = '{parent}'")
    assert sorted(r.info.run_id for r in children) == sorted(run_ids)
    paths = []
    for r in children:
        i = int(r.data.tags["task"])
        assert r.data.metrics["loss"] == pytest.approx(1.0 / (i + 1))
        assert r.info.status == "FINISHED"
        assert r.info.artifact_uri.startswith("hdfs://"), r.info.artifact_uri
        paths.append((i, f"{r.info.artifact_uri}/task-{i}.txt"))
    paths.sort()
    cat = cluster.hdfs.fs("-cat", *(p for _, p in paths), ccache=ccache_of(driver_env))
    assert cat.returncode == 0, cat.stderr[-3000:]
    assert cat.stdout == "".join(f"artifact of task {i}\n" for i, _ in paths)


def test_native_path_executors_start_with_the_client_config_exported(
    spark: LocalCluster, cluster: Cluster, composed: Environment, driver_env: dict[str, str]
) -> None:
    """HADOOP_CONF_DIR (which hdfs-native needs) goes onto the executor JVMs' classpath; with
    the krb5.conf option they start and stay up (without it: 'No rules applied', relaunched
    forever), and the Python workers write with hdfs-native and never load a JVM."""
    plan = plan_spark_conf("local", MASTER, hdfs_client="native", environment=composed)
    conf = plan.as_dict()
    assert plan.hdfs_client == "native"
    assert conf["spark.executorEnv.HADOOP_CONF_DIR"] == composed["HADOOP_CONF_DIR"]
    assert not any(f"spark.executorEnv.{v}" in conf for v in ("CLASSPATH", "LIBHDFS_OPTS"))
    krb5 = driver_env["KRB5_CONFIG"]
    assert conf[EXECUTOR_JAVA_OPTIONS] == f"-Djava.security.krb5.conf={krb5}"
    spark.start(conf)
    tag = f"spark-native-{uuid.uuid4().hex[:8]}"
    results = spark.run(write_with_hdfs_native(tag))
    assert len(spark.executor_dirs()) == EXECUTORS
    assert "No rules applied" not in spark.executor_logs(400)
    assert [r[2] for r in results] == ["native"] * TASKS
    assert not any(r[3] for r in results), "a Python worker loaded libjvm"
    cat = cluster.hdfs.fs(
        "-cat", *(f"/user/alice/{tag}-{i}.txt" for i in range(TASKS)),
        ccache=ccache_of(driver_env),
    )  # fmt: skip
    assert cat.stdout == "".join(f"task {i} of {tag}\n" for i in range(TASKS)), cat.stderr


# ============================================================================ the plan
def test_jvm_executors_of_a_native_driver_get_the_jvm_variables(
    driver_env: dict[str, str],
) -> None:
    """The driver asked for hdfs-native (its environment has no JVM variable), the tasks use
    pyarrow's HDFS: hdfs_client='jvm' composes the executors' environment for the JVM."""
    env = {**driver_env, "MLFLOW_CLIENT_ENV_HDFS_CLIENT": "native"}
    conf = plan_spark_conf("local", MASTER, hdfs_client="jvm", env=env).as_dict()
    for var in ("JAVA_HOME", "CLASSPATH", "ARROW_LIBHDFS_DIR", "LIBHDFS_OPTS"):
        assert f"spark.executorEnv.{var}" in conf, var
    assert conf["spark.executorEnv.MLFLOW_CLIENT_ENV_HDFS_CLIENT"] == "jvm"
    native = build_environment(env)
    assert native.native_only
    with pytest.raises(SparkSetupError, match="composed for hdfs-native alone"):
        plan_spark_conf("local", MASTER, hdfs_client="jvm", environment=native, env=env)


def test_yarn_exports_no_ticket_and_local_does(composed: Environment) -> None:
    yarn = spark_conf("yarn", hdfs_client="jvm", environment=composed)
    local = spark_conf("local", hdfs_client="jvm", environment=composed)
    for var in ("KRB5CCNAME", "MLFLOW_KERBEROS_TICKET_CACHE", "KRB5_CONFIG"):
        assert f"spark.executorEnv.{var}" not in yarn
        assert f"spark.executorEnv.{var}" in local
    assert local["spark.executorEnv.KRB5CCNAME"] == composed["KRB5CCNAME"]
    assert EXECUTOR_JAVA_OPTIONS not in yarn  # a container's Java reads its host's krb5.conf
    assert DRIVER_JAVA_OPTIONS in yarn  # client mode: the driver JVM starts here
    # every exported value is the composed environment's, unchanged
    for key, value in {**yarn, **local}.items():
        name = key.removeprefix("spark.executorEnv.")
        if key.startswith("spark.executorEnv.") and name in composed.as_dict():
            assert value == composed[name]
    cluster_mode = spark_conf("yarn", deploy_mode="cluster", environment=composed)
    am = {k for k in cluster_mode if k.startswith("spark.yarn.appMasterEnv.")}
    ex = {k for k in cluster_mode if k.startswith("spark.executorEnv.")}
    assert {k.split(".", 3)[-1] for k in am} == {k.split(".", 2)[-1] for k in ex}
    assert DRIVER_JAVA_OPTIONS not in cluster_mode  # the driver runs in a container
    with pytest.raises(SparkSetupError):
        spark_conf("local", deploy_mode="cluster", environment=composed)


def test_auto_mode_from_the_master(composed: Environment, tmp_path: Path) -> None:
    env = {"SPARK_CONF_DIR": str(tmp_path)}
    (tmp_path / "spark-defaults.conf").write_text("# CM's client config\nspark.master yarn\n")
    assert resolve_master(None, None, env) == ("yarn", str(tmp_path / "spark-defaults.conf"))
    assert plan_spark_conf(environment=composed, env={**base_env(), **env}).mode == "yarn"
    submit = {"PYSPARK_SUBMIT_ARGS": "--master local[2] pyspark-shell"}
    assert resolve_master(None, None, {**env, **submit})[0] == "local[2]"
    assert resolve_master(None, {"spark.master": "yarn"}, submit)[0] == "yarn"
    assert resolve_master(None, None, {}) == ("local[*]", "Spark's default")
    assert plan_spark_conf(master=MASTER, environment=composed).mode == "local"
    for master in ("spark://node7.example.com:7077", "k8s://https://api:6443"):
        with pytest.raises(SparkSetupError, match="does not say where"):
            spark_conf(master=master, environment=composed)


def test_java_options_are_merged_with_the_given_ones(composed: Environment) -> None:
    krb5 = composed.kerberos.krb5_conf
    given = {EXECUTOR_JAVA_OPTIONS: "-XX:+UseG1GC -Dfoo=bar", DRIVER_JAVA_OPTIONS: "-Dx=1"}
    conf = spark_conf("local", existing=given, environment=composed)
    assert conf[EXECUTOR_JAVA_OPTIONS] == f"-Djava.security.krb5.conf={krb5} -XX:+UseG1GC -Dfoo=bar"
    assert conf[DRIVER_JAVA_OPTIONS] == f"-Djava.security.krb5.conf={krb5} -Dx=1"
    theirs = {EXECUTOR_JAVA_OPTIONS: "-Djava.security.krb5.conf=/etc/their.conf"}
    conf = spark_conf("local", existing=theirs, environment=composed)
    assert conf[EXECUTOR_JAVA_OPTIONS] == "-Djava.security.krb5.conf=/etc/their.conf"
    assert merge_java_options(None, "-Da=b") == ("-Da=b", "set")


def _shell_words(text: str) -> list[str]:
    """The arguments a shell makes of ``spark-submit <text>`` (pasted or eval'ed)."""
    proc = subprocess.run(
        ["bash", "-c", 'eval "set -- $1"; printf "%s\\0" "$@"', "-", text],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("\0")[:-1]


def test_spark_submit_lines_round_trip_through_the_shell(composed: Environment) -> None:
    conf = spark_conf("yarn", hdfs_client="jvm", environment=composed)
    text = render_spark_submit(conf)
    assert text.count("--conf ") == len(conf)
    assert _shell_words(text) == spark_submit_args(conf)
    assert any(" " in a for a in spark_submit_args(conf))  # LIBHDFS_OPTS: quoting matters
    plan = plan_spark_conf("yarn", hdfs_client="jvm", environment=composed)
    explained = render_spark_submit(plan, explain=True)
    comments = [ln for ln in explained.splitlines() if ln.startswith("#")]
    assert len(comments) >= len(conf)
    assert explained.endswith(text)  # the reasons come first, the command lines unchanged


# ============================================================================ the driver
def _extract_spark24_python(sdist: Path, dest: Path) -> None:
    """pyspark 2.4.8's ``lib/*.zip`` and ``deps/bin`` from its sdist (what a CDH 6 parcel's
    ``lib/spark`` holds: Spark 2.4)."""
    prefix = f"pyspark-{PYSPARK.version}/"
    (dest / "python" / "lib").mkdir(parents=True)
    (dest / "bin").mkdir()
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar:
            rel = member.name.removeprefix(prefix)
            if not member.isfile():
                continue
            if rel.startswith("lib/") and rel.endswith(".zip"):
                target = dest / "python" / "lib" / rel.split("/", 1)[1]
            elif rel.startswith("deps/bin/"):
                target = dest / "bin" / rel.split("/", 2)[2]
            else:
                continue
            src = tar.extractfile(member)
            assert src is not None
            with src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            target.chmod(0o755 if "/bin/" in str(target) else 0o644)


def add_cdh_spark(tree: ParcelTree, assets: Assets, spark24: Path) -> Path:
    """``P/lib/spark``: Spark 2.4.8's jars (the sandbox's real ones) and python folders."""
    home = tree.parcel_dir / "lib" / "spark"
    shutil.copytree(spark24, home, symlinks=True)
    (home / "jars").mkdir()
    for jar in sorted(assets.jars_dir.glob("*.jar")):
        (home / "jars" / jar.name).symlink_to(jar)
    return home


def add_spark3_parcel(tree: ParcelTree) -> Path:
    """A SPARK3 parcel whose ``lib/spark3`` is pip's pyspark 3.5 laid out as Cloudera does."""
    import pyspark

    pip = _pip_pyspark()
    name = f"SPARK3-{pyspark.__version__}.3.5.7190.0-1-1.p0.1"
    parcel = tree.parcels_root / name
    home = parcel / "lib" / "spark3"
    (home / "python" / "lib").mkdir(parents=True)
    for d in ("bin", "jars"):
        (home / d).symlink_to(pip / d)
    for z in (pip / "python" / "lib").glob("*.zip"):
        (home / "python" / "lib" / z.name).symlink_to(z)
    (parcel / "meta").mkdir()
    (parcel / "meta" / "parcel.json").write_text(
        json.dumps({"schema_version": 1, "name": "SPARK3", "version": name[len("SPARK3-") :]})
    )
    (tree.parcels_root / "SPARK3").symlink_to(name)
    return home


@pytest.fixture(scope="module")
def spark24(sandbox_assets: Assets, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("spark24") / "spark"
    _extract_spark24_python(ensure_sdist(PYSPARK, sandbox_assets.cache), dest)
    return dest


DRIVER = """
import importlib.util, json, os, sys
from mlflow_client_env.discovery import build_environment
from mlflow_client_env.spark import apply_spark_driver, find_parcel_spark
env = build_environment()
before = list(sys.path)
driver = apply_spark_driver(find_parcel_spark(env))
again = apply_spark_driver(find_parcel_spark(env))  # a second call changes nothing
out = {"SPARK_HOME": os.environ["SPARK_HOME"], "head": sys.path[:2],
       "rest_unchanged": sys.path[2:] == before, "again_same": sys.path[2:] == before,
       "version": driver.version, "py4j": driver.py4j_version,
       "findings": {f.code: [f.status, f.summary, list(f.evidence)] for f in driver.findings},
       "origin": importlib.util.find_spec("pyspark").origin}
try:
    import pyspark, py4j
    out["imported"] = [pyspark.__version__, pyspark.__file__, py4j.__file__]
except Exception as exc:
    out["import_error"] = f"{type(exc).__name__}: {exc}"
if sys.argv[1:] == ["job"]:
    from pyspark.sql import SparkSession
    s = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
         .config("spark.driver.host", "127.0.0.1").getOrCreate())
    try:
        out["job"] = [s.version, s.range(7).count()]
    finally:
        s.stop()
print("RESULT " + json.dumps(out))
"""


def _driver_env(tree: ParcelTree, assets: Assets, tmp: Path) -> dict[str, str]:
    return {
        "MLFLOW_CLIENT_ENV_PARCELS_ROOT": str(tree.parcels_root),
        "HADOOP_CONF_DIR": str(tree.conf_dir),
        "JAVA_HOME": str(assets.java_home),
        "MLFLOW_CLIENT_ENV_CONFIG": str(tmp / "user.toml"),
        "MLFLOW_CLIENT_ENV_SITE_CONFIG": str(tmp / "site.toml"),
        "MLFLOW_CLIENT_ENV_CACHE": str(tmp / "cache"),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }


def _result(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-2000:] + proc.stderr[-4000:]
    data: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return data


def test_driver_finds_the_cdh_parcels_spark_as_findspark_would(
    parcel_tree: ParcelTree, sandbox_assets: Assets, spark24: Path, tmp_path: Path
) -> None:
    """A CDH 6 parcel's Spark 2.4 (real jars and python zips): SPARK_HOME and sys.path are
    set as findspark sets them; the pip pyspark 3.5 differs and both versions are
    reported; pyspark 2.4 cannot import on this Python, which the driver says beforehand."""
    import pyspark

    home = add_cdh_spark(parcel_tree, sandbox_assets, spark24)
    cdh_home = parcel_tree.cdh_link / "lib" / "spark"  # the path through the active link
    out = _result(run_python(DRIVER, _driver_env(parcel_tree, sandbox_assets, tmp_path)))
    assert out["SPARK_HOME"] == str(cdh_home)
    lib = cdh_home / "python" / "lib"
    assert out["head"] == [str(lib / "pyspark.zip"), str(lib / "py4j-0.10.7-src.zip")]
    assert out["rest_unchanged"] and out["again_same"]
    assert out["origin"] == str(lib / "pyspark.zip" / "pyspark" / "__init__.py")
    assert out["version"] == "2.4.8" and out["py4j"] == "0.10.7"
    status, summary, evidence = out["findings"]["spark.pip-pyspark-differs"]
    assert status == "warn"
    assert pyspark.__version__ in summary and "2.4.8" in summary
    assert any("py4j 0.10.7" in e for e in evidence), evidence
    assert out["findings"]["spark.python-too-new"][0] == "error"
    assert "import_error" in out, out  # the real pyspark 2.4.8 on this Python
    assert home.resolve() == cdh_home.resolve()


def test_driver_prefers_a_spark3_parcel_and_runs_a_job_with_it(
    parcel_tree: ParcelTree, sandbox_assets: Assets, spark24: Path, tmp_path: Path
) -> None:
    import pyspark

    add_cdh_spark(parcel_tree, sandbox_assets, spark24)
    add_spark3_parcel(parcel_tree)
    link_home = parcel_tree.parcels_root / "SPARK3" / "lib" / "spark3"
    proc = run_python(
        DRIVER.replace("sys.argv[1:]", "['job']"),
        _driver_env(parcel_tree, sandbox_assets, tmp_path),
        timeout=300,
    )
    out = _result(proc)
    assert out["SPARK_HOME"] == str(link_home)
    lib = link_home / "python" / "lib"
    py4j = next(lib.glob("py4j-*-src.zip"))
    assert out["head"] == [str(lib / "pyspark.zip"), str(py4j)]
    version, pyspark_file, py4j_file = out["imported"]
    assert version == pyspark.__version__
    assert pyspark_file.startswith(str(lib / "pyspark.zip"))
    assert py4j_file.startswith(str(py4j))
    assert out["job"] == [pyspark.__version__, 7]
    assert "spark.pip-pyspark-differs" not in out["findings"]


def test_driver_warns_when_pyspark_was_imported_first(
    parcel_tree: ParcelTree, sandbox_assets: Assets, tmp_path: Path
) -> None:
    add_spark3_parcel(parcel_tree)
    code = "import pyspark\n" + DRIVER
    out = _result(run_python(code, _driver_env(parcel_tree, sandbox_assets, tmp_path)))
    assert out["findings"]["spark.pyspark-already-imported"][0] == "warn"


def test_no_spark_anywhere_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(SparkHomeError, match="no Spark installation"):
        find_parcel_spark(None, {"MLFLOW_CLIENT_ENV_PARCELS_ROOT": str(tmp_path)})
    with pytest.raises(SparkHomeError, match="py4j"):
        find_parcel_spark(None, {}, spark_home=tmp_path)


SETUP_SPARK = """
import json, os, sys
import mlflow_client_env
report = mlflow_client_env.setup(spark=True)
import pyspark
print("RESULT " + json.dumps({
    "SPARK_HOME": os.environ.get("SPARK_HOME"), "head": sys.path[:2],
    "pyspark": pyspark.__file__, "findings": {f.code: f.status for f in report.findings},
}))
"""


def test_setup_spark_true_puts_the_parcels_spark_in_force(
    parcel_tree: ParcelTree, sandbox_assets: Assets, tmp_path: Path
) -> None:
    """setup(spark=True): the SPARK3 parcel's Spark for the driver, through setup() itself
    (SPARK_HOME, its pyspark and py4j first on sys.path, pyspark imported from there)."""
    add_spark3_parcel(parcel_tree)
    link_home = parcel_tree.parcels_root / "SPARK3" / "lib" / "spark3"
    out = _result(run_python(SETUP_SPARK, _driver_env(parcel_tree, sandbox_assets, tmp_path)))
    lib = link_home / "python" / "lib"
    assert out["SPARK_HOME"] == str(link_home), out
    assert out["head"][0] == str(lib / "pyspark.zip")
    assert out["pyspark"].startswith(str(lib / "pyspark.zip"))
    assert out["findings"].get("spark.home") == "ok", out["findings"]


def test_setup_spark_true_without_spark_is_an_error_finding(
    parcel_tree: ParcelTree, sandbox_assets: Assets, tmp_path: Path
) -> None:
    code = SETUP_SPARK.replace("import pyspark\n", "").replace('"pyspark": pyspark.__file__, ', "")
    out = _result(run_python(code, _driver_env(parcel_tree, sandbox_assets, tmp_path)))
    assert out["findings"].get("spark.not-found") == "error", out["findings"]
