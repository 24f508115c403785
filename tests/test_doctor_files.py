"""doctor on broken setups built for real on disk: exact finding, status and exit code.

Java is the machine's real JDK 17, libhdfs.so a real gcc-built library that calls
into JNI (NEEDED libjvm.so), so the load probe runs for real.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import mlflow_client_env
from mlflow_client_env.doctor.versions import version_findings
from mlflow_client_env.java import select_java
from tests import native_helpers as nh
from tests import trees
from tests.conftest import Edge, build_edge

REAL_JAVA = select_java().install


@pytest.fixture
def real_edge(tmp_path: Path, clean_env: dict[str, str]) -> Edge:
    e = build_edge(tmp_path / "edge")
    lib64 = e.parcel / "lib64"
    (lib64 / "libhdfs.so").unlink()
    nh.gcc_shared(
        lib64 / "libhdfs.so.0.0.0",
        code=nh.USES_JNI,
        soname="libhdfs.so.0.0.0",
        libs=["jvm"],
        libdirs=[REAL_JAVA.server_dir],
    )
    (lib64 / "libhdfs.so").symlink_to("libhdfs.so.0.0.0")
    e.java = REAL_JAVA.home
    return e


Found = dict[str, dict[str, object]]


def run_doctor(e: Edge, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``mlflow-client-env doctor ARGS`` for the edge node ``e``, as a user runs it."""
    argv = [sys.executable, "-m", "mlflow_client_env", "doctor", *e.cli_args(), *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180)


def doctor(
    e: Edge,
    *checks: str,
    env: dict[str, str],
    extra: tuple[str, ...] = (),
    all_findings: list[dict[str, object]] | None = None,
) -> tuple[int, Found]:
    out = run_doctor(e, "--json", *extra, *(a for c in checks for a in ("--check", c)), env=env)
    assert out.returncode in (0, 1), out.stderr
    data = json.loads(out.stdout)
    every = [f for c in data["checks"] for f in c["findings"]]
    if all_findings is not None:
        all_findings.extend(every)
    return out.returncode, {str(f["code"]): f for f in every}


def test_healthy_files_are_ok(real_edge: Edge, clean_env: dict[str, str]) -> None:
    code, found = doctor(
        real_edge, "installation", "java", "client-config", "native-libraries", env=clean_env
    )
    assert code == 0
    assert found["native-libraries.load"]["status"] == "ok"
    assert found["java.ok"]["status"] == "ok"


def test_truncated_libhdfs(real_edge: Edge, clean_env: dict[str, str]) -> None:
    so = real_edge.parcel / "lib64" / "libhdfs.so.0.0.0"
    so.write_bytes(so.read_bytes()[:700])
    code, found = doctor(real_edge, "native-libraries", env=clean_env)
    assert code == 1
    assert found["native-libraries.truncated"]["status"] == "error"
    assert "native-libraries.load" not in found  # never load a file we know is broken


def test_libhdfs_of_another_architecture(real_edge: Edge, clean_env: dict[str, str]) -> None:
    so = real_edge.parcel / "lib64" / "libhdfs.so.0.0.0"
    nh.patch(so, nh.E_MACHINE, nh.EM_AARCH64.to_bytes(2, "little"))
    code, found = doctor(real_edge, "native-libraries", env=clean_env)
    assert code == 1
    f = found["native-libraries.wrong-architecture"]
    assert f["status"] == "error" and "AARCH64" in f["summary"].upper()


def test_libjvm_unresolved_without_our_ld_library_path(
    real_edge: Edge, clean_env: dict[str, str]
) -> None:
    code, found = doctor(real_edge, "native-libraries", env=clean_env)
    f = found["native-libraries.inherited.missing-dependency"]
    assert f["status"] == "warn" and "libjvm.so" in f["summary"] and "A3" in f["summary"]
    # our environment appends the JVM dir, so the real load probe passes
    assert found["native-libraries.load"]["status"] == "ok" and code == 0


