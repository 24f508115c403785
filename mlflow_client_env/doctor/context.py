"""What every doctor check may look at, computed at most once per run.

Discovery can fail (no parcel, broken XML). A check declares what it needs by asking
for it: :meth:`Context.found` (the discovery) or :meth:`Context.composed` (the
environment) return it, or raise :class:`Unmet`, which the runner reports once, in one
form, as ``<check>.skipped`` after the findings the check had already yielded. The
installation check is the one that reports the discovery error itself. A check of the
Hadoop chain also declares that Hadoop is used here at all (:meth:`Context.hadoop_needed`):
on a client whose tracking server keeps the artifacts, none is, and such a check has
nothing to judge. A check of the JVM path (pyarrow, libhdfs, Java, CLASSPATH) declares
that the JVM is used here at all (:meth:`Context.jvm_needed`): not with an explicit
``hdfs_client=native``, where hdfs-native serves HDFS alone; the discovery and the
environment are then the native ones (``discover_native``, ``compose_native``: no Java and
no Hadoop installation needed), as for ``setup()``.

Two rules live here, so that no check can forget them:

- **One budget.** ``timeout`` is the time the whole run may take. Every network
  or subprocess step asks :meth:`Context.step_timeout` for ``min(its own cap,
  what is left)``; a step cut short by the budget raises :class:`BudgetExhausted`,
  which the runner reports for the check it stopped.
- **A foreign environment is read, never executed.** With ``--pid``, ``env`` is
  another process's environment. Its ``LD_PRELOAD``, ``PYTHONPATH``,
  ``JAVA_TOOL_OPTIONS``, ``PATH``... would run their code as whoever runs the
  doctor. :meth:`Context.spawn` is the only way a check starts a process, and it
  refuses (:class:`ForeignEnvironment`) unless that process runs as our own uid.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..artifacts.mode import DEFAULT_MODE, checked_mode
from ..config import resolve_overrides
from ..discovery import (
    Discovery,
    NativeDiscovery,
    choose_java,
    discover,
    discover_native,
    environment_of,
    native_environment_of,
    native_requested,
)
from ..environment import Environment
from ..errors import HadoopAbsentError, HadoopNotFoundError, MlflowClientEnvError
from ..java import JavaChoice
from ..jupyter.record import Found, started_in_process
from ..jupyter.record import read as read_record
from .procfs import parse_environ, snapshot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import Overrides

#: What either discovery found: the JVM path's (:class:`Discovery`), or hdfs-native's alone
#: (:class:`NativeDiscovery`: ``hadoop`` may be None). Both have ``conf``, ``kerberos`` and
#: ``hadoop``.
ClientDiscovery = Discovery | NativeDiscovery

DEFAULT_BUDGET = 120.0


class BudgetExhausted(Exception):  # internal: the runner turns it into a finding
    """The run's ``--timeout`` budget ran out during ``step``."""

    def __init__(self, step: str, budget: float) -> None:
        self.step = step
        self.budget = budget
        super().__init__(f"the --timeout budget of {budget:g} s ran out during {step}")


class ForeignEnvironment(Exception):  # internal: checks turn it into a finding
    """A probe would have run with another user's environment; ``reason`` says whose."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Unmet(Exception):  # internal: the runner turns it into <check>.skipped
    """A check's precondition (``discovery`` or ``environment``) is not met."""

    def __init__(self, what: str, cause: MlflowClientEnvError) -> None:
        self.what = what
        self.cause = cause
        super().__init__(f"{what} failed: {cause.problem}")


class NotNeeded(MlflowClientEnvError):  # internal: an Unmet cause, never raised to users
    """What a check judges is not used by this client: no Hadoop was found and none is
    needed (the server keeps the artifacts), or ``hdfs_client=native`` was asked for (no
    JVM): the check has nothing to judge, not even the inherited variables."""


