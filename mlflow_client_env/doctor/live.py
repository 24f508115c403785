"""``doctor --pid``: why does my running kernel fail when a new one works?

Compares what a live process started with (``/proc/PID/environ``) and actually
mapped (``/proc/PID/maps``) with what we would give a new process. A kernel that our
launcher started in its own interpreter set its variables inside the process: they come
from the launcher's record (``jupyter.record``), read only for a process of our own user.
The process is only read: nothing runs with its environment unless it is our own user's
(see :meth:`Context.spawn`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping

from ..errors import MlflowClientEnvError
from ..findings import Finding
from ..forksafety import FIX as FORK_FIX
from ..redact import redact_then_truncate, redact_value
from .context import Context
from .procfs import (
    MappedFile,
    child_pids,
    mapped_libraries,
    own_pid_in_namespace,
    perf_data_mapping,
    read_maps,
    read_perf_data,
    read_status,
    thread_names,
)

#: how much of a variable's value is shown (after redaction)
SHOWN = 200


def shown(name: str, value: str | None) -> str:
    """A variable's value as the report may show it: redacted first, then cut."""
    if value is None:
        return "(unset)"
    return redact_then_truncate(redact_value(name, value), SHOWN)


WATCHED = (
    "CLASSPATH",
    "JAVA_HOME",
    "ARROW_LIBHDFS_DIR",
    "LIBHDFS_OPTS",
    "KRB5CCNAME",
    "HADOOP_CONF_DIR",
    "MLFLOW_TRACKING_URI",
)


def check_live_process(ctx: Context) -> Iterator[Finding]:
    if ctx.pid is None:
        yield Finding("live-process.not-asked", "skip", "no --pid given")
        return
    try:
        libs = mapped_libraries(ctx.pid)
    except MlflowClientEnvError as exc:
        yield Finding("live-process.unreadable", "error", exc.problem, fix=exc.fix)
        return
    out: list[Finding] = []
    foreign = ctx.foreign_reason()
    if foreign is not None:
        out.append(
            Finding(
                "live-process.read-only",
                "warn",
                f"{foreign}. The probes that would run with it (the native load probe, "
                "the HDFS probe) are skipped",
                (
                    "read: /proc/PID/status, environ, maps and its threads' names, the JVM's perf "
                    "data file, and the files they name",
                    "never: LD_PRELOAD, LD_LIBRARY_PATH, PYTHONPATH, JAVA_TOOL_OPTIONS, PATH ... "
                    "of that process in a process of yours",
                ),
                fix=f"as that user: mlflow-client-env doctor --pid {ctx.pid}",
            )
        )
    out += [
        Finding(
            "live-process.mapped",
            "ok",
            f"process {ctx.pid} mapped: "
            + (
                ", ".join(os.path.basename(p) for p in libs.values())
                or "no JVM/HDFS/TLS/Kerberos libraries yet"
            ),
            tuple(f"{k}: {v}" for k, v in libs.items()),
        )
    ]
    yield from out
    # read from /proc and the JVM's perf data alone: no discovery needed
    # a launcher kernel loads libjvm.so at its start (no JVM): which one, its record says
    preloaded = ctx.record.libjvm if ctx.record is not None else None
    yield from jvm_findings(ctx.pid, ctx.env, preloaded=preloaded, preload_unknown=ctx.unrecorded)
    out = []
    env = ctx.composed()
    ours = env.as_dict()
    jvm = libs.get("libjvm.so")
    ours_jvm = env.java.install.libjvm if env.java is not None else None  # None: no JVM path
    if jvm and ours_jvm is not None and os.path.realpath(jvm) != os.path.realpath(ours_jvm):
        out.append(
            Finding(
                "live-process.other-jvm",
                "warn",
                f"it runs the JVM {jvm}, not {ours_jvm}",
                fix="restart the kernel after fixing JAVA_HOME",
            )
        )
    if ctx.record is not None:  # only a launcher kernel has one
        out.append(
            Finding(
                "live-process.recorded",
                "ok",
                f"process {ctx.pid} is a kernel our launcher started in its own interpreter: "
                "it set its variables inside the process, and they are read from the record "
                "the launcher wrote at its start (/proc/PID/environ shows only what it "
                "inherited)",
                (f"record: {ctx.record.path}",)
                + (
                    (f"recorded redacted: {', '.join(ctx.record.masked)}",)
                    if ctx.record.masked
                    else ()
                ),
            )
        )
    elif ctx.unrecorded:
        out.append(
            Finding(
                "live-process.set-inside",
                "skip",
                f"process {ctx.pid} is a kernel our launcher started in its own interpreter: "
                "it set CLASSPATH, JAVA_HOME, ... inside the process, so /proc/PID/environ "
                "shows only what it inherited from Jupyter, and its variables are not "
                f"compared: {ctx.record_problem}",
                fix="to see them, run '!mlflow-client-env doctor' in a cell of that kernel "
                "(the command inherits the kernel's variables) or '%env' there",
            )
        )
    masked = ctx.record.masked if ctx.record is not None else ()
    for name in () if ctx.unrecorded else WATCHED:
        has = ctx.env.get(name)
        new = ours.get(name)
        if ctx.record is not None and name in masked:  # compared as recorded: redacted
            has, new = ctx.record.recorded[name], redact_value(name, new) if new else new
        if name in ours and has != new:
            summary = (
                f"it started without {name}, which a new process would get"
                if has is None
                else f"it started with a different {name} than a new process would get"
            )
            out.append(
                Finding(
                    f"live-process.{name.lower()}",
                    "warn",
                    summary,
                    (
                        f"it has: {shown(name, has or None)}",
                        f"new:     {shown(name, ours[name])}",
                    ),
                    fix="restart the kernel; kernels from 'mlflow-client-env install-kernel' "
                    "resolve the environment at every start",
                )
            )
    yield from out


