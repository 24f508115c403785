"""HDFS through hdfs-native, with every step bounded in time and failures explained.

hdfs-native (0.14.7) has no timeout on NameNode RPCs: a NameNode that accepts a
connection and never answers (stopped, swapping, a half-open firewall) blocks a call
forever, and a NameNode that refuses connections is retried with failover back-off
for about three minutes. So every call here runs on hdfs-native's asyncio client, in
one private event-loop thread per process, each awaited step under a deadline
(``MLFLOW_CLIENT_ENV_HDFS_TIMEOUT``, 60 s by default). While a step waits, the
NameNode addresses are probed once a second; when all of them refuse connections for
as long as Hadoop's own client would retry (``ipc.client.connect.max.retries`` x
``ipc.client.connect.retry.interval``, 10 x 1 s by default), the step fails with
``namenode-unreachable`` instead of waiting out the deadline.

hdfs-native's asyncio API polls its futures outside a tokio runtime, where the sleep
between two failover rounds panics ("there is no reactor running"). So the client is
made with one try per NameNode (``dfs.client.failover.max.attempts`` capped at the
number of NameNodes minus one), and a step that sent nothing yet (status, listing,
mkdirs, delete, create, open) is sent again here while every NameNode refuses, for the
same budget.

Data moves in bounded chunks (1 MiB up, 16 MiB down), driven from the caller's thread,
so MLflow's download threads stay parallel and memory stays flat.

Closing a written file: ``close()`` flushes the last packet, then asks the NameNode to
``complete()`` the file. When the DataNode's report of the finished block has not
reached the NameNode yet (on a quiet cluster, nearly always: the report is sent the
moment the block is finalized, and races the client's ``complete()``), the NameNode
says "not yet" and hdfs-native 0.14 sleeps 500 ms (a constant) before asking again.
No setting changes that. What is done instead (``fast close``): once the NameNode
shows the file at its full length, the first ``complete()`` has committed the last
block, so the data is safely with the DataNodes and only the NameNode's bookkeeping is
pending; the sleeping close is cancelled and ``complete()`` is asked again at 5 ms,
10 ms, 20 ms, ... The details and why it is safe: docs/native-hdfs.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from ..errors import (
    HdfsClientSettingError,
    HdfsDataNodeError,
    HdfsKerberosError,
    HdfsPermissionError,
    HdfsTimeoutError,
    HdfsUnreachableError,
    MlflowClientEnvError,
    NativeHdfsError,
)
from ..hadoop import TOKEN_FILE_VAR
from ..hadoop.tokens import read_token_file, rejection_of
from ..kerberos.ccache import read_file_ccache
from ..records import record
from ..reference import lookup
from .mode import HDFS_CLIENT_VAR, TIMEOUT_VAR, parse_extra_conf, parse_umask

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..hadoop.conf import HadoopConf

T = TypeVar("T")

#: Seconds one step (an RPC, a chunk of data) may take.
DEFAULT_TIMEOUT = 60.0
#: ``close()`` may retry ``complete()`` for 0.5 + 1 + 2 + 4 + 8 s on a slow block report.
CLOSE_EXTRA = 20.0
#: Turns the fast close off (``0``); on by default for the hdfs-native versions it was
#: verified with.
FAST_CLOSE_VAR = "MLFLOW_CLIENT_ENV_HDFS_FAST_CLOSE"
FAST_CLOSE_VERSIONS = ("0.14.",)
WRITE_CHUNK = 1 << 20
#: 16 MiB: fewer round trips through the event loop; measured on the sandbox (256 MiB, 6
#: fresh processes each, interleaved): median ~266 MiB/s vs ~218 with 4 MiB chunks, and no
#: better with the next chunk read ahead while one is written
READ_CHUNK = 16 << 20
#: How often a waiting step probes the NameNodes.
PROBE_INTERVAL = 1.0
DEFAULT_NAMENODE_PORT = 8020
#: Hadoop's Java client defaults, which pyarrow's files get when the configuration is silent.
DEFAULT_REPLICATION = 3
DEFAULT_BLOCK_SIZE = 128 << 20
DEFAULT_UMASK = 0o022


# ----------------------------------------------------------------------------- the loop
class _LoopThread:
    """An asyncio loop in a daemon thread: hdfs-native's async calls run here."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="mlflow-client-env-hdfs", daemon=True
        )
        self.thread.start()

    def submit(self, coro: Awaitable[T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]


_LOOP: _LoopThread | None = None
_LOCK = threading.Lock()
#: Seconds the exit hook waits for steps still running (another thread's upload) to stop.
EXIT_GRACE = 1.0
#: Seconds the exit hook lets go of the GIL for wake-ups already on their way.
WAKE_GRACE = 0.05
#: Set by the exit hook: clients made later are kept, steps run later end with WAKE_GRACE.
_EXITING = False


def _loop() -> _LoopThread:
    """The process's loop thread (a new one in a forked child: threads do not survive fork)."""
    global _LOOP
    with _LOCK:
        if _LOOP is None or _LOOP.pid != os.getpid():
            if _LOOP is None:
                import atexit

                atexit.register(_quiesce)
            _LOOP = _LoopThread()
        return _LOOP


def _quiesce() -> None:
    """At interpreter exit, before finalization: let hdfs-native go quiet.

    hdfs-native's threads wake the Python coroutines that await them by calling into
    Python (``loop.call_soon_threadsafe``). Once the interpreter is finalizing, a thread
    that asks for the GIL is ended with ``pthread_exit``, which cannot unwind through
    Rust: the process aborts (SIGABRT, exit status 134) after the user's script has
    finished. In CI about one run in twenty under load did. So, while Python still
    serves those calls: the steps still running are cancelled (their Rust futures are
    dropped, so no answer that arrives later wakes anything), and the GIL is let go for
    a moment so that wake-ups already on their way land now.

    The clients are kept, on purpose, until the process ends: dropping one shuts down its
    tokio runtime, which waits for its threads while holding the GIL, and one of them
    may be waiting for the GIL (a deadlock here, an abort during finalization). That
    includes clients a forked child inherited (their runtime's threads did not survive
    the fork) and clients made by exit hooks that run after this one (``atexit`` runs
    the last registered first: MLflow's own, registered at import, come later); steps
    run after this hook end with the same short wait.
    """
    global _EXITING
    _EXITING = True
    for client in _CLIENTS.values():  # never freed, so never dropped during finalization
        _pin(client)
    lt = _LOOP
    if lt is None or lt.pid != os.getpid():
        return

    async def drain() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=EXIT_GRACE)

    with contextlib.suppress(Exception):  # a step that would not stop: left as it is
        lt.submit(drain()).result(timeout=EXIT_GRACE + 1)
    import time

    time.sleep(WAKE_GRACE)


