"""Progress lines on stderr, so a slow first run never looks hung."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: Set MLFLOW_CLIENT_ENV_SANDBOX_QUIET=1 to silence progress output.
QUIET_ENV = "MLFLOW_CLIENT_ENV_SANDBOX_QUIET"


def say(message: str) -> None:
    """Print one progress line to stderr (unless silenced)."""
    if os.environ.get(QUIET_ENV, "") not in ("", "0"):
        return
    print(f"sandbox: {message}", file=sys.stderr, flush=True)


@contextmanager
def step(message: str) -> Iterator[None]:
    """Announce a slow step, then report how long it took."""
    say(f"{message} ...")
    start = time.monotonic()
    yield
    say(f"{message}: done in {time.monotonic() - start:.1f} s")
