"""In a notebook, follow an HDFS/JVM/Kerberos error with its catalog entry and fix.

The raw ``OSError`` from pyarrow or a JVM stack trace says little; after the
usual traceback we print which link broke and what to change (``explain``).
Installed by ``setup()`` when it runs under IPython, and by every kernel that
``install-kernel`` made. It never replaces a handler someone else installed.
"""

from __future__ import annotations

import sys
from typing import Any

MARK = "_mlflow_client_env_explainer"


def install(ipython: Any) -> bool:
    """Install the explainer on ``ipython``; False if another custom handler is there."""
    if getattr(ipython, MARK, False):
        return True
    if getattr(ipython, "custom_exceptions", ()):
        return False

    def handler(
        shell: Any,
        etype: type[BaseException],
        evalue: BaseException,
        tb: Any,
        tb_offset: int | None = None,
    ) -> None:
        shell.showtraceback((etype, evalue, tb), tb_offset=tb_offset)
        from ..doctor.catalog import explain

        exp = explain(evalue)
        if exp is not None:
            print(
                f"\nmlflow-client-env: {exp.title} {exp.label}\n  fix: {exp.fix}\n"
                "  more: run 'mlflow-client-env doctor' in a terminal",
                file=sys.stderr,
            )

    ipython.set_custom_exc((Exception,), handler)
    setattr(ipython, MARK, True)
    return True


def install_if_running() -> bool:
    """Install on the running IPython shell, if this process has one."""
    if "IPython" not in sys.modules:
        return False
    get = getattr(sys.modules["IPython"], "get_ipython", None)
    ip = get() if get else None
    return install(ip) if ip is not None else False