def _pin(client: Any) -> None:
    """Keep ``client`` (and so its tokio runtime) alive until the process ends."""
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(client))


# ----------------------------------------------------------------------------- settings
def step_timeout(env: Mapping[str, str]) -> float:
    raw = env.get(TIMEOUT_VAR)
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise HdfsClientSettingError(
            f"{TIMEOUT_VAR}={raw!r} is not a positive number of seconds",
            f"set {TIMEOUT_VAR} to the seconds one HDFS step may take (default {DEFAULT_TIMEOUT:g})",
        )
    return value


@functools.cache
def hdfs_native_version() -> str | None:
    """The installed hdfs-native's version (None when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hdfs-native")
    except PackageNotFoundError:
        return None


def fast_close_enabled(env: Mapping[str, str]) -> bool:
    if env.get(FAST_CLOSE_VAR, "").strip() in ("0", "false", "no", "off"):
        return False
    installed = hdfs_native_version()
    return installed is not None and installed.startswith(FAST_CLOSE_VERSIONS)


def _size(text: str | None, default: int) -> int:
    """Hadoop's ``getLongBytes``: ``134217728``, ``128m``, ``1g``; the default when unset or bad."""
    if not text:
        return default
    t = text.strip().lower()
    mult = 1
    if t and t[-1] in "kmgtpe":
        mult = 1 << (10 * ("kmgtpe".index(t[-1]) + 1))
        t = t[:-1]
    try:
        return int(float(t) * mult) if "." in t else int(t) * mult
    except ValueError:
        return default


