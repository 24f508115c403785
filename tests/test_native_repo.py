"""The hdfs-native artifact repository behaves as MLflow's own HDFS repository (issue 14).

One scenario (``SCENARIO``) runs through both repositories, each in a fresh process,
against the sandbox's Kerberized HDFS: the built-in one (``jvm``: pyarrow -> libhdfs
-> a JVM, with the environment ``mlflow-client-env env`` prints) and the native one
(``native``: the sandbox's client environment only, no JVM variables at all). The
scenario logs files and nested folders (an empty file, an empty folder, names with
spaces and non-ASCII letters, a 16 MiB file that crosses the chunk sizes), overwrites
a file, lists 14 paths (missing ones, a file, ``.``, a trailing slash, an absolute
path), asks ``_is_directory``, downloads the whole tree, a folder, a file and a missing
path, then deletes a folder, a file, a missing path and everything. Both reports must
be equal, byte for byte and listing for listing, including what HDFS itself records
(replication, block size, permissions, owner: the native path writes files as Hadoop's
Java client does). The native run must not have loaded libjvm.

Also: MLflow 2's calling convention (``repository(artifact_uri)``) in a real MLflow
2.16.2 venv, and ``mlflow.pyfunc.log_model`` / ``load_model`` through ``runs:/`` with
the sandbox's real tracking server (artifact root on hdfs://), across the two paths.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env.artifacts.plugin import hdfs_artifact_repository
from tests.sandbox.fixtures import Cluster
from tests.sandbox.helpers import ClientEnv, libhdfs_env, run_python
from tests.sandbox.venvs import OLDEST_FS_PAIR, cached_venv, project_dependencies

pytestmark = pytest.mark.sandbox
ROOT = Path(__file__).resolve().parent.parent

SCENARIO = r"""
import hashlib, json, os, random, sys
root, work, register = sys.argv[1], sys.argv[2], sys.argv[3] == "register"
from mlflow.store.artifact import artifact_repository_registry as registry
if register:  # MLflow 2 without this package installed: what the entry point does
    from mlflow_client_env.artifacts.plugin import hdfs_artifact_repository
    registry._artifact_repository_registry.register("hdfs", hdfs_artifact_repository)
repo = registry.get_artifact_repository(root)
out = {"class": type(repo).__name__}

def put(rel, data):
    path = os.path.join(work, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)

rng = random.Random(14)
files = {
    "src/top.txt": b"hello\n", "src/a/one.txt": b"x\n",
    "src/a/b/two.bin": bytes(range(256)) * 12, "src/c/empty": b"",
    "src/with space.txt": b"s p a c e", "src/\u00fcn\u00efcode-\u00e9.txt": "\u00fc".encode(),
    "src/big/chunky.bin": rng.randbytes((16 << 20) + 7),
    "other/top.txt": b"replaced\n",
}
for rel, data in files.items():
    put(rel, data)
os.makedirs(os.path.join(work, "src", "emptydir"))
src = os.path.join(work, "src")

errors = out["errors"] = []  # why each attempt raised: shown when the paths differ

def attempt(fn):
    try:
        return fn()
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}"[:2000])
        return "raised " + type(exc).__name__

repo.log_artifacts(src)
repo.log_artifacts(src, "sub/dir")
repo.log_artifact(os.path.join(src, "top.txt"))
repo.log_artifact(os.path.join(src, "top.txt"), "f")
repo.log_artifact(os.path.join(work, "other", "top.txt"), "f")  # replaces f/top.txt

def listing(p):
    got = attempt(lambda: repo.list_artifacts(p))
    return got if isinstance(got, str) else [[f.path, f.is_dir, f.file_size] for f in got]

paths = [None, "", "a", "a/", "a/b", "top.txt", "missing", "sub", "sub/dir", ".", "f",
         "emptydir", "big", "/definitely/missing"]
out["list"] = {repr(p): listing(p) for p in paths}
out["is_dir"] = {repr(p): attempt(lambda: repo._is_directory(p))
                 for p in [None, "a", "a/b", "top.txt", "missing", "emptydir"]}

def tree(folder):
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for d in dirnames:
            full = os.path.join(dirpath, d)
            found[os.path.relpath(full, folder) + "/"] = None
        for name in filenames:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as f:
                found[os.path.relpath(full, folder)] = hashlib.sha256(f.read()).hexdigest()
    return found

def download(p, name):
    dst = os.path.join(work, "dl-" + name)
    os.makedirs(dst)
    got = attempt(lambda: repo.download_artifacts(p, dst))
    return got if got.startswith("raised") else [os.path.relpath(got, dst), tree(dst)]

out["download"] = {
    "all": download("", "all"), "a": download("a", "a"), "file": download("f/top.txt", "file"),
    "big": download("big/chunky.bin", "big"), "missing": download("missing/x.txt", "missing"),
}
out["sources"] = {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()}

