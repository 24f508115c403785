"""Hostile and broken inputs to discovery, `env` and `setup()`: a typed error, never a traceback,
a hang or a wrong success. Every case is a real file, FIFO or program on disk."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

import mlflow_client_env
from mlflow_client_env.errors import (
    ClasspathError,
    OutputFormatError,
    SecretError,
)
from tests.conftest import Edge, build_edge
from tests.helpers_cli import run_cli as cli


def assert_typed(out: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit 2 (bad input), our one-line error with a fix, and no Python traceback."""
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert "mlflow-client-env: error:" in out.stderr and "fix:" in out.stderr
    for n in needles:
        assert n in out.stderr, out.stderr


# --------------------------------------------------------------------------- config files
def test_config_toml_not_utf8(edge: Edge, clean_env: dict[str, str]) -> None:
    Path(clean_env["MLFLOW_CLIENT_ENV_CONFIG"]).write_bytes(b'parcels_root = "/opt/\xff\xfe"\n')
    assert_typed(cli("env", *edge.cli_args(), env=clean_env), "is not UTF-8", "user-config.toml")


def test_config_toml_is_a_fifo(edge: Edge, clean_env: dict[str, str]) -> None:
    os.mkfifo(clean_env["MLFLOW_CLIENT_ENV_SITE_CONFIG"])  # nobody ever writes to it
    assert_typed(
        cli("env", *edge.cli_args(), env=clean_env), "is not a regular file (a FIFO (named pipe))"
    )


def test_config_toml_deeply_nested(edge: Edge, clean_env: dict[str, str]) -> None:
    Path(clean_env["MLFLOW_CLIENT_ENV_CONFIG"]).write_text("x = " + "[" * 100_000 + "]" * 100_000)
    assert_typed(cli("env", *edge.cli_args(), env=clean_env), "user-config.toml")


# --------------------------------------------------------------------------- meta/parcel.json
@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b'{"name": "CDH", "version": "6.3.2\xff"}', "is not UTF-8"),
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
        (b'{"name": "CDH", ', "is not valid JSON"),
        (b'["CDH"]', "does not hold a JSON object"),
    ],
    ids=["not-utf8", "deeply-nested", "truncated", "not-an-object"],
)
def test_parcel_json_broken(
    edge: Edge, clean_env: dict[str, str], content: bytes, needle: str
) -> None:
    meta = edge.parcel / "meta" / "parcel.json"
    meta.write_bytes(content)
    args = ["--parcel", str(edge.parcel), "--hadoop-conf-dir", str(edge.conf)]
    assert_typed(cli("env", *args, "--java-home", str(edge.java), env=clean_env), needle, str(meta))


def test_parcel_json_fifo(edge: Edge, clean_env: dict[str, str]) -> None:
    meta = edge.parcel / "meta" / "parcel.json"
    meta.unlink()
    os.mkfifo(meta)
    args = ["--parcel", str(edge.parcel), "--hadoop-conf-dir", str(edge.conf)]
    out = cli("env", *args, "--java-home", str(edge.java), env=clean_env)
    assert_typed(out, "is not a regular file (a FIFO (named pipe))")


def test_core_site_fifo(edge: Edge, clean_env: dict[str, str]) -> None:
    (edge.conf / "core-site.xml").unlink()
    os.mkfifo(edge.conf / "core-site.xml")
    assert_typed(cli("env", *edge.cli_args(), env=clean_env), "core-site.xml is not a regular file")


def test_core_site_deeply_nested_xml(edge: Edge, clean_env: dict[str, str]) -> None:
    """expat parses deep nesting without recursion: no crash, and no property is made up."""
    (edge.conf / "core-site.xml").write_text("<a>" * 100_000 + "</a>" * 100_000)
    out = cli("env", "--json", *edge.cli_args(), env=clean_env)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert json.loads(out.stdout)["HADOOP_CONF_DIR"] == str(edge.conf)


