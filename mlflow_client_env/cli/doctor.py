"""``mlflow-client-env doctor``: the named checks, as text or stable JSON."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import output
from .options import overrides_from, positive_seconds

EXAMPLES_DOCTOR = """\
examples:
  mlflow-client-env doctor                    the whole chain, a line per check
  mlflow-client-env doctor -v                 with the evidence and each check's time
  mlflow-client-env doctor --json             stable JSON: {"verdict", "checks": [...]}
  mlflow-client-env doctor --check java --check classpath
  mlflow-client-env doctor --pid 12345        why does my running kernel fail?
  mlflow-client-env doctor --probe-path hdfs://nameservice1/user/$USER/tmp
  mlflow-client-env doctor --hdfs-client native --check hdfs-native

exit codes: 0 no errors (warnings allowed), 1 at least one error, 2 bad input, or a
check named with --check that could not run (skipped).
"""


def cmd_doctor(args: argparse.Namespace) -> int:
    # here, not at the top: the doctor pulls ssl, http and email (through tracking), which
    # every other command and --help would pay for
    from .. import doctor
    from ..doctor import render
    from ..doctor.context import for_process, for_this_process

    if args.list_checks:
        for name, (_, what) in doctor.CHECKS.items():
            print(f"{name:<18} {what}")
        return 0
    overrides = overrides_from(args)
    kw = {"probe_path": args.probe_path, "experiment": args.experiment, "timeout": args.timeout}
    # --pid: read only (/proc/PID/status, environ, maps); its environment is never executed
    # unless it runs as our own uid (Context.spawn enforces it)
    ctx = (
        for_process(args.pid, overrides, **kw)
        if args.pid is not None
        else for_this_process(overrides, **kw)
    )
    report = doctor.run(ctx, args.check)
    if args.json:
        sys.stdout.write(render.as_json(report))
    else:
        sys.stdout.write(render.text(report, args.verbose, colour=output.use_colour(sys.stdout)))
    return report.exit_code


def add_commands(sub: Any, discovery: argparse.ArgumentParser) -> None:
    """Add ``doctor`` to the subparsers ``sub``."""
    disc = discovery
    p = sub.add_parser(
        "doctor",
        parents=[disc],
        help="diagnose the whole chain, from Python packages down to HDFS",
        description="Run named checks, from the Python packages down to an HDFS write (--list-checks "
        "names them), and say how to fix what is broken, before you hit it. With --hdfs-client "
        "native, the JVM layers are reported as not needed.",
        epilog=EXAMPLES_DOCTOR,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-v", "--verbose", action="store_true", help="show the evidence and timings")
    p.add_argument("--json", action="store_true", help="print the stable JSON report")
    p.add_argument(
        "--check", action="append", metavar="NAME", help="run only this check (repeatable)"
    )
    p.add_argument("--list-checks", action="store_true", help="list the checks and exit")
    p.add_argument(
        "--pid",
        type=int,
        help="inspect a running process (e.g. a kernel) instead: its environment is only read; "
        "probes run with it only if it is your own process",
    )
    p.add_argument(
        "--probe-path",
        metavar="URI",
        help="HDFS folder for the write/read/delete probe "
        "(default: the experiment's artifact location)",
    )
    p.add_argument(
        "--experiment",
        help="experiment whose artifact location to check "
        "(default $MLFLOW_EXPERIMENT_NAME, else Default)",
    )
    p.add_argument(
        "--timeout",
        type=positive_seconds,
        default=120.0,
        help="seconds for the whole run: every request and probe gets at most what is left "
        "(default 120)",
    )
    p.set_defaults(func=cmd_doctor)
