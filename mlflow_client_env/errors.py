"""Typed errors: every message names the path or key at fault and the fix.

Users hit these in notebooks, so a message must stand on its own: what is
wrong, where, and what to do about it.
"""

from __future__ import annotations


class MlflowClientEnvError(Exception):
    """Base class. ``fix`` says what the user should do."""

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}\n  fix: {fix}")


class ConfigFileError(MlflowClientEnvError):
    """A configuration file (Hadoop XML, TOML, JSON, krb5.conf) cannot be read or parsed."""


class ParcelError(MlflowClientEnvError):
    """The Cloudera parcel layout is broken (missing parcel, broken ``CDH`` link, ...)."""


class HadoopNotFoundError(MlflowClientEnvError):
    """No Hadoop installation could be found."""


class JavaNotFoundError(MlflowClientEnvError):
    """No usable Java (with a loadable ``libjvm.so``) could be found."""


class PathListError(MlflowClientEnvError, ValueError):
    """A value cannot go into a ``:``-separated path list (it contains ``:``)."""


class SecretError(MlflowClientEnvError, ValueError):
    """A secret (password, token) would be written somewhere it must not be."""


class ClasspathError(MlflowClientEnvError):
    """``hadoop classpath --glob`` (``--exact-classpath``) failed or printed no classpath."""


class OutputFormatError(MlflowClientEnvError, ValueError):
    """A value cannot be written in the asked-for format without changing its meaning."""


class PrivateDirError(MlflowClientEnvError):
    """A folder where we keep tickets, locks or temporary files is not private to the user
    (a symlink, another user's, writable by others)."""


class UnknownCodeError(MlflowClientEnvError, LookupError):
    """A troubleshooting code (``D1``, ``namenode-unreachable``) that has no entry."""
