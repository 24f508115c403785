"""``mlflow-client-env env``: print the environment, as shell exports, dotenv or JSON."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .. import formats
from ..discovery import build_environment
from ..kerberos.readiness import ticket_readiness
from ..spark import format_spark_conf
from . import output
from .options import overrides_from

EXAMPLES_ENV = """\
examples:
  eval "$(mlflow-client-env env)"             set up this shell
  mlflow-client-env env --explain             show every variable and why
  mlflow-client-env env --json                machine-readable
  mlflow-client-env env --format dotenv > .env
  eval "spark-submit $(mlflow-client-env env --format spark-conf --spark-mode yarn) job.py"
                                              the executors' environment (docs/spark.md;
                                              eval: the lines are shell-quoted)
  mlflow-client-env env --parcel /opt/cloudera/parcels/CDH-7.1.7-1.cdh7.1.7.p0.15945976

Settings can also come from MLFLOW_CLIENT_ENV_<NAME> variables (e.g.
MLFLOW_CLIENT_ENV_PARCELS_ROOT), ~/.config/mlflow-client-env/config.toml and
/etc/mlflow-client-env/config.toml, in that order of precedence after arguments.
"""


def cmd_env(args: argparse.Namespace) -> int:
    env = build_environment(
        None,
        overrides_from(args),
        exact_classpath=args.exact_classpath,
        exact_classpath_timeout=args.exact_classpath_timeout,
        legacy_ld_library_path=args.legacy_ld_library_path,
        ask_server=True,  # no Hadoop is fine when the server stores the artifacts (H4)
    )
    fmt = "json" if args.json else args.format
    if fmt == "spark-conf":  # the executors' environment, as spark-submit --conf lines
        hdfs_client = overrides_from(args).get("hdfs_client")
        sys.stdout.write(
            format_spark_conf(
                env,
                explain=args.explain,
                mode=args.spark_mode,
                master=args.spark_master,
                deploy_mode=args.deploy_mode,
                hdfs_client=hdfs_client,
            )
        )
    else:
        sys.stdout.write(formats.FORMATS[fmt](env, explain=args.explain))
    # a Kerberized client's ticket, as setup() reports it (no ticket or an expired one: exit 1)
    _, ticket_findings = ticket_readiness(env)
    findings = [*env.findings, *ticket_findings]
    output.findings(findings)
    if env.hadoop is None or env.native_only:  # say why so little is set (proxied artifacts:
        # installation.not-needed; hdfs_client=native: hdfs-native.in-force)
        for f in env.findings:
            if f.status == "ok":
                output.say("note", f.summary)
    return 1 if any(f.status == "error" for f in findings) else 0


def add_commands(sub: Any, discovery: argparse.ArgumentParser) -> None:
    """Add ``env`` to the subparsers ``sub``."""
    disc = discovery
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
    p.add_argument(
        "--format", choices=("shell", "dotenv", "json", "spark-conf"), default="shell",
        help="spark-conf: spark-submit --conf lines that give Spark's executors this "
        "environment (see --spark-mode)",
    )  # fmt: skip
    p.add_argument(
        "--spark-mode", choices=("auto", "yarn", "local"), default="auto",
        help="with --format spark-conf: yarn (executors on other hosts, delegation tokens: "
        "no local ticket cache), local (executors on this host, the ticket), auto (from "
        "the master)",
    )  # fmt: skip
    p.add_argument("--spark-master", metavar="URL", help="with --format spark-conf: the master")
    p.add_argument(
        "--deploy-mode", choices=("client", "cluster"),
        help="with --format spark-conf: YARN cluster mode also sets spark.yarn.appMasterEnv.*",
    )  # fmt: skip
    p.add_argument("--explain", action="store_true", help="add the reason for every variable")
    p.add_argument(
        "--legacy-ld-library-path",
        action="store_true",
        help="also prepend parcel lib64/native/impala dirs to LD_LIBRARY_PATH, as "
        "hand-made kernel.json files did (breaks ssl/gssapi imports; not recommended)",
    )
    p.set_defaults(func=cmd_env)
