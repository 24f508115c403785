"""Secrets never reach output: credentials in URIs, tokens and passwords are masked."""

from __future__ import annotations

import re

_URI_CREDS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<creds>[^/@\s]+)@")
_KEY_VALUE = re.compile(
    r"(?P<key>(?:MLFLOW_TRACKING_(?:TOKEN|PASSWORD)|[\w.-]*(?:password|passwd|secret|token)[\w.-]*)"
    r"\s*[=:]\s*)(?P<value>[^\s,;&]+)",
    re.IGNORECASE,
)
SECRET_VARIABLES = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD")


def redact(text: str) -> str:
    """``http://u:p@h`` -> ``http://***@h``; ``password=x`` -> ``password=***``."""
    text = _URI_CREDS.sub(lambda m: f"{m['scheme']}***@", text)
    return _KEY_VALUE.sub(lambda m: f"{m['key']}***", text)


def has_credentials(uri: str) -> bool:
    m = _URI_CREDS.match(uri.strip())
    return bool(m and ":" in m["creds"])
