"""The ``jvm`` check: the JVM that libhdfs would start, asked about itself (catalog E3, E5).

libhdfs starts its JVM inside the Python process with ``-Djava.class.path=$CLASSPATH``
followed by ``LIBHDFS_OPTS`` split on spaces, and ignores options it does not know. A probe
JVM is started the same way from the chosen Java's launcher (``-Djava.class.path`` given
as a property is not wildcard-expanded, as in libhdfs; ``-XX:+IgnoreUnrecognizedVMOptions``
stands for JNI's ``ignoreUnrecognized``; ``JDK_JAVA_OPTIONS``, which only the launcher
reads, is left out). ``java.library.path`` then comes from ``LIBHDFS_OPTS`` or, as in
libhdfs's JVM, from ``LD_LIBRARY_PATH``.

It runs Hadoop's own native check, ``org.apache.hadoop.util.NativeLibraryChecker -a`` (what
``hadoop checknative -a`` runs), with NativeCodeLoader's DEBUG lines on (a log4j file of
ours, only logging changes), so the JVM says whether libhadoop loaded and, if not, why;
``-XX:+PrintFlagsFinal`` says the maximum heap the JVM took. A second, bare JVM does the
same for this process's own ``LIBHDFS_OPTS`` when it differs from ours: a kernel that
uses pyarrow without ``setup()`` gets that one.

Both run through :meth:`Context.spawn`: never with another user's environment.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..findings import Finding
from ..records import record
from ..redact import redact, redact_then_truncate
from .context import Context, ForeignEnvironment

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..hadoop.conf import HadoopConf

CHECKER = "org.apache.hadoop.util.NativeLibraryChecker"
#: each probe JVM's own cap; the run's budget may cut it shorter
JVM_PROBE_CAP = 60.0
#: a maximum heap above this, with no cap asked for, is worth a warning in a kernel (E5)
LARGE_HEAP = 1 << 30
#: how far the JVM may round a heap size asked for (region alignment) and still be "that"
HEAP_SLACK = 64 << 20
#: the file names a JVM looks for with System.loadLibrary("hadoop"), and the versioned one
LIBHADOOP = ("libhadoop.so", "libhadoop.so.1.0.0")
#: only NativeCodeLoader's own lines, on stderr, tagged so we find them among the rest
LOG4J = """\
log4j.rootLogger=ERROR,probe
log4j.logger.org.apache.hadoop.util.NativeCodeLoader=DEBUG
log4j.appender.probe=org.apache.log4j.ConsoleAppender
log4j.appender.probe.Target=System.err
log4j.appender.probe.layout=org.apache.log4j.PatternLayout
log4j.appender.probe.layout.ConversionPattern=mce-probe %c{1}: %m%n
"""


def libhdfs_options(env: Mapping[str, str]) -> list[str]:
    """The JVM options libhdfs builds from ``env``: the class path, then LIBHDFS_OPTS split
    on spaces (strtok: empty words dropped, tabs are no separator)."""
    opts = [f"-Djava.class.path={env.get('CLASSPATH', '')}"]
    return opts + [t for t in env.get("LIBHDFS_OPTS", "").split(" ") if t]


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_HEAP_OPTION = re.compile(r"^(?:-Xmx|-XX:MaxHeapSize=)(\d+)([kKmMgGtT]?)$")


def asked_heap(tokens: Sequence[str]) -> tuple[int, str] | None:
    """(bytes, option) of the last ``-Xmx`` / ``-XX:MaxHeapSize=`` among ``tokens``: the
    one the JVM obeys among options of one source."""
    found = None
    for t in tokens:
        m = _HEAP_OPTION.match(t)
        if m:
            found = (int(m[1]) * _UNITS[m[2].lower()], t)
    return found


def human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


def physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- parsing
_MAX_HEAP = re.compile(r"^\s*\S+\s+MaxHeapSize\s+:?=\s+(\d+)\s+\{[^}]*\}\s*(?:\{([^}]*)\})?", re.M)
_CHECK_LINE = re.compile(
    r"^(hadoop|zlib|snappy|lz4|bzip2|openssl|ISA-L|zstd|winutils):\s+(true|false)\s?(.*)$"
)


@record
class Heap:
    max_bytes: int
    origin: str | None  # Java 9+: "command line", "ergonomic", "environment"...; Java 8: None
    picked_up: tuple[str, ...]  # "Picked up _JAVA_OPTIONS: ..." lines: options from the env


def parse_heap(stdout: str, stderr: str) -> Heap | None:
    m = _MAX_HEAP.search(stdout)
    if m is None:
        return None
    picked = tuple(
        line.strip().removeprefix("NOTE: ")
        for line in stderr.splitlines()
        # the launcher says so even for the JDK_JAVA_OPTIONS we emptied: that says nothing
        if line.lstrip().startswith(("Picked up ", "NOTE: Picked up "))
        and not line.rstrip().endswith(":")
    )
    return Heap(int(m[1]), m[2], picked)


@record
class NativeCheck:
    """NativeLibraryChecker's answer: ``libraries`` maps a name to (loaded, detail)."""

    libraries: dict[str, tuple[bool, str]]
    #: why libhadoop did not load, in NativeCodeLoader's words (its DEBUG line)
    reason: str | None
    library_path: tuple[str, ...]  # java.library.path, as the JVM showed it

    @property
    def hadoop(self) -> bool:
        return self.libraries.get("hadoop", (False, ""))[0]


