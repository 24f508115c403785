"""Jupyter kernel specs that carry the MLflow/Hadoop environment: build, install, list, remove.

Why: a kernel inherits the Jupyter server's environment, not the user's
``.bashrc`` (catalog G1), and LD_LIBRARY_PATH is read only at process start
(E2), so the environment has to be in place *before* the kernel process
starts. Two ways to get it there:

* ``launcher`` (default): ``kernel.json`` runs ``python -m mlflow_client_env.kernel`` (the stable shim),
  which resolves the environment at every start and then execs ipykernel, so a
  parcel upgrade needs no reinstall (the envkernel two-phase idea);
* ``static``: absolute values baked into ``kernel.json`` ``env`` (no ``${VAR}``
  templates, G2), for frontends that cannot run the launcher; what was baked,
  and when, is recorded so ``list-kernels`` can tell stale from fresh.

The builders are pure; only ``install``/``uninstall``/``list_kernels`` touch disk.
Secrets never go into a kernel spec: the launcher reads them from the
environment at start instead.

Safety on disk:

* names are Jupyter's (``validate_name``), checked before anything is touched, and
  every removal goes through ``_check_removable``: only the real folder
  ``kernels / name``, never a link, never the kernels folder or above it;
* installs and removals of one kernel hold a per-user lock (``kernel_lock``:
  filelock, ``O_NOFOLLOW``, in ``<user cache>/locks``, 0700);
* a new kernel is staged in a private folder (``mkdtemp``, 0700; files
  ``O_EXCL|O_NOFOLLOW``, 0600) beside the kernels folder and renamed into place;
* a link at the kernel folder, its kernel.json or the lock file is a typed error
  (``UnsafePathError``), an OS error while writing is ``KernelWriteError``;
* kernel.json is 0600 in a 0700 folder when it holds anything of this user's
  (``private_reasons``), else 0644 in 0755 so a shared install is usable by all.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from ..config import SETTINGS
from ..environment import Environment
from ..errors import (
    KernelNameError,
    KernelSpecError,
    KernelWriteError,
    MlflowClientEnvError,
    SecretError,
    UnsafePathError,
)
from ..redact import (
    is_secret_name,
    redact,
    redact_then_truncate,
    url_has_credentials,
)
from ..userdirs import lock_dir

Mode = Literal["launcher", "static"]
MODES: tuple[Mode, ...] = ("launcher", "static")

#: Key under kernel.json ``metadata`` that marks a kernel as written by us.
METADATA_KEY = "mlflow_client_env"
#: The module the launcher argv runs.
LAUNCHER_MODULE = "mlflow_client_env.kernel"  # a shim kept forever: kernel.json files name it

#: jupyter_client's ``_kernel_name_pat`` (``^[a-z0-9._\-]+$``, IGNORECASE), anchored with
#: ``\A...\Z`` (its ``$`` lets a trailing newline through) and ASCII-only (its IGNORECASE
#: lets the Kelvin sign and the long s through).
NAME_RE = re.compile(r"\A[a-z0-9._-]+\Z", re.IGNORECASE | re.ASCII)
#: The longest file name Linux file systems allow (bytes); a kernel name is a folder name.
NAME_MAX = 255
ENV_KEY_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
#: How to give MLflow credentials without writing them into kernel.json.
CREDENTIALS_FIX = (
    "export MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) "
    "in the environment the Jupyter server runs in (the kernel inherits it), or put "
    "mlflow_tracking_username / mlflow_tracking_password in MLflow's credentials file "
    "~/.mlflow/credentials"
)
#: How long ``--python`` may take to import ipykernel before it counts as broken (seconds).
PYTHON_CHECK_TIMEOUT = 60.0
#: Printed by the ``--python`` check: an exit status 0 alone does not prove it is Python.
PYTHON_OK_MARK = "mlflow-client-env: python ok"
#: How long an install waits for another install of the same kernel (seconds).
LOCK_TIMEOUT = 120.0
#: Prefixes of our temporary folders beside the kernels folder (never in Jupyter's path).
STAGING_PREFIX = ".mlflow-client-env-staging-"
OLD_PREFIX = ".mlflow-client-env-old-"
#: The most of a kernel.json we read: a real one is a few kB.
SPEC_MAX_BYTES = 1024 * 1024
#: Modes of a kernel that holds something of this user's (see ``private_reasons``).
PRIVATE_DIR_MODE, PRIVATE_FILE_MODE = 0o700, 0o600
SHARED_DIR_MODE, SHARED_FILE_MODE = 0o755, 0o644
#: Composed variables left out of a static spec: a baked PATH would freeze the
#: installer's PATH for every kernel start (G2); pyarrow does not need it.
STATIC_OMITTED = ("PATH",)
#: The discovery overrides (keys of ``build_environment``'s overrides).
OVERRIDE_KEYS = tuple(s.name for s in SETTINGS if s.name != "tracking_uri")
#: Settings whose values are paths, made absolute at install time.
PATH_KEYS = (*(s.name for s in SETTINGS if s.metavar in ("PATH", "DIR")), "keytab")

#: The kernel logos, shipped in the wheel as package data.
RESOURCES = Path(__file__).resolve().parent / "resources"


@dataclass(frozen=True)
class KernelSettings:
    """What a kernel of ours needs to resolve its environment; stored in kernel.json."""

    parcel: str | None = None
    parcels_root: str | None = None
    hadoop_home: str | None = None
    hadoop_conf_dir: str | None = None
    java_home: str | None = None
    tracking_uri: str | None = None
    experiment: str | None = None
    keytab: str | None = None
    principal: str | None = None
    exact_classpath: bool = False

    def overrides(self) -> dict[str, str | None]:
        """The ``build_environment`` overrides (tracking URI included)."""
        return {s.name: getattr(self, s.name) for s in SETTINGS}

    def to_json(self) -> dict[str, str | bool]:
        """Only what was set, so metadata stays short and readable."""
        return {k: v for k, v in asdict(self).items() if v not in (None, False)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KernelSettings:
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {
            k: v
            for k, v in data.items()
            if k in known and isinstance(v, bool if k == "exact_classpath" else str)
        }
        return cls(**kwargs)

    def launcher_options(self) -> list[str]:
        """The launcher's command-line options for these settings (argv list, no shell)."""
        out: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            option = "--" + f.name.replace("_", "-")
            if value is True:
                out.append(option)
            elif isinstance(value, str):
                out += [option, value]
        return out

    def absolute(self) -> KernelSettings:
        """Path settings made absolute: a kernel starts in the notebook's folder, not ours."""
        changes = {
            k: os.path.abspath(os.path.expanduser(v))
            for k in PATH_KEYS
            if isinstance(v := getattr(self, k), str) and v
        }
        return KernelSettings(**{**asdict(self), **changes})


