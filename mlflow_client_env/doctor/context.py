"""What every doctor check may look at, computed at most once per run.

Discovery can fail (no parcel, broken XML); a check that needs its result
then reports 'skip' and the installation check reports the error itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..discovery import Discovery, discover, environment_of
from ..environment import Environment
from ..errors import MlflowClientEnvError


@dataclass
class Context:
    env: Mapping[str, str]
    overrides: Mapping[str, str | None] = field(default_factory=dict)
    start_env: Mapping[str, str] | None = None  # the environment the process started with
    pid: int | None = None
    probe_path: str | None = None
    experiment: str | None = None
    timeout: float = 60.0
    _memo: dict[str, Any] = field(default_factory=dict)

    def _once(self, key: str, make: Any) -> Any:
        if key not in self._memo:
            try:
                self._memo[key] = make()
            except MlflowClientEnvError as exc:
                self._memo[key] = exc
        return self._memo[key]

    def discovery(self) -> Discovery | MlflowClientEnvError:
        from ..config import resolve_overrides

        def make() -> Discovery:
            ov = resolve_overrides(dict(self.overrides), self.env)
            return discover(ov, self.env)

        result: Discovery | MlflowClientEnvError = self._once("discovery", make)
        return result

    def environment(self) -> Environment | MlflowClientEnvError:
        def make() -> Environment:
            d = self.discovery()
            if isinstance(d, MlflowClientEnvError):
                raise d
            return environment_of(d, self.env)

        result: Environment | MlflowClientEnvError = self._once("environment", make)
        return result

    def memo(self, key: str, make: Any) -> Any:
        """Share an expensive result (a server answer, a probe) between checks."""
        return self._once(key, make)


def for_this_process(overrides: Mapping[str, str | None], **kw: Any) -> Context:
    start: dict[str, str] | None
    try:
        raw = open("/proc/self/environ", "rb").read()  # noqa: SIM115
        start = dict(
            item.decode(errors="replace").partition("=")[::2] for item in raw.split(b"\0") if item
        )
    except OSError:
        start = None
    return Context(env=dict(os.environ), overrides=overrides, start_env=start, **kw)
