"""Hadoop installation discovery: where the jars, ``libhdfs.so`` and native libs are.

Layouts differ in ways that bite (catalog A1, B2, B7): on a Cloudera parcel
HADOOP_HOME is ``P/lib/hadoop`` (not ``P``) and ``libhdfs.so`` sits in ``P/lib64``;
package installs put it in ``/usr/lib64``; Apache tarballs in ``lib/native``.
Everything here only reads the filesystem and returns frozen dataclasses that
carry the evidence they used.

Cloudera's container engines (catalog H2) are recognised too. A CDSW engine (and a CML
session on a cluster with parcels) sees the host's ``/opt/cloudera`` mounted, so the
parcel is found where it is on an edge node; the evidence says it is the host's, as
mounted. A CML runtime instead gets its Hadoop client as a *runtime add-on* mounted
under ``/runtime-addons/hadoop-cli-<version>-<id>/``, a bigtop-like ``usr/lib`` with
``libhdfs.so`` directly in it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..config import ENV_VARS
from ..errors import ConfigFileError, HadoopAbsentError, HadoopNotFoundError, ParcelError, setting
from ..pathlist import which
from ..records import field, record, replace
from ..safeio import loads_json, read_small_text

TYPE_CHECKING = False  # typing is not imported at run time (import cost; mypy honours this)
if TYPE_CHECKING:
    from typing import Literal

    Kind = Literal["parcel", "package", "hdp", "tarball", "cml-addon"]

DEFAULT_PARCELS_ROOT = "/opt/cloudera/parcels"
DEFAULT_PACKAGE_BASE = "/usr/lib"
DEFAULT_HDP_CLIENT = "/usr/hdp/current/hadoop-client"

# CML runtime add-ons. Cloudera's docs say sessions get add-ons (Spark, Hadoop CLI) next to
# the runtime image ('cdswctl runtime-addons list', docs.cloudera.com/machine-learning/1.5.5/
# cli/topics/ml-cli-starting-sessions-and-creating-ssh-endpoints.html) but not where they are
# mounted. The paths come from public CML code: jvprosser/hdfs-mcp-server's README sets
# ARROW_LIBHDFS_DIR=/runtime-addons/hadoop-cli-7.3.1.101-c2jhs/usr/lib and a CLASSPATH of
# that usr/lib's hadoop, hadoop/lib, hadoop-hdfs, hadoop-hdfs/lib, hadoop-mapreduce, ...
# folders, with usr/lib/native on LD_LIBRARY_PATH.
DEFAULT_RUNTIME_ADDONS = "/runtime-addons"
HADOOP_CLI_ADDON_PREFIX = "hadoop-cli-"
#: Set by CDSW and CML in every engine (docs.cloudera.com/cdsw/1.9.2/runtimes/topics/
#: ml-engine-environment-variables-runtimes.html); CDSW mounts the host's /opt/cloudera,
#: client configuration and JAVA_HOME into each engine (docs.cloudera.com/cdsw/1.9.2/
#: architecture-overview/topics/cdsw-engines.html).
ENGINE_VARS = ("CDSW_ENGINE_ID", "CDSW_PROJECT")

#: Component folders in the order ``hadoop classpath`` lists them (lib jars first).
BIGTOP_COMPONENTS = ("hadoop", "hadoop-hdfs", "hadoop-yarn", "hadoop-mapreduce")
TARBALL_COMPONENTS = ("common", "hdfs", "yarn", "mapreduce")


@record
class Parcel:
    """A Cloudera parcel directory and what ``meta/parcel.json`` says of it."""

    path: Path  # as used: the ``CDH`` link when active, so values survive upgrades
    resolved: Path
    name: str
    version: str
    components: tuple[tuple[str, str], ...] = ()

    def component_version(self, name: str) -> str | None:
        return dict(self.components).get(name)


@record
class HadoopInstall:
    """One Hadoop installation, as the client side needs it."""

    kind: Kind
    root: Path
    hadoop_home: Path
    version: str | None
    bin_dir: Path | None
    libhdfs: Path | None
    native_dir: Path | None
    jar_dirs: tuple[Path, ...]
    default_conf_dir: Path | None
    source: str
    parcel: Parcel | None = None
    evidence: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def libhdfs_dir(self) -> Path | None:
        return self.libhdfs.parent if self.libhdfs else None

    @property
    def jars_dir(self) -> Path | None:
        """A parcel's flattened ``jars/`` folder, which must never be globbed."""
        return self.root / "jars" if self.kind == "parcel" else None