def test_shadowing_copies_break_ssl_and_gssapi(
    real_edge: Edge, clean_env: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "parcel-lib64"
    nh.copy_lib(nh.REAL_SSL, bad / "libssl.so.3")
    nh.gcc_shared(bad / "libkrb5.so.3", soname="libkrb5.so.3")
    env = {**clean_env, "LD_LIBRARY_PATH": str(bad)}
    every: list[dict[str, object]] = []
    doctor(real_edge, "native-libraries", env=env, all_findings=every)
    shadowing = [f for f in every if f["code"] == "native-libraries.shadowing"]
    named = " ".join(str(f["summary"]) + " ".join(map(str, f["evidence"])) for f in shadowing)  # type: ignore[call-overload]
    assert all(f["status"] == "warn" for f in shadowing)
    assert str(bad / "libssl.so.3") in named and str(bad / "libkrb5.so.3") in named
    broken = subprocess.run(
        [sys.executable, "-c", "import ssl, gssapi"], env=env, capture_output=True, text=True
    )
    assert broken.returncode != 0 and "ImportError" in broken.stderr
    fine = subprocess.run(
        [sys.executable, "-c", "import ssl, gssapi"], env=clean_env, capture_output=True, text=True
    )
    assert fine.returncode == 0, fine.stderr


def test_wildcard_and_two_protobuf_inherited_classpath(
    real_edge: Edge, clean_env: dict[str, str]
) -> None:
    lib = real_edge.parcels / "CDH" / "lib"
    wild = f"{real_edge.conf}:{lib}/hadoop/lib/*:{lib}/hadoop/*:{lib}/hadoop-hdfs/*"
    code, found = doctor(real_edge, "classpath", env={**clean_env, "CLASSPATH": wild})
    assert code == 1
    assert found["classpath.inherited.wildcard"]["status"] == "error"
    assert found["classpath.ours-ok"]["status"] == "ok"
    jars = real_edge.parcels / "CDH" / "jars"
    two = ":".join(
        [
            str(real_edge.conf),
            f"{lib}/hadoop/hadoop-common-3.0.0-cdh6.3.2.jar",
            f"{lib}/hadoop-hdfs/hadoop-hdfs-client-3.0.0-cdh6.3.2.jar",
            f"{lib}/hadoop/lib/protobuf-java-2.5.0.jar",
            f"{jars}/protobuf-java-3.5.1.jar",
        ]
    )
    code, found = doctor(real_edge, "classpath", env={**clean_env, "CLASSPATH": two})
    assert code == 1
    f = found["classpath.inherited.two-protobuf-java"]
    assert f["status"] == "error" and "2.5.0, 3.5.1" in f["summary"]


def test_missing_conf_dir(real_edge: Edge, clean_env: dict[str, str]) -> None:
    real_edge.conf = real_edge.root / "no-such-conf"
    code, found = doctor(real_edge, "installation", "client-config", env=clean_env)
    assert code == 1
    f = found["installation.error"]
    assert (
        f["status"] == "error"
        and "no-such-conf" in f["summary"]
        and "does not exist" in f["summary"]
    )
    assert found["client-config.skipped"]["status"] == "skip"


def test_java_home_at_bin_java(real_edge: Edge, clean_env: dict[str, str]) -> None:
    env = {**clean_env, "JAVA_HOME": str(REAL_JAVA.home / "bin" / "java")}
    code, found = doctor(real_edge, "java", env=env)
    assert code == 0
    f = found["java.inherited-not-root"]
    assert f["status"] == "warn" and str(REAL_JAVA.home) in f["fix"]


def test_java_25(real_edge: Edge, clean_env: dict[str, str], tmp_path: Path) -> None:
    real_edge.java = trees.make_java(tmp_path / "temurin-25", "jdk9+", "25.0.1")
    code, found = doctor(real_edge, "java", env=clean_env)
    assert code == 1
    f = found["java.incompatible"]
    assert f["status"] == "error" and "getSubject is not supported" in f["summary"]


@pytest.mark.parametrize(
    ("mlflow", "pyarrow", "code", "status"),
    [
        ("2.15.1", "16.1.0", "versions.skew-broken", "error"),
        ("2.9.2", "14.0.2", "versions.skew-deprecated", "warn"),
        ("1.8.0", "0.16.0", "versions.legacy-pin", "error"),
        ("1.5.0", "0.17.1", "versions.driver-arg", "error"),
        ("2.16.0", "17.0.0", "versions.ok", "ok"),
        ("3.6.0", "22.0.0", "versions.ok", "ok"),
    ],
)
def test_version_rules_on_version_data(mlflow: str, pyarrow: str, code: str, status: str) -> None:
    """Rules on version data: pyarrow 0.16/0.17 have no wheel for this Python, so those
    pairs cannot be installed here; the real old pair is in test_doctor_old_pair."""
    found = {f.code: f.status for f in version_findings(mlflow, pyarrow, True)}
    assert found[code] == status


def test_pyarrow_without_hdfs() -> None:
    found = {f.code: f.status for f in version_findings("3.0.0", "20.0.0", False)}
    assert found["versions.pyarrow-no-hdfs"] == "error"


def test_list_checks_and_unknown_check(clean_env: dict[str, str]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "doctor", "--list-checks"],
        capture_output=True,
        text=True,
        env=clean_env,
        check=True,
    )
    assert out.stdout.split()[0::1][0] == "versions" and "hdfs" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "doctor", "--check", "nope"],
        capture_output=True,
        text=True,
        env=clean_env,
    )
    assert bad.returncode == 2 and "--list-checks" in bad.stderr


