"""Every supported MLflow x pyarrow pair, end to end against the real sandbox.

Each pair lives in its own cached venv (tests/sandbox/venvs.py; built on first use
under ~/.cache/mlflow-client-env/venvs, 25-30 s a pair with a fast connection). In
that venv a fresh interpreter uses mlflow-client-env the way a user does, creates a
run on the sandbox's ``mlflow server`` and logs a file with unique content; the
bytes are then read back from the Kerberized HDFS by Java's FsShell. A spy in the
client records which pyarrow API MLflow really called (``pyarrow.fs.HadoopFileSystem``
or the legacy ``pyarrow.hdfs.connect``).

Two ways in: ``setup()`` in the client process, and the variables of
``mlflow-client-env env --json`` exported to a process that does not import the
tool, with no ``hadoop`` on PATH. Catalog B8 with the legacy pair: without the tool
pyarrow runs ``hadoop classpath --glob`` and fails with FileNotFoundError 'hadoop';
with the tool's CLASSPATH it never looks for ``hadoop``.

The matrix as tested, and how to run it: docs/support-matrix.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest

from mlflow_client_env_sandbox.procs import pdeathsig_preexec
from tests.sandbox.fixtures import Cluster, hdfs_cat
from tests.sandbox.helpers import ClientEnv, base_env
from tests.sandbox.venvs import (
    LEGACY_PAIR,
    ROOT,
    SUPPORTED_PAIRS,
    Pair,
    VenvBuildError,
    cached_venv,
    pair_venv,
)

#: mode, experiment, payload path. "setup": mlflow_client_env.setup() first; any other
#: mode: the environment is whatever the process was started with.
CLIENT = """
import json, os, shutil, sys
mode, experiment, payload = sys.argv[1:4]
out = {}
if mode == "setup":
    import mlflow_client_env
    report = mlflow_client_env.setup(experiment=experiment)
    out["setup_status"] = report.status
    out["setup_findings"] = [f"{f.status} {f.code}: {f.summary}" for f in report.findings]
import mlflow
import pyarrow
from mlflow.store.artifact import hdfs_artifact_repo as repo

calls = []

def spy(name, real):
    def wrapper(*args, **kwargs):
        calls.append(name)
        return real(*args, **kwargs)
    return wrapper

if hasattr(repo, "HadoopFileSystem"):  # MLflow >= 2.16: from pyarrow.fs import HadoopFileSystem
    repo.HadoopFileSystem = spy("pyarrow.fs.HadoopFileSystem", repo.HadoopFileSystem)
try:
    import pyarrow.hdfs as legacy  # gone in pyarrow 16
except ImportError:
    legacy = None
if legacy is not None:  # MLflow <= 2.15 calls pyarrow.hdfs.connect(...)
    legacy.connect = spy("pyarrow.hdfs.connect", legacy.connect)

classpath = os.environ.get("CLASSPATH")
if mode != "setup":
    mlflow.set_experiment(experiment)
with mlflow.start_run() as run:
    mlflow.log_artifact(payload)
out.update(
    mlflow=mlflow.__version__, pyarrow=pyarrow.__version__, python=sys.version.split()[0],
    calls=calls, artifact_uri=run.info.artifact_uri, hadoop_on_path=shutil.which("hadoop"),
    classpath_set=bool(classpath), classpath_kept=os.environ.get("CLASSPATH") == classpath,
)
print(json.dumps(out))
"""

CLIENT_TIMEOUT = 300.0


def _isolated(tmp_path: Path) -> dict[str, str]:
    """Private config files and cache: nothing from this host's own settings leaks in."""
    return {
        "MLFLOW_CLIENT_ENV_CONFIG": str(tmp_path / "user-config.toml"),
        "MLFLOW_CLIENT_ENV_SITE_CONFIG": str(tmp_path / "site-config.toml"),
        "MLFLOW_CLIENT_ENV_CACHE": str(tmp_path / "cache"),
    }


