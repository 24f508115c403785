"""The kernel launcher with hostile input at kernel start: a FIFO as the ticket cache
(which once hung the launcher) and a secret in the Jupyter server's environment (which
must never be printed into a notebook). Real kernels, started through jupyter_client.
"""

from __future__ import annotations

import os
import time

import pytest

from mlflow_client_env.jupyter import launcher as kernel
from tests.conftest import Edge, Jupyter
from tests.test_kernel import install_kernel, probe, run_cell, running_kernel


def test_fifo_ticket_cache_does_not_hang_the_kernel(
    jupyter: Jupyter, edge: Edge, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = edge.root / "krb5cc_fifo"
    os.mkfifo(fifo)
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{fifo}")
    install_kernel(jupyter, edge)
    start = time.monotonic()
    with running_kernel("mlflow") as kc:  # waits at most 120 s for the kernel to be ready
        first = run_cell(kc, "'ready'")
        env, _, _ = probe(kc)
    assert time.monotonic() - start < 60
    assert first.result == "'ready'"
    assert str(fifo) in first.stderr and "fix:" in first.stderr
    assert "Traceback" not in first.stderr
    assert env[kernel.STATUS_VAR] in ("launcher ok", "launcher error")


def test_a_secret_in_the_servers_environment_is_never_printed(
    jupyter: Jupyter, edge: Edge, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tracking URI the Jupyter server passes on carries a password: the launcher
    refuses it, and says so in the first cell, redacted."""
    install_kernel(jupyter, edge)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://alice:s3cr3t@mlflow.example.com:5000")
    with running_kernel("mlflow") as kc:
        first = run_cell(kc, "1")
    assert first.result == "1"
    assert "WITHOUT a working" in first.stderr and "***" in first.stderr
    assert "s3cr3t" not in first.stderr + first.stdout


def test_launcher_message_is_redacted() -> None:
    """Whatever a problem's text holds (here an unexpected exception's message), the
    message shown in the notebook is redacted."""
    text = kernel.message(
        ["unexpected RuntimeError: cannot reach http://bob:xyzzy1@h:5000/?token=xyzzy2"],
        ["MLFLOW_TRACKING_TOKEN=xyzzy3"],
    )
    assert "xyzzy" not in text and text.count("***") == 3


def test_launcher_options_parse_like_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    """The launcher parses its kernel.json arguments by hand (no argparse at kernel start):
    both spellings, the flag, the defaults, and exit 2 with the usage for bad input."""
    args = kernel.parse_args(
        ["-f", "c.json", "--parcel=/opt/P", "--hadoop-conf-dir", "/etc/h", "--exact-classpath"]
    )
    assert (args.connection_file, args.parcel, args.hadoop_conf_dir) == (
        "c.json",
        "/opt/P",
        "/etc/h",
    )
    assert args.exact_classpath is True and args.java_home is None and args.python
    assert kernel.parse_args(["-fc.json"]).connection_file == "c.json"  # argparse's -fPATH
    for bad, why in [
        (["-f", "--parcel", "/x"], "argument -f: expected one value"),
        (["-f", "c.json", "--nope", "x"], "unrecognized argument: --nope"),
        (["-f", "c.json", "--parcel"], "argument --parcel: expected one value"),
        (["--parcel", "/opt/P"], "required: -f"),
    ]:
        with pytest.raises(SystemExit) as exc:
            kernel.parse_args(bad)
        assert exc.value.code == 2
        assert why in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        kernel.parse_args(["--help"])
    assert exc.value.code == 0
    assert "--hadoop-conf-dir" in capsys.readouterr().out
    # its errors are printed as every front end prints them (cli.output.say): signed, masked
    with pytest.raises(SystemExit):
        kernel.parse_args(["-f", "c.json", "--tracking-url=https://bob:hunter2@mlflow.example"])
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("usage: python -m mlflow_client_env.kernel -f CONNECTION_FILE")
    assert err[1].startswith("mlflow-client-env kernel: error: unrecognized argument: --tracking")
    assert "hunter2" not in err[1] and "***" in err[1]


def test_the_kernel_s_extension_imports_no_discovery_code() -> None:
    """A kernel the launcher exec'd (another --python) loads only the extension: the
    discovery code ran in the launcher, before the exec, and is not imported again."""
    import json
    import subprocess
    import sys

    code = (
        "import sys, mlflow_client_env.jupyter.extension as e\nimport json\n"
        "assert hasattr(e, 'load_ipython_extension')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('mlflow_client_env'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [
        "mlflow_client_env",
        "mlflow_client_env.cli",  # the package only: cli.app, argparse and the commands not
        "mlflow_client_env.cli.output",  # its notes are printed as every front end's
        "mlflow_client_env.findings",
        "mlflow_client_env.jupyter",
        "mlflow_client_env.jupyter.extension",
        "mlflow_client_env.jupyter.ipython_hook",
        "mlflow_client_env.records",
        "mlflow_client_env.redact",
    ]


def test_launcher_import_graph_stays_small(edge: Edge) -> None:
    """What the launcher imports to resolve the environment: none of argparse, typing,
    dataclasses or inspect (each costs ms at every kernel start)."""
    import json
    import subprocess
    import sys

    code = (
        "import sys, os\n"
        "from mlflow_client_env.jupyter import launcher\n"
        f"args = launcher.parse_args(['-f', 'x.json', *{edge.cli_args()!r}])\n"
        "env, problems, notes = launcher.prepare(args, dict(os.environ))\n"
        "assert not problems, problems\n"
        "import json\n"
        "print(json.dumps(sorted(m for m in ('argparse', 'typing', 'dataclasses', 'inspect')"
        " if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
