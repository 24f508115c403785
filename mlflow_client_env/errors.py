"""Typed errors: every message names the path or key at fault and the fix.

Users hit these in notebooks, so a message must stand on its own: what is
wrong, where, and what to do about it.
"""

from __future__ import annotations

from .findings import Finding
from .redact import redact

#: The front end whose words messages use for a setting, innermost last: "python" (the
#: library: ``setup(parcel=...)``) unless a ``speaking("cli")`` block is running (the
#: ``mlflow-client-env`` command, and the kernel launcher, whose settings are
#: ``install-kernel``'s options: ``--parcel``). A plain list, not a ContextVar: the
#: doctor's checks run in threads, which must speak as the command that started them.
_FRONT_ENDS = ["python"]


#: ``setup()`` keywords that are options of the commands too, besides ``config.SETTINGS``;
#: their option is derived the same way (``exact_classpath_timeout`` ->
#: ``--exact-classpath-timeout``).
SETUP_KEYWORDS = ("keytab", "principal", "experiment", "exact_classpath", "exact_classpath_timeout")


def setting(name: str) -> str:
    """How the caller names the setting ``name`` (``config.SETTINGS`` or ``SETUP_KEYWORDS``):
    ``setup(parcel=...)`` in Python, ``--parcel`` on the command line. Messages are made
    where the problem is found, so they call this then; ``KeyError`` for an unknown name."""
    from .config import SETTINGS_BY_NAME  # config imports this module

    if name not in SETTINGS_BY_NAME and name not in SETUP_KEYWORDS:
        raise KeyError(name)
    return "--" + name.replace("_", "-") if _FRONT_ENDS[-1] == "cli" else f"setup({name}=...)"


class speaking:
    """``with speaking("cli"):`` messages made inside name settings as the command line does."""

    def __init__(self, front_end: str) -> None:
        if front_end not in ("python", "cli"):
            raise ValueError(f"unknown front end {front_end!r}: 'python' or 'cli'")
        self.front_end = front_end

    def __enter__(self) -> None:
        _FRONT_ENDS.append(self.front_end)

    def __exit__(self, *exc: object) -> None:
        _FRONT_ENDS.pop()


class MlflowClientEnvError(Exception):
    """Base class. ``fix`` says what the user should do."""

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}\n  fix: {fix}")

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled as its class, message and attributes, without calling ``__init__`` again
        (subclasses take other arguments): an error raised in a worker process (multiprocessing,
        joblib, Spark) reaches the parent as itself."""
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))

    def _render_traceback_(self) -> list[str]:
        """How IPython shows it in a notebook: the message and the fix, not library frames."""
        return [f"{type(self).__name__}: {redact(self.problem)}", f"  fix: {redact(self.fix)}"]


def _rebuild(
    cls: type[MlflowClientEnvError], args: tuple[object, ...], state: dict[str, object]
) -> MlflowClientEnvError:
    error = cls.__new__(cls)
    BaseException.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigFileError(MlflowClientEnvError):
    """A configuration file (Hadoop XML, TOML, JSON, krb5.conf) cannot be read or parsed."""


class ParcelError(MlflowClientEnvError):
    """The Cloudera parcel layout is broken (missing parcel, broken ``CDH`` link, ...)."""


class HadoopNotFoundError(MlflowClientEnvError):
    """No Hadoop installation could be found."""


class TrackingServerError(MlflowClientEnvError):
    """The tracking server could not be asked, or did not answer like MLflow's REST API."""


class HadoopAbsentError(HadoopNotFoundError):
    """Discovery looked everywhere it should and found no Hadoop at all (as opposed to a
    path given that is not one): fine for a client whose server stores the artifacts."""


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


class KinitError(MlflowClientEnvError):
    """Logging in or copying a ticket failed (KDC unreachable, wrong key, ...)."""


class KeytabError(KinitError):
    """The keytab cannot be used (missing, unreadable); a usage error."""


class KeyringUnavailableError(KinitError):
    """A KEYRING cache was named, but this kernel has no keyrings."""


