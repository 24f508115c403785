"""Is a JVM already loaded, or already running, in a process?

libhdfs creates its JVM once per process and reads CLASSPATH and LIBHDFS_OPTS
only then (catalog A4, F2); after that, changing them changes nothing. A ``libjvm.so``
that is loaded but has made no JVM yet (the launcher kernel loads it at start, see
``jupyter.launcher``) still takes them: :func:`running_jvm` tells the two apart.
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
    return bool(_answering(also))


def _answering(also: Sequence[str | os.PathLike[str]]) -> list[ctypes.CDLL]:
    """The loaded libraries that answer to ``libjvm.so`` or to a path of ``also``, each once
    (``dlopen`` with ``RTLD_NOLOAD``, which never loads anything)."""
    found: dict[int, ctypes.CDLL] = {}
    for name in ("libjvm.so", *(os.fspath(p) for p in also)):
        try:
            lib = ctypes.CDLL(name, mode=_RTLD_NOLOAD | os.RTLD_LAZY)
        except OSError:
            continue
        found.setdefault(lib._handle, lib)
    return list(found.values())


#: The ``libjvm.so`` this process loaded at its start for the libraries that need it, not to
#: make a JVM (the launcher kernel: ``jupyter.launcher.load_libjvm``). A libjvm mapped
#: without libhdfs is then no sign of a failed pyarrow load (``jvm_state``).
_preloaded: list[str] = []


def preload(path: str) -> None:
    """Load ``path`` (a ``libjvm.so``) without making a JVM, and check that a library that
    needs ``libjvm.so`` is now given this very one (its SONAME is ``libjvm.so``, and no other
    libjvm answers first); OSError otherwise. ``RTLD_LOCAL``: none of its symbols is
    offered to other libraries."""
    if not _RTLD_NOLOAD:
        raise OSError("the dynamic loader here cannot be asked what it has (no RTLD_NOLOAD)")
    lib = ctypes.CDLL(path, mode=os.RTLD_LOCAL)
    given = ctypes.CDLL("libjvm.so", mode=_RTLD_NOLOAD | os.RTLD_LAZY)
    if given._handle != lib._handle:
        raise OSError(f"the loader gives another library than {path} for libjvm.so")
    _preloaded.append(path)


def preloaded() -> str | None:
    """The ``libjvm.so`` :func:`preload` loaded in this process, if any."""
    return _preloaded[-1] if _preloaded else None


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


def _created_here(also: Sequence[str | os.PathLike[str]] = ()) -> int | None:
    """How many JVMs the ``libjvm.so`` loaded here has made (``JNI_GetCreatedJavaVMs``,
    asked without loading anything); None when it cannot be asked (no such symbol, no
    ``RTLD_NOLOAD``, or no libjvm found by name or by one of ``also``)."""
    if not _RTLD_NOLOAD:
        return None
    counts = []  # per library loaded: two libjvm files may both be there
    for lib in _answering(also):
        ask = getattr(lib, "JNI_GetCreatedJavaVMs", None)
        count = ctypes.c_int(0)
        # (no buffer, length 0, the count): the invocation API allows asking for the count only
        if ask is not None and ask(None, 0, ctypes.byref(count)) == 0:
            counts.append(count.value)
    return max(counts) if counts else None


def running_jvm(*, also: Sequence[str | os.PathLike[str]] = ()) -> Path | None:
    """The ``libjvm.so`` of a JVM already made in this process (None: no libjvm loaded, or
    one that has made no JVM yet, whose CLASSPATH and LIBHDFS_OPTS are still to be read).

    A libjvm that cannot be asked counts as running: the warning it leads to is the safe
    side.
    """
    path = loaded_libjvm(also=also)
    if path is None:
        return None
    return None if _created_here(also) == 0 else path


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
