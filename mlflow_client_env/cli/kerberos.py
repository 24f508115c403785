"""The ``ticket``, ``kinit`` and ``run`` commands: check, get and keep a Kerberos ticket.

Wired into the one parser by ``add_commands``; errors are printed and mapped to exit
codes by ``cli.app``.
Exit codes: 0 ok; 1 no usable ticket / the login failed; 2 bad input; ``run``
returns the command's own exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from ..config import resolve_overrides
from ..errors import KeytabError
from ..findings import Finding
from ..hadoop import TOKEN_FILE_VAR, with_tokens
from ..hadoop.conf import discover_conf
from ..kerberos.profile import ccache_path
from ..kerberos.ticket import format_status, status_finding, ticket_status
from . import output
from .options import add_setting, positive_seconds, seconds

EXAMPLES_TICKET = """\
examples:
  mlflow-client-env ticket                    is there a ticket Python and Java can use?
  mlflow-client-env ticket --json             machine-readable (state, expires_at, ...)
  mlflow-client-env ticket --ccache FILE:/tmp/krb5cc_1000 --threshold 600

States: valid, expiring (less than --threshold seconds left), expired, missing,
unreadable, corrupt, foreign_realm (not the realm of krb5.conf or of
dfs.namenode.kerberos.principal). Exit code 0 for valid/expiring, else 1.

In a YARN container (HADOOP_TOKEN_FILE_LOCATION set) the HDFS delegation tokens are
shown too; with valid tokens and no ticket the process is token-only, which is
healthy there: exit code 0, and "token_only": true with --json.
"""

EXAMPLES_KINIT = """\
examples:
  mlflow-client-env kinit --keytab ~/alice.keytab --principal alice@EXAMPLE.COM
  mlflow-client-env kinit --keytab ~/alice.keytab --principal alice --ccache FILE:/tmp/cc
  eval "$(mlflow-client-env kinit --to-file)"   copy a KEYRING/KCM ticket for Java

stdout carries 'export KRB5CCNAME=...' lines (for eval); messages go to stderr.
Passwords are never accepted: log in with a keytab, or use the system kinit.
"""

EXAMPLES_RUN = """\
examples:
  mlflow-client-env run -- python train.py --epochs 50
  mlflow-client-env run --keytab ~/alice.keytab --principal alice -- python train.py

