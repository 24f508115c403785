"""Native libraries: will ``libhdfs.so`` and ``libjvm.so`` load, and what else
will the loader pick up on the way?

pyarrow reaches HDFS through ``libhdfs.so`` (JNI), which embeds a JVM from
``libjvm.so``. When that chain breaks, users get one opaque ``OSError``. This
package answers the same questions ld.so would, without executing anything:
it reads ELF headers with pyelftools, resolves every NEEDED soname in
glibc's search order, and reports missing dependencies, wrong architectures,
truncated files and libraries on LD_LIBRARY_PATH that shadow the system's
(catalog A1-A3, E1). The load probe then confirms in a subprocess.

Everything but the probe is a pure function of the filesystem (and ``/proc`` where
named), so the doctor can run it on any environment we would produce.

The rooms:

- ``elf``: what ld.so reads from a file (class, machine, NEEDED, RPATH, RUNPATH, SONAME),
  with pyelftools imported only when a file is read;
- ``ldcache``: glibc's ``/etc/ld.so.cache``;
- ``loader``: the loader model, where each NEEDED soname comes from for a given
  LD_LIBRARY_PATH, RPATH/RUNPATH and cache;
- ``dependencies``: ``check_library``, the findings about one library and its dependencies;
- ``shadowing``: ``find_shadowing``, copies of libssl, libkrb5, ... that LD_LIBRARY_PATH
  puts ahead of the system's or Python's own;
- ``probe``: dlopen libjvm then libhdfs in a child process, and its finding.

This module exposes what the doctor's ``native-libraries`` check uses.
"""

from __future__ import annotations

from .dependencies import check_library
from .probe import load_finding, probe_argv, probe_result, probe_timed_out
from .shadowing import find_shadowing

__all__ = [
    "check_library",
    "find_shadowing",
    "load_finding",
    "probe_argv",
    "probe_result",
    "probe_timed_out",
]
