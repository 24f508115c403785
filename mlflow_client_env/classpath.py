"""The CLASSPATH libhdfs hands to its embedded JVM, built and checked.

A JVM created through JNI does not expand ``dir/*`` (catalog B2), so every jar
is listed explicitly, in the order ``hadoop classpath --glob`` gives, with the
client conf dir first (B4). Listing folders in Python is ~100x cheaper than
starting Hadoop's JVM; where exact fidelity matters, ``exact_classpath`` runs
``hadoop classpath --glob`` once and caches the answer on disk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import MlflowClientEnvError
from .findings import Finding
from .hadoop import HadoopInstall

_JAR_RE = re.compile(r"^(?P<name>[A-Za-z][\w.\-]*?)-(?P<version>\d[\w.\-+]*)\.jar$")


def _jar_entries(directory: str | Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as it:
            entries = [e for e in it if e.name.lower().endswith(".jar")]
    except OSError:
        return []
    return sorted(entries, key=lambda e: e.name)


def jars_in(directory: Path) -> list[Path]:
    """The jars a ``directory/*`` classpath entry expands to, sorted by name."""
    return [directory / e.name for e in _jar_entries(directory)]


#: Per-folder listing memo, keyed by the folder's mtime: a jar added, removed or
#: re-linked changes the folder's mtime, so a warm build costs one stat a folder.
_LISTINGS: dict[str, tuple[int, tuple[tuple[str, str], ...]]] = {}


def _listing(d: str) -> tuple[tuple[str, str], ...]:
    """(path, identity) of each jar in ``d``; a link's identity is its target."""
    try:
        mtime = os.stat(d).st_mtime_ns
    except OSError:
        return ()
    hit = _LISTINGS.get(d)
    if hit and hit[0] == mtime:
        return hit[1]
    out = []
    for e in _jar_entries(d):
        key = e.path
        if e.is_symlink():
            key = os.path.normpath(os.path.join(d, os.readlink(key)))
        out.append((e.path, key))
    _LISTINGS[d] = (mtime, tuple(out))
    return _LISTINGS[d][1]


def list_jars(install: HadoopInstall) -> tuple[str, ...]:
    """Every jar of the installation's classpath folders, each file once.

    Parcels hold links such as ``hadoop-common.jar -> hadoop-common-<v>.jar``;
    a link counts as the file it points to (one ``readlink``, no full realpath).
    """
    seen: set[str] = set()
    out = []
    for d in map(str, install.jar_dirs):
        for path, key in _listing(d):
            if key not in seen:
                seen.add(key)
                out.append(path)
    return tuple(out)


def compose(conf_dir: Path | None, jars: Sequence[Path | str]) -> tuple[str, ...]:
    """Conf dir first, then the jars; order kept, duplicates dropped."""
    entries = ([str(conf_dir)] if conf_dir else []) + [str(j) for j in jars]
    return tuple(dict.fromkeys(entries))


def jar_identity(entry: str) -> tuple[str, str] | None:
    """(artifact, version) from a jar file name, following symlinks to the versioned name."""
    name = Path(os.path.realpath(entry)).name if os.path.islink(entry) else Path(entry).name
    m = _JAR_RE.match(name)
    if not m or m.group("version").endswith(("-tests", "-sources", "-javadoc")):
        return None
    return m.group("name"), m.group("version")


def lint(entries: Sequence[str], install: HadoopInstall | None = None) -> list[Finding]:
    """Problems with a CLASSPATH, each a Finding with its catalog reference and fix."""
    out: list[Finding] = []
    regen = "use the CLASSPATH from 'mlflow-client-env env' (or 'hadoop classpath --glob')"
    wild = [e for e in entries if e.endswith("*")]
    if wild:
        out.append(
            Finding(
                "classpath-wildcard",
                "error",
                f"{len(wild)} wildcard entr{'y' if len(wild) == 1 else 'ies'}: the JVM that libhdfs "
                "starts does not expand them (NoClassDefFoundError, catalog B2)",
                tuple(wild[:5]),
                regen,
            )
        )
    versions: dict[str, set[str]] = {}
    for e in entries:
        ident = jar_identity(e)
        if ident:
            versions.setdefault(ident[0], set()).add(ident[1])
    if "hadoop-common" not in versions:
        out.append(
            Finding(
                "classpath-no-hadoop-common",
                "error",
                "no hadoop-common jar: libhdfs cannot load org.apache.hadoop.fs.FileSystem (B1, B2)",
                (),
                regen,
            )
        )
    if not ({"hadoop-hdfs", "hadoop-hdfs-client", "hadoop-client-api"} & versions.keys()):
        out.append(
            Finding(
                "classpath-no-hdfs-client",
                "error",
                "no HDFS client jar (hadoop-hdfs-client or hadoop-hdfs): "
                "'No FileSystem for scheme: hdfs' (B7)",
                (),
                regen,
            )
        )
    for artifact in ("protobuf-java", "hadoop-common"):
        if len(versions.get(artifact, ())) > 1:
            out.append(
                Finding(
                    f"classpath-two-{artifact}",
                    "error",
                    f"{len(versions[artifact])} versions of {artifact}: "
                    + ", ".join(sorted(versions[artifact]))
                    + " (ClassCastException, catalog B6)",
                    tuple(e for e in entries if (jar_identity(e) or ("",))[0] == artifact),
                    regen,
                )
            )
    if "hadoop-client-api" in versions and "hadoop-common" in versions:
        out.append(
            Finding(
                "classpath-shaded-mix",
                "error",
                "the shaded hadoop-client-api is mixed with unshaded hadoop-common (B6)",
                (),
                "keep one world: the parcel's unshaded jars; drop pyspark's jars dir",
            )
        )
    conf_positions = [i for i, e in enumerate(entries) if Path(e, "core-site.xml").is_file()]
    if not conf_positions:
        out.append(
            Finding(
                "classpath-no-conf-dir",
                "error",
                "no directory with core-site.xml on CLASSPATH: the client falls back to SIMPLE "
                "auth and the default file system (catalog B4, B5)",
                (),
                "put the Hadoop conf dir (e.g. /etc/hadoop/conf) first on CLASSPATH",
            )
        )
    elif conf_positions[0] != 0:
        out.append(
            Finding(
                "classpath-conf-not-first",
                "warn",
                f"the conf dir {entries[conf_positions[0]]} is entry {conf_positions[0] + 1}, "
                "not the first",
                (entries[0],),
                "put the Hadoop conf dir first, so no jar's bundled *-site.xml wins",
            )
        )
    if install is not None and install.jars_dir is not None:
        flat = str(install.jars_dir) + os.sep
        leaked = [e for e in entries if e.startswith(flat)]
        if leaked:
            out.append(
                Finding(
                    "classpath-parcel-jars",
                    "warn",
                    f"{len(leaked)} entries come from {install.jars_dir}, which holds several "
                    "versions of some libraries (B6)",
                    tuple(leaked[:5]),
                    regen,
                )
            )
    missing = [e for e in entries if not e.endswith("*") and not os.path.exists(e)]
    if missing:
        out.append(
            Finding(
                "classpath-missing-entries",
                "warn",
                f"{len(missing)} entries do not exist",
                tuple(missing[:5]),
                "regenerate CLASSPATH (a parcel upgrade removes old jar paths)",
            )
        )
    return out


def _fingerprint(install: HadoopInstall, conf_dir: Path | None) -> str:
    import hashlib

    parts = [str(os.path.realpath(install.root)), str(install.version)]
    for d in (*install.jar_dirs, *([conf_dir] if conf_dir else [])):
        try:
            parts.append(f"{d}:{d.stat().st_mtime_ns}")
        except OSError:
            parts.append(f"{d}:missing")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def exact_classpath(
    install: HadoopInstall,
    conf_dir: Path | None,
    java_home: Path,
    cache_dir: Path,
    timeout: float = 120,
) -> tuple[str, ...]:
    """``hadoop classpath --glob`` itself, cached on disk by install path, version and mtimes."""
    import json
    import subprocess
    import tempfile

    hadoop = install.bin_dir / "hadoop" if install.bin_dir else None
    if hadoop is None or not hadoop.is_file():
        raise MlflowClientEnvError(
            f"exact classpath asked for, but {install.root} has no bin/hadoop",
            "drop --exact-classpath; the folder listing gives the same jars",
        )
    key = _fingerprint(install, conf_dir)
    cache = cache_dir / f"classpath-{key}.json"
    try:
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if isinstance(cached, list):
            return tuple(str(e) for e in cached)
    except (OSError, ValueError):
        pass
    env: Mapping[str, str] = {
        **os.environ,
        "JAVA_HOME": str(java_home),
        **({"HADOOP_CONF_DIR": str(conf_dir)} if conf_dir else {}),
    }
    proc = subprocess.run(
        [str(hadoop), "classpath", "--glob"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise MlflowClientEnvError(
            f"'{hadoop} classpath --glob' failed (exit {proc.returncode}): "
            + (proc.stderr.strip().splitlines() or [""])[-1],
            "run it by hand to see the whole error; without --exact-classpath the jars are "
            "listed from the folders instead",
        )
    entries = tuple(e for e in proc.stdout.strip().split(os.pathsep) if e)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".classpath-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(list(entries), fh)
    os.replace(tmp, cache)
    return entries
