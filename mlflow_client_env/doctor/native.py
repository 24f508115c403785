"""Native libraries: will ``libhdfs.so`` and ``libjvm.so`` load, and what else
will the loader pick up on the way?

pyarrow reaches HDFS through ``libhdfs.so`` (JNI), which embeds a JVM from
``libjvm.so``. When that chain breaks, users get one opaque ``OSError``. This
module answers the same questions ld.so would, without executing anything:
it reads ELF headers with pyelftools, resolves every NEEDED soname in
glibc's search order, and reports missing dependencies, wrong architectures,
truncated files and libraries on LD_LIBRARY_PATH that shadow the system's
(catalog A1-A3, E1). :func:`probe_load` then confirms in a subprocess.

Everything here is a pure function of the filesystem (and ``/proc`` where
named), so the doctor can run it on any environment we would produce.
"""

from __future__ import annotations

import filecmp
import functools
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from ..errors import NativeLibraryError
from ..findings import Finding
from .ldcache import DEFAULT_LD_CACHE, LdCache, host_flags, read_ld_cache

SearchStep = Literal["direct", "rpath", "ld_library_path", "runpath", "cache", "default"]
ProblemKind = Literal["missing", "unreadable", "not-elf", "truncated", "corrupt"]

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

#: Libraries whose second copy breaks ``ssl``, ``gssapi`` and C++ extensions (E1).
SHADOW_WATCHED = re.compile(
    r"^lib(ssl|crypto|krb5|krb5support|gssapi_krb5|k5crypto|com_err|stdc\+\+|gcc_s|z)"
    r"\.so(\.[0-9]+)*$"
)

_ELF_MAGIC = b"\x7fELF"
_HDR_MIN = 64  # a 64-bit ELF header; anything shorter cannot be a whole header


@dataclass(frozen=True)
class ElfInfo:
    """What ld.so reads from a shared object before loading it."""

    path: Path
    elf_class: int
    data: str
    machine: str
    elf_type: str
    soname: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]

    @property
    def ident(self) -> tuple[int, str, str]:
        """What must match the host for ld.so to consider the file at all."""
        return (self.elf_class, self.data, self.machine)


@dataclass(frozen=True)
class ElfProblem:
    """A file ld.so could not load; ``ident`` is set when the header was readable."""

    path: Path
    kind: ProblemKind
    detail: str
    elf_class: int | None = None
    data: str | None = None
    machine: str | None = None

    @property
    def ident(self) -> tuple[int, str, str] | None:
        if self.elf_class is None or self.data is None or self.machine is None:
            return None
        return (self.elf_class, self.data, self.machine)


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class LoadProbe:
    """Outcome of dlopen-ing libjvm then libhdfs in a child process.

    ``error`` is the dlerror() text verbatim; ``stage`` says which load failed.
    """

    libjvm: Path
    libhdfs: Path
    ok: bool
    stage: Literal["libjvm", "libhdfs", "python"] | None
    error: str | None
    returncode: int | None
    timed_out: bool = False
    stderr: str = ""


# --------------------------------------------------------------------- ELF


def _describe(ident: tuple[int, str, str] | None) -> str:
    if ident is None:
        return "unknown format"
    elf_class, data, machine = ident
    order = "big-endian" if data == "ELFDATA2MSB" else "little-endian"
    return f"ELFCLASS{elf_class} {machine} ({order})"


def _strings(tags: Iterable[Any], kind: str) -> tuple[str, ...]:
    attr = kind[3:].lower()  # DT_NEEDED -> needed, set by pyelftools' DynamicTag
    return tuple(str(getattr(t, attr)) for t in tags if t.entry.d_tag == kind)