def entries_named(folder: Path, prefix: str, suffix: str = "") -> list[Path]:
    """The entries of ``folder`` named ``prefix*suffix``, sorted (``folder.glob`` for such a
    pattern, without compiling one: these run on every cold ``setup()``, issue 10); none
    when the folder cannot be listed."""
    try:
        with os.scandir(folder) as it:
            names = [
                e.name
                for e in it
                if e.name.startswith(prefix)
                and e.name.endswith(suffix)
                and len(e.name) >= len(prefix) + len(suffix)
            ]
    except OSError:
        return []
    return [folder / n for n in sorted(names)]


def version_key(version: str) -> tuple[int, ...]:
    """Order parcel versions numerically: ``7.1.7-1.cdh7.1.7.p0.1`` > ``6.3.2-1...``."""
    return tuple(int(n) for n in re.findall(r"\d+", version))


def read_parcel_json(parcel_dir: Path) -> dict[str, object]:
    meta = parcel_dir / "meta" / "parcel.json"
    damaged = (
        "the parcel is damaged: re-distribute it from Cloudera Manager, or choose another "
        f"parcel with {setting('parcel')}"
    )
    text = read_small_text(meta, damaged)
    if text is None:
        raise ParcelError(
            f"{parcel_dir} is not a parcel: {meta} does not exist",
            f"point {setting('parcel')} at a directory under the parcels root that has "
            "meta/parcel.json",
        )
    data = loads_json(text, meta, damaged)
    if not isinstance(data, dict):
        raise ConfigFileError(f"{meta} does not hold a JSON object", "re-distribute the parcel")
    return data


def inspect_parcel(path: Path) -> Parcel:
    data = read_parcel_json(path)
    comps = data.get("components")
    components = tuple(
        (str(c["name"]), str(c["version"]))
        for c in (comps if isinstance(comps, list) else [])
        if isinstance(c, dict) and "name" in c and "version" in c
    )
    return Parcel(
        path=path,
        resolved=Path(os.path.realpath(path)),
        name=str(data.get("name", path.name.split("-")[0])),
        version=str(data.get("version", "")),
        components=components,
    )


def find_parcel(parcels_root: Path, name: str = "CDH") -> tuple[Parcel, tuple[str, ...]] | None:
    """The active parcel under ``parcels_root``, or the newest versioned one.

    Returns the parcel and warnings, None if the root holds no such parcel, and
    raises ParcelError for a broken active link (picking another version
    silently could mean running against the wrong cluster release).
    """
    link = parcels_root / name
    versioned = [p for p in entries_named(parcels_root, f"{name}-") if (p / "meta").is_dir()]
    if link.is_symlink() and not link.exists():
        others = ", ".join(p.name for p in versioned) or "none"
        raise ParcelError(
            f"the active-parcel link {link} points at {os.readlink(link)}, which does not exist",
            f"activate a parcel in Cloudera Manager, or choose one with {setting('parcel')}: "
            f"{others}",
        )
    if link.is_dir():
        return inspect_parcel(link), ()
    if not versioned:
        return None
    parcels = [inspect_parcel(p) for p in versioned]
    parcels.sort(key=lambda p: version_key(p.version))
    chosen = parcels[-1]
    warnings: tuple[str, ...] = ()
    if len(parcels) > 1:
        warnings = (
            f"no active {name} link in {parcels_root} and {len(parcels)} parcels are present "
            f"({', '.join(p.path.name for p in parcels)}); using the newest, {chosen.path.name}. "
            f"Choose another with {setting('parcel')}.",
        )
    return chosen, warnings