def _int(text: str | None, default: int) -> int:
    try:
        return int((text or "").strip())
    except ValueError:
        return default


@record
class WriteDefaults:
    """What Hadoop's Java client gives a new file or folder: replication and block size
    from the client configuration (else 3 and 128 MiB, not the NameNode's defaults), and
    permissions 0666 / 0777 less ``fs.permissions.umask-mode``."""

    replication: int
    block_size: int
    file_permission: int
    dir_permission: int


def write_defaults(props: Mapping[str, str]) -> WriteDefaults:
    umask = parse_umask(props.get("fs.permissions.umask-mode") or "")
    umask = DEFAULT_UMASK if umask is None else umask
    return WriteDefaults(
        max(1, _int(props.get("dfs.replication"), DEFAULT_REPLICATION)),
        _size(props.get("dfs.blocksize") or props.get("dfs.block.size"), DEFAULT_BLOCK_SIZE),
        0o666 & ~umask,
        0o777 & ~umask,
    )


def _address(text: str, default_port: int = DEFAULT_NAMENODE_PORT) -> tuple[str, int] | None:
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        return (text.strip(), default_port) if text.strip() else None
    return (host, int(port)) if port.isdigit() else None


def namenode_addresses(
    scheme: str, host: str | None, port: int | None, props: Mapping[str, str]
) -> tuple[tuple[str, int], ...]:
    """Where the NameNodes of this target listen: the URI's host and port, a nameservice's
    NameNodes, fs.defaultFS's when the URI has no host; for viewfs, every NameNode named."""
    import urllib.parse

    if not host:
        default = urllib.parse.urlparse(
            props.get("fs.defaultFS") or props.get("fs.default.name") or ""
        )
        if not default.hostname:
            return ()
        return namenode_addresses(default.scheme, default.hostname, default.port, props)
    if scheme == "viewfs":
        out: list[tuple[str, int]] = []
        for key, value in props.items():
            if key.startswith(f"fs.viewfs.mounttable.{host}.") and value.startswith("hdfs://"):
                target = urllib.parse.urlparse(value)
                if target.hostname:
                    out += namenode_addresses("hdfs", target.hostname, target.port, props)
        return tuple(dict.fromkeys(out))
    if port:
        return ((host, port),)
    ids = [i.strip() for i in (props.get(f"dfs.ha.namenodes.{host}") or "").split(",") if i.strip()]
    if ids:
        found = (_address(props.get(f"dfs.namenode.rpc-address.{host}.{i}") or "") for i in ids)
        return tuple(a for a in found if a is not None)
    return ((host, DEFAULT_NAMENODE_PORT),)


FAILOVER_ATTEMPTS = "dfs.client.failover.max.attempts"


def _namenodes_per_nameservice(
    scheme: str, host: str | None, port: int | None, props: Mapping[str, str]
) -> list[int]:
    """How many NameNodes each nameservice the target reaches has (1 for a plain NameNode)."""
    import urllib.parse

    if not host:
        default = urllib.parse.urlparse(props.get("fs.defaultFS") or "")
        if not default.hostname:
            return [1]
        return _namenodes_per_nameservice(default.scheme, default.hostname, default.port, props)
    if scheme == "viewfs":
        counts = [
            n
            for key, value in props.items()
            if key.startswith(f"fs.viewfs.mounttable.{host}.") and value.startswith("hdfs://")
            for n in _namenodes_per_nameservice(
                "hdfs",
                urllib.parse.urlparse(value).hostname,
                urllib.parse.urlparse(value).port,
                props,
            )
        ]
        return counts or [1]
    if port:
        return [1]
    ids = [i for i in (props.get(f"dfs.ha.namenodes.{host}") or "").split(",") if i.strip()]
    return [max(1, len(ids))]