# --------------------------------------------------------------------------- the JVM inside
#: Name prefixes of HotSpot's own threads, which it names from Java 9 on (Java 8 leaves
#: them with the process's name): a process whose JVM runs has several of them.
HOTSPOT_THREADS = (
    "VM Thread",
    "VM Periodic Tas",
    "GC Thread#",
    "G1 ",
    "C1 CompilerThre",
    "C2 CompilerThre",
    "Reference Handl",
    "Finalizer",
    "Signal Dispatch",
    "Service Thread",
    "Common-Cleaner",
    "Sweeper thread",
    "Monitor Deflati",
    "Notification Th",
)

E4_FIX = FORK_FIX

E5_FIX = (
    "cap the heap before the first HDFS call of a process, e.g. LIBHDFS_OPTS='-Xmx512m' "
    "(mlflow-client-env setup() and 'mlflow-client-env env' add it), then restart the kernel: "
    "a running JVM keeps the limit it started with"
)


def _libjvm(maps: list[MappedFile], name: str = "libjvm.so") -> MappedFile | None:
    jvm = [m for m in maps if m.name == name]
    return min(jvm, key=lambda m: m.start) if jvm else None


def _made_jvm_inherited(child: list[MappedFile], parent: list[MappedFile]) -> bool:
    """Whether ``child`` maps the parent's ``libjava.so`` where the parent does: the JVM loads
    it while it is made, so a child forked before that (from a process that had only loaded
    libjvm.so, as the launcher kernel does at start) does not have it."""
    theirs, mine = _libjvm(parent, "libjava.so"), _libjvm(child, "libjava.so")
    return theirs is not None and mine is not None and _same_mapping(theirs, mine)


def _same_mapping(a: MappedFile, b: MappedFile) -> bool:
    return (a.start, a.dev, a.inode) == (b.start, b.dev, b.inode)


def jvm_findings(
    pid: int,
    env: Mapping[str, str],
    *,
    preloaded: str | None = None,
    preload_unknown: bool = False,
) -> list[Finding]:
    """What the maps, threads and JVM perf data of ``pid`` say about the JVM inside it:
    inherited through fork() (E4), its heap limit (E5), or a failed first load (A4, F2).
    Everything is read from /proc and the perf data file; nothing is run.
    ``preloaded``, ``preload_unknown``: see :func:`failed_load_findings`."""
    try:
        maps = read_maps(pid)
        status = read_status(pid)
    except MlflowClientEnvError as exc:
        return [Finding("live-process.maps-unreadable", "warn", exc.problem, fix=exc.fix)]
    failed = failed_load_findings(pid, maps, preloaded=preloaded, preload_unknown=preload_unknown)
    jvm = _libjvm(maps)
    if jvm is None:
        return failed
    forked = fork_findings(pid, maps, status, jvm)
    out = [*failed, *forked, *children_findings(pid, maps, status, jvm)]
    if not forked and not any(f.status == "error" for f in failed):
        # a JVM inherited through fork(), or never made (libhdfs failed), has no heap to judge
        out += heap_findings(pid, maps, status, env)
    return out


