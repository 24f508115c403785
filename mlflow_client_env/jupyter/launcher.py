"""The kernel launcher: resolve the environment at every kernel start, then start ipykernel.

Why: the dynamic loader reads LD_LIBRARY_PATH only at process start and the
JVM reads CLASSPATH once (catalog E2), and a kernel inherits the Jupyter
server's environment, not ``.bashrc`` (G1). So ``kernel.json`` runs
``python -m mlflow_client_env.kernel -f {connection_file} [settings]`` (the shim); this
module resolves the environment (the *current* parcel, so an upgrade needs no
reinstall), sets every variable, and starts ipykernel with it.

Where ipykernel starts (same pid either way: interrupts still work):

- *Here*, in this interpreter, when nothing read only at process start changed
  (``hdfs_client=native`` changes nothing for the loader), or when the only change is the
  JVM's folder appended to ``LD_LIBRARY_PATH`` (catalog A3). That folder is there so that a
  library needing ``libjvm.so`` (libhdfs loaded by ``ctypes``, a native HDFS binding) finds
  it; this module loads that ``libjvm.so`` now instead (:func:`load_libjvm`), and the loader
  gives it to every later library that needs ``libjvm.so``. It makes no JVM: CLASSPATH and
  LIBHDFS_OPTS are still read at the first HDFS access. Child processes get the new
  ``LD_LIBRARY_PATH``. This saves a second interpreter start (issue 10: ~15-20 ms).
- In a new interpreter (``os.execve`` of ``python -m ipykernel_launcher``) otherwise:
  another ``--python``, ``PYTHONPATH``, the legacy ``LD_LIBRARY_PATH``, or a ``libjvm.so``
  that cannot be loaded.

If resolution fails the kernel still starts: the problem goes to stderr (the
kernel log) and, through the kernel's IPython extension (:mod:`.extension`), into the
output of the first cell the user runs. Never a dead kernel with no message. The extension
also captures the kernel's fd 2 (``stderr_capture``), where the JVM writes the
reason for an HDFS failure, so that the cell's explainer (``ipython_hook``) can name it.

Kernel start time matters (the target: <= +35 ms over plain ipykernel): this module never
imports mlflow, pyarrow or gssapi, nor argparse (its options are parsed by hand, from
``config.SETTINGS``, see :func:`parse_args`); it prints as every front end does
(``cli.output.say``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from importlib.util import find_spec
from types import SimpleNamespace

from ..cli.output import say
from ..config import SETTINGS, resolve_overrides
from ..discovery import plan_ticket, resolve
from ..errors import MlflowClientEnvError, speaking
from ..jvm import preload
from ..kerberos.profile import discover_kerberos
from ..kerberos.readiness import ticket_readiness
from ..pathlist import appended
from ..redact import redact, url_has_credentials
from .extension import EXTENSION, MESSAGE_VAR, PREFIX, SHIM, STATUS_VAR, load_ipython_extension
from .record import write

TYPE_CHECKING = False  # typing is not imported at run time (import cost; mypy honours this)
if TYPE_CHECKING:
    from typing import Any, NoReturn

#: ``load_ipython_extension``: this module was the kernel's extension until the extension got
#: its own module; a launcher of that version exec'ing into this one still names it.
__all__ = [
    "EXTENSION", "MESSAGE_VAR", "SHIM", "STATUS_VAR",
    "load_ipython_extension", "main", "parse_args", "prepare",
]  # fmt: skip


USAGE = (
    "usage: python -m mlflow_client_env.kernel -f CONNECTION_FILE [--SETTING VALUE ...]\n"
    "       [--experiment NAME] [--keytab PATH] [--principal NAME] [--exact-classpath]\n"
    "       [--python PATH] [-- IPYKERNEL_ARGS ...]\n\n"
    "Resolve the MLflow/Hadoop environment, then start ipykernel with it. Written into\n"
    "kernel.json by 'mlflow-client-env install-kernel'; arguments after '--' go to ipykernel.\n"
    "The settings are install-kernel's: {settings}."
)


def parse_args(argv: Sequence[str]) -> SimpleNamespace:
    """The launcher's options (what install-kernel wrote into kernel.json).

    Parsed by hand, not with argparse: this runs at every kernel start, and argparse
    costs a few ms to import. ``--opt value`` and ``--opt=value``; an unknown or
    incomplete option is exit 2 with the usage, as argparse would do.
    """
    values: dict[str, str | None] = {s.name: None for s in SETTINGS}
    values.update(connection_file=None, experiment=None, keytab=None, principal=None)
    options = {s.option: s.name for s in SETTINGS}
    options.update(
        {"-f": "connection_file", "--experiment": "experiment", "--keytab": "keytab"},
        **{"--principal": "principal", "--python": "python"},
    )
    values["python"] = sys.executable
    exact = False
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg in ("-h", "--help"):
            print(USAGE.format(settings=", ".join(s.option for s in SETTINGS)))
            raise SystemExit(0)
        if arg == "--exact-classpath":
            exact = True
            continue
        name, eq, value = arg.partition("=")
        if arg.startswith("-f") and not arg.startswith("--") and len(arg) > 2:
            name, eq, value = "-f", "=", arg[2:]  # -fPATH, as argparse takes it
        if name not in options:
            _usage_error(f"unrecognized argument: {arg}")
        if not eq:
            if not rest or (rest[0].startswith("-") and rest[0] in options):
                _usage_error(f"argument {name}: expected one value")
            value = rest.pop(0)
        values[options[name]] = value
    if not values["connection_file"]:
        _usage_error("the following argument is required: -f")
    return SimpleNamespace(exact_classpath=exact, **values)


def _usage_error(problem: str) -> NoReturn:
    print(USAGE.splitlines()[0], file=sys.stderr)
    say("error", problem, prog=PREFIX)
    raise SystemExit(2)


def ticket_notes(resolved: Any) -> list[str]:
    """A cheap ticket check at kernel start: is the FILE cache Java will read there,
    readable, for the cluster's realm, and not expired or expiring?

    The same check as ``setup()`` and ``env`` (``kerberos.readiness.ticket_readiness``),
    with ``gssapi=False``: a FILE cache is read with ``struct``; gssapi, which would cost
    kernel start time, is never imported. On the JVM path a KEYRING/KCM cache is copied to a
    FILE cache (or reported, as ``kerberos.cache-not-java-readable``); with
    ``hdfs_client=native`` hdfs-native reads it as it is, unchecked here (``setup()`` and
    the doctor check it through gssapi). Only notes, not errors:
    Java reads the cache at the first HDFS access, so a 'kinit' in a terminal after the
    kernel started is enough (no restart).
    """
    st, findings = ticket_readiness(resolved, gssapi=False)
    fix = "run 'kinit' in a terminal before logging artifacts (no kernel restart needed)"
    refused = "so HDFS will refuse the client (GSS initiate failed)"
    notes = []
    for f in findings:
        if f.status == "ok":
            continue
        if st is not None and st.state == "missing":
            notes.append(f"no Kerberos ticket: {st.message}, {refused}\n  fix: {fix}")
        elif st is not None and st.state == "expired" and st.expires_at is not None:
            ended = st.expires_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            notes.append(
                f"the Kerberos ticket in {st.ccache} expired at {ended}, {refused}\n  fix: {fix}"
            )
        else:
            notes.append(f.summary + (f"\n  fix: {f.fix}" if f.fix else ""))
    return notes


def prepare(args: Any, environ: dict[str, str]) -> tuple[dict[str, str], list[str], list[str]]:
    """The kernel's environment, the problems (errors) and the notes (warnings).

    Never raises for a resolution problem: the kernel must start anyway.
    """
    env = dict(environ)
    env.pop(MESSAGE_VAR, None)  # never inherit a stale message
    problems: list[str] = []
    notes: list[str] = []
    try:
        # check before acting: plan the login/copy, discover, and only then carry it out;
        # the Kerberos facts are read once, for both
        kerberos = discover_kerberos(env)
        overrides = resolve_overrides(
            {spec.name: getattr(args, spec.name) for spec in SETTINGS}, env
        )
        plan = plan_ticket(overrides, env, args.keytab, args.principal, kerberos)
        done = resolve(
            overrides, env, plan, kerberos,
            experiment=args.experiment, exact_classpath=args.exact_classpath,
        )  # fmt: skip
        resolved, login_findings = done.environment, done.findings
        notes += [f.summary + (f"\n  fix: {f.fix}" if f.fix else "") for f in login_findings]
    except MlflowClientEnvError as exc:
        problems.append(f"{exc.problem}\n  fix: {exc.fix}")
    except Exception as exc:  # a bug must not kill the kernel either
        problems.append(
            f"unexpected {type(exc).__name__}: {exc}\n  fix: run 'mlflow-client-env env' in a "
            "terminal for details, and report this as a bug of mlflow-client-env"
        )
    else:
        env.update(resolved.as_dict())
        for f in resolved.findings:
            line = f.summary + (f"\n  fix: {f.fix}" if f.fix else "")
            (problems if f.status == "error" else notes).append(line)
        if done.made_ccache is None:  # the ticket HDFS will use (none: not Kerberized)
            notes += ticket_notes(resolved)
    # What the user gave at install time is exported whatever failed above (an argument beats
    # the inherited environment, as in compose()): without it MLflow would silently log to a
    # local ./mlruns or sqlite file instead of the tracking server.
    if args.tracking_uri and env.get("MLFLOW_TRACKING_URI") != args.tracking_uri:
        if url_has_credentials(args.tracking_uri):
            problems.append(
                "the kernel's tracking URI carries credentials and is not exported\n  fix: "
                "reinstall the kernel with a URI without them; give MLflow the credentials "
                "through MLFLOW_TRACKING_USERNAME/PASSWORD or ~/.mlflow/credentials"
            )
        else:
            env["MLFLOW_TRACKING_URI"] = args.tracking_uri
    if args.experiment:
        env["MLFLOW_EXPERIMENT_NAME"] = args.experiment
    env[STATUS_VAR] = "launcher error" if problems else "launcher ok"
    return env, problems, notes


def message(problems: Sequence[str], notes: Sequence[str]) -> str:
    """The text shown in the kernel log and in the notebook's first cell."""
    if problems:
        head = (
            f"{PREFIX}: this kernel started WITHOUT a working Hadoop/MLflow environment, "
            "so logging artifacts to HDFS will fail:"
        )
    else:
        head = f"{PREFIX}: note:"
    body = [f"- {redact(p)}" for p in (*problems, *notes)]  # shown in a notebook: no secret
    tail = (
        [
            "Fix it (an --option named above is one of 'mlflow-client-env install-kernel'), "
            "then restart the kernel (Kernel > Restart). Details: mlflow-client-env env --explain"
        ]
        if problems
        else []
    )
    return "\n".join([head, *body, *tail])


