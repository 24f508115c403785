"""Eight real ``install-kernel`` processes for the same kernel name at once.

Two concurrent installs once crashed (one renamed the old kernel aside while the other
did the same, or renamed its staging folder onto a folder that was not empty). Installs
of one kernel are now serialised by a per-user lock (``jupyter.install.kernel_lock``). After
the race there must be exactly one kernel, whole (valid, complete JSON written by one of
the runs), no traceback in any process's stderr, and no staging or old folder left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mlflow_client_env.jupyter import install as ki
from mlflow_client_env.jupyter import spec as ks
from tests.conftest import Edge, Jupyter

N = 8


def start_installs(jupyter: Jupyter, edge: Edge, go: Path) -> list[subprocess.Popen[str]]:
    """N processes that import everything, then wait for ``go`` so their writes collide."""
    code = (
        "import os, sys, time\n"
        "from mlflow_client_env import cli\nfrom mlflow_client_env.jupyter import install\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.005)\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    procs = []
    try:
        for i in range(N):
            argv = ["install-kernel", "--name", "race", "--prefix", str(jupyter.prefix)]
            argv += [*edge.cli_args(), "--display-name", f"run {i}", "--env", f"RUN={i}"]
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", code, *argv],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
    except BaseException:
        stop(procs)
        raise
    return procs


def stop(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.communicate()


def test_eight_concurrent_installs_leave_one_whole_kernel(
    jupyter: Jupyter, edge: Edge, tmp_path: Path
) -> None:
    for round_ in range(2):  # the second round replaces a kernel that exists
        go = tmp_path / f"go-{round_}"
        procs = start_installs(jupyter, edge, go)
        try:
            go.touch()
            results = []
            for p in procs:
                out, err = p.communicate(timeout=300)
                results.append((p.returncode, out, err))
        finally:
            stop(procs)
        for rc, _, err in results:
            assert "Traceback" not in err, err
            assert rc == 0, err
        kernels = jupyter.prefix_kernels
        assert sorted(os.listdir(kernels)) == ["race"]
        assert sorted(os.listdir(kernels.parent)) == ["kernels"], "a staging/old folder is left"
        folder = kernels / "race"
        spec = json.loads((folder / "kernel.json").read_text(encoding="utf-8"))
        winner = spec["display_name"]
        assert winner.startswith("run ")
        assert spec["env"] == {"RUN": winner.removeprefix("run ")}  # one run's, whole
        assert spec["argv"][1:3] == ["-m", ks.LAUNCHER_MODULE]
        assert spec["metadata"][ks.METADATA_KEY]["mode"] == "launcher"
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            ["kernel.json", *(p.name for p in (ki.resources_dir() or folder).glob("logo-*"))]
        )
        replaced = sum("replaced kernel 'race'" in out for _, out, _ in results)
        assert replaced == (N - 1 if round_ == 0 else N)  # each saw the previous one whole
