"""``python -m mlflow_client_env`` runs the CLI."""

from .cli import main

raise SystemExit(main())
