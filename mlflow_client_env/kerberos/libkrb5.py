"""The default credential cache and realm, asked of the system's libkrb5 as kinit does.

``kinit``, ``klist``, python-gssapi and pyarrow's libhdfs (for the ticket cache name it
hands to Java) all go through ``libkrb5.so.3``. Whatever that library answers is the
truth: it honours ``KRB5_CONFIG`` (a list of files or directories), ``include``,
``includedir`` and ``module`` lines, ``%{uid}``-style tokens and ``KRB5CCNAME``,
with the rules of the installed version. :func:`ask` calls it through ``ctypes``:

- ``krb5_init_context`` reads the configuration,
- ``krb5_cc_default_name``: ``KRB5CCNAME``, else ``default_ccache_name`` (first value
  read, tokens expanded), else ``FILE:/tmp/krb5cc_%{uid}``;
- ``krb5_get_default_realm`` (+ ``krb5_free_default_realm``), ``krb5_free_context``.

Neither call contacts a KDC or a KCM server: they name the cache, they do not open it.

**Which environment.** libkrb5 reads ``KRB5_CONFIG``, ``KRB5CCNAME`` and ``TMPDIR``
(``%{TEMP}``) from the C environment of the process that calls it. The answer is for the
``env`` mapping the caller gives, so:

- in this process, when ``env`` has the same values for those three variables (set or
  unset alike) as this process's C environment (``getenv``, which ``os.environ``
  writes through to): ``setup()``, the kernel launcher, ``ticket`` and ``env`` in the
  common case;
- otherwise in a short-lived child (``python -I -S``, this module's :func:`_child`) with
  just those variables from ``env`` (and this process's ``LD_LIBRARY_PATH``, so it
  loads the same library), bounded by :data:`TIMEOUT`. A child is started only for
  configuration files owned by root or by us and not writable by others: a krb5.conf
  can name code for libkrb5 to load (``module``, ``[plugins]``), and the doctor reads
  other users' environments (``doctor --pid``).

Why not python-gssapi or pykrb5: python-gssapi exposes no default realm, and the cache
name only through ``gss_krb5_ccache_name``, which sets the name as it reports the old one
(a side effect on every later GSSAPI call in the process). pykrb5 (PyPI ``krb5``) binds the
same calls but ships no Linux wheels (it needs a compiler and the krb5 headers), and it
would reach the same ``libkrb5.so.3``; ctypes needs neither.

Callers cache the answers (``profile.discover_kerberos`` keys them on these variables
and the configuration files' stat results). When ``libkrb5.so.3`` cannot be loaded,
:class:`Unavailable` says why and the caller falls back on reading the files itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from ..records import record

LIBRARY = "libkrb5.so.3"
#: The variables libkrb5 reads for these two answers (``strings libkrb5.so.3`` and
#: MIT's ``os_get_default_config_files``, ``krb5_cc_default_name``, ``expand_temp_folder``).
VARIABLES = ("KRB5_CONFIG", "KRB5CCNAME", "TMPDIR")
#: Seconds a child may take (its own start included); it does no network I/O unless
#: krb5.conf has no default_realm and asks for DNS lookups of it.
TIMEOUT = 10.0


class Unavailable(Exception):
    """libkrb5 cannot be asked (not installed, the child failed or timed out)."""


class Refused(Exception):
    """libkrb5 refused the configuration (``krb5_init_context`` failed); the message is
    libkrb5's own (e.g. 'Included profile file could not be read')."""


@record
class Answer:
    """What libkrb5 answered: the default cache name, the default realm (None, with
    libkrb5's reason in ``realm_problem``, when it has none), and where it was asked."""

    ccache: str
    realm: str | None
    realm_problem: str | None
    where: str  # "in this process" or "in a child process with the given environment"


_lib: object | None = None  # the loaded CDLL, or an Unavailable


def _load() -> object:
    """The library, loaded once (about 0.5 ms, none when gssapi already loaded it)."""
    global _lib
    if _lib is None:
        import ctypes

        try:
            lib = ctypes.CDLL(LIBRARY)
            for symbol in ("krb5_init_context", "error_message"):
                getattr(lib, symbol)  # AttributeError for a library without them
        except OSError as exc:
            _lib = Unavailable(f"{LIBRARY} cannot be loaded ({exc})")
        except AttributeError as exc:  # another library of that name first on LD_LIBRARY_PATH
            _lib = Unavailable(
                f"the {LIBRARY} loaded is not MIT krb5's ({exc}); a copy on LD_LIBRARY_PATH "
                "shadows the system's (catalog E1)"
            )
        else:
            c_p = ctypes.c_void_p
            lib.krb5_init_context.argtypes = [ctypes.POINTER(c_p)]
            lib.krb5_init_context.restype = ctypes.c_int32
            lib.krb5_free_context.argtypes = [c_p]
            lib.krb5_free_context.restype = None
            lib.krb5_cc_default_name.argtypes = [c_p]
            lib.krb5_cc_default_name.restype = c_p
            lib.krb5_get_default_realm.argtypes = [c_p, ctypes.POINTER(c_p)]
            lib.krb5_get_default_realm.restype = ctypes.c_int32
            lib.krb5_free_default_realm.argtypes = [c_p, c_p]
            lib.krb5_free_default_realm.restype = None
            lib.krb5_get_error_message.argtypes = [c_p, ctypes.c_int32]
            lib.krb5_get_error_message.restype = c_p
            lib.krb5_free_error_message.argtypes = [c_p, c_p]
            lib.krb5_free_error_message.restype = None
            lib.error_message.argtypes = [ctypes.c_long]  # com_err, a dependency of libkrb5
            lib.error_message.restype = ctypes.c_char_p
            _lib = lib
    if isinstance(_lib, Unavailable):
        raise _lib
    return _lib


