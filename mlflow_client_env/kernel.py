"""``python -m mlflow_client_env.kernel``: the kernel launcher's stable entry point.

Every ``kernel.json`` written by ``install-kernel`` (this version and every earlier one)
runs this module, so it is kept forever, whatever moves inside the package. The launcher
itself is :mod:`mlflow_client_env.jupyter.launcher`.
"""

from __future__ import annotations

from .jupyter.launcher import main

if __name__ == "__main__":
    main()