def _first_file(*candidates: Path) -> Path | None:
    return next((c for c in candidates if c.is_file()), None)


def _bigtop_jar_dirs(base: Path) -> tuple[Path, ...]:
    dirs = []
    for comp in BIGTOP_COMPONENTS:
        dirs += [base / comp / "lib", base / comp]
    return tuple(d for d in dirs if d.is_dir())


def _tarball_jar_dirs(home: Path) -> tuple[Path, ...]:
    dirs = []
    for comp in TARBALL_COMPONENTS:
        dirs += [home / "share/hadoop" / comp / "lib", home / "share/hadoop" / comp]
    return tuple(d for d in dirs if d.is_dir())


def parcel_install(parcel: Parcel, source: str, warnings: Sequence[str] = ()) -> HadoopInstall:
    p = parcel.path
    home = p / "lib" / "hadoop"
    if not home.is_dir():
        raise ParcelError(
            f"parcel {p} has no lib/hadoop folder, so it carries no Hadoop client",
            f"point {setting('parcel')} at the CDH parcel (not e.g. SPARK2 or KAFKA)",
        )
    evidence = [f"{source}: {p}"]
    if parcel.resolved != p:
        evidence.append(f"{p} -> {parcel.resolved}")
    evidence.append(f"meta/parcel.json: {parcel.name} {parcel.version}")
    libhdfs = _first_file(p / "lib64" / "libhdfs.so", home / "lib/native/libhdfs.so")
    return HadoopInstall(
        kind="parcel",
        root=p,
        hadoop_home=home,
        version=parcel.component_version("hadoop") or parcel.version or None,
        bin_dir=p / "bin" if (p / "bin").is_dir() else None,
        libhdfs=libhdfs,
        native_dir=home / "lib" / "native" if (home / "lib/native").is_dir() else None,
        jar_dirs=_bigtop_jar_dirs(p / "lib"),
        default_conf_dir=None,
        source=source,
        parcel=parcel,
        evidence=tuple(evidence),
        warnings=tuple(warnings),
    )


def _hadoop_version_from_jars(dirs: Sequence[Path]) -> str | None:
    for d in dirs:
        for jar in entries_named(d, "hadoop-common-", ".jar"):
            m = re.match(r"hadoop-common-(\d[^/]*?)(-tests)?\.jar$", jar.name)
            if m and not m.group(2):
                return m.group(1)
    return None


