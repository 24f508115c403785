"""Which ``kinit`` a shell runs, which Kerberos library it loads, and which cache it resolves.

Catalog D4: a ``kinit`` ahead of the system's on PATH (conda's ``krb5`` package, a Heimdal
build, a private MIT build) brings its own libkrb5. It may not know the KEYRING or KCM cache
types the system uses by default, nor the site's krb5.conf defaults, and a ticket it writes
may land in a cache nothing else reads. Nothing here is loaded or guessed:

- the ELF file of the ``kinit`` on PATH is read (``native.elf``): its NEEDED entry
  says which implementation it is (MIT's ``libkrb5.so.3``, Heimdal's ``libkrb5.so.26``),
  and the loader model (``native.loader``: RPATH/RUNPATH with ``$ORIGIN``,
  LD_LIBRARY_PATH, ``ld.so.cache``) says which libkrb5 file it would load;
- the ``klist`` beside it is run (bounded, no stdin) to show which cache that library
  resolves in this environment, or the error it gives resolving it ("unknown ccache type").

``kinit_findings(env, system_ccache)`` turns that into doctor findings; the doctor's
Kerberos check calls it with the cache libkrb5 itself would use.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from ..findings import Finding
from ..records import record
from .native.elf import ElfInfo, ElfProblem, read_elf
from .native.loader import DEFAULT_LIB_DIRS, resolve_needed
from .native.shadowing import same_file

Implementation = Literal["MIT", "Heimdal", "unknown"]

#: Where a distribution installs its kinit (Debian, RHEL; /bin is /usr/bin on merged systems).
SYSTEM_BIN_DIRS = (Path("/usr/bin"), Path("/bin"))
#: NEEDED soname -> implementation.
LIBKRB5_SONAMES: dict[str, Implementation] = {"libkrb5.so.3": "MIT", "libkrb5.so.26": "Heimdal"}
#: What a kinit/klist says when its library cannot resolve a cache name (MIT, Heimdal).
CACHE_TYPE_ERROR = re.compile(
    r"Unknown credential cache type|unknown ccache type|Credential cache function not supported"
)
KLIST_TIMEOUT = 10.0
D4_FIX = (
    "run /usr/bin/kinit (or put /usr/bin before {dir} on PATH), or remove that Kerberos "
    "package from the environment (conda: conda remove krb5); keep FILE caches"
)


@record
class KinitInfo:
    """One ``kinit`` executable and the Kerberos library it would load."""

    path: Path  # as found on PATH
    real: Path  # symlinks resolved
    implementation: Implementation
    libkrb5: Path | None  # the file ld.so would load for its libkrb5 soname
    system_libkrb5: Path | None  # what the same soname resolves to for the system
    evidence: tuple[str, ...]

    @property
    def in_system_dir(self) -> bool:
        return any(_same_dir(self.real.parent, d) for d in SYSTEM_BIN_DIRS)

    @property
    def system(self) -> bool:
        """The distribution's MIT kinit, loading the system's libkrb5."""
        return (
            self.in_system_dir
            and self.implementation == "MIT"
            and self.libkrb5 is not None
            and self.system_libkrb5 is not None
            and same_file(self.libkrb5, self.system_libkrb5)
        )


@record
class CacheView:
    """What ``klist`` beside a kinit says about the default cache in an environment."""

    cache: str | None  # the cache name it resolved (None when it could not)
    text: str  # its first line of output, for the report
    unsupported: bool  # it cannot resolve the cache type at all (catalog D4)


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def find_kinit_on_path(env: Mapping[str, str] | None = None) -> Path | None:
    """The ``kinit`` a shell with ``env`` runs (its PATH), if any."""
    env = os.environ if env is None else env
    found = shutil.which("kinit", path=env.get("PATH", os.defpath))
    return Path(found) if found else None


def inspect_kinit(path: Path, env: Mapping[str, str] | None = None) -> KinitInfo:
    """Read ``path``'s ELF file and resolve its libkrb5 as ld.so would under ``env``."""
    env = os.environ if env is None else env
    real = Path(os.path.realpath(path))
    evidence = [f"kinit on PATH: {path}" + (f" -> {real}" if real != path else "")]
    elf = read_elf(real)
    if isinstance(elf, ElfProblem):
        evidence.append(f"not an ELF program we can read ({elf.kind}: {elf.detail})")
        return KinitInfo(path, real, "unknown", None, None, tuple(evidence))
    sonames = [n for n in elf.needed if n in LIBKRB5_SONAMES]
    if not sonames:
        evidence.append(f"NEEDED has no libkrb5 ({', '.join(elf.needed) or 'nothing'})")
        return KinitInfo(path, real, "unknown", None, None, tuple(evidence))
    soname = sonames[0]
    impl = LIBKRB5_SONAMES[soname]
    search = [*(f"RPATH {r}" for r in elf.rpath), *(f"RUNPATH {r}" for r in elf.runpath)]
    evidence.append(f"NEEDED {soname} ({impl})" + (f"; {', '.join(search)}" if search else ""))
    mine = _resolve(elf, soname, env.get("LD_LIBRARY_PATH"))
    system = _resolve_for_system(soname)
    evidence.append(f"loads {mine or f'no {soname} (not found)'}")
    if system is not None and (mine is None or not same_file(mine, system)):
        evidence.append(f"the system's {soname} is {system}")
    return KinitInfo(path, real, impl, mine, system, tuple(evidence))


