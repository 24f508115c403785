"""``hdfs_client=native``: setup(), the kernel launcher and ``env`` export only what
hdfs-native needs (issue 14): the client configuration, the ticket cache and the tracking
URI. No JAVA_HOME, CLASSPATH, LIBHDFS_OPTS, ARROW_LIBHDFS_DIR, PATH or LD_LIBRARY_PATH,
and no Java or Hadoop installation needed at all.

Against the real sandbox (KDC, Kerberized HDFS behind an HA nameservice, MLflow server),
on a "host" that has no Java and no Hadoop for discovery to find (no JAVA_HOME, no parcel
root): a notebook cell in a native-mode launcher kernel logs an artifact, the kernel's
``/proc/self/maps`` has no libjvm.so, and Java's FsShell reads the bytes back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env.discovery import build_environment
from mlflow_client_env.environment import JVM_ONLY_VARIABLES, compose_native
from mlflow_client_env.errors import HdfsClientSettingError
from mlflow_client_env.hadoop.conf import discover_conf
from mlflow_client_env.kerberos.profile import KerberosSetup
from tests.conftest import Jupyter
from tests.sandbox.fixtures import Cluster, hdfs_cat
from tests.sandbox.helpers import ClientEnv, run_python
from tests.test_kernel import run_cli

#: What discovery of Java or Hadoop could start from: a native-only host has none of it.
JVM_HINTS = ("JAVA_HOME", "MLFLOW_CLIENT_ENV_PARCELS_ROOT", "HADOOP_HOME", "CLASSPATH")


def native_host(client_env: ClientEnv) -> dict[str, str]:
    """The sandbox client's environment with nothing that points at Java or Hadoop; the
    parcels root is an empty folder, so discovery finds no Hadoop installation."""
    env = {k: v for k, v in client_env.env.items() if k not in JVM_HINTS}
    empty = client_env.ccache.parent / "no-parcels"
    empty.mkdir(exist_ok=True)
    env["MLFLOW_CLIENT_ENV_PARCELS_ROOT"] = str(empty)
    return env


# ------------------------------------------------------------------ pure composition
def _kerberos(ccache: str) -> KerberosSetup:
    return KerberosSetup(None, "default", "EXAMPLE.COM", ("EXAMPLE.COM",), ccache, "KRB5CCNAME")


def _choice() -> Any:
    from mlflow_client_env.artifacts.mode import HdfsClientChoice

    return HdfsClientChoice("native", "argument", "native", "asked for", (), True)


def _conf(tmp_path: Path) -> Any:
    from mlflow_client_env_sandbox.hadoop_xml import write_configuration

    write_configuration(
        tmp_path / "core-site.xml",
        {"fs.defaultFS": "hdfs://ns1", "hadoop.security.authentication": "kerberos"},
    )
    return discover_conf((str(tmp_path), "argument"), {})


def test_a_kcm_cache_is_used_as_it_is_and_a_stale_mlflow_cache_is_emptied(
    tmp_path: Path,
) -> None:
    env = {"MLFLOW_KERBEROS_TICKET_CACHE": "/tmp/krb5cc_old_copy", "LD_LIBRARY_PATH": "/x"}
    composed = compose_native(_conf(tmp_path), _kerberos("KCM:1000"), env, _choice())
    values = composed.as_dict()
    assert values["KRB5CCNAME"] == "KCM:1000"  # libgssapi reads KCM itself: no FILE copy
    assert values["MLFLOW_KERBEROS_TICKET_CACHE"] == ""  # it would override KRB5CCNAME
    assert values["HADOOP_CONF_DIR"] == str(tmp_path)
    assert not set(values) & set(JVM_ONLY_VARIABLES)
    assert composed.native_only and composed.java is None
    assert [f.code for f in composed.findings] == ["hdfs-native.in-force"]


def test_a_keytab_login_cache_wins_and_no_configuration_is_an_error(tmp_path: Path) -> None:
    composed = compose_native(
        None, _kerberos("KEYRING:persistent:0"), {}, _choice(), login_ccache="/run/me/cc"
    )
    values = composed.as_dict()
    assert values["KRB5CCNAME"] == "FILE:/run/me/cc"
    assert values["MLFLOW_KERBEROS_TICKET_CACHE"] == "/run/me/cc"
    assert "HADOOP_CONF_DIR" not in values
    first = composed.findings[0]
    assert (first.code, first.status) == ("client-config.missing", "error")


def test_a_missing_libgssapi_is_an_error_as_in_the_doctor(tmp_path: Path) -> None:
    from mlflow_client_env.artifacts.mode import LIBGSSAPI, HdfsClientChoice

    gap = f"{LIBGSSAPI} cannot be loaded (not found): install libgssapi-krb5-2 or krb5-libs"
    choice = HdfsClientChoice("native", "argument", "native", "asked for", (gap,), True)
    composed = compose_native(_conf(tmp_path), _kerberos("FILE:/tmp/cc"), {}, choice)
    found = {f.code: f.status for f in composed.findings}
    assert found["hdfs-native.no-libgssapi"] == "error"  # as the doctor's hdfs-native check
    assert "hdfs-native.gap" not in found


def _krb5_conf(tmp_path: Path) -> Path:
    path = tmp_path / "krb5.conf"
    path.write_text("[libdefaults]\n  default_realm = EXAMPLE.COM\n")
    return path


def _private_copy_env(tmp_path: Path) -> dict[str, str]:
    """A shell an earlier setup() (JVM path) left behind: KRB5CCNAME is the private FILE copy
    it made of a KEYRING ticket, MLFLOW_CLIENT_ENV_COPIED_FROM names the KEYRING cache."""
    from mlflow_client_env.kerberos.java_cache import COPIED_FROM_VAR
    from mlflow_client_env.kerberos.login import private_ccache

    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {
        "XDG_RUNTIME_DIR": str(runtime),
        "MLFLOW_CLIENT_ENV_CACHE": str(tmp_path / "cache"),
        "MLFLOW_CLIENT_ENV_CONFIG": str(tmp_path / "user.toml"),
        "MLFLOW_CLIENT_ENV_SITE_CONFIG": str(tmp_path / "site.toml"),
        "MLFLOW_CLIENT_ENV_PARCELS_ROOT": str(tmp_path / "no-parcels"),
        "HADOOP_CONF_DIR": str(_conf(tmp_path / "conf").conf_dir),
        "KRB5_CONFIG": str(_krb5_conf(tmp_path)),
        COPIED_FROM_VAR: "KEYRING:persistent:4242",
        "MLFLOW_CLIENT_ENV_HDFS_CLIENT": "native",
    }
    copy = private_ccache(env=env)
    env["KRB5CCNAME"] = copy
    env["MLFLOW_KERBEROS_TICKET_CACHE"] = copy.removeprefix("FILE:")
    return env


def test_native_goes_back_to_the_cache_an_earlier_java_copy_was_made_from(
    tmp_path: Path,
) -> None:
    from mlflow_client_env.config import resolve_overrides
    from mlflow_client_env.discovery import resolve
    from mlflow_client_env.kerberos.java_cache import COPIED_FROM_VAR, plan_java_ccache
    from mlflow_client_env.kerberos.profile import discover_kerberos

    (tmp_path / "conf").mkdir()
    (tmp_path / "no-parcels").mkdir()
    env = _private_copy_env(tmp_path)
    kerberos = discover_kerberos(env)
    plan = plan_java_ccache(env, kerberos=kerberos, for_java=False)
    assert plan.kind == "none"  # no copy for hdfs-native
    done = resolve(resolve_overrides({}, env), env, plan, kerberos)
    values = done.environment.as_dict()
    assert values["KRB5CCNAME"] == "KEYRING:persistent:4242"  # the source, read in-process
    assert values["MLFLOW_KERBEROS_TICKET_CACHE"] == ""  # the stale copy no longer wins
    assert values[COPIED_FROM_VAR] == ""
    assert done.made_ccache is None
    assert not list((tmp_path / "runtime").iterdir())  # nothing written


def test_native_needs_no_private_folder_for_a_copy_it_never_makes(tmp_path: Path) -> None:
    from mlflow_client_env.errors import PrivateDirError
    from mlflow_client_env.kerberos.java_cache import plan_java_ccache
    from mlflow_client_env.kerberos.profile import discover_kerberos

    run = tmp_path / "cache" / "run"  # where a copy would go: not private
    run.mkdir(parents=True)
    run.chmod(0o777)
    env = {"MLFLOW_CLIENT_ENV_CACHE": str(tmp_path / "cache"), "KRB5CCNAME": "KCM:4242"}
    env["KRB5_CONFIG"] = str(_krb5_conf(tmp_path))
    kerberos = discover_kerberos(env)
    assert plan_java_ccache(env, kerberos=kerberos, for_java=False).kind == "none"
    with pytest.raises(PrivateDirError):  # the JVM path needs the copy, so it refuses
        plan_java_ccache(env, kerberos=kerberos)


def test_the_launcher_needs_a_new_process_only_for_what_is_read_at_start() -> None:
    from mlflow_client_env.jupyter.launcher import read_at_start

    before = {"PATH": "/bin", "LD_LIBRARY_PATH": "/a", "PYTHONPATH": "/p"}
    assert read_at_start(before, {**before, "HADOOP_CONF_DIR": "/c", "PATH": "/x"}) == []
    assert read_at_start(before, {**before, "LD_LIBRARY_PATH": "/a:/jvm"}) == ["LD_LIBRARY_PATH"]
    assert read_at_start(before, {"PATH": "/bin", "LD_LIBRARY_PATH": "/a"}) == ["PYTHONPATH"]


# ------------------------------------------------------------------ against the sandbox
@pytest.mark.sandbox
def test_env_native_on_a_host_without_java_or_hadoop(client_env: ClientEnv) -> None:
    env = native_host(client_env)
    composed = build_environment({**env, "MLFLOW_CLIENT_ENV_HDFS_CLIENT": "native"})
    values = composed.as_dict()
    assert set(values) == {
        "HADOOP_CONF_DIR", "KRB5CCNAME", "MLFLOW_KERBEROS_TICKET_CACHE", "MLFLOW_TRACKING_URI",
        "MLFLOW_CLIENT_ENV_HDFS_CLIENT",
    }  # fmt: skip
    assert values["KRB5CCNAME"] == f"FILE:{client_env.ccache}"
    assert composed.hadoop is None and composed.java is None
    # the same host in auto mode: no Hadoop found is the usual error (auto keeps the JVM
    # path ready, and here there is none)
    from mlflow_client_env.errors import HadoopNotFoundError

    with pytest.raises(HadoopNotFoundError):
        build_environment(env)


@pytest.mark.sandbox
def test_auto_keeps_the_jvm_variables(client_env: ClientEnv) -> None:
    values = build_environment({**client_env.env, "MLFLOW_CLIENT_ENV_HDFS_CLIENT": "auto"})
    assert {"JAVA_HOME", "CLASSPATH", "LIBHDFS_OPTS", "ARROW_LIBHDFS_DIR"} <= set(values.as_dict())


SETUP_AND_LOG = (
    f"JVM_ONLY = {list(JVM_ONLY_VARIABLES)!r}\n"
    + """