Like k5start/krenew: the ticket is renewed at 2/3 of its lifetime while CMD runs,
and logged in again from the keytab when it can no longer be renewed. SIGINT,
SIGTERM and SIGHUP are passed on to CMD; the exit code is CMD's.
"""


def _exports(ccache: str) -> str:
    lines = [f"export KRB5CCNAME={shlex.quote(ccache)}"]
    path = ccache_path(ccache)
    if path is not None:
        lines.append(f"export MLFLOW_KERBEROS_TICKET_CACHE={shlex.quote(str(path))}")
    return "\n".join(lines) + "\n"


def cmd_ticket(args: argparse.Namespace) -> int:
    # the client configuration the way discovery finds it (argument, MLFLOW_CLIENT_ENV_*,
    # config files, then HADOOP_CONF_DIR and /etc/hadoop/conf): the same realms as the doctor
    setting = resolve_overrides({"hadoop_conf_dir": args.hadoop_conf_dir}).hadoop_conf_dir
    conf = discover_conf(setting.pair() if setting else None)
    st = ticket_status(
        args.ccache,
        threshold=args.threshold,
        hadoop_conf_dir=conf.conf_dir if conf else None,
    )
    # a YARN container: tokens may stand in for the process's ticket (not for a cache the
    # user named with --ccache: that question is about the cache alone)
    use_tokens = bool(os.environ.get(TOKEN_FILE_VAR)) and args.ccache is None
    tokens: list[Finding] = []
    token_only = False
    if use_tokens:
        headline, *tokens = with_tokens([status_finding(st)], os.environ, conf)
        token_only = headline.code == "kerberos.token-only"
    if args.json:
        data = st.to_json()
        if use_tokens:
            data["token_only"] = token_only
            data["tokens"] = [
                {"code": f.code, "status": f.status, "summary": f.summary, "fix": f.fix}
                for f in tokens
            ]
        print(json.dumps(data, indent=2))
    else:
        print(format_status(st))
        for f in tokens:
            print(f"tokens:       {f.status}: {f.summary}")
            if f.fix:
                print(f"  fix: {f.fix}")
        if token_only:
            print("token-only:   no ticket is needed: the delegation tokens authenticate HDFS")
    return 0 if st.ok or token_only else 1


def _show_warnings(caught: Sequence[warnings.WarningMessage]) -> None:
    for w in caught:
        output.warning(str(w.message))


def cmd_kinit(args: argparse.Namespace) -> int:
    # here, not at the top: login pulls ctypes and platform, which ticket and --help never use
    from ..kerberos.login import copy_to_file, keytab_login, keytab_login_asked

    if args.to_file and args.keytab:
        raise KeytabError(
            "--to-file and --keytab exclude each other", "use one of them (see --help)"
        )
    if not args.to_file and not args.keytab:
        raise KeytabError(
            "nothing to do: give --keytab K --principal P, or --to-file",
            "passwords are not accepted here; for an interactive login use the system 'kinit'",
        )
    keytab_login_asked(args.keytab, args.principal)  # both or neither
    # a failed login raises KinitError (exit 1), an unusable keytab KeytabError (exit 2):
    # cli.app.EXIT_CODES decides, and prints the error once
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if args.keytab:
                st = keytab_login(args.keytab, args.principal, args.ccache)
            else:
                st = copy_to_file(None, args.ccache)
        finally:
            _show_warnings(caught)
    sys.stdout.write(_exports(st.ccache))
    action = "logged in" if args.keytab else "copied the ticket"
    output.say(action, f"{st.principal} in {st.ccache} ({st.message})")
    return 0 if st.ok else 1


def cmd_run(args: argparse.Namespace) -> int:
    import logging

    # here, not at the top: only kinit and run log in, and only run renews (login pulls
    # ctypes and platform, renew also logging and the JVM module)
    from ..kerberos.login import keytab_login_asked
    from ..kerberos.renew import run_command

    logging.basicConfig(level=logging.WARNING, format="mlflow-client-env: %(message)s")
    command = list(args.cmd_argv)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise KeytabError("no command given", "mlflow-client-env run [options] -- CMD ARGS...")
    keytab_login_asked(args.keytab, args.principal)  # both or neither
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return run_command(
                command,
                keytab=args.keytab,
                principal=args.principal,
                ccache=args.ccache,
                threshold=args.threshold,
                max_backoff=args.max_backoff,
            )
        finally:
            _show_warnings(caught)


def add_commands(sub: Any, discovery: argparse.ArgumentParser) -> None:
    """Add ``ticket``, ``kinit`` and ``run`` to the subparsers ``sub`` of the main CLI."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "ticket",
        help="show the Kerberos ticket state (exit 1 if unusable)",
        description="Check the Kerberos credential cache that Python and Java will use: "
        "principal, expiry, renew-until, whether Java can read it, and a state.",
        epilog=EXAMPLES_TICKET,
        formatter_class=fmt,
    )
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument("--ccache", metavar="CACHE", help="the cache to check (default: as MIT)")
    # the only setting 'ticket' reads: the NameNode principal's realm, from hdfs-site.xml
    add_setting(p, "hadoop_conf_dir")
    p.add_argument(
        "--threshold",
        type=seconds,
        default=3600.0,
        metavar="SECONDS",
        help="below this many seconds left the state is 'expiring' (default 3600)",
    )
    p.set_defaults(func=cmd_ticket)

    p = sub.add_parser(
        "kinit",
        help="log in from a keytab, or copy a KEYRING/KCM ticket into a FILE cache for Java",
        description="Get a ticket into a FILE cache (mode 0600) that Java can read: in-process "
        "keytab login, or a copy of the current KEYRING/KCM/DIR ticket (--to-file).",
        epilog=EXAMPLES_KINIT,
        formatter_class=fmt,
    )
    p.add_argument("--keytab", metavar="FILE", help="keytab to log in with")
    p.add_argument("--principal", metavar="NAME", help="principal in the keytab, e.g. alice@REALM")
    p.add_argument(
        "--ccache",
        metavar="FILE:PATH",
        help="FILE cache to write (default: yours if it is a FILE cache, else a private one)",
    )
    p.add_argument(
        "--to-file", action="store_true", help="copy the current ticket into a FILE cache"
    )
    p.set_defaults(func=cmd_kinit)

    p = sub.add_parser(
        "run",
        help="run a command while keeping its Kerberos ticket valid (like k5start)",
        description="Run CMD while a renewer keeps the ticket valid; return CMD's exit code.",
        epilog=EXAMPLES_RUN,
        formatter_class=fmt,
        usage="%(prog)s [--keytab FILE --principal NAME] [--ccache CACHE] -- CMD [ARGS...]",
    )
    p.add_argument("--keytab", metavar="FILE", help="keytab for logging in again")
    p.add_argument("--principal", metavar="NAME", help="principal in the keytab")
    p.add_argument("--ccache", metavar="CACHE", help="the cache to keep fresh (default: as MIT)")
    p.add_argument(
        "--threshold",
        type=positive_seconds,
        metavar="SECONDS",
        help="renew when fewer seconds are left (default: at 2/3 of the lifetime)",
    )
    p.add_argument(
        "--max-backoff",
        type=positive_seconds,
        default=60.0,
        metavar="SECONDS",
        help="longest wait between retries while the KDC is down (default 60)",
    )
    p.add_argument("cmd_argv", nargs=argparse.REMAINDER, metavar="CMD", help="the command")
    p.set_defaults(func=cmd_run)