def classify_home(path: Path, source: str) -> HadoopInstall | None:
    """Recognise what ``path`` (a HADOOP_HOME-like directory) is; None if nothing."""
    if (path / "meta" / "parcel.json").is_file():
        return parcel_install(
            inspect_parcel(path),
            source,
            (
                f"{source} points at the parcel root {path}; inside a parcel Hadoop's home is "
                f"{path / 'lib' / 'hadoop'}",
            ),
        )
    if path.name == "hadoop" and (path.parent.parent / "meta" / "parcel.json").is_file():
        return parcel_install(inspect_parcel(path.parent.parent), source)
    if (path / "share" / "hadoop" / "common").is_dir():
        dirs = _tarball_jar_dirs(path)
        return HadoopInstall(
            kind="tarball",
            root=path,
            hadoop_home=path,
            version=_hadoop_version_from_jars(dirs),
            bin_dir=path / "bin" if (path / "bin").is_dir() else None,
            libhdfs=_first_file(path / "lib/native/libhdfs.so"),
            native_dir=path / "lib/native" if (path / "lib/native").is_dir() else None,
            jar_dirs=dirs,
            default_conf_dir=path / "etc/hadoop" if (path / "etc/hadoop").is_dir() else None,
            source=source,
            evidence=(f"{source}: {path} (Apache tarball layout: share/hadoop/common)",),
        )
    real = Path(os.path.realpath(path))
    if real.name == "hadoop" and (real.parent / "hadoop-hdfs").is_dir():
        base = real.parent
        addon = cml_addon_of(base)
        if addon is not None:
            return _cml_addon_install(addon, path, source)
        kind: Kind = "hdp" if "/hdp/" in f"{real}/" else "package"
        dirs = _bigtop_jar_dirs(base)
        lib64 = base.parent / "lib64" / "libhdfs.so"
        libhdfs = _first_file(lib64, base / "usr/lib/libhdfs.so", real / "lib/native/libhdfs.so")
        return HadoopInstall(
            kind=kind,
            root=base,
            hadoop_home=path,
            version=_hadoop_version_from_jars(dirs),
            bin_dir=path / "bin" if (path / "bin").is_dir() else None,
            libhdfs=libhdfs,
            native_dir=real / "lib/native" if (real / "lib/native").is_dir() else None,
            jar_dirs=dirs,
            default_conf_dir=None,
            source=source,
            evidence=(f"{source}: {path} ({kind} layout: {base}/hadoop, {base}/hadoop-hdfs)",),
        )
    return None


def cml_addon_of(base: Path) -> Path | None:
    """The CML Hadoop CLI add-on folder when ``base`` is its ``usr/lib``, else None.

    Recognised by shape, not by the mount point, so an add-on is known however it was
    reached (the runtime-add-ons root, HADOOP_HOME, ``hadoop`` on PATH)."""
    addon = base.parent.parent
    if (
        base.name == "lib"
        and base.parent.name == "usr"
        and addon.name.startswith(HADOOP_CLI_ADDON_PREFIX)
    ):
        return addon
    return None


def _native_dir(*candidates: Path) -> Path | None:
    """The first folder holding libhadoop.so, else the first that exists."""
    dirs = [d for d in candidates if d.is_dir()]
    with_lib = [d for d in dirs if entries_named(d, "libhadoop.so")]
    return next(iter(with_lib or dirs), None)


def _cml_addon_install(addon: Path, home: Path, source: str) -> HadoopInstall:
    """A CML Hadoop CLI add-on: ``<addon>/usr/lib/{hadoop,hadoop-hdfs,...}``, and
    ``libhdfs.so`` in ``usr/lib`` itself (where the add-on's users point ARROW_LIBHDFS_DIR)."""
    lib = addon / "usr" / "lib"
    real = Path(os.path.realpath(lib / "hadoop"))
    dirs = _bigtop_jar_dirs(lib)
    libhdfs = _first_file(
        lib / "libhdfs.so", addon / "usr" / "lib64" / "libhdfs.so", real / "lib/native/libhdfs.so"
    )
    bin_dir = next(
        (d for d in (addon / "usr" / "bin", home / "bin") if (d / "hadoop").is_file()), None
    )
    return HadoopInstall(
        kind="cml-addon",
        root=addon,
        hadoop_home=home,
        version=_hadoop_version_from_jars(dirs),
        bin_dir=bin_dir,
        libhdfs=libhdfs,
        native_dir=_native_dir(real / "lib" / "native", lib / "native"),
        jar_dirs=dirs,
        default_conf_dir=None,
        source=source,
        evidence=(
            f"{source}: {home}",
            f"CML runtime add-on layout: {addon.name} holds usr/lib/hadoop and "
            "usr/lib/hadoop-hdfs"
            + (f", and {libhdfs.name} in {libhdfs.parent}" if libhdfs else ", but no libhdfs.so"),
        ),
    )


def _addon_version(name: str) -> tuple[int, ...]:
    """``hadoop-cli-7.3.1.101-c2jhs`` -> (7, 3, 1, 101): the add-on's random id is not a version."""
    m = re.match(re.escape(HADOOP_CLI_ADDON_PREFIX) + r"(\d+(?:\.\d+)*)", name)
    return version_key(m.group(1)) if m else ()


