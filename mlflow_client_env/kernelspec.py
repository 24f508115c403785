"""Jupyter kernel specs that carry the MLflow/Hadoop environment: build, install, list, remove.

Why: a kernel inherits the Jupyter server's environment, not the user's
``.bashrc`` (catalog G1), and LD_LIBRARY_PATH is read only at process start
(E2), so the environment has to be in place *before* the kernel process
starts. Two ways to get it there:

* ``launcher`` (default): ``kernel.json`` runs ``python -m mlflow_client_env.kernel``,
  which resolves the environment at every start and then execs ipykernel, so a
  parcel upgrade needs no reinstall (the envkernel two-phase idea);
* ``static``: absolute values baked into ``kernel.json`` ``env`` (no ``${VAR}``
  templates, G2), for frontends that cannot run the launcher; what was baked,
  and when, is recorded so ``list-kernels`` can tell stale from fresh.

The builders are pure; only ``install``/``uninstall``/``list_kernels`` touch disk.
Secrets never go into a kernel spec: the launcher reads them from the
environment at start instead.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from .environment import Environment
from .errors import MlflowClientEnvError, SecretError
from .redact import redact, url_has_password

Mode = Literal["launcher", "static"]
MODES: tuple[Mode, ...] = ("launcher", "static")

#: Key under kernel.json ``metadata`` that marks a kernel as written by us.
METADATA_KEY = "mlflow_client_env"
#: The module the launcher argv runs.
LAUNCHER_MODULE = "mlflow_client_env.kernel"

NAME_RE = re.compile(r"^[a-z0-9._-]+$")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Never written into a kernel spec; export them where the Jupyter server runs instead.
SECRET_ENV_KEYS = frozenset({"MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD"})
#: Composed variables left out of a static spec: a baked PATH would freeze the
#: installer's PATH for every kernel start (G2); pyarrow does not need it.
STATIC_OMITTED = ("PATH",)
#: The discovery overrides (keys of ``build_environment``'s overrides).
OVERRIDE_KEYS = ("parcel", "parcels_root", "hadoop_home", "hadoop_conf_dir", "java_home")
#: Settings whose values are paths, made absolute at install time.
PATH_KEYS = (*OVERRIDE_KEYS, "keytab")

#: The top-level ``kernels/`` folder of a source checkout (logos, templates).
RESOURCES = Path(__file__).resolve().parent.parent / "kernels"


class KernelSpecError(MlflowClientEnvError):
    """A kernel cannot be installed, found or removed as asked."""


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
        d: dict[str, str | None] = {k: getattr(self, k) for k in OVERRIDE_KEYS}
        d["tracking_uri"] = self.tracking_uri
        return d

    def to_json(self) -> dict[str, str | bool]:
        """Only what was set, so metadata stays short and readable."""
        return {k: v for k, v in asdict(self).items() if v not in (None, False)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KernelSettings:
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {k: v for k, v in data.items() if k in known}
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


def validate_name(name: str) -> str:
    """A kernel name Jupyter accepts, checked before anything is written."""
    if NAME_RE.fullmatch(name):
        return name
    suggestion = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-") or "mlflow"
    raise KernelSpecError(
        f"invalid kernel name {name!r}: Jupyter kernel names use only a-z, 0-9, '.', '_' and '-'",
        f"use --name {suggestion}",
    )


def parse_env_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings (``--env``) into a dict, refusing secrets and bad keys."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise KernelSpecError(
                f"--env {pair!r} is not KEY=VALUE", f"write it as --env {pair or 'KEY'}=VALUE"
            )
        if not ENV_KEY_RE.fullmatch(key):
            raise KernelSpecError(
                f"--env {key!r}: not a valid variable name",
                "use letters, digits and '_', not starting with a digit",
            )
        out[key] = value
    check_no_secrets(extra_env=out)
    return out


def check_no_secrets(
    settings: KernelSettings | None = None, extra_env: Mapping[str, str] | None = None
) -> None:
    """Raise ``SecretError`` if a password or token would be written into a kernel spec."""
    if settings is not None and settings.tracking_uri and url_has_password(settings.tracking_uri):
        raise SecretError(
            f"the tracking URI {redact(settings.tracking_uri)} contains a password, "
            "and kernel.json is a plain file other users and backups can read",
            "pass the URI without user:password@ and export MLFLOW_TRACKING_USERNAME / "
            "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) where Jupyter runs; "
            "the kernel inherits them at start",
        )
    for key, value in (extra_env or {}).items():
        if key in SECRET_ENV_KEYS:
            raise SecretError(
                f"--env {key}=... would write a secret into kernel.json",
                f"drop --env {key}; export {key} in the environment Jupyter runs in "
                "and the kernel inherits it at start",
            )
        if url_has_password(value):
            raise SecretError(
                f"--env {key}={redact(value)} contains a password",
                "pass the URL without user:password@; export MLFLOW_TRACKING_USERNAME / "
                "MLFLOW_TRACKING_PASSWORD where Jupyter runs instead",
            )


def check_python(python: str) -> str:
    """An absolute interpreter path that exists and is executable."""
    found = shutil.which(python) if os.sep not in python else python
    if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise KernelSpecError(
            f"--python {python}: no such executable",
            "pass the full path of a Python interpreter, e.g. --python /opt/venv/bin/python",
        )
    return os.path.abspath(found)


def check_python_modules(python: str, modules: Sequence[str]) -> None:
    """The kernel's interpreter must import ``modules`` (checked once, at install)."""
    code = "import " + ", ".join(modules)
    proc = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise KernelSpecError(
            f"{python} cannot run the kernel: '{code}' failed: {last}",
            f"{python} -m pip install mlflow-client-env ipykernel"
            + (", or use --mode static" if LAUNCHER_MODULE in modules else ""),
        )


