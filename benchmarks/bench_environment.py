"""Benchmark: building the environment vs Hadoop's own classpath expansion.

Run: .venv/bin/python benchmarks/bench_environment.py [--runs N]

On a parcel-sized tree (>= 400 jars in the lib/hadoop* folders, >= 2,000 in
P/jars) built from the sandbox's real jars, it measures in one session:
- ``import mlflow_client_env`` in a fresh interpreter (vs ``import mlflow``);
- the first ``setup()`` in a fresh process, and a warm ``setup()``;
- cold and warm ``build_environment()``;
- ``java -cp <conf>:<dirs>/* org.apache.hadoop.util.Classpath --glob``, the JVM
  path that ``hadoop classpath --glob`` takes, on the same tree.
Targets (issue 2): import <= 30 ms; warm build <= 5 ms; warm setup() >= 30x
and first setup() >= 10x faster than the JVM expansion.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlflow_client_env.sandbox.parcel import build_parcel_tree, pad_parcel  # noqa: E402
from mlflow_client_env.sandbox.prepare import prepare_assets  # noqa: E402

CHILD = """
import json, os, sys, time
t0 = time.perf_counter()
import mlflow_client_env
t1 = time.perf_counter()
from mlflow_client_env.discovery import build_environment
ov = json.loads(sys.argv[1])
t2 = time.perf_counter()
report = mlflow_client_env.setup(**ov)
t3 = time.perf_counter()
warm_setup = []
for _ in range(20):
    a = time.perf_counter(); mlflow_client_env.setup(**ov); warm_setup.append(time.perf_counter() - a)
warm_build = []
for _ in range(20):
    a = time.perf_counter(); build_environment(None, ov); warm_build.append(time.perf_counter() - a)
n = len(report.environment["CLASSPATH"].split(":"))
print(json.dumps({"import": t1 - t0, "first_setup": t3 - t2, "warm_setup": sorted(warm_setup)[10],
                  "warm_build": sorted(warm_build)[10], "entries": n}))
"""


def child(overrides: dict[str, str], env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(overrides)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def time_cmd(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    code = (
        "import subprocess, sys, time; a = time.perf_counter(); "
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(time.perf_counter() - a); print(p.stdout)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True, check=True
    )
    first, _, rest = out.stdout.partition("\n")
    return float(first), rest


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    assets = prepare_assets()
    with tempfile.TemporaryDirectory(prefix="bench-env-") as tmp:
        root = Path(tmp)
        tree = build_parcel_tree(
            root, jars_dir=assets.jars_dir, libhdfs_so=assets.libhdfs_so, java_home=assets.java_home
        )
        pad_parcel(tree, lib_jars=400, all_jars=2000)
        lib_jars = sum(1 for _ in (tree.parcel_dir / "lib").rglob("*.jar"))
        all_jars = sum(1 for _ in (tree.parcel_dir / "jars").glob("*.jar"))
        overrides = {
            "parcels_root": str(tree.parcels_root),
            "hadoop_conf_dir": str(tree.conf_dir),
            "java_home": str(assets.java_home),
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLASSPATH", "LIBHDFS"))}
        env["MLFLOW_CLIENT_ENV_CACHE"] = str(root / "cache")  # no cache of ours on disk
        runs = [child(overrides, env) for _ in range(args.runs)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        mlflow_import = statistics.median(
            time_cmd([sys.executable, "-c", "import mlflow"], env)[0] for _ in range(2)
        )
        lib = tree.parcel_dir / "lib"
        dirs = [
            lib / c / s
            for c in ("hadoop", "hadoop-hdfs", "hadoop-yarn", "hadoop-mapreduce")
            for s in ("lib", "")
        ]
        cp = ":".join([str(tree.conf_dir), *(f"{d}/*" for d in dirs if d.is_dir())])
        java = str(assets.java_home / "bin" / "java")
        jvm = [
            time_cmd([java, "-cp", cp, "org.apache.hadoop.util.Classpath", "--glob"], env)
            for _ in range(args.runs)
        ]
        jvm_med = statistics.median(t for t, _ in jvm)
        jvm_entries = len(jvm[0][1].strip().split(":"))

    ms = 1000.0
    rows = [
        (
            "import mlflow_client_env (fresh process)",
            med["import"] * ms,
            "<= 30 ms",
            f"{mlflow_import / med['import']:.0f}x faster than import mlflow ({mlflow_import * ms:.0f} ms)",
        ),
        (
            "first setup() in a fresh process",
            med["first_setup"] * ms,
            ">= 10x vs JVM",
            f"{jvm_med / med['first_setup']:.1f}x faster than the JVM expansion",
        ),
        (
            "warm setup()",
            med["warm_setup"] * ms,
            ">= 30x vs JVM",
            f"{jvm_med / med['warm_setup']:.0f}x faster than the JVM expansion",
        ),
        ("warm build_environment()", med["warm_build"] * ms, "<= 5 ms", ""),
        (
            "java ... org.apache.hadoop.util.Classpath --glob",
            jvm_med * ms,
            "(reference)",
            f"{jvm_entries} entries vs our {int(med['entries'])}",
        ),
    ]
    print(f"tree: {lib_jars} jars in lib/hadoop*, {all_jars} in P/jars; {args.runs} runs, medians")
    print(f"{'measure':<50} {'ms':>9}  {'target':<14} ratio")
    for name, value, target, ratio in rows:
        print(f"{name:<50} {value:9.2f}  {target:<14} {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
