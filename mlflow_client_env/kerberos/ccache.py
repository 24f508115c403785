"""Credential caches as files: MIT's FILE cache format, read safely.

``ticket`` judges a ticket; this module only reads what a cache holds. A FILE cache
(and each file of a DIR collection) is read in MIT's documented binary format
(versions 3 and 4), bounded, never blocking on a FIFO or a device, under the shared
lock libkrb5's own readers take, and never written to. Other cache types (KEYRING,
KCM) have no file: ``ticket`` asks python-gssapi about them.

Format: https://web.mit.edu/kerberos/krb5-latest/doc/formats/ccache_file_format.html
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from pathlib import Path

from ..errors import CcacheFormatError, CcacheUnreadableError
from ..records import record
from ..safeio import file_kind

#: What to do about a missing, expired or unusable ticket (every message of ours says it so).
KINIT_FIX = "run 'kinit' (or 'mlflow-client-env kinit --keytab K --principal P')"

#: A FILE cache holds a TGT and some service tickets: kilobytes. Read no more than this.
MAX_CCACHE_BYTES = 4 * 1024 * 1024
#: Seconds a reader waits for libkrb5 to finish writing a cache (it holds its lock for
#: milliseconds; a stuck writer is read past, never waited on).
LOCK_WAIT = 2.0
#: Errors of ``open`` that libkrb5 (cc_file.c) reports as "no credentials cache found"
#: (KRB5_FCC_NOFILE), as ENOENT: a path through a file, a link loop, a name too long.
NO_FILE_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG})


def read_regular_file(
    path: str | os.PathLike[str],
    max_bytes: int = MAX_CCACHE_BYTES,
    *,
    follow_symlinks: bool = True,
    what: str = "credential cache",
) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``max_bytes``.

    Opened with O_NONBLOCK (a FIFO never blocks the open or the read) and checked
    with fstat before anything is read: a FIFO, a directory, a device or a socket
    raises ``CcacheUnreadableError``, a larger file ``CcacheFormatError``. OSError
    (missing, permission) propagates. Read under a shared lock (``_read_lock``), so none
    of libkrb5's locked writes (an append, a credential stored) is seen half done. An
    outside ``kinit`` rewrites a cache in several locked steps: between them a reader
    may still see it empty or without its TGT, as libkrb5's own readers may.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    fix = f"point KRB5CCNAME at a ticket cache file, then log in: {KINIT_FIX}"
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        try:
            mode = os.lstat(path).st_mode if not follow_symlinks else os.stat(path).st_mode
        except OSError:
            raise exc from None
        if stat.S_ISREG(mode):
            raise
        raise CcacheUnreadableError(
            f"the {what} {path} is {file_kind(mode)}, not a file ({exc.strerror})", fix
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CcacheUnreadableError(
                f"the {what} {path} is {file_kind(st.st_mode)}, not a file", fix
            )
        if st.st_size > max_bytes:
            raise CcacheFormatError(
                f"the {what} {path} is implausibly large ({st.st_size} bytes)",
                f"remove it and log in again: {KINIT_FIX}",
            )
        _read_lock(fd)
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:  # it grew while we read
            raise CcacheFormatError(
                f"the {what} {path} is implausibly large (over {max_bytes} bytes)",
                f"remove it and log in again: {KINIT_FIX}",
            )
        return data
    finally:
        os.close(fd)


def _read_lock(fd: int, wait: float | None = None) -> None:
    """Take a shared lock on the open file ``fd``, waiting at most ``wait`` seconds.

    libkrb5 changes a FILE cache in place (``kinit`` rewrites it, gssapi appends
    entries) under an exclusive lock: an open-file-description lock on the whole file
    on Linux, which conflicts with this one. Its readers take the shared lock; so does
    this, so a cache is never parsed halfway through a write. An OFD lock, unlike a
    classic POSIX lock, is not dropped when some other descriptor of the file is closed
    in this process; it goes with ``fd``. Where there are no OFD locks, on a file system
    without locks, or when a writer holds the lock longer than ``wait``, the file is read
    without it (as before), never blocked on.
    """
    import fcntl

    cmd = getattr(fcntl, "F_OFD_SETLK", None)
    if cmd is None:
        return
    # struct flock: l_type, l_whence, l_start, l_len (0: to the end), l_pid (0 for OFD)
    flock = struct.pack("hhqqi4x", fcntl.F_RDLCK, os.SEEK_SET, 0, 0, 0)
    deadline = None
    while True:
        try:
            fcntl.fcntl(fd, cmd, flock)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                return  # no locks here (ENOLCK, EINVAL...): read as before
        import time

        now = time.monotonic()
        deadline = now + (LOCK_WAIT if wait is None else wait) if deadline is None else deadline
        if now >= deadline:
            return
        time.sleep(0.005)


# --------------------------------------------------------------------------- the file format
@record
class CachedCredential:
    """One credential of a FILE cache (times are POSIX seconds, 0 when unset)."""

    client: str
    server: str
    authtime: int
    starttime: int
    endtime: int
    renew_till: int
    flags: int

    @property
    def is_config(self) -> bool:
        """MIT stores settings as fake credentials for ``X-CACHECONF:``."""
        return self.server.endswith("@X-CACHECONF:")

    def is_tgt_for(self, realm: str) -> bool:
        return self.server == f"krbtgt/{realm}@{realm}"


@record
class FileCcache:
    principal: str
    credentials: tuple[CachedCredential, ...]

    @property
    def realm(self) -> str:
        return self.principal.rpartition("@")[2]

    def tgt(self) -> CachedCredential | None:
        """The client realm's TGT with the latest end time."""
        tgts = [c for c in self.credentials if c.is_tgt_for(self.realm)]
        return max(tgts, key=lambda c: c.endtime) if tgts else None


