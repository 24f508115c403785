"""The ``mlflow-client-env`` command line.

Exit codes: 0 success; 1 the command ran but found errors (e.g. ``env`` could
compose no libhdfs path); 2 bad input or usage, with the fix on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .errors import MlflowClientEnvError

EXAMPLES_ENV = """\
examples:
  eval "$(mlflow-client-env env)"             set up this shell
  mlflow-client-env env --explain             show every variable and why
  mlflow-client-env env --json                machine-readable
  mlflow-client-env env --format dotenv > .env
  mlflow-client-env env --parcel /opt/cloudera/parcels/CDH-7.1.7-1.cdh7.1.7.p0.15945976

Settings can also come from MLFLOW_CLIENT_ENV_<NAME> variables (e.g.
MLFLOW_CLIENT_ENV_PARCELS_ROOT), ~/.config/mlflow-client-env/config.toml and
/etc/mlflow-client-env/config.toml, in that order of precedence after arguments.
"""


def discovery_options() -> argparse.ArgumentParser:
    """The overrides every command that discovers Hadoop takes."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("discovery overrides (default: detected)")
    g.add_argument(
        "--parcel", metavar="PATH", help="a parcel directory, e.g. /opt/cloudera/parcels/CDH"
    )
    g.add_argument(
        "--parcels-root", metavar="DIR", help="where parcels live (default /opt/cloudera/parcels)"
    )
    g.add_argument(
        "--hadoop-home", metavar="DIR", help="Hadoop's home (package or tarball installs)"
    )
    g.add_argument(
        "--hadoop-conf-dir",
        metavar="DIR",
        help="client configuration (default $HADOOP_CONF_DIR, /etc/hadoop/conf)",
    )
    g.add_argument(
        "--java-home",
        metavar="DIR",
        help="the JDK/JRE for libhdfs (default: a Hadoop-compatible one)",
    )
    g.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="MLflow tracking server (default $MLFLOW_TRACKING_URI)",
    )
    g.add_argument(
        "--exact-classpath",
        action="store_true",
        help="take CLASSPATH from 'hadoop classpath --glob' itself (cached on disk)",
    )
    g.add_argument(
        "--exact-classpath-timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help="how long 'hadoop classpath --glob' may run (default 120)",
    )
    return p


def positive_seconds(text: str) -> float:
    """argparse type: a number of seconds > 0 (argparse turns ValueError into exit 2)."""
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise ValueError(text)
    return value


def overrides_from(args: argparse.Namespace) -> dict[str, str | None]:
    keys = ("parcel", "parcels_root", "hadoop_home", "hadoop_conf_dir", "java_home", "tracking_uri")
    return {k: getattr(args, k, None) for k in keys}


def print_findings(findings: Sequence[object]) -> None:
    from .findings import Finding

    for f in findings:
        assert isinstance(f, Finding)
        mark = {"error": "error", "warn": "warning"}.get(f.status, f.status)
        print(f"mlflow-client-env: {mark}: {f.summary}", file=sys.stderr)
        if f.fix:
            print(f"  fix: {f.fix}", file=sys.stderr)


def cmd_env(args: argparse.Namespace) -> int:
    from . import render
    from .discovery import build_environment

    env = build_environment(
        None,
        overrides_from(args),
        exact_classpath=args.exact_classpath,
        exact_classpath_timeout=args.exact_classpath_timeout,
        legacy_ld_library_path=args.legacy_ld_library_path,
    )
    fmt = "json" if args.json else args.format
    sys.stdout.write(render.FORMATS[fmt](env, explain=args.explain))
    print_findings(env.findings)
    return 1 if any(f.status == "error" for f in env.findings) else 0


EXAMPLES_DOCTOR = """\
examples:
  mlflow-client-env doctor                    the whole chain, a line per check
  mlflow-client-env doctor -v                 with the evidence and each check's time
  mlflow-client-env doctor --json             stable JSON: {"verdict", "checks": [...]}
  mlflow-client-env doctor --check java --check classpath
  mlflow-client-env doctor --pid 12345        why does my running kernel fail?
  mlflow-client-env doctor --probe-path hdfs://nameservice1/user/$USER/tmp

exit codes: 0 no errors (warnings allowed), 1 at least one error, 2 bad input.
"""


def cmd_doctor(args: argparse.Namespace) -> int:
    from . import doctor
    from .doctor import render
    from .doctor.context import for_process, for_this_process

    if args.list_checks:
        for name, (_, what) in doctor.CHECKS.items():
            print(f"{name:<18} {what}")
        return 0
    overrides = overrides_from(args)
    kw = {"probe_path": args.probe_path, "experiment": args.experiment, "timeout": args.timeout}
    if not args.timeout > 0:  # also refuses nan
        raise MlflowClientEnvError(
            f"--timeout {args.timeout} is not a positive number of seconds",
            "give the budget for the whole run, e.g. --timeout 120",
        )
    # --pid: read only (/proc/PID/status, environ, maps); its environment is never executed
    # unless it runs as our own uid (Context.spawn enforces it)
    ctx = (
        for_process(args.pid, overrides, **kw)
        if args.pid is not None
        else for_this_process(overrides, **kw)
    )
    try:
        report = doctor.run(ctx, args.check)
    except KeyError as exc:
        raise MlflowClientEnvError(
            f"unknown check(s): {exc.args[0]}",
            "list them with 'mlflow-client-env doctor --list-checks'",
        ) from None
    sys.stdout.write(render.as_json(report) if args.json else render.text(report, args.verbose))
    return report.exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlflow-client-env",
        description="Make, and explain, the environment an MLflow client needs to log "
        "artifacts to HDFS on a Kerberized Cloudera cluster (pyarrow -> libhdfs -> JVM).",
        epilog="Run 'mlflow-client-env COMMAND --help' for a command's options and examples.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    disc = discovery_options()

    p = sub.add_parser(
        "env",
        parents=[disc],
        help="print the environment (shell exports, JSON or dotenv)",
        description="Print the variables a process needs (JAVA_HOME, CLASSPATH, "
        "ARROW_LIBHDFS_DIR, LIBHDFS_OPTS, KRB5CCNAME, ...). Warnings go to stderr, so "
        'eval "$(mlflow-client-env env)" stays clean.',
        epilog=EXAMPLES_ENV,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="a JSON object: variable -> value")
    p.add_argument("--format", choices=("shell", "dotenv", "json"), default="shell")
    p.add_argument("--explain", action="store_true", help="add the reason for every variable")
    p.add_argument(
        "--legacy-ld-library-path",
        action="store_true",
        help="also prepend parcel lib64/native/impala dirs to LD_LIBRARY_PATH, as "
        "hand-made kernel.json files did (breaks ssl/gssapi imports; not recommended)",
    )
    p.set_defaults(func=cmd_env)

    from . import kernel_cli, ticket_cli

    kernel_cli.add_commands(sub, disc)
    ticket_cli.add_commands(sub, disc)

    p = sub.add_parser(
        "doctor",
        parents=[disc],
        help="diagnose the whole chain, from Python packages down to HDFS",
        description="Run named checks (versions, installation, java, client-config, classpath, "
        "native-libraries, process-start, kerberos, tracking-server, hdfs) and say how to fix "
        "what is broken, before you hit it.",
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
        type=float,
        default=120.0,
        help="seconds for the whole run: every request and probe gets at most what is left "
        "(default 120)",
    )
    p.set_defaults(func=cmd_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except MlflowClientEnvError as exc:
        print(f"mlflow-client-env: error: {exc.problem}\n  fix: {exc.fix}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
