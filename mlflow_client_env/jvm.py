"""Is a JVM already loaded in a process?

libhdfs creates its JVM once per process and reads CLASSPATH and LIBHDFS_OPTS
only then (catalog A4, F2); after that, changing them changes nothing.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from pathlib import Path

#: glibc's dlopen flag "only if already loaded" (absent on platforms without it)
_RTLD_NOLOAD: int = getattr(os, "RTLD_NOLOAD", 0)


def _loaded_here(also: Sequence[str | os.PathLike[str]] = ()) -> bool | None:
    """Whether the dynamic loader of this process has a ``libjvm.so`` (None: it cannot be
    asked, no ``RTLD_NOLOAD``).

    ``dlopen(name, RTLD_NOLOAD)`` never loads anything. For ``libjvm.so`` it matches a loaded
    object by its SONAME (``libjvm.so`` in HotSpot builds: OpenJDK, Temurin, Zulu,
    Corretto) or by the file the library path leads to; for each path in ``also`` (the
    ``libjvm.so`` of the Java discovery chose) by that file, whatever its SONAME. It costs
    ~0.15 ms where reading a kernel's ``/proc/self/maps`` costs ~0.6 ms, a twentieth of a
    cold ``setup()`` (issue 10); the maps are read only when a JVM is there, to name it.
    """
    if not _RTLD_NOLOAD:
        return None
    for name in ("libjvm.so", *(os.fspath(p) for p in also)):
        try:
            ctypes.CDLL(name, mode=_RTLD_NOLOAD | os.RTLD_LAZY)
        except OSError:
            continue
        return True
    return False


#: How a mapping of libjvm ends in ``/proc/PID/maps``: its file, or its file replaced or
#: removed since it was loaded (a JDK upgraded under a running kernel).
_MAPPED_ENDS = (b"/libjvm.so\n", b"/libjvm.so (deleted)\n")


def _from_proc_maps(pid: int) -> Path | None:
    """The first mapping whose path ends in ``/libjvm.so``: one read and a byte search (a
    kernel's maps has a thousand lines; a Python loop over them cost ~1 ms of setup())."""
    with open(f"/proc/{pid}/maps", "rb") as fh:
        data = fh.read()
    for ending in _MAPPED_ENDS:
        end = data.find(ending)
        if end >= 0:
            line = data[data.rfind(b"\n", 0, end) + 1 : end + len(b"/libjvm.so")]
            return Path(os.fsdecode(line[line.index(b"/") :]))
    return None


def loaded_libjvm(
    pid: int | None = None, *, also: Sequence[str | os.PathLike[str]] = ()
) -> Path | None:
    """The ``libjvm.so`` mapped into process ``pid`` (default: this one), if any.

    For this process the dynamic loader is asked first (``also``: further ``libjvm.so``
    files to recognise, by file), then ``/proc/self/maps`` is read to name the library:
    psutil's ``memory_maps`` parses ``smaps`` and costs tens of milliseconds in a large
    process, which would dominate ``setup()``. A JVM the loader has but the maps cannot
    name is ``libjvm.so``. Other processes, and systems without /proc, go through psutil.
    """
    here = _loaded_here(also) if pid is None else None
    if here is False:
        return None
    target = os.getpid() if pid is None else pid
    try:
        found = _from_proc_maps(target)
    except OSError:  # no /proc: psutil, unless the loader has answered already
        found = None if here else _from_psutil(target)
    # the loader has one that the maps cannot name (a file of another name): libjvm.so
    return found if found is not None or not here else Path("libjvm.so")


def _from_psutil(pid: int) -> Path | None:
    import psutil

    try:
        maps = psutil.Process(pid).memory_maps(grouped=True)
    except (psutil.Error, OSError):
        return None
    for m in maps:
        path = m.path.removesuffix(" (deleted)")
        if os.path.basename(path) == "libjvm.so":
            return Path(path)
    return None
