"""The sandbox is real: Kerberos, block tokens and SASL data transfer are enforced,
and a file written by pyarrow through libhdfs is read back by Java and by hdfs-native."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mlflow_client_env_sandbox import Kdc, SandboxKinitError
from tests.sandbox.fixtures import HdfsControl, MlflowControl
from tests.sandbox.helpers import ClientEnv, libhdfs_env, make_client_conf, run_python

pytestmark = [pytest.mark.sandbox, pytest.mark.jvm]


def test_hdfs_refuses_a_client_without_a_ticket(hdfs: HdfsControl) -> None:
    proc = hdfs.fs("-ls", "/", ccache=None)
    assert proc.returncode != 0
    assert "GSS initiate failed" in proc.stderr
    assert "Failed to find any Kerberos tgt" in proc.stderr


def test_hdfs_refuses_a_simple_auth_client(
    hdfs: HdfsControl, client_env: ClientEnv, tmp_path: Path
) -> None:
    conf = make_client_conf(
        tmp_path / "conf-simple", "SANDBOX.TEST", hdfs.nn_port,
        core={"hadoop.security.authentication": "simple"},
    )  # fmt: skip
    proc = hdfs.fs("-ls", "/", ccache=client_env.ccache, conf_dir=conf)
    assert proc.returncode != 0
    assert "SIMPLE authentication is not enabled" in proc.stderr


def test_hdfs_refuses_a_client_without_sasl_data_transfer_protection(
    hdfs: HdfsControl, client_env: ClientEnv, tmp_path: Path
) -> None:
    conf = make_client_conf(
        tmp_path / "conf-nosasl", "SANDBOX.TEST", hdfs.nn_port,
        hdfs={"dfs.data.transfer.protection": None},
    )  # fmt: skip
    local = tmp_path / "data.txt"
    local.write_text("refused\n")
    target = f"/user/alice/nosasl-{uuid.uuid4().hex}.txt"
    log_offset = hdfs.datanode_log.stat().st_size

    proc = hdfs.fs("-put", str(local), target, ccache=client_env.ccache, conf_dir=conf)

    assert proc.returncode != 0
    assert "could only be replicated to 0 nodes" in proc.stderr
    with open(hdfs.datanode_log, "rb") as fh:
        fh.seek(log_offset)
        assert b"Failed to read expected SASL data transfer protection handshake" in fh.read()
    assert hdfs.fs("-test", "-e", target, ccache=client_env.ccache).returncode != 0


WRITE_WITH_PYARROW = """
import sys
from pyarrow import fs
hdfs = fs.HadoopFileSystem("default", 0)
with hdfs.open_output_stream(sys.argv[1] if len(sys.argv) > 1 else {path!r}) as out:
    out.write({data!r})
print("written")
"""

READ_WITH_HDFS_NATIVE = """
from hdfs_native import Client
with Client().read({path!r}) as f:
    print(f.read().hex())