def _is_io_failure(error: BaseException | None) -> bool:
    """An I/O failure of hdfs-native (not a path error), or its panic in a failover sleep."""
    if isinstance(error, OSError):
        return not isinstance(error, _PATH_ERRORS)
    return type(error).__name__ == "PanicException" and "no reactor running" in str(error)


# ----------------------------------------------------------------------------- Kerberos
def _ccache_file(name: str) -> str | None:
    """The path of a FILE cache name (``FILE:/x`` or ``/x``); None for other types."""
    if name.startswith("FILE:"):
        return name[5:]
    if name.startswith("/"):
        return name
    return None


def kerberos_arguments(env: Mapping[str, str]) -> dict[str, str]:
    """hdfs-native's explicit Kerberos arguments for MLflow's settings, as pyarrow gets them:
    ``MLFLOW_KERBEROS_TICKET_CACHE`` (the cache) and ``MLFLOW_KERBEROS_USER`` (the principal).
    Empty when libgssapi's default (KRB5CCNAME, else the system's) is the same cache."""
    cache = env.get("MLFLOW_KERBEROS_TICKET_CACHE") or None
    user = env.get("MLFLOW_KERBEROS_USER") or None
    if cache is None:
        return {"kerberos_principal": user} if user else {}
    if user is None:
        default = _ccache_file(env.get("KRB5CCNAME", ""))
        if default is not None and os.path.realpath(default) == os.path.realpath(cache):
            return {}

        try:
            user = read_file_ccache(Path(cache)).principal
        except (OSError, MlflowClientEnvError) as exc:  # missing, unreadable, corrupt
            detail = getattr(exc, "problem", None) or getattr(exc, "strerror", None) or str(exc)
            raise HdfsKerberosError(
                f"MLFLOW_KERBEROS_TICKET_CACHE={cache} holds no usable ticket ({detail})",
                "kinit into that cache (kinit -c FILE:<path>), or unset MLFLOW_KERBEROS_TICKET_CACHE "
                "to use KRB5CCNAME's",
                "D1",
            ) from None
    return {"kerberos_principal": user, "kerberos_cache": cache}


def _cache_in_use(env: Mapping[str, str], kerberos: Mapping[str, str]) -> str:
    if "kerberos_cache" in kerberos:
        return f"{kerberos['kerberos_cache']} (MLFLOW_KERBEROS_TICKET_CACHE)"
    if env.get("KRB5CCNAME"):
        return f"{env['KRB5CCNAME']} (KRB5CCNAME)"
    return "the default credential cache (KRB5CCNAME is unset)"


# ----------------------------------------------------------------------------- failures
class _Deadline(Exception):
    """A step ran out of time; ``listening``: the NameNodes that accept connections
    (``probed``: False when their addresses are unknown, so nothing was asked)."""

    def __init__(
        self, what: str, seconds: float, listening: tuple[str, ...], probed: bool = True
    ) -> None:
        super().__init__(what)
        self.what, self.seconds, self.listening = what, seconds, listening
        self.probed = probed


class _IoFailure(Exception):
    """An I/O error of hdfs-native, with which NameNodes accepted a connection just after."""

    def __init__(self, error: BaseException, listening: tuple[str, ...]) -> None:
        super().__init__(str(error))
        self.error, self.listening = error, listening


class _Refused(Exception):
    def __init__(self, what: str, addresses: tuple[str, ...], seconds: float) -> None:
        super().__init__(what)
        self.what, self.addresses, self.seconds = what, addresses, seconds


