"""In a notebook, follow an HDFS/JVM/Kerberos error with its catalog entry and fix.

The raw ``OSError`` from pyarrow or a JVM stack trace says little; after the
usual traceback we print which link broke and what to change (``explain``).
Installed by ``setup()`` when it runs under IPython, and by every kernel that
``install-kernel`` made. It never replaces a handler someone else installed.

For a Java-side failure pyarrow says only "HDFS connection failed": the reason went to
the process's fd 2, written by the JVM. In a launcher kernel fd 2 is captured
(:mod:`.stderr_capture`, started by :func:`watch_stderr`), so after an ``OSError``
raised inside pyarrow the explainer also reads what fd 2 received since the cell
started, and the catalog picks the entry from both texts.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time (import cost; mypy honours this)
if TYPE_CHECKING:
    from typing import Any

MARK = "_mlflow_client_env_explainer"
#: How much of the matched JVM line is shown (after redaction).
SHOWN_CHARS = 300


def install(ipython: Any) -> bool:
    """Install the explainer on ``ipython``; False if another custom handler is there."""
    if getattr(ipython, MARK, False):
        return True
    if getattr(ipython, "custom_exceptions", ()):
        return False

    def handler(
        shell: Any,
        etype: type[BaseException],
        evalue: BaseException,
        tb: Any,
        tb_offset: int | None = None,
    ) -> None:
        shell.showtraceback((etype, evalue, tb), tb_offset=tb_offset)
        try:
            text = describe(evalue)
        except Exception:  # the user's traceback is shown already; ours is a bonus
            text = None
        if text:
            print(text, file=sys.stderr)

    ipython.set_custom_exc((Exception,), handler)
    setattr(ipython, MARK, True)
    return True


def install_if_running() -> bool:
    """Install on the running IPython shell, if this process has one."""
    if "IPython" not in sys.modules:
        return False
    get = getattr(sys.modules["IPython"], "get_ipython", None)
    ip = get() if get else None
    return install(ip) if ip is not None else False


def watch_stderr(ipython: Any) -> bool:
    """Capture this process's fd 2 and mark where each cell starts; False if not possible.

    Called by the launcher kernel's extension, in the kernel process (a thread does not
    survive the launcher's exec, when it execs)."""
    # here, not at the top: stderr_capture starts with threading, and setup() installs this
    # hook in any IPython without capturing fd 2
    from .stderr_capture import start

    if start() is None:
        return False
    if not getattr(ipython, "_mlflow_client_env_stderr_marks", False):
        ipython.events.register("pre_run_cell", _mark_cell)
        ipython._mlflow_client_env_stderr_marks = True
    return True


def _mark_cell(*_info: object) -> None:
    from .stderr_capture import current  # here: see watch_stderr

    cap = current()
    if cap is not None:
        cap.mark()


def describe(evalue: BaseException) -> str | None:
    """What is printed under the traceback: the entry, the JVM line that named it, the fix."""
    # here, not at the top: the doctor pulls ssl, http and email; every launcher kernel and
    # setup() under IPython import this module, and only an exception shown needs it
    from ..doctor.catalog import explain

    jvm = jvm_output(evalue)
    exp = explain(f"{exception_text(evalue)}\n{jvm}") if jvm else explain(evalue)
    if exp is None:
        return None
    lines = [f"\nmlflow-client-env: {exp.title} {exp.label}"]
    cause = jvm_cause(jvm, exp.matched) if jvm and exp.matched else ""
    if cause:
        # here, like the catalog above: the hook's own import set stays minimal (import guard)
        from ..redact import redact_then_truncate

        lines.append(f"  cause (the JVM's stderr): {redact_then_truncate(cause, SHOWN_CHARS)}")
    lines.append(f"  fix: {exp.fix}")
    lines.append("  more: run 'mlflow-client-env doctor' in a terminal")
    return "\n".join(lines)


def jvm_cause(jvm: str, matched: str) -> str:
    """The line of ``jvm`` the catalog matched, with the next line when it ends in ':'
    (libhdfs writes "loadFileSystems error:" and the Java exception below it); "" when the
    match was in the exception's own text."""
    lines = jvm.splitlines()
    for i in range(len(lines) - 1, -1, -1):  # the newest occurrence
        if lines[i].strip() == matched:
            nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
            return f"{matched} {nxt}" if matched.endswith(":") and nxt else matched
    return ""


def jvm_output(evalue: BaseException) -> str:
    """What fd 2 received since the cell started, when ``evalue`` is an ``OSError`` raised
    inside pyarrow (libhdfs is reached only through it) and fd 2 is captured; else ""."""
    if not from_pyarrow(evalue):
        return ""
    from .stderr_capture import current  # here: see watch_stderr

    cap = current()
    return cap.since_mark() if cap is not None else ""


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and all(cur is not seen for seen in out):
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def exception_text(exc: BaseException) -> str:
    """``Type: message`` of the exception and of each exception it was raised from."""
    return "\n".join(f"{type(e).__name__}: {e}" for e in _chain(exc))


def from_pyarrow(exc: BaseException) -> bool:
    """True for an ``OSError`` (pyarrow's ``ArrowIOError`` is one) in whose traceback a
    frame of pyarrow's code stands, here or in an exception it was raised from."""
    for e in _chain(exc):
        if not isinstance(e, OSError):
            continue
        tb = e.__traceback__
        while tb is not None:
            parts = tb.tb_frame.f_code.co_filename.replace("\\", "/").split("/")
            if "pyarrow" in parts[:-1]:
                return True
            tb = tb.tb_next
    return False
