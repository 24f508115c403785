"""Read glibc's ``/etc/ld.so.cache``: the soname table ld.so consults after
LD_LIBRARY_PATH and RUNPATH, and before its default directories.

Why the cache file and not a scan of the directories in ``/etc/ld.so.conf``:
ld.so never reads ``ld.so.conf``; it reads this file, which ``ldconfig``
wrote from the configuration the last time it ran. On hosts where a parcel
or RPM dropped a library (or a ``ld.so.conf.d`` entry) without re-running
``ldconfig``, a directory scan would claim a library is found that ld.so in
fact cannot find, and vice versa for a library deleted since. The doctor's
question is "what will the loader do", so we read what the loader reads.
A missing or unrecognised cache is what ld.so treats as "no cache step".

The format is glibc's, not ELF: a header, fixed-size entries, and a string
table. Both the current format (``glibc-ld.so.cache1.1``, glibc >= 2.32)
and the older compat layout still written on RHEL 7/8 (``ld.so-1.7.0``
followed by the new table) are understood.
"""

from __future__ import annotations

import struct
from pathlib import Path

from ...records import record

DEFAULT_LD_CACHE = Path("/etc/ld.so.cache")

_OLD_MAGIC = b"ld.so-1.7.0"
_NEW_MAGIC = b"glibc-ld.so.cache1.1"
_OLD_HEADER = struct.Struct("=12sI")  # magic (11 bytes, padded), nlibs
_OLD_ENTRY = struct.Struct("=iII")  # flags, key, value
_NEW_HEADER = struct.Struct("=20sIIB3xI12x")  # magic+version, nlibs, len_strings, flags, ext
_NEW_ENTRY = struct.Struct("=iIIIQ")  # flags, key, value, osversion, hwcap
_NEW_ALIGN = 8  # __alignof__(struct cache_file_new): it holds a uint64_t

#: Entries with this hwcap bit point into ``glibc-hwcaps/`` subdirectories.
HWCAP_EXTENSION = 1 << 62


@record
class CacheEntry:
    """One ``soname => path`` line, as ``ldconfig -p`` would print it."""

    soname: str
    path: Path
    flags: int
    hwcap: int


@record
class LdCache:
    """The parsed cache; ``problem`` says why it is empty when it is."""

    path: Path
    entries: tuple[CacheEntry, ...]
    problem: str | None = None

    def lookup(self, soname: str, flags: int | None = None) -> Path | None:
        """The one path ld.so takes from the cache for ``soname``, or None.

        Like ld.so, only entries with this host's ``flags`` count (None: any),
        and only the first is used: if that file turns out unusable, ld.so
        moves on to its default directories, not to the next entry. ld.so may
        prefer a ``glibc-hwcaps`` variant when the CPU supports it; we take
        the baseline entry, which exists for every CPU.
        """
        hits = [e for e in self.entries if e.soname == soname and flags in (None, e.flags)]
        hits.sort(key=lambda e: bool(e.hwcap & HWCAP_EXTENSION))
        return hits[0].path if hits else None


#: ``(ELF class, e_machine) -> entry flags`` that ld.so accepts, per glibc's
#: ``_dl_cache_check_flags`` (FLAG_ELF_LIBC6 | the architecture's bits).
_HOST_FLAGS: dict[tuple[int, str], int] = {
    (64, "EM_X86_64"): 0x0303,
    (32, "EM_X86_64"): 0x0803,  # x32
    (32, "EM_386"): 0x0003,
    (64, "EM_AARCH64"): 0x0A03,
    (64, "EM_PPC64"): 0x0503,
    (64, "EM_S390"): 0x0403,
}


def host_flags(elf_class: int, machine: str) -> int | None:
    """Cache flags ld.so accepts on this host; None (accept all) if unknown."""
    return _HOST_FLAGS.get((elf_class, machine))


def _cstring(data: bytes, offset: int) -> str | None:
    end = data.find(b"\0", offset)
    if offset >= len(data) or end < 0:
        return None
    return data[offset:end].decode("utf-8", "surrogateescape")


def _entries(
    data: bytes, first: int, count: int, entry: struct.Struct, strings: int
) -> tuple[CacheEntry, ...] | None:
    out: list[CacheEntry] = []
    for i in range(count):
        fields = entry.unpack_from(data, first + i * entry.size)
        flags, key, value = fields[0], fields[1], fields[2]
        hwcap = fields[4] if len(fields) > 4 else 0
        name, target = _cstring(data, strings + key), _cstring(data, strings + value)
        if name is None or target is None:
            return None
        out.append(CacheEntry(name, Path(target), flags, hwcap))
    return tuple(out)


def parse_ld_cache(data: bytes, path: Path = DEFAULT_LD_CACHE) -> LdCache:
    """Parse cache bytes; a malformed cache yields no entries and a ``problem``."""
    new_at: int | None = None
    entries: tuple[CacheEntry, ...] | None = None
    if data.startswith(_OLD_MAGIC) and len(data) >= _OLD_HEADER.size:
        (_, nlibs) = _OLD_HEADER.unpack_from(data)
        end = _OLD_HEADER.size + nlibs * _OLD_ENTRY.size
        if end > len(data):
            return LdCache(path, (), f"{path}: old-format entry table runs past the end")
        aligned = -(-end // _NEW_ALIGN) * _NEW_ALIGN
        if data[aligned : aligned + len(_NEW_MAGIC)] == _NEW_MAGIC:
            new_at = aligned
        else:  # strings follow the entries, offsets are relative to them
            entries = _entries(data, _OLD_HEADER.size, nlibs, _OLD_ENTRY, end)
    elif data.startswith(_NEW_MAGIC):
        new_at = 0
    else:
        return LdCache(path, (), f"{path}: not a glibc ld.so.cache (unknown magic)")

    if new_at is not None:
        if len(data) < new_at + _NEW_HEADER.size:
            return LdCache(path, (), f"{path}: header is truncated")
        _, nlibs, _, _, _ = _NEW_HEADER.unpack_from(data, new_at)
        first = new_at + _NEW_HEADER.size
        if first + nlibs * _NEW_ENTRY.size > len(data):
            return LdCache(path, (), f"{path}: entry table runs past the end")
        # New-format string offsets are relative to the new header.
        entries = _entries(data, first, nlibs, _NEW_ENTRY, new_at)
    if entries is None:
        return LdCache(path, (), f"{path}: a string offset points outside the file")
    return LdCache(path, entries)


def read_ld_cache(path: Path = DEFAULT_LD_CACHE) -> LdCache:
    """Read and parse ``path``; absent or unreadable means no cache step, as for ld.so."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return LdCache(path, (), f"{path} does not exist")
    except OSError as exc:
        return LdCache(path, (), f"{path}: {exc.strerror or exc}")
    return parse_ld_cache(data, path)
