"""Merging entries into ``:``-separated path lists (PATH, CLASSPATH, LD_LIBRARY_PATH).

Two rules keep user setups intact: merging is idempotent (running ``setup()``
twice, or in a kernel that already has our values, changes nothing) and the
user's own entries keep their order. An entry that itself contains ``:`` cannot
be represented in such a list at all, so it is refused instead of silently
splitting into two bogus entries.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from .errors import PathListError

SEP = ":"


def split(value: str | None) -> list[str]:
    """Entries of a path list; empty entries (``a::b``, trailing ``:``) are dropped."""
    return [e for e in (value or "").split(SEP) if e]


def check_entry(entry: str, variable: str) -> str:
    """Return ``entry`` or raise PathListError if it cannot live in a path list."""
    if SEP in entry:
        raise PathListError(
            f"{variable}: the path {entry!r} contains ':', which separates entries in {variable}",
            "rename or move the directory (or make a symlink to it without ':') and point "
            "the option at that path",
        )
    if not entry:
        raise PathListError(f"{variable}: an empty entry was given", "pass a real path")
    return entry


def unique(entries: Iterable[str]) -> list[str]:
    """Entries with later duplicates removed, first occurrences kept in order."""
    seen: set[str] = set()
    out = []
    for e in entries:
        if e not in seen:
            seen.add(e)
            out.append(e)
    return out


def join(entries: Iterable[str], variable: str) -> str:
    return SEP.join(check_entry(e, variable) for e in unique(entries))


def _entries(value: str | None) -> list[str]:
    """The user's entries exactly as they are (empty ones included: in PATH they mean ``.``)."""
    return value.split(SEP) if value else []


def prepend(existing: str | None, new: Sequence[str], variable: str) -> str:
    """``new`` first (in order), then the user's entries that are not among them, as they were."""
    first = unique(check_entry(e, variable) for e in new)
    return SEP.join([*first, *(e for e in _entries(existing) if e not in first)])


def append(existing: str | None, new: Sequence[str], variable: str) -> str:
    """The user's entries unchanged, then those of ``new`` not yet present."""
    current = _entries(existing)
    extra = [e for e in unique(check_entry(e, variable) for e in new) if e not in current]
    return SEP.join([*current, *extra])


def appended(before: str | None, after: str | None) -> list[str] | None:
    """The entries ``after`` adds at the end of ``before`` (what :func:`append` added), or
    None when ``after`` is not ``before`` with entries appended (an entry removed, moved or
    put first)."""
    old, new = _entries(before), _entries(after)
    if len(new) < len(old) or new[: len(old)] != old:
        return None
    return new[len(old) :]


def which(name: str, path: str | None) -> str | None:
    """The first executable ``name`` on a ``:``-list ``path`` (``shutil.which`` without
    importing ``shutil``, which the setup() path does not otherwise need)."""

    for folder in (path or "").split(":"):
        candidate = os.path.join(folder or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None