def check_keytab(keytab: str | None, principal: str | None = None) -> None:
    if bool(keytab) != bool(principal):
        raise KernelSpecError(
            "--keytab and --principal go together",
            "pass both, e.g. --keytab ~/alice.keytab --principal alice@EXAMPLE.COM",
        )
    if keytab is not None and not os.path.isfile(keytab):
        raise KernelSpecError(
            f"--keytab {keytab}: no such file", "pass the path of an existing keytab file"
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
    from . import __version__

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
        if self.prefix:
            return Path(self.prefix) / "share" / "jupyter" / "kernels"
        from jupyter_core.paths import jupyter_data_dir

        return Path(jupyter_data_dir()) / "kernels"


def read_spec(kernel_dir: Path) -> dict[str, Any] | None:
    """kernel.json of ``kernel_dir``, or None when missing or unreadable."""
    try:
        data = json.loads((kernel_dir / "kernel.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def ours_metadata(spec: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not spec:
        return None
    meta = spec.get("metadata")
    value = meta.get(METADATA_KEY) if isinstance(meta, dict) else None
    return value if isinstance(value, dict) else None


def resources_dir() -> Path | None:
    """Logos: ours from ``kernels/``, else ipykernel's, else none."""
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
    from .discovery import build_environment

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

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "mode": self.mode,
            "dry_run": self.dry_run,
            "replaced": self.replaced,
            "notes": self.notes,
            "kernel": self.spec,
        }


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

    Raises ``KernelSpecError``/``SecretError`` (with the fix) on bad input, and for
    static mode any discovery error (nothing to bake).
    """
    validate_name(name)
    if mode not in MODES:
        raise KernelSpecError(f"unknown mode {mode!r}", "use --mode launcher or --mode static")
    location = location or Location()
    settings = (settings or KernelSettings()).absolute()
    extra_env = dict(extra_env or {})
    check_no_secrets(settings, extra_env)
    check_keytab(settings.keytab, settings.principal)
    notes: list[str] = []
    if python is None:
        python = sys.executable
    else:
        python = check_python(python)
        if not dry_run:
            check_python_modules(
                python,
                ("ipykernel", LAUNCHER_MODULE) if mode == "launcher" else ("ipykernel",),
            )

    environment: Environment | None = None
    if mode == "static":
        environment = resolve(settings, extra_env, env)  # errors propagate: nothing to bake
        errors = [f for f in environment.findings if f.status == "error"]
        notes += [f"baked with an error: {f.summary}" for f in errors]
        if "MLFLOW_TRACKING_URI" in environment.as_dict():
            uri = environment["MLFLOW_TRACKING_URI"]
            if url_has_password(uri):
                raise SecretError(
                    f"the tracking URI from your environment ({redact(uri)}) contains a "
                    "password, and a static kernel would bake it into kernel.json",
                    "export MLFLOW_TRACKING_URI without user:password@ (credentials go in "
                    "MLFLOW_TRACKING_USERNAME/PASSWORD), or use --mode launcher",
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
    dest = location.kernels_dir() / name
    existing = read_spec(dest) if dest.exists() else None
    replaced = dest.exists()
    if replaced and ours_metadata(existing) is None and not force:
        raise KernelSpecError(
            f"a kernel named {name!r} already exists at {dest} and was not written by "
            "mlflow-client-env",
            f"choose another --name, or pass --force to replace it (or 'jupyter kernelspec "
            f"remove {name}' first)",
        )
    if not dry_run:
        _write(name, spec, location)
        notes += _shadow_notes(name, dest)
    return InstallResult(name, dest, mode, spec, dry_run, replaced, notes)


def _write(name: str, spec: Mapping[str, Any], location: Location) -> None:
    """Stage the kernel beside the kernels folder, then swap it in with renames.

    jupyter_client's ``install_kernel_spec`` deletes the old folder and then
    copies, so an interrupted install leaves a half-written kernel. Staging on
    the same filesystem (outside Jupyter's search path) and renaming means the
    kernel folder is always either the old one or the complete new one.
    """
    kernels = location.kernels_dir()
    kernels.mkdir(parents=True, exist_ok=True)
    dest = kernels / name
    stage = Path(tempfile.mkdtemp(prefix=f".{name}-staging-", dir=kernels.parent))
    old: Path | None = None
    try:
        res = resources_dir()
        if res is not None:
            for logo in sorted(res.glob("logo-*")):
                shutil.copyfile(logo, stage / logo.name)
        with open(stage / "kernel.json", "w", encoding="utf-8") as fh:
            fh.write(json.dumps(spec, indent=1) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        stage.chmod(0o755)
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}-old-", dir=kernels.parent))
            os.rmdir(old)
            os.rename(dest, old)
        try:
            os.rename(stage, dest)
        except OSError:
            if old is not None:
                os.rename(old, dest)
                old = None
            raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _shadow_notes(name: str, dest: Path) -> list[str]:
    """Warn when Jupyter will not find the kernel just installed, or finds another first."""
    from jupyter_client.kernelspec import KernelSpecManager

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
    """Every folder Jupyter searches for kernels (highest priority first), plus ``extra``."""
    from jupyter_client.kernelspec import KernelSpecManager

    dirs = [Path(d) for d in KernelSpecManager().kernel_dirs]
    for e in extra:
        p = Path(e)
        dirs.append(p if p.name == "kernels" else p / "share" / "jupyter" / "kernels")
    seen: set[Path] = set()
    out = []
    for d in dirs:
        key = d.resolve() if d.exists() else d
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def find_installed(name: str, extra_dirs: Sequence[str | os.PathLike[str]] = ()) -> list[Path]:
    """Every installed kernel folder named ``name``, wherever it is (not only the first)."""
    return [d / name for d in kernel_dirs(extra_dirs) if (d / name / "kernel.json").is_file()]


def uninstall(
    name: str,
    *,
    force: bool = False,
    dry_run: bool = False,
    extra_dirs: Sequence[str | os.PathLike[str]] = (),
) -> list[Path]:
    """Remove every kernel named ``name``; refuse a kernel we did not write unless ``force``."""
    validate_name(name)
    found = find_installed(name, extra_dirs)
    if not found:
        raise KernelSpecError(
            f"no kernel named {name!r} in {', '.join(str(d) for d in kernel_dirs(extra_dirs))}",
            "see 'mlflow-client-env list-kernels' for the names; for a --prefix install, "
            "pass the same --prefix",
        )
    foreign = [p for p in found if ours_metadata(read_spec(p)) is None]
    if foreign and not force:
        raise KernelSpecError(
            f"the kernel at {foreign[0]} was not written by mlflow-client-env",
            f"pass --force to remove it anyway, or 'jupyter kernelspec remove {name}'",
        )
    if not dry_run:
        for p in found:
            shutil.rmtree(p)
    return found


# --- listing --------------------------------------------------------------------------

Status = Literal["ok", "error", "fresh", "stale", "broken", "unknown"]


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


def check_kernel(
    name: str, path: Path, spec: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> KernelEntry:
    """Does this kernel's environment still resolve, and (static) are its baked values current?"""
    entry = KernelEntry(name, path, str(spec.get("display_name", name)), False)
    meta = ours_metadata(spec)
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
        entry.baked_at = meta.get("baked_at")
        now = static_env(environment)
        baked = {k: str(spec_env.get(k)) for k in meta.get("baked", [])}
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
    """Every kernel Jupyter finds (plus those under ``extra_dirs``), ours checked."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = {n: Path(p) for n, p in KernelSpecManager().find_kernel_specs().items()}
    for d in kernel_dirs(extra_dirs):
        if d.is_dir():
            for sub in sorted(d.iterdir()):
                if (sub / "kernel.json").is_file() and NAME_RE.fullmatch(sub.name):
                    specs.setdefault(sub.name, sub)
    out = []
    for name in sorted(specs):
        spec = read_spec(specs[name])
        if spec is None:
            out.append(KernelEntry(name, specs[name], name, False, detail="unreadable kernel.json"))
        else:
            out.append(check_kernel(name, specs[name], spec, env))
    return out
