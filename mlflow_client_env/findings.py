"""One shape for every problem we report: lint, setup warnings and doctor checks.

A finding is data, not a printed line, so the same result feeds the terminal,
``--json`` and a notebook's HTML repr.
"""

from __future__ import annotations

from .records import record

TYPE_CHECKING = False  # typing is not imported at run time (import cost; mypy honours this)
if TYPE_CHECKING:
    from typing import Literal

    Status = Literal["ok", "warn", "error", "skip"]
SEVERITY: dict[str, int] = {"ok": 0, "skip": 0, "warn": 1, "error": 2}


@record
class Finding:
    code: str
    status: Status
    summary: str
    evidence: tuple[str, ...] = ()
    fix: str | None = None


def worst(findings: list[Finding] | tuple[Finding, ...]) -> Status:
    """The most severe status among ``findings`` ('ok' when there are none)."""
    status: Status = "ok"
    for f in findings:
        if SEVERITY[f.status] > SEVERITY[status]:
            status = f.status
    return status