# what HDFS records, read the same way for both (hdfs-native, a plain client)
from urllib.parse import urlparse
import hdfs_native
hdfs = hdfs_native.Client()
base = urlparse(root).path
def meta():
    found = {}
    for s in hdfs.list_status(base, True):
        rel = os.path.relpath(s.path, base)
        found[rel] = [s.isdir, s.length, s.replication, s.blocksize, oct(s.permission), s.owner,
                      s.group] + ([] if s.isdir else [hdfs.recover_lease(s.path)])
    return found
out["hdfs"] = meta()

repo.delete_artifacts("a/b")
out["after_delete_folder"] = [listing("a"), listing("a/b")]
repo.delete_artifacts("top.txt")
repo.delete_artifacts("missing")
out["after_delete_file"] = listing(None)
repo.delete_artifacts()
out["after_delete_all"] = [listing(None), sorted(meta())]
with open("/proc/self/maps") as f:
    out["libjvm_loaded"] = "libjvm.so" in f.read()
print("RESULT " + json.dumps(out, sort_keys=True))
"""


def _result(proc: Any) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    got: dict[str, Any] = json.loads(line[len("RESULT ") :])
    return got


def _scenario(
    env: dict[str, str], root: str, work: Path, register: bool = False, python: str | None = None
) -> dict[str, Any]:
    work.mkdir()
    args = [root, str(work), "register" if register else "entry-point"]
    if python is None:
        return _result(run_python(_argv_code(args), env, timeout=300))
    import subprocess

    from mlflow_client_env_sandbox.procs import pdeathsig_preexec

    proc = subprocess.run(
        [python, "-c", SCENARIO, *args], env=env, capture_output=True, text=True, timeout=300,
        preexec_fn=pdeathsig_preexec(),
    )  # fmt: skip
    return _result(proc)


def _argv_code(args: list[str]) -> str:
    """SCENARIO with its argv set (run_python takes code only)."""
    return f"import sys\nsys.argv[1:] = {args!r}\n" + SCENARIO


def _envs(client_env: ClientEnv, tmp_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(jvm, native): the JVM gets what 'mlflow-client-env env' prints; the native path
    only the sandbox's client variables (no CLASSPATH, JAVA_HOME's libjvm never loaded)."""
    isolated = {
        "MLFLOW_CLIENT_ENV_CONFIG": str(tmp_path / "user-config.toml"),
        "MLFLOW_CLIENT_ENV_SITE_CONFIG": str(tmp_path / "site-config.toml"),
        "MLFLOW_CLIENT_ENV_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": str(ROOT),
    }
    jvm = {**libhdfs_env(client_env), **isolated, "MLFLOW_CLIENT_ENV_HDFS_CLIENT": "jvm"}
    native = {
        k: v
        for k, v in client_env.env.items()
        if k not in ("JAVA_HOME", "CLASSPATH", "LD_LIBRARY_PATH", "LIBHDFS_OPTS")
    }
    native.update(isolated, MLFLOW_CLIENT_ENV_HDFS_CLIENT="native")
    return jvm, native


def _same_except_class(jvm: dict[str, Any], native: dict[str, Any]) -> None:
    assert jvm["class"] == "HdfsArtifactRepository", jvm["class"]
    assert native["class"] == "NativeHdfsArtifactRepository", native["class"]
    assert jvm["libjvm_loaded"] is True
    assert native["libjvm_loaded"] is False
    for key in sorted(set(jvm) | set(native)):
        if key not in ("class", "libjvm_loaded", "errors"):
            assert native.get(key) == jvm.get(key), (
                f"{key} differs; the JVM path's errors: {jvm.get('errors')}; "
                f"the native path's: {native.get('errors')}"
            )


@pytest.mark.jvm
@pytest.mark.parametrize("form", ["default-fs", "namenode-address"])
def test_native_repository_conforms_to_the_builtin_one(
    cluster: Cluster, client_env: ClientEnv, tmp_path: Path, form: str
) -> None:
    jvm_env, native_env = _envs(client_env, tmp_path)
    prefix = "hdfs://" if form == "default-fs" else client_env.namenode_uri
    tag = uuid.uuid4().hex[:8]
    jvm = _scenario(jvm_env, f"{prefix}/user/alice/conform-{tag}-jvm", tmp_path / "jvm")
    native = _scenario(native_env, f"{prefix}/user/alice/conform-{tag}-native", tmp_path / "n")
    _same_except_class(jvm, native)
    # the scenario did what it says (a report of nothing would be equal too)
    listed = native["list"]["None"]
    assert ["big", True, None] in listed and ["top.txt", False, 6] in listed
    assert native["list"]["'a/'"] == [["a/b", True, None], ["a/one.txt", False, 2]]
    assert native["list"]["'top.txt'"] == [] and native["list"]["'missing'"] == []
    files = native["download"]["all"][1]
    assert files["big/chunky.bin"] == native["sources"]["src/big/chunky.bin"]
    assert files["f/top.txt"] == native["sources"]["other/top.txt"]  # replaced
    assert files["emptydir/"] is None and files["c/empty"] == native["sources"]["src/c/empty"]
    assert native["download"]["missing"] == "raised MlflowException"
    assert native["hdfs"]["big/chunky.bin"][:2] == [False, (16 << 20) + 7]
    # every file the native path wrote is closed (recover_lease: True at once)
    assert all(m[-1] is True for m in native["hdfs"].values() if not m[0])
    assert native["after_delete_all"] == [[], []]