# --------------------------------------------------------------------------- missing core-site
def test_missing_core_site_warns_and_keeps_kerberos(edge: Edge, clean_env: dict[str, str]) -> None:
    """Without core-site.xml the authentication mode is unknown: say so, keep Kerberos' variables."""
    (edge.conf / "core-site.xml").unlink()
    out = cli("env", "--json", *edge.cli_args(), env=clean_env)
    assert out.returncode == 0, out.stderr
    assert "has no core-site.xml" in out.stderr and "warning" in out.stderr
    env = json.loads(out.stdout)
    assert "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED" in env["LIBHDFS_OPTS"]


# --------------------------------------------------------------------------- --exact-classpath
def _fake_hadoop(edge: Edge, body: str) -> Path:
    """Replace the parcel's bin/hadoop with a shell script (a real program that really runs)."""
    hadoop = edge.parcel / "bin" / "hadoop"  # a parcel's bin/ holds the wrapper scripts
    hadoop.parent.mkdir(parents=True, exist_ok=True)
    hadoop.write_text("#!/bin/sh\n" + body + "\n")
    hadoop.chmod(0o755)
    return hadoop


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("echo 'Error: JAVA_HOME is not set password=hunter2' >&2; exit 1", "failed (exit 1)"),
        ("echo 'hello world'", "printed no classpath"),
        ("echo 'lib/a.jar:lib/b.jar'", "printed no classpath"),
        ("echo ''", "printed no classpath"),
        ("echo /etc/hadoop/conf", "printed no classpath"),
        ("exec sleep 30", "did not finish within 1 s"),
    ],
    ids=["nonzero", "garbage", "relative", "empty", "no-jar", "timeout"],
)
def test_exact_classpath_failures(
    edge: Edge, clean_env: dict[str, str], body: str, needle: str
) -> None:
    _fake_hadoop(edge, body)
    out = cli(
        "env",
        *edge.cli_args(),
        "--exact-classpath",
        "--exact-classpath-timeout",
        "1",
        env=clean_env,
    )
    assert_typed(out, needle)
    assert "hunter2" not in out.stderr


def test_exact_classpath_not_executable(edge: Edge, clean_env: dict[str, str]) -> None:
    _fake_hadoop(edge, "echo /a.jar").chmod(0o644)
    out = cli("env", *edge.cli_args(), "--exact-classpath", env=clean_env)
    assert_typed(out, "cannot run")


def test_exact_classpath_missing_hadoop(edge: Edge, clean_env: dict[str, str]) -> None:
    (edge.parcel / "bin" / "hadoop").unlink()
    out = cli("env", *edge.cli_args(), "--exact-classpath", env=clean_env)
    assert_typed(out, "has no bin/hadoop")


def test_exact_classpath_accepts_real_output_after_warnings(
    edge: Edge, clean_env: dict[str, str]
) -> None:
    _fake_hadoop(
        edge, "echo 'WARNING: HADOOP_PREFIX is deprecated'; echo '/etc/hadoop/conf:/x/a.jar'"
    )
    env = {**clean_env, "KRB5CCNAME": f"FILE:{edge.root / 'no-ticket'}"}  # no kinit here
    out = cli("env", "--json", *edge.cli_args(), "--exact-classpath", env=env)
    assert out.returncode == 1 and "error: ticket missing" in out.stderr, out.stderr
    assert json.loads(out.stdout)["CLASSPATH"].endswith("/x/a.jar")


def test_exact_classpath_damaged_cache_is_rebuilt(edge: Edge, clean_env: dict[str, str]) -> None:
    from mlflow_client_env.hadoop import classpath
    from mlflow_client_env.hadoop.install import inspect_parcel, parcel_install

    _fake_hadoop(edge, "echo '/x/a.jar:/x/b.jar'")
    cache = Path(clean_env["MLFLOW_CLIENT_ENV_CACHE"])
    install = parcel_install(inspect_parcel(edge.parcel), "test")
    first = classpath.exact_classpath(install, edge.conf, edge.java, cache)
    assert first == ("/x/a.jar", "/x/b.jar")
    (cached,) = cache.glob("classpath-*.json")
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    cached.write_text('["not a path", 3]')  # damaged: must not be trusted
    _fake_hadoop(edge, "echo '/y/c.jar'")
    assert classpath.exact_classpath(install, edge.conf, edge.java, cache) == ("/y/c.jar",)


