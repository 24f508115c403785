"""Is a JVM already loaded in a process?

libhdfs creates its JVM once per process and reads CLASSPATH and LIBHDFS_OPTS
only then (catalog A4, F2); after that, changing them changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path


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
