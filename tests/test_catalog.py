"""``mlflow_client_env.explain(exc)``: real pyarrow failures, exception chains, catalog texts.

The real failures run pyarrow -> libhdfs -> JVM in a subprocess (each needs a fresh
JVM). What they show: pyarrow's exception carries only the text that pyarrow
itself makes ("Unable to load libjvm ..."); the JVM's reason for a failed
connection ("loadFileSystems error ... NoClassDefFoundError", "GSS initiate
failed") goes to the process's stderr, and the OSError says only "HDFS connection
failed". So explain() finds B2/D1 in a subprocess error's stderr (what the doctor
and the kernel launcher hand it), not in the bare OSError.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import mlflow_client_env
from mlflow_client_env.doctor.catalog import explain, explain_text, installed_versions
from mlflow_client_env_sandbox import Assets, Kdc, Sandbox
from mlflow_client_env_sandbox.parcel import ParcelTree
from tests.sandbox.fixtures import HdfsControl
from tests.sandbox.helpers import ClientEnv, base_env, make_client_conf
from tests.test_catalog_kerberos_real import run_writer, ticket
from tests.test_jvm_renewal import libhdfs_env

#: Connects like MLflow's HDFS artifact repository and creates a folder (not
#: get_file_info: on a Kerberos failure libhdfs returns no info and pyarrow reports
#: NotFound without raising, see test_no_ticket_is_d1), ``attempts`` times in one process;
#: prints what explain() made of each in-process exception, then re-raises the last one
#: (so the parent gets the exit status and the whole stderr, JVM output included).
CHILD = """
import json, sys
import pyarrow.fs as pafs
import mlflow_client_env

seen, last = [], None
for _ in range(int(sys.argv[1])):
    try:
        pafs.HadoopFileSystem("default", 0).create_dir("/tmp/mce-explain", recursive=True)
    except Exception as exc:
        e = mlflow_client_env.explain(exc)
        seen.append({"type": type(exc).__name__, "text": str(exc), "code": e and e.code})
        last = exc
print(json.dumps(seen), flush=True)
if last is not None:
    raise last
"""


def pyarrow_failure(
    env: dict[str, str], attempts: int = 1
) -> tuple[list[dict[str, str | None]], subprocess.CalledProcessError]:
    """Run CHILD; return its in-process explanations and the CalledProcessError it raised."""
    try:
        subprocess.run(
            [sys.executable, "-c", CHILD, str(attempts)],
            env={**base_env(), **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    except subprocess.CalledProcessError as err:
        return json.loads(err.stdout.strip().splitlines()[-1]), err
    raise AssertionError("pyarrow connected, but this setup was built to fail")


def parcel_env(tree: ParcelTree, java_home: Path) -> dict[str, str]:
    return {"JAVA_HOME": str(java_home), "ARROW_LIBHDFS_DIR": str(tree.libhdfs.parent)}


@pytest.fixture
def java_home(sandbox_assets: Assets) -> Path:
    return sandbox_assets.java_home


def test_wildcard_classpath_is_b2_in_stderr_not_in_the_oserror(
    parcel_tree: ParcelTree, java_home: Path
) -> None:
    lib = parcel_tree.parcel_dir / "lib"
    wild = f"{parcel_tree.conf_dir}:{lib}/hadoop/lib/*:{lib}/hadoop/*:{lib}/hadoop-hdfs/*"
    seen, err = pyarrow_failure({**parcel_env(parcel_tree, java_home), "CLASSPATH": wild})
    # in-process, the exception is only pyarrow's generic text: it points to doctor
    assert seen == [{"type": "OSError", "text": "HDFS connection failed", "code": "libhdfs-failed"}]
    assert "loadFileSystems error" in err.stderr and "NoClassDefFoundError" in err.stderr
    exp = explain(err)
    assert exp is not None and exp.code == "B2"
    assert exp.matched == "loadFileSystems error:"


def test_no_classpath_is_b1(parcel_tree: ParcelTree, java_home: Path) -> None:
    seen, err = pyarrow_failure(parcel_env(parcel_tree, java_home))
    assert seen[0]["text"] == "HDFS connection failed" and seen[0]["code"] == "libhdfs-failed"
    exp = explain(err)
    assert exp is not None and exp.code == "B1"
    assert exp.matched == "Environment variable CLASSPATH not set!"


def test_bad_java_home_is_a2_then_a4_in_the_same_process(
    parcel_tree: ParcelTree, tmp_path: Path
) -> None:
    env = {
        "JAVA_HOME": str(tmp_path / "no-jdk"),
        "ARROW_LIBHDFS_DIR": str(parcel_tree.libhdfs.parent),
    }
    seen, err = pyarrow_failure(env, attempts=2)
    first, second = seen
    assert first["type"] == "OSError" and str(first["text"]).startswith("Unable to load libjvm")
    assert first["code"] == "A2"  # pyarrow's own text is in the exception
    # the failed load is cached for the life of the process (catalog A4)
    assert second == {
        "type": "OSError",
        "text": "Prior attempt to load libhdfs failed",
        "code": "A4",
    }
    exp = explain(err)  # the child re-raised the last one: its traceback holds only A4's text
    assert exp is not None and exp.code == "A4"
    # a log holding both: the first failure is the cause, the cached one its consequence
    both = explain_text(f"OSError: {first['text']}\nOSError: {second['text']}")
    assert both is not None and both.code == "A2"
    assert both.matched.startswith("OSError: Unable to load libjvm")
    assert both.fix.startswith("the failed load is cached for the life of the process (A4)")


def test_missing_libhdfs_dir_is_a1(java_home: Path, tmp_path: Path) -> None:
    env = {"JAVA_HOME": str(java_home), "ARROW_LIBHDFS_DIR": str(tmp_path / "no-lib64")}
    seen, _ = pyarrow_failure(env)
    assert seen[0]["code"] == "A1"
    assert str(seen[0]["text"]).startswith("Unable to load libhdfs")
    assert f"{tmp_path / 'no-lib64'}/libhdfs.so: cannot open shared object file" in str(
        seen[0]["text"]
    )


def produced_env(client: ClientEnv, **over: str) -> dict[str, str]:
    """The client's shell after ``eval "$(mlflow-client-env env)"``."""
    env = {**base_env(), **client.env, **over}
    out = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "env", "--json"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return {**env, **json.loads(out.stdout)}