def find_cml_addon(
    runtime_addons: Path,
) -> tuple[HadoopInstall, tuple[str, ...]] | None:
    """The Hadoop CLI add-on mounted under ``runtime_addons``, or None.

    A session normally has one; with several (a session started with two add-on versions)
    the newest is used, and a warning names the others, as for several parcels."""
    try:
        found = [
            d
            for d in entries_named(runtime_addons, HADOOP_CLI_ADDON_PREFIX)
            if (d / "usr" / "lib" / "hadoop").is_dir() and (d / "usr/lib/hadoop-hdfs").is_dir()
        ]
    except OSError:
        return None
    if not found:
        return None
    found.sort(key=lambda d: _addon_version(d.name))  # stable: equal versions keep name order
    chosen = found[-1]
    source = f"CML runtime add-on in {runtime_addons}"
    inst = _cml_addon_install(chosen, chosen / "usr" / "lib" / "hadoop", source)
    warnings: tuple[str, ...] = ()
    if len(found) > 1:
        warnings = (
            f"{len(found)} Hadoop CLI add-ons are mounted in {runtime_addons} "
            f"({', '.join(d.name for d in found)}); using the newest, {chosen.name}. Choose "
            f"another with {setting('hadoop_home')} (its usr/lib/hadoop folder).",
        )
    return inst, warnings


def engine_evidence(env: Mapping[str, str]) -> tuple[str, ...]:
    """What says this process runs in a CDSW/CML engine (its per-engine variables)."""
    names = [f"{v}={env[v]}" for v in ENGINE_VARS if env.get(v)]
    return (f"inside a CDSW/CML engine ({', '.join(names)})",) if names else ()


def _in_engine(inst: HadoopInstall, env: Mapping[str, str]) -> HadoopInstall:
    """``inst`` with the engine evidence added when discovery ran inside an engine."""
    engine = engine_evidence(env)
    if not engine:
        return inst
    notes = {
        "parcel": "the host's parcels as mounted into the engine (read-only): paths are the "
        "engine's, which the host's JAVA_HOME and client configuration must match (H2)",
        "cml-addon": "the Hadoop client of the session's runtime add-on; the client "
        "configuration is the one mounted at /etc/hadoop/conf (or HADOOP_CONF_DIR)",
    }
    note = notes.get(inst.kind)
    return replace(inst, evidence=(*inst.evidence, *engine, *((note,) if note else ())))


def _require(inst: HadoopInstall | None, path: Path, source: str) -> HadoopInstall:
    if inst is None:
        raise HadoopNotFoundError(
            f"{source}: {path} is not a Hadoop installation (no meta/parcel.json, "
            "share/hadoop/common, or hadoop + hadoop-hdfs folders)",
            "point it at Hadoop's home, e.g. /opt/cloudera/parcels/CDH/lib/hadoop "
            "(a parcel) or the unpacked Apache tarball",
        )
    return inst


@record(eq=False)  # discovery's inputs, never compared
class HadoopHints:
    """Where discovery may look; each field None means 'not given'."""

    parcel: tuple[str, str] | None = None  # (value, source)
    hadoop_home: tuple[str, str] | None = None
    parcels_root: tuple[str, str] | None = None


NO_HINTS = HadoopHints()  # the default: nothing given


