"""The options every command that discovers Hadoop shares, derived from ``config.SETTINGS``."""

from __future__ import annotations

import argparse

from ..config import SETTINGS, SETTINGS_BY_NAME


def add_setting(group: argparse._ActionsContainer, name: str) -> None:
    """The command-line option of one declared setting (``config.SETTINGS``)."""
    spec = SETTINGS_BY_NAME[name]
    group.add_argument(spec.option, metavar=spec.metavar, help=spec.help)


def discovery_options() -> argparse.ArgumentParser:
    """The overrides every command that discovers Hadoop takes: one option per setting."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group(
        "discovery overrides (default: detected; also from MLFLOW_CLIENT_ENV_<NAME> variables "
        "and config.toml)"
    )
    for spec in SETTINGS:
        add_setting(g, spec.name)
    g.add_argument(
        "--exact-classpath",
        action="store_true",
        help="take CLASSPATH from 'hadoop classpath --glob' itself (cached on disk)",
    )
    g.add_argument(
        "--exact-classpath-timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help="how long 'hadoop classpath --glob' may run (default 120)",
    )
    return p


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0 (argparse exits 2 on anything else)."""
    value = _number(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def seconds(text: str) -> float:
    """argparse type: a finite number of seconds >= 0 (not nan, not inf)."""
    value = _number(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def overrides_from(args: argparse.Namespace) -> dict[str, str | None]:
    """The settings given on the command line (None: not given)."""
    return {spec.name: getattr(args, spec.name, None) for spec in SETTINGS}
