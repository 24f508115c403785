"""Is a JVM already loaded in a process?

libhdfs creates its JVM once per process and reads CLASSPATH and LIBHDFS_OPTS
only then (catalog A4, F2); after that, changing them changes nothing.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

#: glibc's dlopen flag "only if already loaded" (absent on platforms without it)
_RTLD_NOLOAD: int = getattr(os, "RTLD_NOLOAD", 0)


def _maybe_loaded_here() -> bool:
    """False when the dynamic loader of this process has no ``libjvm.so``; True when it has
    one, or when that cannot be asked (no ``RTLD_NOLOAD``).

    ``dlopen("libjvm.so", RTLD_NOLOAD)`` matches an already loaded object by its SONAME
    (every HotSpot and OpenJ9 ``libjvm.so`` has ``libjvm.so``) or by the file the library
    path leads to, and never loads one. It costs ~0.15 ms where reading a kernel's
    ``/proc/self/maps`` costs ~0.6 ms, a twentieth of a cold ``setup()`` (issue 10), and the
    answer is nearly always "no JVM yet", so the maps are read only to name the library.
    """
    if not _RTLD_NOLOAD:
        return True
    try:
        ctypes.CDLL("libjvm.so", mode=_RTLD_NOLOAD | os.RTLD_LAZY)
    except OSError:
        return False
    return True


def _from_proc_maps(pid: int) -> Path | None:
    """The first mapping whose path ends in ``/libjvm.so``: one read and a byte search (a
    kernel's maps has a thousand lines; a Python loop over them cost ~1 ms of setup())."""
    with open(f"/proc/{pid}/maps", "rb") as fh:
        data = fh.read()
    end = data.find(b"/libjvm.so\n")
    if end < 0:
        return None
    line = data[data.rfind(b"\n", 0, end) + 1 : end + len(b"/libjvm.so")]
    return Path(os.fsdecode(line[line.index(b"/") :]))


def loaded_libjvm(pid: int | None = None) -> Path | None:
    """The ``libjvm.so`` mapped into process ``pid`` (default: this one), if any.

    For this process we read ``/proc/self/maps`` directly: psutil's
    ``memory_maps`` parses ``smaps`` and costs tens of milliseconds in a large
    process, which would dominate ``setup()``. Other processes, and systems
    without /proc, go through psutil.
    """
    if pid is None and not _maybe_loaded_here():
        return None
    target = os.getpid() if pid is None else pid
    try:
        return _from_proc_maps(target)
    except OSError:
        pass
    import psutil

    try:
        maps = psutil.Process(target).memory_maps(grouped=True)
    except (psutil.Error, OSError):
        return None
    for m in maps:
        if os.path.basename(m.path) == "libjvm.so":
            return Path(m.path)
    return None