def _jvm_threads(pid: int) -> list[str] | None:
    try:
        names = thread_names(pid)
    except MlflowClientEnvError:
        return None
    return [n for n in names if n.startswith(HOTSPOT_THREADS)]


def fork_findings(
    pid: int, maps: list[MappedFile], status: Mapping[str, str], jvm: MappedFile
) -> list[Finding]:
    """E4: ``pid`` maps a JVM that another process started, and so has none of its threads.

    Evidence, strongest first: the JVM's perf data file, which HotSpot names after the pid
    of the process that created the JVM, names another process; else (no perf data,
    -XX:-UsePerfData) libjvm.so is mapped at the very address, device and inode where its
    parent maps it, which a library loaded on its own would not be (address randomisation),
    the parent's JVM runs (its HotSpot threads, named from Java 9 on), and none of HotSpot's
    own threads runs here. Java 8 with -XX:-UsePerfData leaves no such trace: not reported."""
    me = own_pid_in_namespace(dict(status), pid)
    threads = status.get("Threads", "?")
    jvm_threads = _jvm_threads(pid)
    if jvm_threads:  # HotSpot's threads run here: this process's JVM is alive
        return []
    evidence: list[str] = []
    creator: int | None = None
    perf = perf_data_mapping(maps)
    if perf is not None:
        creator = int(perf.name)
        if creator == me:
            return []
        evidence.append(
            f"its JVM perf data file {perf.path} is named after process {creator}, "
            f"the process that created the JVM, not after this one ({me})"
        )
    ppid = int(status.get("PPid", "0") or 0)
    parent_maps: list[MappedFile] = []
    if ppid > 1:
        try:
            parent_maps = read_maps(ppid)
        except MlflowClientEnvError:
            parent_maps = []
    parent_jvm = _libjvm(parent_maps)
    inherited = parent_jvm is not None and _same_mapping(parent_jvm, jvm)
    if inherited and perf is None and not _jvm_threads(ppid):
        # without perf data, only a parent whose JVM visibly runs shows one was made (a
        # libjvm.so loaded by a failed libhdfs attempt and inherited is no JVM)
        inherited = perf_data_mapping(parent_maps) is not None
    if inherited and perf is None and not _made_jvm_inherited(maps, parent_maps):
        inherited = False  # forked before its parent made the JVM: the libjvm.so alone came
    if inherited:
        evidence.append(
            f"libjvm.so is mapped at {jvm.start:#x} (inode {jvm.inode}), the same mapping as in "
            f"its parent process {ppid}: inherited through fork(), not loaded here"
        )
    if perf is None and not inherited:
        return []
    evidence.append(
        f"{threads} thread(s), none of them the JVM's"
        + (
            " (a running JVM has a VM Thread, GC and compiler threads)"
            if jvm_threads is not None
            else ""
        )
    )
    origin = creator if creator is not None else ppid
    return [
        Finding(
            "live-process.E4",
            "warn",
            f"process {pid} was forked from process {origin} after that process had started "
            "its JVM: the JVM's threads did not come along, so an HDFS call here blocks "
            "forever (E4)",
            tuple(evidence),
            fix=E4_FIX,
        )
    ]


