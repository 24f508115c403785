"""Which HDFS client serves ``hdfs://`` and ``viewfs://`` artifacts: hdfs-native or the JVM.

Three modes:

- ``native``: hdfs-native (a Rust HDFS client; no Java, no CLASSPATH, no libhdfs);
- ``jvm``: MLflow's own repository, unchanged (pyarrow -> libhdfs -> a JVM);
- ``auto`` (the default): native when hdfs-native is importable and the client
  configuration needs nothing it lacks, else the JVM, with the reason logged once.

The mode comes from, first found: the argument, ``MLFLOW_CLIENT_ENV_HDFS_CLIENT``, the
key ``hdfs_client`` of the user config, then of the site config (the files of
:mod:`mlflow_client_env.config`). Why ``auto`` is the default: docs/native-hdfs.md.

:func:`hdfs_client_in_force` says which client serves and why; the repository, the
doctor and ``setup()`` all ask it. Standard library only at import time.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping

from ..config import resolve_setting
from ..errors import ConfigFileError, HdfsClientSettingError
from ..hadoop.conf import discover_conf
from ..records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..hadoop.conf import HadoopConf

#: The environment variable that chooses the HDFS client (after an argument).
HDFS_CLIENT_VAR = "MLFLOW_CLIENT_ENV_HDFS_CLIENT"
#: The config-file key (user config, then site config).
CONFIG_KEY = "hdfs_client"
MODES = ("auto", "native", "jvm")
#: Chosen from measurements on the sandbox: docs/native-hdfs.md, "Which client by default".
DEFAULT_MODE = "auto"
#: The step timeout of the native repository (seconds; native.step_timeout reads it).
TIMEOUT_VAR = "MLFLOW_CLIENT_ENV_HDFS_TIMEOUT"
#: The extra that installs hdfs-native.
NATIVE_EXTRA = "pip install 'mlflow-client-env[native]'"

#: Failover proxy providers hdfs-native 0.14 implements (others: it falls back, with a
#: warning, to ConfiguredFailoverProxyProvider's behaviour).
SUPPORTED_PROXY_PROVIDERS = frozenset(
    {
        "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider",
        "org.apache.hadoop.hdfs.server.namenode.ha.ObserverReadProxyProvider",
        "org.apache.hadoop.hdfs.server.namenode.ha.RouterObserverReadConfiguredFailoverProxyProvider",
    }
)
#: Keys that turn on encryption at rest (a KMS): not tested with hdfs-native here.
KEY_PROVIDER_KEYS = ("hadoop.security.key.provider.path", "dfs.encryption.key.provider.uri")
#: The library hdfs-native loads (dlopen) for Kerberos.
LIBGSSAPI = "libgssapi_krb5.so.2"

_LOGGED: set[tuple[str, str]] = set()


@record
class HdfsClientChoice:
    """Which client serves HDFS artifacts, asked for where, and why."""

    requested: str  # "auto", "native" or "jvm"
    source: str  # "argument", "environment MLFLOW_CLIENT_ENV_HDFS_CLIENT", "user config PATH", ...
    client: str  # "native" or "jvm": what serves the calls
    reason: str
    gaps: tuple[str, ...] = ()  # what the configuration needs that hdfs-native lacks
    native_installed: bool = False

    @property
    def native(self) -> bool:
        return self.client == "native"

    def summary(self) -> str:
        """One line for logs, the doctor and notebooks."""
        via = "hdfs-native" if self.native else "the JVM (pyarrow, libhdfs)"
        return (
            f"HDFS artifacts go through {via}: {self.reason} (mode {self.requested}, {self.source})"
        )


def checked_mode(value: str, source: str) -> str:
    """The mode ``value`` names (case and spaces ignored), or ``HdfsClientSettingError``."""
    mode = value.strip().lower()
    if mode not in MODES:
        raise HdfsClientSettingError(
            f"{source}: unknown HDFS client {value!r}",
            "use one of: auto (hdfs-native when it can serve, else the JVM), native, jvm",
        )
    return mode


def requested_hdfs_client(
    argument: str | None = None, env: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """``(mode, source)``: the mode asked for and where, in the order of every setting
    (``config.SETTINGS``): the argument, the environment, the user config, the site
    config; else the default."""
    found = resolve_setting(CONFIG_KEY, argument, env)
    if found is None:
        return DEFAULT_MODE, "default"
    return checked_mode(*found.pair()), found.source


# ----------------------------------------------------------------------------- what it lacks
def native_importable(*, import_it: bool = True) -> str | None:
    """None when hdfs_native imports; else why not. ``import_it=False``: only look for it
    (``find_spec``, microseconds instead of the ~20 ms its import costs), for callers that
    prepare an environment another process uses (the kernel launcher, ``setup()``): the
    repository imports it, and says so as a typed error, at the first artifact."""
    if not import_it:
        from importlib.util import find_spec

        try:
            found = find_spec("hdfs_native") is not None
        except (ImportError, ValueError) as exc:  # a parent package broken, __spec__ None
            return f"hdfs-native is not installed ({exc})"
        return None if found else "hdfs-native is not installed (no module named 'hdfs_native')"
    try:
        import hdfs_native  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name == "hdfs_native":
            return f"hdfs-native is not installed ({exc})"
        return f"hdfs-native is installed but does not import ({exc})"
    except ImportError as exc:  # a missing shared library, a broken wheel
        return f"hdfs-native is installed but does not import ({exc})"
    return None


def libgssapi_problem() -> str | None:
    """None when the Kerberos library hdfs-native loads at run time can be loaded."""
    import ctypes

    try:
        ctypes.CDLL(LIBGSSAPI)
    except OSError as exc:
        return f"{LIBGSSAPI} cannot be loaded ({exc}): install libgssapi-krb5-2 or krb5-libs"
    return None


def client_conf(env: Mapping[str, str]) -> HadoopConf | None:
    """The Hadoop client configuration the native client reads: ``HADOOP_CONF_DIR``, else
    /etc/hadoop/conf; None when neither exists."""
    return discover_conf(env=env)


def parse_umask(value: str) -> int | None:
    """``fs.permissions.umask-mode`` as bits: octal (``022``) or Hadoop's symbolic form
    (``u=rwx,g=r-x,o=``, the permissions kept); None when it is neither."""
    text = value.strip()
    if text.isdigit():
        try:
            bits = int(text, 8)
        except ValueError:
            return None
        return bits if bits <= 0o777 else None
    kept = 0
    for clause in text.split(","):
        who, eq, perms = clause.strip().partition("=")
        if not eq or not who or any(c not in "ugoa" for c in who):
            return None
        if any(c not in "rwx-" for c in perms):
            return None
        bits = (4 if "r" in perms else 0) | (2 if "w" in perms else 0) | (1 if "x" in perms else 0)
        for w in who:
            for shift, letter in ((6, "u"), (3, "g"), (0, "o")):
                if w in (letter, "a"):
                    kept |= bits << shift
    return ~kept & 0o777


def parse_extra_conf(text: str | None) -> dict[str, str]:
    """``MLFLOW_PYARROW_EXTRA_CONF`` (``key=value,key=value``), as MLflow reads it."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep:
            raise HdfsClientSettingError(
                f"MLFLOW_PYARROW_EXTRA_CONF: {item!r} is not key=value",
                "write it as key=value,key=value (MLflow's format)",
            )
        out[key] = value
    return out


