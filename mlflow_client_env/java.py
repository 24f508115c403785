"""Java discovery: which JVM libhdfs will embed, found without starting one.

pyarrow dlopens ``libjvm.so`` under ``JAVA_HOME`` before it loads libhdfs, so
JAVA_HOME must be a root under which ``libjvm.so`` really exists. Three layouts
are in the wild (catalog F1): JDK 8 (``jre/lib/amd64/server``), JRE 8
(``lib/amd64/server``) and Java 9+ (``lib/server``). Hadoop up to 3.4 does not
run on Java 24 and later (``getSubject is not supported``), so when a host has
several JVMs we prefer one Hadoop can use, and say why.

A JDK installed with conda (conda-forge's ``openjdk``, or Anaconda's copy of its recipe)
lives in ``$PREFIX/lib/jvm`` (``lib/server/libjvm.so`` under it), and only the env's
activation script (``etc/conda/activate.d``) exports ``JAVA_HOME=$CONDA_PREFIX/lib/jvm``.
A Jupyter kernel started from the env's Python without activation has neither JAVA_HOME
nor CONDA_PREFIX (catalog G4), so discovery also looks in the conda env the running
Python belongs to.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .errors import JavaNotFoundError, setting
from .findings import Finding
from .pathlist import which
from .records import record

TYPE_CHECKING = False  # typing is not imported at run time (import cost; mypy honours this)
if TYPE_CHECKING:
    from typing import Literal

    Layout = Literal["jdk8", "jre8", "jdk9+"]

#: First Java major version that Hadoop (<= 3.4) cannot run on.
HADOOP_MAX_JAVA_EXCLUSIVE = 24

DEFAULT_JAVA_ROOTS: tuple[str, ...] = ("/usr/java", "/usr/lib/jvm")


def _arch_dir() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "aarch64", "ppc64le": "ppc64le"}.get(machine, machine)


def _layouts() -> tuple[tuple[Layout, str], ...]:
    arch = _arch_dir()
    return (
        ("jdk9+", "lib/server/libjvm.so"),
        ("jdk8", f"jre/lib/{arch}/server/libjvm.so"),
        ("jre8", f"lib/{arch}/server/libjvm.so"),
    )


@record
class JavaInstall:
    """A Java root under which ``libjvm.so`` exists."""

    home: Path
    layout: Layout
    libjvm: Path
    version: str | None
    major: int | None
    source: str
    evidence: tuple[str, ...] = ()

    @property
    def bin_dir(self) -> Path:
        return self.home / "bin"

    @property
    def server_dir(self) -> Path:
        return self.libjvm.parent

    @property
    def hadoop_compatible(self) -> bool:
        """False for Java 24+, where Hadoop's UGI fails with ``getSubject is not supported``."""
        return self.major is None or self.major < HADOOP_MAX_JAVA_EXCLUSIVE


@record
class JavaChoice:
    """The chosen Java, why it was chosen, and what was passed over.

    ``findings``: made here, where the choice is made, and shown as they are by every front
    end (``compose`` adds them to the environment's findings, the doctor's java check
    reports them): ``java.home-passed-over`` when the user's JAVA_HOME was not used, and
    ``java.conda-needs-activation`` when the Java is in a conda env that this Python is not
    from (found only because that env is activated here)."""

    install: JavaInstall
    reason: str
    warnings: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()


def parse_java_version(text: str) -> tuple[str, int] | None:
    """``"1.8.0_292"`` -> ("1.8.0_292", 8); ``"17.0.15"`` -> ("17.0.15", 17)."""
    text = text.strip().strip('"')
    if not text:
        return None
    parts = text.replace("_", ".").replace("+", ".").replace("-", ".").split(".")
    try:
        first = int(parts[0])
        major = int(parts[1]) if first == 1 and len(parts) > 1 else first
    except ValueError:
        return None
    return text, major


def read_release_version(home: Path) -> str | None:
    """``JAVA_VERSION`` from ``<home>/release`` (or ``<home>/../release`` for a JDK 8 ``jre``)."""
    for release in (home / "release", home.parent / "release"):
        try:
            lines = release.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, value = line.partition("=")
            if key.strip() == "JAVA_VERSION":
                return value.strip().strip('"')
    return None