class _Raised:
    """A memoised unexpected exception: raised again for every check that asks."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


@dataclass
class Context:
    env: Mapping[str, str]
    overrides: Mapping[str, str | None] = field(default_factory=dict)
    start_env: Mapping[str, str] | None = None  # the environment the process started with
    pid: int | None = None
    probe_path: str | None = None
    experiment: str | None = None
    timeout: float = DEFAULT_BUDGET  # seconds for the whole run
    #: whose environment ``env`` is: None for this process's own, else the target's real
    #: and effective uid (``doctor --pid``)
    env_uid: int | None = None
    env_euid: int | None = None
    #: ``doctor --pid`` on a kernel our launcher started in its own interpreter: its
    #: variables were set inside it, not in /proc/PID/environ (``jupyter.record``);
    #: ``record`` says where ``env`` took them from, or why it could not
    set_inside: bool = False
    record: Found | None = None
    record_problem: str | None = None
    deadline: float = 0.0  # time.monotonic() at which the budget is spent; 0: from timeout
    _memo: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.deadline:
            self.deadline = time.monotonic() + self.timeout

    @property
    def unrecorded(self) -> bool:
        """A launcher kernel that set its variables inside itself with no record saying which:
        its environment, and the libjvm.so it loaded at start, cannot be known here."""
        return self.set_inside and self.record is None

    # ------------------------------------------------------------ foreign environments
    def foreign_reason(self) -> str | None:
        """Why ``env`` must not be executed, or None when it is our own user's."""
        if self.env_uid is None:
            return None
        me = os.getuid()
        euid = self.env_uid if self.env_euid is None else self.env_euid
        if self.env_uid == me and euid == me and os.geteuid() == me:
            return None
        who = f"uid {self.env_uid}" + (f" (effective uid {euid})" if euid != self.env_uid else "")
        you = f"uid {me}" + (f" (effective uid {os.geteuid()})" if os.geteuid() != me else "")
        return (
            f"process {self.pid} runs as {who}, you are {you}: its environment is only read, "
            "never executed; run the doctor as that user to probe it"
        )

    # ------------------------------------------------------------ the budget
    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def step_timeout(self, step: str, cap: float) -> tuple[float, bool]:
        """``(seconds, limited_by_budget)`` for a step whose own limit is ``cap``."""
        left = self.remaining()
        if left <= 0.05:
            raise BudgetExhausted(step, self.timeout)
        return (cap, False) if cap <= left else (left, True)

    def spawn(
        self,
        step: str,
        argv: Sequence[str],
        *,
        extra_env: Mapping[str, str],
        cap: float,
    ) -> subprocess.CompletedProcess[str]:
        """Run a probe with ``env`` plus ``extra_env``: the only way a check starts a process.

        Raises :class:`ForeignEnvironment` when ``env`` belongs to another user,
        :class:`BudgetExhausted` when the budget cuts the step short, and
        ``subprocess.TimeoutExpired`` when the step's own ``cap`` does.
        """
        reason = self.foreign_reason()
        if reason is not None:
            raise ForeignEnvironment(reason)
        seconds, by_budget = self.step_timeout(step, cap)
        try:
            return subprocess.run(
                list(argv),
                env={**self.env, **extra_env},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=seconds,
                check=False,
            )
        except subprocess.TimeoutExpired:
            if by_budget:
                raise BudgetExhausted(step, self.timeout) from None
            raise

    # ------------------------------------------------------------ shared results
    def _once(self, key: str, make: Any) -> Any:
        if key not in self._memo:
            try:
                self._memo[key] = make()
            except MlflowClientEnvError as exc:
                self._memo[key] = exc
            except BudgetExhausted:
                raise  # not memoised: the step did not finish, it did not fail
            except Exception as exc:
                self._memo[key] = _Raised(exc)
        value = self._memo[key]
        if isinstance(value, _Raised):
            raise value.exc
        return value

    def settings(self) -> Overrides | MlflowClientEnvError:
        """Every setting with its source (argument, environment, config files), resolved once."""

        def make() -> Overrides:
            return resolve_overrides(dict(self.overrides), self.env)

        result: Overrides | MlflowClientEnvError = self._once("settings", make)
        return result

    def _overrides(self) -> Overrides:
        """:meth:`settings`, for a memoised step: its error raised (and memoised there)."""
        ov = self.settings()
        if isinstance(ov, MlflowClientEnvError):
            raise ov
        return ov

    def hdfs_client(self) -> tuple[str, str] | MlflowClientEnvError:
        """``(mode, source)`` of the ``hdfs_client`` setting (``("auto", "default")`` when
        unset); the error of a broken config file or an unknown mode."""

        def make() -> tuple[str, str]:
            ov = self._overrides()
            if ov.hdfs_client is None:
                return DEFAULT_MODE, "default"
            return checked_mode(*ov.hdfs_client.pair()), ov.hdfs_client.source

        result: tuple[str, str] | MlflowClientEnvError = self._once("hdfs-client", make)
        return result

    def native_only(self) -> NotNeeded | None:
        """Why this client uses no JVM: ``hdfs_client=native`` was asked for explicitly
        (``auto`` keeps the JVM path: it takes it for a URI hdfs-native cannot serve); else
        None. A setting that cannot be read is None here: the hdfs-native check reports it."""
        ov = self.settings()
        if isinstance(ov, MlflowClientEnvError):
            return None
        try:
            if not native_requested(ov):
                return None
        except MlflowClientEnvError:  # an unknown mode: the hdfs-native check's error
            return None
        assert ov.hdfs_client is not None  # native_requested() said so
        return NotNeeded(
            f"not needed with hdfs_client=native ({ov.hdfs_client.source}): hdfs-native "
            "serves HDFS without a JVM (see the hdfs-native check)",
            "",
        )

    def discovery(self) -> Discovery | MlflowClientEnvError:
        """The JVM path's discovery (Hadoop, its configuration, Java, Kerberos). With
        ``hdfs_client=native`` the checks use :meth:`client_discovery` instead."""

        def make() -> Discovery:
            return discover(self._overrides(), self.env)

        result: Discovery | MlflowClientEnvError = self._once("discovery", make)
        return result

    def native_discovery(self) -> NativeDiscovery | MlflowClientEnvError:
        """The discovery of ``hdfs_client=native`` (``discover_native``: the client
        configuration and Kerberos, no Java, a Hadoop installation only if found)."""

        def make() -> NativeDiscovery:
            return discover_native(self._overrides(), self.env)

        result: NativeDiscovery | MlflowClientEnvError = self._once("native-discovery", make)
        return result

    def client_discovery(self) -> ClientDiscovery | MlflowClientEnvError:
        """The discovery this client is set up with: the native one with an explicit
        ``hdfs_client=native``, else the JVM path's."""
        if self.native_only() is not None:
            return self.native_discovery()
        return self.discovery()

    def environment(self) -> Environment | MlflowClientEnvError:
        """The environment ``setup()`` would compose: ``compose_native``'s (no JVM
        variable) with an explicit ``hdfs_client=native``, else ``compose``'s."""

        def make() -> Environment:
            if self.native_only() is not None:
                n = self.native_discovery()
                if isinstance(n, MlflowClientEnvError):
                    raise n
                return native_environment_of(n, self.env)
            d = self.discovery()
            if isinstance(d, MlflowClientEnvError):
                raise d
            return environment_of(d, self.env)

        result: Environment | MlflowClientEnvError = self._once("environment", make)
        return result

    def tracking_uri(self) -> str | None:
        """The tracking URI a client set up by us would use: the composed one, else the
        setting's (argument, environment, config files), which holds without Hadoop too."""
        env = self.environment()
        if not isinstance(env, MlflowClientEnvError) and env.get("MLFLOW_TRACKING_URI"):
            return env["MLFLOW_TRACKING_URI"]
        ov = self.settings()  # a broken config file: the installation check says so
        setting = None if isinstance(ov, MlflowClientEnvError) else ov.tracking_uri
        return setting.value if setting else self.env.get("MLFLOW_TRACKING_URI")

    def java(self) -> JavaChoice | MlflowClientEnvError:
        """The Java discovery chose; chosen on its own when no Hadoop was found, because Java
        is checked either way (a client with proxied artifacts may still run HDFS tools)."""
        d = self.discovery()
        if not isinstance(d, MlflowClientEnvError):
            return d.java
        if not isinstance(d, HadoopNotFoundError):
            return d

        def make() -> JavaChoice:
            return choose_java(self._overrides(), self.env)

        result: JavaChoice | MlflowClientEnvError = self._once("java", make)
        return result

    def found(self) -> Discovery:
        """The JVM path's discovery, for a check that needs it; :class:`Unmet` when it failed,
        or when no JVM is used (``hdfs_client=native``, :meth:`native_only`)."""
        self.jvm_needed()
        d = self.discovery()
        if isinstance(d, MlflowClientEnvError):
            raise Unmet("discovery", self.not_needed() or d)
        return d

    def not_needed(self) -> NotNeeded | None:
        """Why this client needs no Hadoop (and so no Java, CLASSPATH, libhdfs or pyarrow):
        none was found and the tracking server keeps the artifacts itself; else None.

        As for ``setup()`` and ``env``: only when discovery looked everywhere and found
        nothing (a path given that is not Hadoop stays an error). Asks the tracking server
        only then (its answer is shared with the tracking-server check), so a host with
        Hadoop costs nothing here. None with ``hdfs_client=native``, which needs the client
        configuration whatever the server does (:meth:`native_only` says what it does not need).
        """
        if self.native_only() is not None:
            return None
        if not isinstance(self.discovery(), HadoopAbsentError):
            return None
        from .remote import proxied_location  # here, not at the top: remote imports this module

        location = proxied_location(self)
        if location is None:
            return None
        return NotNeeded(
            f"no Hadoop is needed: the tracking server stores the artifacts at {location}", ""
        )

    def hadoop_needed(self, part: str | None = None) -> None:
        """A declared precondition, "this client uses Hadoop": :class:`Unmet` with a
        :class:`NotNeeded` cause only when it does not (:meth:`not_needed`).

        The checks of the Hadoop chain call it first, so they judge nothing, not even the
        inherited variables; the kerberos check calls it before its Java side, with
        ``part`` naming what is skipped, after the ticket it reports either way.
        """
        _unless_needed("hadoop", self.not_needed(), part)

    def jvm_not_needed(self) -> NotNeeded | None:
        """Why this client uses no JVM path (pyarrow, libhdfs, Java): hdfs_client=native
        (:meth:`native_only`), or no Hadoop at all (:meth:`not_needed`); else None."""
        return self.native_only() or self.not_needed()

    def jvm_needed(self, part: str | None = None) -> None:
        """A declared precondition, "this client uses the JVM path" (pyarrow -> libhdfs ->
        a JVM): :class:`Unmet` with a :class:`NotNeeded` cause naming ``hdfs_client=native``
        and where it was asked for, when it was (:meth:`native_only`). ``part`` names what is
        not needed.

        The checks of the JVM path call it first (installation, java, classpath,
        native-libraries, process-start, jvm, hdfs), before :meth:`hadoop_needed` where they
        call that too; the kerberos check calls it before its Java side, after the ticket.
        Under ``auto`` and ``jvm`` it does nothing: those checks run as they always have.
        """
        _unless_needed("jvm", self.native_only(), part)

    def client(self) -> ClientDiscovery:
        """:meth:`client_discovery`, for a check that needs it (the client configuration,
        Kerberos); :class:`Unmet` when it failed."""
        d = self.client_discovery()
        if isinstance(d, MlflowClientEnvError):
            raise Unmet("discovery", self.not_needed() or d)
        return d

    def composed(self) -> Environment:
        """The composed environment, for a check that needs it; :class:`Unmet` otherwise."""
        env = self.environment()
        if isinstance(env, MlflowClientEnvError):
            raise Unmet("discovery", self.not_needed() or env)
        return env

    def memo(self, key: str, make: Any) -> Any:
        """Share an expensive result (a server answer, a probe) between checks."""
        return self._once(key, make)


