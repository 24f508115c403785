"""KRB5CCNAME and principal names: the tool agrees with the real libkrb5.

Each cache name is given to the real ``klist`` (MIT krb5) and to our parser and
``ticket`` command; what libkrb5 refuses ("Unknown credential cache type") we refuse,
and a name that can never hold a ticket (``FILE:``, an empty KRB5CCNAME) is refused
instead of becoming ``FILE:.``. Principal names are checked against libkrb5's own
``krb5_parse_name`` (called through ctypes).
"""
# ruff: noqa: F811  (the KDC fixtures are imported from tests.test_ticket_kdc)

from __future__ import annotations

import ctypes
import json
import os
import subprocess
from pathlib import Path

import pytest

from mlflow_client_env.errors import CcacheNameError, PrincipalError
from mlflow_client_env.kerberos.login import validate_principal
from mlflow_client_env.kerberos.profile import (
    INVALID,
    ccache_path,
    ccache_type,
    discover_kerberos,
    parse_ccache_name,
)
from tests.conftest import Edge
from tests.test_ticket_kdc import Krb, cli, krb, krb_env  # noqa: F401


def klist(name: str, krb: Krb) -> str:
    env = dict(krb.env(), KRB5CCNAME=name)
    out = subprocess.run(["klist"], env=env, capture_output=True, text=True, timeout=30)
    return out.stderr.strip()


UNKNOWN = "Unknown credential cache type"

#: name -> what we expect: a type (accepted), or "refused".
CASES = {
    "BOGUS:x": "refused",
    "Bogus:x": "refused",
    "file:/tmp/x": "refused",  # prefixes are case-sensitive in libkrb5
    ":foo": "refused",
    "AB:x": "refused",
    "API:x": "refused",  # macOS/Windows only
    "MSLSA:": "refused",  # Windows only
    "FILE:": "refused",  # libkrb5: an empty file name
    "": "refused",
    "DIR:": "refused",
    "FILE:/tmp/mce-nonexistent-cc": "FILE",
    "/tmp/mce-nonexistent-cc": "FILE",
    "FILE:/tmp/a:b": "FILE",
    "C:/tmp/x": "FILE",  # a drive letter: the whole name is the file
    "c:foo": "FILE",
    "FILE:relative": "FILE",
    "MEMORY:x": "MEMORY",
    "KEYRING:persistent:0": "KEYRING",
    "KCM:": "KCM",
    "DIR::/tmp/x": "DIR",
}


@pytest.mark.parametrize("name", list(CASES))
def test_cache_names_agree_with_klist(name: str, krb: Krb) -> None:
    said = klist(name, krb)
    expected = CASES[name]
    if expected == "refused":
        with pytest.raises(CcacheNameError):
            parse_ccache_name(name)
        assert ccache_type(name) == INVALID and ccache_path(name) is None
        # libkrb5 either does not know the type, or can find no cache under that name
        assert (
            UNKNOWN in said
            or "(filename: )" in said
            or "Credential cache directory  does not exist" in said
        ), said
    else:
        assert UNKNOWN not in said, said
        assert parse_ccache_name(name)[0] == expected == ccache_type(name)
        if expected == "FILE":
            assert f"(filename: {ccache_path(name)})" in said, said


def test_unknown_types_are_exactly_libkrb5s(krb: Krb) -> None:
    """Every name klist calls an unknown type is refused, with that reason in the message."""
    for name in ("BOGUS:x", "file:/tmp/x", ":foo", "API:x"):
        assert UNKNOWN in klist(name, krb)
        with pytest.raises(CcacheNameError, match="Unknown credential cache type"):
            parse_ccache_name(name)
    with pytest.raises(CcacheNameError, match=r"case-sensitive: FILE:"):
        parse_ccache_name("file:/tmp/x")