def normalise_java_home(path: str | os.PathLike[str]) -> Path:
    """Strip what users put after the root: ``.../bin/java``, ``.../bin``, ``.../jre``."""
    p = Path(path)
    if p.name == "java" and p.parent.name == "bin":
        p = p.parent.parent
    elif p.name == "bin":
        p = p.parent
    if p.name == "jre" and (p.parent / "bin").is_dir():
        p = p.parent
    return p


def inspect_java_home(path: str | os.PathLike[str], source: str) -> JavaInstall | None:
    """Classify a Java root by where ``libjvm.so`` is, or None if there is none."""
    raw = Path(path)
    home = normalise_java_home(raw)
    evidence = [f"{source}: {raw}"]
    if home != raw:
        evidence.append(f"normalised to the Java root {home}")
    for layout, rel in _layouts():
        libjvm = home / rel
        if libjvm.is_file():
            evidence.append(f"libjvm.so at {libjvm} ({layout} layout)")
            raw_version = read_release_version(home)
            parsed = parse_java_version(raw_version) if raw_version else None
            if parsed:
                evidence.append(f"JAVA_VERSION={parsed[0]} from the release file")
            return JavaInstall(
                home=home,
                layout=layout,
                libjvm=libjvm,
                version=parsed[0] if parsed else None,
                major=parsed[1] if parsed else None,
                source=source,
                evidence=tuple(evidence),
            )
    return None


def python_prefixes() -> tuple[Path, ...]:
    """The running Python's prefixes: ``sys.prefix`` and, for a venv, the one it was made from.

    setup(), the kernel launcher and the CLI run in the Python whose pyarrow loads the JVM,
    so its conda env is the one whose JDK a kernel of this Python should get."""
    out: list[Path] = []
    for p in map(Path, (sys.prefix, sys.base_prefix)):
        if p not in out:
            out.append(p)
    return tuple(out)


def conda_env_of(home: Path) -> Path | None:
    """The conda env (a prefix holding ``conda-meta/``) that a Java root belongs to, if any.

    Today's openjdk packages put the JDK in ``$PREFIX/lib/jvm``; older ones (Java 8 and 11
    builds, whose activation set ``JAVA_HOME=$CONDA_PREFIX``) put it in the prefix itself.
    Only these two places are checked: a JDK somewhere below an env (e.g. in conda's
    ``pkgs/`` cache) is not that env's."""
    candidates = [home]
    if home.parts[-2:] == ("lib", "jvm"):
        candidates.insert(0, home.parent.parent)
    return next((c for c in candidates if (c / "conda-meta").is_dir()), None)


def conda_candidates(
    env: Mapping[str, str], prefixes: Sequence[Path] | None = None
) -> list[tuple[Path, str]]:
    """Java roots in conda envs: the active env (CONDA_PREFIX), then this Python's own env.

    Each env contributes ``lib/jvm`` and the prefix itself (the older layout); a prefix
    without a JDK simply yields nothing when inspected. This Python's prefix counts only
    when it is a conda env (``conda-meta/``): a plain venv's ``lib`` is not a JDK."""
    envs: list[tuple[Path, str]] = []
    active = env.get("CONDA_PREFIX")
    if active:
        envs.append((Path(active), f"the active conda env (CONDA_PREFIX={active})"))
    for prefix in python_prefixes() if prefixes is None else prefixes:
        if (prefix / "conda-meta").is_dir():
            envs.append((prefix, f"the conda env this Python runs from ({prefix})"))
    out: list[tuple[Path, str]] = []
    seen: set[str] = set()
    for prefix, label in envs:
        key = os.path.realpath(prefix)
        if key not in seen:
            seen.add(key)
            out += [(prefix / "lib" / "jvm", label), (prefix, label)]
    return out