def _unless_needed(precondition: str, why: NotNeeded | None, part: str | None) -> None:
    """:class:`Unmet` for ``precondition`` with ``why`` as its cause (``part``: what is not
    needed, before the reason), when there is a reason; else nothing."""
    if why is not None:
        problem = f"{part}: {why.problem}" if part else why.problem
        raise Unmet(precondition, NotNeeded(problem, why.fix))


def for_this_process(overrides: Mapping[str, str | None], **kw: Any) -> Context:
    start: dict[str, str] | None
    try:
        with open("/proc/self/environ", "rb") as fh:
            start = parse_environ(fh.read())
    except OSError:
        start = None
    return Context(env=dict(os.environ), overrides=overrides, start_env=start, **kw)


def for_process(pid: int, overrides: Mapping[str, str | None], **kw: Any) -> Context:
    """A context for ``doctor --pid``: the target's environment, marked with its uids.

    For a kernel our launcher started in its own interpreter, the environment is what it
    inherited with the launcher's record applied (``jupyter.record``), when the process is
    the caller's own user's and the record is there."""
    snap = snapshot(pid)
    env: Mapping[str, str] = snap.environ
    inside = started_in_process(snap.cmdline)
    found = None
    problem = None
    mine = snap.uid == snap.euid == os.getuid() == os.geteuid()
    if inside and mine and snap.start and snap.namespace:
        try:
            found = read_record(
                snap.environ, snap.namespace, snap.own_pid, snap.start, shown_as=pid
            )
        except (MlflowClientEnvError, OSError, KeyError) as exc:  # KeyError: no home, no passwd
            problem = (
                f"{exc.problem} ({exc.fix})"
                if isinstance(exc, MlflowClientEnvError)
                else f"its record could not be read ({exc!r})"
            )
        else:
            if found is None:
                problem = (
                    "no record of it was found (a kernel of an older version, one that could "
                    "not write its record: see the kernel's log, or a process it forked)"
                )
            else:
                env = found.env
    elif inside and mine:
        missing = "start time (/proc/PID/stat)" if not snap.start else "PID namespace"
        problem = f"its {missing} could not be read, which names its record"
    elif inside:
        problem = "the process is another user's: its record is not read"
    return Context(
        env=env,
        overrides=overrides,
        start_env=snap.environ,
        pid=pid,
        env_uid=snap.uid,
        env_euid=snap.euid,
        set_inside=inside,
        record=found,
        record_problem=problem,
        **kw,
    )
