"""The project's troubleshooting reference: one entry per code a message can cite.

Messages, doctor findings and :func:`mlflow_client_env.explain` name a failure by
a short code: ``D1`` for an entry of the error catalog the project was built from
(letters ``A`` to ``H``), or a descriptive lower-case code (``namenode-unreachable``)
for a failure that catalog does not list. This module is where each code is
explained, once: the title and fix that :mod:`mlflow_client_env.doctor.catalog` prints
come from here, and ``docs/troubleshooting.md`` is generated from it::

    python -m mlflow_client_env.reference > docs/troubleshooting.md

Standard library only, and nothing here runs on ``setup()``'s or the kernel
launcher's import path.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from collections.abc import Iterable

from .errors import UnknownCodeError
from .records import record

#: Where the generated reference lives, relative to the repository root.
DOC_PATH = "docs/troubleshooting.md"
#: This module's dotted name, also under ``python -m`` (so a move needs no edit here).
_MODULE = __spec__.name if __spec__ is not None else __name__
GENERATE = f"python -m {_MODULE} > {DOC_PATH}"

_CATALOG_CODE = re.compile(r"[A-H][1-9][0-9]?")


@record
class Entry:
    """One troubleshooting entry.

    ``title`` is one line (it follows "failed:" in a doctor finding); ``fix`` is
    what to do, short enough to print under a notebook traceback.
    """

    code: str  # "D1" (an error-catalog entry) or "namenode-unreachable"
    title: str
    symptom: str  # what the user sees
    cause: str
    fix: str
    see_also: tuple[str, ...] = ()

    @property
    def in_catalog(self) -> bool:
        """True for a letter code of the error catalog, False for a descriptive one."""
        return _CATALOG_CODE.fullmatch(self.code) is not None

    @property
    def anchor(self) -> str:
        """The fragment of this entry in the generated docs: ``d1``, ``namenode-unreachable``."""
        return self.code.lower()

    @property
    def doc_link(self) -> str:
        return f"{DOC_PATH}#{self.anchor}"


#: The catalog's groups, by letter; descriptive codes go last.
SECTIONS: dict[str, str] = {
    "A": "Loading libhdfs and libjvm (pyarrow)",
    "B": "CLASSPATH and the Hadoop client configuration",
    "C": "MLflow and pyarrow versions that do not fit together",
    "D": "Kerberos",
    "E": "Native libraries and the process environment",
    "F": "The Java installation",
    "G": "Jupyter kernels",
    "H": "Cluster and platform specifics",
    "": "Failures the catalog does not list (descriptive codes)",
}

_ENTRIES: tuple[Entry, ...] = (
    # ------------------------------------------------------------------ A
    Entry(
        "A1",
        "pyarrow could not find libhdfs.so (on parcels it is in P/lib64, not lib/native)",
        "`OSError: Unable to load libhdfs: <dir>/libhdfs.so: cannot open shared object file: "
        "No such file or directory`; pyarrow versions before 1.0 raise "
        "`ArrowIOError: Unable to load libhdfs` instead.",
        "pyarrow tries a handful of places for libhdfs.so and takes the first that has it: the "
        "dynamic loader's search path, the working directory, `$HADOOP_HOME/lib/native` and "
        "`$ARROW_LIBHDFS_DIR`. On a Cloudera parcel, `lib/hadoop/lib/native` holds libhadoop, "
        "snappy and a static `libhdfs.a`, but no shared libhdfs: that one is in the parcel's "
        "`lib64` folder (CDH 5, CDH 6 and CDP 7 alike). Package installations keep it in "
        "`/usr/lib64`, and HDP under `/usr/hdp/<version>/usr/lib`.",
        "export ARROW_LIBHDFS_DIR=/opt/cloudera/parcels/CDH/lib64 (mlflow-client-env env does)",
        (
            "https://github.com/apache/arrow/issues/1685",
            "https://github.com/intel/BigDL/issues/2827",
        ),
    ),
    Entry(
        "A2",
        "pyarrow could not load libjvm.so from JAVA_HOME",
        "`OSError: Unable to load libjvm`, often with the path pyarrow tried, such as "
        "`/usr/java/latest//lib/server/libjvm.so: cannot open shared object file`.",
        "Before it touches libhdfs, pyarrow loads the JVM library itself. It looks under "
        "`$JAVA_HOME` and then a fixed list of usual Java folders, trying the sub-folders where "
        "Java 8 and Java 9+ keep `libjvm.so`. This goes wrong if JAVA_HOME is missing or wrong, "
        "names the `java` binary instead of the Java root, or points at an installation without "
        "the server VM (a headless stub). pyarrow before 0.16 also missed the Java 11 layout.",
        "set JAVA_HOME to a JDK root that has lib/server/libjvm.so (mlflow-client-env env does)",
        (
            "https://github.com/apache/arrow/issues/17210",
            "https://github.com/apache/arrow/pull/5810",
        ),
    ),
    Entry(
        "A3",
        "libhdfs.so needs libjvm.so, which the dynamic loader cannot find (no pyarrow involved)",
        "`libjvm.so: cannot open shared object file: No such file or directory`, printed by the "
        "dynamic loader rather than by pyarrow.",
        "libhdfs.so declares libjvm.so as a dependency. pyarrow avoids the problem by loading "
        "libjvm by full path first, but anything else that loads libhdfs directly (ctypes, "
        "native HDFS tools, other language bindings) leaves the lookup to the dynamic loader, "
        "which takes a library of that name already loaded in the process, or else searches "
        "only LD_LIBRARY_PATH, the run path and the system cache.",
        "put the folder holding libjvm.so ($JAVA_HOME/lib/server) on LD_LIBRARY_PATH before the "
        "process starts, e.g. in kernel.json's env; a launcher kernel from 'install-kernel' "
        "loads that libjvm.so at its start instead, which the loader then gives to libhdfs",
        ("https://github.com/databendlabs/databend/pull/6034",),
    ),
    Entry(
        "A4",
        "an earlier libhdfs/libjvm load failed in this process, and pyarrow caches that failure",
        "`Prior attempt to load libhdfs failed`, typically on the second try in a notebook "
        "after fixing the environment, or in an MLflow autologging warning.",
        "pyarrow attempts to load libjvm and libhdfs once per process and remembers the "
        "outcome. After one failure every later connection gets this message, even once the "
        "environment is right; the first error, the one that names the real problem, was shown "
        "earlier (or swallowed by autologging).",
        "fix the environment (run 'mlflow-client-env doctor'), then restart the kernel",
        ("https://github.com/mlflow/mlflow/issues/6499",),
    ),
    Entry(
        "A5",
        "this pyarrow build has no HDFS support",
        "`ImportError: The pyarrow installation is not built with support for 'HadoopFileSystem'`.",
        "pyarrow can be compiled without its HDFS module; some conda-forge builds were.",
        "install the PyPI manylinux wheel of pyarrow (or a conda build with HDFS enabled)",
    ),
    Entry(
        "A6",
        "pyarrow >= 0.17 removed the driver= argument that old MLflow passed",
        "`TypeError: connect() got an unexpected keyword argument 'driver'`.",
        "pyarrow 0.17 dropped the libhdfs3 driver and with it the `driver=` argument of "
        "`pyarrow.hdfs.connect`. MLflow before 1.9 (and other old client code) still passes it.",
        "upgrade MLflow",
        ("https://github.com/mlflow/mlflow/pull/2743",),
    ),
    # ------------------------------------------------------------------ B
    Entry(
        "B1",
        "libhdfs needs CLASSPATH, and pyarrow.fs.HadoopFileSystem never sets it",
        "`Environment variable CLASSPATH not set!` and `getJNIEnv: getGlobalJNIEnv failed` on "
        "stderr, then `OSError: HDFS connection failed`.",
        "libhdfs starts its JVM with `$CLASSPATH` as the class path and nothing else. The old "
        "`pyarrow.hdfs.connect` worked one out by itself; `pyarrow.fs.HadoopFileSystem` does not, "
        "and MLflow 2.16 switched to it. A setup that worked can therefore break on an upgrade "
        "of MLflow or pyarrow. The variable is read once, when the JVM starts.",
        "export CLASSPATH from 'mlflow-client-env env' before the first HDFS call",
        ("https://github.com/mlflow/mlflow/pull/12592",),
    ),
    Entry(
        "B2",
        "CLASSPATH has wildcards (the JNI JVM does not expand them) or lacks Hadoop jars",
        "`loadFileSystems error: (unable to get root cause for java.lang.NoClassDefFoundError)`, "
        "`hdfsBuilderConnect(...) error: (unable to get stack trace for "
        "java.lang.NoClassDefFoundError ...)` or `NoClassDefFoundError: "
        "org/apache/hadoop/fs/FileSystem`.",
        "CLASSPATH is set but does not hold the Hadoop classes. Either it has `dir/*` entries "
        "(the output of `hadoop classpath` without `--glob`), which a JVM started through JNI "
        "takes literally, or the Hadoop common and HDFS client jars are missing, for example "
        "because it was built from the parcel root instead of `lib/hadoop`.",
        "use the CLASSPATH from 'mlflow-client-env env' (every jar listed)",
        ("https://hadoop.apache.org/docs/stable/hadoop-project-dist/hadoop-hdfs/LibHdfs.html",),
    ),
    Entry(
        "B3",
        "the commons-lang jar libhdfs reports Java errors with is missing from CLASSPATH",
        "Hadoop 3's libhdfs: `could not find method getRootCauseMessage from class (null) ...`, "
        "then the JVM's fatal error banner (SIGSEGV); in Jupyter the kernel dies. Hadoop 2's "
        "libhdfs: `unable to get stack trace for ... (ExceptionUtils::getStackTrace error)` "
        "in place of the real reason, often beside `NoClassDefFoundError: "
        "org/apache/commons/lang/StringUtils`.",
        "To turn a Java exception into a message, libhdfs calls the `ExceptionUtils` class of "
        "Apache Commons Lang: the `commons-lang3` jar for Hadoop 3's libhdfs, the older "
        "`commons-lang` (2.x) for Hadoop 2's; the class name is compiled into libhdfs.so. A "
        "hand-made CLASSPATH that has the Hadoop jars but not that one breaks the error path "
        "itself: Hadoop 3's can crash the whole process, Hadoop 2's prints that it could not "
        "get the stack trace, and the first failure's real cause is lost. Hadoop 2's own "
        "classes also need commons-lang, so there the first connection fails too. The doctor "
        "reads the class from libhdfs.so and says `classpath.inherited.no-commons-lang3` (or "
        "`no-commons-lang`, or `classpath.ours.*` for the CLASSPATH it would set).",
        "use the full CLASSPATH from 'mlflow-client-env env' (every jar listed), or add the "
        "commons-lang(3) jar of the same Hadoop installation",
        ("https://github.com/apache/arrow/issues/44543",),
    ),
    Entry(
        "B4",
        "the client cannot resolve the HA nameservice in the URI: its configuration does not "
        "define it, or is not on CLASSPATH",
        "`UnknownHostException: nameservice1` (or another one-word name: the nameservice in "
        "fs.defaultFS or in the artifact URI), or `Could not find any configured addresses "
        "for URI hdfs://nameservice1`.",
        "An HA cluster is addressed by a logical name, not a host. Only the client's "
        "`hdfs-site.xml` turns it into NameNodes: `dfs.nameservices` lists it, "
        "`dfs.ha.namenodes.<name>` gives its NameNode IDs, `dfs.namenode.rpc-address.<name>."
        "<id>` their addresses, and `dfs.client.failover.proxy.provider.<name>` the class that "
        "picks one. Without a failover proxy provider Hadoop takes the name for a host and "
        "looks it up in DNS (`UnknownHostException`); with a provider but no addresses it "
        "finds nothing to try (`Could not find any configured addresses`). That happens when "
        "libhdfs does not see the conf dir (it reads `core-site.xml` and `hdfs-site.xml` only "
        "as resources on CLASSPATH, never through HADOOP_CONF_DIR), when the conf dir belongs "
        "to another or an older cluster (H3), or on YARN containers without a gateway "
        "configuration. A name with dots or a port (`nn01.example.com`, `host:8020`) is a "
        "host, not a nameservice: its `UnknownHostException` is a DNS problem or a misspelt "
        "NameNode (namenode-unreachable), which no nameservice definition fixes.",
        "put the cluster's client conf dir (/etc/hadoop/conf) first on CLASSPATH "
        "(mlflow-client-env env does) and make sure its hdfs-site.xml defines the nameservice; "
        "connect with host='default'",
        ("https://github.com/apache/arrow/issues/6320",),
    ),
    Entry(
        "B5",
        "the client did not load the cluster's core-site.xml, so it tried SIMPLE auth",
        "`SIMPLE authentication is not enabled.  Available:[TOKEN, KERBEROS]`.",
        "The setting that turns on Kerberos for the client "
        "(`hadoop.security.authentication=kerberos`) lives in `core-site.xml`. When the JVM "
        "does not see that file (no conf dir on CLASSPATH, or a NameNode host given explicitly "
        "with no configuration), it offers SIMPLE authentication, which a secure cluster "
        "refuses.",
        "put the Hadoop conf dir first on CLASSPATH (mlflow-client-env env does)",
        ("https://github.com/apache/arrow/issues/38350",),
    ),
    Entry(
        "B6",
        "two Hadoop or protobuf versions are mixed on CLASSPATH",
        "`ClassCastException: ...ClientNamenodeProtocolProtos$GetFileInfoRequestProto cannot be "
        "cast to com.google.protobuf.Message`, or a `...RequestProto` that cannot be cast to "
        "the shaded `org.apache.hadoop.shaded.com.google.protobuf.Message`.",
        "The class path combines incompatible builds: the shaded `hadoop-client-api` jars (Hadoop "
        "3.3+, also shipped inside pip's pyspark) next to the unshaded `hadoop-common`, jars of "
        "two Hadoop releases, or several protobuf-java versions. Globbing a parcel's `jars/` "
        "folder, which gathers every component's jars in several versions, or collecting every "
        "jar under HADOOP_HOME does this.",
        "use exactly the parcel's classpath; never glob P/jars; keep pyspark's jars out",
        ("https://github.com/mlflow/mlflow/issues/1545",),
    ),
    Entry(
        "B7",
        "no HDFS client jar on CLASSPATH",
        "`java.io.IOException: No FileSystem for scheme: hdfs`.",
        "Hadoop maps the `hdfs://` scheme to a class in the HDFS client jar. Without that jar "
        "on CLASSPATH there is no implementation; an odd HADOOP_HOME (such as `/usr/bin/hadoop`) "
        "from which the class path was derived is the usual origin.",
        "use the CLASSPATH from 'mlflow-client-env env'",
        ("https://github.com/jcrist/skein/issues/189",),
    ),
    Entry(
        "B8",
        "the legacy pyarrow.hdfs.connect ran 'hadoop classpath', and 'hadoop' is not on PATH",
        "`FileNotFoundError: [Errno 2] No such file or directory: 'hadoop'`.",
        "With no usable CLASSPATH and no HADOOP_HOME, the old `pyarrow.hdfs.connect` computes the "
        "class path by running the `hadoop` command. A Jupyter kernel launched without a login "
        "shell, or a container without the parcel's `bin`, has no such command on PATH.",
        "export CLASSPATH from 'mlflow-client-env env' (or put P/bin on PATH)",
        ("https://github.com/apache/arrow/issues/2865",),
    ),
    # ------------------------------------------------------------------ C
    Entry(
        "C1",
        "MLflow < 2.16 still calls the pyarrow.hdfs API that pyarrow 2 deprecated",
        "`FutureWarning: pyarrow.hdfs.connect is deprecated as of 2.0.0, please use "
        "pyarrow.fs.HadoopFileSystem instead.`, raised from MLflow's HDFS artifact repository.",
        "MLflow before 2.16 uses the legacy HDFS API (2.8 to 2.15 meant to switch, but the "
        "version check was inverted). With pyarrow 2 to 15 that only warns. The warning is "
        "harmless; it matters because it is printed next to the real error and gets the blame.",
        "read past the warning to the error next to it; upgrading MLflow to >= 2.16 (then export "
        "CLASSPATH, B1) removes it",
        ("https://github.com/mlflow/mlflow/issues/8213",),
    ),
    Entry(
        "C2",
        "MLflow < 2.16 calls pyarrow.hdfs, which pyarrow 16 removed",
        "`AttributeError: module 'pyarrow' has no attribute 'hdfs'` when logging artifacts.",
        "pyarrow 16 deleted the legacy `pyarrow.hdfs` module, and MLflow up to 2.15 still calls "
        "it. MLflow's own pin (`pyarrow<16`) normally prevents the pair; it happens when pyarrow "
        "was installed with `--no-deps`, through conda, or because another package needs a "
        "newer one.",
        "upgrade MLflow to >= 2.16, or pin pyarrow < 16",
        ("https://github.com/mlflow/mlflow/pull/12980",),
    ),
    Entry(
        "C3",
        "pip found MLflow's pyarrow pin violated",
        "`mlflow 2.14.1 requires pyarrow<16,>=4.0.0, but you have pyarrow 16.0.0 which is "
        "incompatible.` (with whatever versions are installed).",
        "Each MLflow release caps the pyarrow major version it supports (below 16 up to 2.15); "
        "installing a newer pyarrow afterwards breaks the pin, and pip says so.",
        "install versions that agree: pyarrow 16 or 17 needs MLflow 2.16 or later",
        ("https://github.com/mlflow/mlflow/issues/12277",),
    ),
    Entry(
        "C4",
        "old MLflow wrote an artifact > 2 GB in one libhdfs write",
        "`HDFS Write failed` while logging an artifact larger than 2 GB.",
        "MLflow before 1.26 read a whole artifact into memory and handed it to libhdfs in a "
        "single write, which cannot exceed 2^31 bytes.",
        "upgrade MLflow to 1.26 or later, which uploads artifacts in chunks (2.16 and later "
        "stream them through pyarrow.fs)",
        (
            "https://github.com/mlflow/mlflow/issues/4025",
            "https://github.com/mlflow/mlflow/pull/5812",
        ),
    ),
    # ------------------------------------------------------------------ D
    Entry(
        "D1",
        "the JVM found no valid Kerberos ticket (none, expired, or in a cache Java cannot read)",
        "`javax.security.sasl.SaslException: GSS initiate failed [Caused by GSSException: No "
        "valid credentials provided (Mechanism level: Failed to find any Kerberos tgt)]`; with "
        "a ticket cache passed by MLflow, `failure to login using ticket cache file` or "
        "`Unable to obtain Principal Name for authentication`.",
        "The JVM inside libhdfs looked for a ticket-granting ticket and found none it could use: "
        "nobody ran kinit, the ticket has expired, or the JVM read a different cache than "
        "Python and `klist` (a KEYRING/KCM cache, KRB5CCNAME not exported to the kernel, "
        "MLFLOW_KERBEROS_TICKET_CACHE naming another file). A client configuration without "
        "Kerberos turned on (B5) can also end here.",
        "kinit into a FILE cache and export KRB5CCNAME=FILE:<path> (mlflow-client-env kinit "
        "--to-file)",
        ("https://github.com/apache/doris/issues/22643",),
    ),
    Entry(
        "D2",
        "without Kerberos credentials the client fell back to a SIMPLE login, which was refused",
        "`org.apache.hadoop.security.AccessControlException: Client cannot authenticate "
        "via:[TOKEN, KERBEROS]`, sometimes after a log line ending in `(auth:SIMPLE)`.",
        "The client is set up for Kerberos, but the Hadoop user it connects as has no Kerberos "
        "credentials, so the secure NameNode turns it away. Besides the reasons of D1, a user "
        "name given without a ticket cache does this even when a valid ticket exists: "
        "pyarrow's `HadoopFileSystem(user=...)` without `kerb_ticket`, or MLflow's "
        "`MLFLOW_KERBEROS_USER` without `MLFLOW_KERBEROS_TICKET_CACHE`, makes Hadoop build a "
        "SIMPLE 'remote user' that never reads the ticket (reproduced on the sandbox).",
        "kinit; pass the ticket cache along with the user name (MLFLOW_KERBEROS_TICKET_CACHE, "
        "which mlflow-client-env env sets), or drop the user name; and keep core-site.xml with "
        "hadoop.security.authentication=kerberos on CLASSPATH",
        ("https://github.com/crs4/pydoop/issues/111",),
    ),
    Entry(
        "D3",
        "the ticket is in a KEYRING or KCM cache, which Java cannot read",
        "`klist` and Python see a valid ticket, yet the JVM reports `Failed to find any Kerberos "
        "tgt` (D1); `klist` shows `Ticket cache: KEYRING:...` or `KCM:...`.",
        "RHEL, Fedora and SSSD hosts keep tickets in the kernel keyring or in KCM by default. "
        "klist, kinit and python-gssapi understand those; the JDK's Kerberos code understands "
        "only FILE caches (KRB5CCNAME as `FILE:<path>` or a bare path, `/tmp/krb5cc_<uid>` when "
        "unset).",
        "get a FILE copy of the ticket and export KRB5CCNAME=FILE:<path> (mlflow-client-env kinit "
        "--to-file does both); leave the shared krb5.conf alone",
        ("https://github.com/hortonworks/cloudbreak/pull/4142",),
    ),
    Entry(
        "D4",
        "a kinit/libkrb5 (e.g. conda's krb5) without KEYRING/KCM support shadows the system's",
        "`kinit: Unknown credential cache type while resolving ccache` (MIT builds, typically "
        "inside an activated conda environment), or Heimdal's `kinit: resolving credentials "
        "cache: unknown ccache type KEYRING:...`.",
        "A kinit found on PATH before the system's brings its own Kerberos library: conda's "
        "`krb5` package (MIT, built without the KEYRING and KCM cache types and without the "
        "site's defaults) or a Heimdal kinit, which has no KEYRING type and speaks another KCM "
        "protocol than sssd. The system's default cache name is then one it cannot resolve, "
        "and a ticket it writes may land where nothing else looks. The doctor names the kinit "
        "on PATH, the libkrb5 it loads and the cache it resolves.",
        "use /usr/bin/kinit (or put /usr/bin first on PATH), or drop conda's krb5 from the "
        "environment; keep FILE caches",
        ("https://github.com/ContinuumIO/anaconda-issues/issues/10772",),
    ),
    Entry(
        "D5",
        "the JVM read a different krb5.conf than Python (Java ignores KRB5_CONFIG)",
        "`KrbException: Cannot locate default realm` or `Can't get Kerberos realm` from the JVM, "
        "although kinit works.",
        "MIT Kerberos and Python follow `KRB5_CONFIG`; the JDK does not. It reads the file named "
        "by `-Djava.security.krb5.conf`, else one inside the Java installation, else "
        "`/etc/krb5.conf`. A personal krb5.conf given through KRB5_CONFIG (common on laptops and "
        "containers) therefore serves kinit but not the JVM inside libhdfs.",
        "add -Djava.security.krb5.conf=$KRB5_CONFIG to LIBHDFS_OPTS (mlflow-client-env env does)",
    ),
    Entry(
        "D6",
        "the Kerberos ticket expired",
        "`Ticket expired` (for example `kerberos.GSSError: (... ('Ticket expired', "
        "-1765328352))` over WebHDFS/SPNEGO), or `GSS initiate failed` from Java hours into a "
        "job that started fine. On the libhdfs path the JVM's stderr first says `Exception "
        "encountered while running the renewal command. Aborting renew thread. "
        "ExitCodeException exitCode=1: kinit: KDC can't fulfill requested option while renewing "
        "credentials` (a ticket that is not renewable) or `kinit: Ticket expired while "
        "renewing credentials` (its renewable life is over).",
        "A ticket lives for the realm's ticket lifetime (often 10 to 24 hours). A training run "
        "that outlasts it fails unless someone renews it, and past the renewable lifetime even "
        "`kinit -R` cannot. A running JVM adds a trap: Hadoop (2.7.3 tested) keeps the ticket it "
        "read when the filesystem connected, so a HadoopFileSystem made with a ticket cache "
        "(as MLflow makes it) fails at that ticket's expiry even when the cache was renewed.",
        "kinit again; for long runs use 'mlflow-client-env run' or keep_ticket_fresh() with a "
        "renewable ticket or a keytab, started before the first HDFS access (it gives the JVM "
        "the options to take renewed tickets); otherwise make a new HadoopFileSystem after "
        "a renewal",
        ("https://github.com/mtth/hdfs/issues/49",),
    ),
    Entry(
        "D7",
        "Java refuses the encryption type of the tickets, or asks the KDC for one it lacks",
        "`Encryption type AES256 CTS mode with HMAC SHA1-96 is not supported/enabled`, or "
        "`GSS initiate failed [Caused by GSSException: No valid credentials provided "
        "(Mechanism level: KDC has no support for encryption type (14) - BAD_ENCRYPTION_TYPE)]` "
        "from the JVM. When the refused type is the one of the TGT in the cache, Java says "
        "only `Failed to find any Kerberos tgt` (D1's text): compare `klist -e` with what this "
        "Java allows.",
        "Java and the KDC must share an encryption type, and Java decides with its own settings, "
        "not libkrb5's: its crypto policy (Java 8 before 8u161 has no AES-256 without the "
        "unlimited JCE policy; `crypto.policy=limited` does the same today), the krb5.conf it "
        "reads (`default_tgs_enctypes`/`permitted_enctypes`, e.g. a FIPS or FUTURE system "
        "crypto policy allowing only the SHA-2 AES types while the KDC has SHA-1 keys), and, "
        "from Java 17, des3 and rc4 disabled unless `allow_weak_crypto = true`. A TGT of a type "
        "Java refuses is skipped silently; a service-ticket request for types the KDC lacks is "
        "refused by the KDC.",
        "give Java's krb5.conf (-Djava.security.krb5.conf in LIBHDFS_OPTS) enctypes the KDC has "
        "(see klist -e), and use Java 8u161 or later with the unlimited crypto policy; ask the "
        "KDC admins for AES keys where tickets are rc4/des3",
        ("https://github.com/palantir/hadoop-crypto/issues/107",),
    ),
    Entry(
        "D8",
        "Python (gssapi) found no Kerberos ticket in its default cache",
        "`No Kerberos credentials available (default cache: /tmp/krb5cc_<uid>)` from "
        "python-gssapi or requests-kerberos.",
        "The Python side (not the JVM) needs a ticket: for instance when the tracking server "
        "itself sits behind Kerberos (SPNEGO), and the default cache holds none.",
        "kinit (or 'mlflow-client-env kinit'); check KRB5CCNAME",
        ("https://github.com/mtth/hdfs/issues/58",),
    ),
    # ------------------------------------------------------------------ E
    Entry(
        "E1",
        "LD_LIBRARY_PATH puts Hadoop/parcel/JDK copies of system libraries ahead of the system's",
        "Python imports fail with loader errors such as `... not defined in file "
        "libkrb5support.so.0 with link time reference`, `undefined symbol: ..., version "
        "krb5_3_MIT`, `version 'OPENSSL_1.0.2' not found` or `version 'GLIBCXX_3.4.21' not "
        "found`, in `import ssl`, `gssapi`, `kerberos` or `pyarrow`.",
        "A folder on LD_LIBRARY_PATH (Hadoop's `lib/native`, a parcel's `lib64`, a JDK folder, "
        "another conda environment) carries its own copies of Kerberos, OpenSSL, libstdc++ or "
        "zlib. The loader then mixes libraries from two builds. Exporting parcel folders "
        "globally to get libhdfs loaded is the usual way in.",
        "keep parcel folders off LD_LIBRARY_PATH and let ARROW_LIBHDFS_DIR point pyarrow at "
        "libhdfs (mlflow-client-env env does)",
        ("https://github.com/jupyter-incubator/sparkmagic/issues/601",),
    ),
    Entry(
        "E2",
        "LD_LIBRARY_PATH, CLASSPATH and JVM options changed in a running process have no effect",
        "Setting `os.environ['LD_LIBRARY_PATH']` (or CLASSPATH, LIBHDFS_OPTS after the first "
        "HDFS call) in a notebook cell changes nothing.",
        "The dynamic loader reads LD_LIBRARY_PATH once, when the process starts; later changes "
        "reach only child processes. libhdfs likewise reads CLASSPATH and LIBHDFS_OPTS once, "
        "when it creates the JVM.",
        "set loader variables before the process starts (install-kernel writes them into the "
        "kernel); call setup() before the first HDFS call",
        ("https://github.com/python/cpython/issues/100567",),
    ),
    Entry(
        "E3",
        "the JVM inside libhdfs does not find Hadoop's native library (a warning only)",
        "`WARN util.NativeCodeLoader: Unable to load native-hadoop library for your platform... "
        "using builtin-java classes where applicable`.",
        "The `hadoop` launcher sets `java.library.path` to the folder with libhadoop.so; the "
        "JVM that libhdfs starts does not. Hadoop then uses its pure-Java code paths, which "
        "work but lose native checksums and short-circuit reads. The line shows up next to real "
        "errors and is often mistaken for one.",
        "pass -Djava.library.path=<parcel>/lib/hadoop/lib/native in LIBHDFS_OPTS "
        "(mlflow-client-env env does); 'mlflow-client-env doctor --check jvm' runs Hadoop's "
        "own native check in a JVM started as libhdfs starts one, and says why not; "
        "otherwise ignore the warning",
        (
            "https://hadoop.apache.org/docs/stable/hadoop-project-dist/hadoop-common/NativeLibraries.html",
        ),
    ),
    Entry(
        "E4",
        "HDFS used in a child process forked after the JVM started",
        "An HDFS call hangs in a worker process (PyTorch DataLoader workers, multiprocessing "
        "pools) while the same call works in the parent.",
        "The JVM that libhdfs starts does not survive `fork()`: the child inherits a copy of its "
        "memory without its threads, and its first HDFS call blocks inside JNI.",
        "open HDFS connections only after forking, or use the 'spawn' or 'forkserver' start method",
        ("https://github.com/pfnet/pfio/issues/81",),
    ),
    Entry(
        "E5",
        "the JVM inside the Python process sizes its heap from the host's RAM",
        "A notebook kernel's memory grows by gigabytes after its first HDFS call, up to an "
        "out-of-memory kill.",
        "Without `-Xmx`, the embedded JVM picks its maximum heap as a share of the machine's "
        "memory (tens of gigabytes on a large node), although an HDFS client needs little.",
        "cap the heap in LIBHDFS_OPTS, e.g. -Xmx512m (mlflow-client-env env does); "
        "'mlflow-client-env doctor --check jvm' shows the heap that JVM takes, and "
        "'doctor --pid PID' the cap of a running process's",
        ("https://github.com/criteo/tf-yarn/issues/14",),
    ),
    # ------------------------------------------------------------------ F
    Entry(
        "F1",
        "JAVA_HOME is not a Java root, or not the layout a tool expects",
        "libjvm not found (A2) although Java is installed; JAVA_HOME ends in `/jre` or "
        "`/bin`, or names the `java` binary.",
        "Java keeps libjvm.so in different places: `jre/lib/amd64/server` in a Java 8 JDK, "
        "`lib/amd64/server` in a Java 8 JRE, `lib/server` from Java 9 on. Tools that know only "
        "some of these miss the others, and JAVA_HOME is often set to a sub-folder.",
        "point JAVA_HOME at the JDK root, without /jre or /bin (mlflow-client-env finds and "
        "normalises it)",
        ("https://github.com/apache/arrow/issues/1437",),
    ),
    Entry(
        "F2",
        "a new JAVA_HOME does not help a process whose first libjvm load failed",
        "After fixing JAVA_HOME in a notebook, HDFS still fails (often with A4's message).",
        "Loading libjvm is attempted once per process (see A4), and a running JVM keeps the "
        "Java it started with.",
        "restart the kernel after changing JAVA_HOME or LIBHDFS_OPTS",
    ),
    # ------------------------------------------------------------------ G
    Entry(
        "G1",
        "a Jupyter kernel does not see what ~/.bashrc exports",
        "What `~/.bashrc` exports (PATH, JAVA_HOME, KRB5CCNAME, CLASSPATH) works in a "
        "terminal but is missing inside the notebook.",
        "A kernel inherits the environment of the Jupyter server that started it, and only "
        "interactive shells read `.bashrc`. JupyterHub spawners, systemd services, VS Code and "
        "sudo (which also drops `LD_*`) start servers without it.",
        "install a kernel that sets the environment itself: mlflow-client-env install-kernel",
        ("https://github.com/jupyter/notebook/issues/3704",),
    ),
    Entry(
        "G2",
        "a ${VAR} template in kernel.json env is taken literally",
        'A kernel.json `env` value such as `"PATH": "/x/bin:${PATH}"` ends up in the kernel '
        "as that literal text, breaking PATH or LD_LIBRARY_PATH.",
        "Only newer frontends expand `${VAR}` in kernel.json (jupyter_client since 2019, VS "
        "Code's Jupyter extension since January 2024); older ones copy the string as it is.",
        "write absolute values into kernel.json (install-kernel does); re-run install-kernel "
        "after a parcel upgrade",
        ("https://github.com/jupyter/jupyter_client/pull/472",),
    ),
    Entry(
        "G3",
        "VS Code and remote Jupyter build their own kernel environment",
        "A custom LD_LIBRARY_PATH set for the kernel is ignored in VS Code or a remote Jupyter.",
        "These frontends assemble the kernel's environment themselves, so loader variables set "
        "elsewhere do not arrive; another reason not to rely on LD_LIBRARY_PATH (see E1 and E2).",
        "avoid depending on LD_LIBRARY_PATH: use ARROW_LIBHDFS_DIR and the launcher kernel",
        ("https://github.com/microsoft/vscode-jupyter/issues/10927",),
    ),
    Entry(
        "G4",
        "conda activation scripts do not run for a kernel",
        "Variables that a conda environment's `etc/conda/activate.d` scripts set (JAVA_HOME, "
        "Hadoop variables) are missing in its Jupyter kernel.",
        "A plain `ipykernel install` records only the Python executable; starting it does not "
        "activate the environment, so the activation hooks never run.",
        "install the kernel with mlflow-client-env install-kernel, which sets what is needed "
        "without activation hooks",
        ("https://github.com/anaconda/nb_conda_kernels/issues/145",),
    ),
    # ------------------------------------------------------------------ H
    Entry(
        "H1",
        "Spark executors and YARN containers do not get the driver's environment",
        "A1 or B1 errors on the workers while the driver connects fine.",
        "Executors run with their own environment: ARROW_LIBHDFS_DIR, CLASSPATH and JAVA_HOME "
        "set for the driver do not reach them, and worker hosts may lack the client "
        "configuration (B4).",
        "start the session with mlflow_client_env.spark_conf() (or 'mlflow-client-env env "
        "--format spark-conf' for spark-submit); check the executors with "
        "mlflow_client_env.doctor.spark_probe.probe_executors(spark)",
        ("https://github.com/uber/petastorm/issues/279",),
    ),
    Entry(
        "H2",
        "CDSW/CML engines see mounted host paths, which must match",
        "A2 inside a CDSW or CML session although Java is installed on the host.",
        "Each CDSW engine gets the host's parcels, Hadoop client configuration and Java as "
        "mounts. If the engine expects Java at another path than the host uses, libjvm is not "
        "found; CML runtimes may also bring their own Hadoop client under `/runtime-addons`.",
        "point JAVA_HOME (and ARROW_LIBHDFS_DIR) at the paths as mounted in the engine",
        ("https://docs.cloudera.com/cdsw/1.9.2/architecture-overview/topics/cdsw-engines.html",),
    ),
    Entry(
        "H3",
        "the host's Hadoop client configuration is stale",
        "Errors such as B4 or B5 appear after the cluster changed (HA turned on, nameservice "
        "renamed, Kerberos enabled), or fs.defaultFS disagrees with the artifact URI.",
        "`/etc/hadoop/conf` is an alternatives link that Cloudera Manager updates only on hosts "
        "with a gateway role; elsewhere, or when another alternative has a higher priority, the "
        "old XML stays. The doctor's client-config check looks for three signs of it: "
        "`client-config.artifacts-elsewhere` (the experiment's artifact location is on a "
        "NameNode the configuration does not name), `client-config.older-than-parcel` (every "
        "file of the configuration is older than the parcel in use: an upgrade without a "
        "client configuration deploy) and `client-config.stale-simple-auth` (the configuration "
        "says SIMPLE while the cluster's NameNode refuses SIMPLE, asked with the start of a "
        "real RPC handshake: Kerberos was turned on after it was written). The last is an "
        "error, and the kerberos check then says `kerberos.simple-refused` instead of "
        "'no ticket needed'. libhdfs reports that refusal only as `Permission denied`; the "
        "doctor's HDFS probe says when it is the configuration and not the path.",
        "deploy the client configuration to this host (gateway role in Cloudera Manager), or "
        "pass --hadoop-conf-dir with a current copy",
        (
            "https://docs.cloudera.com/documentation/enterprise/latest/topics/cm_mc_client_config.html",
        ),
    ),
    Entry(
        "H4",
        "the tracking server can write artifacts to HDFS for its clients",
        "Not an error: an experiment whose artifact location starts with `mlflow-artifacts:`.",
        "Since MLflow 2.0 `mlflow server` proxies artifacts by default. With "
        "`--artifacts-destination hdfs://...` libhdfs and Kerberos are the server's "
        "business alone; "
        "clients upload over HTTP and need none of the Hadoop setup.",
        "when the artifact location is mlflow-artifacts:, skip the Hadoop setup on the client",
        ("https://github.com/mlflow/mlflow/blob/master/CHANGELOG.md",),
    ),
    # ------------------------------------------------------------------ descriptive
    Entry(
        "java-too-new",
        "Hadoop up to 3.4 cannot run on Java 24 or later",
        "`UnsupportedOperationException: getSubject is not supported` from the JVM inside libhdfs.",
        "Java 24 removed the Security Manager API behind `Subject.getSubject`, which Hadoop's "
        "login code (up to 3.4) calls on every connection.",
        "use Java 8, 11 or 17: pass --java-home (mlflow-client-env prefers a compatible JDK)",
    ),
    Entry(
        "java-module-exports",
        "Java 9+ needs an --add-exports option for Hadoop's Kerberos code",
        "An `IllegalAccessError` saying a class `does not export sun.security.krb5` to the "
        "unnamed module.",
        "Hadoop's Kerberos support uses JDK-internal classes; from Java 9 on the module system "
        "hides them unless the JVM is told to export them.",
        "add --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED to LIBHDFS_OPTS",
    ),
    Entry(
        "kdc-unreachable",
        "the KDC cannot be reached",
        "`Cannot contact any KDC for realm ...` from MIT tools, or `GSS initiate failed ... "
        "(Mechanism level: Connection refused)` (or a receive/connect timeout) from Java.",
        "A ticket for the NameNode must be fetched from the KDC; with only a TGT cached, every "
        "new process asks the KDC again. The KDC is down, or a firewall or a wrong `kdc` line "
        "in krb5.conf keeps the client from it.",
        "check the network and the kdc lines in krb5.conf; retry when the KDC is back",
    ),
    Entry(
        "no-datanode",
        "no DataNode accepted the write",
        "`File ... could only be replicated to 0 nodes instead of minReplication (=1)`, or "
        "`There are 0 datanode(s) running`.",
        "The NameNode answered, but no DataNode could take the block: they are down, full, or "
        "unreachable from this host (the client writes to DataNodes directly).",
        "check the DataNodes ('hdfs dfsadmin -report'); ask the cluster admins",
    ),
    Entry(
        "data-transfer-protection",
        "the client and the DataNodes disagree on data-transfer protection",
        "A failure mentioning the `SASL data transfer protection handshake` when reading or "
        "writing blocks.",
        "Secure clusters can require authentication or encryption of the block transfer "
        "(`dfs.data.transfer.protection`). A client without the cluster's `hdfs-site.xml` does "
        "not know the setting and the handshake fails.",
        "use the cluster's hdfs-site.xml (dfs.data.transfer.protection) on CLASSPATH",
    ),
    Entry(
        "permission-denied",
        "HDFS refused access to the path",
        "`Permission denied: user=..., access=WRITE, inode=...` or another "
        "`AccessControlException` naming a path.",
        "Authentication worked; the HDFS permissions (or Ranger/Sentry policies) on the "
        "artifact path do not allow the authenticated user.",
        "write under a directory you own (e.g. /user/$USER) or ask for access",
    ),
    Entry(
        "namenode-unreachable",
        "nothing answered at the NameNode's (or server's) address",
        "`java.net.ConnectException: Connection refused` (`Call From ... failed on connection "
        "exception`).",
        "The address from fs.defaultFS (or an HA NameNode's address) accepts no connection: the "
        "NameNode is down, a failover is under way, or the configuration names the wrong host "
        "or port.",
        "check fs.defaultFS and that the NameNode is up ('hdfs haadmin', Cloudera Manager)",
    ),
    Entry(
        "libhdfs-failed",
        "libhdfs failed; the JVM printed the reason to this process's stderr (in Jupyter: the "
        "server's log), not into the exception",
        "`OSError: HDFS connection failed` or `[Errno 255] HDFS create directory failed`, with "
        "no further reason.",
        "pyarrow's exception carries only its own summary. The JVM's reason (a missing class, "
        "no Kerberos ticket, ...) went to stderr, which in a notebook is the Jupyter server's "
        "log.",
        "run 'mlflow-client-env doctor': it repeats the connection in a subprocess and names the "
        "cause",
    ),
)

_BY_CODE: dict[str, Entry] = {e.code.lower(): e for e in _ENTRIES}


def entries() -> tuple[Entry, ...]:
    """Every entry: the catalog's in letter order, then the descriptive codes."""
    return _ENTRIES


