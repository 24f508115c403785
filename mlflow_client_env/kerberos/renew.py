"""Keeping a ticket valid for as long as a notebook or a command runs.

Training runs outlive tickets (catalog D6). ``keep_ticket_fresh`` renews in a
background thread at two thirds of the ticket's lifetime, so a 5-second test
ticket and a 10-hour one are both renewed well before they expire; once the
renewable window is over it logs in again from the keytab. While the KDC is
down it retries with back-off and says so (``status``/``last_error`` and the
``mlflow_client_env.kerberos.renew`` logger). It sleeps on an Event, so it costs no CPU
between renewals. ``run_command`` does the same around a child process, like
``k5start``/``krenew``. Writers of a FILE cache take the cache's lock (in the
user's private runtime dir) and swap a finished copy in (see ``kinit``), so
several renewers can share one cache. Library code never prints: a command that
cannot be started raises ``CommandStartError`` and the CLI reports it.

gssapi cannot renew, so renewal without a keytab runs ``kinit -R`` on a copy
of the cache.

**A JVM that is already running.** Renewing the cache is not enough for a libhdfs
JVM that lives for hours (tested with Hadoop 2.7.3's UGI on Java 17, one
``pyarrow.fs.HadoopFileSystem`` written to across several ticket lifetimes):

- With ``kerb_ticket`` (what MLflow passes from ``MLFLOW_KERBEROS_TICKET_CACHE``) the
  filesystem's login holds the TGT it read when it connected. Hadoop never reads that
  cache again for it: no renewal thread, no relogin. Once that TGT expires, every new
  NameNode connection fails with ``GSS initiate failed ... Failed to find any Kerberos
  tgt``, however fresh the cache is.
- Without ``kerb_ticket`` the JVM's login user does re-read the cache, but 2.7.3 allows
  one relogin per 600 s (a constant there; ``hadoop.kerberos.min.seconds.before.relogin``
  only exists in later Hadoop releases), and its own renewal thread (``kinit -R`` at 80%
  of the lifetime) gives up on the first failure.
- A new ``HadoopFileSystem`` reads the cache again. MLflow makes one for every artifact
  call, so MLflow itself is fine as long as the cache is renewed.

What makes the same filesystem keep working: two JVM options in ``LIBHDFS_OPTS``
(``jvm_renewal_options``): ``-Djavax.security.auth.useSubjectCredsOnly=false`` and a JAAS
file whose ``com.sun.security.jgss.krb5.initiate`` entry reads the renewed FILE cache
with ``doNotPrompt=true``. Once the TGT held by the login has expired, Java's GSS logs in
again from that cache instead of failing. Without the JAAS entry, Java's default for this
login prompts for a user name on stdin, which can hang a process run from a terminal.
``keep_ticket_fresh()`` adds both options to this process's ``LIBHDFS_OPTS`` when the
process is set up for libhdfs (call it after ``setup()``), and ``run`` adds them to the
command's. Limits:

- the options act only if they are set before the JVM starts (the first HDFS access in the
  process). When a JVM already runs without them, ``keep_ticket_fresh`` logs a warning
  (``TicketRenewer.jvm``): make a new ``HadoopFileSystem`` after the ticket is renewed, or
  restart the kernel;
- Java reads FILE caches only, so a KEYRING or KCM cache being renewed does not help the JVM
  (renew its FILE copy instead);
- after the first TGT expires, each new NameNode connection reads the cache file and may ask
  the KDC for a service ticket. Open connections are not re-authenticated;
- a ticket that cannot be renewed, and no keytab, still ends the job (catalog D6).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Literal

from ..errors import CommandStartError, KinitError, MlflowClientEnvError
from ..jvm import running_jvm
from ..records import record
from ..safeio import write_private_file
from ..userdirs import private_cache_dir
from .ccache import read_regular_file
from .login import (
    cache_lock,
    check_login_inputs,
    keytab_login,
    keytab_login_asked,
    login_locked,
    replace_ccache,
)
from .profile import ccache_path, discover_kerberos
from .ticket import TicketStatus, ticket_status

log = logging.getLogger(__name__)

RenewerStatus = Literal["starting", "ok", "retrying", "stale", "stopped"]
#: Renew when this fraction of the ticket's lifetime has passed.
RENEW_FRACTION = 2 / 3
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


#: Lets Java's GSS log in again (from the JAAS entry below) when the login's TGT has expired.
SUBJECT_CREDS_OPTION = "-Djavax.security.auth.useSubjectCredsOnly=false"
SUBJECT_CREDS_KEY = "-Djavax.security.auth.useSubjectCredsOnly="
JAAS_KEY = "-Djava.security.auth.login.config="
#: The JAAS login Java's GSS uses then: the renewed FILE cache, never a prompt on stdin.
JAAS_TEMPLATE = """com.sun.security.jgss.krb5.initiate {{
  com.sun.security.auth.module.Krb5LoginModule required
  useTicketCache=true
  ticketCache="{cache}"
  doNotPrompt=true
  useKeyTab=false
  renewTGT=false;
}};
"""
JvmState = Literal[
    "prepared", "already", "started", "not-file", "user-jaas", "off", "unavailable", "no-libhdfs"
]
#: Variables that say a process is set up for libhdfs (by setup(), 'env' or by hand).
LIBHDFS_VARIABLES = ("LIBHDFS_OPTS", "CLASSPATH", "ARROW_LIBHDFS_DIR")


@record
class JvmRenewal:
    """Whether a libhdfs JVM will take the renewed ticket from the cache (see the module doc).

    ``state``: "prepared" (the options were added to LIBHDFS_OPTS before any JVM started),
    "already" (they were there), "started" (a JVM runs without them: reconnect after a
    renewal), "not-file" (Java cannot read this cache type), "user-jaas" (LIBHDFS_OPTS has a
    JAAS file of its own, left alone), "off" (useSubjectCredsOnly set otherwise, or not asked),
    "unavailable" (the options cannot be written, ``message`` says why), "no-libhdfs" (this
    process is not set up for libhdfs yet: nothing was changed).
    """

    state: JvmState
    message: str
    options: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.state in ("prepared", "already")


def jaas_file(cache: Path, env: Mapping[str, str] | None = None) -> Path:
    """The JAAS file (in the user's private cache folder) that reads ``cache``; written once."""
    text = JAAS_TEMPLATE.format(cache=cache)
    digest = hashlib.sha256(str(cache).encode()).hexdigest()[:16]
    path = private_cache_dir(env) / f"jgss-initiate-{digest}.jaas"
    try:
        if path.read_text(encoding="utf-8") == text:
            return path
    except (OSError, UnicodeDecodeError):
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        write_private_file(tmp, text.encode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def jvm_renewal_options(cache: Path, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The JVM options that let a running libhdfs JVM take a renewed ticket from ``cache``."""
    return (SUBJECT_CREDS_OPTION, f"{JAAS_KEY}{jaas_file(cache, env)}")


def prepare_jvm(
    ccache: str, env: MutableMapping[str, str], *, in_process: bool = False
) -> JvmRenewal:
    """Add ``jvm_renewal_options`` to ``env['LIBHDFS_OPTS']`` (user options are kept).

    ``in_process``: ``env`` is this process's environment, whose JVM (if libhdfs already
    started one) read LIBHDFS_OPTS when it started and will not read it again.
    """
    path = ccache_path(ccache)
    if path is None:
        return JvmRenewal(
            "not-file",
            f"{ccache} is not a FILE cache, which is all Java reads: the JVM does not see "
            "its renewals (renew the FILE copy made for Java instead)",
        )
    tokens = env.get("LIBHDFS_OPTS", "").split()
    creds = [t for t in tokens if t.startswith(SUBJECT_CREDS_KEY)]
    jaas = [t for t in tokens if t.startswith(JAAS_KEY)]
    if creds and creds[-1] != SUBJECT_CREDS_OPTION:
        return JvmRenewal("off", f"LIBHDFS_OPTS sets {creds[-1]}; left as it is")
    if jaas and not creds:
        return JvmRenewal(
            "user-jaas",
            f"LIBHDFS_OPTS names a JAAS file of its own ({jaas[-1]}); to let the JVM take "
            f"renewed tickets, give it a com.sun.security.jgss.krb5.initiate entry reading "
            f"{path} with doNotPrompt=true, and add {SUBJECT_CREDS_OPTION}",
        )
    if creds and jaas:
        return JvmRenewal("already", "LIBHDFS_OPTS lets the JVM take renewed tickets")
    if in_process and running_jvm() is not None:
        return JvmRenewal(
            "started",
            "a JVM already runs in this process without the options that let it take a "
            "renewed ticket: a HadoopFileSystem made before now fails once its ticket "
            "expires, renewed or not. Make a new HadoopFileSystem after each renewal (MLflow "
            "does, for every call), or call keep_ticket_fresh() before the first HDFS access",
        )
    if any(c in str(path) for c in ' "\\') or not path.is_absolute():
        return JvmRenewal(
            "unavailable",
            f"the cache path {path} cannot be written into LIBHDFS_OPTS and a JAAS file "
            "(spaces, quotes or backslashes, or not absolute)",
        )
    try:
        options = jvm_renewal_options(path, env)
    except (OSError, MlflowClientEnvError) as exc:
        why = exc.problem if isinstance(exc, MlflowClientEnvError) else str(exc)
        return JvmRenewal("unavailable", f"cannot write the JAAS file: {why}")
    if " " in options[1]:
        return JvmRenewal(
            "unavailable", f"the JAAS file path {options[1]} has a space (LIBHDFS_OPTS splits)"
        )
    env["LIBHDFS_OPTS"] = " ".join([*tokens, *options])
    return JvmRenewal(
        "prepared", "LIBHDFS_OPTS lets the JVM take renewed tickets from " + str(path), options
    )


def find_kinit(env: Mapping[str, str] | None = None) -> str | None:
    """The MIT ``kinit`` on PATH (a conda one may lack KEYRING support, catalog D4)."""
    env = os.environ if env is None else env
    return shutil.which("kinit", path=env.get("PATH")) or shutil.which(
        "kinit", path="/usr/bin:/bin"
    )


class TicketRenewer:
    """A background thread keeping the ticket in ``ccache`` valid. Use ``keep_ticket_fresh``.

    Attributes for callers: ``status`` ("starting", "ok", "retrying" while the KDC
    cannot be reached, "stale" when the ticket can no longer be renewed and there is
    no keytab, "stopped"), ``last_error``, ``last_ticket``, the counters
    ``renewals``, ``relogins``, ``failures``, and ``jvm`` (a :class:`JvmRenewal`: whether
    this process's libhdfs JVM takes the renewed ticket; None when not asked).
    """

    def __init__(
        self,
        ccache: str,
        *,
        keytab: str | os.PathLike[str] | None = None,
        principal: str | None = None,
        threshold: float | None = None,
        fraction: float = RENEW_FRACTION,
        min_interval: float = 0.5,
        max_backoff: float = 60.0,
        max_sleep: float = 300.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        keytab_login_asked(keytab, principal)  # both or neither (KeytabError)
        if not 0 < fraction < 1:
            raise ValueError("fraction must be between 0 and 1")
        self.ccache = ccache
        self.keytab = Path(keytab) if keytab is not None else None
        self.principal = principal
        self.threshold = threshold
        self.fraction = fraction
        self.min_interval = min_interval
        self.max_backoff = max_backoff
        self.max_sleep = max_sleep
        self.env = dict(os.environ if env is None else env)
        self.status: RenewerStatus = "starting"
        self.last_error: str | None = None
        self.last_ticket: TicketStatus | None = None
        self.renewals = 0
        self.relogins = 0
        self.failures = 0
        self.jvm: JvmRenewal | None = None
        self._consecutive_failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> TicketRenewer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name=f"ticket-renewer {self.ccache}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread (it finishes a renewal in progress first)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.status = "stopped"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> TicketRenewer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        err = f", last error: {self.last_error}" if self.last_error else ""
        return (
            f"<TicketRenewer {self.ccache} {self.status}: {self.renewals} renewals, "
            f"{self.relogins} logins, {self.failures} failures{err}>"
        )

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.run_once()
            except Exception as exc:  # never let the thread die silently
                log.exception("ticket renewer for %s: unexpected error", self.ccache)
                delay = self._failed(f"unexpected error: {exc}")
            self._stop.wait(max(delay, self.min_interval))

    # ---------------------------------------------------------------- one cycle
    def _margin(self, st: TicketStatus) -> float:
        """Seconds before expiry at which to renew."""
        life = st.lifetime or float(st.seconds_left or 0)
        margin = life * (1 - self.fraction)
        return min(self.threshold, margin) if self.threshold is not None else margin

    def _due_in(self, st: TicketStatus, now: float) -> float:
        if not st.ok or st.expires_at is None:
            return 0.0
        return st.expires_at.timestamp() - self._margin(st) - now

    def _status(self) -> TicketStatus:
        st = ticket_status(self.ccache, env=self.env, threshold=0, realms=())
        self.last_ticket = st
        return st

    def run_once(self) -> float:
        """Check the ticket, renew or log in again if due; return seconds until the next check."""
        now = time.time()
        st = self._status()
        due = self._due_in(st, now)
        if st.ok and due > 0:
            self._ok()
            return min(due, self.max_sleep)
        path = ccache_path(self.ccache)
        try:
            if path is None:
                return self._act(path)
            with cache_lock(path, env=self.env):
                return self._act(path)
        except MlflowClientEnvError as exc:
            return self._failed(exc.problem)

    def _act(self, path: Path | None) -> float:
        now = time.time()
        st = self._status()  # another renewer may have renewed while we waited for the lock
        due = self._due_in(st, now)
        if st.ok and due > 0:
            self._ok()
            return min(due, self.max_sleep)
        renewable_gain = (
            st.renew_until.timestamp() - now if st.ok and st.renew_until is not None else 0.0
        )
        kinit = find_kinit(self.env)
        renew_error: str | None = None
        if st.ok and st.renewable and renewable_gain > self._margin(st) and kinit:
            try:
                self._renew(kinit, path)
                self.renewals += 1
                return self._succeeded("renewed")
            except KinitError as exc:
                renew_error = exc.problem
        if self.keytab is not None and self.principal is not None:
            if path is None:
                raise KinitError(
                    f"keytab logins write FILE caches; {self.ccache} is not one",
                    "pass a FILE cache (ccache='FILE:/tmp/krb5cc_...')",
                )
            login_locked(self.keytab, self.principal, path)
            self.relogins += 1
            return self._succeeded("logged in again from the keytab")
        if renew_error is not None:
            raise KinitError(renew_error, "is the KDC reachable? retrying")
        # Nothing we can do; keep watching so a manual kinit is picked up.
        if st.ok:
            why = "it is not renewable" if not st.renewable else "its renewable window is over"
            msg = f"cannot renew the ticket in {self.ccache}: {why}, and there is no keytab"
            wait = max(st.seconds_left or 0, self.min_interval)
        else:
            msg = f"no valid ticket to renew ({st.message}), and there is no keytab"
            wait = min(self.max_backoff, 5.0)
        if self.status != "stale" or self.last_error != msg:
            log.warning("ticket renewer: %s; run kinit", msg)
        self.status, self.last_error = "stale", msg
        return min(wait, self.max_sleep)

    def _renew(self, kinit: str, path: Path | None) -> None:
        def renew_into(target: str) -> None:
            if path is not None:  # a bounded read that never blocks (a FIFO), then O_EXCL
                tmp = Path(target.split(":", 1)[1])
                write_private_file(tmp, read_regular_file(path))
            argv = [kinit, "-R", "-c", target]
            try:
                proc = subprocess.run(
                    argv,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise KinitError(f"'kinit -R' failed: {exc}", "check the kinit binary") from None
            if proc.returncode != 0:
                detail = (proc.stderr or proc.stdout).strip() or f"exit code {proc.returncode}"
                raise KinitError(f"renewing {self.ccache} failed: {detail}", "retrying")

        if path is None:
            renew_into(self.ccache)  # KEYRING/KCM: MIT updates those in place
        else:
            replace_ccache(path, renew_into)

    def _ok(self) -> None:
        if self.status != "ok":  # e.g. another renewer of this cache succeeded meanwhile
            self.status, self.last_error = "ok", None
            self._consecutive_failures = 0

    def _succeeded(self, what: str) -> float:
        if self._consecutive_failures:
            log.warning(
                "ticket renewer: %s %s after %d failed attempts; the ticket is valid again",
                what,
                self.ccache,
                self._consecutive_failures,
            )
        else:
            log.info("ticket renewer: %s %s", what, self.ccache)
        self._consecutive_failures = 0
        self.status, self.last_error = "ok", None
        st = self._status()
        return max(self._due_in(st, time.time()), self.min_interval)

    def _failed(self, error: str) -> float:
        self.failures += 1
        self._consecutive_failures += 1
        delay = min(self.max_backoff, self.min_interval * 2.0 ** (self._consecutive_failures - 1))
        self.status, self.last_error = "retrying", error
        log.warning(
            "ticket renewer: %s (attempt %d; retrying in %.1f s)",
            error,
            self._consecutive_failures,
            delay,
        )
        return delay


def keep_ticket_fresh(
    keytab: str | os.PathLike[str] | None = None,
    principal: str | None = None,
    ccache: str | None = None,
    *,
    threshold: float | None = None,
    fraction: float = RENEW_FRACTION,
    max_backoff: float = 60.0,
    env: Mapping[str, str] | None = None,
    login: bool = True,
    jvm: bool = True,
) -> TicketRenewer:
    """Keep the ticket in ``ccache`` valid from a background thread; returns the running
    renewer (``.stop()``, ``.status``, ``.last_error``).

    The ticket is renewed when ``fraction`` of its lifetime has passed, or when fewer
    than ``threshold`` seconds are left, whichever comes later (a threshold can delay
    renewal but never past the fraction's margin). With a ``keytab`` and ``principal``
    it logs in first (when ``login``) and again whenever renewal is no longer possible;
    without, it renews with ``kinit -R`` until the renewable window ends. ``ccache``
    defaults to the user's cache (for keytab logins: a FILE cache Java can read).

    With ``jvm`` (and no ``env``: this process's environment), when the process is set up
    for libhdfs (call it after ``setup()``), it also adds to ``LIBHDFS_OPTS`` the JVM
    options that let a libhdfs JVM, once started, take the renewed ticket from the cache
    (see the module doc; ``.jvm`` says what happened, and a warning is logged when a JVM
    already runs without them).
    """
    if keytab is not None:
        ccache = check_login_inputs(keytab, principal, ccache, env=env).ccache
    elif ccache is None:
        ccache = discover_kerberos(env).ccache
    renewer = TicketRenewer(
        ccache,
        keytab=keytab,
        principal=principal,
        threshold=threshold,
        fraction=fraction,
        max_backoff=max_backoff,
        env=env,
    )
    if jvm and env is None:
        if any(v in os.environ for v in LIBHDFS_VARIABLES):
            renewer.jvm = prepare_jvm(ccache, os.environ, in_process=True)
        else:
            renewer.jvm = JvmRenewal(
                "no-libhdfs",
                "this process is not set up for libhdfs (no LIBHDFS_OPTS, CLASSPATH or "
                "ARROW_LIBHDFS_DIR): call keep_ticket_fresh() after setup() to let its JVM "
                "take renewed tickets",
            )
        if not renewer.jvm.ok:  # visible in a notebook: a long-lived JVM would lose its ticket
            log.warning("ticket renewer: %s", renewer.jvm.message)
    if keytab is not None and principal is not None and login:
        st = ticket_status(ccache, env=env, threshold=0, realms=())
        if not st.ok or st.principal != _qualified(principal, st.realm):
            keytab_login(keytab, principal, ccache, env=env)
    return renewer.start()


def _qualified(principal: str, realm: str | None) -> str:
    return principal if "@" in principal or not realm else f"{principal}@{realm}"


def run_command(
    argv: Sequence[str],
    *,
    keytab: str | os.PathLike[str] | None = None,
    principal: str | None = None,
    ccache: str | None = None,
    threshold: float | None = None,
    max_backoff: float = 60.0,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run ``argv`` while a renewer keeps its ticket valid; return its exit code
    (128+N when it died of signal N). Raises ``CommandStartError`` (exit code 127)
    when it cannot be started.

    SIGINT, SIGTERM and SIGHUP are forwarded to the command. The command gets
    ``KRB5CCNAME`` (and, for FILE caches, ``MLFLOW_KERBEROS_TICKET_CACHE``) of the
    renewed cache, and ``LIBHDFS_OPTS`` with the options that let its libhdfs JVM take
    the renewed ticket (``prepare_jvm``). Raises KinitError when there is no ticket to
    keep (and no keytab).
    """
    if not argv:
        raise KinitError("no command given", "mlflow-client-env run -- CMD ARGS...")
    base = dict(os.environ if env is None else env)
    if keytab is None:
        ccache = ccache or discover_kerberos(base).ccache
        st = ticket_status(ccache, env=base, threshold=0, realms=())
        if not st.ok:
            raise KinitError(st.message, st.fix or "run kinit")
    renewer = keep_ticket_fresh(
        keytab, principal, ccache, threshold=threshold, max_backoff=max_backoff, env=base
    )
    child_env = dict(base, KRB5CCNAME=renewer.ccache)
    path = ccache_path(renewer.ccache)
    if path is not None:
        child_env["MLFLOW_KERBEROS_TICKET_CACHE"] = str(path)
    renewer.jvm = prepare_jvm(renewer.ccache, child_env)
    if not renewer.jvm.ok:
        log.warning("ticket renewer: %s", renewer.jvm.message)
    try:
        try:
            proc = subprocess.Popen(list(argv), env=child_env)
        except OSError as exc:
            raise CommandStartError(
                f"cannot start {argv[0]}: {exc.strerror}",
                "check the command name and that it is on PATH and executable",
            ) from None

        def forward(signum: int, frame: FrameType | None) -> None:
            if proc.poll() is None:
                proc.send_signal(signum)

        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in FORWARDED_SIGNALS:
                previous[sig] = signal.signal(sig, forward)
        try:
            rc = proc.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return rc if rc >= 0 else 128 - rc
    finally:
        renewer.stop()
