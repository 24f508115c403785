"""Benchmark: MLflow's HDFS artifacts through hdfs-native vs pyarrow -> libhdfs -> JVM (issue 14).

Run: .venv/bin/python benchmarks/bench_artifacts.py [--runs N] [--big-runs M] [--big-mib S] [--json]

One sandbox (KDC, Kerberized HDFS 2.7.3, a real ``mlflow server`` with its artifact
root on hdfs://) is started here and stopped at the end; both paths run against it in
the same run, alternating (JVM first on even rounds, native first on odd ones), each
measurement in a fresh process that has already imported mlflow:

1. first 1 KiB artifact written: ``MlflowClient().log_artifact(run_id, f)`` to its
   return (the run's artifact URI comes from the server, the repository is made, the
   client connects, logs in to the NameNode, writes, closes). Target: native >= 2.5x.
2. first 1 KiB artifact read: ``MlflowClient().download_artifacts(run_id, "seed/one.bin")``.
   Target: native >= 10x.
3. one 256 MiB artifact up and down, after a first small call has started the client
   (the JVM's start is not throughput). Target: native >= 0.8x of the JVM's MiB/s.
4. peak RSS (``ru_maxrss``) of the process after logging, for 1 and 3.

Also where the first write's time goes, step by step, for both clients, and the native
write with the fast close turned off (``MLFLOW_CLIENT_ENV_HDFS_FAST_CLOSE=0``): the
500 ms hdfs-native 0.14.7 sleeps when the NameNode has not had the DataNode's report of
the block yet. Medians of N (default 7) and M (default 5) processes. Prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlflow_client_env_sandbox.cluster import Sandbox  # noqa: E402

BASE_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "LOGNAME")
MODES = ("jvm", "native")

#: One measurement in a fresh process; mlflow is imported before the clock starts.
CHILD = r"""
import json, os, resource, sys, time
import mlflow
from mlflow import MlflowClient
what, run_id, local, dest = sys.argv[1:5]
client = MlflowClient()
out = {}
if what == "write":
    t0 = time.perf_counter()
    client.log_artifact(run_id, local, sys.argv[5])
    out["seconds"] = time.perf_counter() - t0
elif what == "read":
    t0 = time.perf_counter()
    path = client.download_artifacts(run_id, "seed/one.bin", dest)
    out["seconds"] = time.perf_counter() - t0
    assert os.path.getsize(path) == 1024
