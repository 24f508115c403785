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


def url_has_password(value: str) -> bool:
    """True for ``scheme://user:password@host...`` (an empty password counts too)."""
    if "://" not in value or "@" not in value:
        return False
    from urllib.parse import urlsplit

    try:
        return urlsplit(value.strip()).password is not None
    except ValueError:
        return False