class PrincipalError(KeytabError, ValueError):
    """A principal name that libkrb5 cannot parse (a usage error, caught before any I/O)."""


class CacheTargetError(KinitError):
    """The FILE cache to write is not ours to replace (a symlink, not a regular file,
    another user's file, or in another user's directory)."""


class CcacheNameError(MlflowClientEnvError, ValueError):
    """A credential cache name that libkrb5 would refuse, or that names no cache at all."""


class CommandStartError(MlflowClientEnvError):
    """``run_command`` could not start the command (not found, not executable).
    ``exit_code`` is 127, what a shell returns then."""

    exit_code = 127


class CcacheFormatError(MlflowClientEnvError):
    """A FILE credential cache does not follow MIT's ccache format."""


class CcacheUnreadableError(CcacheFormatError):
    """The cache (or keytab) path is not a regular file: a FIFO, a directory, a device, a
    socket. A subclass of ``CcacheFormatError`` so callers that handle a corrupt cache
    handle this too; ``ticket_status`` reports it as ``unreadable``."""


class KernelSpecError(MlflowClientEnvError):
    """A kernel cannot be installed, found or removed as asked."""


class KernelNameError(KernelSpecError, ValueError):
    """A kernel name Jupyter would not accept, or one that names another folder."""


class UnsafePathError(KernelSpecError):
    """A symbolic link or another unexpected file where a kernel's own file or folder goes."""


class KernelWriteError(KernelSpecError):
    """The kernels folder cannot be written (read-only, permissions, full disk...)."""


class NativeLibraryError(MlflowClientEnvError):
    """This interpreter's own ELF identity could not be read."""


class UnknownCheckError(MlflowClientEnvError, ValueError):
    """``doctor --check NAME`` names no check."""


class GssapiMissingError(KinitError):
    """A Kerberos operation needs python-gssapi (the ``kerberos`` extra), which is missing."""


# --- the HDFS client (mlflow_client_env.artifacts): hdfs-native's path ---------------
# Each is also an OSError, as pyarrow's HDFS errors are, so code that catches OSError
# around mlflow.log_artifact catches these too. ``code`` names the troubleshooting entry.


class HdfsClientSettingError(MlflowClientEnvError, ValueError):
    """A setting of the HDFS client is wrong: an unknown mode (``native``, ``jvm``,
    ``auto``), ``native`` asked for where hdfs-native cannot load, a bad timeout or
    ``MLFLOW_PYARROW_EXTRA_CONF``."""


class NativeHdfsError(MlflowClientEnvError, OSError):
    """An HDFS operation through hdfs-native failed; ``code`` is its troubleshooting entry."""

    code: str | None = None

    def __init__(self, problem: str, fix: str, code: str | None = None) -> None:
        if code is not None:
            self.code = code
        if self.code is not None:
            label = f"catalog {self.code}" if self.code[0].isupper() else self.code
            problem = f"{problem} [{label}]"
        super().__init__(problem, fix)


class HdfsKerberosError(NativeHdfsError):
    """No usable Kerberos ticket for HDFS: none, another principal's, expired (D1, D6), or
    the KDC could not be reached for a service ticket (kdc-unreachable)."""


class HdfsUnreachableError(NativeHdfsError):
    """No NameNode accepted a connection (namenode-unreachable)."""

    code = "namenode-unreachable"


class HdfsTimeoutError(NativeHdfsError):
    """An HDFS step got no answer within the timeout (a NameNode, DataNode or KDC that
    accepts connections but does not answer)."""


class HdfsDataNodeError(NativeHdfsError):
    """The NameNode answered, but no DataNode could store or serve the block (no-datanode)."""

    code = "no-datanode"


class HdfsPermissionError(NativeHdfsError, PermissionError):
    """HDFS refused access to the path (permission-denied)."""

    code = "permission-denied"


# --- the tracking server's Kerberos (mlflow_client_env.tracking_auth, catalog D8) -------