@pytest.mark.jvm
def test_mlflow_2_calls_the_factory_with_the_uri_only(
    cluster: Cluster, client_env: ClientEnv, tmp_path: Path
) -> None:
    """MLflow 2.16.2 makes repositories as ``repository(artifact_uri)`` and its base class
    takes no tracking_uri: the factory and the native class work there, and conform."""
    pair = OLDEST_FS_PAIR
    venv = cached_venv(
        f"native-{pair.id}",
        [*pair.requirements, "hdfs-native==0.14.7", *project_dependencies()],
        check="import mlflow, hdfs_native, pyarrow.fs",
    )
    jvm_env, native_env = _envs(client_env, tmp_path)
    tag = uuid.uuid4().hex[:8]
    root = f"hdfs:///user/alice/mlflow2-{tag}"
    jvm = _scenario(jvm_env, root + "-jvm", tmp_path / "jvm", True, str(venv.python))
    native = _scenario(native_env, root + "-native", tmp_path / "n", True, str(venv.python))
    _same_except_class(jvm, native)
    assert native["list"]["None"]


MODEL = r"""
import json, os, sys
import mlflow, mlflow.pyfunc
step, run_id = sys.argv[1], sys.argv[2]

class AddN(mlflow.pyfunc.PythonModel):
    def __init__(self, n):
        self.n = n
    def predict(self, context, model_input, params=None):
        return [x + self.n for x in model_input]

out = {}
if step == "log":
    mlflow.set_experiment(sys.argv[3])
    with mlflow.start_run() as run:
        mlflow.pyfunc.log_model(name="model", python_model=AddN(5), pip_requirements=[])
    out["run_id"] = run.info.run_id
    out["artifact_uri"] = run.info.artifact_uri
else:
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    out["prediction"] = list(model.predict([1, 2]))
    out["files"] = sorted(
        f.path for f in mlflow.MlflowClient().list_artifacts(run_id, "model")
    )
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
out["class"] = type(get_artifact_repository("hdfs:///user/alice")).__name__
print("RESULT " + json.dumps(out))
"""


def _model(env: dict[str, str], *args: str) -> dict[str, Any]:
    code = f"import sys\nsys.argv[1:] = {list(args)!r}\n" + MODEL
    return _result(run_python(code, env, timeout=300))


@pytest.mark.jvm
def test_pyfunc_model_round_trips_through_runs_uri_on_both_paths(
    cluster: Cluster, client_env: ClientEnv, tmp_path: Path
) -> None:
    """A model logged by one path loads through ``runs:/`` on the other, and on itself,
    with the sandbox's tracking server (artifact root hdfs://)."""
    jvm_env, native_env = _envs(client_env, tmp_path)
    experiment = f"native-repo-{uuid.uuid4().hex[:8]}"
    by_native = _model(native_env, "log", "-", experiment)
    assert by_native["class"] == "NativeHdfsArtifactRepository"
    assert by_native["artifact_uri"].startswith("hdfs://")
    by_jvm = _model(jvm_env, "log", "-", experiment)
    assert by_jvm["class"] == "HdfsArtifactRepository"
    loads = {
        (writer, reader): _model(env, "load", logged["run_id"])
        for writer, logged in (("native", by_native), ("jvm", by_jvm))
        for reader, env in (("native", native_env), ("jvm", jvm_env))
    }
    for (writer, reader), got in loads.items():
        assert got["prediction"] == [6, 7], (writer, reader, got)
        assert "model/MLmodel" in got["files"] and "model/python_model.pkl" in got["files"]
    assert loads[("native", "native")]["files"] == loads[("jvm", "jvm")]["files"]


def test_entry_point_replaces_the_builtin_repository_and_jvm_mode_hands_it_back(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow registers entry points after its own repositories: ours wins for hdfs and
    viewfs. In jvm mode it returns MLflow's own class, constructed as MLflow would."""
    from mlflow.store.artifact.artifact_repository_registry import (
        get_artifact_repository,
        get_registered_artifact_repositories,
    )
    from mlflow.store.artifact.hdfs_artifact_repo import HdfsArtifactRepository

    registered: dict[str, object] = dict(get_registered_artifact_repositories())
    assert registered["hdfs"] is hdfs_artifact_repository
    assert registered["viewfs"] is hdfs_artifact_repository
    monkeypatch.setenv("MLFLOW_CLIENT_ENV_HDFS_CLIENT", "jvm")
    repo = get_artifact_repository("hdfs://nn.example:8020/x", tracking_uri="http://t")
    assert type(repo) is HdfsArtifactRepository
    assert (repo.host, repo.port, repo.path) == ("nn.example", 8020, "/x")
    assert repo.tracking_uri == "http://t"
    assert os.environ["MLFLOW_CLIENT_ENV_HDFS_CLIENT"] == "jvm"
