"""``python -m mlflow_client_env_sandbox up|down|status|env``.

``up`` leaves the servers running after the CLI exits. They are started
*detached*: in their own session and without PR_SET_PDEATHSIG (which would
kill them the moment the CLI exits). The state file records their PIDs and
start times, and ``down`` stops them by PID from any process. Tests use the
attached mode (the pytest plugin), where PR_SET_PDEATHSIG guarantees nothing
outlives a dead test process.
"""

from __future__ import annotations

import argparse
import errno
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from mlflow_client_env.errors import MlflowClientEnvError

from .cluster import Sandbox, down
from .errors import DiskFullError
from .hdfs import DATA_PROTECTIONS, DEFAULT_DATA_PROTECTION
from .state import STATE_DIR_ENV, default_state_dir, load_state


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help="where servers keep data, logs and the state file "
        f"(default ${STATE_DIR_ENV} or {default_state_dir()})",
    )
    parser = argparse.ArgumentParser(
        parents=[common],
        prog="sandbox",
        description="A local Kerberized Hadoop + MLflow sandbox (127.0.0.1 only).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser(
        "up", parents=[common], help="start KDC, HDFS and the MLflow server, leave them running"
    )
    up.add_argument("--java-home", help="JDK to run Hadoop on (default: discovered Java 17)")
    up.add_argument("--mlflow-port", type=int, help="MLflow port (default: a free port)")
    up.add_argument(
        "--backend-store-uri",
        help="e.g. postgresql+psycopg2://user@host/db (default: sqlite in the state dir); "
        "passed to the server through its environment, never written to disk",
    )
    up.add_argument("--no-mlflow", action="store_true", help="start only the KDC and HDFS")
    up.add_argument(
        "--data-protection",
        choices=DATA_PROTECTIONS,
        default=DEFAULT_DATA_PROTECTION,
        help="HDFS wire protection: authentication (default), privacy (RPC and block "
        "transfers encrypted by SASL) or encrypt (dfs.encrypt.data.transfer, AES)",
    )
    sub.add_parser("down", parents=[common], help="stop the sandbox by the PIDs in its state file")
    sub.add_parser(
        "status", parents=[common], help="show which sandbox processes run (exit 3 if none)"
    )
    env = sub.add_parser("env", parents=[common], help="print shell exports for the sandbox")
    env.add_argument("--json", action="store_true", help="print a JSON object instead")
    return parser


def _up(args: argparse.Namespace, state_dir: Path) -> int:
    start = time.monotonic()
    sandbox = Sandbox(
        state_dir, detached=True, java_home=args.java_home,
        mlflow_port=args.mlflow_port, backend_store_uri=args.backend_store_uri,
        data_protection=args.data_protection,
    )  # fmt: skip
    sandbox.up(with_mlflow=not args.no_mlflow)
    print(f"sandbox: up in {time.monotonic() - start:.1f} s; state in {state_dir}", file=sys.stderr)
    print("sandbox: use it with: eval \"$(scripts/sandbox env)\"; stop it with: "
          "scripts/sandbox down", file=sys.stderr)  # fmt: skip
    return 0


def _status(state_dir: Path) -> int:
    state = load_state(state_dir)
    for rec in state.processes:
        print(f"{rec.name:14} pid {rec.pid:<8} {'running' if rec.alive() else 'stopped'}  "
              f"log {rec.log}")  # fmt: skip
    for key in ("namenode_uri", "tracking_uri", "realm"):
        print(f"{key}: {state.info.get(key)}")
    return 0 if state.alive() else 3


def _env(state_dir: Path, as_json: bool) -> int:
    env = load_state(state_dir).env
    if as_json:
        print(json.dumps(env, indent=2))
    else:
        for key, value in env.items():
            print(f"export {key}={shlex.quote(value)}")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    state_dir = getattr(args, "state_dir", None) or default_state_dir()
    state_dir = state_dir.absolute()
    if args.command == "up":
        return _up(args, state_dir)
    if args.command == "down":
        stopped = down(state_dir)
        print("sandbox: stopped " + (", ".join(stopped) or "nothing (was not running)"),
              file=sys.stderr)  # fmt: skip
        return 0
    if args.command == "status":
        return _status(state_dir)
    return _env(state_dir, args.json)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: errors become 'error: ...' plus the fix, exit code 2."""
    try:
        return run(argv)
    except MlflowClientEnvError as exc:
        print(f"sandbox: error: {exc.problem}\n  fix: {exc.fix}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        err = DiskFullError(f"no space left on the device ({exc})",
                            "free disk space (df -h) and run again")  # fmt: skip
        print(f"sandbox: error: {err.problem}\n  fix: {err.fix}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sandbox: interrupted; processes started so far were stopped", file=sys.stderr)
        return 130
