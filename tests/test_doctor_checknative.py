"""doctor's jvm check, E3: Hadoop's own native check in a JVM started like libhdfs's.

The parcel tree is the sandbox's (``parcel_tree``: the real Hadoop 2.7.3 jars, the real
libhdfs, Java 17), and every run is the real CLI, ``doctor --check jvm``, in the shell of
a user who ran ``eval "$(mlflow-client-env env)"``. The JVM is real and so is
``org.apache.hadoop.util.NativeLibraryChecker``.

The sandbox ships no libhadoop.so (no Hadoop native build is to be had from PyPI or
Debian): the parcel's ``lib/hadoop/lib/native`` is empty, which is the "absent" case as it
is. For the other cases a libhadoop.so is compiled here from the C below: a real JNI
library that Hadoop's NativeCodeLoader really loads (``System.loadLibrary("hadoop")``),
carrying only the native methods NativeLibraryChecker calls (no codecs). A copy linked
against a library that is then removed is the "shipped but does not load" case, the way a
parcel's libhadoop fails when a dependency of it is missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env_sandbox import Assets
from mlflow_client_env_sandbox.parcel import ParcelTree
from mlflow_client_env_sandbox.procs import pdeathsig_preexec
from tests.sandbox.helpers import base_env

LIBHADOOP_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <jni.h>

#ifdef MCE_NEEDS_DEP
extern int mce_dep_answer(void);
int mce_use_dep(void) { return mce_dep_answer(); }
#endif

static jstring own_path(JNIEnv *env) {
    Dl_info info;
    if (dladdr((void *)own_path, &info) && info.dli_fname)
        return (*env)->NewStringUTF(env, info.dli_fname);
    return (*env)->NewStringUTF(env, "libhadoop.so");
}

JNIEXPORT jstring JNICALL
Java_org_apache_hadoop_util_NativeCodeLoader_getLibraryName(JNIEnv *env, jclass c) {
    return own_path(env);
}
JNIEXPORT jboolean JNICALL
Java_org_apache_hadoop_util_NativeCodeLoader_buildSupportsSnappy(JNIEnv *env, jclass c) {
    return JNI_FALSE;
}
JNIEXPORT jboolean JNICALL
Java_org_apache_hadoop_util_NativeCodeLoader_buildSupportsOpenssl(JNIEnv *env, jclass c) {
    return JNI_FALSE;
}
/* NativeLibraryChecker takes lz4 as part of libhadoop and asks its name */
JNIEXPORT void JNICALL
Java_org_apache_hadoop_io_compress_lz4_Lz4Compressor_initIDs(JNIEnv *env, jclass c) {}
JNIEXPORT jstring JNICALL
Java_org_apache_hadoop_io_compress_lz4_Lz4Compressor_getLibraryName(JNIEnv *env, jclass c) {
    return (*env)->NewStringUTF(env, "none (a test build without lz4)");
}
"""