import json, os, sys
import mlflow_client_env
before = dict(os.environ)
try:
    report = mlflow_client_env.setup(hdfs_client="native", experiment="native-mode")
except mlflow_client_env.MlflowClientEnvError as exc:
    print(json.dumps({"error": type(exc).__name__, "problem": exc.problem,
                      "unchanged": dict(os.environ) == before}))
    sys.exit(0)
import mlflow
with mlflow.start_run() as run:
    mlflow.log_text("logged without a JVM\\n", "native.txt")
maps = open("/proc/self/maps").read()
print(json.dumps({
    "status": report.status, "text": repr(report),
    "set": sorted(c.name for c in report.applied),
    "codes": [f.code for f in report.findings],
    "uri": run.info.artifact_uri, "libjvm": "libjvm.so" in maps, "libhdfs": "libhdfs" in maps,
    "jvm_variables": [k for k in JVM_ONLY if k in os.environ and k != "PATH"],
}))
"""
)


@pytest.mark.sandbox
def test_setup_native_logs_without_a_jvm(client_env: ClientEnv, cluster: Cluster) -> None:
    proc = run_python(SETUP_AND_LOG, native_host(client_env), timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["status"] == "ok", out["text"]
    # HADOOP_CONF_DIR, KRB5CCNAME and the URI were the sandbox's already
    assert out["set"] == ["MLFLOW_CLIENT_ENV_HDFS_CLIENT", "MLFLOW_KERBEROS_TICKET_CACHE"]
    assert out["jvm_variables"] == []
    assert "kerberos.valid" in out["codes"] and "hdfs-native.in-force" in out["codes"]
    assert "HDFS client: hdfs-native" in out["text"]
    assert not out["libjvm"] and not out["libhdfs"]
    assert out["uri"].startswith("hdfs://")
    text = hdfs_cat(cluster.hdfs, out["uri"] + "/native.txt", client_env.ccache)
    assert text == "logged without a JVM\n"


@pytest.mark.sandbox
def test_setup_native_without_hdfs_native_is_a_typed_error_and_changes_nothing(
    client_env: ClientEnv,
) -> None:
    """hdfs-native "not installed": ``sys.modules['hdfs_native'] = None`` makes its import
    fail as a missing package does (a real venv without it costs a minute here; the
    repository's own test of that case uses one: test_native_repo_modes)."""
    code = "import sys; sys.modules['hdfs_native'] = None\n" + SETUP_AND_LOG
    proc = run_python(code, native_host(client_env))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["error"] == HdfsClientSettingError.__name__
    assert "hdfs-native is not installed" in out["problem"]
    assert out["unchanged"]


# ------------------------------------------------------------------ a native-mode kernel
CELL = (
    f"JVM_ONLY = {list(JVM_ONLY_VARIABLES)!r}\n"
    + """
import json, os, sys
# the launcher resolved the environment in this very process (no second interpreter)
resolved_here = "mlflow_client_env.discovery" in sys.modules
import mlflow
with mlflow.start_run() as run:
    mlflow.log_text("from a native kernel\\n", "kernel.txt")
maps = open("/proc/self/maps").read()
print(json.dumps({
    "uri": run.info.artifact_uri, "libjvm": "libjvm.so" in maps,
    "env": {k: os.environ.get(k) for k in JVM_ONLY},
    "client": os.environ.get("MLFLOW_CLIENT_ENV_HDFS_CLIENT"),
    "launcher": os.environ.get("MLFLOW_CLIENT_ENV_KERNEL"),
    "resolved_here": resolved_here,
    "argv0": os.path.basename(sys.argv[0]),
}))
"""
)


@pytest.mark.sandbox
def test_a_native_kernel_logs_with_no_jvm_mapped(
    jupyter: Jupyter,
    monkeypatch: pytest.MonkeyPatch,
    client_env: ClientEnv,
    cluster: Cluster,
    tmp_path: Path,
) -> None:
    """A notebook (nbclient) through a kernel from install-kernel --hdfs-client native."""
    for key in (*JVM_ONLY_VARIABLES, *JVM_HINTS):  # the Jupyter server's environment
        if key != "PATH":
            monkeypatch.delenv(key, raising=False)
    for key, value in native_host(client_env).items():
        monkeypatch.setenv(key, value)
    argv = ["install-kernel", "--prefix", str(jupyter.prefix), "--hdfs-client", "native"]
    argv += ["--tracking-uri", client_env.tracking_uri, "--experiment", "native-kernel"]
    assert run_cli(argv) == 0
    spec = json.loads((jupyter.prefix_kernels / "mlflow" / "kernel.json").read_text())
    assert "--hdfs-client" in spec["argv"] and "native" in spec["argv"]
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    client = NotebookClient(
        nb, kernel_name="mlflow", timeout=300, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell's output, on failure
    outputs = nb.cells[0].outputs
    stdout = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
    data = json.loads(stdout.strip().splitlines()[-1])
    assert data["libjvm"] is False
    assert (data["client"], data["launcher"]) == ("native", "launcher ok"), outputs
    assert data["resolved_here"]  # nothing for the loader changed: no second interpreter
    assert data["argv0"] == "ipykernel_launcher.py"  # as a kernel started by execve sees it
    path = data["env"].pop("PATH")
    assert path == os.environ["PATH"]  # nothing prepended: no hadoop or java commands
    assert data["env"] == dict.fromkeys(data["env"]), data["env"]  # none of them set
    text = hdfs_cat(cluster.hdfs, data["uri"] + "/kernel.txt", client_env.ccache)
    assert text == "from a native kernel\n"
