"""The ``mlflow-client-env`` command line: one parser, one way to print errors, one exit-code map.

- ``app``: the parser, ``EXIT_CODES`` and
  ``main()`` (the console script ``mlflow-client-env``); ``options``: the discovery options;
- ``env``, ``doctor``, ``explain``: the commands of the same names;
- ``kernels``: ``install-kernel``, ``uninstall-kernel``, ``list-kernels``;
- ``kerberos``: ``ticket``, ``kinit``, ``run``.
"""

from __future__ import annotations

from .app import main

__all__ = ["main"]
