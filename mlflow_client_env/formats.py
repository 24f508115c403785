"""Text forms of an Environment (the formats of `env`): shell exports, dotenv, JSON.

Printing ``export`` lines for ``eval`` is the one place we produce shell text;
every value goes through ``shlex.quote``. Nothing here executes anything.
"""

from __future__ import annotations

import json
import shlex

from .environment import Environment
from .errors import OutputFormatError


def _comment(text: str) -> str:
    return "\n".join("# " + line for line in text.splitlines())


def shell(env: Environment, explain: bool = False) -> str:
    lines = []
    for v in env.variables:
        if explain:
            lines.append(_comment(f"{v.name}: {v.reason}"))
        lines.append(f"export {v.name}={shlex.quote(v.value)}")
    return "\n".join(lines) + "\n"


def _dotenv_quote(name: str, value: str) -> str:
    """Single-quoted, with only ``\\`` and ``\'`` escaped: what python-dotenv decodes back.

    A newline would end the line in many dotenv readers, and ``${...}`` is expanded by
    python-dotenv even inside single quotes; neither can be written faithfully, so both
    are refused rather than written wrong.
    """
    bad = next((c for c in ("\n", "\r", "\0") if c in value), None)
    if bad is not None or "${" in value:
        what = {"\n": "a newline", "\r": "a carriage return", "\0": "a NUL byte"}.get(
            bad or "", "'${'"
        )
        raise OutputFormatError(
            f"the value of {name} contains {what}, which a .env file cannot hold faithfully",
            "use --format shell or --format json, or rename the folder that holds it",
        )
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def dotenv(env: Environment, explain: bool = False) -> str:
    lines = []
    for v in env.variables:
        if explain:
            lines.append(_comment(v.reason))
        lines.append(f"{v.name}={_dotenv_quote(v.name, v.value)}")
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
