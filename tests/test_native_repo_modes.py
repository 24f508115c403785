"""Which HDFS client serves MLflow's hdfs:// artifacts, and why (issue 14, modes).

No cluster is needed: the choice reads the environment, the config files, the Hadoop
client configuration and whether hdfs-native imports. Files are real files in tmp_path;
"hdfs-native is not installed" is a real ImportError in a child interpreter.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from mlflow_client_env.artifacts import HdfsClientSettingError, hdfs_client_in_force
from mlflow_client_env.artifacts.mode import (
    _LOGGED,
    DEFAULT_MODE,
    log_choice_once,
    parse_umask,
    requested_hdfs_client,
)
from mlflow_client_env.artifacts.native import step_timeout, write_defaults
from mlflow_client_env.errors import ConfigFileError
from mlflow_client_env_sandbox.hadoop_xml import write_configuration

ROOT = Path(__file__).resolve().parent.parent
VAR = "MLFLOW_CLIENT_ENV_HDFS_CLIENT"
#: How an argument is named once hdfs_client is one of config.SETTINGS (setup()'s keyword);
#: "argument" before that
ARGUMENT = "setup(hdfs_client=...)"


def _conf(folder: Path, **hdfs: str) -> Path:
    """A Kerberized client configuration (fs.defaultFS hdfs://nn.example:8020) plus ``hdfs``
    (``fs.*`` keys go to core-site.xml)."""
    folder.mkdir(parents=True, exist_ok=True)
    core = {"fs.defaultFS": "hdfs://nn.example:8020", "hadoop.security.authentication": "kerberos"}
    core.update({k: v for k, v in hdfs.items() if k.startswith("fs.")})
    write_configuration(folder / "core-site.xml", core)
    write_configuration(
        folder / "hdfs-site.xml", {k: v for k, v in hdfs.items() if not k.startswith("fs.")}
    )
    return folder


@pytest.fixture
def env(clean_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """This process's clean environment with a valid client configuration."""
    return {**clean_env, "HADOOP_CONF_DIR": str(_conf(tmp_path / "conf"))}


def test_mode_comes_from_argument_then_env_then_user_then_site_config(
    env: dict[str, str], tmp_path: Path
) -> None:
    user, site = Path(env["MLFLOW_CLIENT_ENV_CONFIG"]), Path(env["MLFLOW_CLIENT_ENV_SITE_CONFIG"])
    assert requested_hdfs_client(None, env) == (DEFAULT_MODE, "default")
    site.write_text('hdfs_client = "jvm"\nparcels_root = "/x"\n')
    assert requested_hdfs_client(None, env) == ("jvm", f"site config {site}")
    user.write_text('hdfs_client = "native"\n')
    assert requested_hdfs_client(None, env) == ("native", f"user config {user}")
    env[VAR] = "auto"
    assert requested_hdfs_client(None, env) == ("auto", f"environment {VAR}")
    assert requested_hdfs_client("JVM", env) in (("jvm", ARGUMENT), ("jvm", "argument"))
    assert requested_hdfs_client("", env) == ("auto", f"environment {VAR}")


@pytest.mark.parametrize("where", ["argument", "environment", "user config"])
def test_unknown_mode_names_where_it_came_from(env: dict[str, str], where: str) -> None:
    argument = None
    if where == "argument":
        argument = "fast"
    elif where == "environment":
        env[VAR] = "fast"
    else:
        Path(env["MLFLOW_CLIENT_ENV_CONFIG"]).write_text('hdfs_client = "fast"\n')
    with pytest.raises(HdfsClientSettingError) as info:
        requested_hdfs_client(argument, env)
    named = (ARGUMENT, "argument") if where == "argument" else (where,)
    assert any(n in info.value.problem for n in named) and "'fast'" in info.value.problem
    assert "auto" in info.value.fix and "native" in info.value.fix and "jvm" in info.value.fix


def test_config_value_must_be_a_string(env: dict[str, str]) -> None:
    Path(env["MLFLOW_CLIENT_ENV_SITE_CONFIG"]).write_text("hdfs_client = 1\n")
    with pytest.raises(ConfigFileError) as info:
        requested_hdfs_client(None, env)
    assert "hdfs_client must be" in info.value.problem


def test_auto_serves_natively_when_nothing_is_missing(env: dict[str, str]) -> None:
    choice = hdfs_client_in_force(artifact_uri="hdfs://nn.example:8020/x", env=env)
    assert (choice.requested, choice.client, choice.gaps) == ("auto", "native", ())
    assert "hdfs-native" in choice.summary()
    assert hdfs_client_in_force("jvm", env=env).client == "jvm"


GAPS = {
    "key provider": ({"hadoop.security.key.provider.path": "kms://http@kms:9600/kms"}, "KMS"),
    "proxy provider": (
        {"dfs.client.failover.proxy.provider.ns1": "com.example.HedgingProxyProvider"},
        "not implemented",
    ),
    "viewfs linkMerge": ({"fs.viewfs.mounttable.cl.linkMerge./data": "hdfs://nn/a"}, "linkMerge"),
    "umask": ({"fs.permissions.umask-mode": "u+rwx"}, "umask-mode"),
    "default fs": ({"fs.defaultFS": "s3a://bucket"}, "hdfs-native serves hdfs and viewfs"),
}
URIS = {"proxy provider": "hdfs://ns1/x", "viewfs linkMerge": "viewfs://cl/x"}


@pytest.mark.parametrize("name", sorted(GAPS))
def test_auto_falls_back_to_the_jvm_when_the_configuration_needs_more(
    env: dict[str, str], tmp_path: Path, name: str
) -> None:
    keys, says = GAPS[name]
    env["HADOOP_CONF_DIR"] = str(_conf(tmp_path / "gap", **keys))
    choice = hdfs_client_in_force(artifact_uri=URIS.get(name, "hdfs:///x"), env=env)
    assert choice.client == "jvm" and choice.native_installed, choice
    assert says in choice.reason, choice
    forced = hdfs_client_in_force("native", artifact_uri=URIS.get(name, "hdfs:///x"), env=env)
    assert forced.client == "native" and says in forced.reason  # asked for: it serves anyway


def test_auto_falls_back_for_kerberos_user_without_cache_and_without_client_conf(
    env: dict[str, str], tmp_path: Path
) -> None:
    user_only = {**env, "MLFLOW_KERBEROS_USER": "alice"}
    assert "SIMPLE" in hdfs_client_in_force(env=user_only).reason
    no_conf = {**env, "HADOOP_CONF_DIR": str(tmp_path / "missing")}
    # HADOOP_CONF_DIR names nothing; /etc/hadoop/conf does not exist on this machine
    assert not Path("/etc/hadoop/conf").exists()
    choice = hdfs_client_in_force(env=no_conf)
    assert choice.client == "jvm" and "no Hadoop client configuration" in choice.reason


def test_fallback_is_logged_once_as_a_warning(
    env: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env["HADOOP_CONF_DIR"] = str(_conf(tmp_path / "kms", **GAPS["key provider"][0]))
    _LOGGED.clear()
    with caplog.at_level(logging.INFO, logger="mlflow_client_env.artifacts"):
        for _ in range(3):
            log_choice_once(hdfs_client_in_force(env=env))
    records = [r for r in caplog.records if r.name == "mlflow_client_env.artifacts"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    assert "the JVM" in records[0].getMessage() and "KMS" in records[0].getMessage()


WITHOUT_HDFS_NATIVE = """
import json, logging, sys
sys.modules["hdfs_native"] = None  # import hdfs_native raises ImportError, as when not installed
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="LOG %(levelname)s %(message)s")
from mlflow_client_env.artifacts import HdfsClientSettingError, hdfs_client_in_force
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
choice = hdfs_client_in_force(artifact_uri="hdfs://nn.example:8020/x")
repo = get_artifact_repository("hdfs://nn.example:8020/x")
try:
    hdfs_client_in_force("native")
    native = "served"
except HdfsClientSettingError as exc:
    native = exc.fix
print("RESULT " + json.dumps([choice.client, choice.reason, type(repo).__module__, native]))
"""


def test_without_hdfs_native_everything_is_as_before(env: dict[str, str]) -> None:
    """auto: MLflow's own repository, logged at INFO (nothing to warn about); native asked
    for: an error that names the extra to install."""
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_HDFS_NATIVE],
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    client, reason, module, native = json.loads(line[len("RESULT ") :])
    assert client == "jvm" and "not installed" in reason
    assert module == "mlflow.store.artifact.hdfs_artifact_repo"
    assert "mlflow-client-env[native]" in native
    logs = [x for x in proc.stdout.splitlines() if x.startswith("LOG ")]
    assert len(logs) == 1 and logs[0].startswith("LOG INFO"), logs


@pytest.mark.parametrize(
    ("value", "bits"),
    [("022", 0o022), ("0077", 0o077), ("u=rwx,g=rx,o=", 0o027), ("a=rx", 0o222), ("u+x", None),
     ("999", None), ("", None)],
)  # fmt: skip
def test_umask_octal_and_symbolic(value: str, bits: int | None) -> None:
    assert parse_umask(value) == bits


def test_new_files_get_what_javas_client_gives_them() -> None:
    d = write_defaults({})
    assert (d.replication, d.block_size, d.file_permission, d.dir_permission) == (
        3, 128 << 20, 0o644, 0o755,
    )  # fmt: skip
    d = write_defaults(
        {"dfs.replication": "2", "dfs.blocksize": "64m", "fs.permissions.umask-mode": "007"}
    )
    assert (d.replication, d.block_size, d.file_permission, d.dir_permission) == (
        2, 64 << 20, 0o660, 0o770,
    )  # fmt: skip


@pytest.mark.parametrize("value", ["abc", "0", "-3", "inf", "nan"])
def test_bad_timeout_is_a_setting_error(value: str) -> None:
    with pytest.raises(HdfsClientSettingError) as info:
        step_timeout({"MLFLOW_CLIENT_ENV_HDFS_TIMEOUT": value})
    assert "MLFLOW_CLIENT_ENV_HDFS_TIMEOUT" in info.value.problem
    assert step_timeout({"MLFLOW_CLIENT_ENV_HDFS_TIMEOUT": "2.5"}) == 2.5