@pytest.mark.parametrize("name", ["FILE:", "BOGUS:x", ""])
def test_ticket_command_says_why(name: str, krb: Krb, krb_env: Path) -> None:
    env = dict(os.environ, KRB5CCNAME=name)
    out = subprocess.run(
        cli("ticket", "--json"), env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    assert data["state"] == "unreadable"
    assert data["message"].startswith("invalid credential cache name: KRB5CCNAME")
    assert data["ccache_type"] == INVALID and data["java_readable"] is False
    assert data["ccache"] == name  # never FILE:. or FILE:BOGUS:x


@pytest.mark.parametrize("name", ["FILE:", "BOGUS:x", "", "file:/tmp/x"])
def test_discovery_and_env_refuse(name: str, edge: Edge, tmp_path: Path) -> None:
    base = dict(os.environ, KRB5_CONFIG=str(edge.krb5_conf))
    with pytest.raises(CcacheNameError):
        discover_kerberos(dict(base, KRB5CCNAME=name))
    # the env command exits 2 with the typed error, and exports nothing
    out = subprocess.run(
        cli("env", *edge.cli_args()), env=dict(base, KRB5CCNAME=name),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "error: KRB5CCNAME" in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""
    # the same edge node with a good cache name works: the refusal is the name's
    good = f"FILE:{tmp_path / 'cc'}"
    ok = subprocess.run(
        cli("env", *edge.cli_args()), env=dict(base, KRB5CCNAME=good),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ok.returncode == 1, ok.stderr  # composed; only the ticket is missing (no kinit yet)
    assert "error: KRB5CCNAME" not in ok.stderr and "error: ticket missing" in ok.stderr
    assert f"KRB5CCNAME={good}" in ok.stdout.replace("'", "")


def test_kinit_refuses_an_invalid_target(krb: Krb, krb_env: Path) -> None:
    for name in ("FILE:", "BOGUS:x"):
        out = subprocess.run(
            cli("kinit", "--keytab", str(krb.keytabs["alice"]), "--principal", "alice",
                "--ccache", name),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr and "cache" in out.stderr
    assert not Path("BOGUS:x").exists() and not krb_env.exists()


# --------------------------------------------------------------------------- principals
def _libkrb5_parse() -> ctypes.CDLL:
    lib = ctypes.CDLL("libkrb5.so.3")  # MIT's: Heimdal's libkrb5.so.26 may be installed too
    lib.krb5_parse_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    return lib


def libkrb5_accepts(name: str) -> bool:
    """krb5_parse_name of the real libkrb5, without flags."""
    lib = _libkrb5_parse()
    ctx = ctypes.c_void_p()
    assert lib.krb5_init_context(ctypes.byref(ctx)) == 0
    try:
        princ = ctypes.c_void_p()
        rc = lib.krb5_parse_name(ctx, name.encode(), ctypes.byref(princ))
        if rc == 0:
            lib.krb5_free_principal(ctx, princ)
        return bool(rc == 0)
    finally:
        lib.krb5_free_context(ctx)


#: libkrb5 parses these, but no KDC issues a ticket for them: we refuse them too.
STRICTER = ["", "@", "@R", "alice@", "al\nice@R", "alice\t@R", "alice@R\x7f"]
NAMES = [
    "alice", "alice@R", "a/b@R", "a\\@b@R", "a\\\\@R", "a//b@R", "/a@R", "a/@R",
    " alice@R", "a@R\\/x", "HTTP/host.example.com@EXAMPLE.COM",
    "alice@R@S", "a@R/x", "a\\", "a\\/b@R/", "x@R\\",
]  # fmt: skip


@pytest.mark.parametrize("name", NAMES + STRICTER)
def test_principals_as_libkrb5_parses_them(name: str) -> None:
    ok = libkrb5_accepts(name) and name not in STRICTER
    if ok:
        assert validate_principal(name) == name
    else:
        with pytest.raises(PrincipalError):
            validate_principal(name)


def test_the_stricter_ones_are_really_accepted_by_libkrb5() -> None:
    """So the STRICTER list documents a real difference, not a typo in the test."""
    assert all(libkrb5_accepts(n) for n in STRICTER)
    assert not any(libkrb5_accepts(n) for n in ("alice@R@S", "a@R/x", "a\\"))