def parse_checker(stdout: str, stderr: str) -> NativeCheck | None:
    """The checker's table (None when it did not print one), NativeCodeLoader's reason and
    the JVM's java.library.path (from ``-XshowSettings:properties``)."""
    libraries: dict[str, tuple[bool, str]] = {}
    for line in stdout.splitlines():
        m = _CHECK_LINE.match(line.strip())
        if m:
            libraries[m[1]] = (m[2] == "true", m[3].strip())
    if "hadoop" not in libraries:
        return None
    reason = None
    for line in stderr.splitlines():
        _, tag, msg = line.partition("mce-probe NativeCodeLoader: ")
        if tag and msg.startswith("Failed to load native-hadoop with error: "):
            reason = msg.removeprefix("Failed to load native-hadoop with error: ").strip()
    return NativeCheck(libraries, reason, _library_path(stderr))


def _library_path(stderr: str) -> tuple[str, ...]:
    """``java.library.path`` from -XshowSettings:properties (one entry a line, indented)."""
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        key, eq, first = line.strip().partition(" = ")
        if key == "java.library.path" and eq:
            out = [first] if first else []
            indent = len(line) - len(line.lstrip())
            for more in lines[i + 1 :]:
                if not more.strip() or len(more) - len(more.lstrip()) <= indent:
                    break
                out.append(more.strip())
            return tuple(out)
    return ()


def output_tail(stdout: str, stderr: str, n: int = 6) -> tuple[str, ...]:
    """The probe JVM's last lines, without the flag table and the property listing."""
    lines = [
        ln
        for ln in (stdout + "\n" + stderr).splitlines()
        if ln.strip()
        and not ln.startswith((" ", "\t", "[Global flags]", "Property settings:"))
        and not ln.lstrip().startswith("at ")
    ]
    return tuple("JVM output: " + redact_then_truncate(ln, 300) for ln in lines[-n:])


# --------------------------------------------------------------------------- the check
def check_jvm(ctx: Context) -> list[Finding]:
    ctx.jvm_needed("the JVM libhdfs would start")
    ctx.hadoop_needed()
    env = ctx.composed()
    found = ctx.found()
    java = found.java.install.home / "bin" / "java"
    if not os.access(java, os.X_OK):
        return [
            Finding(
                "jvm.skipped",
                "skip",
                f"skipped: no java launcher at {java} to start a probe JVM with",
                fix="the java check says what is wrong with this Java",
            )
        ]
    ours = env.as_dict()
    out: list[Finding] = []
    try:
        out += _ours(ctx, java, ours, found.hadoop.native_dir, env.conf)
        inherited = ctx.env.get("LIBHDFS_OPTS")
        if inherited != ours.get("LIBHDFS_OPTS"):
            out.append(_inherited_heap(ctx, java, inherited))
    except ForeignEnvironment as exc:
        out.append(Finding("jvm.skipped", "skip", f"JVM probe skipped: {exc.reason}"))
    return out


