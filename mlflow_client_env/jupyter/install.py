"""Installing and removing kernels on disk: the side effects of ``install-kernel`` and
``uninstall-kernel`` (what goes into kernel.json is built in ``spec``, which writes nothing).

Safety on disk:

* names are Jupyter's (``spec.validate_name``), checked before anything is touched, and
  every removal goes through ``_check_removable``: only the real folder
  ``kernels / name``, never a link, never the kernels folder or above it;
* installs and removals of one kernel hold a per-user lock (``kernel_lock``:
  filelock, ``O_NOFOLLOW``, in ``<user cache>/locks``, 0700);
* a new kernel is staged in a private folder (``mkdtemp``, 0700; files
  ``O_EXCL|O_NOFOLLOW``, 0600) beside the kernels folder and renamed into place;
* a link at the kernel folder, its kernel.json or the lock file is a typed error
  (``UnsafePathError``), an OS error while writing is ``KernelWriteError``;
* kernel.json is 0600 in a 0700 folder when it holds anything of this user's
  (``spec.private_reasons``), else 0644 in 0755 so a shared install is usable by all.

The interpreter a kernel will run (``--python``) is checked once here, at install, by
running it (``check_python_modules``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..environment import Environment
from ..errors import (
    KernelSpecError,
    KernelWriteError,
    MlflowClientEnvError,
    SecretError,
    UnsafePathError,
)
from ..redact import is_secret_name, redact_then_truncate, url_has_credentials
from ..safeio import write_private_file
from ..userdirs import lock_dir
from .listing import kernel_dirs
from .spec import (
    CREDENTIALS_FIX,
    LAUNCHER_MODULE,
    MODES,
    KernelSettings,
    Location,
    Mode,
    SpecUnreadable,
    check_no_secrets,
    default_display_name,
    kernel_dict,
    kernel_path,
    load_spec,
    ours_metadata,
    private_reasons,
    quoted,
    resolve,
    validate_name,
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
#: Modes of a kernel that holds something of this user's (see ``private_reasons``).
PRIVATE_DIR_MODE, PRIVATE_FILE_MODE = 0o700, 0o600
SHARED_DIR_MODE, SHARED_FILE_MODE = 0o755, 0o644

#: The kernel logos, shipped in the wheel as package data.
RESOURCES = Path(__file__).resolve().parent / "resources"


# --- the interpreter and keytab a kernel will use (checked once, at install) ---------


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
            f"--python {quoted(python, 200)}: no such executable",
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
    # here, not at the top: login pulls ctypes and platform, which the CLI's --help would pay
    from ..kerberos.login import check_keytab, keytab_login_asked

    if keytab_login_asked(keytab, principal):
        assert keytab is not None
        check_keytab(keytab)


# --- install ----------------------------------------------------------------------------


def resources_dir() -> Path | None:
    """Logos: ours from ``jupyter/resources``, else ipykernel's, else none."""
    if (RESOURCES / "logo-64x64.png").is_file():
        return RESOURCES
    try:
        from ipykernel.kernelspec import RESOURCES as ipk
    except ImportError:  # pragma: no cover - ipykernel is a dependency
        return None
    return Path(ipk)


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
            f"{dest} is a symbolic link (to {quoted(os.readlink(dest), 200)}), not a kernel "
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
    """Write a new file: ``O_EXCL|O_NOFOLLOW`` (never an existing file or a link), 0600,
    synced (the folder is then renamed into place)."""
    write_private_file(path, data, sync=True)


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


# --- uninstall --------------------------------------------------------------------------


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
