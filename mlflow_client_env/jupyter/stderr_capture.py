"""Keep the last bytes written to fd 2 in a kernel, and pass every byte on unchanged.

Why: when libhdfs cannot connect, pyarrow raises only ``OSError: HDFS connection
failed``. The reason (Java's exception: ``NoClassDefFoundError``, ``GSS initiate
failed`` ...) is written to file descriptor 2 by the JVM and by libhdfs' C code, not
through Python's ``sys.stderr``, so it reaches the Jupyter server's log and never the
notebook's explainer (``ipython_hook``). With the last bytes of fd 2 at hand, the
explainer can name the catalog entry.

How: fd 2 becomes the write end of a pipe; one daemon thread reads the pipe, writes every
byte as it came to the original stderr (a duplicate kept before the switch: the
Jupyter server's log, or ipykernel's own fd capture, which forwards it to the
notebook), and keeps the last ``RING_BYTES`` in memory. Nothing is ever written
anywhere else; whoever *shows* the text redacts it (``mlflow_client_env.redact``).

What it must never do is hang the kernel:

- a writer blocks only when the pipe is full, so the pipe is made as large as Linux
  lets an unprivileged process have (``/proc/sys/fs/pipe-max-size``, 1 MiB by
  default; else the default 64 KiB), and the reader only copies bytes (no decoding, no
  parsing, no allocation beyond the ring);
- if the reader dies (any exception), fd 2 is pointed back at the original stderr
  before the thread ends, and what was left in the pipe is passed on; the explainer also
  checks the thread on every use (:meth:`StderrCapture.check`);
- the explainer waits for the reader's lock at most ``timeout`` seconds;
- at exit (atexit runs before ipykernel's own handler, which was registered earlier)
  and in a child made by ``fork`` (which has no reader thread), fd 2 goes back to the
  original.

Set up in the kernel process itself, when the launcher's IPython extension loads: the
launcher may ``execve`` ipykernel, and only file descriptors survive an exec, not threads.
"""

from __future__ import annotations

import os
import threading
from contextlib import suppress

#: How much of fd 2's latest output is kept (memory only).
RING_BYTES = 64 * 1024
#: The pipe size asked for: room for this much output while the reader is behind.
PIPE_BYTES = 1024 * 1024
_CHUNK = 64 * 1024


