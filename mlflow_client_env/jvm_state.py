"""Did an earlier attempt to load libjvm/libhdfs fail in this process (catalog A4, F2)?

pyarrow loads libjvm.so and then libhdfs.so at its first HDFS connection, once per
process, and keeps a failure for good: every later connection fails with "Prior attempt
to load libhdfs failed", whatever JAVA_HOME or ARROW_LIBHDFS_DIR say by then. ``setup()``
fixing the environment afterwards cannot help that process; only a restart can.

:func:`failed_jvm_load` tells, cheaply, when it knows:

- pyarrow's HDFS module is not imported: no attempt can have been made (nothing read);
- libhdfs.so is mapped (``/proc/self/maps``): the load worked;
- libjvm.so is mapped but libhdfs.so is not: the first attempt got past libjvm and failed
  at libhdfs (unless JPype loaded the JVM, or the launcher kernel loaded libjvm at start:
  then as below); certain;
- neither is mapped: a failed libjvm load leaves no trace in the process, the same state
  as "never tried" (``import mlflow`` imports pyarrow's HDFS module). The exception the
  interpreter last reported is the one witness left: IPython and the interactive
  interpreter keep it (``sys.last_value``), so in a notebook the failed cell is found
  until another cell fails; elsewhere it cannot be told, and nothing is said.
"""

from __future__ import annotations

import os
import re
import sys

from .findings import Finding
from .jvm import preloaded
from .redact import redact

#: pyarrow's HDFS extension modules: ``pyarrow.fs`` imports ``_hdfs``, the legacy
#: ``pyarrow.hdfs`` (before pyarrow 16) ``_hdfsio``
HDFS_MODULES = ("pyarrow._hdfs", "pyarrow._hdfsio")

#: pyarrow's messages when it cannot load the libraries, and for the failure it keeps
LOAD_ERRORS = (
    "Unable to load libjvm",
    "Unable to load libhdfs",
    "Prior attempt to load libhdfs failed",
)

FIX = (
    "restart the kernel (Kernel > Restart) or the Python process, and call setup() before "
    "any HDFS access; a kernel from 'mlflow-client-env install-kernel' starts ready"
)


def _mapped(maps: bytes, name: bytes) -> bool:
    """Whether ``maps`` maps the library ``name`` (``libhdfs.so``, or a versioned file of it)."""
    return (
        re.search(rb"/" + re.escape(name) + rb"(\.[0-9.]+)?( \(deleted\))?$", maps, re.M)
        is not None
    )


def _other_libjvm(maps: bytes) -> bool:
    """Whether ``maps`` maps a libjvm.so other than the one the launcher kernel loaded at its
    start (``jvm.preloaded``), which is no sign of a pyarrow attempt."""
    early = preloaded()
    own = os.path.realpath(early) if early else None
    for m in re.finditer(rb"(/\S.*/libjvm\.so)(?: \(deleted\))?$", maps, re.M):
        if own is None or os.path.realpath(os.fsdecode(m[1])) != own:
            return True
    return False


def _last_load_error() -> BaseException | None:
    """The exception the interpreter (or IPython) last reported, if it, or one it was raised
    from or during, is one of pyarrow's load errors."""
    last = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    seen: set[int] = set()
    exc = last if isinstance(last, BaseException) else None
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if any(text in str(exc) for text in LOAD_ERRORS):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def failed_jvm_load(maps: bytes | None = None) -> list[Finding]:
    """A finding (``process-start.F2``, error) when pyarrow's one attempt to load libjvm and
    libhdfs in this process has failed, else nothing. ``maps``: this process's
    ``/proc/self/maps``, if the caller has read it already."""
    if not any(m in sys.modules for m in HDFS_MODULES):
        return []  # pyarrow's HDFS layer was never imported: no attempt was made
    if maps is None:
        try:
            with open("/proc/self/maps", "rb") as fh:
                maps = fh.read()
        except OSError:
            return []
    if _mapped(maps, b"libhdfs.so"):
        return []
    if _other_libjvm(maps):
        if b"/_jpype" in maps:  # JPype loads libjvm.so itself: no sign of a pyarrow attempt
            return []
        return [
            Finding(
                "process-start.F2",
                "error",
                "libjvm.so is loaded in this process but libhdfs.so is not: pyarrow's first "
                "attempt to load libhdfs failed, and pyarrow keeps that failure for the life "
                "of the process, so HDFS fails here with 'Prior attempt to load libhdfs "
                "failed' whatever the environment says now (catalog A4, F2)",
                ("libjvm.so mapped, libhdfs.so not (/proc/self/maps)",),
                fix=FIX,
            )
        ]
    exc = _last_load_error()
    if exc is None:
        return []  # never tried, or a failure nobody kept: not knowable from here
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return [
        Finding(
            "process-start.F2",
            "error",
            "an earlier HDFS connection in this process failed to load libjvm/libhdfs, and "
            "pyarrow keeps that failure for the life of the process: a new JAVA_HOME or "
            "ARROW_LIBHDFS_DIR does not reach it (catalog A4, F2)",
            (f"the last error reported here: {type(exc).__name__}: {redact(first)}",),
            fix=FIX,
        )
    ]
