"""The doctor's last line of defence for secrets: findings are cleaned where they are made.

:func:`mlflow_client_env.redact.redact` masks what *looks* like a secret. The
doctor also knows the secrets themselves (the values of ``*_TOKEN``,
``*PASSWORD*``... variables, the password in a URL's userinfo or ``token=``
query) and masks those literally, in every form an exception message may quote
them (as is, ``repr``-escaped, JSON-escaped, line by line), so a URL that
``redact`` cannot parse (a newline in the password) still shows nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

from ..findings import Finding
from ..redact import MASK, is_secret_name, redact

#: shorter values are not masked literally (they would blot out ordinary words)
MIN_LEN = 3


def _url_secrets(value: str) -> list[str]:
    out: list[str] = []
    if "://" not in value:
        return out
    authority = value.split("://", 1)[1]
    for stop in "/?#":
        authority = authority.split(stop, 1)[0]
    userinfo = authority.rsplit("@", 1)[0] if "@" in authority else ""
    if ":" in userinfo:  # a user name alone is no secret
        out += [userinfo, userinfo.split(":", 1)[1]]
    try:
        query = urlsplit(value).query
    except ValueError:
        query = value.split("?", 1)[1] if "?" in value else ""
    for k, v in parse_qsl(query, keep_blank_values=False):
        if is_secret_name(k):
            out.append(v)
    return out


#: where redact() ends an unquoted ``key=value`` value (see mlflow_client_env.redact)
_VALUE_RUN = re.compile(r"[^\s,;&]+")


def _forms(secret: str) -> set[str]:
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]}
    # what redact() leaves of a key=value secret with a quote or separator inside it
    # ('token=ab,cd' -> 'token=***,cd'): text made elsewhere may carry that remainder
    run = _VALUE_RUN.match(secret)
    if run and run.end() < len(secret):
        forms.add(secret[run.end() :])
    forms.add(secret.encode("unicode_escape").decode("ascii", "replace"))
    forms.add(repr(secret.encode("utf-8", "surrogateescape"))[2:-1])
    forms.update(line for line in secret.splitlines() if line.strip())
    return {f for f in forms if len(f) >= MIN_LEN}


def known_secrets(env: Mapping[str, str]) -> tuple[str, ...]:
    """Every secret value in ``env``, in every quoted form, longest first."""
    raw: list[str] = []
    for name, value in env.items():
        if not value:
            continue
        if is_secret_name(name):
            raw.append(value)
        raw += _url_secrets(value)
    forms: set[str] = set()
    for s in raw:
        forms |= _forms(s)
    return tuple(sorted(forms, key=len, reverse=True))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every known secret masked, then :func:`redact`-ed."""
    for s in secrets:
        if s in text:
            text = text.replace(s, MASK)
    return redact(text)


def scrub_finding(f: Finding, secrets: tuple[str, ...]) -> Finding:
    return Finding(
        f.code,
        f.status,
        scrub(f.summary, secrets),
        tuple(scrub(e, secrets) for e in f.evidence),
        scrub(f.fix, secrets) if f.fix else f.fix,
    )
