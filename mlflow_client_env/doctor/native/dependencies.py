"""One library (libhdfs.so, libjvm.so) and its dependencies, as findings: a file of
another architecture, a missing, non-ELF, truncated or corrupt file, and a dependency
the loader cannot find (``loader``) for a given LD_LIBRARY_PATH.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from ...findings import Finding
from .elf import ElfInfo, ElfProblem, describe, host_elf
from .ldcache import DEFAULT_LD_CACHE
from .loader import DEFAULT_LIB_DIRS, Resolution, new_search

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
        f"{elf.path} is built for {describe(elf.ident)}; this Python is {describe(me.ident)}",
        (f"{elf.path}: {describe(elf.ident)}", f"{me.path}: {describe(me.ident)}"),
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
    search = new_search(ld_library_path, ld_cache, default_dirs, host, cwd)
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