"""


def test_file_written_by_pyarrow_is_read_by_fsshell_and_hdfs_native(
    hdfs: HdfsControl, client_env: ClientEnv
) -> None:
    path = f"/user/alice/roundtrip-{uuid.uuid4().hex}.bin"
    data = "".join(f"line {i} written by pyarrow through libhdfs\n" for i in range(2000)).encode()

    wrote = run_python(WRITE_WITH_PYARROW.format(path=path, data=data), libhdfs_env(client_env))
    assert wrote.returncode == 0, wrote.stderr[-4000:]
    assert wrote.stdout.strip() == "written"

    cat = hdfs.fs("-cat", path, ccache=client_env.ccache)
    assert cat.returncode == 0, cat.stderr[-3000:]
    assert cat.stdout == data.decode()

    native_env = {k: client_env.env[k] for k in ("HADOOP_CONF_DIR", "KRB5_CONFIG", "KRB5CCNAME")}
    read = run_python(READ_WITH_HDFS_NATIVE.format(path=path), native_env)
    assert read.returncode == 0, read.stderr[-4000:]
    assert bytes.fromhex(read.stdout.strip()) == data


def test_fsshell_reads_exact_bytes(
    hdfs: HdfsControl, client_env: ClientEnv, tmp_path: Path
) -> None:
    path = f"/user/alice/text-{uuid.uuid4().hex}.txt"
    local = tmp_path / "hello.txt"
    local.write_text("hello sandbox\n")
    assert hdfs.fs("-put", str(local), path, ccache=client_env.ccache).returncode == 0
    assert hdfs.fs("-cat", path, ccache=client_env.ccache).stdout == "hello sandbox\n"


def test_mlflow_server_is_up_and_artifacts_go_to_hdfs(
    mlflow_server: MlflowControl, hdfs: HdfsControl
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server.tracking_uri)
    default = client.get_experiment("0")
    assert default.artifact_location.startswith(f"{hdfs.namenode_uri}/user/alice/mlflow")
    exp_id = client.create_experiment(f"sandbox-{uuid.uuid4().hex[:8]}")
    location = client.get_experiment(exp_id).artifact_location
    assert location == f"{hdfs.namenode_uri}/user/alice/mlflow/{exp_id}"


def test_env_command_prints_the_client_variables(client_env: ClientEnv) -> None:
    state_dir = Path(client_env.parcels_root).parent
    argv = [sys.executable, "-m", "mlflow_client_env_sandbox", "env", "--json"]
    proc = subprocess.run(
        [*argv, "--state-dir", str(state_dir)], capture_output=True, text=True, check=True
    )
    env = json.loads(proc.stdout)
    assert set(env) == {
        "KRB5_CONFIG", "KRB5CCNAME", "MLFLOW_CLIENT_ENV_PARCELS_ROOT", "HADOOP_CONF_DIR",
        "MLFLOW_TRACKING_URI", "JAVA_HOME",
    }  # fmt: skip
    assert env["MLFLOW_CLIENT_ENV_PARCELS_ROOT"] == str(client_env.parcels_root)
    assert env["MLFLOW_TRACKING_URI"] == client_env.tracking_uri
    assert env["KRB5CCNAME"].startswith("FILE:")


# Fault fixtures: these stop and restart session servers, so they run last in this file.


def test_kdc_down_then_up_again(kdc: Kdc, tmp_path: Path) -> None:
    kdc.stop()
    try:
        with pytest.raises(SandboxKinitError) as info:
            kdc.kinit("alice", tmp_path / "cc-down")
        assert "Cannot contact any KDC for realm 'SANDBOX.TEST'" in info.value.problem
    finally:
        kdc.start()
    kdc.kinit("alice", tmp_path / "cc-up", lifetime="5m", renewable="1h")
    assert (tmp_path / "cc-up").is_file()


def test_datanode_restart(hdfs: HdfsControl, client_env: ClientEnv, tmp_path: Path) -> None:
    local = tmp_path / "after-restart.txt"
    local.write_text("datanode is back\n")
    hdfs.stop_datanode()
    hdfs.start_datanode()
    path = f"/user/alice/dn-{uuid.uuid4().hex}.txt"
    assert hdfs.fs("-put", str(local), path, ccache=client_env.ccache).returncode == 0
    assert hdfs.fs("-cat", path, ccache=client_env.ccache).stdout == "datanode is back\n"


def test_namenode_down_then_up_again(hdfs: HdfsControl, client_env: ClientEnv) -> None:
    hdfs.stop_namenode()
    try:
        down = hdfs.fs(
            "-ls", "/", ccache=client_env.ccache, defs={"ipc.client.connect.max.retries": "0"}
        )
        assert down.returncode != 0
        assert "Connection refused" in down.stderr
    finally:
        hdfs.start_namenode()
    up = hdfs.fs("-ls", "/user", ccache=client_env.ccache)
    assert up.returncode == 0, up.stderr[-3000:]
    assert "/user/alice" in up.stdout
