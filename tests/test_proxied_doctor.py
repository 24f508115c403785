"""The doctor on a host without Hadoop whose tracking server keeps the artifacts (catalog H4).

Against a real ``mlflow server --serve-artifacts`` (and, for contrast, one whose artifacts
are on HDFS), on the no-Hadoop host view of tests/test_proxied_artifacts.py, the doctor
agrees with ``env``/``setup()``: what nothing uses (Java, pyarrow, the Hadoop chain) is
never an error, Kerberos is still checked (the server may ask for a ticket) with only
Java's side skipped, and every check keeps what it found before a precondition stopped it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env.doctor.versions import not_needed_findings, version_findings
from mlflow_client_env.findings import Finding
from mlflow_client_env_sandbox import Kdc
from mlflow_client_env_sandbox.ports import free_port
from tests.conftest import Edge
from tests.helpers_cli import run_cli
from tests.native_helpers import real_java_25
from tests.test_proxied_artifacts import Server, hdfs_rooted, no_hadoop, proxied
from tests.venvs import python_without

__all__ = ["hdfs_rooted", "no_hadoop", "proxied"]  # the fixtures, shared with that module

HADOOP_CHAIN = ("client-config", "classpath", "native-libraries", "process-start")


def doctor(
    server: Server | None, env: dict[str, str], *args: str, python: str | Path = sys.executable
) -> tuple[subprocess.CompletedProcess[str], dict[str, list[dict[str, Any]]], dict[str, str]]:
    """``doctor --json`` on this host view: (the run, findings by check, status by check)."""
    uri = ("--tracking-uri", server.url) if server else ()
    out = run_cli("doctor", "--json", *uri, *args, env=env, timeout=300, python=python)
    data = json.loads(out.stdout)
    findings = {c["name"]: c["findings"] for c in data["checks"]}
    return out, findings, {c["name"]: c["status"] for c in data["checks"]}


def codes(findings: list[dict[str, Any]]) -> list[str]:
    return [f["code"] for f in findings]


def by_code(findings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f["code"]: f for f in findings}


# --------------------------------------------------------------------------- Kerberos
def test_kerberos_reports_the_ticket_and_skips_only_java_s_side(
    proxied: Server, no_hadoop: dict[str, str], kdc: Kdc, tmp_path: Path
) -> None:
    ccache = tmp_path / "krb5cc_alice"
    kdc.kinit("alice", ccache, lifetime="10h")
    env = {**no_hadoop, "KRB5_CONFIG": str(kdc.krb5_conf), "KRB5CCNAME": f"FILE:{ccache}"}
    out, findings, status = doctor(proxied, env)
    krb = by_code(findings["kerberos"])
    assert codes(findings["kerberos"]) == [
        "kerberos.kinit",  # the system's kinit (D4 would be another one first on PATH)
        "kerberos.krb5-conf",
        "kerberos.valid",
        "kerberos.not-needed",
    ]
    conf = krb["kerberos.krb5-conf"]
    assert conf["status"] == "ok" and str(kdc.krb5_conf) in conf["summary"]
    assert kdc.realm in conf["summary"] and str(ccache) in conf["summary"]
    assert krb["kerberos.valid"]["status"] == "ok"
    skipped = krb["kerberos.not-needed"]["summary"]
    assert "Java's side" in skipped and "LIBHDFS_OPTS" in skipped
    assert "no Hadoop is needed" in skipped and "mlflow-artifacts:" in skipped
    assert status["kerberos"] == "ok"
    assert out.returncode == 0, out.stdout


def test_a_missing_ticket_is_a_warning_as_env_needs_none(
    proxied: Server, no_hadoop: dict[str, str], kdc: Kdc, tmp_path: Path
) -> None:
    env = {
        **no_hadoop,
        "KRB5_CONFIG": str(kdc.krb5_conf),
        "KRB5CCNAME": f"FILE:{tmp_path / 'no-such-cache'}",
    }
    out, findings, status = doctor(proxied, env)
    missing = by_code(findings["kerberos"])["kerberos.missing"]
    assert missing["status"] == "warn" and "answered without Kerberos" in missing["summary"]
    assert status["kerberos"] == "warn"
    assert out.returncode == 0, out.stdout
    assert run_cli("env", "--tracking-uri", proxied.url, env=env).returncode == 0


def test_a_krb5_conf_that_env_refuses_is_an_error_here_too(
    proxied: Server, no_hadoop: dict[str, str], tmp_path: Path
) -> None:
    env = {**no_hadoop, "KRB5_CONFIG": str(tmp_path / "no-such-krb5.conf")}
    out, findings, _ = doctor(proxied, env)
    error = by_code(findings["kerberos"])["kerberos.config-error"]
    assert error["status"] == "error" and "no-such-krb5.conf" in error["summary"]
    assert out.returncode == 1
    refused = run_cli("env", "--tracking-uri", proxied.url, env=env)
    assert refused.returncode != 0 and "no-such-krb5.conf" in refused.stderr


# --------------------------------------------------------------------------- the Hadoop chain
def test_the_hadoop_chain_judges_nothing_not_even_inherited_variables(
    proxied: Server, no_hadoop: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **no_hadoop,
        "CLASSPATH": f"{tmp_path}/lib/*:{tmp_path}/missing.jar",  # would be linted
        "LD_LIBRARY_PATH": str(tmp_path / "nowhere"),
    }
    out, findings, status = doctor(proxied, env)
    for name in HADOOP_CHAIN:
        assert codes(findings[name]) == [f"{name}.not-needed"], findings[name]
        assert "no Hadoop is needed" in findings[name][0]["summary"]
        assert status[name] == "skip"
    assert out.returncode == 0, out.stdout


def test_a_check_keeps_what_it_found_before_its_precondition(
    proxied: Server, no_hadoop: dict[str, str]
) -> None:
    """``--pid``: the live process is read (its mapped libraries) before the environment a
    new process would get is needed; without Hadoop that is skipped, the reading kept."""
    env = {**no_hadoop, "MLFLOW_TRACKING_URI": proxied.url}
    with Sleeping(env) as pid:
        out, findings, status = doctor(None, env, "--pid", str(pid), "--check", "live-process")
    assert codes(findings["live-process"]) == ["live-process.mapped", "live-process.not-needed"]
    assert "no Hadoop is needed" in findings["live-process"][1]["summary"]
    assert status["live-process"] == "ok"
    assert out.returncode == 0, out.stdout


class Sleeping:
    """A real process of ours with ``env``, stopped on exit even when the test fails."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __enter__(self) -> int:
        code = "import sys, time; print('ready', flush=True); time.sleep(600)"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":  # it runs Python: mapped, environ set
            self.__exit__()
            pytest.fail("the sleeping process did not start")
        return self.proc.pid

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


