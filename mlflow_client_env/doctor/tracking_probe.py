"""MLflow's own client against the tracking server, in a child process with a hard deadline.

The doctor's HTTP client (``mlflow_client_env.tracking``) knows MLflow's credentials
variables, ``~/.mlflow/credentials`` and its TLS variables, but not the rest of MLflow's
client: request-auth plugins (``MLFLOW_TRACKING_AUTH``), its HTTP stack (requests: proxies,
``NO_PROXY``, netrc, CA bundles as requests reads them) and whatever a plugin package
changes. So the tracking-server check also asks :class:`mlflow.MlflowClient` itself, the
way a notebook would, and when the two disagree MLflow's answer is the one that holds.

The child is ``python -m mlflow_client_env.doctor.tracking_probe name NAME`` (or ``id ID``),
started through :meth:`Context.spawn` (the caller's own environment only, killed at its
deadline). It imports nothing but the standard library until it imports MLflow, and prints
one JSON line. ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` is 0 for it (a down server answers at
once instead of after minutes of back-off) and ``MLFLOW_HTTP_REQUEST_TIMEOUT`` is bounded,
the only settings of the caller's it changes. Its text is redacted before anything shows it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping

from ..records import record

#: the probe's own cap (importing MLflow takes a second or more); the budget may cut it
MLFLOW_PROBE_CAP = 40.0
#: MLflow's per-request timeout in the probe, unless the caller's is shorter
MLFLOW_HTTP_TIMEOUT = 10
#: how much of MLflow's error text is shown (after redaction)
SHOWN = 400


@record
class ClientAnswer:
    """What MLflow's client said.

    ``state``: "ok", "failed" (MLflow raised), "not-importable", "timeout" (stopped at the
    cap), "no-answer" (the child died or printed nothing we understand).
    """

    state: str
    detail: str = ""  # MLflow's error, redacted and cut; or why there is no answer
    mlflow_version: str | None = None
    experiment: str | None = None
    artifact_location: str | None = None
    missing: bool = False  # the experiment asked for by name does not exist (yet)
    error_code: str | None = None  # MLflow's error code, e.g. RESOURCE_DOES_NOT_EXIST


def probe_argv(experiment: str | None, env: Mapping[str, str]) -> list[str]:
    """The child's command line for the experiment MLflow will use (as
    :func:`mlflow_client_env.tracking.experiment_query` decides)."""
    name = experiment or env.get("MLFLOW_EXPERIMENT_NAME")
    what = ["name", name] if name else ["id", env.get("MLFLOW_EXPERIMENT_ID") or "0"]
    return [sys.executable, "-m", "mlflow_client_env.doctor.tracking_probe", *what]


def probe_env(uri: str, env: Mapping[str, str], seconds: float) -> dict[str, str]:
    """What the child gets besides the caller's environment: the tracking URI, no retries
    and a request timeout inside the step's ``seconds``."""
    timeout = max(1, min(MLFLOW_HTTP_TIMEOUT, int(seconds // 2)))
    try:
        theirs = int(env.get("MLFLOW_HTTP_REQUEST_TIMEOUT", ""))
    except ValueError:
        theirs = 0
    if 0 < theirs < timeout:
        timeout = theirs
    return {
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout),
    }


def read_answer(done: subprocess.CompletedProcess[str]) -> ClientAnswer:
    """The child's last JSON line as a :class:`ClientAnswer` (texts not yet redacted)."""
    data = None
    for line in reversed(done.stdout.strip().splitlines()):
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):
            continue
        break
    if not isinstance(data, dict) or data.get("state") not in ("ok", "failed", "not-importable"):
        tail = [ln for ln in done.stderr.strip().splitlines() if ln.strip()][-3:]
        return ClientAnswer(
            "no-answer",
            f"the MLflow client probe exited with {done.returncode}"
            + (": " + " | ".join(tail) if tail else ""),
        )

    def text(key: str) -> str | None:
        value = data.get(key)
        return value if isinstance(value, str) else None

    return ClientAnswer(
        data["state"],
        text("detail") or "",
        text("mlflow_version"),
        text("experiment"),
        text("artifact_location"),
        data.get("missing") is True,
        text("error_code"),
    )


# --------------------------------------------------------------------------- the child
def main(argv: list[str]) -> int:
    kind, value = argv[0], argv[1]
    out: dict[str, object] = {}
    try:
        import mlflow
        from mlflow import MlflowClient
    except Exception as exc:  # not installed, or an install that cannot be imported
        print(json.dumps({"state": "not-importable", "detail": f"{type(exc).__name__}: {exc}"}))
        return 0
    out["mlflow_version"] = getattr(mlflow, "__version__", None)
    try:
        client = MlflowClient()
        if kind == "name":
            exp = client.get_experiment_by_name(value)
            if exp is None:  # MLflow creates it under the server's default artifact root
                out["missing"] = True
                exp = client.get_experiment("0")
        else:
            exp = client.get_experiment(value)
        out.update(state="ok", experiment=exp.name, artifact_location=exp.artifact_location or None)
    except Exception as exc:
        code = getattr(exc, "error_code", None)
        out.update(
            state="failed",
            detail=f"{type(exc).__name__}: {exc}"[:4000],
            error_code=code if isinstance(code, str) else None,
        )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
