"""Doctor output: terminal lines, and the stable JSON schema.

JSON (stable): {"verdict": "ok|warn|error", "checks": [{"name", "status",
"summary", "detail", "fix", "seconds", "findings": [{"code", "status",
"summary", "evidence", "fix"}]}]}.

Secrets: findings arrive already cleaned (doctor.run scrubs each one). Here
every value is redacted again *before* it is serialised (``redact_tree`` for
JSON, per line for text), never the serialised text, so redaction cannot eat a
JSON quote and the output always parses.
"""

from __future__ import annotations

import json

from ..redact import redact, redact_tree
from . import DoctorReport

MARK = {"ok": "✓", "warn": "!", "error": "✗", "skip": "-"}
#: ANSI colours of the marks, used only when asked for (a terminal, and no NO_COLOR)
COLOUR = {"ok": "\x1b[32m", "warn": "\x1b[33m", "error": "\x1b[31m", "skip": "\x1b[2m"}
RESET = "\x1b[0m"


def text(report: DoctorReport, verbose: bool = False, colour: bool = False) -> str:
    """The report as terminal lines; ``colour`` paints the ✓ ! ✗ marks (the caller decides:
    ``cli.output.use_colour``). Every value is redacted and made printable first."""
    lines: list[str | tuple[str, str, str]] = []  # a marked line: (indent, status, the rest)
    for r in report.results:
        head = r.headline
        more = sum(1 for f in r.findings if f.status == r.status) - 1
        extra = f" (+{more} more)" if more > 0 and not verbose and r.status != "ok" else ""
        timing = f"  [{r.seconds * 1000:.0f} ms]" if verbose else ""
        lines.append(("", r.status, f" {r.name}: {head.summary}{extra}{timing}"))
        shown = r.findings if verbose else [f for f in r.findings if f.status == r.status][:3]
        for f in shown:
            if verbose and f is not head:
                lines.append(("    ", f.status, f" {f.summary}"))
            if verbose:
                lines += [f"        {e}" for e in f.evidence]
            if f.fix and f.status in ("warn", "error"):
                lines.append(f"    fix: {f.fix}")
    errors = sum(r.status == "error" for r in report.results)
    warns = sum(r.status == "warn" for r in report.results)
    n = len(report.results)
    skipped = report.skipped_asked
    if skipped and not errors:
        names = ", ".join(r.name for r in skipped)
        verdict = f"Skipped: {names}, asked for with --check, could not run (see above)."
    elif not errors and not warns:
        verdict = f"No issues found ({n} checks)."
    else:
        parts = [f"{errors} error{'s' * (errors != 1)}"] if errors else []
        parts += [f"{warns} warning{'s' * (warns != 1)}"] if warns else []
        verdict = f"Doctor found {' and '.join(parts)} in {n} checks."
    lines += ["", verdict]
    if not verbose:
        lines.append("Run with -v for the evidence, --json for machines.")
    out = []
    for line in lines:
        if isinstance(line, str):
            out.append(_printable(redact(line)))
            continue
        indent, status, rest = line
        mark = f"{COLOUR[status]}{MARK[status]}{RESET}" if colour else MARK[status]
        out.append(indent + mark + _printable(redact(rest)))
    return "".join(o + "\n" for o in out)


def _printable(line: str) -> str:
    """One output line: no raw control character or undecodable byte from a process's values."""
    line = line.encode("utf-8", "replace").decode("utf-8")
    return "".join(c if c.isprintable() or c == "\t" else repr(c)[1:-1] for c in line)


def as_json(report: DoctorReport) -> str:
    checks = []
    for r in report.results:
        head = r.headline
        checks.append(
            {
                "name": r.name,
                "status": r.status,
                "summary": head.summary,
                "detail": [e for f in r.findings for e in (f.summary, *f.evidence) if f is not head]
                + list(head.evidence),
                "fix": head.fix,
                "seconds": round(r.seconds, 4),
                "findings": [
                    {
                        "code": f.code,
                        "status": f.status,
                        "summary": f.summary,
                        "evidence": list(f.evidence),
                        "fix": f.fix,
                    }
                    for f in r.findings
                ],
            }
        )
    tree = redact_tree(
        {
            "verdict": report.verdict,
            "checks": checks,
            "skipped_checks": [r.name for r in report.skipped_asked],  # asked for, not run
        }
    )
    return json.dumps(tree, indent=2) + "\n"
