"""The state file, so ``down``/``status``/``env`` work from another process.

It is rewritten after every process start, so even a half-finished ``up``
leaves enough behind for ``down`` to stop what did start.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from .errors import SandboxStateError
from .procs import ProcessRecord

STATE_FILE = "sandbox.json"
STATE_DIR_ENV = "MLFLOW_CLIENT_ENV_SANDBOX_DIR"


def default_state_dir() -> Path:
    """``$MLFLOW_CLIENT_ENV_SANDBOX_DIR``, else ``~/.local/state/mlflow-client-env/sandbox``."""
    env = os.environ.get(STATE_DIR_ENV)
    if env:
        return Path(env)
    return Path(platformdirs.user_state_dir("mlflow-client-env")) / "sandbox"


@dataclass
class SandboxState:
    """What a running (or crashed) sandbox left behind."""

    state_dir: Path
    detached: bool
    env: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    processes: list[ProcessRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "state_dir": str(self.state_dir),
            "detached": self.detached,
            "env": self.env,
            "info": self.info,
            "processes": [p.to_json() for p in self.processes],
        }

    def save(self) -> None:
        path = self.state_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(tmp, path)

    def alive(self) -> list[ProcessRecord]:
        return [p for p in self.processes if p.alive()]


def load_state(state_dir: Path) -> SandboxState:
    path = state_dir / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SandboxStateError(
            f"no sandbox state in {state_dir} (no {STATE_FILE})",
            "start one with 'scripts/sandbox up' (or pass the --state-dir it was started with)",
        ) from exc
    except (OSError, ValueError, RecursionError) as exc:
        raise SandboxStateError(
            f"cannot read {path}: {type(exc).__name__}: {str(exc)[:200]}",
            f"stop leftover processes by hand (see the *.log files in {state_dir}), "
            f"then delete {state_dir}",
        ) from exc
    try:
        return SandboxState(
            state_dir=Path(data["state_dir"]),
            detached=bool(data["detached"]),
            env={str(k): str(v) for k, v in dict(data.get("env", {})).items()},
            info=dict(data.get("info", {})),
            processes=[ProcessRecord.from_json(p) for p in data.get("processes", [])],
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        what = f"missing key {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise SandboxStateError(
            f"{path} is not a sandbox state file ({what})",
            f"stop leftover processes by hand (see the *.log files in {state_dir}), "
            f"then delete {state_dir}",
        ) from None