# --- validation -----------------------------------------------------------------------


def _shown(value: str, limit: int = 80) -> str:
    """A value as it may appear in a message: quoted, escaped, redacted, then cut."""
    return redact_then_truncate(repr(value), limit)


def validate_name(name: str, *, command: str = "install-kernel") -> str:
    """The kernel name Jupyter would use for ``name``, checked before anything touches disk.

    jupyter_client's rule (``_kernel_name_pat``: ``[a-z0-9._-]+``, case-insensitive, and
    it lowercases the name it installs under) minus what it lets through by accident:
    ``.`` and ``..`` (the kernels folder and its parent), a trailing newline (its pattern
    ends in ``$``), non-ASCII letters that case-fold to ASCII (the Kelvin sign ``K``),
    and names longer than a file name may be (``NAME_MAX``). Returns the lowercased name.
    """
    if (
        not isinstance(name, str)
        or not NAME_RE.fullmatch(name)
        or name in (".", "..")
        or len(name.encode("utf-8", "surrogatepass")) > NAME_MAX
    ):
        if isinstance(name, str) and len(name.encode("utf-8", "surrogatepass")) > NAME_MAX:
            why = f"it is longer than {NAME_MAX} bytes, the longest file name allowed"
        elif name in (".", ".."):
            why = "it names the kernels folder itself or its parent"
        else:
            why = "Jupyter kernel names use only ASCII letters, digits, '.', '_' and '-'"
        text = name if isinstance(name, str) else str(name)
        suggestion = re.sub(r"[^a-z0-9._-]+", "-", text.lower(), flags=re.ASCII).strip("-.")
        suggestion = suggestion[:64].strip("-.") or "mlflow"
        fix = (
            f"use --name {suggestion}"
            if command == "install-kernel"
            else "see 'mlflow-client-env list-kernels' for the names of installed kernels"
        )
        raise KernelNameError(f"invalid kernel name {_shown(text)}: {why}", fix)
    return name.lower()


def parse_env_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings (``--env``) into a dict, refusing secrets and bad keys."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            shown = key if ENV_KEY_RE.fullmatch(key) and not is_secret_name(key) else "KEY"
            raise KernelSpecError(
                f"--env {_shown(redact(pair))} is not NAME=VALUE",
                f"write it as --env {shown}=VALUE",
            )
        if not ENV_KEY_RE.fullmatch(key):
            raise KernelSpecError(
                f"--env {_shown(key)}: not a valid variable name",
                "use letters, digits and '_', not starting with a digit",
            )
        if "\0" in value:
            raise KernelSpecError(
                f"--env {key}: the value contains a NUL byte, which no environment can hold",
                f"pass --env {key}=VALUE without the NUL byte",
            )
        out[key] = value
    check_no_secrets(extra_env=out)
    return out


def _carries_secret(value: str) -> bool:
    """A URL with a password or ``token=``, or any text ``redact`` would mask."""
    return url_has_credentials(value) or redact(value) != value


def check_no_secrets(
    settings: KernelSettings | None = None,
    extra_env: Mapping[str, str] | None = None,
    display_name: str | None = None,
) -> None:
    """Raise ``SecretError`` if a password or token would be written into a kernel spec.

    Refused: a tracking URI with credentials (``user:password@`` or ``?token=``), an
    ``--env`` variable whose *name* is a secret's (``*_TOKEN``, ``*_SECRET*``,
    ``*PASSWORD*``, ``*_KEY``), and any value that carries one. Messages show
    redacted values only.
    """
    if settings is not None:
        uri = settings.tracking_uri
        if uri and url_has_credentials(uri):  # a user name alone is not (private_reasons)
            raise SecretError(
                f"the tracking URI {redact(uri)} carries credentials, and kernel.json is a "
                "plain file that backups and, for a shared install, other users can read",
                "pass the URI without user:password@ or token=, and give the credentials "
                f"to MLflow instead: {CREDENTIALS_FIX}",
            )
        for f in fields(settings):
            value = getattr(settings, f.name)
            if f.name != "tracking_uri" and isinstance(value, str) and _carries_secret(value):
                option = "--" + f.name.replace("_", "-")
                raise SecretError(
                    f"{option} {_shown(value)} looks like it carries a secret, which would "
                    "be written into kernel.json",
                    f"pass {option} without it; {CREDENTIALS_FIX}",
                )
    if display_name is not None and _carries_secret(display_name):
        raise SecretError(
            f"--display-name {_shown(display_name)} looks like it carries a secret",
            "choose a display name without it",
        )
    for key, value in (extra_env or {}).items():
        if is_secret_name(key):
            raise SecretError(
                f"--env {key}=... would write a secret into kernel.json ({key} names a "
                "secret: *_TOKEN, *_SECRET*, *PASSWORD*, *_KEY)",
                f"drop --env {key}; export {key} in the environment the Jupyter server runs "
                f"in (the kernel inherits it at start), or for MLflow: {CREDENTIALS_FIX}",
            )
        if _carries_secret(value):
            raise SecretError(
                f"--env {key}={redact_then_truncate(value, 120)} carries credentials "
                "(a password, or a token= / password= parameter)",
                f"pass {key} without them and export the secret where the Jupyter server "
                f"runs (the kernel inherits it), or for MLflow: {CREDENTIALS_FIX}",
            )


