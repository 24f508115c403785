"""Both artifact paths work when HDFS protects its data (issue 14, "Data protection").

Each variant starts an HDFS of its own (``extra_sandbox``: own KDC, own state dir,
servers and clients configured alike by the sandbox's ``data_protection``), addressed by
the client configuration's HA nameservice (``hdfs://sandboxns``):

- ``privacy``: ``hadoop.rpc.protection`` and ``dfs.data.transfer.protection`` both
  ``privacy`` (SASL QOP auth-conf on every NameNode RPC and every block transfer);
- ``encrypt``: ``dfs.encrypt.data.transfer=true`` with AES/CTR/NoPadding.

On each, the conformance ``SCENARIO`` of ``tests/test_native_repo.py`` runs through
MLflow's JVM repository (pyarrow, libhdfs) and the native one (hdfs-native): equal
reports. The servers' own DEBUG log lines of each run show the protection negotiated
for that client's connections (not just configured), and a file the native path wrote
is read back by Java's FsShell byte for byte.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env.hadoop.conf import parse_site_xml
from mlflow_client_env_sandbox import Assets, Sandbox
from mlflow_client_env_sandbox.errors import SandboxSettingError
from mlflow_client_env_sandbox.hdfs import NAMESERVICE, client_site
from tests.sandbox.fixtures import extra_sandbox, sandbox_client_env
from tests.sandbox.helpers import ClientEnv, run_python
from tests.test_native_repo import _envs, _result, _same_except_class, _scenario

VARIANTS = ("privacy", "encrypt")


@dataclass(frozen=True)
class Protected:
    """A running sandbox HDFS with one data protection."""

    variant: str
    sandbox: Sandbox

    @property
    def datanode_log(self) -> Path:
        return self.sandbox.hdfs.base / "datanode.log"

    @property
    def namenode_log(self) -> Path:
        return self.sandbox.hdfs.base / "namenode.log"


@pytest.fixture(scope="module", params=VARIANTS)
def protected(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sandbox_assets: Assets,
) -> Iterator[Protected]:
    """An HDFS of its own per variant, stopped when the module's tests of it are done."""
    variant = str(request.param)
    state_dir = tmp_path_factory.mktemp(f"sandbox-{variant}")
    with extra_sandbox(state_dir, sandbox_assets, data_protection=variant) as sb:
        yield Protected(variant, sb)


@pytest.fixture
def protected_client(protected: Protected, tmp_path: Path) -> ClientEnv:
    """That HDFS as a client sees it, with a fresh ticket cache for alice."""
    ccache = tmp_path / "krb5cc_alice"
    protected.sandbox.kdc.kinit("alice", ccache, lifetime="1h")
    return sandbox_client_env(protected.sandbox, ccache)


class LogWindow:
    """What a server log gains while a client runs (the servers only ever append)."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.start = log.stat().st_size

    def read(self) -> str:
        with open(self.log, "rb") as fh:
            fh.seek(self.start)
            return fh.read().decode(errors="replace")


def negotiations(datanode: str, namenode: str) -> dict[str, list[str]]:
    """The QOPs (and ciphers) the servers negotiated with the clients in those log parts."""
    found = {
        "datanode_qop": re.findall(r"requested QOP = \[([\w,-]+)\], negotiated QOP = ([\w-]+)",
                                   datanode),
        "encrypted_handshakes": re.findall(r"SASL server doing encrypted handshake", datanode),
        "cipher_suites": re.findall(r"Server using cipher suite (\S+)", datanode),
        "rpc_qop": re.findall(r"SASL server context established\. Negotiated QoP is (\S+)",
                              namenode),
    }  # fmt: skip
    return {k: [str(x) for x in v] for k, v in found.items()}


def assert_protected(variant: str, got: dict[str, list[str]], what: str) -> None:
    """Every block transfer of the run, and (privacy) every RPC connection, was protected."""
    assert got["datanode_qop"], f"{what}: no block transfer negotiated anything: {got}"
    assert set(got["datanode_qop"]) == {str(("auth-conf", "auth-conf"))}, (what, got)
    if variant == "privacy":
        assert got["rpc_qop"] and set(got["rpc_qop"]) == {"auth-conf"}, (what, got)
        assert not got["encrypted_handshakes"] and not got["cipher_suites"], (what, got)
    else:
        # each transfer: the encrypted handshake (data encryption key), then AES streams
        n = len(got["datanode_qop"])
        assert len(got["encrypted_handshakes"]) == n, (what, got)
        assert got["cipher_suites"] == ["AES/CTR/NoPadding"] * n, (what, got)


@pytest.mark.sandbox
@pytest.mark.jvm
def test_both_paths_conform_with_the_protection_negotiated(
    protected: Protected, protected_client: ClientEnv, tmp_path: Path
) -> None:
    sb = protected.sandbox
    # servers and clients agree, and clients address the HA nameservice
    server = parse_site_xml(sb.hdfs.conf_dir / "hdfs-site.xml")
    client_core = parse_site_xml(protected_client.conf_dir / "core-site.xml")
    client = parse_site_xml(protected_client.conf_dir / "hdfs-site.xml")
    assert client_core["fs.defaultFS"] == f"hdfs://{NAMESERVICE}"
    keys = ("dfs.data.transfer.protection", "dfs.encrypt.data.transfer")
    assert {k: server.get(k) for k in keys} == {k: client.get(k) for k in keys}
    assert protected_client.conf_dir == sb.hdfs.client_conf_dir

    jvm_env, native_env = _envs(protected_client, tmp_path)
    tag = uuid.uuid4().hex[:8]
    reports: dict[str, dict[str, Any]] = {}
    for path, env in (("jvm", jvm_env), ("native", native_env)):
        dn, nn = LogWindow(protected.datanode_log), LogWindow(protected.namenode_log)
        root = f"hdfs:///user/alice/protect-{protected.variant}-{tag}-{path}"
        reports[path] = _scenario(env, root, tmp_path / path)
        got = negotiations(dn.read(), nn.read())
        assert_protected(protected.variant, got, f"the {path} path")
    jvm, native = reports["jvm"], reports["native"]
    _same_except_class(jvm, native)
    # the scenario did what it says (a report of nothing would be equal too)
    assert ["top.txt", False, 6] in native["list"]["None"]
    assert native["list"]["'a/'"] == [["a/b", True, None], ["a/one.txt", False, 2]]
    files = native["download"]["all"][1]
    assert files["big/chunky.bin"] == native["sources"]["src/big/chunky.bin"]
    assert native["hdfs"]["big/chunky.bin"][:2] == [False, (16 << 20) + 7]
    assert native["after_delete_all"] == [[], []]


LOG_ONE = r"""
import json, os, sys
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
repo = get_artifact_repository(sys.argv[1])
repo.log_artifact(sys.argv[2], "nested/dir")
print("RESULT " + json.dumps({"class": type(repo).__name__,
                              "listed": [[f.path, f.file_size] for f in
                                         repo.list_artifacts("nested/dir")]}))
