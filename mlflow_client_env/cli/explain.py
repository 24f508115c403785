"""``mlflow-client-env explain``: what a catalog code means, or which entry a pasted error is.

``explain D1`` prints the entry; ``explain FILE`` or ``explain < log`` (or ``explain -``)
finds the failure in a traceback or a log and prints its entry, with the line that matched.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import MlflowClientEnvError
from ..redact import redact, redact_tree
from ..reference import lookup, render_text
from ..safeio import read_small_text
from . import output

EXAMPLES = """\
examples:
  mlflow-client-env explain D1                   the entry for catalog code D1
  mlflow-client-env explain namenode-unreachable a descriptive code, as the doctor prints it
  mlflow-client-env explain traceback.txt        which failure is in this file?
  some-command 2>&1 | mlflow-client-env explain  ... or in what a command printed
  mlflow-client-env explain --json D1            machine-readable

exit codes: 0 an entry was found; 1 the text holds no known failure; 2 bad input
(an unknown code, an unreadable file).
"""

#: Read at most this much of a pasted log (the end of a log holds the failure).
MAX_TEXT = 8 * 1024 * 1024


def _is_code(arg: str | None) -> bool:
    """A code in any form messages print it (``D1``, ``hdfs.D1``, ``[catalog D1]``), and not
    the name of an existing file."""
    return (
        arg is not None
        and arg != "-"
        and "/" not in arg
        and len(arg) <= 64
        and not Path(arg).exists()
    )


def _text_of(arg: str | None) -> str:
    if arg is None or arg == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise MlflowClientEnvError(
                "nothing to explain: give a code, a file, or pipe a traceback in",
                "mlflow-client-env explain D1, or: python train.py 2>&1 | mlflow-client-env explain",
            )
        return sys.stdin.read(MAX_TEXT)
    text = read_small_text(Path(arg), "give a text file holding a traceback or a log", MAX_TEXT)
    if text is None:
        raise MlflowClientEnvError(f"{arg} does not exist", "give a code (D1) or a file")
    return text


def cmd_explain(args: argparse.Namespace) -> int:
    from ..doctor.catalog import explain_text  # here: the doctor pulls ssl, http and email

    matched: str | None = None
    fix_here: str | None = None  # the fix for this very text, when it says more than the entry
    if args.what is not None and not args.what.strip():  # else "" would name the cwd
        raise MlflowClientEnvError(
            "nothing to explain: the code or file name given is empty",
            "give a code (D1), a file, or pipe a traceback in",
        )
    if _is_code(args.what):
        entry = lookup(args.what)  # UnknownCodeError: exit 2, with the valid codes
    else:
        found = explain_text(_text_of(args.what))
        if found is None:
            msg = "no known failure in this text"
            fix = "run 'mlflow-client-env doctor', which checks the whole chain"
            if args.json:
                print(json.dumps({"found": False, "message": msg, "fix": fix}, indent=2))
            else:
                output.say("", msg, fix)
            return 1
        entry, matched = lookup(found.code), found.matched
        fix_here = found.fix if found.fix and found.fix != entry.fix else None
    if args.json:
        data: dict[str, Any] = {
            "found": True,
            "code": entry.code,
            "title": entry.title,
            "symptom": entry.symptom,
            "cause": entry.cause,
            "fix": fix_here or entry.fix,
            "doc": f"docs/troubleshooting.md#{entry.anchor}",
            "matched": matched,
        }
        print(json.dumps(redact_tree(data), indent=2))
    else:
        if matched:
            print(f"matched: {redact(matched)}\n")
        print(render_text(entry))
        if fix_here:
            print(f"\nFor this text: {redact(fix_here)}")
    return 0


def add_commands(sub: Any, discovery: argparse.ArgumentParser) -> None:
    """Add ``explain`` to the subparsers ``sub``."""
    p = sub.add_parser(
        "explain",
        help="explain a catalog code (D1), or the failure in a pasted traceback or log",
        description="Print the troubleshooting entry for a code, or find the failure in a "
        "traceback or log (a file, or standard input) and print its entry and fix.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("what", nargs="?", metavar="CODE|FILE|-", help="a code, a file, or - for stdin")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=cmd_explain)