def children_findings(
    pid: int, maps: list[MappedFile], status: Mapping[str, str], jvm: MappedFile
) -> list[Finding]:
    """E4 seen from the parent: children of ``pid`` that inherited its libjvm.so mapping
    after its JVM was made. A libjvm.so loaded but with no JVM made yet (the launcher kernel
    loads one at its start) leaves nothing a child could block on; a child forked before
    the JVM was made (it lacks the ``libjava.so`` the JVM loads) got none either."""
    made = perf_data_mapping(maps) or _jvm_threads(pid) or _libjvm(maps, "libjava.so")
    if not made:
        return []  # no JVM made in the parent: nothing to inherit
    try:
        kids = child_pids(pid)
    except MlflowClientEnvError:
        return []
    forked: list[int] = []
    for kid in kids[:200]:
        try:
            kid_maps = read_maps(kid)
        except MlflowClientEnvError:
            continue
        kid_jvm = _libjvm(kid_maps)
        inherited = kid_jvm is not None and _same_mapping(kid_jvm, jvm)
        if inherited and _made_jvm_inherited(kid_maps, maps) and not _jvm_threads(kid):
            forked.append(kid)
    if not forked:
        return []
    shown_kids = ", ".join(str(k) for k in forked[:20]) + (" ..." if len(forked) > 20 else "")
    return [
        Finding(
            "live-process.children.E4",
            "warn",
            f"{len(forked)} child process(es) of process {pid} ({shown_kids}) were forked after "
            "its JVM started: an HDFS call in them blocks forever (E4)",
            (f"they map its libjvm.so at {jvm.start:#x} (inode {jvm.inode}) without its threads",),
            fix=E4_FIX,
        )
    ]


#: A heap cap among JVM options, as HotSpot reads them (the last one wins).
_HEAP_OPTION = re.compile(
    r"^(-Xmx\S+|-XX:MaxHeapSize=\S+|-XX:MaxRAMPercentage=\S+|-XX:MaxRAMFraction=\S+"
    r"|-XX:MaxRAM=\S+)$"
)


def heap_option(*option_strings: str) -> str | None:
    """The heap cap that wins among JVM option strings given in the order HotSpot applies
    them (JAVA_TOOL_OPTIONS, the options of JNI_CreateJavaVM, _JAVA_OPTIONS)."""
    found = None
    for options in option_strings:
        for token in options.split():
            if _HEAP_OPTION.match(token):
                found = token
    return found


def perf_max_heap(counters: Mapping[str, int | str]) -> int | None:
    """The heap limit a JVM reports in its perf data: its two generations' maximum, which for
    G1 (regions that either can take) is each the whole heap."""
    young = counters.get("sun.gc.generation.0.maxCapacity")
    old = counters.get("sun.gc.generation.1.maxCapacity")
    if not isinstance(young, int) or not isinstance(old, int):
        return None
    policy = str(counters.get("sun.gc.policy.name", ""))
    return max(young, old) if "GarbageFirst" in policy or "G1" in policy else young + old


def _mib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n // (1 << 20)} MiB"


def heap_findings(
    pid: int, maps: list[MappedFile], status: Mapping[str, str], env: Mapping[str, str]
) -> list[Finding]:
    """E5: the heap limit of the JVM in ``pid``, from its options as the JVM itself records
    them (its perf data file). libhdfs starts that JVM with LIBHDFS_OPTS as it was in the
    process's environment at the first HDFS call; /proc/PID/environ shows only the
    environment the process started with, not a LIBHDFS_OPTS set inside it (setup() sets it
    there), so it is the fallback when there is no perf data (-XX:-UsePerfData)."""
    tool, late = env.get("JAVA_TOOL_OPTIONS", ""), env.get("_JAVA_OPTIONS", "")
    start_opts = env.get("LIBHDFS_OPTS")
    evidence = [f"LIBHDFS_OPTS it started with: {shown('LIBHDFS_OPTS', start_opts)}"]
    perf = perf_data_mapping(maps)
    if perf is None and _jvm_threads(pid) == []:
        return []  # libjvm.so is loaded, but no JVM runs (none made yet): no heap to judge
    counters: Mapping[str, int | str] | None = None
    why_not = "the JVM keeps no perf data file (-XX:-UsePerfData)"
    if perf is not None:
        try:
            counters = read_perf_data(pid, perf)
        except MlflowClientEnvError as exc:
            why_not = exc.problem
        except ValueError as exc:
            why_not = f"{perf.path} cannot be read as JVM perf data: {exc}"
    if counters is not None and perf is not None:
        vm_args = str(counters.get("java.rt.vmArgs", ""))
        cap = heap_option(tool, vm_args, late)
        limit = perf_max_heap(counters)
        opts = redact_then_truncate(redact_value("LIBHDFS_OPTS", vm_args), 800)
        evidence.insert(0, f"JVM options (from its perf data {perf.path}): {opts}")
        if limit is not None:
            evidence.append(f"heap limit the JVM reports: {_mib(limit)}")
        if cap is not None:
            size = f"{_mib(limit)} " if limit is not None else ""
            return [
                Finding(
                    "live-process.heap",
                    "ok",
                    f"the JVM in process {pid} has a max heap {size}set by {cap} (E5)",
                    tuple(evidence),
                )
            ]
        grows = (
            f"up to {_mib(limit)}" if limit is not None else "to a quarter of the memory it sees"
        )
        return [
            Finding(
                "live-process.E5",
                "warn",
                f"the JVM in process {pid} runs without -Xmx: its heap may grow {grows} (by "
                "default a quarter of the memory the JVM sees), far more than an HDFS client "
                "needs (E5)",
                tuple(evidence),
                fix=E5_FIX,
            )
        ]
    cap = heap_option(tool, start_opts or "", late)
    evidence.append(f"its own JVM options cannot be read: {why_not}")
    if cap is not None:
        return [
            Finding(
                "live-process.heap",
                "ok",
                f"the environment process {pid} started with caps the JVM heap with {cap} (E5); "
                "its JVM's own options cannot be read to confirm it",
                tuple(evidence),
            )
        ]
    return [
        Finding(
            "live-process.E5",
            "warn",
            f"no heap cap for the JVM in process {pid} is visible: the environment it started "
            "with has no -Xmx in LIBHDFS_OPTS, and the JVM's own options cannot be read; unless "
            "LIBHDFS_OPTS was set inside the process (setup() does that), its heap may grow to "
            "a quarter of the memory it sees (E5)",
            tuple(evidence),
            fix=E5_FIX,
        )
    ]


