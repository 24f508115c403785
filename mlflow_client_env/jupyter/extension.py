"""The IPython extension every launcher kernel loads, and the names a launcher kernel goes by.

The launcher (:mod:`.launcher`) resolves the environment and starts ipykernel with
``--IPKernelApp.extra_extensions=`` this module. In the kernel, :func:`load_ipython_extension`
captures fd 2, installs the cell explainer (``ipython_hook``) and shows the launcher's
message in the first cell's output. It is its own module so that a kernel the launcher
exec'd into another interpreter imports only this, not the discovery code.
"""

from __future__ import annotations

import os
import sys

from ..cli.output import say
from .ipython_hook import install, watch_stderr

TYPE_CHECKING = False  # typing is not imported at run time (import cost; mypy honours this)
if TYPE_CHECKING:
    from typing import Any

#: What kernel.json runs (``-m``): a shim kept forever, existing kernel.json files name it.
SHIM = "mlflow_client_env.kernel"
#: The launcher's own module, which ``-m`` also runs.
LAUNCHER = "mlflow_client_env.jupyter.launcher"
#: This module, as ipykernel's ``extra_extensions`` names it.
EXTENSION = "mlflow_client_env.jupyter.extension"
#: Carries the launcher's message into the kernel, where the extension shows it once.
MESSAGE_VAR = "MLFLOW_CLIENT_ENV_KERNEL_MESSAGE"
#: Set in every kernel we launch: "launcher ok" or "launcher error".
STATUS_VAR = "MLFLOW_CLIENT_ENV_KERNEL"
#: How the launcher and its kernel sign what they print (``cli.output.say``'s prog).
PREFIX = "mlflow-client-env kernel"


def load_ipython_extension(ipython: Any) -> None:
    """Capture fd 2, explain HDFS/JVM errors in cells, and print the launcher's message
    (MESSAGE_VAR) in the output of the first cell run.

    fd 2 is captured here, in the kernel process, not in the launcher's ``main()``:
    ``execve`` keeps file descriptors but no thread, and the reader thread and its ring
    must live in the process whose cells the explainer reads them for (a helper process
    would need a channel back and would outlive the kernel). It costs a pipe, two dups and
    one thread at start.
    """
    try:
        watch_stderr(ipython)  # first: the JVM may write before the first cell
    except Exception as exc:  # never at the cost of the explainer or the launcher's message
        say("note", f"stderr not captured: {exc!r}", prog=PREFIX, stream=sys.__stderr__)
    install(ipython)
    text = os.environ.pop(MESSAGE_VAR, None)
    if not text:
        return

    def show(*_info: object) -> None:
        ipython.events.unregister("pre_run_cell", show)
        print(text, file=sys.stderr, flush=True)

    ipython.events.register("pre_run_cell", show)