def _here() -> tuple[str, str | None, str | None]:
    """(cache name, realm, realm problem) from this process's libkrb5 and C environment.

    Raises ``Unavailable`` or ``Refused``."""
    import ctypes

    lib: ctypes.CDLL = _load()  # type: ignore[assignment]
    ctx = ctypes.c_void_p()
    code = lib.krb5_init_context(ctypes.byref(ctx))
    if code:
        raise Refused(os.fsdecode(lib.error_message(code) or b"") or f"error {code}")
    try:
        name = lib.krb5_cc_default_name(ctx)
        if not name:
            raise Refused("krb5_cc_default_name returned no name")
        ccache = os.fsdecode(ctypes.string_at(name))
        out = ctypes.c_void_p()
        code = lib.krb5_get_default_realm(ctx, ctypes.byref(out))
        if code:
            msg = lib.krb5_get_error_message(ctx, code)
            problem = os.fsdecode(ctypes.string_at(msg)) if msg else f"error {code}"
            if msg:
                lib.krb5_free_error_message(ctx, msg)
            return ccache, None, problem
        realm = os.fsdecode(ctypes.string_at(out))
        lib.krb5_free_default_realm(ctx, out)
        return ccache, realm, None
    finally:
        lib.krb5_free_context(ctx)


def same_as_process(env: Mapping[str, str]) -> bool:
    """Whether libkrb5 in this process would see ``env``'s values of :data:`VARIABLES`."""
    import ctypes

    getenv = ctypes.CDLL(None).getenv
    getenv.argtypes = [ctypes.c_char_p]
    getenv.restype = ctypes.c_char_p
    for var in VARIABLES:
        mine = getenv(var.encode())
        theirs = env.get(var)
        if (mine is None) != (theirs is None) or (
            theirs is not None and os.fsencode(theirs) != mine
        ):
            return False
    return True


def ask(env: Mapping[str, str]) -> Answer:
    """libkrb5's default cache name and realm for a process whose environment is ``env``.

    The caller has checked (for a child) that the configuration files are safe to hand
    to libkrb5. Raises ``Unavailable`` (no library, the child failed) or ``Refused``.
    """
    if same_as_process(env):
        ccache, realm, problem = _here()
        return Answer(ccache, realm, problem, "in this process")
    return _in_child(env)


def _in_child(env: Mapping[str, str]) -> Answer:
    import json
    import subprocess

    if not sys.executable:
        raise Unavailable("no Python interpreter to ask libkrb5 in a child process")
    child_env = {k: env[k] for k in VARIABLES if k in env}
    if os.environ.get("LD_LIBRARY_PATH"):  # the same libkrb5 as this process would load
        child_env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = (
        f"import sys; sys.path.insert(0, {root!r}); "
        "from mlflow_client_env.kerberos.libkrb5 import _child; _child()"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-S", "-c", code],
            env=child_env,
            capture_output=True,
            timeout=TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise Unavailable(f"libkrb5 did not answer within {TIMEOUT:g} s") from None
    except OSError as exc:
        raise Unavailable(f"cannot start {sys.executable}: {exc.strerror}") from None
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise Unavailable(
            f"the libkrb5 child exited {proc.returncode}: {err[-1] if err else 'no output'}"
        ) from None
    if "unavailable" in data:
        raise Unavailable(data["unavailable"])
    if "refused" in data:
        raise Refused(data["refused"])
    where = "in a child process with the given environment"
    return Answer(data["ccache"], data["realm"], data["problem"], where)


def _child() -> None:
    """The child's side of :func:`_in_child`: one JSON line on stdout."""
    import json

    try:
        ccache, realm, problem = _here()
        out: dict[str, str | None] = {"ccache": ccache, "realm": realm, "problem": problem}
    except Unavailable as exc:
        out = {"unavailable": str(exc)}
    except Refused as exc:
        out = {"refused": str(exc)}
    sys.stdout.write(json.dumps(out) + "\n")