def _run(
    python: Path, argv: list[str], env: Mapping[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """``python ARGV`` with exactly ``env`` (the child dies with the test process)."""
    try:
        return subprocess.run(
            [str(python), *argv], env=dict(env), cwd=cwd, capture_output=True, text=True,
            timeout=CLIENT_TIMEOUT, preexec_fn=pdeathsig_preexec(),
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{argv[:2]} timed out after {CLIENT_TIMEOUT} s") from exc


def _payload(tmp_path: Path) -> Path:
    """A file with content no other run has: a fresh UUID, non-ASCII text, many lines."""
    tag = uuid.uuid4().hex
    lines = [f"{tag} line {i}: Grüße, ÿ, 漢字, \u2192 end\n" for i in range(500)]
    path = tmp_path / f"payload-{tag}.txt"
    path.write_bytes("".join(lines).encode("utf-8"))  # no \r: FsShell's text reads it back 1:1
    return path


def _log(
    pair: Pair, mode: str, env: Mapping[str, str], tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], Path]:
    payload = _payload(tmp_path)
    experiment = f"matrix-{mode}-{uuid.uuid4().hex[:8]}"
    argv = ["-c", textwrap.dedent(CLIENT), mode, experiment, str(payload)]
    return _run(pair_venv(pair).python, argv, env, tmp_path), payload


def _result(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert proc.returncode == 0, f"client failed:\n{proc.stderr[-5000:]}"
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _read_back(cluster: Cluster, client_env: ClientEnv, artifact_uri: str, payload: Path) -> bytes:
    """The logged file's bytes as Java FsShell (``hadoop fs -cat``) reads them from HDFS."""
    assert artifact_uri.startswith(f"{client_env.namenode_uri}/user/alice/mlflow/"), artifact_uri
    return hdfs_cat(cluster.hdfs, f"{artifact_uri}/{payload.name}", client_env.ccache).encode()


def _check_pair(pair: Pair, got: Mapping[str, object]) -> None:
    assert (got["mlflow"], got["pyarrow"]) == (pair.mlflow, pair.pyarrow)
    assert got["python"] == "{}.{}.{}".format(*sys.version_info[:3])
    # MLflow reached HDFS through the API this pair is listed with, and only through it
    calls = got["calls"]
    assert isinstance(calls, list) and calls and set(calls) == {pair.hdfs_api}, calls


PAIRS = pytest.mark.parametrize("pair", SUPPORTED_PAIRS, ids=[p.id for p in SUPPORTED_PAIRS])


@pytest.mark.sandbox
@pytest.mark.jvm
@PAIRS
def test_setup_then_log_artifact_reads_back_through_java(
    pair: Pair, cluster: Cluster, client_env: ClientEnv, tmp_path: Path
) -> None:
    env = {**base_env(), **client_env.env, **_isolated(tmp_path), "PYTHONPATH": str(ROOT)}
    proc, payload = _log(pair, "setup", env, tmp_path)
    got = _result(proc)
    _check_pair(pair, got)
    assert got["setup_status"] != "error", got["setup_findings"]
    assert got["classpath_set"] is True and got["classpath_kept"] is True
    assert (
        _read_back(cluster, client_env, str(got["artifact_uri"]), payload) == payload.read_bytes()
    )


def _without_hadoop(path: str) -> tuple[str, list[str]]:
    """``path`` without the folders that hold a ``hadoop`` command, and those folders."""
    keep, dropped = [], []
    for d in path.split(os.pathsep):
        (dropped if d and os.access(os.path.join(d, "hadoop"), os.X_OK) else keep).append(d)
    return os.pathsep.join(keep), dropped


@pytest.mark.sandbox
@pytest.mark.jvm
@PAIRS
def test_exported_env_logs_without_hadoop_on_path(
    pair: Pair, cluster: Cluster, client_env: ClientEnv, tmp_path: Path
) -> None:
    """The variables of ``mlflow-client-env env`` (CLASSPATH listed jar by jar) are enough:
    a process that never imports the tool and has no ``hadoop`` on PATH logs the artifact
    (for the legacy pair this is catalog B8's fix)."""
    inputs = {**base_env(), **client_env.env, **_isolated(tmp_path)}
    python = pair_venv(pair).python
    printed = _run(
        python, ["-m", "mlflow_client_env", "env", "--json"],
        {**inputs, "PYTHONPATH": str(ROOT)}, tmp_path,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr[-3000:]
    exported: dict[str, str] = json.loads(printed.stdout)
    assert "CLASSPATH" in exported
    # like a kernel started outside a login shell: the tool's variables, but no 'hadoop' to run
    path, dropped = _without_hadoop(exported["PATH"])
    assert dropped and all(Path(d).is_relative_to(client_env.parcels_root) for d in dropped)
    env = {**inputs, **exported, "PATH": path}

    proc, payload = _log(pair, "exported-env", env, tmp_path)
    got = _result(proc)
    _check_pair(pair, got)
    assert got["hadoop_on_path"] is None
    # pyarrow used the CLASSPATH it was given and derived none of its own
    assert got["classpath_set"] is True and got["classpath_kept"] is True
    assert (
        _read_back(cluster, client_env, str(got["artifact_uri"]), payload) == payload.read_bytes()
    )


@pytest.mark.sandbox
@pytest.mark.jvm
def test_legacy_pair_without_the_tool_needs_hadoop_on_path(
    cluster: Cluster, client_env: ClientEnv, tmp_path: Path
) -> None:
    """Catalog B8 for real: the user's own variables (krb5, ticket, conf dir, Java, tracking
    URI), no CLASSPATH and no HADOOP_HOME, no ``hadoop`` on PATH: legacy pyarrow.hdfs tries
    to run ``hadoop classpath --glob`` and MLflow's log_artifact fails."""
    env = {**base_env(), **client_env.env, **_isolated(tmp_path)}
    assert not {"CLASSPATH", "HADOOP_HOME", "PYTHONPATH"} & set(env)
    assert _without_hadoop(env["PATH"])[1] == [], "this host has a 'hadoop' on PATH"

    proc, _ = _log(LEGACY_PAIR, "raw", env, tmp_path)

    assert proc.returncode != 0, proc.stdout
    assert "FileNotFoundError: [Errno 2] No such file or directory: 'hadoop'" in proc.stderr, (
        proc.stderr[-5000:]
    )
    assert "_hadoop_classpath_glob" in proc.stderr  # pyarrow/hdfs.py, reached via connect()
    assert "hdfs_artifact_repo.py" in proc.stderr


# The builder itself: a failed build is never marked complete; parallel builds build once.


def _wheel(dest: Path) -> Path:
    """A minimal pure-Python wheel (pip installs it without a network)."""
    import base64
    import hashlib
    import zipfile

    files = {
        "mce_probe.py": b"VALUE = 42\n",
        "mce_probe-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: mce-probe\nVersion: 1.0\n",
        "mce_probe-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
        f"{len(data)}\n"
        for name, data in files.items()
    )
    files["mce_probe-1.0.dist-info/RECORD"] = (
        record + "mce_probe-1.0.dist-info/RECORD,,\n"
    ).encode()
    with zipfile.ZipFile(dest, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return dest


def test_failed_build_is_not_marked_complete_and_is_built_again(tmp_path: Path) -> None:
    root = tmp_path / "venvs"
    wheel = tmp_path / "wheels" / "mce_probe-1.0-py3-none-any.whl"
    reqs = [str(wheel)]
    check = "import mce_probe; assert mce_probe.VALUE == 42"

    with pytest.raises(VenvBuildError, match=r"mce_probe-1\.0-py3-none-any\.whl"):
        cached_venv("probe", reqs, check=check, root=root)  # the wheel does not exist yet
    (home,) = [p for p in root.iterdir() if p.is_dir()]
    assert not (home / ".complete").exists()

    wheel.parent.mkdir()
    _wheel(wheel)
    first = cached_venv("probe", reqs, check=check, root=root)
    assert first.built and first.home == home and (home / ".complete").is_file()
    again = cached_venv("probe", reqs, check=check, root=root)
    assert not again.built and again.python == first.python
    # a different spec (here: the check) is a different venv, never the cached one
    other = cached_venv("probe", reqs, check=check + "\n", root=root)
    assert other.built and other.home != home


BUILD = """
import json, sys
from pathlib import Path
from tests.sandbox.venvs import cached_venv
v = cached_venv("race", [sys.argv[2]], check="import mce_probe", root=Path(sys.argv[1]))
print(json.dumps({"built": v.built, "python": str(v.python)}))
"""


def test_parallel_builds_of_one_venv_build_it_once(tmp_path: Path) -> None:
    root = tmp_path / "venvs"
    wheel = _wheel(tmp_path / "mce_probe-1.0-py3-none-any.whl")
    env = {**base_env(), "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", BUILD, str(root), str(wheel)]
    procs = [
        subprocess.Popen(
            argv,
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=pdeathsig_preexec(),
        )
        for _ in range(3)
    ]
    try:
        outs = [p.communicate(timeout=600) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert sorted(r["built"] for r in results) == [False, False, True], results
    assert len({r["python"] for r in results}) == 1
