"""Is a JVM already loaded in this process?

libhdfs creates its JVM once per process and reads CLASSPATH and LIBHDFS_OPTS
only then (catalog A4, F2); after that, changing them changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path


def loaded_libjvm(pid: int | None = None) -> Path | None:
    """The ``libjvm.so`` mapped into process ``pid`` (default: this one), if any."""
    import psutil

    try:
        maps = psutil.Process(pid or os.getpid()).memory_maps(grouped=True)
    except (psutil.Error, OSError):
        return None
    for m in maps:
        if os.path.basename(m.path) == "libjvm.so":
            return Path(m.path)
    return None
