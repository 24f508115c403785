"""The hdfs-native end-to-end probe, run as ``python -m mlflow_client_env.doctor.native_probe URI``.

It connects the way our artifact repository does in native mode (``NativeHdfs`` for the
URI's scheme, host and port, the client configuration of ``HADOOP_CONF_DIR``, the ticket
cache of ``KRB5CCNAME`` or ``MLFLOW_KERBEROS_TICKET_CACHE``), then writes, reads back and
deletes one small file under URI. Every step is bounded by ``NativeHdfs`` itself
(``MLFLOW_CLIENT_ENV_HDFS_TIMEOUT`` per step; the doctor sets it when unset) and the
doctor kills the process at its own cap.

It prints one JSON line and never a traceback: ``{"ok": true, "path", "seconds",
"connect_seconds", "version"}``, or ``{"ok": false, "step", "error", "code", "problem",
"fix", "typed"}`` with the typed explanation of what failed (``native.translate``'s
problem and fix, a troubleshooting code when there is one). It runs in its own process so
that a crash of the Rust extension, or a step that never returns, cannot take the doctor
with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..artifacts.mode import NATIVE_EXTRA, client_conf, native_importable
from ..artifacts.native import NativeHdfs, hdfs_native_version, translate
from ..errors import (
    HdfsClientSettingError,
    HdfsTimeoutError,
    HdfsUnreachableError,
    MlflowClientEnvError,
)

PAYLOAD = b"mlflow-client-env hdfs-native probe\n"


class _Step:
    """The step running now, for the failure's report."""

    name = "starting"


def _probe(uri: str, step: _Step) -> dict[str, Any]:
    missing = native_importable()
    if missing is not None:
        raise HdfsClientSettingError(missing, f"{NATIVE_EXTRA} (the native extra)")
    u = urlparse(uri)
    t0 = time.monotonic()
    step.name = "reading the client configuration"
    conf = client_conf(os.environ)
    step.name = "making the hdfs-native client"
    hdfs = NativeHdfs(u.scheme, u.hostname, u.port, conf=conf)
    folder = posixpath.normpath(u.path or "/")
    path = posixpath.join(folder, f".mlflow-client-env-native-probe-{uuid.uuid4().hex[:12]}")
    step.name = f"looking at {folder}"
    hdfs.info(folder)  # the first call: connects (and the Kerberos handshake)
    connected = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlflow-client-env-native-probe-") as tmp:
        local, back = Path(tmp, "out"), Path(tmp, "back")
        local.write_bytes(PAYLOAD)
        try:
            step.name = f"writing {path}"
            hdfs.upload(str(local), path)  # creates the folder too, as log_artifact does
            step.name = f"reading {path}"
            hdfs.download(path, str(back))
        except BaseException as exc:
            # best effort: a write cut short may have left the file (the error is the one);
            # not when the NameNode could not be reached or answered too late: that would
            # only wait a second time
            if not isinstance(exc, (HdfsUnreachableError, HdfsTimeoutError)):
                with contextlib.suppress(Exception):
                    hdfs.delete(path, False)
            raise
        step.name = f"deleting {path}"
        hdfs.delete(path, False)
        data = back.read_bytes()
    return {
        "ok": data == PAYLOAD,
        "path": path,
        "read_back": len(data),
        "connect_seconds": connected - t0,
        "seconds": time.monotonic() - t0,
        "version": hdfs_native_version(),
    }


def _failure(exc: BaseException, uri: str, step: str) -> dict[str, Any]:
    """The typed explanation of ``exc``: ours as it is, hdfs-native's translated."""
    if not isinstance(exc, MlflowClientEnvError):  # raised outside NativeHdfs's own steps
        cache = os.environ.get("MLFLOW_KERBEROS_TICKET_CACHE") or os.environ.get("KRB5CCNAME")
        exc = translate(exc, step, target=uri, cache=cache or "the default credential cache")
    if isinstance(exc, MlflowClientEnvError):
        return {
            "ok": False,
            "step": step,
            "error": type(exc).__name__,
            "code": getattr(exc, "code", None),
            "problem": exc.problem,
            "fix": exc.fix,
            "typed": True,
        }
    return {
        "ok": False,
        "step": step,
        "error": type(exc).__name__,
        "code": None,
        "problem": f"{step}: {type(exc).__name__}: {exc}",
        "fix": None,
        "typed": False,
    }


def main(argv: list[str]) -> int:
    uri = argv[0]
    step = _Step()
    try:
        result = _probe(uri, step)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # reported as data: the doctor shows no traceback
        result = _failure(exc, uri, step.name)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
