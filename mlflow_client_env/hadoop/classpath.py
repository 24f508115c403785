"""The CLASSPATH libhdfs hands to its embedded JVM, built and checked.

A JVM created through JNI does not expand ``dir/*`` (catalog B2), so every jar
is listed explicitly, in the order ``hadoop classpath --glob`` gives, with the
client conf dir first (B4). Listing folders in Python is ~100x cheaper than
starting Hadoop's JVM; where exact fidelity matters, ``exact_classpath`` runs
``hadoop classpath --glob`` once and caches the answer on disk.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Mapping, Sequence
from functools import partial
from operator import attrgetter
from pathlib import Path

from ..errors import ClasspathError, MlflowClientEnvError, setting
from ..findings import Finding
from ..redact import redact_then_truncate
from ..safeio import read_small_text
from ..userdirs import CACHE_FIX, ensure_private_dir
from .install import HadoopInstall

#: A versioned jar's name. Patterns only the checks use are compiled at their first use
#: (``re``'s cache), not at import: setup() imports this module and never checks (issue 10).
_JAR_RE = r"^(?P<name>[A-Za-z][\w.\-]*?)-(?P<version>\d[\w.\-+]*)\.jar$"


def _jar_entries(directory: str | Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as it:
            entries = [e for e in it if e.name.endswith(".jar") or e.name.lower().endswith(".jar")]
    except OSError:
        return []
    return sorted(entries, key=attrgetter("name"))


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
    entries = _jar_entries(d)
    # Parcel folders are mostly links (``lib/hadoop/lib/x.jar -> ../../../jars/x.jar``): they
    # are read relative to the open folder, in one pass (no walk of the long path per link),
    # and the folder part of the targets, shared by nearly all, is normalised once (issue 10:
    # this was a tenth of a cold setup() on a CDP parcel). Keys: normpath(join(d, target)).
    links = [e.name for e in entries if e.is_symlink()]
    targets: dict[str, str] = {}
    complete = True  # else something changed while read: the listing is not memoised
    if links:
        try:
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            fd, complete = -1, False  # the links keep their own paths as identities
        if fd >= 0:
            read = partial(os.readlink, dir_fd=fd)
            try:
                targets = dict(zip(links, map(read, links), strict=True))
            except OSError:  # a link went away meanwhile: one at a time
                complete = False
                for name in links:
                    with contextlib.suppress(OSError):
                        targets[name] = read(name)
            finally:
                os.close(fd)
    prefixes: dict[str, str] = {}  # a target's folder part -> its normalised form + "/"
    out = []
    for e in entries:
        target = targets.get(e.name)
        if target is None:
            out.append((e.path, e.path))
            continue
        tail = target.rpartition("/")[2]
        if tail in ("", ".", ".."):
            out.append((e.path, os.path.normpath(os.path.join(d, target))))
            continue
        head = target[: -len(tail)]  # "../../jars/", "/", or ""
        prefix = prefixes.get(head)
        if prefix is None:
            base = os.path.normpath(os.path.join(d, head))
            prefix = prefixes[head] = (
                "" if base == "." else base if base.endswith("/") else base + "/"
            )
        out.append((e.path, prefix + tail))
    if complete:
        _LISTINGS[d] = (mtime, tuple(out))
    return tuple(out)


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
    m = re.match(_JAR_RE, name)
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
                "classpath.wildcard",
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
                "classpath.no-hadoop-common",
                "error",
                "no hadoop-common jar: libhdfs cannot load org.apache.hadoop.fs.FileSystem (B1, B2)",
                (),
                regen,
            )
        )
    if not ({"hadoop-hdfs", "hadoop-hdfs-client", "hadoop-client-api"} & versions.keys()):
        out.append(
            Finding(
                "classpath.no-hdfs-client",
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
                    f"classpath.two-{artifact}",
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
                "classpath.shaded-mix",
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
                "classpath.no-conf-dir",
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
                "classpath.conf-not-first",
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
                    "classpath.parcel-jars",
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
                "classpath.missing-entries",
                "warn",
                f"{len(missing)} entries do not exist",
                tuple(missing[:5]),
                "regenerate CLASSPATH (a parcel upgrade removes old jar paths)",
            )
        )
    return out


#: How libhdfs prints a Java exception: through commons-lang's ExceptionUtils, the class
#: named in the library itself. Hadoop 2's libhdfs calls commons-lang 2
#: (``getStackTrace``); Hadoop 3's calls commons-lang3 (``getRootCauseMessage`` too).
_EXCEPTION_UTILS = rb"org/apache/commons/lang3?/exception/ExceptionUtils"
#: the jar (artifact name) that holds each of those classes
EXCEPTION_UTILS_JARS = {
    "org/apache/commons/lang3/exception/ExceptionUtils": "commons-lang3",
    "org/apache/commons/lang/exception/ExceptionUtils": "commons-lang",
}
#: a libhdfs.so is far smaller; anything bigger is not read
_MAX_LIBHDFS = 64 << 20
_EXCEPTION_UTILS_SEEN: dict[tuple[str, int, int], str | None] = {}


def exception_utils_class(libhdfs: Path) -> str | None:
    """The ExceptionUtils class (``org/apache/commons/lang3/exception/ExceptionUtils``) this
    ``libhdfs.so`` calls to report every Java exception, read from the file; None when it
    names none or cannot be read."""
    try:
        st = os.stat(libhdfs)
    except OSError:
        return None
    key = (str(libhdfs), st.st_mtime_ns, st.st_size)
    if key not in _EXCEPTION_UTILS_SEEN:
        found = None
        if stat.S_ISREG(st.st_mode) and st.st_size <= _MAX_LIBHDFS:
            try:
                with open(libhdfs, "rb") as fh:
                    m = re.search(_EXCEPTION_UTILS, fh.read())
                found = m.group(0).decode() if m else None
            except OSError:
                found = None
        _EXCEPTION_UTILS_SEEN[key] = found
    return _EXCEPTION_UTILS_SEEN[key]


def _holds_class(entries: Sequence[str], class_file: str) -> bool:
    """Whether a folder or jar among ``entries`` holds ``class_file`` (a fat jar may)."""
    import zipfile

    for e in entries:
        if e.endswith("*"):
            continue  # the JVM libhdfs starts takes it literally: it provides nothing
        if os.path.isdir(e):
            if os.path.isfile(os.path.join(e, class_file)):
                return True
            continue
        if not e.endswith(".jar"):
            continue
        try:
            with zipfile.ZipFile(e) as jar:
                jar.getinfo(class_file)
            return True
        except (KeyError, OSError, zipfile.BadZipFile):
            continue
    return False


def lint_error_reporting(
    entries: Sequence[str], libhdfs: Path | None, install: HadoopInstall | None = None
) -> Finding | None:
    """Catalog B3: the jar whose ExceptionUtils ``libhdfs`` calls to report a Java exception
    is not on CLASSPATH; None when it is, or when CLASSPATH lacks Hadoop itself (B1/B2,
    reported by :func:`lint`)."""
    cls = exception_utils_class(libhdfs) if libhdfs is not None else None
    if cls is None:
        return None
    artifact = EXCEPTION_UTILS_JARS[cls]
    names = {ident[0] for ident in map(jar_identity, entries) if ident}
    if "hadoop-common" not in names and "hadoop-client-api" not in names:
        return None
    if artifact in names or _holds_class(entries, f"{cls}.class"):
        return None
    dotted = cls.replace("/", ".")
    hadoop = "Hadoop 3's" if artifact == "commons-lang3" else "Hadoop 2's"
    what = (
        "on the first failure libhdfs cannot get its reason ('could not find method "
        "getRootCauseMessage from class (null)') and the JVM can crash with SIGSEGV, taking "
        "the process (a Jupyter kernel) with it"
        if artifact == "commons-lang3"
        else "on the first failure libhdfs cannot print its reason ('unable to get stack trace "
        "for ... ExceptionUtils::getStackTrace error'), and Hadoop 2's own classes need it too "
        "(NoClassDefFoundError: org/apache/commons/lang/StringUtils)"
    )
    where = None
    if install is not None:
        where = next(
            (
                str(j)
                for d in install.jar_dirs
                for j in jars_in(d)
                if (jar_identity(str(j)) or ("",))[0] == artifact
            ),
            None,
        )
    return Finding(
        f"classpath.no-{artifact}",
        "error",
        f"no {artifact} jar: libhdfs ({hadoop}) reports every Java exception through "
        f"{dotted}; without it {what} (catalog B3)",
        (f"{libhdfs} calls {dotted}",),
        f"add {where or f'the {artifact} jar of this Hadoop'} to CLASSPATH, or use the full "
        "CLASSPATH from 'mlflow-client-env env'",
    )


def _fingerprint(install: HadoopInstall, conf_dir: Path | None) -> str:
    import hashlib

    parts = [str(os.path.realpath(install.root)), str(install.version)]
    for d in (*install.jar_dirs, *([conf_dir] if conf_dir else [])):
        try:
            parts.append(f"{d}:{d.stat().st_mtime_ns}")
        except OSError:
            parts.append(f"{d}:missing")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


#: Seconds ``hadoop classpath --glob`` may take (a JVM start; slow NFS homes take longer).
EXACT_TIMEOUT = 120.0


def parse_classpath_output(text: str) -> tuple[str, ...] | None:
    """The entries of ``hadoop classpath --glob``'s output, or None when it is not a classpath.

    Hadoop prints one line; wrapper scripts may print warnings before it, so the last
    non-empty line is taken. Every entry must be an absolute path and at least one a jar:
    anything else (an error text, a banner, a relative path) is not accepted.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    entries = tuple(e for e in lines[-1].split(os.pathsep) if e)
    if not entries or any(not e.startswith("/") or "\0" in e for e in entries):
        return None
    if not any(e.endswith(".jar") for e in entries):
        return None
    return entries