def test_exact_classpath_error_is_typed_in_python(edge: Edge, clean_env: dict[str, str]) -> None:
    _fake_hadoop(edge, "echo garbage")
    with pytest.raises(ClasspathError, match="printed no classpath"):
        mlflow_client_env.setup(exact_classpath=True, **edge.overrides())


# --------------------------------------------------------------------------- secrets in the URI
@pytest.mark.parametrize(
    "uri",
    [
        "http://bob:s3cret@mlflow:5000",
        "http://bob:s3c@r@t@mlflow:5000",
        "https://mlflow:5000/?token=s3cret",
        "https://mlflow:5000/api?x=1&password=s3cret",
    ],
)
def test_tracking_uri_with_credentials_is_refused_by_env(
    edge: Edge, clean_env: dict[str, str], uri: str
) -> None:
    for fmt in ("shell", "dotenv", "json"):
        out = cli("env", "--format", fmt, *edge.cli_args(), "--tracking-uri", uri, env=clean_env)
        assert_typed(
            out, "carries credentials", "MLFLOW_TRACKING_PASSWORD", "~/.mlflow/credentials"
        )
        assert out.stdout == ""
        assert "s3c" not in out.stderr


def test_tracking_uri_with_password_from_environment_is_refused(
    edge: Edge, clean_env: dict[str, str]
) -> None:
    env = {**clean_env, "MLFLOW_TRACKING_URI": "http://bob:s3cret@mlflow:5000"}
    out = cli("env", *edge.cli_args(), env=env)
    assert_typed(out, "environment MLFLOW_TRACKING_URI")
    assert "s3cret" not in out.stderr + out.stdout


def test_setup_refuses_credentials_and_changes_nothing(edge: Edge) -> None:
    before = dict(os.environ)
    with pytest.raises(SecretError) as err:
        mlflow_client_env.setup(tracking_uri="http://bob:s3cret@127.0.0.1:5999", **edge.overrides())
    assert "s3cret" not in str(err.value)
    assert dict(os.environ) == before


