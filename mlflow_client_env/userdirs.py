"""Where this user's files go: the cache, the private runtime folder, the lock folder.

One module decides, so every writer follows the same rules: never a predictable path in a
world-writable folder (platformdirs' fallback ``/tmp/runtime-UID`` is not used), and a
folder we write into is a real folder of this user's, mode 0700. A symlink, another
user's folder, or one others can write to is a :class:`PrivateDirError`.
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Mapping
from pathlib import Path

from .errors import PrivateDirError

APP_NAME = "mlflow-client-env"


def _dir_problem(path: Path, uid: int, forbidden: int) -> str | None:
    """Why ``path`` is not a private directory of ``uid`` (None: it is).

    ``forbidden``: mode bits that must be clear (0o077 for a runtime dir, 0o022 to only
    refuse a dir others can write to)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be inspected ({exc.strerror})"
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "is not a directory"
    if st.st_uid != uid:
        return f"belongs to uid {st.st_uid}, not to uid {uid}"
    if st.st_mode & forbidden:
        return f"can be reached by other users (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The user's cache folder: ``$MLFLOW_CLIENT_ENV_CACHE``, else the XDG cache home
    (``$XDG_CACHE_HOME``, else ``~/.cache``) ``/mlflow-client-env``, as platformdirs says on
    Linux, but read from ``env`` so a kernel's or a test's environment decides."""
    env = os.environ if env is None else env
    if env.get("MLFLOW_CLIENT_ENV_CACHE"):
        return Path(env["MLFLOW_CLIENT_ENV_CACHE"])
    if env.get("XDG_CACHE_HOME") and Path(env["XDG_CACHE_HOME"]).is_absolute():
        return Path(env["XDG_CACHE_HOME"]) / APP_NAME
    home = env.get("HOME") or pwd.getpwuid(os.geteuid()).pw_dir
    return Path(home) / ".cache" / APP_NAME


#: How to get out of a folder problem, for folders under the runtime dir or the cache.
RUNTIME_FIX = "set XDG_RUNTIME_DIR to a folder of yours with mode 0700"
CACHE_FIX = "set MLFLOW_CLIENT_ENV_CACHE to a folder of yours with mode 0700"


def ensure_private_dir(path: Path, *, create: bool, fix: str = RUNTIME_FIX) -> Path:
    """``path`` as a directory of this user, mode 0700 (made, with its parents, when ``create``).

    Refuses (``PrivateDirError``) a symlink, a non-directory, another user's
    directory, or one that others can write to; tightens a directory of ours that
    others can only read. Without ``create`` a missing directory is fine (nothing
    is written). ``fix`` names the way out that fits the caller's folder.
    """
    uid = os.geteuid()
    if create:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise PrivateDirError(
                f"cannot create the private folder {path}: {exc.strerror}",
                f"make its parent writable, or {fix}",
            ) from None
    why = _dir_problem(path, uid, 0o022)
    if why == "does not exist" and not create:
        return path
    if why is not None:
        raise PrivateDirError(
            f"{path} {why}; tickets, locks and caches are kept only in a folder private to you",
            f"remove {path} (if it is not yours, ask an admin: it may be an attack), or {fix}",
        )
    if create and os.lstat(path).st_mode & 0o077:
        os.chmod(path, 0o700)  # ours, readable by others (an older version): tighten
    return path


def private_base(env: Mapping[str, str] | None = None, *, create: bool = False) -> Path:
    """The user's runtime directory when it is private (``$XDG_RUNTIME_DIR``, else
    ``/run/user/UID``: owned by the user, mode 0700), else ``<cache>/run`` (0700).

    Never a predictable path in a world-writable directory (platformdirs' fallback
    ``/tmp/runtime-UID`` is deliberately not used).
    """
    env = os.environ if env is None else env
    uid = os.geteuid()
    candidates = [env.get("XDG_RUNTIME_DIR", ""), f"/run/user/{uid}"]
    for c in candidates:
        if c and Path(c).is_absolute() and _dir_problem(Path(c), uid, 0o077) is None:
            return Path(c)
    return ensure_private_dir(cache_dir(env) / "run", create=create)


def private_dir(env: Mapping[str, str] | None = None, *, create: bool = False) -> Path:
    """``<private_base>/mlflow-client-env`` (0700): locks and temporary caches."""
    return ensure_private_dir(private_base(env, create=create) / APP_NAME, create=create)


def private_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """:func:`cache_dir`, made if missing and checked to be a private folder of this user's:
    what is cached there (a CLASSPATH) is trusted, so nobody else may write it."""
    return ensure_private_dir(cache_dir(env), create=True, fix=CACHE_FIX)


def lock_dir(env: Mapping[str, str] | None = None) -> Path:
    """``<cache>/locks`` (0700, made on demand): every lock of ours (ticket caches, kernels).
    Every process of this user finds it at the same path, whatever its runtime folder."""
    return ensure_private_dir(private_cache_dir(env) / "locks", create=True, fix=CACHE_FIX)
