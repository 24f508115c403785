"""install-kernel / list-kernels / uninstall-kernel, and real kernels started through jupyter_client.

Every kernel runs in a temp JUPYTER_DATA_DIR / JUPYTER_PATH with a ``--prefix``
install, against the fake edge node from ``conftest``; the environment is
asserted *inside* the kernel (``/proc/self/environ`` for what was there at
process start). The fake Java is not a JVM, which is fine: nothing here
touches HDFS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env import cli
from mlflow_client_env.jupyter import install as ki
from mlflow_client_env.jupyter import launcher as kernel
from mlflow_client_env.jupyter import spec as ks
from mlflow_client_env.redact import redact, url_has_password
from mlflow_client_env_sandbox.kdc import Kdc
from tests import trees
from tests.conftest import Edge, Jupyter
from tests.native_helpers import JVM_SERVER, REAL_Z, USES_JNI, copy_lib, gcc_shared

ROOT = Path(__file__).resolve().parent.parent

#: Printed inside the kernel: os.environ now, and the environment the process started with.
PROBE = r"""
import json, os
_start = dict(
    kv.split(b"=", 1) for kv in open("/proc/self/environ", "rb").read().split(b"\0") if b"=" in kv
)
print(json.dumps({
    "env": dict(os.environ),
    "start": {k.decode(): v.decode() for k, v in _start.items()},
}))
"""


def run_cli(argv: Sequence[str]) -> int:
    """The kernel commands through the real ``mlflow-client-env`` entry point."""
    return cli.main(list(argv))


def install_kernel(jupyter: Jupyter, edge: Edge, *extra: str, name: str = "mlflow") -> Path:
    argv = ["install-kernel", "--name", name, "--prefix", str(jupyter.prefix), *edge.cli_args()]
    assert run_cli([*argv, *extra]) == 0
    path = jupyter.prefix_kernels / name
    assert (path / "kernel.json").is_file()
    return path


@contextmanager
def running_kernel(name: str, **start: Any) -> Iterator[Any]:
    """A started kernel and a ready client; always shut down, even when the test fails.
    ``start``: passed to ``KernelManager.start_kernel`` (e.g. ``stderr``, ``env``)."""
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name=name)
    km.start_kernel(**start)
    kc = None
    try:
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=120)
        yield kc
    finally:
        if kc is not None:
            kc.stop_channels()
        km.shutdown_kernel(now=True)


@dataclass
class Output:
    stdout: str
    stderr: str
    result: str | None
    error: str | None


def run_cell(kc: Any, code: str) -> Output:
    acc = Output("", "", None, None)

    def hook(msg: dict[str, Any]) -> None:
        c = msg["content"]
        if msg["msg_type"] == "stream":
            if c["name"] == "stdout":
                acc.stdout += c["text"]
            else:
                acc.stderr += c["text"]
        elif msg["msg_type"] == "execute_result":
            acc.result = c["data"].get("text/plain")
        elif msg["msg_type"] == "error":
            acc.error = f"{c['ename']}: {c['evalue']}"

    kc.execute_interactive(code, timeout=120, output_hook=hook)
    return acc


def probe(kc: Any) -> tuple[dict[str, str], dict[str, str], Output]:
    out = run_cell(kc, PROBE)
    assert out.error is None, out
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return data["env"], data["start"], out


# --- kernels started for real ---------------------------------------------------------


def test_a_launcher_kernel_that_execs_has_its_environment_at_process_start(
    jupyter: Jupyter, edge: Edge, monkeypatch: pytest.MonkeyPatch, kdc: Kdc
) -> None:
    """The fake edge's Java has a libjvm.so of another SONAME (a libz copy), which the
    launcher cannot load in place of the JVM folder on LD_LIBRARY_PATH: it execs a new
    interpreter, whose start environment holds every variable."""
    ccache = edge.root / "krb5cc_test"
    # a real, valid ticket of the realm krb5.conf names (over an hour left): no note expected
    kdc.kinit("alice", ccache, lifetime="10h")
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{ccache}")
    monkeypatch.setenv("KRB5_CONFIG", str(kdc.krb5_conf))
    path = install_kernel(
        jupyter,
        edge,
        "--tracking-uri",
        "http://127.0.0.1:5999",
        "--experiment",
        "test_mlflow",
        "--env",
        "EXTRA_SETTING=42",
    )
    spec = json.loads((path / "kernel.json").read_text())
    assert spec["argv"][:5] == [
        sys.executable,
        "-m",
        "mlflow_client_env.kernel",
        "-f",
        "{connection_file}",
    ]
    assert "env" in spec and spec["env"] == {"EXTRA_SETTING": "42"}  # nothing baked
    assert spec["metadata"]["mlflow_client_env"]["mode"] == "launcher"
    with running_kernel("mlflow") as kc:
        env, start, out = probe(kc)
        here = run_cell(kc, "import sys; 'mlflow_client_env.discovery' in sys.modules")
    assert here.result == "False"  # resolved in the process before the exec, not in this one
    lib64 = str(edge.parcels / "CDH" / "lib64")
    server = str(edge.java / "lib" / "server")
    for seen in (env, start):  # set before the process started, not later
        assert seen["ARROW_LIBHDFS_DIR"] == lib64
        assert seen["JAVA_HOME"] == str(edge.java)
        assert seen["CLASSPATH"].startswith(str(edge.conf) + ":")
        assert "hadoop-common-3.0.0-cdh6.3.2.jar" in seen["CLASSPATH"]
        assert seen["LD_LIBRARY_PATH"].split(":")[-1] == server
        assert seen["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5999"
        assert seen["MLFLOW_EXPERIMENT_NAME"] == "test_mlflow"
        assert seen["EXTRA_SETTING"] == "42"
        assert seen[kernel.STATUS_VAR] == "launcher ok"
        assert seen["KRB5CCNAME"] == f"FILE:{ccache}"
        assert seen["MLFLOW_KERBEROS_TICKET_CACHE"] == str(ccache)
    assert kernel.MESSAGE_VAR not in env
    assert out.stderr == ""  # no message when all is well


#: Run in a launcher kernel with a real Java: where it started, and what a library that needs
#: libjvm.so (``USES``: NEEDED libjvm.so, no run path) finds.
IN_PROCESS_CELL = r"""
import ctypes, json, os, subprocess, sys
from mlflow_client_env.jvm import loaded_libjvm, running_jvm
here = "mlflow_client_env.discovery" in sys.modules  # resolved in this very interpreter
start = open("/proc/self/environ", "rb").read()
lib = ctypes.CDLL(USES)  # the loader resolves its NEEDED libjvm.so now (catalog A3)
import pyarrow.fs  # pyarrow's HDFS module, with libjvm loaded and no libhdfs: no F2 here
from mlflow_client_env.jvm_state import failed_jvm_load
child = subprocess.run(
    [sys.executable, "-c", "import os; print(os.environ['LD_LIBRARY_PATH'])"],
    capture_output=True, text=True, check=True,
).stdout.strip()
print(json.dumps({
    "here": here, "start_has_classpath": b"\0CLASSPATH=" in start,
    "vms": lib.nmc_created_vms(), "f2": [f.code for f in failed_jvm_load()],
    "loaded": str(loaded_libjvm()), "running": str(running_jvm()),
    "child_llp": child, "status": os.environ.get("MLFLOW_CLIENT_ENV_KERNEL"), "pid": os.getpid(),
}))
"""


def test_a_kernel_with_a_real_java_starts_in_process_and_a_library_needing_libjvm_loads(
    jupyter: Jupyter, edge: Edge, tmp_path: Path
) -> None:
    """The JVM path's only start-time change is the JVM folder appended to LD_LIBRARY_PATH
    (A3), so the launcher loads that libjvm.so and starts ipykernel in its own interpreter
    (no second interpreter start). In the kernel, a real library with NEEDED libjvm.so and no
    run path (as a native HDFS binding has) loads; the libjvm has made no JVM, so CLASSPATH is
    still to be read; a child process gets the folder on LD_LIBRARY_PATH."""
    real = replace(edge, java=JVM_SERVER.parent.parent)
    uses = gcc_shared(
        tmp_path / "libuses_jvm.so", code=USES_JNI, libs=["jvm"], libdirs=[JVM_SERVER]
    )
    install_kernel(jupyter, real)
    with running_kernel("mlflow") as kc:
        out = run_cell(kc, f"USES = {str(uses)!r}\n" + IN_PROCESS_CELL)
        assert out.error is None, out
        data = json.loads(out.stdout.strip().splitlines()[-1])
        # doctor --pid: the kernel's variables are not in /proc/PID/environ, the launcher's
        # record has them: nothing reported missing ("it started without CLASSPATH")
        pid = int(data["pid"])
        found = doctor_live_process(real, pid)
        # a jar added since the kernel started: a new process would get another CLASSPATH
        trees.make_jar(real.parcel / "lib" / "hadoop" / "lib" / "added-after-start-1.0.jar")
        later = doctor_live_process(real, pid)
        record = Path(found["live-process.recorded"]["evidence"][0].removeprefix("record: "))
        record.write_text("[]")  # not a record of ours: said, not a traceback
        garbage = doctor_live_process(real, pid)
        record.unlink()
        gone = doctor_live_process(real, pid)
    assert data["status"] == "launcher ok", out
    assert data["here"] and not data["start_has_classpath"]  # no execve: set in this process
    assert data["vms"] == 0 and data["running"] == "None"
    assert data["loaded"] == str(JVM_SERVER / "libjvm.so")
    assert data["child_llp"].split(":")[-1] == str(JVM_SERVER)
    assert found["live-process.recorded"]["status"] == "ok", found
    assert record.parent.name == "kernels" and f"-{pid}-" in record.name
    assert data["f2"] == [] and "live-process.F2" not in found, found
    watched = {"live-process.classpath", "live-process.java_home", "live-process.arrow_libhdfs_dir"}
    assert not watched & set(found), found
    assert later["live-process.classpath"]["status"] == "warn", later
    assert "started with a different CLASSPATH" in later["live-process.classpath"]["summary"]
    assert {"live-process.java_home", "live-process.arrow_libhdfs_dir"}.isdisjoint(later)
    for case, why in ((garbage, "is not a kernel record"), (gone, "no record of it was found")):
        assert case["live-process.set-inside"]["status"] == "skip", case
        assert why in case["live-process.set-inside"]["summary"]
        assert not watched & set(case), case


def test_the_doctor_in_a_process_with_libjvm_loaded_at_start_sees_no_late_change(
    edge: Edge, clean_env: dict[str, str]
) -> None:
    """In a process like the launcher kernel (libjvm loaded at start, its folder on
    LD_LIBRARY_PATH only later), the process-start check says what happened instead of
    'changed after start, no effect'; the same late change without libjvm loaded is warned."""
    real = replace(edge, java=JVM_SERVER.parent.parent)
    code = f"""