def codes() -> tuple[str, ...]:
    return tuple(e.code for e in _ENTRIES)


def normalize(code: str) -> str:
    """The bare code in what a user may paste: ``d1``, ``[catalog D1]``, ``hdfs.D1``."""
    text = code.strip().strip("[]()").strip()
    if text.lower().startswith("catalog "):
        text = text[len("catalog ") :].strip()
    if "." in text:  # a doctor finding code, <check>.<what>
        text = text.rsplit(".", 1)[1]
    return text.upper() if _CATALOG_CODE.fullmatch(text.upper()) else text.lower()


def lookup(code: str) -> Entry:
    """The entry for ``code`` (case-insensitive; finding codes like ``hdfs.D1`` work too).

    Raises :class:`~mlflow_client_env.errors.UnknownCodeError` for a code without one.
    """
    found = _BY_CODE.get(normalize(code).lower())
    if found is None:
        raise UnknownCodeError(
            f"no troubleshooting entry for {code.strip()!r}",
            "use one of: " + ", ".join(codes()),
        )
    return found


def _paragraph(label: str, text: str, width: int) -> str:
    return textwrap.fill(
        text, width, initial_indent=f"{label:<9}", subsequent_indent=" " * 9, break_on_hyphens=False
    )


def render_text(entry: Entry, width: int = 88) -> str:
    """One entry for a terminal (``mlflow-client-env explain CODE``)."""
    kind = "catalog entry" if entry.in_catalog else "descriptive code"
    lines = [
        f"{entry.code} ({kind}): {entry.title}",
        "",
        _paragraph("symptom", entry.symptom, width),
        _paragraph("cause", entry.cause, width),
        _paragraph("fix", entry.fix, width),
    ]
    lines.extend(
        _paragraph("see also" if i == 0 else "", url, width) for i, url in enumerate(entry.see_also)
    )
    lines.append(_paragraph("docs", entry.doc_link, width))
    return "\n".join(lines) + "\n"


