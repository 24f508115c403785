"""Map an error that pyarrow, libhdfs, the JVM or MLflow raised to its catalog entry.

Users see one raw ``OSError`` or a JVM stack trace; the useful part is which
link of the chain broke and what to change. Entries follow the error catalog
(sections A-E); patterns are the substrings users actually paste.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Explanation:
    code: str  # catalog entry, e.g. "D1"
    title: str
    fix: str
    matched: str  # the line of the error text that matched


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
        "J24",
        r"getSubject is not supported",
        "Hadoop up to 3.4 cannot run on Java 24 or later",
        "use Java 8, 11 or 17: pass --java-home (mlflow-client-env prefers a compatible JDK)",
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
        "D0",
        r"Cannot contact any KDC",
        "the KDC cannot be reached",
        "check the network and the kdc lines in krb5.conf; retry when the KDC is back",
    ),
    (
        "D1",
        r"GSS initiate failed|Failed to find any Kerberos tgt|No valid credentials provided",
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
        r"ClassCastException.*(protobuf|Proto)",
        "two Hadoop or protobuf versions are mixed on CLASSPATH",
        "use exactly the parcel's classpath; never glob P/jars; keep pyspark's jars out",
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
        "H5",
        r"could only be (replicated|written) to 0|There are 0 datanode|0 datanode\(s\) running",
        "no DataNode accepted the write",
        "check the DataNodes ('hdfs dfsadmin -report'); ask the cluster admins",
    ),
    (
        "H6",
        r"SASL data transfer protection handshake|data transfer protection",
        "the client and the DataNodes disagree on data-transfer protection",
        "use the cluster's hdfs-site.xml (dfs.data.transfer.protection) on CLASSPATH",
    ),
    (
        "H4",
        r"Permission denied|AccessControlException",
        "HDFS refused access to the path",
        "write under a directory you own (e.g. /user/$USER) or ask for access",
    ),
    (
        "H3",
        r"Connection refused|ConnectException",
        "nothing answered at the NameNode's (or server's) address",
        "check fs.defaultFS and that the NameNode is up ('hdfs haadmin', Cloudera Manager)",
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
