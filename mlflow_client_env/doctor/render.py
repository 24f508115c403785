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


def text(report: DoctorReport, verbose: bool = False) -> str:
    lines = []
    for r in report.results:
        head = r.headline
        more = sum(1 for f in r.findings if f.status == r.status) - 1
        extra = f" (+{more} more)" if more > 0 and not verbose and r.status != "ok" else ""
        timing = f"  [{r.seconds * 1000:.0f} ms]" if verbose else ""
        lines.append(f"{MARK[r.status]} {r.name}: {head.summary}{extra}{timing}")
        shown = r.findings if verbose else [f for f in r.findings if f.status == r.status][:3]
        for f in shown:
            if verbose and f is not head:
                lines.append(f"    {MARK[f.status]} {f.summary}")
            if verbose:
                lines += [f"        {e}" for e in f.evidence]
            if f.fix and f.status in ("warn", "error"):
                lines.append(f"    fix: {f.fix}")
    errors = sum(r.status == "error" for r in report.results)
    warns = sum(r.status == "warn" for r in report.results)
    n = len(report.results)
    if not errors and not warns:
        verdict = f"No issues found ({n} checks)."
    else:
        parts = [f"{errors} error{'s' * (errors != 1)}"] if errors else []
        parts += [f"{warns} warning{'s' * (warns != 1)}"] if warns else []
        verdict = f"Doctor found {' and '.join(parts)} in {n} checks."
    lines += ["", verdict]
    if not verbose:
        lines.append("Run with -v for the evidence, --json for machines.")
    return "".join(_printable(redact(line)) + "\n" for line in lines)


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
    tree = redact_tree({"verdict": report.verdict, "checks": checks})
    return json.dumps(tree, indent=2) + "\n"
