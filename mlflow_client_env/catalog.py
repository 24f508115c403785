"""Map an error that pyarrow, libhdfs, the JVM or MLflow raised to its catalog entry.

Users see one raw ``OSError`` or a JVM stack trace; the useful part is which
link of the chain broke and what to change. Entries with codes like ``D1`` are
those of the error catalog (shared/reference/error-catalog.md); a few failure
modes it does not list (a down NameNode, no DataNode, ...) have descriptive
lower-case codes instead, so they are never mistaken for a catalog entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Explanation:
    code: str  # a catalog entry ("D1") or a descriptive code ("namenode-unreachable")
    title: str
    fix: str
    matched: str  # the line of the error text that matched

    @property
    def in_catalog(self) -> bool:
        return re.fullmatch(r"[A-H]\d+", self.code) is not None

    @property
    def label(self) -> str:
        """``[catalog D1]`` for catalog entries, else ``[namenode-unreachable]``."""
        return f"[catalog {self.code}]" if self.in_catalog else f"[{self.code}]"


# Order matters: the first match wins, so specific texts come before generic ones.
_CATALOG: tuple[tuple[str, str, str, str], ...] = (
    (
        "A4",
        r"Prior attempt to load libhdfs failed",
        "an earlier libhdfs/libjvm load failed in this process, and pyarrow caches that failure",
        "fix the environment (run 'mlflow-client-env doctor'), then restart the kernel",
    ),
    (
        "A2",
        r"Unable to load libjvm",
        "pyarrow could not load libjvm.so from JAVA_HOME",
        "set JAVA_HOME to a JDK root that has lib/server/libjvm.so (mlflow-client-env env does)",
    ),
    (
        "A1",
        r"Unable to load libhdfs",
        "pyarrow could not find libhdfs.so (on parcels it is in P/lib64, not lib/native)",
        "export ARROW_LIBHDFS_DIR=/opt/cloudera/parcels/CDH/lib64 (mlflow-client-env env does)",
    ),
    (
        "A3",
        r"libjvm\.so: cannot open shared object file",
        "libhdfs.so needs libjvm.so, which the dynamic loader cannot find (no pyarrow involved)",
        "add $JAVA_HOME/lib/server to LD_LIBRARY_PATH at process start (kernel.json env)",
    ),
    (
        "A5",
        r"not built with support for .HadoopFileSystem",
        "this pyarrow build has no HDFS support",
        "install the PyPI manylinux wheel of pyarrow",
    ),
    (
        "C2",
        r"module 'pyarrow' has no attribute 'hdfs'",
        "MLflow < 2.16 calls pyarrow.hdfs, which pyarrow 16 removed",
        "upgrade MLflow to >= 2.16, or pin pyarrow < 16",
    ),
    (
        "A6",
        r"unexpected keyword argument 'driver'",
        "pyarrow >= 0.17 removed the driver= argument that old MLflow passed",
        "upgrade MLflow",
    ),
    (
        "C3",
        r"requires pyarrow\S*, but you have pyarrow \S+ which is incompatible",
        "pip found MLflow's pyarrow pin violated",
        "choose a consistent pair: MLflow >= 2.16 for pyarrow 16/17",
    ),
    (
        "C4",
        r"HDFS Write failed",
        "old MLflow wrote an artifact > 2 GB in one libhdfs write",
        "upgrade MLflow (>= 2.16 streams through open_output_stream)",
    ),
    (
        "java-too-new",
        r"getSubject is not supported",
        "Hadoop up to 3.4 cannot run on Java 24 or later",
        "use Java 8, 11 or 17: pass --java-home (mlflow-client-env prefers a compatible JDK)",
    ),
    (
        "D4",
        r"Unknown credential cache type",
        "a kinit/libkrb5 (e.g. conda's krb5) without KEYRING/KCM support shadows the system's",
        "use /usr/bin/kinit, or drop conda's krb5 from the environment; keep FILE caches",
    ),
    (
        "D7",
        r"Encryption type .* is not supported/enabled",
        "this Java cannot use the AES-256 tickets the KDC issues",
        "use a JDK >= 8u161 (unlimited crypto) or install the JCE policy files",
    ),
    (
        "D8",
        r"No Kerberos credentials available",
        "Python (gssapi) found no Kerberos ticket in its default cache",
        "kinit (or 'mlflow-client-env kinit'); check KRB5CCNAME",
    ),
    (
        "D5x",
        r"does not export sun\.security\.krb5",
        "Java 9+ needs an --add-exports option for Hadoop's Kerberos code",
        "add --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED to LIBHDFS_OPTS",
    ),
    (
        "D5",
        r"Cannot locate default realm|Can't get Kerberos realm|No rules applied to",
        "the JVM read a different krb5.conf than Python (Java ignores KRB5_CONFIG)",
        "add -Djava.security.krb5.conf=$KRB5_CONFIG to LIBHDFS_OPTS (mlflow-client-env env does)",
    ),
    (
        "D6",
        r"Ticket expired|TGT has expired|KrbException: .*expired",
        "the Kerberos ticket expired",
        "kinit again; for long runs use 'mlflow-client-env run' or keep_ticket_fresh()",
    ),
    (
        "kdc-unreachable",
        # MIT says "Cannot contact any KDC"; Java puts the KDC connection error after
        # "Mechanism level:" (with only a TGT cached, the NameNode's ticket needs the KDC)
        r"Cannot contact any KDC|Mechanism level: (?:Connection refused|Receive timed out"
        r"|connect timed out)",
        "the KDC cannot be reached",
        "check the network and the kdc lines in krb5.conf; retry when the KDC is back",
    ),
    (
        "D1",
        r"GSS initiate failed|Failed to find any Kerberos tgt|No valid credentials provided"
        # libhdfs with kerb_ticket (MLflow passes MLFLOW_KERBEROS_TICKET_CACHE): the cache
        # file holds no usable TGT (expired, or missing)
        r"|failure to login using ticket cache file|Unable to obtain Principal Name",
        "the JVM found no valid Kerberos ticket (none, expired, or in a cache Java cannot read)",
        "kinit into a FILE cache and export KRB5CCNAME=FILE:<path> (mlflow-client-env kinit --to-file)",
    ),
    (
        "D2",
        r"Client cannot authenticate via:\[TOKEN, KERBEROS\]|\(auth:SIMPLE\)",
        "the client logged in as SIMPLE because it had no Kerberos credentials",
        "kinit, and make sure core-site.xml with hadoop.security.authentication=kerberos is on CLASSPATH",
    ),
    (
        "B5",
        r"SIMPLE authentication is not enabled",
        "the client did not load the cluster's core-site.xml, so it tried SIMPLE auth",
        "put the Hadoop conf dir first on CLASSPATH (mlflow-client-env env does)",
    ),
    (
        "B1",
        r"CLASSPATH not set|Environment variable CLASSPATH",
        "libhdfs needs CLASSPATH, and pyarrow.fs.HadoopFileSystem never sets it",
        "export CLASSPATH from 'mlflow-client-env env' before the first HDFS call",
    ),
    (
        "B6",
        r"ClassCastException.*(protobuf|Proto)|Proto cannot be cast to (?:class )?\S*protobuf",
        "two Hadoop or protobuf versions are mixed on CLASSPATH",
        "use exactly the parcel's classpath; never glob P/jars; keep pyspark's jars out",
    ),
    (
        "B3",
        r"could not find method getRootCauseMessage",
        "a partial CLASSPATH crashed even libhdfs's error reporting (commons-lang3 missing)",
        "use the full CLASSPATH from 'mlflow-client-env env' (every jar listed)",
    ),
    (
        "B2",
        r"NoClassDefFoundError|ClassNotFoundException|loadFileSystems error",
        "CLASSPATH has wildcards (the JNI JVM does not expand them) or lacks Hadoop jars",
        "use the CLASSPATH from 'mlflow-client-env env' (every jar listed)",
    ),
    (
        "B7",
        r"No FileSystem for scheme",
        "no HDFS client jar on CLASSPATH",
        "use the CLASSPATH from 'mlflow-client-env env'",
    ),
    (
        "B4",
        r"UnknownHostException",
        "the nameservice in fs.defaultFS is unknown: the client configuration is not on CLASSPATH",
        "put /etc/hadoop/conf first on CLASSPATH; connect with host='default'",
    ),
    (
        "B8",
        r"No such file or directory: 'hadoop'",
        "the legacy pyarrow.hdfs.connect ran 'hadoop classpath', and 'hadoop' is not on PATH",
        "export CLASSPATH from 'mlflow-client-env env' (or put P/bin on PATH)",
    ),
    (
        "E1",
        r"not defined in file \S+ with link time reference|undefined symbol: \S+, version \S+"
        r"|version .(?:OPENSSL|GLIBCXX|CXXABI)_[\d.]+. not found",
        "LD_LIBRARY_PATH puts Hadoop/parcel/JDK copies of system libraries ahead of the system's",
        "do not put parcel dirs on LD_LIBRARY_PATH; use ARROW_LIBHDFS_DIR (mlflow-client-env env)",
    ),
    (
        "no-datanode",
        r"could only be (replicated|written) to 0|There are 0 datanode|0 datanode\(s\) running",
        "no DataNode accepted the write",
        "check the DataNodes ('hdfs dfsadmin -report'); ask the cluster admins",
    ),
    (
        "data-transfer-protection",
        r"SASL data transfer protection handshake|data transfer protection",
        "the client and the DataNodes disagree on data-transfer protection",
        "use the cluster's hdfs-site.xml (dfs.data.transfer.protection) on CLASSPATH",
    ),
    (
        "permission-denied",
        r"Permission denied|AccessControlException",
        "HDFS refused access to the path",
        "write under a directory you own (e.g. /user/$USER) or ask for access",
    ),
    (
        "namenode-unreachable",
        r"Connection refused|ConnectException",
        "nothing answered at the NameNode's (or server's) address",
        "check fs.defaultFS and that the NameNode is up ('hdfs haadmin', Cloudera Manager)",
    ),
    (
        "libhdfs-failed",
        r"HDFS [a-z ]*failed",
        "libhdfs failed; the JVM printed the reason to this process's stderr (in Jupyter: the "
        "server's log), not into the exception",
        "run 'mlflow-client-env doctor': it repeats the connection in a subprocess and names "
        "the cause",
    ),
)
_COMPILED = tuple((c, re.compile(p), t, f) for c, p, t, f in _CATALOG)


def explain_text(text: str) -> Explanation | None:
    """The catalog entry for the first pattern found in ``text``, if any."""
    for code, pattern, title, fix in _COMPILED:
        m = pattern.search(text)
        if m:
            start = text.rfind("\n", 0, m.start()) + 1
            end = text.find("\n", m.end())
            return Explanation(code, title, fix, text[start : end if end >= 0 else None].strip())
    return None


def explain(exc: BaseException | str) -> Explanation | None:
    """Map an exception raised by pyarrow or MLflow in user code to its catalog entry.

    The exception's text, its chained causes and, for subprocess errors, their
    stderr are all searched.
    """
    if isinstance(exc, str):
        return explain_text(exc)
    parts: list[str] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts.append(f"{type(cur).__name__}: {cur}")
        stderr = getattr(cur, "stderr", None)
        if isinstance(stderr, (str, bytes)):
            parts.append(stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr)
        cur = cur.__cause__ or cur.__context__
    return explain_text("\n".join(parts))
