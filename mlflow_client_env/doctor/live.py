"""``doctor --pid``: why does my running kernel fail when a new one works?

Compares what a live process started with (``/proc/PID/environ``) and actually
mapped (``/proc/PID/maps``) with what we would give a new process. The process
is only read: nothing runs with its environment unless it is our own user's
(see :meth:`Context.spawn`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from ..errors import MlflowClientEnvError
from ..findings import Finding
from ..redact import redact_then_truncate, redact_value
from .context import Context
from .procfs import mapped_libraries

#: how much of a variable's value is shown (after redaction)
SHOWN = 200


def shown(name: str, value: str | None) -> str:
    """A variable's value as the report may show it: redacted first, then cut."""
    if value is None:
        return "(unset)"
    return redact_then_truncate(redact_value(name, value), SHOWN)


WATCHED = (
    "CLASSPATH",
    "JAVA_HOME",
    "ARROW_LIBHDFS_DIR",
    "LIBHDFS_OPTS",
    "KRB5CCNAME",
    "HADOOP_CONF_DIR",
    "MLFLOW_TRACKING_URI",
)


def check_live_process(ctx: Context) -> Iterator[Finding]:
    if ctx.pid is None:
        yield Finding("live-process.not-asked", "skip", "no --pid given")
        return
    try:
        libs = mapped_libraries(ctx.pid)
    except MlflowClientEnvError as exc:
        yield Finding("live-process.unreadable", "error", exc.problem, fix=exc.fix)
        return
    out: list[Finding] = []
    foreign = ctx.foreign_reason()
    if foreign is not None:
        out.append(
            Finding(
                "live-process.read-only",
                "warn",
                f"{foreign}. The probes that would run with it (the native load probe, "
                "the HDFS probe) are skipped",
                (
                    "read: /proc/PID/status, /proc/PID/environ, /proc/PID/maps and files",
                    "never: LD_PRELOAD, LD_LIBRARY_PATH, PYTHONPATH, JAVA_TOOL_OPTIONS, PATH ... "
                    "of that process in a process of yours",
                ),
                fix=f"as that user: mlflow-client-env doctor --pid {ctx.pid}",
            )
        )
    out += [
        Finding(
            "live-process.mapped",
            "ok",
            f"process {ctx.pid} mapped: "
            + (
                ", ".join(os.path.basename(p) for p in libs.values())
                or "no JVM/HDFS/TLS/Kerberos libraries yet"
            ),
            tuple(f"{k}: {v}" for k, v in libs.items()),
        )
    ]
    yield from out
    out = []
    env = ctx.composed()
    ours = env.as_dict()
    jvm = libs.get("libjvm.so")
    if jvm and os.path.realpath(jvm) != os.path.realpath(ctx.found().java.install.libjvm):
        out.append(
            Finding(
                "live-process.other-jvm",
                "warn",
                f"it runs the JVM {jvm}, not {ctx.found().java.install.libjvm}",
                fix="restart the kernel after fixing JAVA_HOME",
            )
        )
    for name in WATCHED:
        if name in ours and ctx.env.get(name) != ours[name]:
            summary = (
                f"it started without {name}, which a new process would get"
                if name not in ctx.env
                else f"it started with a different {name} than a new process would get"
            )
            out.append(
                Finding(
                    f"live-process.{name.lower()}",
                    "warn",
                    summary,
                    (
                        f"it has: {shown(name, ctx.env.get(name) or None)}",
                        f"new:     {shown(name, ours[name])}",
                    ),
                    fix="restart the kernel; kernels from 'mlflow-client-env install-kernel' "
                    "resolve the environment at every start",
                )
            )
    yield from out