def _target(artifact_uri: str | None, conf: HadoopConf | None) -> tuple[str, str]:
    """``(scheme, host)`` the client connects to: the URI's, or fs.defaultFS's without a host."""
    scheme, host = "", ""
    if artifact_uri:
        parsed = urllib.parse.urlparse(artifact_uri)
        scheme, host = parsed.scheme.lower(), parsed.hostname or ""
    if not host:
        default = (conf.default_fs if conf is not None else None) or ""
        parsed = urllib.parse.urlparse(default)
        scheme, host = parsed.scheme.lower(), parsed.hostname or ""
    return scheme, host


def native_gaps(
    conf: HadoopConf | None, env: Mapping[str, str], artifact_uri: str | None = None
) -> list[str]:
    """What serving ``artifact_uri`` with this client configuration needs that hdfs-native
    (0.14) lacks, or that it does differently from Hadoop's Java client; empty when nothing."""
    gaps: list[str] = []
    if conf is None:
        return [
            "no Hadoop client configuration (HADOOP_CONF_DIR is unset and /etc/hadoop/conf "
            "does not exist); the JVM may still find one on CLASSPATH"
        ]
    props = {**conf.properties, **parse_extra_conf(env.get("MLFLOW_PYARROW_EXTRA_CONF"))}
    auth = (props.get("hadoop.security.authentication") or "simple").strip().lower()
    if auth not in ("simple", "kerberos"):
        gaps.append(f"hadoop.security.authentication={auth} (hdfs-native knows simple, kerberos)")
    elif auth == "kerberos":
        problem = libgssapi_problem()
        if problem:
            gaps.append(problem)
    scheme, host = _target(artifact_uri, conf)
    if env.get("HADOOP_TOKEN_FILE_LOCATION") and not (
        scheme == "hdfs" and props.get(f"dfs.ha.namenodes.{host}")
    ):
        gaps.append(
            "HADOOP_TOKEN_FILE_LOCATION is set and the target is no HA nameservice: "
            "hdfs-native 0.14 uses a NameNode's delegation token only when the token's "
            "service is literally the host:port it connects to, while Hadoop matches it by "
            "address (tokens of a nameservice, ha-hdfs:NAME, match in both)"
        )
    if env.get("MLFLOW_KERBEROS_USER") and not env.get("MLFLOW_KERBEROS_TICKET_CACHE"):
        gaps.append(
            "MLFLOW_KERBEROS_USER without MLFLOW_KERBEROS_TICKET_CACHE (pyarrow connects as "
            "that user with SIMPLE authentication; hdfs-native cannot do the same per client)"
        )
    for key in KEY_PROVIDER_KEYS:
        if props.get(key):
            gaps.append(f"{key} is set: encryption zones (KMS) are not tested with hdfs-native")
    umask = props.get("fs.permissions.umask-mode")
    if umask is not None and parse_umask(umask) is None:
        gaps.append(f"fs.permissions.umask-mode={umask!r} is neither octal nor u=..,g=..,o=..")
    nameservices: set[str] = set()
    if scheme not in ("hdfs", "viewfs"):
        gaps.append(
            f"fs.defaultFS is {conf.default_fs or 'unset'}: hdfs-native serves hdfs and viewfs"
        )
    elif scheme == "viewfs":
        prefix = f"fs.viewfs.mounttable.{host}."
        kinds = {k[len(prefix) :].split(".", 1)[0] for k in props if k.startswith(prefix)}
        unsupported = sorted(kinds - {"link", "linkFallback"})
        if unsupported:
            gaps.append(
                f"the viewfs mount table {host} uses {', '.join(unsupported)} "
                "(hdfs-native 0.14 knows link and linkFallback)"
            )
        nameservices = {
            urllib.parse.urlparse(v).hostname or ""
            for k, v in props.items()
            if k.startswith(prefix) and v.startswith("hdfs://")
        }
    else:
        nameservices = {host}
    for ns in sorted(n for n in nameservices if n):
        provider = props.get(f"dfs.client.failover.proxy.provider.{ns}")
        if provider and provider not in SUPPORTED_PROXY_PROVIDERS:
            gaps.append(f"dfs.client.failover.proxy.provider.{ns}={provider} is not implemented")
    return gaps