def _resolve(elf: ElfInfo, soname: str, ld_library_path: str | None) -> Path | None:
    for r in resolve_needed(elf, ld_library_path):
        if r.soname == soname and r.found:
            return r.path
    return None


def _resolve_for_system(soname: str) -> Path | None:
    """The file ld.so gives the system's own kinit for ``soname`` (no LD_LIBRARY_PATH)."""
    for d in SYSTEM_BIN_DIRS:
        elf = read_elf(d / "kinit")
        if isinstance(elf, ElfInfo) and soname in elf.needed:
            return _resolve(elf, soname, None)

    for d in DEFAULT_LIB_DIRS:  # no system kinit: the soname's file in the system dirs
        if (d / soname).exists():
            return d / soname
    return None


_CACHE_LINE = re.compile(
    r"^(?:Ticket cache|Credentials cache):\s*(?P<name>\S+)"  # MIT, Heimdal
    r"|\((?:filename|ticket cache):\s*(?P<missing>[^)]+)\)"  # MIT: No credentials cache found
    r"|No ticket file:\s*(?P<heimdal_missing>\S+)",  # Heimdal
    re.MULTILINE,
)


def cache_view(kinit: Path, env: Mapping[str, str]) -> CacheView | None:
    """Run the ``klist`` beside ``kinit`` in ``env``: the cache it resolves, or its error.

    None when there is no such klist (nothing is guessed). The run is bounded and reads no
    standard input.
    """
    klist = kinit.parent / "klist"
    if not os.access(klist, os.X_OK):
        return None
    try:
        proc = subprocess.run(
            [str(klist)],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=KLIST_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return CacheView(None, f"{klist} did not answer in {KLIST_TIMEOUT:.0f} s", False)
    except OSError as exc:
        return CacheView(None, f"{klist} cannot run: {exc.strerror}", False)
    out = "\n".join(part for part in (proc.stdout, proc.stderr) if part.strip())
    first = next((line.strip() for line in out.splitlines() if line.strip()), "")
    m = _CACHE_LINE.search(out)
    name = None
    if m:
        name = (m.group("name") or m.group("missing") or m.group("heimdal_missing") or "").strip()
    return CacheView(name or None, first, CACHE_TYPE_ERROR.search(out) is not None)


def _cache_type(name: str) -> str:
    head, sep, _ = name.partition(":")
    return head.upper() if sep and "/" not in head else "FILE"


def _normal(name: str) -> str:
    """``FILE:/p`` and ``/p`` name the same cache."""
    return name.split(":", 1)[1] if _cache_type(name) == "FILE" and ":" in name else name


def kinit_findings(
    env: Mapping[str, str] | None = None, system_ccache: str | None = None
) -> list[Finding]:
    """Doctor findings for the ``kinit`` on PATH (catalog D4).

    ``system_ccache``: the cache the system's libkrb5 uses in ``env`` (what Python reads),
    to compare with the one the kinit on PATH resolves.
    """
    env = os.environ if env is None else env
    path = find_kinit_on_path(env)
    if path is None:
        return [
            Finding(
                "kerberos.no-kinit",
                "warn",
                "no kinit on PATH",
                fix="install the MIT Kerberos tools (Debian: krb5-user, RHEL: krb5-workstation)",
            )
        ]
    info = inspect_kinit(path, env)
    if info.system:
        return [Finding("kerberos.kinit", "ok", f"kinit is the system's ({path})", info.evidence)]
    view = cache_view(path, env)
    evidence = list(info.evidence)
    if view is not None:
        evidence.append(f"{path.parent / 'klist'} says: {view.text}")
    what = {
        "Heimdal": "a Heimdal kinit",
        "MIT": "an MIT kinit that is not the system's",
        "unknown": "a kinit of unknown make",
    }[info.implementation]
    fix = D4_FIX.format(dir=path.parent)
    if view is not None and view.unsupported:
        return [
            Finding(
                "kerberos.kinit-foreign",
                "error",
                f"{what} comes first on PATH ({path}) and cannot resolve the default ticket "
                f"cache: {view.text} (catalog D4)",
                tuple(evidence),
                fix,
            )
        ]
    if (
        view is not None
        and view.cache
        and system_ccache
        and _normal(view.cache) != _normal(system_ccache)
    ):
        return [
            Finding(
                "kerberos.kinit-foreign",
                "warn",
                f"{what} comes first on PATH ({path}); it uses the cache {view.cache}, while "
                f"the system's libkrb5 (and Python) use {system_ccache} (catalog D4)",
                tuple(evidence),
                fix,
            )
        ]
    if info.implementation == "Heimdal" and system_ccache:
        kind = _cache_type(system_ccache)
        if kind in ("KEYRING", "KCM", "DIR"):
            return [
                Finding(
                    "kerberos.kinit-foreign",
                    "error",
                    f"{what} comes first on PATH ({path}); Heimdal cannot use the system's "
                    f"{kind} cache {system_ccache} (catalog D4)",
                    tuple(evidence),
                    fix,
                )
            ]
    if view is not None and view.cache:
        same = f"it resolves the same cache here ({view.cache})"
    else:
        same = "which cache it resolves could not be seen (no klist beside it)"
    return [
        Finding(
            "kerberos.kinit-foreign",
            "warn",
            f"{what} comes first on PATH ({path}); {same}, but it does not use the "
            "system's Kerberos library or its defaults (catalog D4)",
            tuple(evidence),
            fix,
        )
    ]
