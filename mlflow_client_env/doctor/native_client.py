"""The hdfs-native check: the HDFS client without a JVM.

What it answers, in order: whether hdfs-native is importable (and its version); whether
libgssapi_krb5, which it loads for Kerberos, loads (it matters only for a Kerberized client
configuration); which client serves HDFS artifacts and why (``hdfs_client_in_force``, as
the repository decides it for the experiment's artifact location; what hdfs-native lacks
for this configuration as warnings); and a write, read back and delete through hdfs-native
(``NativeHdfs``, as the repository uses it), run by :mod:`.native_probe` in a subprocess
with a bounded cap.

Statuses: hdfs-native not installed is a skip under ``auto`` and ``jvm`` (the JVM serves,
the checks above judge it) and an error, with the native extra as the fix, when
``native`` was asked for. The probe runs only when hdfs-native serves the artifacts.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from ..artifacts.mode import (
    HDFS_CLIENT_VAR,
    LIBGSSAPI,
    NATIVE_EXTRA,
    TIMEOUT_VAR,
    HdfsClientChoice,
    client_conf,
    hdfs_client_in_force,
    libgssapi_problem,
    native_importable,
)
from ..environment import assume_kerberos, no_libgssapi
from ..errors import HdfsClientSettingError, MlflowClientEnvError
from ..findings import Finding
from ..hadoop.conf import HadoopConf
from ..records import replace
from ..redact import redact
from .context import Context, ForeignEnvironment, Unmet
from .remote import _probe_target, last_json_object

#: the probe's own cap (a Kerberos handshake, a write, a read, a delete); the run's budget
#: may cut it shorter
NATIVE_PROBE_CAP = 90.0
#: the step timeout the probe gets when MLFLOW_CLIENT_ENV_HDFS_TIMEOUT is unset (the
#: repository's default, 60 s, would let one stuck step outlast the cap): a stuck step is
#: then explained (which server does not answer) well within the cap
PROBE_STEP_TIMEOUT = 20.0

#: what the fix of a failing probe says besides the error's own fix
JVM_INSTEAD = f"or use the JVM client: {HDFS_CLIENT_VAR}=jvm"


def check_hdfs_native(ctx: Context) -> Iterator[Finding]:
    asked = ctx.hdfs_client()
    if isinstance(asked, HdfsClientSettingError):  # an unknown mode: setup() refuses it too
        yield Finding("hdfs-native.setting", "error", asked.problem, fix=asked.fix)
        return
    if isinstance(asked, MlflowClientEnvError):  # a broken config file: installation says so
        raise Unmet("settings", asked)
    mode, source = asked
    missing = native_importable()
    if missing is not None:
        yield _not_installed(mode, source, missing)
        return
    # here, not at the top: artifacts.native pulls asyncio and logging (~12 ms), which every
    # import of the doctor package would pay (a kernel's error explainer, 'explain')
    from ..artifacts.native import hdfs_native_version

    installed = Finding(
        "hdfs-native.installed", "ok", f"hdfs-native {hdfs_native_version() or '?'} is importable"
    )
    gss = libgssapi_problem()
    libgssapi = _libgssapi(gss, assume_kerberos(_client_conf(ctx)), mode)
    # the experiment's artifact location (auto decides per URI); jvm needs none: not asked.
    # The hdfs check's target (remote._probe_target): the same folder is probed
    try:
        target, why = _probe_target(ctx) if mode != "jvm" else (None, "mode jvm")
    except Unmet:  # the artifacts are not on HDFS: said after what was found
        yield from (installed, libgssapi)
        raise
    try:
        said, choice = _in_force(ctx, mode, source, target, skip_gap=gss)
    except Unmet:  # the runner reports it after what was found
        yield from (installed, libgssapi)
        raise
    # which client serves first: the check's headline when all is well
    yield from (*said[:1], installed, libgssapi, *said[1:])
    if choice is None:
        return
    if not choice.native:
        yield Finding(
            "hdfs-native.probe-skipped",
            "skip",
            "no hdfs-native probe: the JVM serves the artifacts here (the hdfs check probes it)",
        )
        return
    if target is None:
        yield Finding("hdfs-native.skipped", "skip", f"hdfs-native probe skipped: {why}")
        return
    yield _probe(ctx, target, why)


def _not_installed(mode: str, source: str, missing: str) -> Finding:
    if mode == "native":
        return Finding(
            "hdfs-native.not-installed",
            "error",
            f"the native HDFS client was asked for (hdfs_client=native, {source}), but "
            f"{missing}: every HDFS artifact will fail",
            fix=f"{NATIVE_EXTRA} (the native extra), or ask for the JVM client: "
            f"{HDFS_CLIENT_VAR}=jvm",
        )
    return Finding(
        "hdfs-native.not-installed",
        "skip",
        f"{missing}: HDFS artifacts go through the JVM (pyarrow, libhdfs; mode {mode}, "
        f"{source}), which the checks above judge",
        fix=f"for HDFS without a JVM: {NATIVE_EXTRA}",
    )


def _client_conf(ctx: Context) -> HadoopConf | None:
    """The client configuration this client is set up with; the one hdfs-native would read
    (HADOOP_CONF_DIR, /etc/hadoop/conf) when discovery failed."""
    d = ctx.client_discovery()
    if not isinstance(d, MlflowClientEnvError):
        return d.conf

    try:
        return client_conf(ctx.env)
    except MlflowClientEnvError:  # unreadable: the installation and client-config checks say
        return None


def _libgssapi(problem: str | None, kerberized: bool, mode: str) -> Finding:
    if problem is None:
        need = "Kerberos" if kerberized else "nothing here (SIMPLE authentication)"
        return Finding(
            "hdfs-native.libgssapi", "ok", f"{LIBGSSAPI} loads (hdfs-native needs it for {need})"
        )
    if not kerberized:
        return Finding(
            "hdfs-native.libgssapi",
            "skip",
            f"{problem}; not needed: the client configuration uses SIMPLE authentication",
        )
    error = no_libgssapi(problem)  # what setup() and env say under native
    if mode == "native":
        return error
    return replace(
        error, status="warn", summary=f"{error.summary}; mode {mode} takes the JVM path instead"
    )


def _in_force(
    ctx: Context, mode: str, source: str, target: str | None, skip_gap: str | None
) -> tuple[list[Finding], HdfsClientChoice | None]:
    """Which client serves the artifacts (at ``target``, else fs.defaultFS), and why, first;
    then the gaps as warnings (``skip_gap``: the libgssapi one, said already). With the
    choice; None when it cannot be told (the findings say why)."""
    env = ctx.environment()
    if isinstance(env, HdfsClientSettingError):  # native asked for: setup() refuses too
        return [Finding("hdfs-native.setting", "error", env.problem, fix=env.fix)], None
    if mode == "native":
        if isinstance(env, MlflowClientEnvError):  # the installation check reports it
            raise Unmet("discovery", env)
        n = ctx.native_discovery()
        assert not isinstance(n, MlflowClientEnvError)  # environment() was composed from it
        # what setup() reports of its choice (compose_native): the same findings
        said = [  # hdfs-native.no-libgssapi: this check's own libgssapi finding says it
            f
            for f in env.findings
            if f.code.startswith("hdfs-native.") and f.code != "hdfs-native.no-libgssapi"
        ]
        return said, n.choice
    ours = {} if isinstance(env, MlflowClientEnvError) else env.as_dict()
    try:
        choice = hdfs_client_in_force(
            artifact_uri=target, env={**ctx.env, **ours}, requested=(mode, source)
        )
    except MlflowClientEnvError as exc:
        return [Finding("hdfs-native.setting", "error", exc.problem, fix=exc.fix)], None
    return [_choice_finding(choice), *_gaps(choice, target, skip_gap)], choice


def _gaps(choice: HdfsClientChoice, target: str | None, skip_gap: str | None) -> list[Finding]:
    return [
        Finding(
            "hdfs-native.gap",
            "warn",
            f"hdfs-native cannot serve {target or 'fs.defaultFS'} with this client "
            f"configuration, so mode auto takes the JVM path: {gap}",
            fix="nothing to do while the JVM path works (the checks above); for hdfs-native, "
            f"remove what it lacks, or ask for it despite this ({HDFS_CLIENT_VAR}=native)",
        )
        for gap in choice.gaps
        if gap != skip_gap
    ]


def _choice_finding(choice: HdfsClientChoice) -> Finding:
    """The note of which client serves under auto or jvm: the JVM checks above ran either
    way (auto takes the JVM path for a URI hdfs-native cannot serve)."""
    if choice.native:
        return Finding(
            "hdfs-native.in-force",
            "ok",
            f"{choice.summary()}; the JVM checks above still apply: mode auto takes the JVM "
            "path for a URI hdfs-native cannot serve",
        )
    return Finding("hdfs-native.jvm-in-force", "ok", choice.summary())


def _probe(ctx: Context, target: str, why: str) -> Finding:
    env = ctx.environment()
    ours = {} if isinstance(env, MlflowClientEnvError) else env.as_dict()
    extra = dict(ours)
    if not {**ctx.env, **ours}.get(TIMEOUT_VAR):
        extra[TIMEOUT_VAR] = f"{PROBE_STEP_TIMEOUT:g}"
    argv = [sys.executable, "-m", "mlflow_client_env.doctor.native_probe", target]
    try:
        proc = ctx.spawn(
            f"the hdfs-native probe of {target}", argv, extra_env=extra, cap=NATIVE_PROBE_CAP
        )
    except ForeignEnvironment as exc:
        return Finding("hdfs-native.skipped", "skip", f"hdfs-native probe skipped: {exc.reason}")
    except subprocess.TimeoutExpired:
        return Finding(
            "hdfs-native.timeout",
            "error",
            f"the hdfs-native probe of {target} did not finish in {NATIVE_PROBE_CAP:.0f} s",
            fix=f"check that the NameNode, the DataNodes and the KDC answer; lower {TIMEOUT_VAR} "
            "(seconds per HDFS step) to be told which one does not",
        )
    data = _result(proc.stdout)
    if data is None:
        return Finding(
            "hdfs-native.failed",
            "error",
            f"the hdfs-native probe of {target} failed (exit {proc.returncode}) without saying why",
            _tail(proc.stderr),
            fix="run it by hand to see its output: python -m "
            f"mlflow_client_env.doctor.native_probe {target}; {JVM_INSTEAD}",
        )
    if data.get("ok") is True:
        return Finding(
            "hdfs-native.probe",
            "ok",
            f"wrote, read back and deleted a file under {target} ({why}) through hdfs-native "
            f"in {_seconds(data, 'seconds')} (connection {_seconds(data, 'connect_seconds')})",
        )
    if "problem" not in data:  # it ran to the end and read back other bytes
        return Finding(
            "hdfs-native.mismatch",
            "error",
            f"the hdfs-native probe of {target} read back {data.get('read_back')} bytes, not "
            "what it wrote",
            fix=f"report it with 'doctor -v' output; {JVM_INSTEAD}",
        )
    code = data.get("code")
    return Finding(
        f"hdfs-native.{code}" if isinstance(code, str) and code else "hdfs-native.failed",
        "error",
        f"the hdfs-native probe of {target} failed: {data['problem']}",
        (f"step: {data.get('step')}", f"error: {data.get('error')}"),
        f"{data['fix']}; {JVM_INSTEAD}" if data.get("fix") else JVM_INSTEAD,
    )


def _seconds(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return f"{value:.2f} s" if isinstance(value, int | float) else "? s"


def _result(stdout: str) -> dict[str, Any] | None:
    """The probe's JSON line, or None when its output is not what it prints."""
    data = last_json_object(stdout)
    if data is None or not isinstance(data.get("ok"), bool):
        return None
    if not data["ok"] and "problem" in data and not isinstance(data["problem"], str):
        return None
    return data


def _tail(text: str, n: int = 6) -> tuple[str, ...]:
    """The probe's last lines of output (a crash of the Rust extension, a panic)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return tuple("probe output: " + redact(line) for line in lines[-n:])
