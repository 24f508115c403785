"""The ``mlflow-client-env`` parser, and the one place where an exception becomes an exit code.

Exit codes (the README has the same table):

== =====================================================================================
0  success (warnings allowed)
1  the command ran and found a problem: ``env`` could not compose a working environment,
   ``doctor`` found an error, ``ticket`` has no usable ticket, a login failed
2  bad input or usage (a typed error with its fix on stderr), or argparse's usage error
70  an internal error (a bug of ours); ``MLFLOW_CLIENT_ENV_DEBUG=1`` shows the traceback
127 ``run``: the command could not be started (as a shell says)
130 interrupted (Ctrl-C)
== =====================================================================================
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence

from .. import __version__
from ..errors import (
    CacheTargetError,
    CommandStartError,
    HadoopNotFoundError,
    JavaNotFoundError,
    KeytabError,
    KinitError,
    MlflowClientEnvError,
    speaking,
)
from . import doctor, env, explain, kerberos, kernels, output
from .options import discovery_options

#: Exception class -> exit code. The first class of an exception's MRO found here decides,
#: as in pip's base_command: a keytab that cannot be used is bad input (2), a login that the
#: KDC refused is a failure of the command (1).
EXIT_CODES: dict[type[BaseException], int] = {
    KeyboardInterrupt: 130,
    CommandStartError: 127,
    KeytabError: 2,
    CacheTargetError: 2,  # a cache path that is not ours to write: bad input, not a failed login
    KinitError: 1,
    HadoopNotFoundError: 1,  # nothing wrong with the input: there is no Hadoop (doctor: 1 too)
    JavaNotFoundError: 1,
    MlflowClientEnvError: 2,
}


#: A bug of ours (an exception that is not one of the typed errors): EX_SOFTWARE.
INTERNAL_ERROR = 70


def exit_code_for(exc: BaseException) -> int | None:
    """The exit code ``EXIT_CODES`` gives ``exc`` (None: not ours, a bug)."""
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return None


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: one parser, each command group adds its own subcommands."""
    parser = argparse.ArgumentParser(
        prog=output.PROG,
        description="Make, and explain, the environment an MLflow client needs to log "
        "artifacts to HDFS on a Kerberized Cloudera cluster (pyarrow -> libhdfs -> JVM).",
        epilog="Run 'mlflow-client-env COMMAND --help' for a command's options and examples. "
        "Exit codes: 0 ok, 1 a problem was found, 2 bad input, 70 internal error, 127 run's "
        "command could not start, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    disc = discovery_options()
    for group in (env, kernels, kerberos, doctor, explain):
        group.add_commands(sub, disc)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: run one command, print any typed error once, map it to a code."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        with speaking("cli"):  # messages name settings as options: --parcel, not setup(parcel=...)
            return func(args)
    except (MlflowClientEnvError, KeyboardInterrupt) as exc:
        code = exit_code_for(exc)
        assert code is not None
        if isinstance(exc, MlflowClientEnvError):
            output.error(exc.problem, exc.fix)
        return code
    except Exception as exc:  # a bug of ours: say so plainly, the traceback only when asked
        if os.environ.get("MLFLOW_CLIENT_ENV_DEBUG"):
            raise
        output.say(
            "internal error",
            f"{type(exc).__name__}: {exc}",
            "this is a bug of mlflow-client-env: please report it, with the traceback that "
            "MLFLOW_CLIENT_ENV_DEBUG=1 shows",
        )
        return INTERNAL_ERROR