def check_python(python: str) -> str:
    """An absolute interpreter path that exists and is executable."""
    if not python or "\0" in python:
        raise KernelSpecError(
            "--python is empty or contains a NUL byte",
            "pass the full path of a Python interpreter, e.g. --python /opt/venv/bin/python",
        )
    found = shutil.which(python) if os.sep not in python else python
    if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise KernelSpecError(
            f"--python {_shown(python, 200)}: no such executable",
            "pass the full path of a Python interpreter, e.g. --python /opt/venv/bin/python",
        )
    return os.path.abspath(found)


def safe_environment() -> dict[str, str]:
    """The environment a check of someone's interpreter runs with: nothing inherited.

    No ``PYTHONPATH``, ``PYTHONSTARTUP``, ``LD_PRELOAD``, ``LD_LIBRARY_PATH`` or ``PATH``
    entries from whoever called us: only a system ``PATH``, this user's home and a locale.
    """
    import pwd

    try:
        home = pwd.getpwuid(os.geteuid()).pw_dir
    except KeyError:
        home = "/"
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"}


def check_python_modules(
    python: str, modules: Sequence[str], timeout: float = PYTHON_CHECK_TIMEOUT
) -> None:
    """The kernel's interpreter must run and import ``modules`` (checked once, at install).

    The check prints a marker, so a program that exits 0 without being Python
    (``/bin/true``) is refused too. It runs in a safe environment (``safe_environment``),
    from ``/``, in its own process group that is killed whole on timeout.
    """
    code = f"import {', '.join(modules)}; print({PYTHON_OK_MARK!r})"
    install_fix = f"{python} -m pip install mlflow-client-env ipykernel" + (
        ", or use --mode static" if LAUNCHER_MODULE in modules else ""
    )
    try:
        proc = subprocess.Popen(
            [python, "-c", code],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=safe_environment(),
            cwd="/",
            start_new_session=True,
        )
    except OSError as exc:
        raise KernelSpecError(
            f"--python {python} cannot be run: {exc.strerror}",
            "pass the full path of a Python interpreter that has ipykernel, "
            "e.g. --python /opt/venv/bin/python",
        ) from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.kill()
        proc.wait()
        raise KernelSpecError(
            f"--python {python} did not finish '{code}' within {timeout:g} s",
            "check that it is a working Python interpreter (run it by hand), then retry",
        ) from None
    finally:
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    lines = out.decode("utf-8", "replace").splitlines()
    if proc.returncode == 0 and PYTHON_OK_MARK in lines:
        return
    if proc.returncode == 0:
        raise KernelSpecError(
            f"--python {python} exited 0 without running Python code: it is not a Python "
            "interpreter",
            "pass the full path of a Python interpreter that has ipykernel, "
            "e.g. --python /opt/venv/bin/python",
        )
    last = (err.decode("utf-8", "replace").strip().splitlines() or ["(no output)"])[-1]
    raise KernelSpecError(
        f"{python} cannot run the kernel: 'import {', '.join(modules)}' failed: "
        f"{redact_then_truncate(last, 300)}",
        install_fix,
    )


def check_kernel_keytab(keytab: str | None, principal: str | None = None) -> None:
    """A kernel's keytab settings: both or neither (the one pairing rule), and a keytab the
    kernel can use at every start (the one keytab rule: a regular, readable keytab file)."""
    from ..kerberos.login import check_keytab, keytab_login_asked

    if keytab_login_asked(keytab, principal):
        assert keytab is not None
        check_keytab(keytab)


# --- building kernel.json (pure) ------------------------------------------------------


def launcher_argv(python: str, settings: KernelSettings) -> list[str]:
    """``python -m mlflow_client_env.kernel -f {connection_file}`` plus our settings."""
    return [python, "-m", LAUNCHER_MODULE, "-f", "{connection_file}", *settings.launcher_options()]