def _section(entry: Entry) -> str:
    return entry.code[0] if entry.in_catalog else ""


def _md(text: str) -> str:
    """``text`` for Markdown: a ``<`` outside `code` would start an HTML tag (``FILE:<path>``)."""
    parts = text.split("`")
    return "`".join(p if i % 2 else p.replace("<", "&lt;") for i, p in enumerate(parts))


def render_markdown(items: Iterable[Entry]) -> str:
    """The reference as Markdown (``docs/troubleshooting.md``).

    Each entry's heading is its bare code, so its anchor is the code in lower case
    on GitHub and in other renderers alike: ``troubleshooting.md#d1``.
    """
    items = tuple(items)
    out = [
        "# Troubleshooting reference",
        "",
        f"> Generated by `{GENERATE}` from `{_MODULE.replace('.', '/')}.py`: "
        "edit that file, not this one.",
        "",
        "Messages of mlflow-client-env name a failure by a code: `[catalog D1]` or `(D1)` for "
        "an entry of the error catalog (letters A to H), `[namenode-unreachable]` for a failure "
        "the catalog does not list; doctor findings carry it as `<check>.<code>`, e.g. "
        "`hdfs.D1`. Each code has a section below, whose link is the code in lower case "
        "(`#d1`, `#namenode-unreachable`). In a terminal, `mlflow-client-env explain CODE` "
        "prints the same text.",
        "",
    ]
    order = list(SECTIONS)
    grouped: dict[str, list[Entry]] = {}
    for e in items:
        grouped.setdefault(_section(e), []).append(e)
    present = [s for s in order if s in grouped]
    for s in present:
        name = f"{s}. {SECTIONS[s]}" if s else SECTIONS[s]
        out.append(f"- {name}: " + ", ".join(f"[{e.code}](#{e.anchor})" for e in grouped[s]))
    for s in present:
        out += ["", f"## {s}. {SECTIONS[s]}" if s else f"## {SECTIONS[s]}"]
        for e in grouped[s]:
            out += [
                "",
                f"### {e.code}",
                "",
                f"**{_md(e.title)}**",
                "",
                f"**Symptom.** {_md(e.symptom)}",
                "",
                f"**Cause.** {_md(e.cause)}",
                "",
                f"**Fix.** {_md(e.fix)}",
            ]
            if e.see_also:
                out += ["", "See also: " + ", ".join(f"<{u}>" for u in e.see_also)]
    return "\n".join(out) + "\n"


def main() -> int:
    try:
        sys.stdout.buffer.write(render_markdown(entries()).encode())
        sys.stdout.flush()
    except BrokenPipeError:  # `... | head`: stop quietly, and keep the exit flush quiet too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
