"""``mlflow-client-env doctor``: named checks from the Python packages down to HDFS.

Modelled on brew/flutter doctor: each check has a name and returns findings
(ok / warn / error / skip, a summary, the evidence and the fix); the report is
a ✓ / ! / ✗ line per check and a one-line verdict. Checks run in the catalog's
probe order, cheap and local first, network and JVM last.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..findings import SEVERITY, Finding, Status
from . import checks, remote
from .context import Context

Check = Callable[[Context], list[Finding]]


def _live_process(ctx: Context) -> list[Finding]:
    from .live import check_live_process

    return check_live_process(ctx)


def _kerberos(ctx: Context) -> list[Finding]:
    from .kerberos import check_kerberos

    return check_kerberos(ctx)


#: name -> (check, one-line description), in run order.
CHECKS: dict[str, tuple[Check, str]] = {
    "versions": (checks.check_versions, "Python, MLflow, pyarrow and their known-bad pairs"),
    "installation": (
        checks.check_installation,
        "the parcel / Hadoop install, its version and libhdfs.so",
    ),
    "java": (
        checks.check_java,
        "JAVA_HOME layout, libjvm.so, and whether Hadoop runs on this Java",
    ),
    "client-config": (checks.check_client_config, "fs.defaultFS, nameservices, authentication"),
    "classpath": (checks.check_classpath, "lint of the inherited CLASSPATH and of ours"),
    "native-libraries": (
        checks.check_native,
        "libhdfs.so ELF, its dependencies, shadowing, a load probe",
    ),
    "process-start": (checks.check_process_start, "LD_LIBRARY_PATH at process start vs now"),
    "live-process": (_live_process, "with --pid: what a running kernel really has and mapped"),
    "kerberos": (_kerberos, "the ticket, whether Java can read its cache, krb5.conf for Java"),
    "tracking-server": (
        remote.check_tracking_server,
        "the MLflow server: reachable, version, artifact location",
    ),
    "hdfs": (remote.check_hdfs, "write, read and delete a file on HDFS through pyarrow/libhdfs"),
}


@dataclass(frozen=True)
class CheckResult:
    name: str
    findings: tuple[Finding, ...]
    seconds: float

    @property
    def status(self) -> Status:
        statuses = [f.status for f in self.findings]
        if not statuses or all(s == "skip" for s in statuses):
            return "skip"
        return max((s for s in statuses if s != "skip"), key=lambda s: SEVERITY[s])

    @property
    def headline(self) -> Finding:
        """The finding that speaks for the check: the worst, else the first."""
        return next((f for f in self.findings if f.status == self.status), self.findings[0])


@dataclass(frozen=True)
class DoctorReport:
    results: tuple[CheckResult, ...]

    @property
    def verdict(self) -> Status:
        worst: Status = "ok"
        for r in self.results:
            if r.status in ("warn", "error") and SEVERITY[r.status] > SEVERITY[worst]:
                worst = r.status
        return worst

    @property
    def exit_code(self) -> int:
        return 1 if self.verdict == "error" else 0


def run(ctx: Context, names: Sequence[str] | None = None) -> DoctorReport:
    """Run the named checks (default: all), each timed, in catalog order."""
    unknown = [n for n in names or () if n not in CHECKS]
    if unknown:
        raise KeyError(", ".join(unknown))
    results = []
    for name, (check, _) in CHECKS.items():
        if names and name not in names:
            continue
        t0 = time.perf_counter()
        findings = check(ctx) or [Finding(f"{name}.ok", "ok", "nothing to report")]
        results.append(CheckResult(name, tuple(findings), time.perf_counter() - t0))
    return DoctorReport(tuple(results))
