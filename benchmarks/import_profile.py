"""Where the cold ``import mlflow_client_env; setup()`` time goes: ``-X importtime``, medians.

Run: .venv/bin/python benchmarks/import_profile.py [--runs N] [--top K] [--profile]

Builds the same CDP-sized tree as ``bench_environment.py``, runs
``python -X importtime -c "import mlflow_client_env; mlflow_client_env.setup(...)"``
``--runs`` times in fresh processes (``.pyc`` present, after a warm-up run), and prints
per module the median self and cumulative import time (µs), the modules a bare
``python -c pass`` does not import (the setup() path's own import graph), and
the stdlib/third-party top-level packages it pulls in. ``-X importtime`` itself
adds overhead, so read the numbers as shares, not as wall time; the wall time
is ``bench_environment.py``'s. ``mlflow_client_env.session`` itself has no row:
the package's lazy ``__getattr__`` imports it through ``importlib.import_module``,
which ``-X importtime`` does not report (its children show up at depth 0).

``--marginal`` measures, without ``-X importtime`` (plain ``perf_counter`` in
fresh processes, medians), what each stdlib group costs on top of ``re``, and
what building the package's record classes costs (``records.record``, which
replaced ``@dataclass(frozen=True)`` for this reason: see ``mlflow_client_env/records.py``):
the setup() import graph with every non-package module preloaded.
With ``--profile`` it also prints a cProfile of the same cold run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cdp_tree import (  # noqa: E402
    build_cdp_tree,
    default_jars_dir,
    default_java_home,
    find_libhdfs,
    write_ticket_cache,
)


def importtime(argv: list[str], env: dict[str, str], cwd: Path) -> list[tuple[str, int, int]]:
    p = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], env=env, cwd=cwd, capture_output=True, text=True
    )
    if p.returncode != 0:
        raise SystemExit(p.stderr[-2000:])
    rows = []
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:") :].split("|")
        rows.append((name.rstrip(), int(self_us), int(cum_us)))
    return rows


GROUPS = {
    "typing": ["typing"],
    "dataclasses (+inspect, ast, dis, tokenize, copy)": ["dataclasses"],
    "pathlib (+urllib.parse, ipaddress, fnmatch)": ["pathlib"],
    "json": ["json"],
    "shutil (+bz2, lzma, zlib)": ["shutil"],
    "tempfile (+random, shutil)": ["tempfile"],
    "platform": ["platform"],
    "defusedxml.ElementTree (+xml.etree)": ["defusedxml.ElementTree"],
    "xml.parsers.expat alone": ["xml.parsers.expat"],
}

# Times every record class built (records._build) during the import.
TIME_DATACLASSES = """
import time
import mlflow_client_env.records as records
_orig = records._build
_spent = [0.0, 0]
def _timed(cls, *a, **kw):
    t = time.perf_counter()
    try:
        return _orig(cls, *a, **kw)
    finally:
        _spent[0] += time.perf_counter() - t
        _spent[1] += 1
