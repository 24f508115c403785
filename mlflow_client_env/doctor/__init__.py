"""``mlflow-client-env doctor``: named checks from the Python packages down to HDFS.

Modelled on brew/flutter doctor: each check has a name and returns findings
(ok / warn / error / skip, a summary, the evidence and the fix); the report is
a ✓ / ! / ✗ line per check and a one-line verdict. Checks run in the catalog's
probe order, cheap and local first, network and JVM last.

The package: ``checks`` (the local checks), ``kerberos`` (with ``kinit_on_path``: which
kinit and libkrb5 a shell uses), ``live`` (``--pid``, through
``procfs``: read only), ``remote`` (the tracking server, asked by our HTTP client and by
MLflow's own in ``tracking_probe``, and the HDFS probe, which runs ``hdfs_probe`` in a
subprocess), ``native_client`` (hdfs-native: which client serves, and its probe
``native_probe``, in a subprocess too), ``jvm_probe`` (a JVM started as libhdfs starts
one: native libraries, heap), ``versions``, ``native/`` (libhdfs' ELF file, the ldconfig
cache and the dynamic loader's view), ``catalog`` (error text -> reference entry),
``context`` (what checks share, the run's budget, the one way to spawn), ``secrets``,
``render``.

With ``hdfs_client=native`` asked for, the checks of the JVM path (installation, java,
classpath, native-libraries, process-start, jvm, Java's side of kerberos, hdfs) report
``<check>.not-needed`` through one declared precondition, ``Context.jvm_needed``.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence

from ..errors import UnknownCheckError
from ..findings import SEVERITY, Finding
from ..records import record
from . import checks, remote
from .context import BudgetExhausted, Context, NotNeeded, Unmet
from .jvm_probe import check_jvm
from .kerberos import check_kerberos
from .live import check_live_process
from .native_client import check_hdfs_native
from .secrets import known_secrets, scrub_finding

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..findings import Status

Check = Callable[[Context], Iterable[Finding]]


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
    "live-process": (check_live_process, "with --pid: what a running kernel really has and mapped"),
    "kerberos": (check_kerberos, "the ticket, whether Java can read its cache, krb5.conf for Java"),
    "jvm": (
        check_jvm,
        "the JVM libhdfs would start: Hadoop's native library (E3) and its heap (E5)",
    ),
    "tracking-server": (
        remote.check_tracking_server,
        "the MLflow server: reachable, version, artifact location",
    ),
    "hdfs": (remote.check_hdfs, "write, read and delete a file on HDFS through pyarrow/libhdfs"),
    "hdfs-native": (
        check_hdfs_native,
        "hdfs-native (no JVM): installed, libgssapi, the client in force, a write/read/delete",
    ),
}


@record
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


@record
class DoctorReport:
    results: tuple[CheckResult, ...]
    #: the checks named with --check (empty: all were run as a whole)
    asked: tuple[str, ...] = ()

    @property
    def skipped_asked(self) -> tuple[CheckResult, ...]:
        """Checks asked for by name that could not do their work (``<check>.skipped``): the
        answer to the question asked is missing, which is never "no issues"."""
        return tuple(
            r
            for r in self.results
            if r.name in self.asked and any(f.code == f"{r.name}.skipped" for f in r.findings)
        )

    @property
    def verdict(self) -> Status:
        worst: Status = "ok"
        for r in self.results:
            if r.status in ("warn", "error") and SEVERITY[r.status] > SEVERITY[worst]:
                worst = r.status
        return worst

    @property
    def exit_code(self) -> int:
        if self.verdict == "error":
            return 1
        return 2 if self.skipped_asked else 0


def run(ctx: Context, names: Sequence[str] | None = None) -> DoctorReport:
    """Run the named checks (default: all), each timed, in catalog order.

    Every check is isolated: an unexpected exception becomes that check's
    ``<check>.crashed`` error finding and the next check runs. The run has one
    budget (``ctx.timeout``): a check cut short by it says so, and the checks
    after it are reported as not run. Every finding is redacted here, at the
    source, before any renderer sees it.
    """
    unknown = [n for n in names or () if n not in CHECKS]
    if unknown:
        raise UnknownCheckError(
            f"unknown check(s): {', '.join(unknown)}",
            "list them with 'mlflow-client-env doctor --list-checks'",
        )
    secrets = known_secrets(ctx.env)
    results = []
    stopped: str | None = None
    for name, (check, _) in CHECKS.items():
        if names and name not in names:
            continue
        t0 = time.perf_counter()
        if stopped is not None:
            findings = [
                Finding(
                    f"{name}.not-run",
                    "error",
                    f"not run: the --timeout budget of {ctx.timeout:g} s ran out during {stopped}",
                    fix="raise --timeout, or fix what was slow and run the doctor again",
                )
            ]
        else:
            findings, stopped = _run_one(name, check, ctx)
        clean = tuple(scrub_finding(f, secrets) for f in findings)
        results.append(CheckResult(name, clean, time.perf_counter() - t0))
    return DoctorReport(tuple(results), tuple(names or ()))


#: how long past the budget a check that does not honour it is waited for
GRACE = 1.0


def _run_one(name: str, check: Check, ctx: Context) -> tuple[list[Finding], str | None]:
    """One check in a daemon thread, joined at the budget: (its findings, where it stopped)."""
    box: list[list[Finding] | BaseException] = []

    def target() -> None:
        found: list[Finding] = []
        try:
            found.extend(check(ctx))  # a list, or a generator that may stop at Unmet
            box.append(found or [Finding(f"{name}.ok", "ok", "nothing to report")])
        except Unmet as unmet:  # a declared precondition: what was found so far, then why
            cause = unmet.cause
            # not needed (no Hadoop, the server keeps the artifacts; no JVM, hdfs_client=native)
            # is an answer, said as such; any other unmet precondition means the check could
            # not give one
            if isinstance(cause, NotNeeded):
                what, summary = "not-needed", cause.problem
            else:
                what, summary = "skipped", f"skipped: {cause.problem}"
            skipped = Finding(f"{name}.{what}", "skip", summary, fix=cause.fix or None)
            box.append([*found, skipped])
        except BaseException as exc:
            box.append(exc)

    thread = threading.Thread(target=target, name=f"doctor-{name}", daemon=True)
    thread.start()
    thread.join(max(ctx.remaining(), 0.0) + GRACE)
    if not box:  # still running: it ignored the budget; it is abandoned, never waited for
        step = f"the {name} check"
        return [_out_of_time(name, BudgetExhausted(step, ctx.timeout))], step
    result = box[0]
    if isinstance(result, BudgetExhausted):
        return [_out_of_time(name, result)], result.step
    if isinstance(result, BaseException):
        if not isinstance(result, Exception):  # KeyboardInterrupt, SystemExit
            raise result
        return [_crashed(name, result)], None
    return result, None


def _out_of_time(name: str, exc: BudgetExhausted) -> Finding:
    return Finding(
        f"{name}.out-of-time",
        "error",
        f"stopped: the --timeout budget of {exc.budget:g} s ran out during {exc.step}",
        fix="raise --timeout, or find out why that step is slow (a server that does not "
        "answer, an NFS mount that hangs)",
    )


def _crashed(name: str, exc: Exception) -> Finding:
    where = ""
    tb = traceback.extract_tb(exc.__traceback__)
    if tb:
        last = tb[-1]
        where = f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}"
    return Finding(
        f"{name}.crashed",
        "error",
        f"the {name} check crashed: {type(exc).__name__}: {exc}",
        (f"raised at {where}",) if where else (),
        fix="this is a bug in mlflow-client-env: please report it with 'doctor -v' output; "
        "the other checks still ran",
    )