def _read_cached(cache: Path) -> tuple[str, ...] | None:
    import json

    try:
        st = os.lstat(cache)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        return None  # not a file of ours that only we can write: rebuilt, never trusted
    try:
        text = read_small_text(cache, "delete it; it is rebuilt on the next run")
        data = json.loads(text) if text is not None else None
    except (MlflowClientEnvError, ValueError, RecursionError):
        return None  # a damaged cache is rebuilt, never trusted
    if not isinstance(data, list) or not all(isinstance(e, str) for e in data):
        return None
    return parse_classpath_output(os.pathsep.join(data))


def _write_cache(cache_dir: Path, cache: Path, entries: Sequence[str]) -> None:
    """Write the cache atomically in the user's private cache dir; failing to cache is harmless."""
    import json
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".classpath-")  # O_EXCL, 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(list(entries), fh)
            os.replace(tmp, cache)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        pass


def exact_classpath(
    install: HadoopInstall,
    conf_dir: Path | None,
    java_home: Path,
    cache_dir: Path,
    timeout: float = EXACT_TIMEOUT,
) -> tuple[str, ...]:
    """``hadoop classpath --glob`` itself, cached on disk by install path, version and mtimes.

    Every failure is a :class:`ClasspathError` with the fix: no ``bin/hadoop``, one that
    cannot run, a non-zero exit, output that is not a classpath, or a run past ``timeout``.
    """
    import subprocess

    hadoop = install.bin_dir / "hadoop" if install.bin_dir else None
    fallback = (
        "drop --exact-classpath (exact_classpath=False): the folder listing gives the same jars"
    )
    if hadoop is None or not hadoop.is_file():
        raise ClasspathError(
            f"exact classpath asked for, but {install.root} has no bin/hadoop", fallback
        )
    # What is cached becomes the JVM's CLASSPATH: only a folder private to this user is trusted.
    ensure_private_dir(cache_dir, create=True, fix=CACHE_FIX)
    key = _fingerprint(install, conf_dir)
    cache = cache_dir / f"classpath-{key}.json"
    cached = _read_cached(cache)
    if cached is not None:
        return cached
    env: Mapping[str, str] = {
        **os.environ,
        "JAVA_HOME": str(java_home),
        **({"HADOOP_CONF_DIR": str(conf_dir)} if conf_dir else {}),
    }
    command = f"'{hadoop} classpath --glob'"
    try:
        proc = subprocess.run(
            [str(hadoop), "classpath", "--glob"],
            env=env,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ClasspathError(
            f"{command} did not finish within {timeout:g} s",
            f"raise the limit ({setting('exact_classpath_timeout')}), or " + fallback,
        ) from None
    except OSError as exc:
        raise ClasspathError(f"{command} cannot run: {exc.strerror}", fallback) from None
    stdout = proc.stdout.decode("utf-8", errors="replace")
    if proc.returncode != 0:
        last = (proc.stderr.decode("utf-8", errors="replace").strip().splitlines() or [""])[-1]
        raise ClasspathError(
            f"{command} failed (exit {proc.returncode}): {redact_then_truncate(last, 300)}",
            "run it by hand to see the whole error; or " + fallback,
        )
    entries = parse_classpath_output(stdout)
    if entries is None:
        raise ClasspathError(
            f"{command} printed no classpath: {redact_then_truncate(stdout.strip(), 200)!r}",
            "run it by hand; a wrapper script may print something else; or " + fallback,
        )
    _write_cache(cache_dir, cache, entries)
    return entries