def java_candidates(
    env: Mapping[str, str],
    roots: Sequence[str | os.PathLike[str]] = DEFAULT_JAVA_ROOTS,
    prefixes: Sequence[Path] | None = None,
) -> list[tuple[Path, str]]:
    """Where to look, in order: JAVA_HOME, conda envs, ``java`` on PATH, well-known roots.

    The conda envs (``conda_candidates``; ``prefixes``: the running Python's, by default)
    come after JAVA_HOME, which the user (or the env's own activation) set on purpose, and
    before ``java`` on PATH and the system roots: a JDK installed into the env is as
    deliberate a choice as the env's Python, while the java on PATH is a system default
    unless the env is active (and then it is the same JDK, reached through
    ``$CONDA_PREFIX/bin/java``). This order gives a kernel started without activation the
    Java that activation would have exported.
    """
    out: list[tuple[Path, str]] = []
    if env.get("JAVA_HOME"):
        out.append((Path(env["JAVA_HOME"]), "JAVA_HOME"))
    out += conda_candidates(env, prefixes)
    java = which("java", env.get("PATH", ""))
    if java:
        out.append((Path(os.path.realpath(java)), f"java on PATH ({java})"))
    for root in map(Path, roots):
        try:
            children = sorted(root.iterdir())
        except OSError:
            continue
        preferred = [root / n for n in ("latest", "default", "default-java")]
        for child in preferred + [c for c in children if c not in preferred]:
            if child.is_dir():
                out.append((child, f"found in {root}"))
    return out


def _unique(installs: Iterable[JavaInstall]) -> list[JavaInstall]:
    seen: set[str] = set()
    out = []
    for inst in installs:
        key = os.path.realpath(inst.libjvm)
        if key not in seen:
            seen.add(key)
            out.append(inst)
    return out


def find_java_installs(
    env: Mapping[str, str],
    roots: Sequence[str | os.PathLike[str]] = DEFAULT_JAVA_ROOTS,
    prefixes: Sequence[Path] | None = None,
) -> list[JavaInstall]:
    """Every usable Java root, in preference order, duplicates (same libjvm) removed."""
    found = (inspect_java_home(p, src) for p, src in java_candidates(env, roots, prefixes))
    return _unique(i for i in found if i is not None)


def _incompatible(inst: JavaInstall) -> str:
    return (
        f"{inst.home} is Java {inst.major}; Hadoop up to 3.4 fails on Java "
        f"{HADOOP_MAX_JAVA_EXCLUSIVE}+ with 'getSubject is not supported'"
    )


def _home_passed_over(value: str, inst: JavaInstall | None, chosen: JavaInstall) -> Finding:
    """The user's JAVA_HOME (``inst``: what it holds, None without a libjvm.so) was not used."""
    if inst is None:
        version = read_release_version(normalise_java_home(value))
        why = (
            "has no libjvm.so under it "
            + (f"(Java {version} by its release file)" if version else "(and no release file)")
            + ", so pyarrow cannot load a JVM from it"
        )
        evidence: tuple[str, ...] = ()
    else:
        why = (
            f"is Java {inst.version or inst.major}, which Hadoop up to 3.4 cannot run on "
            "('getSubject is not supported' when libhdfs starts)"
        )
        evidence = inst.evidence
    return Finding(
        "java.home-passed-over",
        "warn",
        f"JAVA_HOME={value} {why}; using Java {chosen.version or '?'} at {chosen.home} instead",
        (*evidence, *chosen.evidence),
        f"point JAVA_HOME at {chosen.home} (or unset it), or choose the Java with "
        + setting("java_home"),
    )