def _parse_elf(path: Path, stream: BinaryIO) -> ElfInfo | ElfProblem:
    from elftools.elf.dynamic import DynamicSegment
    from elftools.elf.elffile import ELFFile

    size = os.fstat(stream.fileno()).st_size
    if stream.read(4) != _ELF_MAGIC:
        return ElfProblem(path, "not-elf", f"{path} is not an ELF file (invalid ELF header)")
    stream.seek(0)
    try:
        elf = ELFFile(stream)
    except Exception as exc:  # elftools raises assorted types on garbage
        kind: ProblemKind = "truncated" if size < _HDR_MIN else "corrupt"
        return ElfProblem(path, kind, f"{path}: unreadable ELF header ({size} bytes): {exc}")
    hdr = elf.header
    ident = (elf.elfclass, str(hdr["e_ident"]["EI_DATA"]), str(hdr["e_machine"]))

    def problem(kind: ProblemKind, detail: str) -> ElfProblem:
        return ElfProblem(path, kind, f"{path}: {detail}", *ident)

    tables = [("program headers", hdr["e_phoff"] + hdr["e_phnum"] * hdr["e_phentsize"])]
    if hdr["e_shoff"]:
        tables.append(("section headers", hdr["e_shoff"] + hdr["e_shnum"] * hdr["e_shentsize"]))
    for what, end in tables:
        if end > size:
            return problem("truncated", f"{what} end at byte {end}, file has {size}")
    try:
        segments = list(elf.iter_segments())
        for seg in segments:
            end = seg["p_offset"] + seg["p_filesz"]
            if end > size:
                return problem(
                    "truncated", f"segment {seg['p_type']} ends at byte {end}, file has {size}"
                )
        dyn = [s for s in segments if isinstance(s, DynamicSegment)]
        tags = list(dyn[0].iter_tags()) if dyn else []
        sonames = _strings(tags, "DT_SONAME")
        info = ElfInfo(
            path=path,
            elf_class=ident[0],
            data=ident[1],
            machine=ident[2],
            elf_type=str(hdr["e_type"]),
            soname=sonames[0] if sonames else None,
            needed=_strings(tags, "DT_NEEDED"),
            rpath=tuple(e for v in _strings(tags, "DT_RPATH") for e in v.split(":")),
            runpath=tuple(e for v in _strings(tags, "DT_RUNPATH") for e in v.split(":")),
        )
    except Exception as exc:  # a damaged dynamic section, string table, ...
        return problem("corrupt", f"dynamic section unreadable: {type(exc).__name__}: {exc}")
    return info


def read_elf(path: Path | str) -> ElfInfo | ElfProblem:
    """Read class, machine, NEEDED, RPATH, RUNPATH and SONAME of ``path``.

    Never raises for a bad file: a truncated, corrupt or non-ELF file is an
    :class:`ElfProblem`, because that is itself a diagnosis. Its ``ident``
    is kept when the header survived, so a 32-bit or foreign-architecture
    file is still recognised as such (ld.so checks that before anything else).
    """
    p = Path(path)
    try:
        with p.open("rb") as stream:
            return _parse_elf(p, stream)
    except FileNotFoundError:
        return ElfProblem(p, "missing", f"{p} does not exist")
    except OSError as exc:
        return ElfProblem(p, "unreadable", f"{p}: {exc.strerror or exc}")


@functools.lru_cache(maxsize=1)
def host_elf() -> ElfInfo:
    """ELF identity of this interpreter: what a library must match to load here."""
    info = read_elf(Path(sys.executable).resolve())
    if isinstance(info, ElfProblem):
        raise NativeLibraryError(
            f"cannot read the ELF header of this Python ({info.detail})",
            "run the doctor with a regular CPython executable",
        )
    return info


# -------------------------------------------------------------- resolution


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
class _Search:
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
            return "skip", e, f"{_describe(e.ident)}, not {_describe(self.host.ident)}"
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