def test_report_reprs_never_show_secrets(edge: Edge, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's own JVM options may hold a trust-store password: every repr of the report masks it."""
    monkeypatch.setenv("LIBHDFS_OPTS", "-Djavax.net.ssl.trustStorePassword=hunter2 -Xss4m")
    report = mlflow_client_env.setup(**edge.overrides())
    assert "hunter2" in os.environ["LIBHDFS_OPTS"]  # the JVM still gets the user's option
    for shown in (
        repr(report),
        str(report),
        report._repr_html_(),
        repr(report.applied),
        repr(report.environment),
        repr(report.environment.variables),
    ):
        assert "hunter2" not in shown
    assert "trustStorePassword=***" in repr(report.applied)


# --------------------------------------------------------------------------- dotenv
def test_dotenv_round_trips_through_python_dotenv(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    from dotenv import dotenv_values

    e = build_edge(tmp_path / 'it\'s a "q" \\ back $HOME $(x) `y` Données')
    env = {**clean_env, "KRB5CCNAME": f"FILE:{tmp_path / 'no-ticket'}"}  # no kinit here
    out = cli("env", "--format", "dotenv", "--explain", *e.cli_args(), env=env)
    assert out.returncode == 1 and "error: ticket missing" in out.stderr, out.stderr
    parsed = dotenv_values(stream=io.StringIO(out.stdout))
    expected = json.loads(cli("env", "--json", *e.cli_args(), env=env).stdout)
    assert dict(parsed) == expected


@pytest.mark.parametrize("name", ["new\nline", "dollar ${HOME} brace"])
def test_dotenv_refuses_what_it_cannot_write(
    tmp_path: Path, clean_env: dict[str, str], name: str
) -> None:
    e = build_edge(tmp_path / name)
    out = cli("env", "--format", "dotenv", *e.cli_args(), env=clean_env)
    assert_typed(out, "a .env file cannot hold faithfully", "--format shell")
    assert out.stdout == ""
    env = {**clean_env, "KRB5CCNAME": f"FILE:{tmp_path / 'no-ticket'}"}  # no kinit here
    shell = cli("env", "--format", "shell", *e.cli_args(), env=env)  # still fine for eval
    assert shell.returncode == 1 and "error: ticket missing" in shell.stderr, shell.stderr


def test_dotenv_error_is_typed_in_python(tmp_path: Path, clean_env: dict[str, str]) -> None:
    from mlflow_client_env import formats

    e = build_edge(tmp_path / "a\nb")
    env = mlflow_client_env.build_environment(None, e.overrides())
    with pytest.raises(OutputFormatError, match="newline"):
        formats.dotenv(env)


def test_exact_classpath_cache_in_another_users_folder_is_refused(
    edge: Edge, clean_env: dict[str, str], tmp_path: Path
) -> None:
    """The cached CLASSPATH is what the JVM loads: a cache folder that 'nobody' made (0777)
    could be filled with their jar, so it is refused, never read or written."""
    _fake_hadoop(edge, "echo '/x/a.jar'")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    os.chown(shared, 65534, 65534)
    (shared / "planted.json").write_text('["/home/nobody/evil.jar"]')
    env = {**clean_env, "MLFLOW_CLIENT_ENV_CACHE": str(shared)}
    out = cli("env", "--json", *edge.cli_args(), "--exact-classpath", env=env)
    assert_typed(out, "belongs to uid 65534", "MLFLOW_CLIENT_ENV_CACHE")
    assert sorted(p.name for p in shared.iterdir()) == ["planted.json"]


def test_exact_classpath_cache_file_of_another_user_is_not_trusted(
    edge: Edge, clean_env: dict[str, str]
) -> None:
    from mlflow_client_env.hadoop import classpath
    from mlflow_client_env.hadoop.install import inspect_parcel, parcel_install

    _fake_hadoop(edge, "echo '/x/a.jar'")
    cache = Path(clean_env["MLFLOW_CLIENT_ENV_CACHE"])
    install = parcel_install(inspect_parcel(edge.parcel), "test")
    classpath.exact_classpath(install, edge.conf, edge.java, cache)
    (cached,) = cache.glob("classpath-*.json")
    cached.write_text('["/home/nobody/evil.jar"]')
    os.chown(cached, 65534, 65534)
    assert classpath.exact_classpath(install, edge.conf, edge.java, cache) == ("/x/a.jar",)


def test_ticket_reads_the_client_configuration_the_way_discovery_does(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    """'ticket' takes --hadoop-conf-dir through the same override order as every command: a
    missing folder and a broken config file are typed errors, not silently ignored."""
    missing = cli("ticket", "--hadoop-conf-dir", str(tmp_path / "nowhere"), env=clean_env)
    assert_typed(missing, "does not exist")
    Path(clean_env["MLFLOW_CLIENT_ENV_CONFIG"]).write_text("hadoop_conf_dir = [\n")
    broken = cli("ticket", env=clean_env)
    assert_typed(broken, "is not valid TOML")


# --------------------------------------------------------------------------- numbers, codes
@pytest.mark.parametrize(
    "args",
    [
        ("ticket", "--threshold", "nan"),
        ("ticket", "--threshold", "-1"),
        ("ticket", "--threshold", "1e999"),
        ("run", "--threshold", "0", "--", "true"),
        ("run", "--max-backoff", "inf", "--", "true"),
        ("doctor", "--timeout", "nan"),
        ("doctor", "--timeout", "x"),
        ("env", "--exact-classpath-timeout", "-5"),
    ],
)
def test_numbers_that_are_no_seconds_are_refused(
    args: tuple[str, ...], clean_env: dict[str, str]
) -> None:
    """nan, inf, negative or non-numeric seconds: argparse's usage error (exit 2) naming
    the option, before anything runs."""
    out = cli(*args, env=clean_env)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert f"argument {args[1]}: {args[2]!r} is not a" in out.stderr.splitlines()[-1]


def test_explain_an_empty_code(clean_env: dict[str, str], tmp_path: Path) -> None:
    """An empty argument is not the current folder."""
    for empty in ("", "  "):
        assert_typed(cli("explain", empty, env=clean_env, cwd=tmp_path), "is empty")