records._build = _timed
import mlflow_client_env
mlflow_client_env.setup
print(_spent[0], _spent[1])
"""


def timed_child(py: str, env: dict[str, str], cwd: Path, pre: str, body: str, runs: int) -> float:
    code = f"{pre}\nimport time\nt = time.perf_counter()\n{body}\nprint(time.perf_counter() - t)"
    out = [
        float(subprocess.run([py, "-c", code], env=env, cwd=cwd, capture_output=True,
                             text=True, check=True).stdout)
        for _ in range(runs)
    ]  # fmt: skip
    return statistics.median(out) * 1000


def marginal(
    py: str, env: dict[str, str], cwd: Path, code: str, stdlib: list[str], runs: int
) -> None:
    print("\nstdlib groups, cost on top of `import re` (ms, medians of fresh processes):")
    for name, mods in GROUPS.items():
        body = "".join(f"import {m}\n" for m in mods)
        print(f"{timed_child(py, env, cwd, 'import re', body, runs):7.2f}  {name}")
    # -X importtime also lists failed probes (nt, org.python): preload what imports
    pre = (
        f"for m in {stdlib!r}:\n    try:\n        __import__(m)\n"
        "    except ImportError:\n        pass\n"
    )
    body = "import mlflow_client_env\nmlflow_client_env.setup"
    ours = timed_child(py, env, cwd, pre, body, runs)
    print(f"\nthe setup() import graph, every other module preloaded: {ours:.2f} ms")
    built = [
        subprocess.run([py, "-c", pre + TIME_DATACLASSES], env=env, cwd=cwd,
                       capture_output=True, text=True, check=True).stdout.split()
        for _ in range(runs)
    ]  # fmt: skip
    spent = statistics.median(float(b[0]) for b in built) * 1000
    print(f"  of which @record building {built[0][1]} classes: {spent:.2f} ms")
    whole = timed_child(py, env, cwd, "", code, runs)
    print(f"import + first setup() in this run (no -X importtime): {whole:.2f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--profile", action="store_true", help="also a cProfile of one cold run")
    ap.add_argument("--marginal", action="store_true", help="also stdlib and record-class costs")
    args = ap.parse_args()
    java_home = default_java_home()
    jars = default_jars_dir()
    with tempfile.TemporaryDirectory(prefix="bench-imp-") as tmp:
        root = Path(tmp)
        tree = build_cdp_tree(root / "edge", jars, find_libhdfs(jars), java_home)
        for d in ("xdg", "cwd"):
            (root / d).mkdir()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CLASSPATH", "LIBHDFS", "HADOOP", "KRB5", "MLFLOW", "JAVA_HOME"))
            and k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
        }
        write_ticket_cache(root / "krb5cc")  # a valid TGT, as on a working edge node
        env.update(
            XDG_CONFIG_HOME=str(root / "xdg"),
            MLFLOW_CLIENT_ENV_CACHE=str(root / "cache"),
            KRB5_CONFIG=str(tree.krb5_conf),
            KRB5CCNAME=f"FILE:{root / 'krb5cc'}",
        )
        code = (
            "import mlflow_client_env; mlflow_client_env.setup("
            f"parcels_root={str(tree.parcels_root)!r}, hadoop_conf_dir={str(tree.conf_dir)!r}, "
            f"java_home={str(java_home)!r})"
        )
        py, cwd = sys.executable, root / "cwd"
        importtime([py, "-c", code], env, cwd)  # warm-up: .pyc
        bare = {n.strip() for n, _, _ in importtime([py, "-c", "pass"], env, cwd)}
        self_t: dict[str, list[int]] = defaultdict(list)
        cum_t: dict[str, list[int]] = defaultdict(list)
        depth: dict[str, int] = {}
        for _ in range(args.runs):
            for name, s, c in importtime([py, "-c", code], env, cwd):
                key = name.strip()
                depth[key] = (len(name) - len(name.lstrip())) // 2
                self_t[key].append(s)
                cum_t[key].append(c)
        ours = [n for n in self_t if n not in bare]
        total_self = sum(statistics.median(self_t[n]) for n in ours)
        print(f"{len(ours)} modules imported beyond a bare interpreter; sum of median self times ")
        print(f"{total_self / 1000:.1f} ms (under -X importtime). Top {args.top} by self time:")
        print(f"{'self us':>8} {'cum us':>8}  module")
        for n in sorted(ours, key=lambda n: -statistics.median(self_t[n]))[: args.top]:
            print(f"{statistics.median(self_t[n]):8.0f} {statistics.median(cum_t[n]):8.0f}  {n}")
        tops: dict[str, float] = defaultdict(float)
        for n in ours:
            tops[n.split(".")[0]] += statistics.median(self_t[n])
        print("\nself time per top-level package (ms):")
        for pkg, us in sorted(tops.items(), key=lambda kv: -kv[1]):
            print(f"{us / 1000:7.2f}  {pkg}")
        print("\nmodules of ours, in import order, with median cumulative time (us):")
        for n in self_t:
            if n.startswith("mlflow_client_env"):
                print(f"{statistics.median(cum_t[n]):8.0f}  {'  ' * depth[n]}{n}")
        if args.marginal:
            stdlib = sorted(n for n in ours if not n.startswith("mlflow_client_env"))
            marginal(py, env, cwd, code, stdlib, args.runs)
        if args.profile:
            out = root / "prof.out"
            subprocess.run(
                [py, "-m", "cProfile", "-o", str(out), "-c", code], env=env, cwd=cwd, check=True
            )
            import pstats

            print()
            pstats.Stats(str(out)).sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