class StderrCapture:
    """fd ``fd`` teed into the original and into a ring of the last ``ring_bytes`` bytes."""

    def __init__(self, fd: int = 2, ring_bytes: int = RING_BYTES) -> None:
        self.fd = fd
        self.ring_bytes = ring_bytes
        #: Why the reader stopped, when it failed (None while it runs, or after a clean end).
        self.error: BaseException | None = None
        self._ring = bytearray()
        self._total = 0  # bytes read from the pipe so far
        self._mark = 0  # _total when mark() was last called
        self._lock = threading.Lock()
        self._saved = -1  # a duplicate of the original fd
        self._rfd = -1  # the pipe's read end
        self._pipe: tuple[int, int] | None = None  # (st_dev, st_ino) of the pipe
        self._thread: threading.Thread | None = None
        self._closed = False

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> bool:
        """Switch ``fd`` to the pipe and start the reader; False (nothing changed) if not
        possible (``fd`` closed, no pipes or threads left)."""
        try:
            saved = os.dup(self.fd)  # not inheritable: children get fd 2, never this copy
        except OSError:
            return False
        rfd = wfd = -1
        try:
            rfd, wfd = os.pipe()  # both not inheritable
            _grow_pipe(wfd)
            os.set_blocking(rfd, False)  # the read end only: writers still block, never fail
            st = os.fstat(rfd)
        except OSError:
            for fd in (saved, rfd, wfd):
                if fd >= 0:
                    os.close(fd)
            return False
        self._saved, self._rfd = saved, rfd
        self._pipe = (st.st_dev, st.st_ino)
        thread = threading.Thread(target=self._run, name="mlflow-client-env-stderr", daemon=True)
        try:
            os.dup2(wfd, self.fd)  # inheritable: a subprocess's stderr is teed as well
            thread.start()
        except BaseException:
            self._fall_back()
            raise
        finally:
            os.close(wfd)  # fd is now the only write end
        self._thread = thread
        return True

    def stop(self, timeout: float = 1.0) -> None:
        """Give ``fd`` back to the original stderr and pass on what the pipe still holds.

        The reader ends when no write end is left (a child may still hold one: then it
        keeps passing that child's output on)."""
        self._restore_fd()
        self.sync(timeout)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def active(self) -> bool:
        """True while ``fd`` is the pipe and the reader runs."""
        thread = self._thread
        return thread is not None and thread.is_alive() and self._is_ours()

    def check(self) -> bool:
        """The watchdog: if the reader is gone but ``fd`` is still the pipe (nobody reads
        it: writers would block once it is full), give ``fd`` back to the original."""
        thread = self._thread
        if thread is not None and not thread.is_alive() and self._is_ours():
            self._fall_back()
        return self.active

    # --- what the explainer asks --------------------------------------------------------

    def sync(self, timeout: float = 1.0) -> bool:
        """Take in what was written to ``fd`` up to now, even if the reader has not run yet.

        False when the reader held the lock longer than ``timeout`` (stuck passing bytes
        to a blocked original stderr): the ring then has what was read so far."""
        return self._snapshot(timeout, ring=False)[0]

    def mark(self, timeout: float = 1.0) -> None:
        """Remember the current position (a cell starts): see :meth:`since_mark`."""
        self._mark = self._snapshot(timeout, ring=False)[1]

    def since_mark(self, timeout: float = 1.0) -> str:
        """What ``fd`` received since :meth:`mark` (at most the ring's size: the newest
        bytes), decoded; secrets NOT removed: redact before showing it."""
        _, total, ring = self._snapshot(timeout, ring=True)
        n = min(total - self._mark, len(ring))
        return ring[len(ring) - n :].decode("utf-8", errors="replace") if n > 0 else ""

    def tail(self, timeout: float = 1.0) -> str:
        """The whole ring (the newest ``ring_bytes`` bytes), decoded; redact before showing."""
        return self._snapshot(timeout, ring=True)[2].decode("utf-8", errors="replace")

    def _snapshot(self, timeout: float, ring: bool) -> tuple[bool, int, bytes]:
        """(synced, bytes read so far, a copy of the ring), after taking in what the pipe
        holds. Never waits more than ``timeout`` for the reader: if it is stuck passing a
        chunk on, the chunk is not kept yet, so the unlocked copy is still consistent."""
        got = self._lock.acquire(timeout=timeout)
        try:
            if got and self._rfd >= 0:
                with suppress(OSError):
                    self._pump()
            return got, self._total, bytes(self._ring) if ring else b""
        finally:
            if got:
                self._lock.release()

    # --- the reader ---------------------------------------------------------------------

    def _run(self) -> None:
        import select

        try:
            poller = select.poll()
            poller.register(self._rfd, select.POLLIN)
            while True:
                poller.poll()  # readable, or every write end closed (POLLHUP)
                with self._lock:
                    if not self._pump():
                        return  # end of file: fd was given back and no child holds the pipe
        except BaseException as exc:
            self.error = exc
        finally:
            self._fall_back()

    def _pump(self) -> bool:
        """Read what the pipe holds (at most its size, never waiting), pass it on, keep it.

        Called with the lock held. False at end of file."""
        got = 0
        while got < PIPE_BYTES:
            try:
                data = os.read(self._rfd, _CHUNK)
            except BlockingIOError:
                return True
            if not data:
                return False
            got += len(data)
            _write_all(self._saved, data)
            self._keep(data)
        return True

    def _keep(self, data: bytes) -> None:
        self._total += len(data)
        ring = self._ring
        ring += data
        extra = len(ring) - self.ring_bytes
        if extra > 0:
            del ring[:extra]

    # --- giving fd back -----------------------------------------------------------------

    def _is_ours(self) -> bool:
        if self._pipe is None:
            return False
        try:
            st = os.fstat(self.fd)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self._pipe

    def _restore_fd(self) -> None:
        if self._saved >= 0 and self._is_ours():
            with suppress(OSError):
                os.dup2(self._saved, self.fd)

    def _fall_back(self) -> None:
        """``fd`` back to the original, the pipe's leftovers passed on, our fds closed."""
        self._restore_fd()
        if not self._lock.acquire(timeout=1.0):
            return  # held by a stuck sync(): fd is back already; the fds stay open
        try:
            if self._closed:
                return
            self._closed = True
            if self._rfd >= 0:
                with suppress(OSError):
                    self._pump()
            self._close_fds()
        finally:
            self._lock.release()

    def _close_fds(self) -> None:
        for fd in (self._rfd, self._saved):
            if fd >= 0:
                with suppress(OSError):
                    os.close(fd)
        self._rfd = self._saved = -1

    def _forget_in_child(self) -> None:
        """After fork: the child has no reader; its fd 2 goes back to the original stderr."""
        self._restore_fd()
        self._close_fds()
        self._closed = True
        self._thread = None
        self._lock = threading.Lock()  # the parent's reader may have held it at fork


def _grow_pipe(fd: int) -> None:
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):  # not Linux, or over the user's pipe quota
        pass


def _write_all(fd: int, data: bytes) -> None:
    """All of ``data`` to ``fd``, as a direct write would have done; an error (the original
    stderr is gone) drops it, as it would have been dropped without the capture."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:  # a non-blocking original: wait for room, as a writer would
            import select

            poller = select.poll()
            poller.register(fd, select.POLLOUT)
            poller.poll()
            continue
        except OSError:
            return
        view = view[n:]


_active: StderrCapture | None = None
_hooks_registered = False


def start(fd: int = 2) -> StderrCapture | None:
    """Capture ``fd`` in this process (once); None if it cannot be done."""
    global _active, _hooks_registered
    if _active is not None and _active.check():
        return _active
    cap = StderrCapture(fd)
    try:
        started = cap.start()
    except Exception:
        started = False
    if not started:
        return None
    _active = cap
    if not _hooks_registered:
        import atexit

        atexit.register(_stop_active)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_forget_in_child)
        _hooks_registered = True
    return cap


def current() -> StderrCapture | None:
    """The running capture of this process, if any (the watchdog is run first)."""
    cap = _active
    if cap is None:
        return None
    return cap if cap.check() else None


def _stop_active() -> None:
    global _active
    cap, _active = _active, None
    if cap is not None:
        cap.stop(timeout=0.2)  # a child still holding the pipe must not delay the exit


def _forget_in_child() -> None:
    global _active
    cap, _active = _active, None
    if cap is not None:
        cap._forget_in_child()