def failed_load_findings(
    pid: int,
    maps: list[MappedFile],
    *,
    preloaded: str | None = None,
    preload_unknown: bool = False,
) -> list[Finding]:
    """A4/F2: pyarrow's HDFS extension is loaded, but the libraries its first HDFS call loads
    are not all there. pyarrow loads libjvm.so, then libhdfs.so, once per process, and keeps
    a failure for good ("Prior attempt to load libhdfs failed").

    A launcher kernel started in its own interpreter loads a libjvm.so at its start
    (``preloaded``, from its record): that mapping is no evidence of a pyarrow attempt, another
    libjvm.so still is. ``preload_unknown``: such a kernel without a record, where no libjvm.so
    mapping can be told from the launcher's (the evidence is lost there)."""
    ext = [m for m in maps if "/pyarrow/" in m.path and m.name.startswith(("_hdfs.", "_hdfsio."))]
    if not ext:
        return []
    own = os.path.realpath(preloaded) if preloaded else None
    has_jvm = not preload_unknown and any(
        m.name == "libjvm.so" and os.path.realpath(m.path) != own for m in maps
    )
    has_hdfs = any(m.name.startswith("libhdfs.so") for m in maps)
    jpype = any(m.name.startswith("_jpype") for m in maps)  # JPype loads libjvm.so itself
    if has_hdfs:
        return []
    evidence = (f"pyarrow's HDFS module: {ext[0].path}",)
    if has_jvm and not jpype:
        return [
            Finding(
                "live-process.F2",
                "error",
                f"process {pid} loaded libjvm.so but not libhdfs.so: pyarrow's first attempt to "
                "load libhdfs failed there, and pyarrow keeps that failure for the life of the "
                "process ('Prior attempt to load libhdfs failed'), whatever ARROW_LIBHDFS_DIR "
                "says now (A4, F2)",
                evidence,
                fix="restart the kernel (with the environment 'mlflow-client-env doctor' "
                "approves, or from 'mlflow-client-env install-kernel')",
            )
        ]
    if has_jvm:
        return []
    # Not a warning: every kernel that imported mlflow (which imports pyarrow's HDFS module)
    # and has not used HDFS yet looks exactly like this. Said, for the user who knows HDFS
    # already failed there.
    return [
        Finding(
            "live-process.no-jvm-yet",
            "ok",
            f"pyarrow's HDFS module is loaded in process {pid} but no JVM is: HDFS was not "
            "used there yet, or its first load of libjvm failed, which pyarrow keeps for the "
            "life of the process (A4, F2)",
            evidence,
            fix="if HDFS fails there with 'Prior attempt to load libhdfs failed', restart the "
            "kernel after fixing JAVA_HOME",
        )
    ]
