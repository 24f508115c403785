"""The README's main job: what our users do every day, on the local sandbox.

1. bring up the sandbox (KDC, Kerberized HDFS, mlflow server with an hdfs://
   artifact root and no artifact proxying);
2. ``mlflow-client-env install-kernel`` (into a private Jupyter prefix);
3. run ``notebooks/quickstart.ipynb`` through that kernel: set_experiment,
   start_run, log_param, log_metric, log_artifact(config.yaml), end_run;
4. print the run id, the artifact URI on HDFS and that folder's listing, read
   back by hdfs-native in this process (no JVM);
5. print ``doctor``'s summary, then stop the sandbox.

Exit 0 only if config.yaml really is on HDFS with the bytes the notebook wrote.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .progress import step

#: The notebook the demo runs, relative to the working directory (scripts/demo runs from
#: the checkout's root); --notebook names another one. Nothing here assumes a checkout.
NOTEBOOK = Path("notebooks") / "quickstart.ipynb"
EXPECTED = b"model: quickstart\nparam_1: 1\n"
#: Variables of the caller's shell that must not leak into the demo's "Jupyter server".
CLEARED = (
    "CLASSPATH",
    "ARROW_LIBHDFS_DIR",
    "LIBHDFS_OPTS",
    "HADOOP_HOME",
    "LD_LIBRARY_PATH",
    "MLFLOW_KERBEROS_TICKET_CACHE",
    "MLFLOW_EXPERIMENT_NAME",
)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _outputs(nb: object) -> str:
    parts: list[str] = []
    for cell in getattr(nb, "cells", []):
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.extend(str(v) for k, v in out.get("data", {}).items() if k == "text/plain")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from .cluster import Sandbox

    ap = argparse.ArgumentParser(prog="python -m mlflow_client_env_sandbox.demo")
    ap.add_argument("--notebook", type=Path, default=NOTEBOOK, help="the notebook to run")
    notebook = ap.parse_args(argv).notebook
    if not notebook.is_file():
        print(f"demo: error: no notebook at {notebook}\n  fix: run it from the checkout's root, "
              "or pass --notebook PATH", file=sys.stderr)  # fmt: skip
        return 2

    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlflow-client-env-demo-") as tmp:
        root = Path(tmp)
        with step("starting the sandbox (KDC, Kerberized HDFS, mlflow server)"):
            sb = Sandbox(root / "sandbox")
            sb.up()
        try:
            for var in CLEARED:
                os.environ.pop(var, None)
            os.environ.update(sb.env())
            os.environ.update(
                {
                    "JUPYTER_DATA_DIR": str(root / "jupyter-data"),
                    "JUPYTER_PATH": str(root / "jupyter" / "share" / "jupyter"),
                    "JUPYTER_CONFIG_DIR": str(root / "jupyter-config"),
                    "JUPYTER_RUNTIME_DIR": str(root / "jupyter-runtime"),
                    "IPYTHONDIR": str(root / "ipython"),
                    "MLFLOW_CLIENT_ENV_CONFIG": str(root / "config.toml"),
                }
            )
            tracking = sb.mlflow.tracking_uri
            print(f"\nsandbox: {sb.hdfs.uri} (realm {sb.realm}), MLflow at {tracking}")
            print(f"ticket: alice@{sb.realm} in {sb.alice_ccache}\n")

            with step("mlflow-client-env install-kernel"):
                out = _cli(
                    "install-kernel",
                    "--prefix",
                    str(root / "jupyter"),
                    "--tracking-uri",
                    tracking,
                    "--experiment",
                    "test_mlflow",
                )
            print(out.stdout.strip())
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                return 1

            import nbformat
            from nbclient import NotebookClient

            nb = nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
            with step(f"running {notebook} through the 'mlflow' kernel"):
                NotebookClient(
                    nb,
                    kernel_name="mlflow",
                    timeout=600,
                    resources={"metadata": {"path": str(root)}},
                ).execute()
            text = _outputs(nb)
            run_id = re.search(r"run id: ([0-9a-f]{32})", text)
            uri = re.search(r"artifact URI: (hdfs://\S+)", text)
            if not (run_id and uri):
                print(text, file=sys.stderr)
                print(
                    "the notebook did not print a run id and an hdfs:// artifact URI",
                    file=sys.stderr,
                )
                return 1
            print(f"\nrun id:       {run_id.group(1)}")
            print(f"artifact URI: {uri.group(1)}")

            from hdfs_native import Client

            path = "/" + uri.group(1).split("://", 1)[1].split("/", 1)[1]
            client = Client(sb.hdfs.uri)
            print(f"listing of {path} on HDFS (read with hdfs-native, no JVM):")
            for st in client.list_status(path):
                print(f"  {st.length:>8}  {st.path}")
            with client.read(f"{path}/config.yaml") as f:
                data = f.read()
            ok = data == EXPECTED
            print(
                f"config.yaml on HDFS: {len(data)} bytes, "
                + ("as the notebook wrote them" if ok else f"UNEXPECTED: {data!r}")
            )

            # the doctor as a user runs it after eval "$(mlflow-client-env env)" in a shell
            import json

            shell = {**os.environ, **json.loads(_cli("env", "--json").stdout)}
            with step("mlflow-client-env doctor"):
                doc = _cli("doctor", "--experiment", "test_mlflow", env=shell)
            print("\n" + doc.stdout.strip())
        finally:
            with step("stopping the sandbox"):
                sb.close()
    print(
        f"\ndone in {time.monotonic() - t0:.0f} s: "
        + ("the artifact is on the Kerberized HDFS." if ok else "the artifact is NOT on HDFS.")
    )
    return 0 if ok and doc.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
