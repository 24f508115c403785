"""Secrets never reach output. One module decides what a secret is; everything shown uses it.

The rule is *redact first, then truncate or serialise*: :func:`redact_then_truncate` for
text that is cut, :func:`redact_tree` for structures that become JSON.

What counts as a secret:

- the value of an environment variable whose name ends in ``_TOKEN`` or ``_KEY``, or
  contains ``SECRET`` or ``PASSWORD`` (:func:`is_secret_name`);
- the value of ``token=``, ``password=``, ``secret=`` ... in a query string or free text;
- the userinfo of a URL (``scheme://user:password@host``), up to the *last* ``@`` before the
  host, so a password that contains ``@`` is masked whole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

TYPE_CHECKING = False  # typing is not imported at run time (import cost; mypy honours this)
if TYPE_CHECKING:
    from typing import Any

MASK = "***"

# What makes a name (an environment variable, a JVM property, a query parameter, a JSON key)
# a secret's name, judged on its last dotted segment: 'ssl.trustStorePassword' and
# 'MLFLOW_TRACKING_TOKEN' are secrets; 'hadoop.security.token.service.use_ip',
# 'HADOOP_TOKEN_FILE_LOCATION' (a path) and 'KEYTAB' are not.
# The patterns are compiled on first use (re caches them): compiling all four costs about
# 0.7 ms, paid by every import of the package, while most calls need one or none.
_SECRET_SEGMENT = (
    r"(?i)password|passwd|secret"  # anywhere in the segment
    r"|token$|(?:^|[_-])key$|(?-i:[a-z]Key)$|api[_-]?key|access[_-]?key|private[_-]?key"
)

# scheme://userinfo@ where userinfo may itself contain '@': greedy up to the last '@' that
# still comes before the first '/', '?', '#' or white space of the authority.
_URI_USERINFO = r"(?P<scheme>\b[a-zA-Z][\w+.-]*://)(?P<userinfo>[^/?#\s]*)@(?=[^/?#\s@]*)"

# key=value / key: value / "key": "value"; is_secret_name decides whether the value is masked.
# Keys are found without consuming values, so 'host:5000/?token=x' still finds 'token'.
# ':' followed by '/' separates paths or starts a URL, and a '.jar' is a file name: neither
# makes a key ('.../token-provider-1.0.1.jar:/next.jar' is a CLASSPATH).
_KEY = r"(?<![\w.-])(?P<name>[\w.-]+)(?<!\.jar)[\"']?\s*(?:=|:(?!/))\s*"
_VALUE = r"(?P<quoted>\"(?:[^\"\\]|\\.)*\"|'[^']*')|[^\s,;&]+"


def _mask_key_values(text: str) -> str:
    out: list[str] = []
    pos = 0
    for key in re.finditer(_KEY, text):
        if key.start() < pos or not is_secret_name(key["name"]):
            continue
        value = re.compile(_VALUE).match(text, key.end())
        if value is None:
            continue
        quote = value["quoted"][0] if value["quoted"] else ""
        out += [text[pos : key.end()], f"{quote}{MASK}{quote}"]
        pos = value.end()
    return "".join(out) + text[pos:]


def is_secret_name(name: str) -> bool:
    """True when ``name`` (a variable, property, query or JSON key) names a secret: the one
    definition every redaction and refusal uses (``*_TOKEN``, ``*_KEY``, ``*SECRET*``,
    ``*PASSWORD*``, ``api_key``, ``access-token``...)."""
    last = name.strip().rsplit(".", 1)[-1]
    return bool(last) and bool(re.search(_SECRET_SEGMENT, last))


def redact(text: str) -> str:
    """Mask every secret in free text.

    ``http://u:p@ss@h/x`` -> ``http://***@h/x``; ``password=x`` -> ``password=***``;
    ``MLFLOW_TRACKING_TOKEN=abc`` -> ``MLFLOW_TRACKING_TOKEN=***``.
    """
    if not text:
        return text
    if "://" in text:  # what a userinfo needs: skips the scan of a path list (~3 ms a CLASSPATH)
        text = re.sub(_URI_USERINFO, lambda m: f"{m['scheme']}{MASK}@", text)
    if "=" not in text and re.search(r":(?!/)", text) is None:
        return text  # no '=' and no ':' but before a path: no key, so no key=value to mask
    return _mask_key_values(text)


def redact_value(name: str, value: str) -> str:
    """The value of variable ``name`` as it may be shown: all of it masked for a secret name."""
    if is_secret_name(name):
        return MASK if value else value
    return redact(value)


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of an environment with every secret masked."""
    return {k: redact_value(k, v) for k, v in env.items()}


def redact_then_truncate(text: str, limit: int) -> str:
    """Redact, *then* cut to ``limit`` characters: a cut never exposes half a secret."""
    shown = redact(text)
    if len(shown) <= limit:
        return shown
    return shown[: max(0, limit - 1)] + "…"


def redact_tree(obj: Any) -> Any:
    """Redact every string in a JSON-like structure (dict keys name variables: honour them)."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, Mapping):
        out: dict[Any, Any] = {}
        for k, v in obj.items():
            if isinstance(k, str) and isinstance(v, str) and is_secret_name(k):
                out[k] = MASK if v else v
            else:
                out[k] = redact_tree(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [redact_tree(v) for v in obj]
    return obj


def url_has_password(value: str) -> bool:
    """True for ``scheme://user:password@host...`` (an empty password counts too)."""
    if "://" not in value or "@" not in value:
        return False
    from urllib.parse import urlsplit

    try:
        return urlsplit(value.strip()).password is not None
    except ValueError:
        return False


def url_has_credentials(value: str) -> bool:
    """True when a URL carries a secret: a password in its userinfo, or a ``token=``-like
    parameter in its query or fragment."""
    if url_has_password(value):
        return True
    if "://" not in value:
        return False
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    return any(
        is_secret_name(k) for part in (parts.query, parts.fragment) for k, _ in parse_qsl(part)
    )
