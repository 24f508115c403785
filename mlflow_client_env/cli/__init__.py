"""The ``mlflow-client-env`` command line: one parser, one way to print errors, one exit-code map.

- ``app``: the parser, ``EXIT_CODES`` and
  ``main()`` (the console script ``mlflow-client-env``); ``options``: the discovery options;
- ``env``, ``doctor``, ``explain``: the commands of the same names;
- ``kernels``: ``install-kernel``, ``uninstall-kernel``, ``list-kernels``;
- ``kerberos``: ``ticket``, ``kinit``, ``run``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (mypy honours this)
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """The console script. ``app`` (argparse and every command) is imported here, not when
    the package is: the kernel launcher prints its errors with ``cli.output`` and must not
    pay for the parser at every kernel start."""
    from .app import main as app_main

    return app_main(argv)