#: What hdfs-native reports as pyarrow does (missing path, existing path): passed on as is.
_PATH_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError)
_LEASE_GONE = ("LeaseExpiredException", "is not open for writing", "does not have any open files")
_DATANODE = (
    "could only be replicated to 0 nodes",
    "datanode(s) running",
    "DataNode",
    "Datanode",
    "datanode",
    "All nodes failed",
    "BlocksNotFound",
    "blocks not found",
    "Insufficient blocks",
    "Could not obtain block",
)


def _short(text: str, limit: int = 400) -> str:
    """hdfs-native's message, cut (a DataNode failure prints whole protobuf records)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _entry_fix(code: str) -> str:
    return lookup(code).fix


def _token_rejection(text: str) -> MlflowClientEnvError | None:
    """The NameNode's refusal of this process's delegation token (cancelled or expired) in
    ``text``, explained, naming the token from ``HADOOP_TOKEN_FILE_LOCATION`` when it can
    be read; else None."""
    if "token" not in text:
        return None

    token_file = None
    location = os.environ.get(TOKEN_FILE_VAR)
    if location:
        with contextlib.suppress(MlflowClientEnvError):
            token_file = read_token_file(location)
    return rejection_of(text, token_file)


def translate(
    exc: BaseException,
    what: str,
    *,
    target: str,
    cache: str,
) -> BaseException:
    """The typed, explained error for a failure of hdfs-native; ``exc`` itself for the
    failures pyarrow reports as the same built-in errors (missing file, existing path)."""
    if isinstance(exc, NativeHdfsError | HdfsClientSettingError):
        return exc
    if isinstance(
        exc, FileNotFoundError | FileExistsError | IsADirectoryError | NotADirectoryError
    ):
        return exc
    rejected = _token_rejection(str(exc))
    if rejected is not None:
        return HdfsKerberosError(f"{what}: {rejected.problem}", rejected.fix)
    if isinstance(exc, _Refused):
        return HdfsUnreachableError(
            f"{what}: no NameNode of {target} accepts connections ({', '.join(exc.addresses)} "
            f"refused them for {exc.seconds:g} s)",
            _entry_fix("namenode-unreachable"),
        )
    if isinstance(exc, _IoFailure):
        raw = f"hdfs-native: {_short(str(exc.error))}"
        if exc.listening:
            return HdfsDataNodeError(
                f"{what}: the NameNode ({', '.join(exc.listening)}) answers, but a DataNode "
                f"could not be reached ({raw})",
                _entry_fix("no-datanode"),
            )
        return HdfsUnreachableError(
            f"{what}: no NameNode of {target} accepts connections ({raw})",
            _entry_fix("namenode-unreachable"),
        )
    if isinstance(exc, _Deadline):
        if exc.probed and not exc.listening:  # nothing accepted a connection: not slow
            return HdfsUnreachableError(
                f"{what}: no answer within {exc.seconds:g} s, and no NameNode of {target} "
                "accepted a connection",
                _entry_fix("namenode-unreachable"),
            )
        listening = ", ".join(exc.listening) or "the NameNode"
        return HdfsTimeoutError(
            f"{what}: no answer within {exc.seconds:g} s; {listening} accepts connections but "
            "a NameNode, DataNode or the KDC did not answer",
            f"check the NameNode and DataNodes (a stopped or overloaded server) and the KDC; if "
            f"the cluster is only slow, raise {TIMEOUT_VAR} (seconds per step)",
        )
    text = str(exc)
    raw = f"hdfs-native: {_short(text)}"
    if "GSSAPIError" in text or "GSS_S_" in text:
        if "Ticket expired" in text or "ticket expired" in text:
            return HdfsKerberosError(
                f"{what}: the Kerberos ticket in {cache} has expired ({raw})",
                "kinit again; for long runs use 'mlflow-client-env run -- CMD' or "
                "mlflow_client_env.keep_ticket_fresh() (hdfs-native reads the renewed cache on "
                "its next connection)",
                "D6",
            )
        if "Cannot contact any KDC" in text or "Cannot find KDC" in text:
            return HdfsKerberosError(
                f"{what}: a service ticket for the NameNode was needed and the KDC cannot be "
                f"reached ({raw})",
                _entry_fix("kdc-unreachable"),
                "kdc-unreachable",
            )
        return HdfsKerberosError(
            f"{what}: no valid Kerberos ticket for HDFS in {cache} ({raw})",
            "kinit (or 'mlflow-client-env kinit', or setup(keytab=..., principal=...)); the "
            "native client reads KRB5CCNAME's cache, or MLFLOW_KERBEROS_TICKET_CACHE's for "
            "MLFLOW_KERBEROS_USER when set",
            "D1",
        )
    if "AccessControlException" in text and "Permission denied" in text:
        return HdfsPermissionError(f"{what}: {raw}", _entry_fix("permission-denied"))
    if "SIMPLE authentication is not enabled" in text:
        return NativeHdfsError(
            f"{what}: the cluster wants Kerberos and the client configuration does not say so "
            f"({raw})",
            "use the cluster's core-site.xml (hadoop.security.authentication=kerberos) in "
            "HADOOP_CONF_DIR",
            "B5",
        )
    if any(marker in text for marker in _DATANODE):
        return HdfsDataNodeError(f"{what}: {raw}", _entry_fix("no-datanode"))
    return NativeHdfsError(
        f"{what} failed through hdfs-native ({type(exc).__name__}: {_short(text)})",
        f"run 'mlflow-client-env doctor'; or use the JVM client: {HDFS_CLIENT_VAR}=jvm",
    )


# ----------------------------------------------------------------------------- the client
async def _cancel(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it has stopped (without swallowing our own
    cancellation, as ``suppress(CancelledError)`` around ``await task`` would)."""
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" warning


