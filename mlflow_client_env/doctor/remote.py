"""Checks that talk to servers: the MLflow tracking server and HDFS end to end.

Every network call has a bounded timeout, and a failure becomes a finding
mapped to the error catalog, never a raw trace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from ..catalog import explain_text
from ..errors import MlflowClientEnvError
from ..findings import Finding
from ..redact import redact
from .context import Context

HTTP_TIMEOUT = 5.0


@dataclass(frozen=True)
class ServerInfo:
    uri: str
    version: str | None
    experiment: str
    artifact_location: str | None
    error: str | None = None


def _tracking_uri(ctx: Context) -> str | None:
    env = ctx.environment()
    if not isinstance(env, MlflowClientEnvError) and env.get("MLFLOW_TRACKING_URI"):
        return env["MLFLOW_TRACKING_URI"]
    return ctx.env.get("MLFLOW_TRACKING_URI")


def _get(url: str, ctx: Context) -> tuple[int, bytes]:
    req = urllib.request.Request(url)
    token = ctx.env.get("MLFLOW_TRACKING_TOKEN")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    elif ctx.env.get("MLFLOW_TRACKING_USERNAME"):
        import base64

        pair = (
            f"{ctx.env['MLFLOW_TRACKING_USERNAME']}:{ctx.env.get('MLFLOW_TRACKING_PASSWORD', '')}"
        )
        req.add_header("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def server_info(ctx: Context) -> ServerInfo | None:
    uri = _tracking_uri(ctx)
    if not uri or not uri.startswith(("http://", "https://")):
        return None

    def make() -> ServerInfo:
        base = uri.rstrip("/")
        experiment = ctx.experiment or ctx.env.get("MLFLOW_EXPERIMENT_NAME") or ""
        try:
            status, body = _get(f"{base}/version", ctx)
            version = body.decode(errors="replace").strip() if status == 200 else None
            if experiment:
                q = urllib.parse.urlencode({"experiment_name": experiment})
                status, body = _get(f"{base}/api/2.0/mlflow/experiments/get-by-name?{q}", ctx)
            else:
                experiment = "Default (id 0)"
                status, body = _get(f"{base}/api/2.0/mlflow/experiments/get?experiment_id=0", ctx)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return ServerInfo(uri, None, experiment, None, f"{type(exc).__name__}: {reason}")
        if status != 200:
            return ServerInfo(
                uri,
                version,
                experiment,
                None,
                f"HTTP {status}: {body[:200].decode(errors='replace')}",
            )
        data: dict[str, Any] = json.loads(body)
        location = data.get("experiment", {}).get("artifact_location")
        return ServerInfo(uri, version, experiment, location)

    info: ServerInfo = ctx.memo("server", make)
    return info


def check_tracking_server(ctx: Context) -> list[Finding]:
    uri = _tracking_uri(ctx)
    if not uri:
        return [
            Finding(
                "tracking-server.unset",
                "warn",
                "no MLFLOW_TRACKING_URI: MLflow would log to ./mlruns on this machine",
                fix="pass --tracking-uri or set it in the site config",
            )
        ]
    info = server_info(ctx)
    if info is None:
        return [
            Finding(
                "tracking-server.local",
                "ok",
                f"tracking URI {redact(uri)} is not a server; nothing to reach",
            )
        ]
    if info.error and info.version is None:
        return [
            Finding(
                "tracking-server.unreachable",
                "error",
                f"the tracking server {redact(uri)} does not answer ({redact(info.error)})",
                fix="check the URI and that the server runs; ask its admins",
            )
        ]
    if info.error:
        return [
            Finding(
                "tracking-server.experiment",
                "error",
                f"server {info.version} at {redact(uri)} answered, but experiment "
                f"{info.experiment!r}: {redact(info.error)}",
                fix="check the experiment name, or create it with mlflow.set_experiment",
            )
        ]
    loc = info.artifact_location or ""
    scheme = loc.split(":", 1)[0]
    if scheme in ("hdfs", "viewfs"):
        note = "the client writes artifacts to HDFS itself: the Hadoop chain below must work"
    elif scheme == "mlflow-artifacts":
        note = (
            "the server proxies artifacts: this client needs no Hadoop, the HDFS layers are skipped"
        )
    else:
        note = f"artifacts go to {scheme or 'a local path'}, not HDFS"
    return [
        Finding(
            "tracking-server.ok",
            "ok",
            f"MLflow {info.version} at {redact(uri)}; experiment {info.experiment!r} "
            f"stores artifacts at {loc}",
            (note,),
        )
    ]


def _probe_target(ctx: Context) -> tuple[str | None, str]:
    if ctx.probe_path:
        return ctx.probe_path, "given with --probe-path"
    info = server_info(ctx)
    if info and info.artifact_location:
        loc = info.artifact_location
        if loc.startswith(("hdfs:", "viewfs:")):
            return loc, "the experiment's artifact location"
        return None, f"artifacts are stored at {loc}, not on HDFS"
    return None, "no artifact location known (no tracking server; pass --probe-path hdfs://...)"


def check_hdfs(ctx: Context) -> list[Finding]:
    target, why = _probe_target(ctx)
    if target is None:
        return [Finding("hdfs.skipped", "skip", f"HDFS probe skipped: {why}")]
    env = ctx.environment()
    if isinstance(env, MlflowClientEnvError):
        return [Finding("hdfs.skipped", "skip", f"HDFS probe skipped: {env.problem}", fix=env.fix)]
    run_env = {**ctx.env, **env.as_dict()}
    argv = [sys.executable, "-m", "mlflow_client_env.hdfs_probe", target]
    try:
        proc = subprocess.run(
            argv, env=run_env, capture_output=True, text=True, timeout=ctx.timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return [
            Finding(
                "hdfs.timeout",
                "error",
                f"the HDFS probe of {target} did not finish in {ctx.timeout:.0f} s",
                fix="check that the NameNode and DataNodes answer; raise --timeout",
            )
        ]
    if proc.returncode == 0:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        return [
            Finding(
                "hdfs.ok",
                "ok",
                f"wrote, read back and deleted a file under {target} ({why}) in "
                f"{data['seconds']:.1f} s (JVM connection {data['connect_seconds']:.1f} s)",
            )
        ]
    text = proc.stderr
    exp = explain_text(text)
    tail = output_tail(text)
    if exp is None:
        return [
            Finding(
                "hdfs.failed",
                "error",
                f"the HDFS probe of {target} failed (exit {proc.returncode})",
                tail,
                fix="run 'mlflow-client-env doctor -v' and read the JVM output",
            )
        ]
    return [
        Finding(
            f"hdfs.{exp.code}",
            "error",
            f"HDFS probe of {target} failed: {exp.title} {exp.label}",
            (f"matched: {redact(exp.matched)}", *tail),
            exp.fix,
        )
    ]


def output_tail(text: str, n: int = 6) -> tuple[str, ...]:
    """The probe's last JVM/libhdfs messages (no stack frames) and the Python exception line.

    The stderr ends with Python's traceback of the probe; its frames say nothing
    about the cause, which is in the JVM's "... error:" and "Caused by:" lines above it.
    """
    jvm, _, py = text.partition("Traceback (most recent call last):")
    lines = [
        line
        for line in jvm.strip().splitlines()
        if line.strip() and not line.lstrip().startswith(("at ", "... "))
    ]
    out = ["JVM/libhdfs output: " + redact(line) for line in lines[-n:]]
    out += ["pyarrow raised: " + redact(line) for line in py.strip().splitlines()[-1:]]
    return tuple(out)


def environ_of(pid: int) -> dict[str, str]:
    import psutil

    return dict(psutil.Process(pid).environ())


def mapped_libraries(pid: int) -> dict[str, str]:
    """Which libjvm, libhdfs, libssl and libkrb5 a live process actually mapped."""
    import psutil

    wanted = ("libjvm.so", "libhdfs.so", "libssl.so", "libkrb5.so", "libgssapi_krb5.so")
    out: dict[str, str] = {}
    for m in psutil.Process(pid).memory_maps(grouped=True):
        base = os.path.basename(m.path)
        for w in wanted:
            if base.startswith(w) and w not in out:
                out[w] = m.path
    return out