def _needs_activation(chosen: JavaInstall, prefixes: Sequence[Path]) -> Finding | None:
    """``java.conda-needs-activation``: the Java is in a conda env this Python is not from.

    Then it was found only through what activating that env sets (JAVA_HOME, CONDA_PREFIX,
    its ``bin`` on PATH). A Jupyter kernel or a job of this Python started without that
    activation (catalog G4) would not get it; a kernel of a Python inside the env would,
    through ``conda_candidates``, so that case is not reported."""
    env_prefix = conda_env_of(chosen.home)
    if env_prefix is None:
        return None
    if os.path.realpath(env_prefix) in {os.path.realpath(p) for p in prefixes}:
        return None
    python = prefixes[0] if prefixes else Path(sys.prefix)
    return Finding(
        "java.conda-needs-activation",
        "warn",
        f"Java {chosen.version or '?'} at {chosen.home} belongs to the conda env {env_prefix} "
        f"and was found through {chosen.source}, which activating that env sets; this Python "
        f"runs from {python}, so a Jupyter kernel or job of it started without activating "
        f"{env_prefix} will not find this Java",
        chosen.evidence,
        f"choose it explicitly with {setting('java_home')} ({chosen.home}); for a kernel, "
        f"install it with 'mlflow-client-env install-kernel --java-home {chosen.home}'; or "
        "install openjdk into the environment this Python runs from",
    )


def select_java(
    java_home: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    roots: Sequence[str | os.PathLike[str]] = DEFAULT_JAVA_ROOTS,
    source: str | None = None,
    prefixes: Sequence[Path] | None = None,
) -> JavaChoice:
    """Pick the JVM for libhdfs.

    An explicit ``java_home`` is used as given (with a warning when Hadoop cannot
    run on it). Otherwise the first Hadoop-compatible install wins, and any
    earlier incompatible one (typically a system default Java 25) is reported; a
    JAVA_HOME that is not used (Java 24+, or no libjvm.so) is a ``java.home-passed-over``
    finding. ``source`` names where ``java_home`` came from (default: the caller's argument).
    ``prefixes``: the running Python's prefixes (``python_prefixes()``), whose conda env is
    searched and against which ``java.conda-needs-activation`` is judged.
    """
    env = os.environ if env is None else env
    prefixes = python_prefixes() if prefixes is None else tuple(prefixes)
    source = source or setting("java_home")
    if java_home is not None:
        inst = inspect_java_home(java_home, source)
        if inst is None:
            layouts = ", ".join(rel for _, rel in _layouts())
            raise JavaNotFoundError(
                f"{source}: {java_home} has no libjvm.so under it (looked for {layouts})",
                "point it at a JDK or JRE root, e.g. /usr/lib/jvm/java-17-openjdk-amd64 "
                "(install one with 'apt-get install openjdk-17-jdk-headless')",
            )
        warnings = () if inst.hadoop_compatible else (_incompatible(inst),)
        return JavaChoice(inst, f"given explicitly ({source})", warnings)
    installs = find_java_installs(env, roots, prefixes)
    if not installs:
        raise JavaNotFoundError(
            "no Java with a libjvm.so found (checked JAVA_HOME, conda envs, java on PATH, "
            + ", ".join(map(str, roots))
            + ")",
            "install a JDK (e.g. 'apt-get install openjdk-17-jdk-headless'), or choose one "
            f"with {setting('java_home')} (or JAVA_HOME)",
        )
    compatible = [i for i in installs if i.hadoop_compatible]
    chosen = compatible[0] if compatible else installs[0]
    home = env.get("JAVA_HOME")
    findings: tuple[Finding, ...] = ()
    missing: tuple[str, ...] = ()  # a JAVA_HOME without libjvm.so is not among the installs
    if home and chosen.source != "JAVA_HOME":  # JAVA_HOME is the first candidate
        inst = installs[0] if installs[0].source == "JAVA_HOME" else None
        findings = (_home_passed_over(home, inst, chosen),)
        missing = () if inst else (f"JAVA_HOME={home} has no libjvm.so",)
    activation = _needs_activation(chosen, prefixes)
    findings += (activation,) if activation else ()
    if not compatible:
        return JavaChoice(
            chosen,
            f"first Java found ({chosen.source})" + "".join(f"; passed over: {m}" for m in missing),
            (_incompatible(chosen) + "; install Java 8, 11 or 17",),
            findings=findings,
        )
    passed = tuple(_incompatible(i) for i in installs[: installs.index(chosen)])
    reason = f"{chosen.source}"
    if passed or missing:
        over = "; ".join((*missing, *passed))
        reason += f" (the first Hadoop-compatible Java; passed over: {over})"
    return JavaChoice(chosen, reason, (), passed, findings)