def test_text_output_marks_and_verdict(real_edge: Edge, clean_env: dict[str, str]) -> None:
    env = {**clean_env, "JAVA_HOME": str(REAL_JAVA.home / "bin")}
    out = run_doctor(real_edge, "--check", "java", "--check", "installation", env=env)
    lines = out.stdout.splitlines()
    assert lines[0].startswith("✓ installation:")
    assert lines[1].startswith("! java:")
    assert any(line.strip().startswith("fix: export JAVA_HOME=") for line in lines)
    assert "Doctor found 1 warning in 2 checks." in out.stdout and out.returncode == 0


def test_secrets_redacted(real_edge: Edge, clean_env: dict[str, str]) -> None:
    env = {**clean_env, "MLFLOW_TRACKING_URI": "http://bob:s3cret@127.0.0.1:9/"}
    out = run_doctor(real_edge, "--check", "tracking-server", "-v", env=env)
    assert "s3cret" not in out.stdout + out.stderr and "***@127.0.0.1" in out.stdout
    assert out.returncode == 1 and "does not answer" in out.stdout
    # the JSON report too, and it still parses
    js = run_doctor(real_edge, "--check", "tracking-server", "--json", env=env)
    assert "s3cret" not in js.stdout + js.stderr and js.returncode == 1
    (f,) = json.loads(js.stdout)["checks"][0]["findings"]
    assert f["code"] == "tracking-server.unreachable"
    assert f["summary"].startswith("the tracking server http://***@127.0.0.1:9/ does not answer")