# --------------------------------------------------------------------------- Java, pyarrow
@pytest.fixture(params=["no-libjvm", "java-25"])
def unusable_java(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    """A Java the setting chooses that no Hadoop client could use, and the code it gets."""
    if request.param == "java-25":  # a real one, which Hadoop cannot run on
        return real_java_25(), "java.incompatible"
    empty = tmp_path / "not-a-jdk"
    (empty / "bin").mkdir(parents=True)
    return empty, "java.not-found"


def test_an_unusable_java_is_a_warning_when_nothing_runs_java(
    proxied: Server, no_hadoop: dict[str, str], unusable_java: tuple[Path, str]
) -> None:
    home, code = unusable_java
    env = {**no_hadoop, "MLFLOW_CLIENT_ENV_JAVA_HOME": str(home)}
    out, findings, status = doctor(proxied, env)
    java = by_code(findings["java"])[code]
    assert java["status"] == "warn", java
    assert "needs no Hadoop, so no Java" in java["summary"]
    assert "mlflow-artifacts:" in java["summary"]
    assert java["fix"].startswith("only if this client will use HDFS: ")
    assert status["java"] == "warn"
    assert out.returncode == 0, out.stdout
    assert run_cli("env", "--tracking-uri", proxied.url, env=env).returncode == 0


def test_an_unusable_java_stays_an_error_when_hadoop_is_needed(
    hdfs_rooted: Server, no_hadoop: dict[str, str], unusable_java: tuple[Path, str]
) -> None:
    home, code = unusable_java
    env = {**no_hadoop, "MLFLOW_CLIENT_ENV_JAVA_HOME": str(home)}
    out, findings, _ = doctor(hdfs_rooted, env)
    assert by_code(findings["java"])[code]["status"] == "error"
    assert out.returncode == 1


@pytest.fixture(scope="module")
def python_without_pyarrow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real Python environment: this venv's packages but pyarrow (links, nothing copied)."""
    python = python_without(
        tmp_path_factory.mktemp("no-pyarrow") / "venv", lambda n: n.startswith("pyarrow"), "pyarrow"
    )
    check = "import importlib.util as u; print(u.find_spec('mlflow') is None)"
    assert subprocess.check_output([python, "-c", check], text=True).split() == ["False"]
    return python


def test_no_pyarrow_is_a_warning_for_a_client_that_needs_no_hadoop(
    proxied: Server, no_hadoop: dict[str, str], python_without_pyarrow: Path
) -> None:
    out, findings, status = doctor(proxied, no_hadoop, python=python_without_pyarrow)
    (finding,) = findings["versions"]
    assert finding["code"] == "versions.no-pyarrow" and finding["status"] == "warn"
    assert "needs no pyarrow" in finding["summary"] and "mlflow-artifacts:" in finding["summary"]
    assert status["versions"] == "warn"
    assert out.returncode == 0, out.stdout


def test_no_pyarrow_stays_an_error_when_the_artifacts_are_on_hdfs(
    hdfs_rooted: Server, no_hadoop: dict[str, str], python_without_pyarrow: Path
) -> None:
    out, findings, _ = doctor(hdfs_rooted, no_hadoop, python=python_without_pyarrow)
    assert by_code(findings["versions"])["versions.no-pyarrow"]["status"] == "error"
    assert out.returncode == 1


def test_without_pyarrow_mlflow_is_still_checked() -> None:
    """What a proxied client does need, MLflow, is reported when pyarrow is missing too."""
    found = version_findings(None, None, None)
    assert [(f.code, f.status) for f in found] == [
        ("versions.no-pyarrow", "error"),
        ("versions.no-mlflow", "warn"),
    ]
    relaxed = not_needed_findings(found, "no Hadoop is needed: mlflow-artifacts:/0")
    assert [(f.code, f.status) for f in relaxed] == [
        ("versions.no-pyarrow", "warn"),
        ("versions.no-mlflow", "warn"),
    ]
    assert relaxed[1] == found[1]  # a warning already: unchanged
    assert relaxed[0].summary.endswith(
        "needs no pyarrow for HDFS: no Hadoop is needed: mlflow-artifacts:/0"
    )
    assert relaxed[0].fix == "only if this client will use HDFS: pip install 'pyarrow>=16'"
    assert not_needed_findings([Finding("versions.x", "error", "s")], "w")[0].fix is None


# --------------------------------------------------------------------------- installation
def test_installation_error_says_a_serving_server_needs_no_hadoop(
    hdfs_rooted: Server, no_hadoop: dict[str, str]
) -> None:
    out, findings, _ = doctor(hdfs_rooted, no_hadoop)
    error = by_code(findings["installation"])["installation.error"]
    assert "hdfs://nameservice1/user/mlflow/artifacts" in error["summary"]
    assert "mlflow server --serve-artifacts" in error["fix"]
    assert "clients need no Hadoop" in error["fix"]
    assert out.returncode == 1


@pytest.mark.parametrize("server", ["none", "unreachable"])
def test_installation_error_without_an_answer_mentions_serve_artifacts(
    server: str, no_hadoop: dict[str, str]
) -> None:
    args = () if server == "none" else ("--tracking-uri", f"http://127.0.0.1:{free_port()}")
    out = run_cli("doctor", "--json", *args, env=no_hadoop, timeout=300)
    data = json.loads(out.stdout)
    (check,) = [c for c in data["checks"] if c["name"] == "installation"]
    error = by_code(check["findings"])["installation.error"]
    assert "--serve-artifacts" in error["fix"]
    if server == "unreachable":
        assert "could not be checked" in error["fix"]
    else:
        assert "--tracking-uri" in error["fix"]
    assert out.returncode == 1


def test_a_hadoop_home_given_that_is_not_hadoop_stays_an_error(
    proxied: Server, no_hadoop: dict[str, str], tmp_path: Path
) -> None:
    """As for ``env``: a path given that is not Hadoop is an error even when the server keeps
    the artifacts; the fix says the setting can go, and the Hadoop chain is not 'not needed'."""
    given = tmp_path / "not-hadoop"
    given.mkdir()
    env = {**no_hadoop, "MLFLOW_CLIENT_ENV_HADOOP_HOME": str(given)}
    out, findings, _ = doctor(proxied, env)
    error = by_code(findings["installation"])["installation.error"]
    assert str(given) in error["summary"]
    assert "--serve-artifacts" in error["fix"] and "leave the Hadoop settings unset" in error["fix"]
    (skipped,) = findings["classpath"][-1:]
    assert str(given) in skipped["summary"] and "no Hadoop is needed" not in skipped["summary"]
    assert out.returncode == 1
    refused = run_cli("env", "--tracking-uri", proxied.url, env=env)
    assert refused.returncode != 0 and str(given) in refused.stderr


@pytest.mark.parametrize("experiment", [None, "proxied-doctor"])
def test_the_doctor_says_what_env_says(
    experiment: str | None, proxied: Server, no_hadoop: dict[str, str]
) -> None:
    env = dict(no_hadoop)
    if experiment:  # one that exists (for one that does not, MLflow's default root is asked)
        _create_experiment(proxied, experiment)
        env["MLFLOW_EXPERIMENT_NAME"] = experiment
    out, findings, _ = doctor(proxied, env)
    said = by_code(findings["installation"])["installation.not-needed"]["summary"]
    assert ("'proxied-doctor'" if experiment else "Default (id 0)") in said
    assert out.returncode == 0, out.stdout
    printed = run_cli("env", "--tracking-uri", proxied.url, env=env)
    assert printed.returncode == 0 and said in printed.stderr, (said, printed.stderr)


def _create_experiment(server: Server, name: str) -> None:
    body = json.dumps({"name": name}).encode()
    req = urllib.request.Request(
        f"{server.url}/api/2.0/mlflow/experiments/create",
        body,
        {"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200
    except urllib.error.HTTPError as exc:  # the module's server: made by an earlier run
        assert b"RESOURCE_ALREADY_EXISTS" in exc.read(), exc


def test_a_check_asked_for_that_is_skipped_is_not_no_issues(no_hadoop: dict[str, str]) -> None:
    """--check kerberos on a host without Hadoop and no tracking server: the check cannot
    judge Java's side, so the answer asked for is missing: exit 2, never 'No issues found'."""
    text = run_cli("doctor", "--check", "kerberos", env=no_hadoop, timeout=300)
    assert text.returncode == 2, text.stdout + text.stderr
    assert "No issues found" not in text.stdout
    assert "Skipped: kerberos, asked for with --check" in text.stdout, text.stdout
    js = run_cli("doctor", "--check", "kerberos", "--json", env=no_hadoop, timeout=300)
    assert js.returncode == 2 and json.loads(js.stdout)["skipped_checks"] == ["kerberos"]
    # the whole doctor (nothing asked by name) keeps its meaning: errors decide
    whole = run_cli("doctor", "--json", env=no_hadoop, timeout=300)
    assert json.loads(whole.stdout)["skipped_checks"] == [] and whole.returncode == 1


def test_the_hdfs_probes_are_not_needed_when_the_artifacts_are_not_on_hdfs(
    proxied: Server, edge: Edge, clean_env: dict[str, str]
) -> None:
    """A host with Hadoop whose tracking server keeps the artifacts (mlflow-artifacts:/):
    the HDFS probes are not needed, an answer (exit 0 when asked for by name), not a probe
    that could not run (skipped, exit 2)."""
    where = ("--parcels-root", str(edge.parcels), "--hadoop-conf-dir", str(edge.conf))
    out, findings, _ = doctor(
        proxied, clean_env, "--check", "hdfs", "--check", "hdfs-native", *where
    )
    hdfs = by_code(findings["hdfs"])["hdfs.not-needed"]
    assert hdfs["status"] == "skip" and "stored at mlflow-artifacts:" in hdfs["summary"]
    assert "--probe-path" in hdfs["fix"]
    native = codes(findings["hdfs-native"])
    assert native[-1] == "hdfs-native.not-needed" and "hdfs-native.installed" in native
    assert out.returncode == 0, out.stdout