elif what == "big":
    client.list_artifacts(run_id)  # starts the client (the JVM, the connection): not timed
    folder = sys.argv[5]
    t0 = time.perf_counter()
    client.log_artifact(run_id, local, folder)
    out["up"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    path = client.download_artifacts(run_id, f"{folder}/{os.path.basename(local)}", dest)
    out["down"] = time.perf_counter() - t0
    assert os.path.getsize(path) == os.path.getsize(local)
    os.unlink(path)
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    get_artifact_repository(client.get_run(run_id).info.artifact_uri).delete_artifacts(folder)
out["maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
with open("/proc/self/maps") as f:
    out["libjvm"] = "libjvm.so" in f.read()
print("RESULT " + json.dumps(out))
"""

#: Where the first native write's time goes (the repository's own client, step by step).
NATIVE_STEPS = r"""
import json, os, sys, time
import mlflow
t = [time.perf_counter()]
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
mlflow.MlflowClient().get_run(sys.argv[2])
t.append(time.perf_counter())
from mlflow_client_env.artifacts.mode import hdfs_client_in_force
from mlflow_client_env.artifacts.native import NativeHdfs
from urllib.parse import urlparse
uri = sys.argv[1]
p = urlparse(uri)
choice = hdfs_client_in_force(artifact_uri=uri)
from mlflow_client_env.artifacts.mode import client_conf
hdfs = NativeHdfs(p.scheme, p.hostname, p.port, conf=client_conf(os.environ))
t.append(time.perf_counter())
hdfs.info(p.path)
t.append(time.perf_counter())
from hdfs_native import WriteOptions
writer = hdfs._call(lambda: hdfs.client.create(p.path + "/one.bin", WriteOptions(overwrite=True)), "create")
t.append(time.perf_counter())
hdfs._call(lambda: writer.write(b"x" * 1024), "write")
t.append(time.perf_counter())
hdfs._call(lambda: hdfs._close(writer, p.path + "/one.bin", 1024), "close", 20)
t.append(time.perf_counter())
names = ["MLflow: get_run, artifact registry import", "mode, configuration, client",
         "first NameNode call (connect, Kerberos)", "create", "write 1 KiB",
         "close (flush, complete)"]
print("RESULT " + json.dumps({n: b - a for n, a, b in zip(names, t, t[1:])}))
"""

#: The same steps through pyarrow, as MLflow's built-in repository does them.
JVM_STEPS = r"""
import json, os, sys, time
import mlflow
from urllib.parse import urlparse
p = urlparse(sys.argv[1])
t = [time.perf_counter()]
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
mlflow.MlflowClient().get_run(sys.argv[2])
t.append(time.perf_counter())
from pyarrow.fs import HadoopFileSystem
fs = HadoopFileSystem("default", 0, kerb_ticket=os.environ.get("MLFLOW_KERBEROS_TICKET_CACHE"))
t.append(time.perf_counter())
fs.get_file_info(p.path)
t.append(time.perf_counter())
out = fs.open_output_stream(p.path + "/one.bin")
t.append(time.perf_counter())
out.write(b"x" * 1024)
t.append(time.perf_counter())
out.close()
t.append(time.perf_counter())
names = ["MLflow: get_run, artifact registry import", "pyarrow, libhdfs, JVM start",
         "first NameNode call (connect, Kerberos)", "create", "write 1 KiB",
         "close (flush, complete)"]
print("RESULT " + json.dumps({n: b - a for n, a, b in zip(names, t, t[1:])}))
"""


def child(code: str, argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed:\n{proc.stderr[-3000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[len("RESULT ") :])
    return result


def envs(sb: Sandbox, tmp: Path) -> dict[str, dict[str, str]]:
    """The JVM path gets what 'mlflow-client-env env' prints; the native path only the
    sandbox's client variables (no CLASSPATH, no LD_LIBRARY_PATH, no LIBHDFS_OPTS)."""
    base = {k: os.environ[k] for k in BASE_KEYS if k in os.environ}
    base.update(sb.env(), PYTHONPATH=str(ROOT))
    base.update(
        MLFLOW_CLIENT_ENV_CONFIG=str(tmp / "user.toml"),
        MLFLOW_CLIENT_ENV_SITE_CONFIG=str(tmp / "site.toml"),
        MLFLOW_CLIENT_ENV_CACHE=str(tmp / "cache"),
    )
    printed = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "env", "--json"],
        env=base, capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    jvm = {**base, **json.loads(printed.stdout), "MLFLOW_CLIENT_ENV_HDFS_CLIENT": "jvm"}
    native = {k: v for k, v in base.items() if k != "JAVA_HOME"}
    native["MLFLOW_CLIENT_ENV_HDFS_CLIENT"] = "native"
    return {"jvm": jvm, "native": native}


def order(i: int) -> tuple[str, str]:
    return MODES if i % 2 == 0 else (MODES[1], MODES[0])


def measure(runs: int, big_runs: int, big_mib: int) -> dict[str, Any]:
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory(prefix="bench-artifacts-") as tmp_name:
        tmp = Path(tmp_name)
        sb = Sandbox(tmp / "sandbox")
        try:
            sb.up(with_mlflow=True)
            env = envs(sb, tmp)
            os.environ["MLFLOW_TRACKING_URI"] = sb.mlflow.tracking_uri
            client = MlflowClient(sb.mlflow.tracking_uri)
            experiment = client.create_experiment("bench-artifacts")
            run_id = client.create_run(experiment).info.run_id
            uri = client.get_run(run_id).info.artifact_uri
            one = tmp / "one.bin"
            one.write_bytes(os.urandom(1024))
            big = tmp / "big.bin"
            with big.open("wb") as f:
                for _ in range(big_mib):
                    f.write(os.urandom(1 << 20))
            # the file every read reads, logged once (native) before the reads
            child(CHILD, ["write", run_id, str(one), "", "seed"], env["native"], tmp)

            out: dict[str, Any] = {"runs": runs, "big_runs": big_runs, "big_mib": big_mib}
            samples: dict[str, list[dict[str, Any]]] = {}
            for i in range(runs):
                for mode in order(i):
                    for what in ("write", "read"):
                        dest = tmp / f"dl-{what}-{mode}-{i}"
                        dest.mkdir()
                        argv = [what, run_id, str(one), str(dest), f"w{i}-{mode}"]
                        got = child(CHILD, argv, env[mode], tmp)
                        samples.setdefault(f"{what}/{mode}", []).append(got)
                slow = {**env["native"], "MLFLOW_CLIENT_ENV_HDFS_FAST_CLOSE": "0"}
                got = child(CHILD, ["write", run_id, str(one), "", f"w{i}-slow"], slow, tmp)
                samples.setdefault("write/native-no-fast-close", []).append(got)
                for mode, code in (("jvm", JVM_STEPS), ("native", NATIVE_STEPS)):
                    steps = child(code, [f"{uri}/steps-{mode}-{i}", run_id], env[mode], tmp)
                    samples.setdefault(f"steps/{mode}", []).append(steps)
            for i in range(big_runs):
                for mode in order(i):
                    dest = tmp / f"dl-big-{mode}-{i}"
                    dest.mkdir()
                    argv = ["big", run_id, str(big), str(dest), f"big{i}-{mode}"]
                    got = child(CHILD, argv, env[mode], tmp)
                    samples.setdefault(f"big/{mode}", []).append(got)
            out["samples"] = samples
            return out
        finally:
            sb.close()


def med(values: list[float]) -> float:
    return statistics.median(values)


def summarize(out: dict[str, Any]) -> dict[str, Any]:
    s = out["samples"]
    mib = out["big_mib"]

    def secs(key: str, field: str = "seconds") -> float:
        return med([x[field] for x in s[key]])

    rows = {
        "write_ms": {m: 1000 * secs(f"write/{m}") for m in MODES},
        "write_ms_no_fast_close": 1000 * secs("write/native-no-fast-close"),
        "read_ms": {m: 1000 * secs(f"read/{m}") for m in MODES},
        "up_mib_s": {m: mib / secs(f"big/{m}", "up") for m in MODES},
        "down_mib_s": {m: mib / secs(f"big/{m}", "down") for m in MODES},
        "rss_write_mib": {m: secs(f"write/{m}", "maxrss_mib") for m in MODES},
        "rss_big_mib": {m: secs(f"big/{m}", "maxrss_mib") for m in MODES},
        "libjvm": {m: sorted({x["libjvm"] for x in s[f"write/{m}"]}) for m in MODES},
        "steps": {
            m: {k: 1000 * med([x[k] for x in s[f"steps/{m}"]]) for k in s[f"steps/{m}"][0]}
            for m in MODES
        },
    }
    return rows


def table(out: dict[str, Any], r: dict[str, Any]) -> str:
    n, m, mib = out["runs"], out["big_runs"], out["big_mib"]
    jvm_write = r["write_ms"]["jvm"]

    def row(what: str, jvm: str, native: str, versus: str, target: str) -> str:
        return f"| {what} | {jvm} | {native} | {versus} | {target} |"

    def times(key: str, what: str, target: str) -> str:
        j, v = r[key]["jvm"], r[key]["native"]
        return row(what, f"{j:.0f} ms", f"{v:.0f} ms", f"{j / v:.1f}x faster", target)

    def rate(key: str, what: str) -> str:
        j, v = r[key]["jvm"], r[key]["native"]
        return row(what, f"{j:.0f} MiB/s", f"{v:.0f} MiB/s", f"{v / j:.2f}x", ">= 0.8x")

    def rss(key: str, what: str) -> str:
        j, v = r[key]["jvm"], r[key]["native"]
        return row(what, f"{j:.0f} MiB", f"{v:.0f} MiB", f"{j - v:.0f} MiB less", "report")

    no_fast = r["write_ms_no_fast_close"]
    lines = [
        row("measurement (median)", "JVM: pyarrow, libhdfs", "native: hdfs-native",
            "native vs JVM", "target"),
        "|---|---:|---:|---:|---|",
        times("write_ms", f"first 1 KiB artifact written, fresh process (n={n})", ">= 2.5x"),
        row("the same, native without the fast close", "", f"{no_fast:.0f} ms",
            f"{jvm_write / no_fast:.1f}x faster", ""),
        times("read_ms", f"first 1 KiB artifact read, fresh process (n={n})", ">= 10x"),
        rate("up_mib_s", f"{mib} MiB artifact up (n={m})"),
        rate("down_mib_s", f"{mib} MiB artifact down (n={m})"),
        rss("rss_write_mib", "peak RSS after logging 1 KiB"),
        rss("rss_big_mib", f"peak RSS after {mib} MiB up and down"),
        row("libjvm.so loaded", str(r["libjvm"]["jvm"]), str(r["libjvm"]["native"]), "", ""),
        "",
        "Where the first write's time goes (ms, median, after `import mlflow`):",
        "",
        "| step (JVM / native) | JVM | native |",
        "|---|---:|---:|",
    ]  # fmt: skip
    steps = zip(r["steps"]["jvm"].items(), r["steps"]["native"].items(), strict=True)
    for (jk, jv), (nk, nv) in steps:
        name = jk if jk == nk else f"{jk} / {nk}"
        lines.append(f"| {name} | {jv:.1f} | {nv:.1f} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=7, help="fresh processes per 1 KiB measurement")
    ap.add_argument(
        "--big-runs", type=int, default=5, help="processes per big-artifact measurement"
    )
    ap.add_argument("--big-mib", type=int, default=256, help="size of the big artifact (MiB)")
    ap.add_argument("--json", action="store_true", help="print the raw samples and medians as JSON")
    args = ap.parse_args()
    if args.runs < 5 or args.big_runs < 1:
        ap.error("--runs must be >= 5 (medians of at least five) and --big-runs >= 1")
    t0 = time.perf_counter()
    load = os.getloadavg()
    out = measure(args.runs, args.big_runs, args.big_mib)
    out["load"] = [load, os.getloadavg()]
    rows = summarize(out)
    if args.json:
        print(json.dumps({**out, "medians": rows}, indent=1))
    else:
        print(table(out, rows))
        before, after = (f"{x[0]:.1f}" for x in out["load"])
        print(
            f"\n({time.perf_counter() - t0:.0f} s, Python {sys.version.split()[0]}, "
            f"{os.cpu_count()} CPUs, 1-min load average {before} before, {after} after)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
