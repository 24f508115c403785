"""The loader model: where ld.so would take each NEEDED soname from.

glibc's order: DT_RPATH (only without DT_RUNPATH, and from the requesting object's
loaders too), LD_LIBRARY_PATH, DT_RUNPATH, ``/etc/ld.so.cache`` (``ldcache``), then the
built-in directories. Candidates of another class or machine are passed over as ld.so
passes over them; a damaged one stops the search as it stops ld.so. Nothing is
executed: files are read (``elf``), never loaded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ...records import record
from .elf import ElfInfo, ElfProblem, describe, host_elf, read_elf
from .ldcache import DEFAULT_LD_CACHE, LdCache, host_flags, read_ld_cache

SearchStep = Literal["direct", "rpath", "ld_library_path", "runpath", "cache", "default"]

#: ld.so's built-in directories on x86-64 (Debian multiarch first, then RHEL's).
DEFAULT_LIB_DIRS: tuple[Path, ...] = tuple(
    Path(p)
    for p in (
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib64",
        "/usr/lib64",
        "/lib",
        "/usr/lib",
    )
)


@record
class Resolution:
    """Where one NEEDED soname comes from, or why it does not.

    ``skipped`` lists candidates ld.so passes over (wrong class or machine);
    ``problem`` is a candidate it would stop at and fail on (corrupt file).
    """

    soname: str
    needed_by: Path
    path: Path | None
    step: SearchStep | None
    searched: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    problem: ElfProblem | None = None

    @property
    def found(self) -> bool:
        return self.path is not None and self.problem is None


def split_search_path(value: str | None, cwd: Path) -> tuple[Path, ...]:
    """LD_LIBRARY_PATH as ld.so splits it: ``:`` or ``;``, empty entry = cwd."""
    if not value:
        return ()
    return tuple(cwd / e if e else cwd for e in re.split(r"[:;]", value))


def _expand(entries: Sequence[str], origin: Path, cwd: Path) -> tuple[Path, ...]:
    """Expand $ORIGIN in RPATH/RUNPATH; drop entries with other tokens.

    Paths are not normalised (``lib64/../jvm`` stays), as LD_DEBUG prints them.

    ld.so also knows $LIB and $PLATFORM, whose values are distribution
    specific; Hadoop and JDK libraries do not use them.
    """
    out: list[Path] = []
    for e in entries:
        e = e.replace("${ORIGIN}", str(origin)).replace("$ORIGIN", str(origin))
        if "$" not in e:
            out.append(cwd / e if e else cwd)
    return tuple(out)


@dataclass
class Search:
    """One loader configuration; memoises ELF reads across many lookups."""

    llp: tuple[Path, ...]
    cache: LdCache | None
    default_dirs: tuple[Path, ...]
    host: ElfInfo
    cwd: Path
    _elves: dict[Path, ElfInfo | ElfProblem] = field(default_factory=dict)

    def elf(self, path: Path) -> ElfInfo | ElfProblem:
        if path not in self._elves:
            self._elves[path] = read_elf(path)
        return self._elves[path]

    def _try(self, path: Path) -> tuple[str, ElfInfo | ElfProblem | None, str]:
        """``absent``, ``skip`` or ``fatal`` (with why), or ``ok``: glibc's open_verify.

        ld.so passes over files of another class or machine and files it may
        not open, but stops at a damaged one ("file too short", "invalid ELF
        header"), and a truncated one it maps can kill the process.
        """
        if not path.is_file():
            return "absent", None, ""
        e = self.elf(path)
        if e.ident is not None and e.ident != self.host.ident:
            return "skip", e, f"{describe(e.ident)}, not {describe(self.host.ident)}"
        if isinstance(e, ElfProblem):
            return ("skip" if e.kind == "unreadable" else "fatal"), e, e.detail
        return "ok", e, ""

    def find(
        self,
        soname: str,
        needed_by: Path,
        rpath: Sequence[Path] = (),
        runpath: Sequence[Path] = (),
    ) -> Resolution:
        searched: list[str] = []
        skipped: list[str] = []

        def verdict(step: SearchStep, path: Path) -> Resolution | None:
            outcome, e, why = self._try(path)
            if outcome == "skip":
                skipped.append(f"{path}: {why}")
            if outcome in ("absent", "skip"):
                return None
            problem = e if isinstance(e, ElfProblem) else None
            return Resolution(
                soname, needed_by, path, step, tuple(searched), tuple(skipped), problem
            )

        if "/" in soname:
            searched.append(f"direct: {soname}")
            hit = verdict("direct", self.cwd / soname)
            return hit or Resolution(soname, needed_by, None, None, tuple(searched), tuple(skipped))
        steps: list[tuple[SearchStep, Sequence[Path]]] = [
            ("rpath", rpath),
            ("ld_library_path", self.llp),
            ("runpath", runpath),
        ]
        for step, dirs in steps:
            for d in dirs:
                searched.append(f"{step}: {d}")
                hit = verdict(step, d / soname)
                if hit:
                    return hit
        if self.cache is not None:
            searched.append(f"cache: {self.cache.path}")
            cached = self.cache.lookup(soname, host_flags(self.host.elf_class, self.host.machine))
            hit = verdict("cache", cached) if cached else None
            if hit:
                return hit
        for d in self.default_dirs:
            searched.append(f"default: {d}")
            hit = verdict("default", d / soname)
            if hit:
                return hit
        return Resolution(soname, needed_by, None, None, tuple(searched), tuple(skipped))

    def resolve(self, root: ElfInfo, recursive: bool) -> list[Resolution]:
        """Breadth first, like ld.so: the first object loaded for a soname wins.

        The ``loaded`` set is also the cycle guard. RPATH applies from the
        requesting object and then each of its loaders (unless the requester
        has a RUNPATH, and ignoring any loader that has one); RUNPATH applies
        only to the object itself. The main program's RPATH is not modelled.
        """
        loaded = {root.soname} if root.soname else set()
        queue: list[tuple[ElfInfo, tuple[ElfInfo, ...]]] = [(root, ())]
        out: list[Resolution] = []
        while queue:
            obj, loaders = queue.pop(0)
            origin_chain = (obj, *loaders)
            rpath: tuple[Path, ...] = ()
            if not obj.runpath:
                rpath = tuple(
                    d
                    for o in origin_chain
                    if not o.runpath
                    for d in _expand(o.rpath, _origin(o.path, self.cwd), self.cwd)
                )
            runpath = _expand(obj.runpath, _origin(obj.path, self.cwd), self.cwd)
            for soname in obj.needed:
                if soname in loaded:
                    continue
                loaded.add(soname)
                res = self.find(soname, obj.path, rpath, runpath)
                out.append(res)
                dep = self.elf(res.path) if res.found and res.path else None
                if isinstance(dep, ElfInfo):
                    if dep.soname:
                        loaded.add(dep.soname)
                    if recursive:
                        queue.append((dep, origin_chain))
        return out


def _origin(path: Path, cwd: Path) -> Path:
    """$ORIGIN: the directory of the object as it was found (symlinks not resolved)."""
    return (cwd / path).parent


def new_search(
    ld_library_path: str | None,
    ld_cache: Path | None,
    default_dirs: Sequence[Path],
    host: ElfInfo | None,
    cwd: Path | None,
) -> Search:
    """The loader for one configuration (``host``: this interpreter, ``cwd``: ours, by default)."""
    here = cwd or Path.cwd()
    return Search(
        llp=split_search_path(ld_library_path, here),
        cache=read_ld_cache(ld_cache) if ld_cache is not None else None,
        default_dirs=tuple(default_dirs),
        host=host or host_elf(),
        cwd=here,
    )


def resolve_needed(
    elf: ElfInfo,
    ld_library_path: str | None,
    *,
    recursive: bool = False,
    ld_cache: Path | None = DEFAULT_LD_CACHE,
    default_dirs: Sequence[Path] = DEFAULT_LIB_DIRS,
    host: ElfInfo | None = None,
    cwd: Path | None = None,
) -> list[Resolution]:
    """Resolve ``elf``'s NEEDED sonames in glibc's order.

    DT_RPATH (only without DT_RUNPATH), LD_LIBRARY_PATH, DT_RUNPATH, the
    ``ld.so.cache`` (see :mod:`.ldcache` for why the cache file, not the
    ``ld.so.conf`` directories), then ``default_dirs``. Candidates of another
    class or machine than ``host`` (default: this interpreter) are skipped
    as ld.so skips them. ``recursive`` follows transitive NEEDED entries, each
    soname once. ``ld_cache=None`` leaves out the cache step.
    """
    return new_search(ld_library_path, ld_cache, default_dirs, host, cwd).resolve(elf, recursive)
