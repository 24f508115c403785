"""What ld.so reads from a shared object before loading it: ELF class, data encoding and
machine, type, and the dynamic section's NEEDED, RPATH, RUNPATH and SONAME.

pyelftools is imported only when a file is read (``read_elf``), never at import.
A bad file is never an exception here: a missing, unreadable, non-ELF, truncated or
corrupt file is an ``ElfProblem``, because that is itself a diagnosis.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO, Literal

from ...errors import NativeLibraryError
from ...records import record

ProblemKind = Literal["missing", "unreadable", "not-elf", "truncated", "corrupt"]

_ELF_MAGIC = b"\x7fELF"
_HDR_MIN = 64  # a 64-bit ELF header; anything shorter cannot be a whole header


@record
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


@record
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


def describe(ident: tuple[int, str, str] | None) -> str:
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
