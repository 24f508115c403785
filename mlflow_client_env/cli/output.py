"""The one way the command line speaks to people: messages on stderr, with a fix, redacted.

stdout carries only what a command produces (exports for ``eval``, JSON, reports), so
``eval "$(mlflow-client-env env)"`` and ``--json`` stay clean.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from ..findings import Finding
from ..redact import redact

TYPE_CHECKING = False  # typing is not imported at run time: the kernel launcher prints here
if TYPE_CHECKING:
    from typing import TextIO

PROG = "mlflow-client-env"


def say(
    kind: str,
    message: str,
    fix: str | None = None,
    *,
    prog: str = PROG,
    stream: TextIO | None = None,
) -> None:
    """``mlflow-client-env: KIND: message`` and ``  fix: ...`` on stderr (secrets masked).

    Every front end prints this way: the commands, and the kernel launcher and its
    extension with their ``prog``, ``mlflow-client-env kernel`` (the extension on the
    process's real stderr, ``stream``, the kernel's log, not a cell's output)."""
    out = sys.stderr if stream is None else stream
    print(f"{prog}: {kind}: {redact(message)}" if kind else f"{prog}: {redact(message)}", file=out)
    if fix:
        print(f"  fix: {redact(fix)}", file=out)
    out.flush()  # the launcher may exec next


def error(message: str, fix: str | None = None) -> None:
    say("error", message, fix)


def warning(message: str, fix: str | None = None) -> None:
    say("warning", message, fix)


def findings(items: Iterable[Finding]) -> None:
    """Warnings and errors among ``items``, one message each (ok findings are not shown)."""
    for f in items:
        if f.status in ("warn", "error"):
            say("error" if f.status == "error" else "warning", f.summary, f.fix)


def use_colour(stream: TextIO) -> bool:
    """Colour only for a terminal, and never with ``NO_COLOR`` set (no-color.org) or
    ``TERM=dumb``."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
