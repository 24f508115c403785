"""`mlflow-client-env env` as a user runs it: eval'd by a real shell, JSON, dotenv, exit codes."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from tests.conftest import Edge, build_edge
from tests.helpers_cli import run_cli as cli


def test_eval_in_bash_with_awkward_paths(tmp_path: Path, clean_env: dict[str, str]) -> None:
    e = build_edge(tmp_path / "it's Données $HOME")
    script = (
        f'eval "$({sys.executable} -m mlflow_client_env env "$@")" && '
        'printf "%s\\n%s\\n" "$CLASSPATH" "$HADOOP_HOME"'
    )
    out = subprocess.run(
        ["bash", "-c", script, "bash", *e.cli_args()],
        capture_output=True,
        text=True,
        env=clean_env,
        check=True,
    )
    classpath, home = out.stdout.splitlines()
    assert classpath.split(":")[0] == str(e.conf)
    assert home == str(e.parcels / "CDH" / "lib" / "hadoop")


def test_json_and_explain(edge: Edge, clean_env: dict[str, str], tmp_path: Path) -> None:
    env = {**clean_env, "KRB5CCNAME": f"FILE:{tmp_path / 'no-ticket'}"}  # no kinit yet
    out = cli("env", "--json", *edge.cli_args(), env=env)
    assert out.returncode == 1, out.stderr  # a Kerberized client without a ticket: an error
    assert "error: ticket missing" in out.stderr
    data = json.loads(out.stdout)
    assert data["ARROW_LIBHDFS_DIR"] == str(edge.parcels / "CDH" / "lib64")
    assert all(isinstance(v, str) for v in data.values())
    out = cli("env", "--explain", *edge.cli_args(), env=env)
    assert "# CLASSPATH: conf dir first" in out.stdout
    assert "export JAVA_HOME=" in out.stdout


def test_dotenv(edge: Edge, clean_env: dict[str, str]) -> None:
    out = cli("env", "--format", "dotenv", *edge.cli_args(), env=clean_env)
    lines = dict(line.split("=", 1) for line in out.stdout.splitlines())
    assert lines["HADOOP_CONF_DIR"] == f"'{edge.conf}'"  # single quotes: no expansion


def test_bad_input_exit_2_with_fix(tmp_path: Path, clean_env: dict[str, str]) -> None:
    e = build_edge(tmp_path)
    (e.parcels / "CDH").unlink()
    (e.parcels / "CDH").symlink_to("CDH-1.0")
    out = cli("env", *e.cli_args(), env=clean_env)
    assert out.returncode == 2
    assert out.stdout == ""
    assert "error:" in out.stderr and "fix:" in out.stderr and "Traceback" not in out.stderr


def test_errors_in_findings_exit_1_but_still_print(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    e = build_edge(tmp_path)
    for f in (e.parcel / "lib64").iterdir():
        f.unlink()
    out = cli("env", *e.cli_args(), env=clean_env)
    assert out.returncode == 1
    assert "export CLASSPATH=" in out.stdout and "no libhdfs.so" in out.stderr


def test_help_teaches() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "env", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert 'eval "$(mlflow-client-env env)"' in out.stdout
    assert "--parcel" in out.stdout and "config.toml" in out.stdout


def test_spark_conf_format(edge: Edge, clean_env: dict[str, str], tmp_path: Path) -> None:
    """env --format spark-conf: the executors' environment as spark-submit --conf lines, the
    same values as env's own (yarn: never the local ticket cache); the public spark_conf()
    gives the same dict."""
    ccache = tmp_path / "krb5cc"
    env = {**clean_env, "KRB5CCNAME": f"FILE:{ccache}", "MLFLOW_CLIENT_ENV_HDFS_CLIENT": "jvm"}
    plain = json.loads(cli("env", "--json", *edge.cli_args(), env=env).stdout)
    out = cli("env", "--format", "spark-conf", "--spark-mode", "yarn", *edge.cli_args(), env=env)
    words = shlex.split(out.stdout.replace("\\\n", " "))  # what the shell hands spark-submit
    assert words[::2] == ["--conf"] * (len(words) // 2), out.stdout
    conf = dict(w.split("=", 1) for w in words[1::2])
    assert conf["spark.executorEnv.CLASSPATH"] == plain["CLASSPATH"], out.stderr
    assert conf["spark.executorEnv.ARROW_LIBHDFS_DIR"] == plain["ARROW_LIBHDFS_DIR"]
    assert not any(str(ccache) in v for v in conf.values())  # yarn: tokens, not our cache
    code = (
        "import json, sys, mlflow_client_env\n"
        "print(json.dumps(mlflow_client_env.spark_conf(mode='yarn', **dict("
        "a.split('=', 1) for a in sys.argv[1:]))))"
    )
    args = [f"{k}={v}" for k, v in edge.overrides().items()]
    py = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(py.stdout) == conf
