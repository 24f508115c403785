"""Catalog H2: Cloudera's container engines (CDSW, CML) and where their Hadoop client is.

- A CML session gets its Hadoop client as a runtime add-on mounted under
  ``/runtime-addons/hadoop-cli-<version>-<id>/``: a bigtop-like ``usr/lib`` with
  ``libhdfs.so`` directly in it (the path public CML code gives ARROW_LIBHDFS_DIR).
  Discovery scans the add-ons root, and recognises the add-on when reached through
  HADOOP_HOME or ``hadoop`` on PATH too.
- A CDSW engine sees the host's ``/opt/cloudera`` mounted: the parcel is found where an edge
  node has it, and the evidence says it is the host's, as mounted into the engine.

The trees are built in temp dirs and passed as roots (the real ``/runtime-addons`` is never
read). The last test lays the add-on out from the sandbox's real Hadoop jars and libhdfs and
reads the real Kerberized HDFS through it.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from mlflow_client_env import errors
from mlflow_client_env.hadoop.install import HadoopHints, HadoopInstall, discover_hadoop
from mlflow_client_env_sandbox import Assets
from mlflow_client_env_sandbox.kdc import Kdc
from tests import trees
from tests.sandbox.fixtures import HdfsControl
from tests.sandbox.helpers import run_python

NOWHERE = {"PATH": "/nonexistent"}
ENGINE = {"CDSW_ENGINE_ID": "r2w8kz7q1", "CDSW_PROJECT": "alice/churn"}


def discover(tmp: Path, env: dict[str, str], **roots: str) -> HadoopInstall:
    """Discovery with every default root in ``tmp`` (absent unless the test made it)."""
    defaults = {
        "default_parcels_root": str(tmp / "opt" / "cloudera" / "parcels"),
        "package_base": str(tmp / "usr" / "lib"),
        "hdp_client": str(tmp / "usr" / "hdp" / "current" / "hadoop-client"),
        "runtime_addons": str(tmp / "runtime-addons"),
    }
    return discover_hadoop(HadoopHints(), env, **{**defaults, **roots})


def test_runtime_addon_found_under_the_addons_root(tmp_path: Path) -> None:
    addon = trees.make_cml_addon(tmp_path / "runtime-addons")
    lib = addon / "usr" / "lib"
    inst = discover(tmp_path, NOWHERE)
    assert inst.kind == "cml-addon" and inst.root == addon
    assert inst.hadoop_home == lib / "hadoop"
    assert inst.libhdfs == lib / "libhdfs.so"  # ARROW_LIBHDFS_DIR is usr/lib itself
    assert inst.version == trees.CML_RELEASE.hadoop
    assert inst.jar_dirs[:4] == (
        lib / "hadoop" / "lib",
        lib / "hadoop",
        lib / "hadoop-hdfs" / "lib",
        lib / "hadoop-hdfs",
    )
    assert inst.source == f"CML runtime add-on in {tmp_path / 'runtime-addons'}"
    assert any("CML runtime add-on layout: hadoop-cli-7.3.1.101-c2jhs" in e for e in inst.evidence)
    assert not [e for e in inst.evidence if "CDSW/CML engine" in e]  # no engine variables


def test_nothing_found_names_the_addons_root(tmp_path: Path) -> None:
    (tmp_path / "runtime-addons" / "spark332-7190-1202-b75-ht9wmb").mkdir(parents=True)
    with pytest.raises(errors.HadoopNotFoundError) as exc:
        discover(tmp_path, NOWHERE)
    assert f"{tmp_path / 'runtime-addons'}/hadoop-cli-*" in exc.value.problem


@pytest.mark.parametrize("how", ["HADOOP_HOME", "hadoop on PATH"])
def test_addon_reached_through_hadoop_home_or_path(tmp_path: Path, how: str) -> None:
    """The add-on's shape is recognised wherever discovery meets it; as a plain package
    install it would have no libhdfs.so (package installs keep it in lib64)."""
    addon = trees.make_cml_addon(tmp_path / "mnt" / "addons", bin_hadoop=True)
    home = addon / "usr" / "lib" / "hadoop"
    if how == "HADOOP_HOME":
        env = {"HADOOP_HOME": str(home), "PATH": ""}
    else:
        alternatives = tmp_path / "etc" / "alternatives"
        alternatives.mkdir(parents=True)
        (alternatives / "hadoop").symlink_to(home / "bin" / "hadoop")
        env = {"PATH": str(alternatives)}
    inst = discover(tmp_path, env)  # the add-ons root in tmp_path is empty: not the route
    assert inst.kind == "cml-addon" and inst.root == addon
    assert inst.libhdfs == addon / "usr" / "lib" / "libhdfs.so"
    assert inst.bin_dir == home / "bin"
    assert inst.source.startswith(how)


def test_two_addons_the_newest_is_used_and_named(tmp_path: Path) -> None:
    root = tmp_path / "runtime-addons"
    trees.make_cml_addon(root, "hadoop-cli-7.2.18.0-z9y8x")
    newest = trees.make_cml_addon(root, "hadoop-cli-7.3.1.101-c2jhs")
    trees.make_cml_addon(root, "hadoop-cli-7.3.1.9-a1b2c")  # 9 < 101: not a string order
    inst = discover(tmp_path, NOWHERE)
    assert inst.root == newest
    (warning,) = inst.warnings
    assert "3 Hadoop CLI add-ons" in warning and "using the newest, hadoop-cli-7.3.1.101" in warning
    assert "setup(hadoop_home=...)" in warning


def test_a_cml_session_with_parcels_uses_the_parcel(tmp_path: Path) -> None:
    """The parcel is the cluster's own release; the add-on is CML's generic client."""
    parcel = trees.make_parcel(tmp_path / "opt" / "cloudera" / "parcels", "cdp7.1.7")
    trees.make_cml_addon(tmp_path / "runtime-addons")
    inst = discover(tmp_path, {**NOWHERE, **ENGINE})
    assert inst.kind == "parcel" and inst.root.resolve() == parcel.resolve()


def test_cdsw_engine_parcels_are_named_as_mounted(tmp_path: Path) -> None:
    parcels = tmp_path / "opt" / "cloudera" / "parcels"
    trees.make_parcel(parcels, "cdh6.3.2")
    outside = discover(tmp_path, NOWHERE)
    inside = discover(tmp_path, {**NOWHERE, **ENGINE})
    assert inside.hadoop_home == outside.hadoop_home == parcels / "CDH" / "lib" / "hadoop"
    added = inside.evidence[len(outside.evidence) :]
    assert inside.evidence[: len(outside.evidence)] == outside.evidence
    assert (
        added[0] == "inside a CDSW/CML engine (CDSW_ENGINE_ID=r2w8kz7q1, CDSW_PROJECT=alice/churn)"
    )
    assert "the host's parcels as mounted into the engine (read-only)" in added[1]


def test_cml_session_addon_evidence(tmp_path: Path) -> None:
    trees.make_cml_addon(tmp_path / "runtime-addons")
    inst = discover(tmp_path, {**NOWHERE, **ENGINE})
    assert inst.evidence[-2].startswith("inside a CDSW/CML engine (CDSW_ENGINE_ID=r2w8kz7q1")
    assert "runtime add-on" in inst.evidence[-1] and "/etc/hadoop/conf" in inst.evidence[-1]


READ = """
import json, os
import mlflow_client_env
report = mlflow_client_env.setup()
import pyarrow.fs as f
fs = f.HadoopFileSystem("default", 0, kerb_ticket=os.environ["MLFLOW_KERBEROS_TICKET_CACHE"])
with fs.open_input_stream(sys.argv[1]) as s:
    data = s.read().decode()