def test_a_failed_discovery_skips_each_dependent_check_once_keeping_what_was_found(
    real_edge: Edge, clean_env: dict[str, str]
) -> None:
    """Preconditions are declared (Context.found/composed), not written out per check: every
    check that needs the discovery reports one '<check>.skipped' with the discovery's problem,
    after the findings it could make without it (the inherited JAVA_HOME and CLASSPATH)."""
    real_edge.conf = real_edge.root / "no-such-conf"
    env = {**clean_env, "JAVA_HOME": str(REAL_JAVA.home / "bin" / "java")}
    proc = run_doctor(real_edge, "--json", env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    checks = {c["name"]: c["findings"] for c in json.loads(proc.stdout)["checks"]}
    needs_discovery = ("java", "client-config", "classpath", "native-libraries", "kerberos")
    for name in needs_discovery:
        skipped = [f for f in checks[name] if f["code"] == f"{name}.skipped"]
        assert len(skipped) == 1, checks[name]
        assert "no-such-conf" in skipped[0]["summary"] and skipped[0]["status"] == "skip"
    assert checks["java"][0]["code"] == "java.inherited-not-root"
    assert checks["classpath"][0]["code"] == "classpath.inherited-unset"
    assert checks["installation"][0]["code"] == "installation.error"  # reported once, there


def test_every_finding_code_is_check_dot_what(real_edge: Edge, clean_env: dict[str, str]) -> None:
    """One form for codes: '<check>.<what>', where <check> is a doctor check's name, in the
    doctor's report and in what compose() (setup(), env, the launcher) reports."""
    from mlflow_client_env import doctor as doctor_pkg

    (real_edge.conf / "core-site.xml").unlink()  # compose() then has findings to report
    env = {**clean_env, "JAVA_HOME": str(REAL_JAVA.home / "bin" / "java"), "CLASSPATH": "/x/*"}
    every: list[dict[str, object]] = []
    doctor(real_edge, env=env, extra=("--timeout", "60"), all_findings=every)
    composed = mlflow_client_env.build_environment(env, real_edge.overrides())
    codes = [str(f["code"]) for f in every] + [f.code for f in composed.findings]
    assert composed.findings and every
    for code in codes:
        check, dot, what = code.partition(".")
        assert dot and what and check in doctor_pkg.CHECKS, code


def test_no_usable_java_is_the_java_checks_error(
    real_edge: Edge, clean_env: dict[str, str]
) -> None:
    """A Java that cannot be used is reported once, by the java check, not as an installation
    error; the checks that need the discovery say they were skipped, and why."""
    real_edge.java = real_edge.root / "no-java-here"
    code, found = doctor(real_edge, "installation", "java", "client-config", env=clean_env)
    assert code == 1
    assert (
        found["java.not-found"]["status"] == "error"
        and "no-java-here" in found["java.not-found"]["summary"]
    )
    assert "installation.error" not in found
    assert found["client-config.skipped"]["status"] == "skip"


def _doctor_on_a_terminal(e: Edge, env: dict[str, str]) -> str:
    """The doctor's text output as a terminal receives it (a real pseudo-terminal)."""
    import os
    import pty

    master, slave = pty.openpty()
    argv = [sys.executable, "-m", "mlflow_client_env", "doctor", *e.cli_args(), "--check", "java"]
    proc = subprocess.Popen(argv, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_colour_on_a_terminal_and_never_with_no_color_or_in_a_pipe(
    real_edge: Edge, clean_env: dict[str, str]
) -> None:
    env = {k: v for k, v in clean_env.items() if k != "NO_COLOR"}
    coloured = _doctor_on_a_terminal(real_edge, {**env, "TERM": "xterm"})
    assert "\x1b[32m✓\x1b[0m java:" in coloured
    plain = _doctor_on_a_terminal(real_edge, {**env, "TERM": "xterm", "NO_COLOR": "1"})
    assert "✓ java:" in plain and "\x1b[" not in plain
    piped = run_doctor(real_edge, "--check", "java", env={**env, "TERM": "xterm"})
    assert "✓ java:" in piped.stdout and "\x1b[" not in piped.stdout


def test_every_code_written_in_the_package_has_a_known_area() -> None:
    """The same rule, read from the source: each code written as a literal (a Finding's first
    argument, an error class's dotted ``code``) starts with a doctor check's name or a
    declared area without a check, so codes reported only on paths the edge above does not
    take (SPNEGO, Spark, the launcher) keep the form too. (An error's undotted code, such as
    HDFS's ``no-datanode``, is the ``<what>`` that the check reporting it prefixes.)"""
    import ast

    from mlflow_client_env import doctor as doctor_pkg
    from mlflow_client_env.findings import AREAS_WITHOUT_CHECK

    root = Path(mlflow_client_env.__file__).parent
    codes: list[tuple[str, str]] = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            value: ast.expr | None = None
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Finding":
                value = node.args[0] if node.args else None
            elif isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == [
                "code"
            ]:
                value = node.value  # an error class's code: only a dotted one is a whole code
                if not (isinstance(value, ast.Constant) and "." in str(value.value)):
                    continue
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                codes.append((f"{path.relative_to(root)}:{node.lineno}", value.value))
    assert len(codes) > 100
    known = set(doctor_pkg.CHECKS) | set(AREAS_WITHOUT_CHECK)
    wrong = [(where, c) for where, c in codes if c.partition(".")[0] not in known or "." not in c]
    assert not wrong
