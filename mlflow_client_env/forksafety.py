"""A warning in a process forked after the JVM started (catalog E4).

libhdfs starts a JVM inside the Python process. ``fork()`` copies the process's memory
but only the calling thread, so a child gets the JVM's state without any of the JVM's
threads, and its first HDFS call waits forever on a lock no thread will release (a
single-threaded child waiting on a futex without a timeout: measured with pyarrow 25,
libhdfs from Hadoop 2.7.3 and Java 17 in tests/test_fork_safety.py). PyTorch DataLoader
workers and multiprocessing pools fork by default on Linux.

:func:`warn_after_fork` registers an ``os.register_at_fork`` handler; ``setup()`` calls
it. Registering reads nothing (``setup()`` stays cheap); the handler runs in each child
right after ``os.fork()`` (multiprocessing's 'fork' start method included; ``subprocess``
and the 'spawn' and 'forkserver' methods start a new program and do not run it), reads
``/proc/self/maps``, which the child has from its parent, and warns once in that child
when a JVM was made there (libjvm.so mapped, with libhdfs.so or HotSpot's perf data).
"""

from __future__ import annotations

import os
import warnings

#: What to do instead, in the words of the warning, the doctor (``live-process.E4``) and
#: the troubleshooting entry.
FIX = (
    "start worker processes with the 'spawn' or 'forkserver' method instead of fork: "
    "multiprocessing.get_context('spawn'), or multiprocessing.set_start_method('spawn') "
    "at the top of the main module; PyTorch: DataLoader(..., multiprocessing_context='spawn'); "
    "or open HDFS only in processes that never inherited a JVM"
)


class ForkAfterJvmWarning(RuntimeWarning):
    """This process was forked after libhdfs had started a JVM in its parent (catalog E4)."""


_registered = False


def warn_after_fork() -> None:
    """Warn in every child forked from now on whose parent has a JVM loaded (catalog E4).

    Idempotent: a second call registers nothing. Costs one ``os.register_at_fork`` call;
    nothing is read until a fork happens."""
    global _registered
    if _registered or not hasattr(os, "register_at_fork"):
        return
    os.register_at_fork(after_in_child=_after_fork_in_child)
    _registered = True


def jvm_made(maps: bytes) -> bool:
    """Whether a ``/proc/PID/maps`` text shows a JVM made in the process: libjvm.so mapped,
    and with it libhdfs.so (which makes the JVM at pyarrow's first connection) or the perf
    data file HotSpot maps once it runs. libjvm.so alone is a load that stopped short (a
    failed libhdfs load, catalog A4): no JVM, nothing to hang on."""
    if b"/libjvm.so\n" not in maps and b"/libjvm.so (deleted)\n" not in maps:
        return False
    return b"/libhdfs.so" in maps or b"/hsperfdata_" in maps


def _read_own_maps() -> bytes:
    with open("/proc/self/maps", "rb") as fh:
        return fh.read()


def _after_fork_in_child() -> None:
    try:
        if not jvm_made(_read_own_maps()):
            return
        warnings.warn(
            f"this process ({os.getpid()}) was forked from process {os.getppid()} after "
            "libhdfs had started a JVM there: the JVM's threads did not come along, so an "
            f"HDFS call in this process blocks forever (catalog E4). Fix: {FIX}",
            ForkAfterJvmWarning,
            stacklevel=2,
        )
    except OSError:  # no /proc: nothing to judge, and a fork must never fail because of us
        return