def test_no_ticket_is_d1(client_env: ClientEnv, tmp_path: Path) -> None:
    env = produced_env(client_env, KRB5CCNAME=f"FILE:{tmp_path / 'no-ticket'}")
    env.pop("MLFLOW_KERBEROS_TICKET_CACHE", None)  # plain pyarrow: the JVM reads KRB5CCNAME
    seen, err = pyarrow_failure(env)
    assert seen == [
        {
            "type": "OSError",
            "text": "[Errno 255] HDFS create directory failed. Detail: [errno 255] Unknown error 255",
            "code": "libhdfs-failed",  # the reason is only on stderr: run doctor
        }
    ]
    exp = explain(err)
    assert exp is not None and exp.code == "D1"
    assert "Failed to find any Kerberos tgt" in exp.matched
    # pyarrow's get_file_info hides the same failure: "/" is reported as NotFound
    info = subprocess.run(
        [sys.executable, "-c", "import pyarrow.fs as f\n"
         "print(f.HadoopFileSystem('default', 0).get_file_info('/').type.name)"],
        env={**base_env(), **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert info.returncode == 0 and info.stdout.strip() == "NotFound"
    assert "Failed to find any Kerberos tgt" in info.stderr


#: Writes argv[2] pieces of argv[3] bytes through one output stream, as MLflow's HDFS
#: repository (2.16+) does, and closes it, also after a failed write.
BIG_WRITER = """
import sys
import pyarrow.fs as pafs
out = pafs.HadoopFileSystem("default", 0).open_output_stream(sys.argv[1])
try:
    for _ in range(int(sys.argv[2])):
        out.write(b"x" * int(sys.argv[3]))
finally:
    out.close()
"""


def test_a_real_hdfs_write_failure_is_c4_only_where_the_versions_allow(
    client_env: ClientEnv, hdfs: HdfsControl, tmp_path: Path
) -> None:
    """A real "HDFS Write failed": the DataNode is down during a 64 MiB write. The JVM's
    reason is only a ClosedChannelException (Hadoop 2.7 does not say why its block pipeline
    closed), and the 2 GB single write of old MLflow (C4) makes the same pyarrow text: only
    the versions and the traceback can tell them apart."""
    env = produced_env(client_env)
    # a path of the default file system (the sandbox nameservice), which "default" connects to
    base = f"/tmp/catalog-dn-{uuid.uuid4().hex[:8]}"
    hdfs.stop_datanode()
    try:
        big = subprocess.run(
            [sys.executable, "-c", BIG_WRITER, base, "64", str(1 << 20)],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    finally:
        hdfs.start_datanode()  # returns once the DataNode re-registered
    assert big.returncode != 0, "the write succeeded without a DataNode"
    error = big.stderr.strip().splitlines()[-1]
    assert error.startswith("OSError: [Errno 255] HDFS Write failed.")
    assert "java.nio.channels.ClosedChannelException" in big.stderr

    old = {"mlflow": "1.25.1", "pyarrow": "2.0.0"}  # the last MLflow with the single write
    # pyarrow's exception alone, from an old MLflow: C4 is the only explanation there is
    exp = explain(OSError(error.removeprefix("OSError: ")), versions=old)
    assert exp is not None and exp.code == "C4"
    # ... not from MLflow 1.26, which uploads in chunks
    exp = explain(OSError(error.removeprefix("OSError: ")), versions={"mlflow": "1.26.0"})
    assert exp is not None and exp.code == "libhdfs-failed"
    assert "not the > 2 GB write of old MLflow (C4): MLflow 1.26.0 uploads" in exp.fix
    # the child's whole stderr: its traceback shows the write was not MLflow's
    err = subprocess.CalledProcessError(big.returncode, "python", stderr=big.stderr)
    exp = explain(err, versions=old)
    assert exp is not None and exp.code == "libhdfs-failed"
    assert "did not come from MLflow" in exp.fix
    # the versions installed here (the default): MLflow 3.x never writes in one piece
    installed = installed_versions()["mlflow"]
    exp = explain(OSError(error.removeprefix("OSError: ")))
    assert exp is not None and exp.code == "libhdfs-failed"
    assert f"MLflow {installed} uploads artifacts in chunks" in exp.fix


def test_auth_simple_lines_do_not_hide_b5(
    sandbox: Sandbox, kdc: Kdc, hdfs: HdfsControl, tmp_path: Path
) -> None:
    """A client configuration that says ``simple`` for the Kerberized cluster, with Hadoop's
    login logged at DEBUG: every line says ``(auth:SIMPLE)`` (D2's log annotation), the
    NameNode says why it refused: B5."""
    sandbox.ensure_parcel()
    conf = make_client_conf(
        tmp_path / "conf", kdc.realm, hdfs.nn_port,
        core={"hadoop.security.authentication": "simple"},
    )  # fmt: skip
    with (conf / "log4j.properties").open("a") as f:
        f.write("log4j.logger.org.apache.hadoop.security.UserGroupInformation=DEBUG\n")
    env = libhdfs_env(sandbox, ticket(kdc, tmp_path), HADOOP_CONF_DIR=str(conf))
    res, err = run_writer(env, f"/tmp/catalog-rank-{uuid.uuid4().hex[:8]}", tmp_path)
    assert res[0]["ok"] is False
    assert "(auth:SIMPLE)" in err
    assert "SIMPLE authentication is not enabled.  Available:[TOKEN, KERBEROS]" in err
    exp = explain(err)
    assert exp is not None and exp.code == "B5", exp


def test_exception_chains_are_followed() -> None:
    real = OSError("Unable to load libjvm\ndlopen(/x/libjvm.so) failed: ...")
    try:
        try:
            raise real
        except OSError as inner:
            raise RuntimeError("could not log the model") from inner
    except RuntimeError as outer:
        exp = explain(outer)
    assert exp is not None and exp.code == "A2" and exp.matched == "OSError: Unable to load libjvm"
    # implicit chaining (raise inside except) is followed too
    try:
        try:
            raise OSError("[Errno 13] HDFS create directory failed. Detail: Permission denied")
        except OSError:
            raise ValueError("artifact upload failed")  # noqa: B904
    except ValueError as outer2:
        exp2 = explain(outer2)
    assert exp2 is not None and exp2.code == "permission-denied"
    # a cycle does not loop forever
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__context__, b.__context__ = b, a
    assert explain(a) is None
    # bytes stderr of a subprocess error
    err = subprocess.CalledProcessError(1, ["x"], stderr=b"UnknownHostException: nameservice1\n")
    exp3 = explain(err)
    assert exp3 is not None and exp3.code == "B4"


def test_package_attribute_is_the_function_even_after_the_doctor_is_imported() -> None:
    """``mlflow_client_env.explain`` is the function, whatever was imported before it."""
    code = (
        "import mlflow_client_env.doctor.remote, mlflow_client_env\n"
        "from mlflow_client_env import explain\n"
        "print(explain('Ticket expired').code, mlflow_client_env.explain('Ticket expired').code)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["D6", "D6"]
    exp = mlflow_client_env.explain("Ticket expired")
    assert exp is not None and exp.code == "D6" and exp.label == "[catalog D6]"


def test_non_catalog_codes_are_not_labelled_as_catalog_entries() -> None:
    exp = explain_text(
        "Call From x to localhost:9 failed on connection exception: "
        "java.net.ConnectException: Connection refused"
    )
    assert exp is not None and exp.code == "namenode-unreachable"
    assert exp.label == "[namenode-unreachable]" and not exp.in_catalog


def test_generic_libhdfs_failure_points_to_doctor() -> None:
    """What a notebook user sees for B1/B2/D1: the JVM's reason went to stderr, not here."""
    exp = explain(OSError("HDFS connection failed"))
    assert exp is not None and exp.code == "libhdfs-failed" and "doctor" in exp.fix


#: Every error text quoted in error-catalog.md (headings and "Typical texts"), verbatim,
#: with the entry it belongs to. D3's own text is Java's D1 message (D3 is found by
#: the cache type, not by text); E3 and C1 are warnings printed next to real errors,
#: so explain() deliberately maps them to nothing.
CATALOG_TEXTS = [
    (
        "A1",
        "OSError: Unable to load libhdfs: .../lib/hadoop/lib/native/libhdfs.so: cannot "
        "open shared object file: No such file or directory"
    ),
    ("A1", "pyarrow.lib.ArrowIOError: Unable to load libhdfs"),
    ("A2", "OSError: Unable to load libjvm"),
    (
        "A2",
        "Unable to load libjvm: /usr/java/latest//lib/server/libjvm.so: cannot open "
        "shared object file"
    ),
    ("A3", "libjvm.so: cannot open shared object file: No such file or directory"),
    ("A4", "Prior attempt to load libhdfs failed"),
    (
        "A5",
        "ImportError: The pyarrow installation is not built with support for "
        "'HadoopFileSystem'"
    ),
    ("A6", "TypeError: connect() got an unexpected keyword argument 'driver'"),
    ("B1", "Environment variable CLASSPATH not set!"),
    ("B2", "loadFileSystems error: (unable to get root cause for java.lang.NoClassDefFoundError)"),
    (
        "B2",
        "hdfsBuilderConnect(forceNewInstance=..., nn=..., ...) error: (unable to get "
        "stack trace for java.lang.NoClassDefFoundError ...)"
    ),
    ("B2", "NoClassDefFoundError: org/apache/hadoop/fs/FileSystem"),
    (
        "B3",
        "could not find method getRootCauseMessage from class (null) with signature "
        "(Ljava/lang/Throwable;)Ljava/lang/String;"
    ),
    ("B4", "UnknownHostException: nameservice1"),
    ("B5", "SIMPLE authentication is not enabled.  Available:[TOKEN, KERBEROS]"),
    (
        "B6",
        "ClassCastException: org.apache.hadoop.hdfs.protocol.proto.ClientNamenodeProtocol"
        "Protos$GetFileInfoRequestProto cannot be cast to com.google.protobuf.Message"
    ),
    (
        "B6",
        "...MkdirsRequestProto cannot be cast to class "
        "org.apache.hadoop.shaded.com.google.protobuf.Message"
    ),
    ("B7", "java.io.IOException: No FileSystem for scheme: hdfs"),
    ("B8", "FileNotFoundError: [Errno 2] No such file or directory: 'hadoop'"),
    ("C2", "AttributeError: module 'pyarrow' has no attribute 'hdfs'"),
    (
        "C3",
        "mlflow 2.14.1 requires pyarrow<16,>=4.0.0, but you have pyarrow 16.0.0 which is "
        "incompatible."
    ),
    ("C4", "HDFS Write failed"),
    (
        "D1",
        "javax.security.sasl.SaslException: GSS initiate failed [Caused by GSSException: "
        "No valid credentials provided (Mechanism level: Failed to find any Kerberos "
        "tgt)]"
    ),
    ("D1", "Failed to find any Kerberos tgt"),  # D3's text: Java on a KEYRING cache
    (
        "D2",
        "org.apache.hadoop.security.AccessControlException: Client cannot authenticate "
        "via:[TOKEN, KERBEROS]"
    ),
    ("D2", "PriviledgedActionException as:alice (auth:SIMPLE)"),
    ("D4", "kinit: Unknown credential cache type while resolving ccache"),
    ("D5", "KrbException: Cannot locate default realm"),
    ("D5", "Can't get Kerberos realm"),
    (
        "D6",
        "kerberos.GSSError: (('Unspecified GSS failure.  Minor code may provide more "
        "information', 851968), ('Ticket expired', -1765328352))"
    ),
    ("D7", "Encryption type AES256 CTS mode with HMAC SHA1-96 is not supported/enabled"),
    ("D8", "No Kerberos credentials available (default cache: /tmp/krb5cc_21000)"),
    (
        "E1",
        "ImportError: /usr/lib/mapreduce_client/lib/native/libk5crypto.so.3: symbol "
        "krb5int_utf8cs_to_ucs2les version krb5support_0_MIT not defined in file "
        "libkrb5support.so.0 with link time reference"
    ),
    (
        "E1",
        "ImportError: /lib/x86_64-linux-gnu/libgssapi_krb5.so.2: undefined symbol: "
        "krb5_ser_context_init, version krb5_3_MIT"
    ),
    ("E1", "libcom_err.so.3: undefined symbol: k5_os_mutex_lock, version krb5support_0_MIT"),
    ("E1", "ImportError: /lib64/libssl.so.10: version 'OPENSSL_1.0.2' not found"),
    ("E1", "ImportError: /usr/lib64/libstdc++.so.6: version 'GLIBCXX_3.4.21' not found"),
    # OpenSSL 1.1 version names use underscores (issue 13)
    ("E1", "openssl: /lib64/libssl.so.1.1: version `OPENSSL_1_1_1' not found (required by openssl)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "text"), CATALOG_TEXTS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(CATALOG_TEXTS)]
)
def test_catalog_text_maps_to_its_entry(code: str, text: str) -> None:
    exp = explain_text(text, versions={})  # versions unknown: C4 stays possible
    assert exp is not None, f"{text!r} maps to nothing"
    assert exp.code == code, f"{text!r} maps to {exp.code}, the catalog says {code}"
    assert exp.matched == text.strip() and exp.fix


@pytest.mark.parametrize(
    "text",
    [
        (
            "WARN util.NativeCodeLoader: Unable to load native-hadoop library for your "
            "platform... using builtin-java classes where applicable"
        ),
        (
            "FutureWarning: pyarrow.hdfs.connect is deprecated as of 2.0.0, please use "
            "pyarrow.fs.HadoopFileSystem instead."
        ),
    ],
)
def test_warnings_printed_next_to_errors_map_to_nothing(text: str) -> None:
    assert explain_text(text) is None


def test_jvm_texts_seen_on_the_sandbox() -> None:
    """Texts the sandbox's JVM really printed (see test_doctor_sandbox) map as the doctor says."""
    cases = {
        # KDC stopped, only a TGT cached: the NameNode's service ticket needs the KDC
        "javax.security.sasl.SaslException: GSS initiate failed [Caused by GSSException: "
        "No valid credentials provided (Mechanism level: Connection refused)]": "kdc-unreachable",
        # expired ticket, cache passed as kerb_ticket (MLFLOW_KERBEROS_TICKET_CACHE)
        "java.io.IOException: failure to login using ticket cache file /tmp/cc\n"
        "Caused by: javax.security.auth.login.LoginException: Unable to obtain Principal "
        "Name for authentication ": "D1",
        # DataNode stopped: the client is refused by it, then the NameNode has no other
        "java.net.ConnectException: Connection refused\nRemoteException(java.io.IOException): "
        "File /x could only be replicated to 0 nodes instead of minReplication (=1).": "no-datanode",
    }
    for text, code in cases.items():
        exp = explain_text(text)
        assert exp is not None and exp.code == code, (text, exp)


# --------------------------------------------------------------------------- ranking
def test_a_specific_cause_beats_a_generic_one_wherever_it_stands() -> None:
    """The issue's cases: C4's "HDFS Write failed" (even with an old MLflow) below D1 and
    below "no DataNode"; D2's ``(auth:SIMPLE)`` annotation below B5."""
    old = {"mlflow": "1.10.0"}
    write = "OSError: HDFS Write failed, errno: 255 (Unknown error 255)"
    gss = (
        "WARN ipc.Client: Exception encountered while connecting to the server : javax.security."
        "sasl.SaslException: GSS initiate failed [Caused by GSSException: No valid credentials "
        "provided (Mechanism level: Failed to find any Kerberos tgt)]"
    )
    nodes = "File /x could only be replicated to 0 nodes instead of minReplication (=1)."
    assert code_of(write, old) == "C4"
    assert code_of(f"{gss}\n{write}", old) == "D1"
    assert code_of(f"{write}\n{nodes}", old) == "no-datanode"
    simple = "WARN security.UserGroupInformation: PriviledgedActionException as:x (auth:SIMPLE)"
    refused = "AccessControlException: SIMPLE authentication is not enabled.  Available:[TOKEN]"
    assert code_of(f"{simple} cause:org.apache.hadoop.security.{refused}") == "B5"
    # weak words lose to a specific reason, not to a bare annotation
    assert code_of(f"{simple}\njava.net.ConnectException: Connection refused") == (
        "namenode-unreachable"
    )


def code_of(text: str, versions: dict[str, str] | None = None) -> str | None:
    exp = explain_text(text, versions={} if versions is None else versions)
    return exp.code if exp else None


def test_the_innermost_java_cause_wins() -> None:
    # equally specific texts (and the wrapper's first in the table): the deeper "Caused by:"
    # is the root cause, e.g. an authorization check that could not reach its policy server
    wrapped = (
        "org.apache.hadoop.security.AccessControlException: Permission denied: user=alice, "
        "access=WRITE\n\tat org.apache.hadoop.ipc.Client.call(Client.java:1474)\n"
        "Caused by: java.net.ConnectException: Connection refused\n\t... 12 more"
    )
    exp = explain_text(wrapped, versions={})
    assert exp is not None and exp.code == "namenode-unreachable"
    assert exp.matched == "Caused by: java.net.ConnectException: Connection refused"
    # one code on several lines: the first is shown (perwendel/spark#972); the innermost
    # repeats the bare exception, where the first usually names the host or the file
    realm = (
        'Exception in thread "main" org.apache.spark.SparkException: Unable to load YARN support\n'
        "Caused by: java.lang.IllegalArgumentException: Can't get Kerberos realm\n"
        "Caused by: KrbException: Cannot locate default realm\n"
    )
    exp = explain_text(realm, versions={})
    assert exp is not None and exp.code == "D5"
    assert exp.matched == "Caused by: java.lang.IllegalArgumentException: Can't get Kerberos realm"
    # a new log record starts a new chain: the "Caused by:" lines before it do not count
    records = (
        "2020-01-01 10:00:00 WARN a: AccessControlException: Permission denied: user=alice\n"
        "java.io.IOException: retrying\nCaused by: java.io.IOException: a\n"
        "Caused by: java.io.IOException: b\n"
        "2020-01-01 10:00:01 WARN b: java.net.ConnectException: Connection refused\n"
    )
    assert code_of(records) == "permission-denied"  # both at depth 0: table order


def test_in_a_python_chain_the_cause_wins_over_the_wrapper() -> None:
    try:
        try:
            raise ConnectionRefusedError("[Errno 111] Connection refused")
        except ConnectionRefusedError as inner:
            raise PermissionError("Permission denied: could not check the ACL") from inner
    except PermissionError as outer:
        exp = explain(outer, versions={})
    assert exp is not None and exp.code == "namenode-unreachable"
    assert exp.matched == "ConnectionRefusedError: [Errno 111] Connection refused"
    # Python's own rendering, the cause printed first, ranks the same way
    printed = (
        "ConnectionRefusedError: [Errno 111] Connection refused\n\n"
        "The above exception was the direct cause of the following exception:\n\n"
        "Traceback (most recent call last):\n"
        "PermissionError: Permission denied: could not check the ACL\n"
    )
    assert code_of(printed) == "namenode-unreachable"


# --------------------------------------------------------------------------- B4 or DNS
@pytest.mark.parametrize(
    "text",
    [
        "java.lang.IllegalArgumentException: java.net.UnknownHostException: namenod01.example.com",
        "java.net.UnknownHostException: namenod01.example.com: Name or service not known",
        "Caused by: java.net.UnknownHostException: nn01:8020",
        "java.net.UnknownHostException: Invalid host name: local host is: (unknown); destination "
        'host is: "namenod01.example.com":8020; java.net.UnknownHostException; For more details '
        "see:  http://wiki.apache.org/hadoop/UnknownHost",
    ],
)
def test_a_host_that_does_not_resolve_is_not_b4(text: str) -> None:
    """A name with dots or a port is a host the DNS does not know (a misspelt NameNode): no
    nameservice configuration would help, so it is not B4."""
    exp = explain_text(text, versions={})
    assert exp is not None and exp.code == "namenode-unreachable", exp
    assert exp.fix.startswith("the NameNode's host name does not resolve (DNS): check its spelling")


@pytest.mark.parametrize(
    "text",
    [
        "UnknownHostException: nameservice1",
        "java.lang.IllegalArgumentException: java.net.UnknownHostException: sandboxns\n"
        "Caused by: java.net.UnknownHostException: sandboxns",
        "java.net.UnknownHostException: nameservice1: Name or service not known",
        "could not reach java.net.UnknownHostException: nsdev.",
    ],
)
def test_a_logical_name_that_does_not_resolve_is_b4(text: str) -> None:
    exp = explain_text(text, versions={})
    assert exp is not None and exp.code == "B4", exp


def test_a_bare_unknown_host_says_both_causes() -> None:
    exp = explain_text("java.net.UnknownHostException", versions={})
    assert exp is not None and exp.code == "namenode-unreachable"
    assert "a misspelt NameNode host, or a nameservice" in exp.fix and "(catalog B4)" in exp.fix


def test_a_real_misspelt_namenode_host_is_explained_as_dns_not_b4(
    parcel_tree: ParcelTree, java_home: Path, kdc: Kdc, tmp_path: Path
) -> None:
    """fs.defaultFS names a host that does not exist: the real libhdfs says
    UnknownHostException with the dotted name. Java resolves names from a hosts file of the
    test's own (jdk.net.hosts.file), so no DNS server is asked."""
    from tests.test_doctor_b3 import client, composed

    host = "namenod01.example.invalid"
    conf = make_client_conf(
        tmp_path / "conf", kdc.realm, 8020, core={"fs.defaultFS": f"hdfs://{host}:8020"}
    )
    shell = {**client(parcel_tree, java_home, kdc, tmp_path), "HADOOP_CONF_DIR": str(conf)}
    env = composed(shell)
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    env["LIBHDFS_OPTS"] = f"{env['LIBHDFS_OPTS']} -Djdk.net.hosts.file={hosts}"
    seen, err = pyarrow_failure(env)
    assert seen[0]["text"] == "HDFS connection failed"
    assert f"java.net.UnknownHostException: {host}" in err.stderr
    exp = explain(err)
    assert exp is not None and exp.code == "namenode-unreachable", exp
    assert exp.matched.endswith(f"java.net.UnknownHostException: {host}")
    assert "does not resolve (DNS)" in exp.fix


def test_a_real_nameservice_without_namenode_addresses_is_b4(
    parcel_tree: ParcelTree, java_home: Path, kdc: Kdc, tmp_path: Path
) -> None:
    """fs.defaultFS is a nameservice the client configuration lists, with its NameNode IDs
    and failover provider, but without the NameNodes' RPC addresses: Hadoop's failover
    provider says 'Could not find any configured addresses for URI hdfs://NS' (no lookup
    of any name is made), which only the client configuration can fix (B4)."""
    from tests.test_doctor_b3 import client, composed

    ns = "edgens"
    conf = make_client_conf(
        tmp_path / "conf",
        kdc.realm,
        8020,
        core={"fs.defaultFS": f"hdfs://{ns}"},
        hdfs={
            "dfs.nameservices": ns,
            f"dfs.ha.namenodes.{ns}": "nn1,nn2",
            f"dfs.client.failover.proxy.provider.{ns}": (
                "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider"
            ),
        },
    )
    shell = {**client(parcel_tree, java_home, kdc, tmp_path), "HADOOP_CONF_DIR": str(conf)}
    seen, err = pyarrow_failure(composed(shell))
    assert seen[0]["text"] == "HDFS connection failed"
    assert f"Could not find any configured addresses for URI hdfs://{ns}" in err.stderr
    exp = explain(err)
    assert exp is not None and exp.code == "B4", (exp, err.stderr[-3000:])
    assert exp.matched.endswith(f"Could not find any configured addresses for URI hdfs://{ns}")