class _Reader:
    def __init__(self, data: bytes, origin: str) -> None:
        self.data = data
        self.pos = 0
        self.origin = origin

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise CcacheFormatError(
                f"{self.origin}: credential cache is truncated or corrupt (at byte {self.pos})",
                f"remove it and log in again: {KINIT_FIX}",
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return int(self.take(1)[0])

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def counted(self) -> bytes:
        return self.take(self.u32())

    def principal(self) -> str:
        self.u32()  # name type
        count = self.u32()
        if count > 64:
            raise CcacheFormatError(
                f"{self.origin}: implausible principal ({count} components)", KINIT_FIX
            )
        realm = self.counted().decode("utf-8", "replace")
        parts = [self.counted().decode("utf-8", "replace") for _ in range(count)]
        return "/".join(parts) + "@" + realm

    def done(self) -> bool:
        return self.pos >= len(self.data)


def parse_file_ccache(data: bytes, origin: str = "credential cache") -> FileCcache:
    """Parse an MIT FILE ccache (versions 3 and 4, the ones MIT writes; big-endian).

    Format: https://web.mit.edu/kerberos/krb5-latest/doc/formats/ccache_file_format.html
    """
    r = _Reader(data, origin)
    if len(data) < 2 or data[0] != 5 or data[1] not in (3, 4):
        raise CcacheFormatError(
            f"{origin}: not an MIT FILE credential cache of version 3 or 4",
            f"remove it and log in again: {KINIT_FIX}",
        )
    version = data[1]
    r.take(2)
    if version == 4:
        r.take(r.u16())  # header fields (KDC time offset)
    principal = r.principal()
    creds: list[CachedCredential] = []
    while not r.done():
        client = r.principal()
        server = r.principal()
        r.u16()  # key enctype
        if version == 3:
            r.u16()
        r.counted()  # key
        authtime, starttime, endtime, renew_till = (r.u32() for _ in range(4))
        r.u8()  # is_skey
        flags = r.u32()
        for _ in range(r.u32()):  # addresses
            r.u16()
            r.counted()
        for _ in range(r.u32()):  # authdata
            r.u16()
            r.counted()
        r.counted()  # ticket
        r.counted()  # second ticket
        creds.append(
            CachedCredential(client, server, authtime, starttime, endtime, renew_till, flags)
        )
    return FileCcache(principal, tuple(creds))


def read_file_ccache(path: Path) -> FileCcache:
    """Read (bounded, never blocking on a FIFO) and parse a FILE cache.

    Raises ``CcacheUnreadableError`` for a FIFO/directory/device/socket,
    ``CcacheFormatError`` for a corrupt or huge file; OSError propagates (missing,
    permissions).
    """
    return parse_file_ccache(read_regular_file(path), str(path))


def check_dir_ccache(residual: str) -> None:
    """For a DIR cache: the files libkrb5 would open must be regular files (or absent).

    Raises ``CcacheUnreadableError`` otherwise (a FIFO there would hang libkrb5)."""
    fix = f"remove it and log in again: {KINIT_FIX}"
    if residual.startswith(":"):
        files = [Path(residual[1:])]
    else:
        base = Path(residual)
        try:
            st = os.stat(base)
        except OSError:
            return
        if not stat.S_ISDIR(st.st_mode):
            raise CcacheUnreadableError(
                f"the DIR cache {residual} is {file_kind(st.st_mode)}, not a directory", fix
            )
        files = [base / "primary"]
        try:
            name = read_regular_file(base / "primary", 4096).decode(errors="replace").strip()
            if name and "/" not in name:
                files.append(base / name)
        except OSError:
            pass
    for f in files:
        try:
            mode = os.stat(f).st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode):
            raise CcacheUnreadableError(f"{f} (of the DIR cache) is {file_kind(mode)}", fix)