#: Read by the dynamic loader or the interpreter when a process starts, never later: a
#: change to one of them needs a new process (catalog E2).
START_PREFIXES = ("LD_", "PYTHON")


def read_at_start(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """The variables that differ between ``before`` and ``after`` and are read only at
    process start (``LD_LIBRARY_PATH``, ``PYTHONPATH``...): why the kernel needs its own
    process; empty when it can start in this one."""
    names = set(before) | set(after)
    return sorted(
        n for n in names if n.startswith(START_PREFIXES) and before.get(n) != after.get(n)
    )


def load_libjvm(before: Mapping[str, str], after: Mapping[str, str]) -> str | None:
    """The ``libjvm.so`` that lets this process take ``after`` without a new start, now
    loaded: the only variable read at start that changed is ``LD_LIBRARY_PATH``, by one
    folder appended, whose ``libjvm.so`` is loaded here (``jvm.preload``: ``RTLD_LOCAL``, no
    JVM made) and is what the loader gives a library that needs ``libjvm.so``.

    None, and nothing else is loaded, when that is not so; a ``libjvm.so`` that is found but
    has another SONAME stays loaded, harmless, until the ``execve`` that follows.
    """
    if read_at_start(before, after) != ["LD_LIBRARY_PATH"]:
        return None
    added = appended(before.get("LD_LIBRARY_PATH"), after.get("LD_LIBRARY_PATH"))
    if added is None or len(added) != 1 or not os.path.isabs(added[0]):
        return None
    path = os.path.join(added[0], "libjvm.so")
    try:
        preload(path)
    except OSError:
        return None
    return path


def start_here(
    env: Mapping[str, str], kernel_args: Sequence[str], *, libjvm: str | None = None
) -> NoReturn:
    """Start ipykernel in this process, as ``python -m ipykernel_launcher`` would, with
    ``env`` as the environment: when nothing read only at process start changed (see the
    module's docstring), a second interpreter's start would only cost time. Same pid, as
    with ``execve``. What was set here, and the ``libjvm`` loaded at start (if any), is
    recorded for ``doctor --pid`` (``record``)."""
    inherited = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:  # for doctor --pid: /proc/PID/environ will not show what was set here
        write(inherited, env, libjvm=libjvm)
    except Exception as exc:  # never at the cost of the kernel (no home, a full disk...)
        say(
            "note",
            "'doctor --pid' will not see this kernel's variables: "
            f"{getattr(exc, 'problem', None) or repr(exc)}",
            prog=PREFIX,
        )
    if sys.path and (sys.path[0] == "" or os.path.abspath(sys.path[0]) == os.getcwd()):
        del sys.path[0]  # as ipykernel_launcher does; IPython puts it back
    # sys.argv[0] as under 'python -m ipykernel_launcher': code that tells a notebook kernel
    # by it sees the same
    launcher_spec = find_spec("ipykernel_launcher")
    first = launcher_spec.origin if launcher_spec and launcher_spec.origin else sys.argv[0]
    sys.argv = [first, *kernel_args]
    from ipykernel import kernelapp  # here: only a kernel started in this process needs it

    kernelapp.launch_new_instance(argv=list(kernel_args))
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, passthrough = argv[:i], argv[i + 1 :]
    args = parse_args(argv)
    with speaking("cli"):  # the kernel's settings are install-kernel's options: say --parcel
        env, problems, notes = prepare(args, dict(os.environ))
    kernel_argv = [args.python, "-m", "ipykernel_launcher", "-f", args.connection_file]
    if problems or notes:
        text = message(problems, notes)
        print(text, file=sys.stderr, flush=True)
        env[MESSAGE_VAR] = text
    kernel_argv.append(f"--IPKernelApp.extra_extensions={EXTENSION}")
    kernel_argv += passthrough
    if args.python == sys.executable:
        if not read_at_start(os.environ, env):
            start_here(env, kernel_argv[3:])  # never returns
        libjvm = load_libjvm(os.environ, env)
        if libjvm is not None:
            start_here(env, kernel_argv[3:], libjvm=libjvm)
    try:
        os.execve(args.python, kernel_argv, env)
    except OSError as exc:
        say(
            "error",
            f"cannot start {args.python}: {exc.strerror}",
            "re-run 'mlflow-client-env install-kernel' with a working --python",
            prog=PREFIX,
        )
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