def _search(
    ld_library_path: str | None,
    ld_cache: Path | None,
    default_dirs: Sequence[Path],
    host: ElfInfo | None,
    cwd: Path | None,
) -> _Search:
    here = cwd or Path.cwd()
    return _Search(
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
    return _search(ld_library_path, ld_cache, default_dirs, host, cwd).resolve(elf, recursive)


# ---------------------------------------------------------------- findings

_CORRUPT_FIX = (
    "The file is damaged (interrupted copy or download, full disk, bad parcel "
    "distribution). Re-distribute the parcel or reinstall the package that owns it, "
    "then compare its size and checksum with a healthy host."
)


def problem_finding(problem: ElfProblem, needed_by: Path | None = None) -> Finding:
    """A finding for a file ld.so would refuse: missing, not ELF, truncated, corrupt."""
    role = f" (needed by {needed_by})" if needed_by else ""
    code = {
        "missing": "native-libraries.file-missing",
        "unreadable": "native-libraries.file-unreadable",
        "not-elf": "native-libraries.not-elf",
        "truncated": "native-libraries.truncated",
        "corrupt": "native-libraries.corrupt",
    }[problem.kind]
    summary = {
        "missing": f"{problem.path}{role} does not exist",
        "unreadable": f"{problem.path}{role} cannot be read",
        "not-elf": f"{problem.path}{role} is not a shared library (no ELF header)",
        "truncated": f"{problem.path}{role} is truncated",
        "corrupt": f"{problem.path}{role} is corrupt",
    }[problem.kind]
    fix = {
        "missing": "Point ARROW_LIBHDFS_DIR / JAVA_HOME at the directory that really has it "
        "(on parcels libhdfs.so is in <parcel>/lib64, not lib/hadoop/lib/native).",
        "unreadable": f"Make {problem.path} readable by this user.",
        "not-elf": f"Replace {problem.path} with the real library (a linker script or "
        "text file under a library name cannot be dlopened).",
    }.get(problem.kind, _CORRUPT_FIX)
    return Finding(code, "error", summary, (problem.detail,), fix)


def architecture_finding(elf: ElfInfo | ElfProblem, host: ElfInfo | None = None) -> Finding | None:
    """An ``error`` if ``elf`` is built for another class or machine than ``host``."""
    me = host or host_elf()
    if elf.ident is None or elf.ident == me.ident:
        return None
    return Finding(
        "native-libraries.wrong-architecture",
        "error",
        f"{elf.path} is built for {_describe(elf.ident)}; this Python is {_describe(me.ident)}",
        (f"{elf.path}: {_describe(elf.ident)}", f"{me.path}: {_describe(me.ident)}"),
        f"Use a {me.elf_class}-bit {me.machine} build: the libhdfs.so of a parcel built for "
        "this platform (point ARROW_LIBHDFS_DIR at its lib64) and a JDK for this platform. "
        "ld.so skips such files silently and reports 'wrong ELF class' or 'cannot open'.",
    )


def _missing_finding(
    res: Resolution, ld_library_path: str | None, preloaded: bool, jvm_dir: Path | None
) -> Finding:
    llp = f"LD_LIBRARY_PATH={ld_library_path}" if ld_library_path else "LD_LIBRARY_PATH unset"
    evidence = (
        f"{res.needed_by}: NEEDED {res.soname} => not found",
        llp,
        *(f"skipped {s}" for s in res.skipped),
        *(f"searched {s}" for s in res.searched),
    )
    if res.soname.startswith("libjvm.so"):
        where = (
            str(jvm_dir)
            if jvm_dir
            else "$JAVA_HOME/lib/server (Java 8: $JAVA_HOME/jre/lib/amd64/server)"
        )
        fix = (
            f"Load libhdfs through pyarrow, which dlopens libjvm first (JAVA_HOME must be right), "
            f"or add {where} to LD_LIBRARY_PATH at process start (kernel.json env or a "
            "wrapper script; changing os.environ in a running process has no effect)."
        )
    else:
        fix = (
            f"Install the package that provides {res.soname}, or add its directory to "
            "LD_LIBRARY_PATH at process start (append; never prepend parcel dirs)."
        )
    note = "; pyarrow preloads it, so only direct loads fail" if preloaded else ""
    return Finding(
        "native-libraries.missing-dependency",
        "warn" if preloaded else "error",
        f"{res.soname}, needed by {res.needed_by}, cannot be found by the dynamic loader{note}",
        evidence,
        fix,
    )


def check_library(
    path: Path,
    ld_library_path: str | None,
    *,
    preloaded: Collection[str] = ("libjvm.so",),
    jvm_dir: Path | None = None,
    ld_cache: Path | None = DEFAULT_LD_CACHE,
    default_dirs: Sequence[Path] = DEFAULT_LIB_DIRS,
    host: ElfInfo | None = None,
    cwd: Path | None = None,
) -> list[Finding]:
    """Diagnose one library (libhdfs.so, libjvm.so) for the given LD_LIBRARY_PATH.

    Order follows ld.so: architecture first (a foreign file is never read
    further), then the file itself, then every transitive dependency.
    ``preloaded`` sonames are ones the caller loads beforehand (pyarrow
    dlopens libjvm before libhdfs), so their absence is a ``warn``.
    """
    search = _search(ld_library_path, ld_cache, default_dirs, host, cwd)
    elf = search.elf(path)
    arch = architecture_finding(elf, search.host)
    if arch:
        return [arch]
    if isinstance(elf, ElfProblem):
        return [problem_finding(elf)]
    findings: list[Finding] = []
    resolutions = search.resolve(elf, recursive=True)
    for res in resolutions:
        if res.problem is not None:
            findings.append(problem_finding(res.problem, res.needed_by))
        elif res.path is None:
            findings.append(
                _missing_finding(res, ld_library_path, res.soname in preloaded, jvm_dir)
            )
    return findings or [
        Finding(
            "native-libraries.dependencies-resolved",
            "ok",
            f"{path}: all {len(resolutions)} dependencies resolve",
            tuple(f"{r.soname} => {r.path} [{r.step}]" for r in resolutions),
        )
    ]


# --------------------------------------------------------------- shadowing


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
    search = _search(None, ld_cache, default_dirs, None, None)
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


def _same_file(a: Path, b: Path) -> bool:
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
    with_llp = _search(ld_library_path, ld_cache, default_dirs, host, cwd)
    without = _search(None, ld_cache, default_dirs, with_llp.host, with_llp.cwd)
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
        shadowed = [(who, p) for who, p in refs if p is not None and not _same_file(p, win.path)]
        if not shadowed:
            continue
        who, ref = shadowed[0]
        evidence = [f"LD_LIBRARY_PATH ({label}) copy: {win.path}"]
        for w, p in refs:
            if p is not None:
                same = _same_file(p, win.path)
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


# ------------------------------------------------------------------- probe

_PROBE = """
import ctypes, json, sys
for stage, path in (("libjvm", sys.argv[1]), ("libhdfs", sys.argv[2])):
    print(json.dumps({"loading": stage}), flush=True)
    try:
        ctypes.CDLL(path)
    except OSError as exc:
        print(json.dumps({"stage": stage, "error": str(exc)}), flush=True)
        sys.exit(3)
print(json.dumps({"ok": True}), flush=True)
"""


def _probe_result(libjvm: Path, libhdfs: Path, done: subprocess.CompletedProcess[str]) -> LoadProbe:
    """Read the child's last JSON line; a signal death is blamed on the stage it was in."""
    events: list[dict[str, Any]] = []
    for ln in done.stdout.splitlines():
        try:
            event = json.loads(ln) if ln.startswith("{") else None
        except ValueError:
            event = None  # a library's constructor printed something of its own
        if isinstance(event, dict):
            events.append(event)
    last: dict[str, Any] = events[-1] if events else {}
    rc = done.returncode
    if last.get("ok"):
        return LoadProbe(libjvm, libhdfs, True, None, None, rc, False, done.stderr)
    if "error" in last:
        return LoadProbe(
            libjvm, libhdfs, False, last["stage"], last["error"], rc, False, done.stderr
        )
    stage = last.get("loading")
    if stage in ("libjvm", "libhdfs") and rc < 0:
        path = libjvm if stage == "libjvm" else libhdfs
        text = f"killed by {signal.Signals(-rc).name} while loading {path}"
        return LoadProbe(libjvm, libhdfs, False, stage, text, rc, False, done.stderr)
    tail = done.stderr.strip().splitlines()
    text = tail[-1] if tail else f"probe exited with status {rc}"
    return LoadProbe(libjvm, libhdfs, False, "python", text, rc, False, done.stderr)


def probe_argv(libjvm: Path, libhdfs: Path) -> list[str]:
    """The load probe's command line: an isolated Python (``-I -S``) that dlopens both."""
    return [sys.executable, "-I", "-S", "-c", _PROBE, str(libjvm), str(libhdfs)]


def probe_result(libjvm: Path, libhdfs: Path, done: subprocess.CompletedProcess[str]) -> LoadProbe:
    """The :class:`LoadProbe` for a finished run of :func:`probe_argv`."""
    return _probe_result(libjvm, libhdfs, done)


def probe_timed_out(libjvm: Path, libhdfs: Path, timeout: float, stderr: str = "") -> LoadProbe:
    return LoadProbe(
        libjvm, libhdfs, False, None, f"timed out after {timeout}s", None, True, stderr
    )


def probe_load(libjvm: Path, libhdfs: Path, env: Mapping[str, str], timeout: float) -> LoadProbe:
    """dlopen ``libjvm`` then ``libhdfs`` in a child with exactly ``env``.

    A child, because a failed dlopen can kill the caller (a truncated
    library dies with SIGBUS) and because LD_LIBRARY_PATH only takes effect
    at process start. Loading libjvm first is what pyarrow does; no JVM is
    started. ``error`` is dlerror()'s text as ctypes reports it.

    The child starts through ``Context.spawn``, the doctor's one launch path, with this
    process's own environment as the base: ``env`` must be the calling user's.
    """
    import subprocess

    from .context import Context

    ctx = Context(env=dict(env), timeout=timeout + 60)  # the probe's own cap decides
    try:
        done = ctx.spawn(
            "the native load probe", probe_argv(libjvm, libhdfs), extra_env={}, cap=timeout
        )
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        return probe_timed_out(libjvm, libhdfs, timeout, err)
    return _probe_result(libjvm, libhdfs, done)


def _load_fix(error: str) -> str:
    if "cannot open shared object file" in error:
        return (
            "A file or one of its dependencies is missing (ld.so says the same for a "
            "library of another machine type): check JAVA_HOME (A2) and ARROW_LIBHDFS_DIR "
            "(A1); check_library() on the named library tells which."
        )
    if "wrong ELF class" in error or "invalid ELF header" in error or "too short" in error:
        return "The library is for another architecture or damaged; replace it (see its finding)."
    if error.startswith("killed by"):
        return "The library crashed the loader, typically a truncated file: see native.truncated."
    if "undefined symbol" in error or "version" in error:
        return (
            "Two builds of a library are being mixed, usually through LD_LIBRARY_PATH (E1): "
            "remove parcel and JDK dirs from it."
        )
    return "See the error text; run check_library() on both libraries for details."


def load_finding(probe: LoadProbe) -> Finding:
    """The doctor's view of a :class:`LoadProbe`."""
    evidence = (f"libjvm: {probe.libjvm}", f"libhdfs: {probe.libhdfs}")
    if probe.ok:
        return Finding(
            "native-libraries.load", "ok", "libjvm and libhdfs load in a fresh process", evidence
        )
    if probe.timed_out:
        return Finding(
            "native-libraries.load-timeout",
            "error",
            f"loading {probe.libjvm} and {probe.libhdfs} did not finish: {probe.error}",
            evidence,
            "A library constructor hangs; check for NFS-mounted parcels or JDK dirs.",
        )
    error = probe.error or ""
    target = {"libjvm": probe.libjvm, "libhdfs": probe.libhdfs}.get(probe.stage or "")
    what = f"loading {target}" if target else "starting the probe"
    return Finding(
        "native-libraries.load",
        "error",
        f"{what} failed: {error}",
        (*evidence, error),
        _load_fix(error),
    )
