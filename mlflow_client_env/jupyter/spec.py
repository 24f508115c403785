"""Jupyter kernel specs that carry the MLflow/Hadoop environment: what goes into kernel.json.

Why: a kernel inherits the Jupyter server's environment, not the user's
``.bashrc`` (catalog G1), and LD_LIBRARY_PATH is read only at process start
(E2), so the environment has to be in place *before* the kernel process
starts. Two ways to get it there:

* ``launcher`` (default): ``kernel.json`` runs ``python -m mlflow_client_env.kernel`` (the stable shim),
  which resolves the environment at every start and then starts ipykernel, so a
  parcel upgrade needs no reinstall (the envkernel two-phase idea);
* ``static``: absolute values baked into ``kernel.json`` ``env`` (no ``${VAR}``
  templates, G2), for frontends that cannot run the launcher; what was baked,
  and when, is recorded so ``list-kernels`` can tell stale from fresh.

This module is the pure part (ipykernel's ``kernelspec`` layout: helpers first,
then ``install``): name validation (``validate_name``, Jupyter's names and no
more), the kernel's settings (``KernelSettings``), building the kernel.json dict
and argv, deciding whether it is private (``private_reasons``), and reading an
existing kernel.json (``load_spec``: never through a link, never a FIFO, bounded).
It writes nothing: writing and removing kernels is ``install``, listing them is
``listing``. Secrets never go into a kernel spec (``check_no_secrets``): the
launcher reads them from the environment at start instead.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import stat
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from .. import __version__
from ..config import SETTINGS
from ..discovery import build_environment
from ..environment import Environment
from ..errors import KernelNameError, KernelSpecError, SecretError
from ..records import asdict, fields, record
from ..redact import (
    is_secret_name,
    redact,
    redact_then_truncate,
    url_has_credentials,
)
from .extension import SHIM

Mode = Literal["launcher", "static"]
MODES: tuple[Mode, ...] = ("launcher", "static")

#: Key under kernel.json ``metadata`` that marks a kernel as written by us.
METADATA_KEY = "mlflow_client_env"
#: The module the launcher argv runs.
LAUNCHER_MODULE = SHIM  # a shim kept forever: kernel.json files name it
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
#: The most of a kernel.json we read: a real one is a few kB.
SPEC_MAX_BYTES = 1024 * 1024
#: Composed variables left out of a static spec: a baked PATH would freeze the
#: installer's PATH for every kernel start (G2); pyarrow does not need it.
STATIC_OMITTED = ("PATH",)
#: Settings whose values are paths, made absolute at install time.
PATH_KEYS = (*(s.name for s in SETTINGS if s.metavar in ("PATH", "DIR")), "keytab")


@record
class KernelSettings:
    """What a kernel of ours needs to resolve its environment; stored in kernel.json."""

    parcel: str | None = None
    parcels_root: str | None = None
    hadoop_home: str | None = None
    hadoop_conf_dir: str | None = None
    java_home: str | None = None
    tracking_uri: str | None = None
    tracking_auth: str | None = None
    tracking_spn: str | None = None
    hdfs_client: str | None = None
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


# --- validation (pure) ----------------------------------------------------------------


def quoted(value: str, limit: int = 80) -> str:
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
        raise KernelNameError(f"invalid kernel name {quoted(text)}: {why}", fix)
    return name.lower()


def parse_env_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings (``--env``) into a dict, refusing secrets and bad keys."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            shown = key if ENV_KEY_RE.fullmatch(key) and not is_secret_name(key) else "KEY"
            raise KernelSpecError(
                f"--env {quoted(redact(pair))} is not NAME=VALUE",
                f"write it as --env {shown}=VALUE",
            )
        if not ENV_KEY_RE.fullmatch(key):
            raise KernelSpecError(
                f"--env {quoted(key)}: not a valid variable name",
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
                    f"{option} {quoted(value)} looks like it carries a secret, which would "
                    "be written into kernel.json",
                    f"pass {option} without it; {CREDENTIALS_FIX}",
                )
    if display_name is not None and _carries_secret(display_name):
        raise SecretError(
            f"--display-name {quoted(display_name)} looks like it carries a secret",
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
        if v.name == "LD_LIBRARY_PATH" and environment.java is not None:
            out[v.name] = str(environment.java.install.server_dir)
        else:
            out[v.name] = v.value
    return out


def fingerprint(values: Mapping[str, str]) -> str:
    blob = json.dumps(sorted(values.items()), separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def default_display_name(mode: Mode, environment: Environment | None) -> str:
    py = f"Python {sys.version_info.major}.{sys.version_info.minor}"
    hadoop = environment.hadoop if environment is not None else None
    if mode == "static" and hadoop is not None and hadoop.parcel is not None:
        p = hadoop.parcel
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
        hadoop = environment.hadoop
        parcel = hadoop.parcel if hadoop else None
        if parcel:
            baked_hadoop = f"{parcel.name} {parcel.version}"
        else:
            baked_hadoop = (
                str(hadoop.root)
                if hadoop
                else "none (not needed: hdfs-native)"
                if environment.native_only
                else "none (not needed: proxied artifacts)"
            )
        ours.update(
            baked_at=when,
            baked=sorted(baked),
            omitted=list(STATIC_OMITTED),
            fingerprint=fingerprint(baked),
            hadoop=baked_hadoop,
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


# --- where a kernel goes, and who may read it (pure) ----------------------------------


@record
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


def kernel_path(kernels: Path, name: str) -> Path:
    """``kernels / name``, checked to be a direct child of ``kernels`` (never itself or above)."""
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise KernelNameError(f"invalid kernel name {quoted(name)}", "use a kernel name")
    if not kernels.is_absolute() or ".." in kernels.parts:
        raise KernelSpecError(
            f"the kernels folder {kernels} is not an absolute, normalised path",
            "pass an absolute --prefix",
        )
    path = kernels / name
    if path.parent != kernels or path.name != name:
        raise KernelNameError(f"invalid kernel name {quoted(name)}", "use a kernel name")
    return path


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


# --- reading an existing kernel.json (no writes) --------------------------------------


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


# --- the environment a kernel would get (no writes) ----------------------------------


def resolve(
    settings: KernelSettings, extra_env: Mapping[str, str], env: Mapping[str, str] | None = None
) -> Environment:
    """The environment for these settings, as the kernel would see it at start."""
    base = {**(os.environ if env is None else env), **extra_env}
    return build_environment(
        base,
        settings.overrides(),
        exact_classpath=settings.exact_classpath,
        ask_server=True,  # no Hadoop is fine when the server stores the artifacts (H4)
        experiment=settings.experiment,
    )
