"""Shadowing: copies of libssl, libkrb5, libstdc++, ... that LD_LIBRARY_PATH puts ahead
of the system's copy or Python's own, which breaks ``import ssl``, gssapi and C++
extensions (catalog E1). Found with the loader model (``loader``), nothing loaded.
"""

from __future__ import annotations

import filecmp
import importlib.util
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from ...findings import Finding
from .elf import ElfInfo, read_elf
from .ldcache import DEFAULT_LD_CACHE
from .loader import DEFAULT_LIB_DIRS, new_search

#: Libraries whose second copy breaks ``ssl``, ``gssapi`` and C++ extensions (E1).
SHADOW_WATCHED = re.compile(
    r"^lib(ssl|crypto|krb5|krb5support|gssapi_krb5|k5crypto|com_err|stdc\+\+|gcc_s|z)"
    r"\.so(\.[0-9]+)*$"
)


def _mapped_libraries(maps: Path) -> list[Path]:
    try:
        lines = maps.read_text().splitlines()
    except OSError:
        return []
    seen: dict[Path, None] = {}
    for line in lines:
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[5].startswith("/") and not parts[5].endswith(" (deleted)"):
            seen.setdefault(Path(parts[5]), None)
    return list(seen)


def python_native_libraries(
    *,
    maps: Path = Path("/proc/self/maps"),
    modules: Sequence[str] = ("_ssl", "_hashlib"),
    ld_cache: Path | None = DEFAULT_LD_CACHE,
    default_dirs: Sequence[Path] = DEFAULT_LIB_DIRS,
) -> dict[str, Path]:
    """Watched libraries (libssl, libkrb5, ...) that belong to this Python.

    First what the process has mapped (``maps``: truth for what is loaded),
    then what ``modules`` (extension files, found without importing) resolve
    to with their own RPATH/RUNPATH and no LD_LIBRARY_PATH, which is where a
    conda Python's private OpenSSL shows up.
    """
    out: dict[str, Path] = {}
    for path in _mapped_libraries(maps):
        if SHADOW_WATCHED.match(path.name):
            e = read_elf(path)
            out.setdefault(e.soname or path.name if isinstance(e, ElfInfo) else path.name, path)
    search = new_search(None, ld_cache, default_dirs, None, None)
    for name in modules:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec else None
        if not origin or not os.path.isabs(origin):
            continue  # built into the interpreter
        e = search.elf(Path(origin))
        if isinstance(e, ElfInfo):
            for r in search.resolve(e, recursive=True):
                if r.found and r.path and SHADOW_WATCHED.match(r.soname):
                    out.setdefault(r.soname, r.path)
    return out


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file (False when either cannot be read)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _watched_names(dirs: Sequence[Path]) -> list[str]:
    names: dict[str, None] = {}
    for d in dirs:
        try:
            entries = sorted(os.listdir(d))
        except OSError:
            continue
        for name in entries:
            if SHADOW_WATCHED.match(name):
                names.setdefault(name, None)
    return list(names)


_SHADOW_FIX = (
    "Remove {dir} from LD_LIBRARY_PATH. pyarrow loads libhdfs by absolute path via "
    "ARROW_LIBHDFS_DIR, and Hadoop's native code is found through "
    "LIBHDFS_OPTS=-Djava.library.path=<parcel>/lib/hadoop/lib/native; if something truly "
    "needs LD_LIBRARY_PATH, append only the JVM server dir."
)


def find_shadowing(
    ld_library_path: str | None,
    *,
    label: str = "inherited",
    python_libs: Mapping[str, Path] | None = None,
    ld_cache: Path | None = DEFAULT_LD_CACHE,
    default_dirs: Sequence[Path] = DEFAULT_LIB_DIRS,
    host: ElfInfo | None = None,
    cwd: Path | None = None,
) -> list[Finding]:
    """Copies of libssl, libkrb5, libstdc++, ... that LD_LIBRARY_PATH puts first.

    For each watched name in an LD_LIBRARY_PATH directory, resolve it as ld.so
    would with and without LD_LIBRARY_PATH. It shadows when the winner comes
    from LD_LIBRARY_PATH and is another file than the system's copy (cache or
    default dirs) or Python's own (``python_libs``, default
    :func:`python_native_libraries`). A copy with no other copy to shadow is
    not reported: mixing two builds is what breaks imports (E1).
    ``label`` ("inherited", "proposed") names the value in the findings.
    """
    with_llp = new_search(ld_library_path, ld_cache, default_dirs, host, cwd)
    without = new_search(None, ld_cache, default_dirs, with_llp.host, with_llp.cwd)
    own = python_native_libraries() if python_libs is None else python_libs
    findings: list[Finding] = []
    for name in _watched_names(with_llp.llp):
        win = with_llp.find(name, Path("<dlopen>"))
        if win.step != "ld_library_path" or win.path is None:
            continue
        refs = [
            ("Python's own", own.get(name)),
            ("the system's", without.find(name, win.path).path),
        ]
        shadowed = [(who, p) for who, p in refs if p is not None and not same_file(p, win.path)]
        if not shadowed:
            continue
        who, ref = shadowed[0]
        evidence = [f"LD_LIBRARY_PATH ({label}) copy: {win.path}"]
        for w, p in refs:
            if p is not None:
                same = same_file(p, win.path)
                content = (
                    "same file"
                    if same
                    else (
                        "identical bytes"
                        if filecmp.cmp(p, win.path, shallow=False)
                        else "different build"
                    )
                )
                evidence.append(f"{w} copy: {p} ({content})")
        findings.append(
            Finding(
                "native-libraries.shadowing",
                "warn",
                f"LD_LIBRARY_PATH ({label}) puts {win.path} ahead of {who} {ref}",
                tuple(evidence),
                _SHADOW_FIX.format(dir=win.path.parent),
            )
        )
    if findings:
        return findings
    scanned = tuple(str(d) for d in with_llp.llp) or ("LD_LIBRARY_PATH is unset or empty",)
    return [
        Finding(
            "native-libraries.no-shadowing",
            "ok",
            f"LD_LIBRARY_PATH ({label}) shadows no system or Python copy of libssl, libkrb5, ...",
            scanned,
        )
    ]