_CLIENTS: dict[tuple[Any, ...], Any] = {}


def _async_client(
    url: str | None, config: Mapping[str, str], conf_dir: str | None, kerberos: Mapping[str, str]
) -> Any:
    """One hdfs-native client per target and credentials, per process: its connections (and
    their Kerberos handshakes) are reused by every repository MLflow creates."""
    key = (
        os.getpid(),
        url,
        tuple(sorted(config.items())),
        conf_dir,
        tuple(sorted(kerberos.items())),
    )
    client = _CLIENTS.get(key)
    if client is None:
        from hdfs_native import AsyncClient

        client = AsyncClient(url, dict(config) or None, conf_dir, **kerberos)
        _CLIENTS[key] = client
        if _EXITING:  # made by a later exit hook: never dropped during finalization
            _pin(client)
    return client


class NativeHdfs:
    """One HDFS target (``hdfs://host:port``, a nameservice, viewfs, or fs.defaultFS) as
    MLflow's repository uses it, through hdfs-native."""

    def __init__(
        self,
        scheme: str,
        host: str | None,
        port: int | None,
        *,
        conf: HadoopConf | None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        env = dict(os.environ if env is None else env)
        self.url = f"{scheme}://{host}" + (f":{port}" if port else "") if host else None
        self.target = self.url or "fs.defaultFS"
        self.extra = parse_extra_conf(env.get("MLFLOW_PYARROW_EXTRA_CONF"))
        props = {**(dict(conf.properties) if conf is not None else {}), **self.extra}
        if conf is not None and conf.default_fs and not host:
            self.target = f"fs.defaultFS ({conf.default_fs})"
        self.conf_dir = str(conf.conf_dir) if conf is not None else None
        self.timeout = step_timeout(env)
        self.fast_close = fast_close_enabled(env)
        self.defaults = write_defaults(props)
        self.namenodes = namenode_addresses(scheme, host, port, props)
        retries = max(0, _int(props.get("ipc.client.connect.max.retries"), 10))
        interval = max(0, _int(props.get("ipc.client.connect.retry.interval"), 1000)) / 1000
        self.retry_interval = interval
        self.refused_budget = max(PROBE_INTERVAL, retries * interval)
        self.kerberos = kerberos_arguments(env)
        self.cache = _cache_in_use(env, self.kerberos)
        # hdfs-native's asyncio API polls its futures outside a tokio runtime, where the sleep
        # between failover rounds panics ("there is no reactor running"): one try per
        # NameNode, no sleep; a refused NameNode is retried here instead, as Hadoop does
        per_round = max(1, min(_namenodes_per_nameservice(scheme, host, port, props)))
        attempts = min(_int(props.get(FAILOVER_ATTEMPTS), 15), per_round - 1)
        self.config = {**self.extra, FAILOVER_ATTEMPTS: str(max(0, attempts))}
        self.client = _async_client(self.url, self.config, self.conf_dir, self.kerberos)

    # ------------------------------------------------------------------ plumbing
    def _call(
        self,
        factory: Callable[[], Awaitable[T]],
        what: str,
        extra: float = 0.0,
        retry_refused: bool = False,
    ) -> T:
        """Run one step on the loop thread under the deadline; typed errors out.

        ``retry_refused``: the step may be sent again while every NameNode refuses
        connections (then nothing reached the NameNode), for Hadoop's retry budget.
        """
        future = _loop().submit(self._guarded(factory, what, extra, retry_refused))
        try:
            result = future.result()
            if _EXITING:  # run by an exit hook after _quiesce: let late wake-ups land
                import time

                time.sleep(WAKE_GRACE)
            return result
        except BaseException as exc:
            future.cancel()
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            raise translate(exc, what, target=self.target, cache=self.cache) from None

    async def _guarded(
        self, factory: Callable[[], Awaitable[T]], what: str, extra: float, retry_refused: bool
    ) -> T:
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + self.timeout + extra
        refused_since: float | None = None
        while True:
            try:
                return await self._watch(asyncio.ensure_future(factory()), what, start, deadline)
            except _IoFailure as failure:
                now = loop.time()
                if failure.listening or not retry_refused or not self.namenodes:
                    raise
                refused_since = now if refused_since is None else refused_since
                if now - refused_since >= self.refused_budget or now >= deadline:
                    addresses = tuple(f"{h}:{p}" for h, p in self.namenodes)
                    raise _Refused(what, addresses, round(now - start, 1)) from None
                await asyncio.sleep(min(self.retry_interval, max(0.0, deadline - now)))

    async def _watch(self, task: asyncio.Future[T], what: str, start: float, deadline: float) -> T:
        """``task``'s result; while it runs, the NameNodes are probed once a second."""
        loop = asyncio.get_running_loop()
        refused_since: float | None = None
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    listening = await self._listening()
                    seconds = round(deadline - start, 1)
                    raise _Deadline(what, seconds, listening, bool(self.namenodes))
                done, _ = await asyncio.wait({task}, timeout=min(PROBE_INTERVAL, remaining))
                if done:
                    error = task.exception()
                    if error is not None and _is_io_failure(error):
                        # refused, reset, timed out: the NameNode's, or a DataNode's?
                        raise _IoFailure(error, await self._listening())
                    return task.result()
                if not self.namenodes:
                    continue
                if await self._all_refuse():
                    now = loop.time()
                    refused_since = now - PROBE_INTERVAL if refused_since is None else refused_since
                    if now - refused_since >= self.refused_budget:
                        addresses = tuple(f"{h}:{p}" for h, p in self.namenodes)
                        raise _Refused(what, addresses, round(now - start, 1))
                else:
                    refused_since = None
        finally:
            if not task.done():
                await _cancel(task)

    async def _connects(self, host: str, port: int) -> bool | None:
        """True: accepts; False: refused or unreachable; None: no answer within 1 s."""
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
        except (asyncio.TimeoutError, TimeoutError):
            return None
        except OSError:
            return False
        writer.close()
        return True

    async def _all_refuse(self) -> bool:
        results = await asyncio.gather(*(self._connects(h, p) for h, p in self.namenodes))
        return all(r is False for r in results)

    async def _listening(self) -> tuple[str, ...]:
        results = await asyncio.gather(*(self._connects(h, p) for h, p in self.namenodes))
        return tuple(f"{h}:{p}" for (h, p), r in zip(self.namenodes, results, strict=True) if r)

    # ------------------------------------------------------------------ operations
    def info(self, path: str) -> Any | None:
        """The FileStatus of ``path``; None when it does not exist."""

        async def go() -> Any | None:
            try:
                return await self.client.get_file_info(path)
            except FileNotFoundError:
                return None
            except RuntimeError as exc:
                # a name HDFS cannot hold ('a:b'): pyarrow's status says "not found" too
                if "InvalidPathException" in str(exc):
                    return None
                raise

        return self._call(go, f"reading the status of {path}", retry_refused=True)

    def listdir(self, path: str) -> list[Any]:
        """The entries directly under the folder ``path``, in the NameNode's order."""

        async def go() -> list[Any]:
            return [status async for status in self.client.list_status(path, False)]

        return self._call(go, f"listing {path}", retry_refused=True)

    def mkdirs(self, path: str) -> None:
        perm = self.defaults.dir_permission
        what = f"creating the folder {path}"
        self._call(lambda: self.client.mkdirs(path, perm, True), what, retry_refused=True)

    def delete(self, path: str, recursive: bool) -> None:
        self._call(
            lambda: self.client.delete(path, recursive), f"deleting {path}", retry_refused=True
        )

    def upload(self, local_path: str, remote_path: str) -> None:
        """Write the local file to ``remote_path`` (replacing it), in 1 MiB chunks."""
        from hdfs_native import WriteOptions

        d = self.defaults
        options = WriteOptions(
            block_size=d.block_size,
            replication=d.replication,
            permission=d.file_permission,
            overwrite=True,
            create_parent=True,
        )
        what = f"writing {remote_path}"
        with open(local_path, "rb") as source:
            writer = self._call(
                lambda: self.client.create(remote_path, options), what, retry_refused=True
            )
            written = 0
            while chunk := source.read(WRITE_CHUNK):
                self._call(functools.partial(writer.write, chunk), what)
                written += len(chunk)
        self._call(lambda: self._close(writer, remote_path, written), what, CLOSE_EXTRA)

    async def _close(self, writer: Any, path: str, written: int) -> None:
        """``writer.close()``, without sitting out hdfs-native's 500 ms retry sleep once the
        NameNode has committed the last block (see the module's docstring)."""
        first = asyncio.ensure_future(writer.close())
        done, _ = await asyncio.wait({first}, timeout=0.005)
        if done or not self.fast_close or written == 0:
            await first
            return
        # The file reaches its full length at the NameNode only when the first complete()
        # commits the last block: the data is flushed and acknowledged by then.
        while not first.done():
            try:
                status = await self.client.get_file_info(path)
            except Exception:
                await first
                return
            if status.length == written:
                break
            await asyncio.wait({first}, timeout=0.005)
        if not first.done():
            await asyncio.wait({first}, timeout=0.005)  # a complete() answer may be arriving
        if first.done():
            first.result()
            return
        await _cancel(first)
        delay = 0.005
        while True:
            again = asyncio.ensure_future(writer.close())
            done, _ = await asyncio.wait({again}, timeout=0.05)
            if done:
                try:
                    again.result()
                    return
                except Exception as exc:
                    # the cancelled complete() had succeeded after all: the file is closed
                    if any(m in str(exc) for m in _LEASE_GONE):
                        status = await self.client.get_file_info(path)
                        if status.length == written:
                            return
                    raise
            await _cancel(again)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    def download(self, remote_path: str, local_path: str) -> None:
        """Copy ``remote_path`` to the local file, in ``READ_CHUNK`` chunks."""
        what = f"reading {remote_path}"
        reader = self._call(lambda: self.client.read(remote_path), what, retry_refused=True)
        with open(local_path, "wb") as dest:
            while True:
                chunk: bytes = self._call(lambda: reader.read(READ_CHUNK), what)
                if not chunk:
                    break
                dest.write(chunk)
