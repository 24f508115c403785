"""``install-kernel``, ``uninstall-kernel`` and ``list-kernels``: the Jupyter commands.

Why a command and not a hand-written kernel.json: the environment must be in
place before the kernel process starts (catalog E2, G1), hand-made files go
stale at the next parcel upgrade (G2), and they tend to carry the long
LD_LIBRARY_PATH that breaks ``import ssl`` (E1). The logic is in
``jupyter.spec``, ``jupyter.install`` and ``jupyter.listing``; this module only parses
arguments and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..jupyter import install as ki
from ..jupyter import listing as kl
from ..jupyter import spec as ks
from ..redact import redact, redact_tree
from . import output
from .options import overrides_from

EXAMPLES_INSTALL = """\
examples:
  mlflow-client-env install-kernel                       launcher kernel 'mlflow' for this user
  mlflow-client-env install-kernel --tracking-uri https://mlflow.example.com --experiment demo
  mlflow-client-env install-kernel --name mlflow-cdh7 --parcel /opt/cloudera/parcels/CDH
  mlflow-client-env install-kernel --mode static --name mlflow-static   (re-run after upgrades)
  mlflow-client-env install-kernel --sys-prefix --python /opt/venvs/ml/bin/python
  mlflow-client-env install-kernel --dry-run             print kernel.json, write nothing

Modes: 'launcher' (default) resolves the environment at every kernel start (the
current parcel, so upgrades need no reinstall) and sets LD_LIBRARY_PATH before
the kernel process starts; if that fails, the kernel still starts and its first
cell shows why. 'static' bakes absolute values into kernel.json for frontends
that cannot run the launcher; 'list-kernels' tells you when they go stale.

Names: what Jupyter accepts (ASCII letters, digits, '.', '_', '-'; not '.' or
'..'; stored lowercase). Installs of one kernel are serialised (a per-user lock),
staged in a private folder and swapped in by rename.

Secrets are never written: a tracking URI with user:password@ or ?token=, an
--env whose name is a secret's (*_TOKEN, *_SECRET*, *PASSWORD*, *_KEY) or whose
value carries credentials are refused. Export them where the Jupyter server runs
(the kernel inherits them), or use MLflow's credentials file ~/.mlflow/credentials.

Modes on disk: kernel.json is 0600 (folder 0700) when it holds anything of yours
(a --user install, --env values, an experiment, a keytab/principal, a ticket
cache, a path under your home), else 0644 (folder 0755).

Exit codes: 0 installed; 2 bad input (name, secret, --python, a link where the
kernel goes, a folder you cannot write), with the fix on stderr.
"""

EXAMPLES_UNINSTALL = """\
examples:
  mlflow-client-env uninstall-kernel mlflow
  mlflow-client-env uninstall-kernel mlflow --prefix /opt/venvs/ml   for a --prefix install

Only the kernel's own folder is ever removed: never a symbolic link, never the
kernels folder or anything above it. Exit codes: 0 removed; 2 bad input.
"""

EXAMPLES_LIST = """\
examples:
  mlflow-client-env list-kernels
  mlflow-client-env list-kernels --json