def compile_libhadoop(dest: Path, java_home: Path, work: Path, missing_dep: bool = False) -> Path:
    """``dest/libhadoop.so`` built from LIBHADOOP_C; with ``missing_dep`` it NEEDs
    libmce_dep.so, which is built next to it in ``work``, linked, then deleted."""
    work.mkdir(parents=True, exist_ok=True)
    src = work / "libhadoop.c"
    src.write_text(LIBHADOOP_C)
    inc = [f"-I{java_home / 'include'}", f"-I{java_home / 'include' / 'linux'}"]
    argv = ["cc", "-shared", "-fPIC", "-o", str(dest / "libhadoop.so"), str(src), *inc]
    dep = work / "libmce_dep.so"
    if missing_dep:
        dep_src = work / "dep.c"
        dep_src.write_text("int mce_dep_answer(void) { return 42; }\n")
        built = subprocess.run(
            ["cc", "-shared", "-fPIC", "-o", str(dep), str(dep_src)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert built.returncode == 0, built.stderr
        argv += ["-DMCE_NEEDS_DEP", f"-L{work}", "-lmce_dep", "-Wl,--no-as-needed"]
    built = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    if missing_dep:
        dep.unlink()  # NEEDED libmce_dep.so is now nowhere the loader looks
    return dest / "libhadoop.so"


def native_dir(tree: ParcelTree) -> Path:
    """The parcel's lib/native as discovery names it: through the active ``CDH`` link."""
    return tree.cdh_link / "lib" / "hadoop" / "lib" / "native"


def user_env(tree: ParcelTree, assets: Assets, tmp_path: Path, **over: str) -> dict[str, str]:
    """The user's shell on this edge node, before ``eval "$(mlflow-client-env env)"``."""
    return {
        **base_env(),
        "MLFLOW_CLIENT_ENV_PARCELS_ROOT": str(tree.parcels_root),
        "HADOOP_CONF_DIR": str(tree.conf_dir),
        "JAVA_HOME": str(assets.java_home),
        "MLFLOW_CLIENT_ENV_CONFIG": str(tmp_path / "user.toml"),
        "MLFLOW_CLIENT_ENV_SITE_CONFIG": str(tmp_path / "site.toml"),
        "MLFLOW_CLIENT_ENV_CACHE": str(tmp_path / "cache"),
        "KRB5CCNAME": f"FILE:{tmp_path / 'no-ticket-needed-here'}",
        **over,
    }


def shell_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` after ``eval "$(mlflow-client-env env)"`` (no ticket: env says so on stderr
    and prints the variables all the same)."""
    out = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "env", "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.stdout.strip(), out.stderr
    return {**env, **json.loads(out.stdout)}


def doctor_jvm(env: dict[str, str]) -> tuple[int, dict[str, dict[str, Any]]]:
    out = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "doctor", "--json", "--check", "jvm"],
        env=env, capture_output=True, text=True, timeout=300, preexec_fn=pdeathsig_preexec(),
    )  # fmt: skip
    assert out.returncode in (0, 1), out.stderr
    data = json.loads(out.stdout)
    assert [c["name"] for c in data["checks"]] == ["jvm"]
    return out.returncode, {f["code"]: f for f in data["checks"][0]["findings"]}


@pytest.fixture
def edge(parcel_tree: ParcelTree, sandbox_assets: Assets, tmp_path: Path) -> dict[str, str]:
    return user_env(parcel_tree, sandbox_assets, tmp_path)


def test_the_sandbox_parcel_has_no_libhadoop_and_the_jvm_says_why(
    parcel_tree: ParcelTree, edge: dict[str, str]
) -> None:
    assert not any(native_dir(parcel_tree).iterdir())  # the sandbox as it is
    code, found = doctor_jvm(shell_env(edge))
    absent = found["jvm.native-hadoop-absent"]
    assert absent["status"] == "ok" and code == 0  # harmless: libhdfs works without it
    assert f"no libhadoop.so in {native_dir(parcel_tree)}" in absent["summary"]
    assert "(E3)" in absent["summary"]
    ev = absent["evidence"]
    # NativeCodeLoader's own words, from its DEBUG line in the probe JVM
    assert ev[0] == (
        "the JVM says: java.lang.UnsatisfiedLinkError: no hadoop in java.library.path: "
        f"{native_dir(parcel_tree)}"
    )
    assert "hadoop: false" in ev and f"java.library.path: {native_dir(parcel_tree)}" in ev


def test_a_libhadoop_that_loads(
    parcel_tree: ParcelTree, sandbox_assets: Assets, edge: dict[str, str], tmp_path: Path
) -> None:
    lib = compile_libhadoop(native_dir(parcel_tree), sandbox_assets.java_home, tmp_path / "cc")
    lib = lib.resolve()  # the JVM loads the canonical file, and libhadoop names that one
    code, found = doctor_jvm(shell_env(edge))
    loaded = found["jvm.native-hadoop"]
    assert loaded["status"] == "ok" and code == 0
    assert f"loads Hadoop's native library ({lib})" in loaded["summary"]
    assert f"hadoop: true {lib}" in loaded["evidence"]
    assert "jvm.native-hadoop-absent" not in found and "jvm.E3" not in found


def test_a_shipped_libhadoop_whose_dependency_is_missing(
    parcel_tree: ParcelTree, sandbox_assets: Assets, edge: dict[str, str], tmp_path: Path
) -> None:
    lib = compile_libhadoop(
        native_dir(parcel_tree), sandbox_assets.java_home, tmp_path / "cc", missing_dep=True
    )
    code, found = doctor_jvm(shell_env(edge))
    broken = found["jvm.E3"]
    assert broken["status"] == "warn" and code == 0
    assert f"finds {lib} but cannot load it (E3)" in broken["summary"]
    assert broken["evidence"][0].startswith("the JVM says: java.lang.UnsatisfiedLinkError: ")
    assert "libmce_dep.so: cannot open shared object file" in broken["evidence"][0]
    assert f"ldd {lib}" in broken["fix"]


def test_a_shipped_libhadoop_the_jvm_does_not_look_for(
    parcel_tree: ParcelTree, sandbox_assets: Assets, edge: dict[str, str], tmp_path: Path
) -> None:
    """The user's own -Djava.library.path in LIBHDFS_OPTS is kept by env: the JVM then never
    looks in the parcel's lib/native, where libhadoop.so is."""
    compile_libhadoop(native_dir(parcel_tree), sandbox_assets.java_home, tmp_path / "cc")
    elsewhere = tmp_path / "my-natives"
    elsewhere.mkdir()
    user = {**edge, "LIBHDFS_OPTS": f"-Djava.library.path={elsewhere}"}
    env = shell_env(user)
    assert f"-Djava.library.path={native_dir(parcel_tree)}" not in env["LIBHDFS_OPTS"]
    _, found = doctor_jvm(env)
    missed = found["jvm.E3"]
    assert missed["status"] == "warn"
    assert (
        f"does not look in {native_dir(parcel_tree)}, where libhadoop.so is" in (missed["summary"])
    )
    assert f"java.library.path: {elsewhere}" in missed["evidence"]
    assert missed["fix"].startswith(f"add -Djava.library.path={native_dir(parcel_tree)} to")


def test_short_circuit_reads_without_libhadoop_are_a_warning(
    parcel_tree: ParcelTree, edge: dict[str, str]
) -> None:
    site = parcel_tree.conf_dir / "hdfs-site.xml"
    text = site.read_text()
    prop = (
        "<property><name>dfs.client.read.shortcircuit</name><value>true</value></property>"
        "<property><name>dfs.domain.socket.path</name><value>/var/run/hdfs-sockets/dn</value>"
        "</property>"
    )
    site.write_text(text.replace("</configuration>", prop + "</configuration>"))
    _, found = doctor_jvm(shell_env(edge))
    sc = found["jvm.E3"]
    assert sc["status"] == "warn"
    assert sc["summary"].startswith("dfs.client.read.shortcircuit is true, but libhdfs's JVM")
    assert "no libhadoop.so in" in sc["summary"]
