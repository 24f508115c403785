"""``doctor --pid``: why does my running kernel fail when a new one works?

Compares what a live process started with and actually mapped (psutil) with
what we would give a new process.
"""

from __future__ import annotations

import os

from ..errors import MlflowClientEnvError
from ..findings import Finding
from .context import Context
from .remote import mapped_libraries

WATCHED = (
    "CLASSPATH",
    "JAVA_HOME",
    "ARROW_LIBHDFS_DIR",
    "LIBHDFS_OPTS",
    "KRB5CCNAME",
    "HADOOP_CONF_DIR",
    "MLFLOW_TRACKING_URI",
)


def check_live_process(ctx: Context) -> list[Finding]:
    if ctx.pid is None:
        return [Finding("live-process.not-asked", "skip", "no --pid given")]
    try:
        libs = mapped_libraries(ctx.pid)
    except Exception as exc:  # psutil.NoSuchProcess / AccessDenied
        return [
            Finding(
                "live-process.unreadable",
                "error",
                f"cannot inspect process {ctx.pid}: {type(exc).__name__}",
                fix="check the PID (ps) and run as the process's user",
            )
        ]
    out = [
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
    env = ctx.environment()
    if isinstance(env, MlflowClientEnvError):
        return out
    ours = env.as_dict()
    jvm = libs.get("libjvm.so")
    if jvm and os.path.realpath(jvm) != os.path.realpath(env.java.install.libjvm):
        out.append(
            Finding(
                "live-process.other-jvm",
                "warn",
                f"it runs the JVM {jvm}, not {env.java.install.libjvm}",
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
                        f"it has: {(ctx.env.get(name) or '(unset)')[:200]}",
                        f"new:     {ours[name][:200]}",
                    ),
                    fix="restart the kernel; kernels from 'mlflow-client-env install-kernel' "
                    "resolve the environment at every start",
                )
            )
    return out