def hdfs_client_in_force(
    argument: str | None = None,
    *,
    artifact_uri: str | None = None,
    env: Mapping[str, str] | None = None,
    requested: tuple[str, str] | None = None,
    import_native: bool = True,
    conf: HadoopConf | None = None,
) -> HdfsClientChoice:
    """Which client serves ``artifact_uri`` (default: a URI on fs.defaultFS), and why.

    ``native`` asked for where hdfs-native cannot load is an error
    (:class:`HdfsClientSettingError`), not a silent fallback; ``native`` with gaps serves
    natively and lists them. ``auto`` picks native only without gaps. ``requested``:
    ``(mode, source)`` when the caller resolved the setting already (``setup()``).
    ``import_native=False``: hdfs-native is looked for, not imported (``native_importable``).
    ``conf``: the client configuration the caller has read already (else ``client_conf``).
    """
    env = os.environ if env is None else env
    if requested is None:
        mode, source = requested_hdfs_client(argument, env)
    else:
        mode, source = checked_mode(*requested), requested[1]
    return _in_force(mode, source, artifact_uri, env, import_native, conf)


def _in_force(
    requested: str,
    source: str,
    artifact_uri: str | None,
    env: Mapping[str, str],
    import_native: bool = True,
    given: HadoopConf | None = None,
) -> HdfsClientChoice:
    """:func:`hdfs_client_in_force` for a resolved ``requested`` mode and its ``source``."""
    if requested == "jvm":
        return HdfsClientChoice(requested, source, "jvm", "asked for")
    missing = native_importable(import_it=import_native)
    if missing is not None:
        if requested == "native":
            raise HdfsClientSettingError(
                f"the native HDFS client was asked for ({source}), but {missing}",
                f"{NATIVE_EXTRA}, or ask for the JVM client: {HDFS_CLIENT_VAR}=jvm",
            )
        return HdfsClientChoice(requested, source, "jvm", missing, (missing,), False)
    try:
        conf = given if given is not None else client_conf(env)
        gaps = native_gaps(conf, env, artifact_uri)
    except (ConfigFileError, HdfsClientSettingError) as exc:
        if requested == "native":
            raise
        gaps = [f"the client configuration cannot be read: {exc.problem}"]
    if requested == "native":
        reason = "asked for" + (f" (despite: {'; '.join(gaps)})" if gaps else "")
        return HdfsClientChoice(requested, source, "native", reason, tuple(gaps), True)
    if gaps:
        return HdfsClientChoice(requested, source, "jvm", "; ".join(gaps), tuple(gaps), True)
    return HdfsClientChoice(
        requested, source, "native", "hdfs-native can serve this configuration", (), True
    )


def log_choice_once(choice: HdfsClientChoice) -> None:
    """Log the choice once per process: INFO, except WARNING when hdfs-native is installed
    but ``auto`` still had to use the JVM (the user installed it expecting it to serve)."""
    import logging  # here: logging costs ~5 ms cold, and setup() imports this module

    key = (choice.client, choice.reason)
    if key in _LOGGED:
        return
    _LOGGED.add(key)
    level = logging.INFO
    if choice.requested == "auto" and not choice.native and choice.native_installed:
        level = logging.WARNING
    logging.getLogger("mlflow_client_env.artifacts").log(level, "%s", choice.summary())