"""


@pytest.mark.sandbox
@pytest.mark.jvm
def test_java_fsshell_reads_what_the_native_path_wrote_byte_for_byte(
    protected: Protected, protected_client: ClientEnv, tmp_path: Path
) -> None:
    _, native_env = _envs(protected_client, tmp_path)
    data = os.urandom((3 << 20) + 13)  # several packets, not a whole chunk
    local = tmp_path / "payload.bin"
    local.write_bytes(data)
    root = f"hdfs://{NAMESERVICE}/user/alice/fsshell-{protected.variant}-{uuid.uuid4().hex[:8]}"
    dn = LogWindow(protected.datanode_log)
    code = f"import sys\nsys.argv[1:] = {[root, str(local)]!r}\n" + LOG_ONE
    wrote = _result(run_python(code, native_env, timeout=120))
    assert wrote == {
        "class": "NativeHdfsArtifactRepository",
        "listed": [["nested/dir/payload.bin", len(data)]],
    }
    back = tmp_path / "back.bin"
    proc = protected.sandbox.hdfs.fs(
        ["-get", f"{root}/nested/dir/payload.bin", str(back)], ccache=protected_client.ccache
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert back.read_bytes() == data
    got = negotiations(dn.read(), "")
    # one transfer written by hdfs-native, one read by FsShell, both protected
    assert len(got["datanode_qop"]) == 2, got
    assert set(got["datanode_qop"]) == {str(("auth-conf", "auth-conf"))}, got


def test_unknown_data_protection_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(SandboxSettingError, match="unknown HDFS data protection 'tls'") as exc:
        Sandbox(tmp_path / "sb", data_protection="tls")
    assert "authentication, privacy, encrypt" in exc.value.fix
    assert not (tmp_path / "sb").exists()
    with pytest.raises(SandboxSettingError):
        client_site("SANDBOX.TEST", 8020, data_protection="Privacy")


def test_each_protection_sets_the_same_keys_for_servers_and_clients() -> None:
    default = client_site("SANDBOX.TEST", 8020)
    assert default == client_site("SANDBOX.TEST", 8020, data_protection="authentication")
    assert default[0]["hadoop.rpc.protection"] == "authentication"
    assert default[1]["dfs.data.transfer.protection"] == "authentication"
    assert "dfs.encrypt.data.transfer" not in default[1]
    for variant, rpc, transfer, encrypt in (
        ("privacy", "privacy", "privacy", None),
        ("encrypt", "authentication", "authentication", "true"),
    ):
        for nameservice in (NAMESERVICE, None):  # the clients' and the servers' base
            core, hdfs = client_site("SANDBOX.TEST", 8020, nameservice, variant)
            assert core["hadoop.rpc.protection"] == rpc
            assert hdfs["dfs.data.transfer.protection"] == transfer
            assert hdfs.get("dfs.encrypt.data.transfer") == encrypt
