"""mlflow-client-env: the environment an MLflow client needs on Kerberized Cloudera Hadoop.

``import mlflow_client_env; mlflow_client_env.setup()`` in a notebook. Heavy
modules (mlflow, pyarrow, gssapi) are imported only when a function needs them.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (import cost; mypy honours this)

__version__ = "0.1.0"
__all__ = [
    "MlflowClientEnvError",
    "build_environment",
    "explain",
    "keep_ticket_fresh",
    "setup",
    "spark_conf",
]

if TYPE_CHECKING:
    from typing import Any

    from .discovery import build_environment
    from .doctor.catalog import explain
    from .errors import MlflowClientEnvError
    from .kerberos.renew import keep_ticket_fresh
    from .session import setup
    from .spark import spark_conf

_LAZY = {
    "setup": ".session",
    "build_environment": ".discovery",
    "MlflowClientEnvError": ".errors",
    "explain": ".doctor.catalog",
    "keep_ticket_fresh": ".kerberos.renew",
    "spark_conf": ".spark",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