class TrackingAuthError(MlflowClientEnvError):
    """Kerberos (SPNEGO) authentication to the tracking server failed."""

    #: the finding code the doctor and setup() report it under
    code = "tracking-server.spnego-failed"
    #: the troubleshooting catalog entry, when one explains it
    catalog: str | None = None

    def __init__(self, problem: str, fix: str) -> None:
        if self.catalog and f"catalog {self.catalog}" not in problem:
            problem = f"{problem} (catalog {self.catalog})"
        super().__init__(problem, fix)

    def finding(self, evidence: tuple[str, ...] = ()) -> Finding:
        """This error as an ``error`` finding (same code, problem and fix)."""
        return Finding(self.code, "error", self.problem, evidence, self.fix)


class TrackingAuthConfigError(TrackingAuthError, ValueError):
    """A setting of the plugin (``tracking_auth``, the service principal) is not valid."""

    code = "tracking-server.spnego-config"


class PluginMissingError(TrackingAuthError):
    """requests-gssapi or python-gssapi (the ``kerberos`` extra) is not installed."""

    code = "tracking-server.spnego-plugin-missing"


class NoTicketError(TrackingAuthError):
    """No usable Kerberos ticket in the cache Python uses (catalog D8)."""

    code = "tracking-server.spnego-no-ticket"
    catalog = "D8"


class ExpiredTicketError(NoTicketError):
    """The ticket in the cache has expired (catalog D8)."""

    code = "tracking-server.spnego-ticket-expired"


class UnknownServicePrincipalError(TrackingAuthError):
    """The KDC has no principal for the tracking server's service name."""

    code = "tracking-server.spnego-unknown-principal"


class WrongRealmError(TrackingAuthError):
    """The service principal is in a realm the user's realm has no trust with."""

    code = "tracking-server.spnego-wrong-realm"


class ClockSkewError(TrackingAuthError):
    """This machine's clock and the KDC's (or the proxy's) differ by more than allowed."""

    code = "tracking-server.spnego-clock-skew"


class KdcUnreachableError(TrackingAuthError):
    """No KDC of the realm answered while asking for the service ticket."""

    code = "tracking-server.spnego-kdc-unreachable"


class AuthRejectedError(TrackingAuthError):
    """The server answered 401 again after it got a Kerberos token."""

    code = "tracking-server.spnego-rejected"


class MutualAuthError(TrackingAuthError):
    """The server's answer to mutual authentication does not prove it holds the key."""

    code = "tracking-server.spnego-mutual-auth-failed"


class ProxyUnreachableError(TrackingAuthError):
    """Nothing accepts connections at the tracking server's address (the proxy is down)."""

    code = "tracking-server.spnego-proxy-unreachable"


# --- Hadoop delegation tokens (mlflow_client_env.hadoop.tokens) --------------------
class TokenFileError(MlflowClientEnvError):
    """The token storage file cannot be read: missing, not a regular file, unreadable."""


class TokenFormatError(TokenFileError):
    """The file is not Hadoop's token storage (no ``HDTS`` magic, an unknown format,
    truncated or inconsistent contents)."""


class DelegationTokenRejectedError(MlflowClientEnvError):
    """A NameNode refused a delegation token: it was cancelled, or it expired.

    ``reason`` is ``"cancelled"`` (the NameNode no longer knows it: cancelled, or expired
    and removed) or ``"expired"`` (not renewed in time).
    """

    def __init__(self, problem: str, fix: str, reason: str) -> None:
        super().__init__(problem, fix)
        self.reason = reason


# --- Spark (mlflow_client_env.spark) -----------------------------------------------
class SparkSetupError(MlflowClientEnvError, ValueError):
    """Arguments that name no Spark mode, master or deploy mode this module can serve."""


class SparkProbeError(MlflowClientEnvError):
    """The executors could not run the doctor's probe (``doctor.spark_probe``)."""


class SparkHomeError(MlflowClientEnvError):
    """No usable Spark installation was found (or the one named is not one)."""