import contextlib, io, json, os, sys
from mlflow_client_env import cli
from mlflow_client_env.jupyter.launcher import load_libjvm
def check():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        cli.main(["doctor", "--check", "process-start", "--json", *{real.cli_args()!r}])
    return [f["code"] for c in json.loads(buf.getvalue())["checks"] for f in c["findings"]]
before = dict(os.environ)
after = {{**before, "LD_LIBRARY_PATH": {str(JVM_SERVER)!r}}}
os.environ.update(after)
late = check()
assert load_libjvm(before, after)
print(json.dumps([late, check()]))
"""
    env = {k: v for k, v in clean_env.items() if k != "LD_LIBRARY_PATH"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    late, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert late == ["process-start.ld-changed"]
    assert loaded == ["process-start.libjvm-loaded"]


def doctor_live_process(e: Edge, pid: int) -> dict[str, Any]:
    """``doctor --pid PID --check live-process --json`` through the real entry point."""
    argv = [sys.executable, "-m", "mlflow_client_env", "doctor", "--pid", str(pid), "--json"]
    argv += [*e.cli_args(), "--check", "live-process"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode in (0, 1) and "Traceback" not in out.stderr, out.stderr
    checks = json.loads(out.stdout)["checks"]
    return {str(f["code"]): f for c in checks for f in c["findings"]}


def test_the_launcher_stays_in_process_only_for_one_jvm_folder_appended(tmp_path: Path) -> None:
    """``load_libjvm`` accepts exactly A3's change and loads nothing otherwise (in a child
    process: a libjvm loaded into pytest's own process would stay there). A file named
    libjvm.so whose SONAME is another (the fake edge's Java) is refused: the loader would not
    give it to a library that needs libjvm.so, so such a kernel still execs."""
    other = tmp_path / "other-server"
    copy_lib(REAL_Z, other / "libjvm.so")
    code = f"""
import json
from mlflow_client_env.jupyter.launcher import load_libjvm
from mlflow_client_env.jvm import loaded_libjvm
b = {{"LD_LIBRARY_PATH": "/a", "PATH": "/bin"}}
server = {str(JVM_SERVER)!r}
refused = [
    load_libjvm(b, {{**b, "LD_LIBRARY_PATH": server + ":/a"}}),  # put first (legacy)
    load_libjvm(b, {{**b, "LD_LIBRARY_PATH": "/a:" + server + ":/b"}}),  # two folders
    load_libjvm(b, {{**b, "LD_LIBRARY_PATH": "/a:" + server, "PYTHONPATH": "/p"}}),
    load_libjvm(b, {{**b, "LD_LIBRARY_PATH": "/a:jvm/server"}}),  # relative
    load_libjvm(b, {{**b, "LD_LIBRARY_PATH": "/a:" + {str(tmp_path)!r}}}),  # no libjvm.so
    load_libjvm(b, {{**b, "LD_LIBRARY_PATH": "/b"}}),  # replaced
    load_libjvm(b, {{**b, "LD_LIBRARY_PATH": "/a:" + {str(other)!r}}}),  # another SONAME
]
before = str(loaded_libjvm())
print(json.dumps([refused, before, load_libjvm(b, {{**b, "LD_LIBRARY_PATH": "/a:" + server}}),
                  str(loaded_libjvm())]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    refused, before, accepted, after = json.loads(out.stdout)
    assert refused == [None] * 7 and before == "None"
    assert accepted == after == str(JVM_SERVER / "libjvm.so")


def test_a_second_libjvm_after_one_was_loaded_is_refused(tmp_path: Path) -> None:
    """Once one Java's libjvm.so is loaded, the loader gives that one for libjvm.so: loading
    another libjvm.so file (a real copy of it, as a second JDK would have) for the same
    purpose is an OSError, not a silent no-op."""
    other = copy_lib(JVM_SERVER / "libjvm.so", tmp_path / "second-jdk" / "libjvm.so")
    code = (
        "from mlflow_client_env.jvm import preload, preloaded\n"
        f"preload({str(JVM_SERVER / 'libjvm.so')!r})\n"
        "try:\n"
        f"    preload({str(other)!r})\n"
        "except OSError as exc:\n"
        "    print('refused:', exc, '|', preloaded())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("refused:") and "another library" in out.stdout, out
    assert out.stdout.strip().endswith(str(JVM_SERVER / "libjvm.so"))  # the first one stands


def test_static_kernel_has_baked_environment(jupyter: Jupyter, edge: Edge) -> None:
    path = install_kernel(jupyter, edge, "--mode", "static", name="mlflow-static")
    spec = json.loads((path / "kernel.json").read_text())
    baked = spec["env"]
    server = str(edge.java / "lib" / "server")
    assert baked["LD_LIBRARY_PATH"] == server  # only our appended value, no parcel dirs
    assert "PATH" not in baked
    assert all("${" not in v for v in baked.values())
    assert spec["argv"][1:3] == ["-m", "ipykernel_launcher"]
    meta = spec["metadata"]["mlflow_client_env"]
    assert (
        meta["mode"] == "static" and meta["baked_at"] and meta["fingerprint"].startswith("sha256:")
    )
    assert set(meta["baked"]) == set(baked)
    assert "CDH 6.3.2" in spec["display_name"]
    with running_kernel("mlflow-static") as kc:
        env, start, _ = probe(kc)
    assert start["LD_LIBRARY_PATH"] == server
    assert env["ARROW_LIBHDFS_DIR"] == str(edge.parcels / "CDH" / "lib64")
    assert env["JAVA_HOME"] == str(edge.java)
    assert env["CLASSPATH"] == baked["CLASSPATH"]


def test_broken_parcel_kernel_starts_and_first_cell_says_why(jupyter: Jupyter, edge: Edge) -> None:
    install_kernel(jupyter, edge)
    link = edge.parcels / "CDH"
    link.unlink()
    os.symlink("CDH-0.0.0", link)  # activated parcel removed from disk
    with running_kernel("mlflow") as kc:
        first = run_cell(kc, "1 + 1")
        second = run_cell(kc, "2 + 2")
        env, _, _ = probe(kc)
    assert first.result == "2" and first.error is None
    assert "started WITHOUT a working Hadoop/MLflow environment" in first.stderr
    assert str(link) in first.stderr and "fix:" in first.stderr
    assert "Traceback" not in first.stderr and "Exception" not in first.stderr
    assert second.stderr == "" and second.result == "4"  # shown once
    assert env[kernel.STATUS_VAR] == "launcher error"


def test_missing_ticket_is_a_note_in_the_first_cell(
    jupyter: Jupyter, edge: Edge, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = edge.root / "no-such-krb5cc"
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{missing}")
    install_kernel(jupyter, edge)
    with running_kernel("mlflow") as kc:
        first = run_cell(kc, "'ready'")
        env, _, _ = probe(kc)
    assert first.result == "'ready'"
    assert "no Kerberos ticket" in first.stderr and str(missing) in first.stderr
    assert "run 'kinit'" in first.stderr and "Traceback" not in first.stderr
    assert env[kernel.STATUS_VAR] == "launcher ok"  # a note, not an error: kinit later works


def test_parcel_upgrade_launcher_follows_static_goes_stale(
    jupyter: Jupyter, edge: Edge, capsys: pytest.CaptureFixture[str]
) -> None:
    install_kernel(jupyter, edge)
    install_kernel(jupyter, edge, "--mode", "static", name="mlflow-static")
    capsys.readouterr()
    assert run_cli(["list-kernels", "--json"]) == 0
    before = {k["name"]: k for k in json.loads(capsys.readouterr().out)}
    assert before["mlflow"]["status"] == "ok" and before["mlflow-static"]["status"] == "fresh"

    trees.make_parcel(edge.parcels, "cdp7.1.7")  # the upgrade: CDH now points at 7.1.7

    with running_kernel("mlflow") as kc:
        env, _, _ = probe(kc)
    assert "hadoop-common-3.1.1.7.1.7.0-551.jar" in env["CLASSPATH"]
    assert "cdh6.3.2" not in env["CLASSPATH"]

    assert run_cli(["list-kernels", "--json"]) == 1
    after = {k["name"]: k for k in json.loads(capsys.readouterr().out)}
    assert after["mlflow"]["status"] == "ok"
    assert after["mlflow-static"]["status"] == "stale"
    assert "CLASSPATH" in after["mlflow-static"]["changed"]
    assert run_cli(["list-kernels"]) == 1
    text = capsys.readouterr()
    assert "stale" in text.out and "re-run install-kernel" in text.err

    install_kernel(jupyter, edge, "--mode", "static", name="mlflow-static")  # ours: no --force
    capsys.readouterr()
    assert run_cli(["list-kernels", "--json"]) == 0
    again = {k["name"]: k for k in json.loads(capsys.readouterr().out)}
    assert again["mlflow-static"]["status"] == "fresh"


def test_keytab_and_principal_are_stored_and_reported(jupyter: Jupyter, edge: Edge) -> None:
    keytab = edge.root / "alice.keytab"
    keytab.write_bytes(b"\x05\x02")
    path = install_kernel(
        jupyter, edge, "--keytab", str(keytab), "--principal", "alice@EXAMPLE.COM"
    )
    spec = json.loads((path / "kernel.json").read_text())
    assert spec["argv"][-4:] == ["--keytab", str(keytab), "--principal", "alice@EXAMPLE.COM"]
    settings = spec["metadata"]["mlflow_client_env"]["settings"]
    assert settings["keytab"] == str(keytab) and settings["principal"] == "alice@EXAMPLE.COM"
    with running_kernel("mlflow") as kc:
        first = run_cell(kc, "1")
        env, _, _ = probe(kc)
    # Not a real keytab: the launcher's keytab login fails; the kernel starts anyway and its
    # first cell names the keytab. (Was a branch on "kinit not available yet", which can no
    # longer happen: kinit ships with the package, so that branch never ran.)
    assert first.result == "1" and first.error is None
    assert "WITHOUT a working" in first.stderr and str(keytab) in first.stderr
    assert "fix:" in first.stderr and "Traceback" not in first.stderr
    assert env[kernel.STATUS_VAR] == "launcher error"


# --- safety: nothing written --------------------------------------------------------------


def test_dry_run_writes_nothing(
    jupyter: Jupyter, edge: Edge, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["install-kernel", "--prefix", str(jupyter.prefix), "--dry-run", *edge.cli_args()]
    for mode in ks.MODES:
        assert run_cli([*argv, "--mode", mode]) == 0
        out = capsys.readouterr()
        spec = json.loads(out.out)
        assert spec["metadata"]["mlflow_client_env"]["mode"] == mode
        assert "nothing written" in out.err
    assert not jupyter.prefix.exists() and not jupyter.data.exists()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--tracking-uri", "https://alice:s3cr3t@mlflow.example.com"], "carries credentials"),
        (["--tracking-uri", "https://mlflow.example.com/?token=s3cr3t"], "carries credentials"),
        (["--env", "MLFLOW_TRACKING_TOKEN=s3cr3t"], "MLFLOW_TRACKING_TOKEN"),
        (["--env", "MLFLOW_TRACKING_PASSWORD=s3cr3t"], "MLFLOW_TRACKING_PASSWORD"),
        (["--env", "AWS_SECRET_ACCESS_KEY=s3cr3t"], "names a secret"),
        (["--env", "MY_API_KEY=s3cr3t"], "names a secret"),
        (["--env", "MLFLOW_TRACKING_URI=http://bob:s3cr3t@h:5000"], "carries credentials"),
        (["--env", "OPTS=-Dx=1 password=s3cr3t"], "carries credentials"),
        (["--env", "HOOK=https://h/x?token=s3cr3t"], "carries credentials"),
        (["--experiment", "exp password=s3cr3t"], "carries a secret"),
        (["--mode", "static", "--env", "X=1", "--", "env-uri"], "carries credentials"),
    ],
)
def test_secrets_are_refused_and_nothing_written(
    jupyter: Jupyter,
    edge: Edge,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    needle: str,
) -> None:
    if extra[-2:] == ["--", "env-uri"]:  # static mode would bake the URI from the environment
        monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://carol:s3cr3t@mlflow:5000")
        extra = extra[:-2]
    for mode_args in ([], ["--dry-run"]):
        rc = run_cli(
            [
                "install-kernel",
                "--prefix",
                str(jupyter.prefix),
                *edge.cli_args(),
                *extra,
                *mode_args,
            ]
        )
        out = capsys.readouterr()
        assert rc == 2
        assert needle in out.err and "fix:" in out.err
        assert "s3cr3t" not in out.err + out.out and "Traceback" not in out.err
        if extra[:1] != ["--mode"]:  # says how to provide the secret instead
            assert "~/.mlflow/credentials" in out.err and "Jupyter server" in out.err
    assert not jupyter.prefix.exists() and not jupyter.data.exists()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--name", "My Kernel"], "use --name my-kernel"),
        (["--env", "NOEQUALS"], "NAME=VALUE"),
        (["--env", "1BAD=x"], "not a valid variable name"),
        (["--python", "/nonexistent/python3"], "no such executable"),
        (["--keytab", "/nonexistent/alice.keytab", "--principal", "a@B"], "does not exist"),
        (["--principal", "alice@EXAMPLE.COM"], "needs both the keytab and the principal"),
    ],
)
def test_bad_input_exits_2_with_fix(
    jupyter: Jupyter,
    edge: Edge,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    needle: str,
) -> None:
    rc = run_cli(["install-kernel", "--prefix", str(jupyter.prefix), *edge.cli_args(), *extra])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "fix:" in err
    assert not jupyter.prefix.exists()


def test_static_mode_with_broken_parcel_is_refused(
    jupyter: Jupyter, edge: Edge, capsys: pytest.CaptureFixture[str]
) -> None:
    (edge.parcels / "CDH").unlink()
    os.symlink("CDH-0.0.0", edge.parcels / "CDH")
    assert (
        run_cli(
            [
                "install-kernel",
                "--prefix",
                str(jupyter.prefix),
                "--mode",
                "static",
                *edge.cli_args(),
            ]
        )
        == 2
    )
    assert "CDH-0.0.0" in capsys.readouterr().err
    assert not jupyter.prefix.exists()
    # the launcher installs anyway (it re-resolves at every start) and says so
    assert run_cli(["install-kernel", "--prefix", str(jupyter.prefix), *edge.cli_args()]) == 0
    assert "does not resolve now" in capsys.readouterr().err


def write_foreign(kernels: Path, name: str) -> Path:
    d = kernels / name
    d.mkdir(parents=True)
    spec = {
        "argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Someone else's",
        "language": "python",
    }
    (d / "kernel.json").write_text(json.dumps(spec))
    return d


def test_foreign_kernel_not_overwritten_without_force(
    jupyter: Jupyter, edge: Edge, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = write_foreign(jupyter.prefix_kernels, "mlflow")
    before = (foreign / "kernel.json").read_bytes()
    argv = ["install-kernel", "--prefix", str(jupyter.prefix), *edge.cli_args()]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert "not written by mlflow-client-env" in err and "--force" in err
    assert (foreign / "kernel.json").read_bytes() == before
    assert run_cli([*argv, "--force"]) == 0
    assert ks.ours_metadata(ks.read_spec(foreign)) is not None
    assert (foreign / "logo-64x64.png").is_file()


def test_uninstall_finds_every_copy_and_refuses_foreign(
    jupyter: Jupyter, edge: Edge, capsys: pytest.CaptureFixture[str]
) -> None:
    install_kernel(jupyter, edge)
    assert run_cli(["install-kernel", "--user", *edge.cli_args()]) == 0  # same name, user dir
    assert (jupyter.user_kernels / "mlflow" / "kernel.json").is_file()
    capsys.readouterr()
    assert run_cli(["uninstall-kernel", "mlflow", "--dry-run"]) == 0
    assert "would remove" in capsys.readouterr().out
    assert (jupyter.user_kernels / "mlflow").is_dir()
    assert run_cli(["uninstall-kernel", "mlflow", "--json"]) == 0
    removed = json.loads(capsys.readouterr().out)["removed"]
    assert sorted(removed) == sorted(
        [str(jupyter.user_kernels / "mlflow"), str(jupyter.prefix_kernels / "mlflow")]
    )
    assert not (jupyter.user_kernels / "mlflow").exists()
    assert not (jupyter.prefix_kernels / "mlflow").exists()
    assert run_cli(["uninstall-kernel", "mlflow"]) == 2
    assert "no kernel named 'mlflow'" in capsys.readouterr().err

    foreign = write_foreign(jupyter.prefix_kernels, "other")
    assert run_cli(["uninstall-kernel", "other"]) == 2
    assert "--force" in capsys.readouterr().err and foreign.is_dir()
    assert run_cli(["uninstall-kernel", "other", "--force"]) == 0
    assert not foreign.exists()


def test_list_kernels_marks_ours(
    jupyter: Jupyter, edge: Edge, capsys: pytest.CaptureFixture[str]
) -> None:
    install_kernel(jupyter, edge)
    write_foreign(jupyter.prefix_kernels, "plain")
    capsys.readouterr()
    assert run_cli(["list-kernels", "--json"]) == 0
    rows = {k["name"]: k for k in json.loads(capsys.readouterr().out)}
    assert rows["mlflow"]["ours"] is True and rows["mlflow"]["mode"] == "launcher"
    assert rows["plain"]["ours"] is False and rows["plain"]["status"] == "unknown"
    assert run_cli(["list-kernels"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["NAME", "OURS", "MODE", "STATUS"]
    assert any(line.split()[:4] == ["mlflow", "yes", "launcher", "ok"] for line in lines)


# --- the launcher, in-process and as a subprocess ---------------------------------------------


def test_launcher_never_imports_mlflow(edge: Edge) -> None:
    code = (
        "import sys, os\n"
        "from mlflow_client_env.jupyter import launcher as kernel\n"
        f"args = kernel.parse_args(['-f', 'x.json', *{edge.cli_args()!r}])\n"
        "env, problems, notes = kernel.prepare(args, dict(os.environ))\n"
        "assert not problems, problems\n"
        "heavy = [m for m in ('mlflow', 'pyarrow', 'gssapi', 'IPython') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_launcher_survives_an_unexpected_error(edge: Edge, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow_client_env.discovery as discovery

    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(discovery, "discover", boom)
    args = kernel.parse_args(["-f", "c.json", *edge.cli_args()])
    env, problems, _ = kernel.prepare(args, {"PATH": "/usr/bin", kernel.MESSAGE_VAR: "old"})
    assert problems and "RuntimeError: disk on fire" in problems[0]
    assert "report this as a bug" in kernel.message(problems, [])
    assert env[kernel.STATUS_VAR] == "launcher error" and kernel.MESSAGE_VAR not in env


# --- pure helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("mlflow", "mlflow"), ("ml.flow_2-x", "ml.flow_2-x"), ("a", "a"), ("MLflow", "mlflow")],
)
def test_valid_names(name: str, canonical: str) -> None:
    """jupyter_client's rule is case-insensitive and it installs under the lowercased name."""
    assert ks.validate_name(name) == canonical


@pytest.mark.parametrize("name", ["", "my kernel", "x/y", "../up", ".", "..", "a\n", "\u212a"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(ks.KernelNameError) as exc:
        ks.validate_name(name)
    assert exc.value.fix.startswith("use --name ")


@pytest.mark.parametrize(
    ("uri", "secret"),
    [
        ("http://u:p@h:5000", True),
        ("https://u:@h", True),
        ("http://u@h", False),
        ("http://h:5000/a@b", False),
        ("databricks", False),
        ("file:///tmp/mlruns", False),
    ],
)
def test_url_has_password(uri: str, secret: bool) -> None:
    assert url_has_password(uri) is secret
    assert "p@" not in redact("http://u:p@h") and "***" in redact("http://u:p@h")


def test_settings_round_trip_and_launcher_options() -> None:
    s = ks.KernelSettings(parcel="/p", tracking_uri="http://h", exact_classpath=True)
    assert ks.KernelSettings.from_json(s.to_json()) == s
    assert s.launcher_options() == [
        "--parcel",
        "/p",
        "--tracking-uri",
        "http://h",
        "--exact-classpath",
    ]
    args = kernel.parse_args(["-f", "c", *s.launcher_options()])
    assert (args.parcel, args.tracking_uri, args.exact_classpath) == ("/p", "http://h", True)


def test_relative_paths_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = ks.KernelSettings(parcels_root="parcels", tracking_uri="http://h").absolute()
    assert s.parcels_root == str(tmp_path / "parcels") and s.tracking_uri == "http://h"


def test_quickstart_notebook_is_valid_and_in_order() -> None:
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    steps = [
        "mlflow_client_env.setup(",
        "set_experiment(",
        "log_param('param_1', 1)",
        "log_artifact(",
        "end_run(",
        "list_artifacts(",
    ]
    positions = [next(i for i, src in enumerate(code) if step in src) for step in steps]
    assert positions == sorted(positions)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_interrupted_reinstall_keeps_the_old_kernel_whole(jupyter: Jupyter, edge: Edge) -> None:
    """A write that fails half-way (here: an unserialisable value) must leave the installed
    kernel exactly as it was, and no staging folders behind."""
    path = install_kernel(jupyter, edge)
    before = (path / "kernel.json").read_bytes()
    loc = ks.Location.of(prefix=str(jupyter.prefix))
    with pytest.raises(TypeError):
        ki._write("mlflow", {"argv": [object()]}, loc)
    assert (path / "kernel.json").read_bytes() == before
    leftovers = [p.name for p in path.parent.parent.iterdir() if p.name.startswith(".mlflow-")]
    assert leftovers == []
    # and a real reinstall swaps in a complete new kernel.json
    install_kernel(jupyter, edge, "--display-name", "MLflow (new)")
    assert json.loads((path / "kernel.json").read_text())["display_name"] == "MLflow (new)"


def test_launcher_kernel_explains_hdfs_errors_after_the_traceback(
    jupyter: Jupyter, edge: Edge
) -> None:
    """The exception text is pyarrow's own for a missing libhdfs (catalog A1), raised
    directly in the cell: this tests the kernel's hook, not pyarrow (see test_explain)."""
    install_kernel(jupyter, edge)
    code = "raise OSError('Unable to load libhdfs: ./libhdfs.so: cannot open shared object file')"
    with running_kernel("mlflow") as kc:
        out = run_cell(kc, code)
        plain = run_cell(kc, "1 / 0")
    assert out.error is not None and out.error.startswith("OSError")  # the usual traceback
    assert "[catalog A1]" in out.stderr and "ARROW_LIBHDFS_DIR" in out.stderr
    assert plain.error is not None and plain.error.startswith("ZeroDivisionError")
    assert "catalog" not in plain.stderr


def test_a_kernel_json_written_by_version_0_1_0_still_starts(jupyter: Jupyter, edge: Edge) -> None:
    """Users' existing kernel.json files name `-m mlflow_client_env.kernel`: the shim must keep
    working after any move inside the package. This is the file 0.1.0 wrote, byte for byte in
    shape (argv, settings as launcher options, our metadata), not one made by today's code."""
    folder = jupyter.prefix_kernels / "mlflow-old"
    folder.mkdir(parents=True)
    old = {
        "argv": [
            sys.executable, "-m", "mlflow_client_env.kernel", "-f", "{connection_file}",
            "--parcels-root", str(edge.parcels), "--hadoop-conf-dir", str(edge.conf),
            "--java-home", str(edge.java), "--tracking-uri", "http://127.0.0.1:5999",
            "--experiment", "old_experiment",
        ],
        "display_name": "MLflow (CDH, launcher)",
        "language": "python",
        "metadata": {"debugger": True, "mlflow_client_env": {"mode": "launcher", "version": "0.1.0"}},
    }  # fmt: skip
    (folder / "kernel.json").write_text(json.dumps(old, indent=1))
    with running_kernel("mlflow-old") as kc:
        env, start, _ = probe(kc)
    assert env[kernel.STATUS_VAR] == "launcher ok"
    assert env["ARROW_LIBHDFS_DIR"] == str(edge.parcels / "CDH" / "lib64")
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5999"
    assert env["MLFLOW_EXPERIMENT_NAME"] == "old_experiment"
    assert start["LD_LIBRARY_PATH"].endswith(str(edge.java / "lib" / "server"))


def test_kernel_keeps_its_tracking_uri_on_a_host_without_hadoop(
    jupyter: Jupyter, edge: Edge, tmp_path: Path
) -> None:
    """Hadoop resolution fails (no parcel at all), yet MLflow inside the kernel logs to the
    tracking server given at install time, not to a local ./mlruns or sqlite file."""
    empty = tmp_path / "no-parcels"
    empty.mkdir()
    argv = ["install-kernel", "--name", "mlflow-nohadoop", "--prefix", str(jupyter.prefix)]
    argv += ["--parcels-root", str(empty), "--hadoop-conf-dir", str(edge.conf)]
    argv += ["--java-home", str(edge.java), "--tracking-uri", "http://127.0.0.1:5999"]
    assert run_cli([*argv, "--experiment", "kept"]) == 0
    with running_kernel("mlflow-nohadoop") as kc:
        first = run_cell(kc, "import mlflow; print(mlflow.get_tracking_uri())")
        env, _, _ = probe(kc)
    assert first.error is None, first
    assert first.stdout.strip() == "http://127.0.0.1:5999"
    assert "started WITHOUT a working Hadoop/MLflow environment" in first.stderr
    assert env["MLFLOW_EXPERIMENT_NAME"] == "kept"
    assert env[kernel.STATUS_VAR] == "launcher error"


def test_a_typed_error_in_a_notebook_shows_its_message_and_fix_not_library_frames(
    jupyter: Jupyter, edge: Edge
) -> None:
    """IPython renders our errors through _render_traceback_: the problem and the fix, with
    no frames of mlflow_client_env's own code (a real kernel, a real failing setup())."""
    install_kernel(jupyter, edge)
    shown: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "error":
            shown.extend(msg["content"]["traceback"])

    with running_kernel("mlflow") as kc:
        kc.execute_interactive(
            "import mlflow_client_env\nmlflow_client_env.setup(parcel='/no/such/parcel')",
            timeout=120,
            output_hook=hook,
        )
    text = "\n".join(shown)
    assert "/no/such/parcel" in text and "  fix: " in text
    assert "mlflow_client_env/" not in text and "File " not in text, text
