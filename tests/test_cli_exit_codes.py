"""The command line's one exception-to-exit-code map (``cli.app.EXIT_CODES``), as the
README's exit-code table documents it.

Most tests replace one command's body (``explain``'s) with a function that raises the
exception under test: the parser, ``main()``'s handling, the map and the printing are the
real ones, and no real input is known to raise, say, a bug of ours on purpose. The
interrupt is a real SIGINT to a real process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from mlflow_client_env import errors
from mlflow_client_env.cli import app
from mlflow_client_env.cli import explain as explain_cmd
from tests.conftest import Edge

CASES = [
    (errors.MlflowClientEnvError("bad input", "give good input"), 2),
    (errors.KeytabError("no such keytab", "give one"), 2),
    (errors.HadoopNotFoundError("no Hadoop here", "install one"), 1),
    (errors.JavaNotFoundError("no Java here", "install one"), 1),
    (errors.KinitError("the KDC said no", "check the password"), 1),
    (errors.CacheTargetError("not your cache", "give another"), 2),
    (errors.CommandStartError("cannot start x", "check PATH"), 127),
]


def _raising(exc: BaseException) -> object:
    def cmd(args: argparse.Namespace) -> int:
        raise exc

    return cmd


@pytest.mark.parametrize(("exc", "code"), CASES, ids=[type(e).__name__ for e, _ in CASES])
def test_each_typed_error_has_its_code_and_one_message(
    exc: errors.MlflowClientEnvError,
    code: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(explain_cmd, "cmd_explain", _raising(exc))
    assert app.main(["explain", "D1"]) == code
    err = capsys.readouterr().err
    assert err == f"mlflow-client-env: error: {exc.problem}\n  fix: {exc.fix}\n"


def test_every_code_in_the_map_is_in_the_readme_and_the_help() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = readme.split("### Exit codes", 1)[1]
    epilog = app.build_parser().epilog or ""
    for code in {*app.EXIT_CODES.values(), app.INTERNAL_ERROR, 0}:
        assert f"| {code} " in table or f"| `{code}` " in table, code
        assert re.search(rf"(?<!\d){code} ", epilog), code


def test_a_bug_of_ours_is_exit_70_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "hunter2-secret"
    monkeypatch.delenv("MLFLOW_CLIENT_ENV_DEBUG", raising=False)
    monkeypatch.setattr(
        explain_cmd, "cmd_explain", _raising(KeyError(f"http://bob:{secret}@host/"))
    )
    assert app.main(["explain", "D1"]) == app.INTERNAL_ERROR == 70
    err = capsys.readouterr().err
    assert err.startswith("mlflow-client-env: internal error: KeyError: ")
    assert "Traceback" not in err and secret not in err and "MLFLOW_CLIENT_ENV_DEBUG=1" in err
    # with the debug switch, the traceback is the point
    monkeypatch.setenv("MLFLOW_CLIENT_ENV_DEBUG", "1")
    with pytest.raises(KeyError):
        app.main(["explain", "D1"])


def test_an_interrupt_is_exit_130() -> None:
    """A real SIGINT while ``explain -`` waits for a pasted log on its stdin."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow_client_env", "explain", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.1)
        deadline = time.monotonic() + 20
        # interrupt once the interpreter is up and reading (before that SIGINT would kill it
        # outright, with the shell's 130 but a traceback or none of our code run)
        while time.monotonic() < deadline:
            with open(f"/proc/{proc.pid}/wchan") as fh:
                waiting = fh.read().strip()
            with open(f"/proc/{proc.pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
            if state == "S" and "pipe" in waiting:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err


def test_a_key_error_inside_a_check_is_that_check_crashing_not_an_unknown_check(
    edge: Edge, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The doctor's registry gets one check that raises KeyError (the injected part); the
    CLI, the runner and the other check are real. Names are checked before any check runs,
    so a KeyError from inside one is its crash (exit 1), never 'unknown check' (exit 2)."""
    from mlflow_client_env import doctor
    from mlflow_client_env.findings import Finding

    def explodes(ctx: object) -> list[Finding]:
        return [Finding("explodes.ok", "ok", {}["missing"])]

    monkeypatch.setattr(doctor, "CHECKS", {**doctor.CHECKS, "explodes": (explodes, "x")})
    code = app.main(["doctor", "--json", "--check", "explodes", "--check", "installation",
                     *edge.cli_args()])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    found = {f["code"]: f for c in out["checks"] for f in c["findings"]}
    assert code == 1 and "unknown check" not in json.dumps(out)
    assert found["explodes.crashed"]["summary"].startswith(
        "the explodes check crashed: KeyError: 'missing'"
    )
    assert sorted(c["name"] for c in out["checks"]) == ["explodes", "installation"]
    assert not any(f.startswith("installation.") and v["status"] == "error"
                   for f, v in found.items())  # fmt: skip
    capsys.readouterr()
    assert app.main(["doctor", "--check", "nope", *edge.cli_args()]) == 2  # a real unknown one
    assert "unknown check" in capsys.readouterr().err