def discover_hadoop(
    hints: HadoopHints = NO_HINTS,
    env: Mapping[str, str] | None = None,
    *,
    default_parcels_root: str = DEFAULT_PARCELS_ROOT,
    package_base: str = DEFAULT_PACKAGE_BASE,
    hdp_client: str = DEFAULT_HDP_CLIENT,
    runtime_addons: str = DEFAULT_RUNTIME_ADDONS,
) -> HadoopInstall:
    """Find the Hadoop client installation.

    Order: an explicit parcel, an explicit Hadoop home, an explicit parcels root,
    ``HADOOP_HOME``, the default parcels root, ``hadoop`` on PATH (through
    ``/etc/alternatives``), a CML Hadoop CLI add-on under ``runtime_addons``, a package
    install, then HDP. The add-on comes after the parcels (when a CML session has both,
    the parcel is the cluster's own release, deployed with its client configuration) and
    before the package paths, which a runtime image does not use for Hadoop.
    """
    env = os.environ if env is None else env
    checked: list[str] = []
    if hints.parcel:
        value, source = hints.parcel
        p = Path(value)
        if not p.is_absolute() and "/" not in value:
            root = Path(hints.parcels_root[0] if hints.parcels_root else default_parcels_root)
            p = root / value
        if not p.exists():
            raise ParcelError(
                f"{source}: the parcel {p} does not exist"
                + (" (it is a broken symlink)" if p.is_symlink() else ""),
                "list the parcels with 'ls /opt/cloudera/parcels' and choose one with "
                + setting("parcel"),
            )
        return parcel_install(inspect_parcel(p), source)
    if hints.hadoop_home:
        value, source = hints.hadoop_home
        return _require(classify_home(Path(value), source), Path(value), source)
    if hints.parcels_root:
        value, source = hints.parcels_root
        found = find_parcel(Path(value))
        if found is None:
            raise HadoopAbsentError(  # nothing there: not found, not broken
                f"{source}: no CDH parcel in {value} (no CDH link, no CDH-* directories)",
                "point it at the folder that holds the parcels, e.g. /opt/cloudera/parcels",
            )
        return parcel_install(found[0], f"{source} {value}", found[1])
    warnings: list[str] = []
    if env.get("HADOOP_HOME"):
        inst = classify_home(Path(env["HADOOP_HOME"]), "HADOOP_HOME")
        if inst:
            return _in_engine(inst, env)
        warnings.append(f"HADOOP_HOME={env['HADOOP_HOME']} is not a Hadoop installation; ignored")
        checked.append(f"HADOOP_HOME={env['HADOOP_HOME']}")
    root = Path(default_parcels_root)
    found = find_parcel(root) if root.is_dir() else None
    checked.append(str(root))
    if found:
        inst = parcel_install(found[0], f"parcels root {root}", [*warnings, *found[1]])
        return _in_engine(inst, env)
    hadoop = which("hadoop", env.get("PATH", ""))
    if hadoop:
        real = Path(os.path.realpath(hadoop))
        home = real.parent.parent
        inst = classify_home(home, f"hadoop on PATH ({hadoop} -> {real})")
        if inst:
            return _in_engine(inst, env)
        checked.append(f"hadoop on PATH ({hadoop} -> {real})")
    addons = Path(runtime_addons)
    addon = find_cml_addon(addons) if addons.is_dir() else None
    checked.append(f"{addons}/{HADOOP_CLI_ADDON_PREFIX}*")
    if addon:
        inst, more = addon
        return _in_engine(replace(inst, warnings=(*warnings, *more)), env)
    for candidate, label in ((Path(package_base) / "hadoop", "package"), (Path(hdp_client), "HDP")):
        if candidate.is_dir():
            inst = classify_home(candidate, f"{label} install {candidate}")
            if inst:
                return _in_engine(inst, env)
        checked.append(str(candidate))
    raise HadoopAbsentError(
        "no Hadoop installation found (checked: "
        + ", ".join(checked)
        + ")"
        + ("; " + "; ".join(warnings) if warnings else ""),
        f"name it with {setting('parcel')} (e.g. /opt/cloudera/parcels/CDH-<version>), "
        f"{setting('parcels_root')} or {setting('hadoop_home')} (or set it once: "
        f"{ENV_VARS['parcel']}, or ~/.config/mlflow-client-env/config.toml)",
    )
