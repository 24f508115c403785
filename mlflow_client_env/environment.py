"""Compose the discovered parts into the environment, with a reason for every variable.

``compose`` is the one place that decides what a variable's value is. It is
pure: it reads nothing but its arguments (the current environment is passed
in, so user entries in path lists and JVM options are kept). Applying the
result is someone else's job (``session.setup``, ``kernel``, the CLI).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from . import pathlist
from .artifacts.mode import HDFS_CLIENT_VAR, LIBGSSAPI, checked_mode
from .errors import SecretError, setting
from .findings import Finding
from .hadoop.conf import HadoopConf
from .hadoop.install import HadoopInstall
from .java import JavaChoice
from .kerberos.java_cache import COPIED_FROM_VAR
from .kerberos.profile import KerberosSetup, cache_not_java_readable
from .records import record
from .redact import redact, redact_value, url_has_credentials
from .tracking_auth.settings import AUTH_VAR, PROVIDER_NAME, SPN_VAR, check_spn, checked_auth

TYPE_CHECKING = False  # typing is not imported at run time (import cost; mypy honours this)
if TYPE_CHECKING:
    from typing import Literal

    from .artifacts.mode import HdfsClientChoice
    from .tracking import ArtifactStore

    Timing = Literal["lazy", "start"]

ADD_EXPORTS = "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED"
DEFAULT_HEAP = "-Xmx512m"

#: Libraries that users used to put on LD_LIBRARY_PATH; kept only behind an option.
LEGACY_LD_DIRS = ("lib64", "lib/hadoop/lib/native", "lib/impala/lib")


@record(repr=False)  # its own __repr__ redacts
class Variable:
    """One environment variable: its value, why, and when a process reads it.

    ``timing`` is "start" for variables the dynamic loader reads once at
    process start (LD_LIBRARY_PATH): setting them later in ``os.environ`` has no
    effect on the running process (catalog E2).
    """

    name: str
    value: str
    reason: str
    timing: Timing = "lazy"

    def __repr__(self) -> str:  # shown in notebooks, logs and tracebacks: never a secret
        return (
            f"Variable(name={self.name!r}, value={redact_value(self.name, self.value)!r}, "
            f"reason={redact(self.reason)!r}, timing={self.timing!r})"
        )


@record
class Environment:
    """The composed variables and findings, and the facts they came from.

    ``java`` is None for a client that needs no JVM: one whose tracking server stores the
    experiment's artifacts itself (``--serve-artifacts``, :func:`without_hadoop`; ``hadoop``
    is None too), or one that asked for hdfs-native (``native_only``, :func:`compose_native`;
    ``hadoop`` is the installation when one was found, for its configuration only).
    """

    variables: tuple[Variable, ...]
    findings: tuple[Finding, ...]
    hadoop: HadoopInstall | None
    conf: HadoopConf | None
    java: JavaChoice | None
    kerberos: KerberosSetup
    #: composed for hdfs-native alone (``hdfs_client=native``): no JVM variable at all
    native_only: bool = False

    def as_dict(self) -> dict[str, str]:
        return {v.name: v.value for v in self.variables}

    def get(self, name: str) -> Variable | None:
        return next((v for v in self.variables if v.name == name), None)

    def __getitem__(self, name: str) -> str:
        var = self.get(name)
        if var is None:
            raise KeyError(name)
        return var.value

    def changes(self, env: Mapping[str, str]) -> tuple[Variable, ...]:
        """The variables whose value differs from ``env``."""
        return tuple(v for v in self.variables if env.get(v.name) != v.value)


@record(eq=False)  # compose()'s inputs, never compared
class Options:
    heap: str = DEFAULT_HEAP
    legacy_ld_library_path: bool = False
    tracking_uri: tuple[str, str] | None = None  # (value, source)
    java_ccache: str | None = None  # a FILE cache made for Java from a KEYRING/KCM one
    copied_from: str | None = None  # the cache java_ccache is a copy of (None: a login's)
    tracking_auth: tuple[str, str] | None = None  # (value, source), as tracking_uri
    tracking_spn: tuple[str, str] | None = None
    hdfs_client: tuple[str, str] | None = None


NO_OPTIONS = Options()  # the default: nothing given


def _jvm_options(
    existing: str | None,
    ours: Sequence[tuple[str, str]],
) -> tuple[str, list[str]]:
    """Our JVM options first, then the user's; an option the user set already is kept as theirs.

    libhdfs splits LIBHDFS_OPTS on spaces, without quoting, so we split the same way.
    Returns the value and the notes of what was kept.
    """
    user = (existing or "").split()
    notes = []
    chosen = []
    for token, key in ours:
        if any(t == token or t.startswith(key) for t in user):
            if token not in user:
                notes.append(f"kept your {next(t for t in user if t.startswith(key))}")
            continue
        chosen.append(token)
    return " ".join([*chosen, *user]), notes


#: How to give MLflow credentials without writing them into a URI (MLflow's own mechanisms).
CREDENTIALS_FIX = (
    "drop the credentials from the URI and give them to MLflow the way it reads them: "
    "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) in the "
    "environment, or the [mlflow] section of ~/.mlflow/credentials"
)


def refuse_credentials_in_uri(uri: str, source: str) -> None:
    """A tracking URI with ``user:password@`` or ``?token=`` would be printed and written down."""
    if url_has_credentials(uri):
        raise SecretError(
            f"the tracking URI from {source} ({redact(uri)}) carries credentials; whatever the "
            "environment is written to (a .env file, kernel.json, a saved notebook) would hold them",
            CREDENTIALS_FIX,
        )


def conf_reason(conf: HadoopConf) -> str:
    """Why HADOOP_CONF_DIR is what it is."""
    return (
        f"client configuration from {conf.source} (fs.defaultFS={conf.default_fs or 'unset'}, "
        f"authentication={conf.authentication})"
    )


def _no_core_site(conf: HadoopConf | None) -> bool:
    return conf is not None and not any(f.name == "core-site.xml" for f in conf.files)


def conf_findings(conf: HadoopConf | None) -> list[Finding]:
    """What is wrong with the client configuration for any HDFS client: none found
    (error), or one without core-site.xml (warning)."""
    if conf is None:
        return [
            Finding(
                "client-config.missing",
                "error",
                "no Hadoop client configuration found (HADOOP_CONF_DIR, /etc/hadoop/conf)",
                fix=f"point {setting('hadoop_conf_dir')} at a copy of it, or deploy the client "
                "configuration to this host (Cloudera Manager: add a Gateway role)",
            )
        ]
    if _no_core_site(conf):
        return [
            Finding(
                "client-config.no-core-site",
                "warn",
                f"the client configuration {conf.conf_dir} has no core-site.xml, so "
                "fs.defaultFS and the authentication mode are unknown; Kerberos is assumed",
                fix="deploy the client configuration to this host (Cloudera Manager: Actions > "
                f"Deploy Client Configuration), or point {setting('hadoop_conf_dir')} at a "
                "complete copy",
            )
        ]
    return []


def assume_kerberos(conf: HadoopConf | None) -> bool:
    """Whether the client is Kerberized. Without a client configuration (or without its
    core-site.xml) we cannot know: assume Kerberos, whose variables do no harm to a SIMPLE
    cluster, rather than drop them silently."""
    return conf is None or _no_core_site(conf) or conf.kerberos


def compose(
    hadoop: HadoopInstall,
    conf: HadoopConf | None,
    java: JavaChoice,
    kerberos: KerberosSetup,
    jars: Sequence[str],
    env: Mapping[str, str],
    options: Options = NO_OPTIONS,
) -> Environment:
    """The environment an MLflow client needs, from the discovered parts."""
    vars_: list[Variable] = []
    # finding codes are <check>.<what>, with the doctor's check names for the same conditions
    findings: list[Finding] = [
        *(Finding("installation.warning", "warn", w) for w in hadoop.warnings),
        *(Finding("java.warning", "warn", w) for w in java.warnings),
        *java.findings,  # java.home-passed-over: made where the Java was chosen
        *(Finding("kerberos.warning", "warn", w) for w in kerberos.warnings),
    ]
    jh = java.install

    def add(name: str, value: str, reason: str, timing: Timing = "lazy") -> None:
        vars_.append(Variable(name, value, reason, timing))

    add(
        "JAVA_HOME",
        str(jh.home),
        f"Java {jh.version or '?'} ({jh.layout} layout, libjvm.so at {jh.libjvm}); {java.reason}",
    )
    add(
        "HADOOP_HOME",
        str(hadoop.hadoop_home),
        f"{hadoop.kind} install, Hadoop {hadoop.version or '?'}; found via {hadoop.source}"
        + ("; inside a parcel this is P/lib/hadoop, not P" if hadoop.kind == "parcel" else ""),
    )
    findings += conf_findings(conf)
    if conf is not None:
        add("HADOOP_CONF_DIR", str(conf.conf_dir), conf_reason(conf))
    if hadoop.libhdfs is not None:
        add(
            "ARROW_LIBHDFS_DIR",
            str(hadoop.libhdfs.parent),
            f"pyarrow loads {hadoop.libhdfs.name} from here by absolute path"
            + (", not from $HADOOP_HOME/lib/native" if hadoop.kind == "parcel" else ""),
        )
    else:
        findings.append(
            Finding(
                "installation.no-libhdfs",
                "error",
                f"no libhdfs.so in the {hadoop.kind} install at {hadoop.root}",
                fix="install the libhdfs package (parcels carry it in P/lib64), then run again",
            )
        )
    classpath = pathlist.join([*([str(conf.conf_dir)] if conf else []), *jars], "CLASSPATH")
    add(
        "CLASSPATH",
        classpath,
        f"{'conf dir first, then ' if conf else ''}{len(jars)} jars listed one by one "
        "(the JNI JVM does not expand dir/*)",
    )

    path_new = [str(d) for d in (hadoop.bin_dir, jh.bin_dir) if d is not None]
    add(
        "PATH",
        pathlist.prepend(env.get("PATH"), path_new, "PATH"),
        "so 'hadoop' and 'java' are this installation's: " + ", ".join(path_new),
    )

    ours: list[tuple[str, str]] = []
    if hadoop.native_dir is not None:
        if " " in str(hadoop.native_dir):
            findings.append(
                Finding(
                    "native-libraries.dir-with-space",
                    "warn",
                    f"{hadoop.native_dir} contains a space; libhdfs splits LIBHDFS_OPTS on spaces, "
                    "so -Djava.library.path is left out (native Hadoop code falls back to Java)",
                )
            )
        else:
            ours.append((f"-Djava.library.path={hadoop.native_dir}", "-Djava.library.path="))
    if kerberos.krb5_config_set and kerberos.krb5_conf is not None:
        if " " in str(kerberos.krb5_conf):
            findings.append(
                Finding(
                    "kerberos.krb5-conf-with-space",
                    "error",
                    f"KRB5_CONFIG {kerberos.krb5_conf} contains a space, and libhdfs splits "
                    "LIBHDFS_OPTS on spaces, so Java cannot be told to read it",
                    fix="copy or link the krb5.conf to a path without spaces and set KRB5_CONFIG to it",
                )
            )
        else:
            ours.append(
                (f"-Djava.security.krb5.conf={kerberos.krb5_conf}", "-Djava.security.krb5.conf=")
            )
    kerberized = assume_kerberos(conf)
    if kerberized and (jh.major or 9) >= 9:
        ours.append((ADD_EXPORTS, ADD_EXPORTS))
    ours.append((options.heap, "-Xmx"))
    opts, kept = _jvm_options(env.get("LIBHDFS_OPTS"), ours)
    reasons = []
    if hadoop.native_dir is not None:
        reasons.append("java.library.path for native Hadoop code (E3)")
    if kerberos.krb5_config_set:
        reasons.append("Java ignores KRB5_CONFIG, so krb5.conf is passed explicitly (D5)")
    if kerberized and (jh.major or 9) >= 9:
        reasons.append(
            f"Java {jh.major} needs the export of sun.security.krb5 for Hadoop's Kerberos"
        )
    reasons.append("a heap cap for the JVM inside the Python process (E5)")
    add(
        "LIBHDFS_OPTS",
        opts,
        "; ".join(reasons + kept) + ("; your options kept" if env.get("LIBHDFS_OPTS") else ""),
    )

    if kerberized:
        # KRB5CCNAME names the cache libkrb5 itself uses (kerberos.ccache: libkrb5's answer,
        # or MIT's rules applied to the files where it cannot be asked), or the private FILE
        # cache made for Java (a copy, or a keytab login), which Python then reads too.
        cc_file = options.java_ccache or (
            str(kerberos.ccache_path) if kerberos.java_readable and kerberos.ccache_path else None
        )
        if cc_file:
            if not options.java_ccache:
                why = f"the cache libkrb5 uses ({kerberos.ccache_source})"
            elif kerberos.java_readable and str(kerberos.ccache_path) == cc_file:
                why = "the cache libkrb5 uses, where the keytab login put the ticket"
            elif kerberos.java_readable:
                why = (
                    f"the private FILE cache of the keytab login, instead of {kerberos.ccache} "
                    "which libkrb5 would use"
                )
            else:
                why = (
                    f"a private FILE cache made for Java: a copy of the ticket in your "
                    f"{kerberos.ccache_type} cache {kerberos.ccache} (the one libkrb5 uses), "
                    "or a keytab login's"
                )
            if options.copied_from:
                why = (
                    f"a private FILE copy, made for Java, of the ticket in {options.copied_from} "
                    "(the cache libkrb5 uses; Java reads only FILE caches); made again at every "
                    "setup() and kernel start"
                )
            add(
                "KRB5CCNAME",
                f"FILE:{cc_file}",
                f"{why}; the same FILE cache for Python and Java (Java reads only FILE caches)",
            )
            add(
                "MLFLOW_KERBEROS_TICKET_CACHE",
                cc_file,
                "MLflow passes it to pyarrow as kerb_ticket, so libhdfs uses this cache",
            )
            if options.copied_from:
                add(
                    COPIED_FROM_VAR,
                    options.copied_from,
                    "the cache the FILE copy was made from: the next setup() copies it again, "
                    "so a new kinit there is seen",
                )
        else:
            findings.append(cache_not_java_readable(kerberos))

    if options.tracking_uri:
        uri, source = options.tracking_uri
        refuse_credentials_in_uri(uri, source)
        add("MLFLOW_TRACKING_URI", uri, f"from {source}")
    for var in client_settings(options):
        add(*var)

    ld_new = [str(jh.server_dir)]
    ld_reason = (
        "appended: libhdfs.so needs libjvm.so, for native code that loads libhdfs "
        "without pyarrow (A3); never prepended, so system libssl/libkrb5 keep priority (E1)"
    )
    if options.legacy_ld_library_path:
        legacy = [str(hadoop.root / d) for d in LEGACY_LD_DIRS if (hadoop.root / d).is_dir()]
        ld_value = pathlist.prepend(
            env.get("LD_LIBRARY_PATH"), [*legacy, *ld_new], "LD_LIBRARY_PATH"
        )
        ld_reason = "legacy long list, prepended as asked (--legacy-ld-library-path)"
        findings.append(
            Finding(
                "process-start.legacy-ld-library-path",
                "warn",
                "the legacy LD_LIBRARY_PATH puts parcel folders ahead of the system's libraries; "
                "this breaks 'import ssl' and 'import gssapi' when they carry their own copies (E1)",
                tuple(legacy),
                "drop --legacy-ld-library-path; pyarrow needs none of it",
            )
        )
    else:
        ld_value = pathlist.append(env.get("LD_LIBRARY_PATH"), ld_new, "LD_LIBRARY_PATH")
    add("LD_LIBRARY_PATH", ld_value, ld_reason, timing="start")

    return Environment(tuple(vars_), tuple(findings), hadoop, conf, java, kerberos)


def client_settings(options: Options) -> list[tuple[str, str, str]]:
    """(variable, value, reason) for the settings MLflow's plugins read at call time: the
    tracking server's authentication and principal, and the HDFS client. Each is checked
    here, before anything is written (a typed error names the setting and its source)."""
    out: list[tuple[str, str, str]] = []
    if options.tracking_auth:
        mode = checked_auth(*options.tracking_auth)
        if mode == "none":  # empty: MLflow then uses no auth plugin, even one inherited
            out.append((AUTH_VAR, "", f"from {options.tracking_auth[1]}: no auth plugin"))
        elif mode == PROVIDER_NAME:
            out.append(
                (AUTH_VAR, mode, f"from {options.tracking_auth[1]}: MLflow's requests carry "
                 "a Kerberos (SPNEGO) token, through this package's request auth provider")
            )  # fmt: skip
    if options.tracking_spn:
        spn = check_spn(*options.tracking_spn)
        out.append((SPN_VAR, spn, f"from {options.tracking_spn[1]}: the proxy's principal"))
    if options.hdfs_client:
        value, source = options.hdfs_client
        out.append((HDFS_CLIENT_VAR, checked_mode(value, source), f"from {source}"))
    return out


def without_hadoop(
    missing: str,
    tracking_uri: tuple[str, str],
    store: ArtifactStore,
    kerberos: KerberosSetup,
    login_ccache: str | None = None,
    options: Options = NO_OPTIONS,
) -> Environment:
    """The environment of a client that needs no Hadoop (pure).

    No Hadoop was found (``missing`` says where discovery looked), and the tracking
    server keeps the experiment's artifacts where this client does not write through
    Hadoop (``store``): ``mlflow-artifacts:/`` when the server proxies them
    (``mlflow server --serve-artifacts``), or another store the client writes to itself.
    The Hadoop layers (Java, CLASSPATH, libhdfs) then have nothing to do (catalog H4).
    The tracking URI is set, and ``KRB5CCNAME`` only for the FILE cache of a keytab login
    asked for now (``login_ccache``): the server may still want a ticket, and Python
    reads every cache type itself, so no copy for Java is made.
    """
    uri, source = tracking_uri
    refuse_credentials_in_uri(uri, source)
    variables = [Variable("MLFLOW_TRACKING_URI", uri, f"from {source}")]
    if login_ccache:
        variables.append(
            Variable("KRB5CCNAME", f"FILE:{login_ccache}", "the FILE cache of the keytab login")
        )
    variables += [Variable(*v) for v in client_settings(options)]  # e.g. SPNEGO to the server
    finding = hadoop_not_needed(missing, uri, store.location, store.experiment, store.note)
    return Environment(tuple(variables), (finding,), None, None, None, kerberos)


def hadoop_not_needed(
    missing: str,
    uri: str,
    location: str,
    experiment: str = "this experiment",
    note: str | None = None,
) -> Finding:
    """No Hadoop was found, and the server at ``uri`` keeps ``experiment``'s artifacts at
    ``location``, which this client does not write through Hadoop."""
    if location.startswith("mlflow-artifacts:"):
        how = "the tracking server stores them itself, so MLflow uploads them over HTTP"
    else:
        scheme = location.split(":", 1)[0] if ":" in location else "a local path"
        how = f"MLflow writes them there itself ({scheme}), not through Hadoop"
    return Finding(
        "installation.not-needed",
        "ok",
        f"no Hadoop here, and none is needed: experiment {experiment}'s artifacts go to "
        f"{location}; {how}, and the Hadoop layers (Java, CLASSPATH, libhdfs) are not used "
        "(H4)",
        (
            missing,
            f"the tracking server {redact(uri)} reports the artifact location {location}",
            *((note,) if note else ()),
        ),
    )


def no_libgssapi(problem: str) -> Finding:
    """hdfs_client=native with a Kerberized configuration, and libgssapi_krb5 does not load:
    every artifact will fail (one finding, one status, for setup(), env and the doctor)."""
    return Finding(
        "hdfs-native.no-libgssapi",
        "error",
        f"{problem}: hdfs-native cannot use Kerberos, which this client configuration asks for",
        fix="install the system's Kerberos library (Debian/Ubuntu: libgssapi-krb5-2; "
        "RHEL: krb5-libs)",
    )


#: The variables the JVM path (pyarrow, libhdfs, a JVM) needs, and hdfs-native does not.
JVM_PATH_VARIABLES = ("JAVA_HOME", "HADOOP_HOME", "ARROW_LIBHDFS_DIR", "CLASSPATH", "LIBHDFS_OPTS")
#: What a native-only environment leaves out: those, and the paths to Hadoop's and Java's
#: commands and to libjvm.so.
JVM_ONLY_VARIABLES = (*JVM_PATH_VARIABLES, "PATH", "LD_LIBRARY_PATH")


def compose_native(
    conf: HadoopConf | None,
    kerberos: KerberosSetup,
    env: Mapping[str, str],
    choice: HdfsClientChoice,
    options: Options = NO_OPTIONS,
    *,
    hadoop: HadoopInstall | None = None,
    login_ccache: str | None = None,
) -> Environment:
    """The environment of a client that asked for hdfs-native (``hdfs_client=native``): the
    client configuration, the ticket cache and the tracking URI, and nothing for a JVM (pure).

    hdfs-native reads ``HADOOP_CONF_DIR`` and asks the system's libgssapi_krb5 for the
    ticket, in this process: it reads every cache type libkrb5 knows (FILE, KEYRING, KCM),
    so no FILE copy is made for Java. ``login_ccache``: the FILE cache of a keytab login
    asked for now. ``hadoop``: the installation, when one was found (it only supplied the
    default configuration directory). ``choice``: what ``hdfs_client_in_force`` answers in
    the composed environment (its gaps are warnings: native serves despite them).
    """
    variables: list[Variable] = []
    findings = conf_findings(conf)
    findings += [Finding("kerberos.warning", "warn", w) for w in kerberos.warnings]
    if conf is not None:
        variables.append(Variable("HADOOP_CONF_DIR", str(conf.conf_dir), conf_reason(conf)))
    if assume_kerberos(conf):
        if login_ccache:
            cache, why = login_ccache, "the FILE cache of the keytab login"
        else:
            cache, why = kerberos.ccache, f"the cache libkrb5 uses ({kerberos.ccache_source})"
        path = login_ccache or (str(kerberos.ccache_path) if kerberos.java_readable else None)
        name = f"FILE:{path}" if path else cache
        variables.append(
            Variable(
                "KRB5CCNAME",
                name,
                f"{why}; hdfs-native reads it through libgssapi_krb5 in this process, "
                "which reads FILE, KEYRING and KCM caches alike (no FILE copy is made: "
                "there is no JVM)",
            )
        )
        inherited = env.get("MLFLOW_KERBEROS_TICKET_CACHE")
        if path:  # MLflow's own setting for the cache, which hdfs-native honours too
            variables.append(
                Variable(
                    "MLFLOW_KERBEROS_TICKET_CACHE",
                    path,
                    "the same cache, in MLflow's setting (it overrides KRB5CCNAME when set)",
                )
            )
        elif inherited:  # it would override KRB5CCNAME with a cache that is not in use
            variables.append(
                Variable(
                    "MLFLOW_KERBEROS_TICKET_CACHE",
                    "",
                    f"emptied: it named {inherited}, which would override {name}",
                )
            )
    if env.get(COPIED_FROM_VAR):  # an earlier setup()'s copy for Java: none is made now
        variables.append(
            Variable(COPIED_FROM_VAR, "", "emptied: no FILE copy is made for hdfs-native")
        )
    if options.tracking_uri:
        uri, source = options.tracking_uri
        refuse_credentials_in_uri(uri, source)
        variables.append(Variable("MLFLOW_TRACKING_URI", uri, f"from {source}"))
    variables += [Variable(*v) for v in client_settings(options)]
    findings.append(
        Finding(
            "hdfs-native.in-force",
            "ok",
            f"{choice.summary()}; the JVM's variables ({', '.join(JVM_ONLY_VARIABLES)}) are "
            "not composed: no Java, Hadoop installation or libhdfs is needed",
        )
    )
    for gap in choice.gaps:
        if gap.startswith(LIBGSSAPI):  # certain failure: Kerberos is asked for (native_gaps)
            findings.append(no_libgssapi(gap))
            continue
        findings.append(
            Finding(
                "hdfs-native.gap",
                "warn",
                f"hdfs-native serves although the client configuration asks for more: {gap}",
                fix="check that artifacts still reach HDFS (mlflow-client-env doctor), or use "
                "hdfs_client=auto, which takes the JVM path for such a configuration",
            )
        )
    return Environment(
        tuple(variables), tuple(findings), hadoop, conf, None, kerberos, native_only=True
    )
