"""``list-kernels``: every kernel Jupyter finds, ours checked (does a launcher kernel still
resolve? are a static kernel's baked values still current?). Reads, never writes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import MlflowClientEnvError
from ..redact import redact, redact_then_truncate
from .spec import (
    METADATA_KEY,
    NAME_RE,
    KernelSettings,
    SpecUnreadable,
    fingerprint,
    load_spec,
    ours_metadata,
    resolve,
    static_env,
)


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