def _launcher_only(env: Mapping[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """What the probe adds to ``env`` so that its launcher reads no more than libhdfs's JVM
    would (``JDK_JAVA_OPTIONS`` emptied), and the note that says so when it was set."""
    notes: tuple[str, ...] = ()
    if env.get("JDK_JAVA_OPTIONS"):
        notes = (
            "JDK_JAVA_OPTIONS was left out of the probe: only the java launcher reads it, "
            "libhdfs's JVM does not",
        )
    return {"JDK_JAVA_OPTIONS": ""}, notes


def _ours(
    ctx: Context,
    java: Path,
    ours: dict[str, str],
    native_dir: Path | None,
    conf: HadoopConf | None,
) -> list[Finding]:
    full = {**ctx.env, **ours}
    blank, notes = _launcher_only(full)
    with tempfile.TemporaryDirectory(prefix="mlflow-client-env-jvm-") as tmp:
        log4j = Path(tmp) / "log4j.properties"
        log4j.write_text(LOG4J, encoding="utf-8")
        argv = [
            str(java),
            "-XX:+IgnoreUnrecognizedVMOptions",
            *libhdfs_options(full),
            "-XX:+PrintFlagsFinal",
            "-XshowSettings:properties",
            f"-Dlog4j.configuration={log4j.as_uri()}",
            CHECKER,
            "-a",
        ]
        try:
            done = ctx.spawn(
                "the JVM probe (Hadoop's native check)",
                argv,
                extra_env={**ours, **blank},
                cap=JVM_PROBE_CAP,
            )
        except subprocess.TimeoutExpired:
            return [
                Finding(
                    "jvm.probe-failed",
                    "warn",
                    f"the probe JVM did not finish in {JVM_PROBE_CAP:.0f} s",
                    fix="run 'hadoop checknative -a' by hand and see where it stops",
                )
            ]
        except OSError as exc:
            return [Finding("jvm.probe-failed", "warn", f"the probe JVM did not start: {exc}")]
    heap = parse_heap(done.stdout, done.stderr)
    check = parse_checker(done.stdout, done.stderr)
    out: list[Finding] = []
    if check is None:
        out.append(
            Finding(
                "jvm.probe-failed",
                "warn",
                f"Hadoop's native check did not run in a JVM started like libhdfs's "
                f"(exit {done.returncode}); the E3 question stays open",
                (*output_tail(done.stdout, done.stderr), *notes),
                fix=f"check that {CHECKER} is in this CLASSPATH's hadoop-common jar; "
                "'hadoop checknative -a' runs the same class",
            )
        )
    else:
        out.append(_native_finding(check, native_dir, conf, notes))
    if heap is not None:
        out.append(_heap_finding("jvm", "our LIBHDFS_OPTS", ours.get("LIBHDFS_OPTS"), heap))
    return out


def _in_dir(folder: Path | str | None) -> Path | None:
    """The libhadoop.so file in ``folder``, if one is there."""
    if not folder:
        return None
    for name in LIBHADOOP:
        path = Path(folder) / name
        if path.is_file():
            return path
    return None


def _native_finding(
    check: NativeCheck, native_dir: Path | None, conf: HadoopConf | None, notes: tuple[str, ...]
) -> Finding:
    table = tuple(
        f"{name}: {'true' if ok else 'false'}{' ' + detail if detail else ''}"
        for name, (ok, detail) in check.libraries.items()
    )
    path_note = "java.library.path: " + (":".join(check.library_path) or "(empty)")
    evidence = ("Hadoop's native check in a JVM started like libhdfs's:", *table, path_note, *notes)
    if check.hadoop:
        where = check.libraries["hadoop"][1]
        return Finding(
            "jvm.native-hadoop",
            "ok",
            f"libhdfs's JVM loads Hadoop's native library ({where}): native checksums and "
            "short-circuit reads are available",
            evidence,
        )
    shipped = _in_dir(native_dir)
    on_path = next((p for p in map(_in_dir, check.library_path) if p is not None), None)
    reason = f"the JVM says: {redact(check.reason)}" if check.reason else None
    short_circuit = conf.get("dfs.client.read.shortcircuit") if conf is not None else None
    if on_path is not None:  # there, and it did not load: a broken library
        return Finding(
            "jvm.E3",
            "warn",
            f"libhdfs's JVM finds {on_path} but cannot load it (E3): Hadoop falls back to its "
            "Java code (no native checksums, no short-circuit reads)",
            (*((reason,) if reason else ()), *evidence),
            fix="the library or one of its dependencies is broken or missing (run "
            f"'ldd {on_path}'); reinstall the Hadoop native libraries, or ignore the "
            "'Unable to load native-hadoop library' warning, which is harmless otherwise",
        )
    if shipped is not None:  # shipped, but the JVM does not look there
        return Finding(
            "jvm.E3",
            "warn",
            f"libhdfs's JVM does not look in {native_dir}, where {shipped.name} is (E3): "
            "Hadoop falls back to its Java code (no native checksums, no short-circuit reads)",
            (*((reason,) if reason else ()), *evidence),
            fix=f"add -Djava.library.path={native_dir} to LIBHDFS_OPTS (mlflow-client-env env "
            "does, unless LIBHDFS_OPTS already sets java.library.path)",
        )
    where = f"no libhadoop.so in {native_dir}" if native_dir else "this Hadoop has no lib/native"
    if (short_circuit or "").strip().lower() == "true":
        return Finding(
            "jvm.E3",
            "warn",
            f"dfs.client.read.shortcircuit is true, but libhdfs's JVM has no Hadoop native "
            f"library ({where}) (E3): short-circuit reads need it, so reads go through the "
            "DataNode",
            (*((reason,) if reason else ()), *evidence),
            fix="install the Hadoop native libraries (libhadoop.so) into the Hadoop lib/native "
            "folder, or set dfs.client.read.shortcircuit to false",
        )
    return Finding(
        "jvm.native-hadoop-absent",
        "ok",
        f"Hadoop's native library is not loaded ({where}): the 'Unable to load native-hadoop "
        "library' warning is harmless here (E3); Hadoop uses its Java code",
        (*((reason,) if reason else ()), *evidence),
    )


def _heap_finding(code: str, whose: str, opts: str | None, heap: Heap) -> Finding:
    """The heap the probe JVM took under ``opts`` (``whose`` LIBHDFS_OPTS): warn (``<code>.E5``)
    when it is large and no heap cap asked for it."""
    tokens = [t for t in (opts or "").split(" ") if t]
    asked = asked_heap(tokens)
    ram = physical_memory()
    shown_opts = f"LIBHDFS_OPTS={redact_then_truncate(opts, 300)}" if opts else "LIBHDFS_OPTS unset"
    evidence = [
        f"MaxHeapSize {heap.max_bytes} ({human(heap.max_bytes)})"
        + (f", set by: {heap.origin}" if heap.origin else ""),
        shown_opts,
        *(redact(p) for p in heap.picked_up),
    ]
    size = human(heap.max_bytes)
    large = heap.max_bytes > LARGE_HEAP
    fix = "cap the heap: LIBHDFS_OPTS='-Xmx512m' (mlflow-client-env env and setup() add it)"
    if asked is None and large:
        default = " (the JVM's default: 1/4 of the memory it sees)" if heap.origin in (
            None, "ergonomic") else ""  # fmt: skip
        if ram:
            evidence.append(f"this machine has {human(ram)} of memory (a cgroup limit may be less)")
        return Finding(
            f"{code}.E5",
            "warn",
            f"{whose} has no -Xmx: libhdfs's JVM may grow to {size}{default} inside the "
            "Python process (E5)",
            tuple(evidence),
            fix=fix,
        )
    if asked is not None and large and heap.max_bytes > asked[0] + HEAP_SLACK:
        return Finding(
            f"{code}.E5",
            "warn",
            f"{whose} asks for {asked[1]}, but libhdfs's JVM takes up to {size}: another "
            "setting overrides it (E5)",
            tuple(evidence),
            fix="drop the larger heap option (_JAVA_OPTIONS, JAVA_TOOL_OPTIONS or a later "
            "-Xmx/-XX:MaxHeapSize in LIBHDFS_OPTS); " + fix,
        )
    why = f"{asked[1]} in {whose}" if asked else "the JVM's default"
    return Finding(
        f"{code}.heap",
        "ok",
        f"libhdfs's JVM would take a heap of at most {size} ({why})",
        tuple(evidence),
    )


def _inherited_heap(ctx: Context, java: Path, opts: str | None) -> Finding:
    """The heap under this process's own LIBHDFS_OPTS (a JVM started here without setup())."""
    blank, _ = _launcher_only(ctx.env)
    argv = [
        str(java),
        "-XX:+IgnoreUnrecognizedVMOptions",
        *[t for t in (opts or "").split(" ") if t],
        "-XX:+PrintFlagsFinal",
        "-version",
    ]
    code = "jvm.inherited"
    try:
        done = ctx.spawn("the JVM probe (inherited heap)", argv, extra_env=blank, cap=JVM_PROBE_CAP)
    except (subprocess.TimeoutExpired, OSError) as exc:
        return Finding(f"{code}.probe-failed", "warn", f"the heap probe JVM failed: {exc}")
    heap = parse_heap(done.stdout, done.stderr)
    if heap is None:
        return Finding(
            f"{code}.probe-failed",
            "warn",
            f"a JVM with this process's LIBHDFS_OPTS did not start (exit {done.returncode})",
            output_tail(done.stdout, done.stderr),
            fix="fix LIBHDFS_OPTS: libhdfs would start its JVM with the same options",
        )
    whose = f"process {ctx.pid}'s LIBHDFS_OPTS" if ctx.pid else "this process's LIBHDFS_OPTS"
    return _heap_finding(code, whose, opts, heap)