def ipykernel_argv(python: str) -> list[str]:
    return [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def static_env(environment: Environment) -> dict[str, str]:
    """The values a static spec bakes: absolute, no PATH, and LD_LIBRARY_PATH only our part.

    The composed LD_LIBRARY_PATH keeps the installer's own entries; a static spec
    replaces the server's LD_LIBRARY_PATH, so it carries only the JVM server dir
    we append (never parcel dirs: catalog E1).
    """
    out: dict[str, str] = {}
    for v in environment.variables:
        if v.name in STATIC_OMITTED:
            continue
        if v.name == "LD_LIBRARY_PATH":
            out[v.name] = str(environment.java.install.server_dir)
        else:
            out[v.name] = v.value
    return out


def fingerprint(values: Mapping[str, str]) -> str:
    blob = json.dumps(sorted(values.items()), separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def default_display_name(mode: Mode, environment: Environment | None) -> str:
    py = f"Python {sys.version_info.major}.{sys.version_info.minor}"
    if mode == "static" and environment is not None and environment.hadoop.parcel is not None:
        p = environment.hadoop.parcel
        return f"MLflow ({py}, {p.name} {p.version}, static)"
    return f"MLflow ({py})" + (", static" if mode == "static" else "")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def kernel_dict(
    *,
    mode: Mode,
    python: str,
    display_name: str,
    settings: KernelSettings,
    extra_env: Mapping[str, str],
    environment: Environment | None = None,
    when: str | None = None,
) -> dict[str, Any]:
    """The kernel.json content. ``environment`` is required for static mode."""
    from .. import __version__

    when = when or now_iso()
    ours: dict[str, Any] = {
        "version": __version__,
        "mode": mode,
        "settings": settings.to_json(),
        "installed_at": when,
        "extra_env": sorted(extra_env),
    }
    env: dict[str, str] = {}
    if mode == "launcher":
        argv = launcher_argv(python, settings)
    else:
        if environment is None:
            raise ValueError("static mode needs the resolved environment")
        baked = static_env(environment)
        env.update(baked)
        if settings.experiment:
            env["MLFLOW_EXPERIMENT_NAME"] = settings.experiment
        argv = ipykernel_argv(python)
        parcel = environment.hadoop.parcel
        ours.update(
            baked_at=when,
            baked=sorted(baked),
            omitted=list(STATIC_OMITTED),
            fingerprint=fingerprint(baked),
            hadoop=f"{parcel.name} {parcel.version}" if parcel else str(environment.hadoop.root),
        )
    env.update(extra_env)  # the user's explicit values win
    spec: dict[str, Any] = {
        "argv": argv,
        "display_name": display_name,
        "language": "python",
        "metadata": {"debugger": True, METADATA_KEY: ours},
    }
    if env:
        spec["env"] = env
    return spec


# --- disk -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Location:
    """Where to install: the user's data dir (default), ``sys.prefix``, or a prefix."""

    user: bool = True
    prefix: str | None = None

    @classmethod
    def of(cls, *, sys_prefix: bool = False, prefix: str | None = None) -> Location:
        if prefix:
            return cls(False, os.path.abspath(os.path.expanduser(prefix)))
        if sys_prefix:
            return cls(False, sys.prefix)
        return cls(True, None)

    def kernels_dir(self) -> Path:
        """Absolute and normalised: no ``..`` left for a name to climb out with."""
        if self.prefix:
            return Path(os.path.abspath(Path(self.prefix) / "share" / "jupyter" / "kernels"))
        from jupyter_core.paths import jupyter_data_dir

        return Path(os.path.abspath(Path(jupyter_data_dir()) / "kernels"))


class SpecUnreadable(Exception):
    """Internal: why a kernel.json cannot be used (becomes a typed error or a list entry)."""

    def __init__(self, reason: str, *, link: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.link = link


def load_spec(kernel_dir: Path) -> dict[str, Any] | None:
    """kernel.json of ``kernel_dir`` (None when there is none); ``SpecUnreadable`` otherwise.

    Never follows a symbolic link (``O_NOFOLLOW``), never blocks on a FIFO
    (``O_NONBLOCK``, then only a regular file is read), reads at most
    ``SPEC_MAX_BYTES``, and turns bad UTF-8, bad JSON and absurd nesting into a reason.
    """
    path = kernel_dir / "kernel.json"
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(path):
            raise SpecUnreadable(f"{path} is a symbolic link", link=True) from None
        raise SpecUnreadable(f"cannot open {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SpecUnreadable(f"{path} is not a regular file")
        data = os.read(fd, SPEC_MAX_BYTES + 1)
    except OSError as exc:
        raise SpecUnreadable(f"cannot read {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > SPEC_MAX_BYTES:
        raise SpecUnreadable(f"{path} is larger than {SPEC_MAX_BYTES} bytes")
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise SpecUnreadable(f"{path} is not UTF-8 text") from None
    except RecursionError:
        raise SpecUnreadable(f"{path} is JSON nested too deeply") from None
    except ValueError as exc:
        reason = f"{path} is not valid JSON ({redact_then_truncate(str(exc), 80)})"
        raise SpecUnreadable(reason) from None
    if not isinstance(value, dict):
        raise SpecUnreadable(f"{path} holds JSON that is not an object")
    return value


def read_spec(kernel_dir: Path) -> dict[str, Any] | None:
    """kernel.json of ``kernel_dir``, or None when missing or unreadable."""
    try:
        return load_spec(kernel_dir)
    except SpecUnreadable:
        return None


def ours_metadata(spec: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not spec:
        return None
    meta = spec.get("metadata")
    value = meta.get(METADATA_KEY) if isinstance(meta, dict) else None
    return value if isinstance(value, dict) else None


def resources_dir() -> Path | None:
    """Logos: ours from ``jupyter/resources``, else ipykernel's, else none."""
    if (RESOURCES / "logo-64x64.png").is_file():
        return RESOURCES
    try:
        from ipykernel.kernelspec import RESOURCES as ipk
    except ImportError:  # pragma: no cover - ipykernel is a dependency
        return None
    return Path(ipk)


def resolve(
    settings: KernelSettings, extra_env: Mapping[str, str], env: Mapping[str, str] | None = None
) -> Environment:
    """The environment for these settings, as the kernel would see it at start."""
    from ..discovery import build_environment

    base = {**(os.environ if env is None else env), **extra_env}
    return build_environment(base, settings.overrides(), exact_classpath=settings.exact_classpath)


@dataclass
class InstallResult:
    name: str
    path: Path
    mode: Mode
    spec: dict[str, Any]
    dry_run: bool
    replaced: bool
    notes: list[str] = field(default_factory=list)
    private: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "mode": self.mode,
            "dry_run": self.dry_run,
            "replaced": self.replaced,
            "private": self.private,
            "notes": self.notes,
            "kernel": self.spec,
        }


#: Variables a static kernel bakes that belong to one user (a ticket cache is per user).
USER_VARIABLES = ("KRB5CCNAME", "MLFLOW_KERBEROS_TICKET_CACHE", "MLFLOW_EXPERIMENT_NAME")


def private_reasons(
    spec: Mapping[str, Any],
    location: Location,
    settings: KernelSettings,
    extra_env: Mapping[str, str],
) -> list[str]:
    """Why this kernel.json must be readable by its owner only (0600); empty: 0644 is fine.

    User-specific: a per-user install (nobody else needs to read it), ``--env``
    values, an experiment, a keytab or principal, a tracking URI that names a user
    (``alice@host``), a baked ticket cache, and any path under the installer's home.
    A tracking URI without userinfo is not: it is site configuration like the parcel
    path (credentials are refused before this), so an admin can share a kernel for it.
    """
    reasons: list[str] = []
    if location.user:
        reasons.append("it is a per-user install")
    if extra_env:
        reasons.append("--env values")
    if settings.experiment:
        reasons.append("an experiment name")
    if settings.keytab or settings.principal:
        reasons.append("a keytab and principal")
    uri = settings.tracking_uri or ""
    if "@" in uri.partition("://")[2].split("/", 1)[0]:
        reasons.append("a tracking URI with a user name")
    env = spec.get("env") or {}
    baked = [k for k in USER_VARIABLES if k in env]
    if baked:
        reasons.append("per-user variables (" + ", ".join(baked) + ")")
    home = os.path.expanduser("~")
    if home not in ("", "/"):
        texts = [*map(str, spec.get("argv") or []), *map(str, env.values())]
        if any(t == home or t.startswith(home.rstrip("/") + "/") for t in texts):
            reasons.append(f"paths under {home}")
    return reasons


def install(
    name: str = "mlflow",
    *,
    mode: Mode = "launcher",
    location: Location | None = None,
    display_name: str | None = None,
    python: str | None = None,
    settings: KernelSettings | None = None,
    extra_env: Mapping[str, str] | None = None,
    force: bool = False,
    dry_run: bool = False,
    env: Mapping[str, str] | None = None,
) -> InstallResult:
    """Install (or with ``dry_run`` only build) a kernel; nothing is written on error.

    Raises ``KernelSpecError`` (``KernelNameError``, ``UnsafePathError``,
    ``KernelWriteError``) or ``SecretError`` (with the fix) on bad input, and for
    static mode any discovery error (nothing to bake). Installs of the same kernel
    are serialised by a per-user lock (``kernel_lock``).
    """
    name = validate_name(name)
    if mode not in MODES:
        raise KernelSpecError(f"unknown mode {mode!r}", "use --mode launcher or --mode static")
    location = location or Location()
    settings = (settings or KernelSettings()).absolute()
    extra_env = dict(extra_env or {})
    check_no_secrets(settings, extra_env, display_name)
    check_kernel_keytab(settings.keytab, settings.principal)
    notes: list[str] = []
    if python is None:
        python = sys.executable
    else:
        python = check_python(python)
        check_python_modules(
            python,
            ("ipykernel", LAUNCHER_MODULE) if mode == "launcher" else ("ipykernel",),
        )

    environment: Environment | None = None
    if mode == "static":
        environment = resolve(settings, extra_env, env)  # errors propagate: nothing to bake
        errors = [f for f in environment.findings if f.status == "error"]
        notes += [f"baked with an error: {f.summary}" for f in errors]
        for var in environment.variables:
            # url_has_credentials, not redact(): redact masks CLASSPATH entries such as
            # 'token-provider-1.0.1.jar:...' (Hadoop 3 ships it) as if they were key: value
            if url_has_credentials(var.value) or is_secret_name(var.name):
                raise SecretError(
                    f"{var.name} from your environment ({redact_then_truncate(var.value, 120)}) "
                    "carries credentials, and a static kernel would bake it into kernel.json",
                    f"remove them from {var.name}; {CREDENTIALS_FIX}; or use --mode launcher",
                )
    else:
        try:
            probe = resolve(settings, extra_env, env)
        except MlflowClientEnvError as exc:
            notes.append(
                f"the environment does not resolve now ({exc.problem}); the kernel will say "
                f"so in its first cell until fixed: {exc.fix}"
            )
        else:
            notes += [
                f"environment has an error now: {f.summary}"
                for f in probe.findings
                if f.status == "error"
            ]

    spec = kernel_dict(
        mode=mode,
        python=python,
        display_name=display_name or default_display_name(mode, environment),
        settings=settings,
        extra_env=extra_env,
        environment=environment,
    )
    reasons = private_reasons(spec, location, settings, extra_env)
    kernels = location.kernels_dir()
    dest = kernel_path(kernels, name)
    if dry_run:
        replaced = existing_kernel(dest, name, force) is not None
        return InstallResult(name, dest, mode, spec, True, replaced, notes, bool(reasons))
    with kernel_lock(kernels, name):
        replaced = existing_kernel(dest, name, force) is not None
        _write(name, spec, location, private=bool(reasons))
    if reasons and not location.user:
        notes.append(
            f"kernel.json holds {', '.join(reasons)}, so it is readable by you only (0600): "
            f"other users of {kernels} will not see this kernel"
        )
    notes += _shadow_notes(name, dest)
    return InstallResult(name, dest, mode, spec, False, replaced, notes, bool(reasons))


def kernel_path(kernels: Path, name: str) -> Path:
    """``kernels / name``, checked to be a direct child of ``kernels`` (never itself or above)."""
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise KernelNameError(f"invalid kernel name {_shown(name)}", "use a kernel name")
    if not kernels.is_absolute() or ".." in kernels.parts:
        raise KernelSpecError(
            f"the kernels folder {kernels} is not an absolute, normalised path",
            "pass an absolute --prefix",
        )
    path = kernels / name
    if path.parent != kernels or path.name != name:
        raise KernelNameError(f"invalid kernel name {_shown(name)}", "use a kernel name")
    return path


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KernelWriteError(
            f"cannot look at {path}: {exc.strerror}", "check the permissions of its folder"
        ) from None


def existing_kernel(dest: Path, name: str, force: bool) -> dict[str, Any] | None:
    """The kernel.json already at ``dest`` (``{}``: a folder without one; None: nothing).

    Refuses (typed) a symbolic link or a non-folder at ``dest``, a symbolic link at
    its kernel.json, and, without ``force``, a kernel we did not write.
    """
    st = _lstat(dest)
    if st is None:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(
            f"{dest} is a symbolic link (to {_shown(os.readlink(dest), 200)}), not a kernel "
            "folder; it is not followed",
            f"look at who created it; remove the link itself (rm {dest}) if it is not yours, "
            "then retry",
        )
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(
            f"{dest} exists and is not a folder",
            f"look at it and remove it (rm {dest}) if it is not needed, or use another --name",
        )
    try:
        spec = load_spec(dest)
    except SpecUnreadable as exc:
        if exc.link:
            raise UnsafePathError(
                f"{exc.reason}; a kernel.json is never read or written through a link",
                f"look at who created it; remove the link (rm {dest / 'kernel.json'}) and retry",
            ) from None
        spec = None
        unreadable: str | None = exc.reason
    else:
        unreadable = None
    if ours_metadata(spec) is None and not force:
        why = f" ({unreadable})" if unreadable else ""
        raise KernelSpecError(
            f"a kernel named {name!r} already exists at {dest} and was not written by "
            f"mlflow-client-env{why}",
            f"choose another --name, or pass --force to replace it (or 'jupyter kernelspec "
            f"remove {name}' first)",
        )
    return spec if spec is not None else {}


def lock_path(kernels: Path, name: str, env: Mapping[str, str] | None = None) -> Path:
    """The lock file of kernel ``name`` in ``kernels``: a hash, so any name fits a file name."""
    key = f"{os.path.realpath(kernels)}\0{name}".encode("utf-8", "surrogatepass")
    return lock_dir(env) / f"kernel-{hashlib.sha256(key).hexdigest()[:32]}.lock"


@contextlib.contextmanager
def kernel_lock(
    kernels: Path, name: str, timeout: float = LOCK_TIMEOUT, env: Mapping[str, str] | None = None
) -> Iterator[Path]:
    """Hold the per-user lock of kernel ``name`` in ``kernels`` (filelock, ``O_NOFOLLOW``).

    The lock file lives in a private 0700 folder (``userdirs.lock_dir``), never in ``/tmp`` or
    in the kernels folder; its name is a hash of the kernels folder and the name, so
    any name fits in a file name. A symbolic link there is a typed error.
    """
    import filelock

    path = lock_path(kernels, name, env)
    if os.path.islink(path):
        raise UnsafePathError(
            f"the lock file {path} is a symbolic link; it is not followed",
            f"remove it (rm {path}) and retry",
        )
    lock = filelock.FileLock(str(path), timeout=timeout, mode=0o600)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise KernelSpecError(
            f"another install of kernel {name!r} has held {path} for {timeout:g} s",
            "wait for it to finish, then retry",
        ) from None
    except OSError as exc:
        link = os.path.islink(path)
        raise (UnsafePathError if link else KernelWriteError)(
            f"cannot lock {path}: "
            + ("it is a symbolic link, which is not followed" if link else str(exc.strerror)),
            f"remove {path} and retry",
        ) from None
    try:
        yield path
    finally:
        lock.release()


def _create_file(path: Path, data: bytes) -> None:
    """Write a new file: ``O_EXCL|O_NOFOLLOW`` (never an existing file or a link), 0600."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _stage(parent: Path, spec: Mapping[str, Any]) -> Path:
    """A complete new kernel folder under ``parent`` (0700, files 0600), not yet published.

    ``mkdtemp`` picks an unpredictable name and creates it with ``mkdir`` (a planted
    link makes it pick another); files inside are created ``O_EXCL|O_NOFOLLOW``.
    """
    text = json.dumps(spec, indent=1) + "\n"  # before creating anything: a bad value writes nothing
    stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))
    try:
        res = resources_dir()
        if res is not None:
            for logo in sorted(res.glob("logo-*")):
                _create_file(stage / logo.name, logo.read_bytes())
        _create_file(stage / "kernel.json", text.encode("utf-8"))
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return stage


def _write(name: str, spec: Mapping[str, Any], location: Location, *, private: bool = True) -> None:
    """Stage the kernel beside the kernels folder, then swap it in with renames.

    jupyter_client's ``install_kernel_spec`` deletes the old folder and then
    copies, so an interrupted install leaves a half-written kernel. Staging on
    the same filesystem (outside Jupyter's search path) and renaming means the
    kernel folder is always either the old one or the complete new one. The
    caller holds ``kernel_lock`` and has checked the folder (``existing_kernel``).
    OS errors (a read-only folder, a full disk) become ``KernelWriteError``.
    """
    kernels = location.kernels_dir()
    dest = kernel_path(kernels, validate_name(name))
    dir_mode, file_mode = (
        (PRIVATE_DIR_MODE, PRIVATE_FILE_MODE) if private else (SHARED_DIR_MODE, SHARED_FILE_MODE)
    )
    stage: Path | None = None
    old: Path | None = None
    try:
        try:
            kernels.mkdir(parents=True, exist_ok=True)
            stage = _stage(kernels.parent, spec)
            for f in stage.iterdir():
                os.chmod(f, file_mode, follow_symlinks=False)
            os.chmod(stage, dir_mode)
            if _lstat(dest) is not None:
                old = kernels.parent / (OLD_PREFIX + secrets.token_hex(8))
                _check_removable(kernels, name, dest, require_ours=False)
                os.rename(dest, old)
            try:
                os.rename(stage, dest)
            except OSError:
                if old is not None:
                    os.rename(old, dest)
                    old = None
                raise
            stage = None
        except OSError as exc:
            where = exc.filename or kernels
            raise KernelWriteError(
                f"cannot install kernel {name!r} in {kernels}: {exc.strerror} ({where})",
                "install where you can write: --user (the default), or a --prefix of yours; "
                "for --sys-prefix or a shared --prefix, ask whoever owns the folder",
            ) from None
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        if old is not None:
            _remove_tree(old)


def _remove_tree(path: Path) -> None:
    """Remove a folder we renamed aside; a link found there is unlinked, never followed."""
    st = _lstat(path)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path, ignore_errors=True)  # rmtree never follows links (fd-based)
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _check_removable(kernels: Path, name: str, path: Path, *, require_ours: bool) -> None:
    """Refuse (typed) to remove anything but the real folder ``kernels / name``.

    ``path`` must equal ``kernels / name`` for a valid ``name``: a direct child, never
    the kernels folder itself or anything above it. It must be a folder, not a
    symbolic link; and with ``require_ours`` its kernel.json must be ours.
    """
    if kernel_path(kernels, validate_name(name, command="uninstall-kernel")) != path:
        raise KernelSpecError(
            f"refusing to remove {path}: it is not the folder of kernel {name!r} in {kernels}",
            "report this as a bug of mlflow-client-env",
        )
    st = _lstat(path)
    if st is None:
        raise KernelSpecError(f"{path} is gone", "see 'mlflow-client-env list-kernels'")
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(
            f"{path} is a symbolic link, not a kernel folder; it is not followed or removed",
            f"look at who created it; remove the link itself (rm {path}) if it is not needed",
        )
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"{path} is not a folder", f"look at it; remove it with rm {path}")
    if require_ours:
        try:
            spec = load_spec(path)
        except SpecUnreadable as exc:
            raise KernelSpecError(
                f"the kernel at {path} was not written by mlflow-client-env ({exc.reason})",
                f"pass --force to remove it anyway, or 'jupyter kernelspec remove {name}'",
            ) from None
        if ours_metadata(spec) is None:
            raise KernelSpecError(
                f"the kernel at {path} was not written by mlflow-client-env",
                f"pass --force to remove it anyway, or 'jupyter kernelspec remove {name}'",
            )


def _shadow_notes(name: str, dest: Path) -> list[str]:
    """Warn when Jupyter will not find the kernel just installed, or finds another first."""
    import warnings

    from jupyter_client.kernelspec import KernelSpecManager

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = KernelSpecManager().find_kernel_specs().get(name)
    if found is None:
        return [
            f"Jupyter does not search {dest.parent}; add {dest.parent.parent} to JUPYTER_PATH "
            "so it finds this kernel"
        ]
    if Path(found).resolve() != dest.resolve():
        return [f"another kernel named {name!r} at {found} comes first in Jupyter's search path"]
    return []


def kernel_dirs(extra: Sequence[str | os.PathLike[str]] = ()) -> list[Path]:
    """Every folder Jupyter searches for kernels (highest priority first), plus ``extra``.

    Absolute and normalised (``kernel_path`` refuses anything else).
    """
    from jupyter_client.kernelspec import KernelSpecManager

    dirs = [Path(d) for d in KernelSpecManager().kernel_dirs]
    for e in extra:
        p = Path(e)
        dirs.append(p if p.name == "kernels" else p / "share" / "jupyter" / "kernels")
    seen: set[Path] = set()
    out = []
    for d in dirs:
        d = Path(os.path.abspath(d))
        key = d.resolve() if d.exists() else d
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def find_installed(name: str, extra_dirs: Sequence[str | os.PathLike[str]] = ()) -> list[Path]:
    """Every installed kernel folder named ``name``, wherever it is (not only the first).

    A link or a folder without kernel.json counts too, so that removal refuses it
    with a reason instead of saying there is no such kernel.
    """
    name = validate_name(name, command="uninstall-kernel")
    out = []
    for d in kernel_dirs(extra_dirs):
        path = kernel_path(d, name)
        if os.path.lexists(path / "kernel.json") or os.path.islink(path):
            out.append(path)
    return out


def uninstall(
    name: str,
    *,
    force: bool = False,
    dry_run: bool = False,
    extra_dirs: Sequence[str | os.PathLike[str]] = (),
) -> list[Path]:
    """Remove every kernel named ``name``; refuse a kernel we did not write unless ``force``.

    Every folder is checked first (``_check_removable``: the kernel's own folder, not a
    link, ours unless ``force``), and nothing is removed unless all pass.
    """
    name = validate_name(name, command="uninstall-kernel")
    found = find_installed(name, extra_dirs)
    if not found:
        raise KernelSpecError(
            f"no kernel named {name!r} in {', '.join(str(d) for d in kernel_dirs(extra_dirs))}",
            "see 'mlflow-client-env list-kernels' for the names; for a --prefix install, "
            "pass the same --prefix",
        )
    for p in found:
        _check_removable(p.parent, name, p, require_ours=not force)
    if not dry_run:
        for p in found:
            with kernel_lock(p.parent, name):  # not while an install swaps this kernel
                _check_removable(p.parent, name, p, require_ours=not force)
                try:
                    shutil.rmtree(p)
                except OSError as exc:
                    raise KernelWriteError(
                        f"cannot remove {p}: {exc.strerror}",
                        "ask whoever owns that folder, or check its permissions",
                    ) from None
    return found


# --- listing --------------------------------------------------------------------------

Status = Literal["ok", "error", "fresh", "stale", "broken", "unknown", "unreadable"]


@dataclass
class KernelEntry:
    name: str
    path: Path
    display_name: str
    ours: bool
    mode: str | None = None
    status: Status = "unknown"
    detail: str = ""
    changed: list[str] = field(default_factory=list)
    baked_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def _malformed(spec: Mapping[str, Any], meta: Mapping[str, Any] | None) -> str | None:
    """Why a kernel.json's structure cannot be used, or None."""
    argv = spec.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        return "'argv' is not a non-empty list of strings"
    env = spec.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        return "'env' is not an object of strings"
    if not isinstance(spec.get("display_name", ""), str):
        return "'display_name' is not a string"
    if meta is None:
        return None
    settings = meta.get("settings", {})
    if not isinstance(settings, dict) or not all(
        isinstance(v, (str, bool)) for v in settings.values()
    ):
        return f"metadata.{METADATA_KEY}.settings is not an object of strings"
    extra = meta.get("extra_env", [])
    if not isinstance(extra, list) or not all(isinstance(k, str) for k in extra):
        return f"metadata.{METADATA_KEY}.extra_env is not a list of names"
    if not isinstance(meta.get("baked", []), list):
        return f"metadata.{METADATA_KEY}.baked is not a list"
    return None


def check_kernel(
    name: str, path: Path, spec: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> KernelEntry:
    """Does this kernel's environment still resolve, and (static) are its baked values current?"""
    shown = spec.get("display_name", name)
    entry = KernelEntry(name, path, redact(shown if isinstance(shown, str) else name), False)
    meta = ours_metadata(spec)
    bad = _malformed(spec, meta)
    if bad:
        entry.ours = meta is not None
        entry.status, entry.detail = "unreadable", f"{path / 'kernel.json'}: {bad}"
        return entry
    if meta is None:
        entry.detail = "not written by mlflow-client-env"
        return entry
    entry.ours = True
    entry.mode = str(meta.get("mode", "?"))
    settings = KernelSettings.from_json(meta.get("settings") or {})
    spec_env = spec.get("env") or {}
    extra = {k: spec_env[k] for k in meta.get("extra_env", []) if k in spec_env}
    argv = spec.get("argv") or []
    if argv and not os.access(str(argv[0]), os.X_OK):
        entry.status, entry.detail = "broken", f"interpreter {argv[0]} is missing"
        return entry
    try:
        environment = resolve(settings, extra, env)
    except MlflowClientEnvError as exc:
        entry.status, entry.detail = "broken", f"{exc.problem} (fix: {exc.fix})"
        return entry
    errors = [f.summary for f in environment.findings if f.status == "error"]
    if entry.mode == "static":
        baked_at = meta.get("baked_at")
        entry.baked_at = baked_at if isinstance(baked_at, str) else None
        now = static_env(environment)
        baked = {str(k): str(spec_env.get(k)) for k in meta.get("baked", [])}
        if fingerprint(now) == meta.get("fingerprint") and now == baked:
            entry.status, entry.detail = "fresh", f"baked {entry.baked_at}"
        else:
            entry.changed = sorted(k for k in set(now) | set(baked) if now.get(k) != baked.get(k))
            entry.status = "stale"
            entry.detail = (
                f"baked {entry.baked_at}; changed since: {', '.join(entry.changed)}; "
                f"re-run install-kernel --mode static --name {name}"
            )
    else:
        entry.status = "error" if errors else "ok"
        entry.detail = "; ".join(errors) if errors else "resolves"
    if errors and entry.mode == "static":
        entry.detail += "; errors: " + "; ".join(errors)
    return entry


def list_kernels(
    extra_dirs: Sequence[str | os.PathLike[str]] = (), env: Mapping[str, str] | None = None
) -> list[KernelEntry]:
    """Every kernel Jupyter finds (plus those under ``extra_dirs``), ours checked.

    A kernel.json that cannot be used (not UTF-8, not JSON, nested too deeply, a link,
    an unexpected structure) is an ``unreadable`` entry, never an exception; so is an
    unexpected error while checking one. Details are redacted.
    """
    import warnings

    from jupyter_client.kernelspec import KernelSpecManager

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns about invalid names; we list them below
        specs = {n: Path(p) for n, p in KernelSpecManager().find_kernel_specs().items()}
    for d in kernel_dirs(extra_dirs):
        try:
            subs = sorted(d.iterdir()) if d.is_dir() else []
        except OSError:
            continue
        for sub in subs:
            named = NAME_RE.fullmatch(sub.name) and sub.name not in (".", "..")
            if named and os.path.lexists(sub / "kernel.json"):
                specs.setdefault(sub.name.lower(), sub)
    out = []
    for name in sorted(specs):
        path = specs[name]
        try:
            spec = load_spec(path)
            if spec is None:
                raise SpecUnreadable(f"{path / 'kernel.json'} is missing")
            entry = check_kernel(name, path, spec, env)
        except SpecUnreadable as exc:
            entry = KernelEntry(name, path, name, False, status="unreadable", detail=exc.reason)
        except Exception as exc:  # one bad kernel must not hide the others
            entry = KernelEntry(
                name,
                path,
                name,
                False,
                status="unreadable",
                detail=f"unexpected {type(exc).__name__}: {exc}",
            )
        entry.detail = redact_then_truncate(entry.detail, 2000)
        out.append(entry)
    return out
