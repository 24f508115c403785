"""One shape for every problem we report: lint, setup warnings and doctor checks.

A finding is data, not a printed line, so the same result feeds the terminal,
``--json`` and a notebook's HTML repr.

Its code is ``<area>.<what>``. The area is the name of the doctor check that reports the
condition (``doctor --list-checks``), also when ``setup()``, ``env`` or the kernel launcher
reports it, or one of :data:`AREAS_WITHOUT_CHECK`.
"""

from __future__ import annotations

from .records import record

TYPE_CHECKING = False  # typing is not imported at run time (import cost; mypy honours this)
if TYPE_CHECKING:
    from typing import Literal

    Status = Literal["ok", "warn", "error", "skip"]
SEVERITY: dict[str, int] = {"ok": 0, "skip": 0, "warn": 1, "error": 2}

#: Code areas that no doctor check reports, with who reports them.
AREAS_WITHOUT_CHECK: dict[str, str] = {
    "spark": "setup(spark=True), spark_conf() and the executors' probe (doctor.spark_probe)",
}


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