print(json.dumps({"data": data, "ARROW_LIBHDFS_DIR": os.environ["ARROW_LIBHDFS_DIR"],
                  "HADOOP_HOME": os.environ["HADOOP_HOME"],
                  "errors": [x.summary for x in report.findings if x.status == "error"]}))
"""


@pytest.mark.sandbox
def test_a_real_addon_reads_kerberized_hdfs(
    tmp_path: Path, sandbox_assets: Assets, kdc: Kdc, hdfs: HdfsControl
) -> None:
    """The add-on made of the sandbox's real Hadoop jars and libhdfs, reached as a CML
    session reaches it (HADOOP_HOME into the add-on, the client config, the engine's
    JAVA_HOME): setup() composes the environment from it and libhdfs reads HDFS."""
    addon = trees.make_cml_addon(
        tmp_path / "runtime-addons",
        jars_dir=sandbox_assets.jars_dir,
        libhdfs_so=sandbox_assets.libhdfs_so,
    )
    cc = tmp_path / "krb5cc_alice"
    kdc.kinit("alice", cc, lifetime="1h")
    path = f"/user/alice/cml-{uuid.uuid4().hex}.txt"
    text = "read through the CML add-on's libhdfs\n"
    put = hdfs.fs("-put", "-", path, ccache=cc, stdin=text.encode())
    assert put.returncode == 0, put.stderr[-2000:]
    env = {
        **ENGINE,
        "HADOOP_HOME": str(addon / "usr" / "lib" / "hadoop"),
        "HADOOP_CONF_DIR": str(hdfs.client_conf_dir),
        "JAVA_HOME": str(sandbox_assets.java_home),
        "KRB5_CONFIG": str(kdc.krb5_conf),
        "KRB5CCNAME": f"FILE:{cc}",
        "MLFLOW_CLIENT_ENV_CONFIG": str(tmp_path / "user-config.toml"),
        "MLFLOW_CLIENT_ENV_SITE_CONFIG": str(tmp_path / "site-config.toml"),
        "MLFLOW_CLIENT_ENV_CACHE": str(tmp_path / "cache"),
    }
    out = run_python(READ.replace("sys.argv[1]", repr(path)), env, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["data"] == text and got["errors"] == []
    assert got["ARROW_LIBHDFS_DIR"] == str(addon / "usr" / "lib")
    assert got["HADOOP_HOME"] == str(addon / "usr" / "lib" / "hadoop")
    assert os.path.samefile(
        Path(got["ARROW_LIBHDFS_DIR"]) / "libhdfs.so", addon / "usr/lib/libhdfs.so"
    )
