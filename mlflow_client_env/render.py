"""Text forms of an Environment: shell exports, dotenv, JSON, with or without reasons.

Printing ``export`` lines for ``eval`` is the one place we produce shell text;
every value goes through ``shlex.quote``. Nothing here executes anything.
"""

from __future__ import annotations

import json
import shlex

from .environment import Environment


def _comment(text: str) -> str:
    return "\n".join("# " + line for line in text.splitlines())


def shell(env: Environment, explain: bool = False) -> str:
    lines = []
    for v in env.variables:
        if explain:
            lines.append(_comment(f"{v.name}: {v.reason}"))
        lines.append(f"export {v.name}={shlex.quote(v.value)}")
    return "\n".join(lines) + "\n"


def _dotenv_quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def dotenv(env: Environment, explain: bool = False) -> str:
    lines = []
    for v in env.variables:
        if explain:
            lines.append(_comment(v.reason))
        lines.append(f"{v.name}={_dotenv_quote(v.value)}")
    return "\n".join(lines) + "\n"


def as_json(env: Environment, explain: bool = False) -> str:
    if explain:
        data: object = {
            v.name: {"value": v.value, "reason": v.reason, "timing": v.timing}
            for v in env.variables
        }
    else:
        data = env.as_dict()
    return json.dumps(data, indent=2) + "\n"


FORMATS = {"shell": shell, "dotenv": dotenv, "json": as_json}