Status of our kernels: ok / error (launcher: does the environment resolve now?),
fresh / stale (static: do the baked values still match?), broken (cannot resolve).
Any kernel whose kernel.json cannot be used (not UTF-8, not JSON, a link, an
unexpected structure) is listed as unreadable. Values shown are redacted.
Exit code 1 when one of our kernels is stale, broken or in error, or a kernel.json
is unreadable.
"""


def _location_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where (default: --user)").add_mutually_exclusive_group()
    g.add_argument(
        "--user",
        action="store_true",
        help="install for this user, in Jupyter's data dir (the default)",
    )
    g.add_argument(
        "--sys-prefix",
        action="store_true",
        help=f"install into the current Python environment ({sys.prefix})",
    )
    g.add_argument("--prefix", metavar="DIR", help="install under DIR/share/jupyter/kernels")


def cmd_install(args: argparse.Namespace) -> int:
    settings = ks.KernelSettings(
        **overrides_from(args),  # the discovery settings, as declared in config.SETTINGS
        experiment=args.experiment,
        keytab=args.keytab,
        principal=args.principal,
        exact_classpath=bool(getattr(args, "exact_classpath", False)),
    )
    result = ki.install(
        args.name,
        mode=args.mode,
        location=ks.Location.of(sys_prefix=args.sys_prefix, prefix=args.prefix),
        display_name=args.display_name,
        python=args.python,
        settings=settings,
        extra_env=ks.parse_env_pairs(args.env or []),
        force=args.force,
        dry_run=args.dry_run,
    )
    if args.json:
        print(json.dumps(redact_tree(result.to_json()), indent=2))
    elif args.dry_run:
        print(json.dumps(redact_tree(result.spec), indent=1))
        output.say("dry run", f"would write {result.path / 'kernel.json'}; nothing written")
    else:
        verb = "replaced" if result.replaced else "installed"
        print(f"{verb} kernel {result.name!r} ({result.mode} mode) in {result.path}")
        print(f"  display name: {redact(result.spec['display_name'])}")
    for note in result.notes:
        output.say("note", note)
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    extra = [args.prefix] if args.prefix else []
    removed = ki.uninstall(args.name, force=args.force, dry_run=args.dry_run, extra_dirs=extra)
    name = ks.validate_name(args.name, command="uninstall-kernel")
    if args.json:
        result = {"name": name, "removed": [str(p) for p in removed], "dry_run": args.dry_run}
        print(json.dumps(redact_tree(result), indent=2))
    else:
        verb = "would remove" if args.dry_run else "removed"
        for p in removed:
            print(f"{verb} {redact(str(p))}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    extra = [args.prefix] if args.prefix else []
    entries = kl.list_kernels(extra)
    bad = [
        e
        for e in entries
        if e.status == "unreadable" or (e.ours and e.status in ("stale", "broken", "error"))
    ]
    if args.json:
        print(json.dumps(redact_tree([e.to_json() for e in entries]), indent=2))
        return 1 if bad else 0
    rows: list[tuple[str, ...]] = [("NAME", "OURS", "MODE", "STATUS", "PATH")]
    for e in entries:
        rows.append(
            (
                e.name,
                "yes" if e.ours else "no",
                e.mode or "-",
                e.status if e.ours or e.status == "unreadable" else "-",
                redact(str(e.path)),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
    for e in entries:
        if (e.ours or e.status == "unreadable") and e.status != "ok" and e.detail:
            output.say(f"{e.name}: {e.status}", e.detail)
    return 1 if bad else 0


def add_commands(sub: Any, discovery: argparse.ArgumentParser) -> None:
    """Add install-kernel, uninstall-kernel and list-kernels to ``sub`` (subparsers)."""
    p = sub.add_parser(
        "install-kernel",
        parents=[discovery],
        help="install a Jupyter kernel with the environment set before it starts",
        description="Install a Jupyter kernel whose process starts with the MLflow/Hadoop "
        "environment in place (LD_LIBRARY_PATH included), for this user by default.",
        epilog=EXAMPLES_INSTALL,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--name", default="mlflow", help="kernel name: a-z 0-9 . _ - (default mlflow)")
    p.add_argument("--display-name", metavar="TEXT", help="the name shown in Jupyter's menu")
    _location_options(p)
    p.add_argument("--experiment", metavar="NAME", help="MLFLOW_EXPERIMENT_NAME for the kernel")
    p.add_argument(
        "--mode",
        choices=ks.MODES,
        default="launcher",
        help="launcher: resolve at every start (default); static: bake values into kernel.json",
    )
    p.add_argument(
        "--python", metavar="PATH", help=f"interpreter the kernel runs (default {sys.executable})"
    )
    p.add_argument(
        "--env",
        action="append",
        metavar="NAME=VALUE",
        help="an extra variable for the kernel; repeatable (no secrets)",
    )
    k = p.add_argument_group("Kerberos (keytab login at kernel start, when available)")
    k.add_argument("--keytab", metavar="FILE", help="keytab to log in from at kernel start")
    k.add_argument(
        "--principal", metavar="NAME", help="principal for --keytab, e.g. alice@EXAMPLE.COM"
    )
    p.add_argument("--dry-run", action="store_true", help="print the kernel.json, write nothing")
    p.add_argument(
        "--force", action="store_true", help="replace a kernel of that name that is not ours"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_install)

    u = sub.add_parser(
        "uninstall-kernel",
        help="remove a kernel installed by install-kernel, wherever it is",
        description="Remove every kernel named NAME that Jupyter can find (user, environment, "
        "system dirs and JUPYTER_PATH). Kernels not written by mlflow-client-env need --force.",
        epilog=EXAMPLES_UNINSTALL,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    u.add_argument("name", metavar="NAME", help="the kernel name (see list-kernels)")
    u.add_argument("--prefix", metavar="DIR", help="also look under DIR/share/jupyter/kernels")
    u.add_argument("--force", action="store_true", help="also remove a kernel that is not ours")
    u.add_argument("--dry-run", action="store_true", help="show what would be removed")
    u.add_argument("--json", action="store_true", help="print the result as JSON")
    u.set_defaults(func=cmd_uninstall)

    ls = sub.add_parser(
        "list-kernels",
        help="list Jupyter kernels; check ours (resolves? static: stale or fresh?)",
        description="List every kernel Jupyter finds, mark ours, and check that each of ours "
        "still resolves; for static kernels, compare the baked values with a fresh resolution.",
        epilog=EXAMPLES_LIST,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ls.add_argument("--prefix", metavar="DIR", help="also look under DIR/share/jupyter/kernels")
    ls.add_argument("--json", action="store_true", help="a JSON list, one object per kernel")
    ls.set_defaults(func=cmd_list)
