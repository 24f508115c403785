"""setup() in a real process: what it writes to os.environ, what it refuses, its report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mlflow_client_env
from mlflow_client_env import errors
from mlflow_client_env.java import select_java
from tests.conftest import Edge, build_edge
from tests.native_helpers import JVM_SERVER


def test_setup_sets_lazy_variables_not_ld_library_path(edge: Edge) -> None:
    before_ld = os.environ.get("LD_LIBRARY_PATH")
    report = mlflow_client_env.setup(tracking_uri="http://127.0.0.1:5999", **edge.overrides())
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5999"
    assert os.environ["ARROW_LIBHDFS_DIR"] == str(edge.parcels / "CDH" / "lib64")
    assert os.environ["CLASSPATH"].startswith(str(edge.conf) + ":")
    assert os.environ.get("LD_LIBRARY_PATH") == before_ld
    assert [v.name for v in report.not_applied] == ["LD_LIBRARY_PATH"]
    applied = {c.name for c in report.applied}
    assert {
        "CLASSPATH",
        "JAVA_HOME",
        "HADOOP_HOME",
        "LIBHDFS_OPTS",
        "MLFLOW_TRACKING_URI",
    } <= applied
    text = repr(report)
    assert "not set: LD_LIBRARY_PATH" in text and "install-kernel" in text
    html = report._repr_html_()
    assert "<table>" in html and "CLASSPATH" in html and "not set (process start)" in html


def test_setup_twice_changes_nothing(edge: Edge) -> None:
    mlflow_client_env.setup(**edge.overrides())
    snapshot = dict(os.environ)
    report = mlflow_client_env.setup(**edge.overrides())
    assert report.applied == ()
    assert dict(os.environ) == snapshot
    assert "already up to date" in repr(report)


@pytest.mark.parametrize("case", ["broken-link", "colon", "no-java", "bad-xml", "bad-toml"])
def test_setup_bad_input_raises_typed_error(
    tmp_path: Path, clean_env: dict[str, str], case: str
) -> None:
    e = build_edge(tmp_path / ("x:y" if case == "colon" else "edge"))
    ov = e.overrides()
    expected: type[errors.MlflowClientEnvError]
    if case == "broken-link":
        (e.parcels / "CDH").unlink()
        os.symlink("CDH-0.0.0", e.parcels / "CDH")
        expected, needle = errors.ParcelError, str(e.parcels / "CDH")
    elif case == "colon":
        expected, needle = errors.PathListError, "x:y"
    elif case == "no-java":
        ov["java_home"] = str(tmp_path / "nojava")
        expected, needle = errors.JavaNotFoundError, "nojava"
    elif case == "bad-xml":
        (e.conf / "core-site.xml").write_text("<configuration><property>")
        expected, needle = errors.ConfigFileError, "core-site.xml"
    else:
        Path(clean_env["MLFLOW_CLIENT_ENV_CONFIG"]).write_text("tracking_uri = \n")
        expected, needle = errors.ConfigFileError, "config.toml"
    snapshot = dict(os.environ)
    with pytest.raises(expected) as exc:
        mlflow_client_env.setup(**ov)
    assert needle in exc.value.problem and exc.value.fix
    assert dict(os.environ) == snapshot  # nothing half-applied


#: (JNI 1.8; see make_jvm_code)
def make_jvm_code(*options: str) -> str:
    """Python that makes a real JVM from an already loaded libjvm (``lib``), through the JNI
    invocation API, as libhdfs does at the first HDFS access; ``options``: JVM options."""
    return (
        "class _Args(ctypes.Structure):\n"
        "    _fields_ = [('version', ctypes.c_int), ('n', ctypes.c_int),\n"
        "                ('options', ctypes.c_void_p), ('ignore', ctypes.c_ubyte)]\n"
        "class _Option(ctypes.Structure):\n"
        "    _fields_ = [('text', ctypes.c_char_p), ('extra', ctypes.c_void_p)]\n"
        f"_opts = (_Option * {max(len(options), 1)})(\n"
        f"    *[_Option(o.encode(), None) for o in {list(options)!r}])\n"
        "_vm, _jni = ctypes.c_void_p(), ctypes.c_void_p()\n"
        f"_args = _Args(0x00010008, {len(options)}, ctypes.cast(_opts, ctypes.c_void_p), 0)\n"
        "assert lib.JNI_CreateJavaVM(ctypes.byref(_vm), ctypes.byref(_jni), ctypes.byref(_args)) == 0\n"
    )


MAKE_JVM = make_jvm_code()


def test_jvm_already_running_warns_and_a_loaded_libjvm_alone_does_not(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    """A real libjvm.so is loaded first, as the launcher kernel does at start: it has made no
    JVM, which will still read the new CLASSPATH, so setup() is silent. Once a real JVM is
    made in it (as at the first HDFS call), setup() must say that changes no longer apply."""
    e = build_edge(tmp_path)
    libjvm = select_java().install.libjvm
    code = (
        "import ctypes, json, sys, warnings\n"
        f"lib = ctypes.CDLL({str(libjvm)!r})\n"
        "import mlflow_client_env\n"
        "def run():\n"
        "    with warnings.catch_warnings(record=True) as w:\n"
        "        warnings.simplefilter('always')\n"
        f"        r = mlflow_client_env.setup(**{e.overrides()!r})\n"
        "    return {'jvm': str(r.jvm_loaded), 'codes': [f.code for f in r.findings],\n"
        "            'warned': [str(x.message) for x in w], 'text': repr(r)}\n"
        "first = run()\n"
        "import os; os.environ.pop('CLASSPATH')  # so the second call changes it again\n"
        f"{MAKE_JVM}"
        "print(json.dumps([first, run()]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=clean_env
    )
    loaded, running = json.loads(out.stdout.splitlines()[-1])
    assert loaded["jvm"] == "None", loaded
    assert "process-start.jvm-already-loaded" not in loaded["codes"]
    assert not any("already running" in m for m in loaded["warned"])
    assert running["jvm"] == str(libjvm)
    assert "process-start.jvm-already-loaded" in running["codes"]
    assert any("already running" in m for m in running["warned"])
    assert "restart the kernel" in running["text"]


def test_setup_with_another_java_than_the_kernel_loaded_at_start_says_so(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    """A launcher kernel loaded its Java's libjvm.so at start (jvm.preload); a later setup()
    choosing another Java (the edge's, another libjvm.so file) would leave libhdfs on the
    first one, silently: it warns. The same Java is silent."""
    e = build_edge(tmp_path)
    first = JVM_SERVER / "libjvm.so"
    overrides = e.overrides()  # the edge's own Java
    same = {**e.overrides(), "java_home": str(JVM_SERVER.parent.parent)}
    code = (
        "import json, warnings\n"
        "from mlflow_client_env.jvm import preload\n"
        f"preload({str(first)!r})\n"
        "import mlflow_client_env\n"
        "def run(kw):\n"
        "    with warnings.catch_warnings(record=True) as w:\n"
        "        warnings.simplefilter('always')\n"
        "        r = mlflow_client_env.setup(**kw)\n"
        "    return [[f.code for f in r.findings], [str(x.message) for x in w]]\n"
        f"print(json.dumps([run({same!r}), run({overrides!r})]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=clean_env, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (same_codes, same_warned), (other_codes, warned) = json.loads(out.stdout.splitlines()[-1])
    assert "process-start.other-libjvm-loaded" not in same_codes
    assert not any(str(first) in m for m in same_warned), same_warned
    assert "process-start.other-libjvm-loaded" in other_codes
    assert any(str(first) in m for m in warned), warned


def test_import_does_not_pull_heavy_modules() -> None:
    code = (
        "import sys, mlflow_client_env\n"
        "heavy = [m for m in ('mlflow', 'pyarrow', 'gssapi', 'psutil', 'elftools') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_setup_with_experiment_uses_real_mlflow(edge: Edge, tmp_path: Path) -> None:
    """experiment= goes through mlflow.set_experiment against a real (sqlite) store."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = (
        "import mlflow_client_env, mlflow\n"
        f"r = mlflow_client_env.setup(tracking_uri={uri!r}, experiment='test_mlflow', **{edge.overrides()!r})\n"
        "print(mlflow.get_experiment_by_name('test_mlflow').experiment_id, r.experiment)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "test_mlflow"


def test_setup_under_ipython_explains_errors(edge: Edge, clean_env: dict[str, str]) -> None:
    """A real IPython shell: after setup(), a cell's Kerberos failure is followed by its fix."""
    code = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "import mlflow_client_env\n"
        f"mlflow_client_env.setup(**{edge.overrides()!r})\n"
        "shell.run_cell(\"raise OSError('GSS initiate failed [Caused by GSSException: "
        "No valid credentials provided (Mechanism level: Failed to find any Kerberos tgt)]')\")\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=clean_env, timeout=120
    )
    text = out.stdout + out.stderr
    assert "OSError" in text
    assert "[catalog D1]" in text and "kinit" in text


def test_setup_reads_the_kerberos_facts_once(edge: Edge, monkeypatch: pytest.MonkeyPatch) -> None:
    """discover_kerberos (krb5.conf, the cache name) runs once per setup(), not once for the
    Java-cache plan and again for discovery. The real function runs; only calls are counted."""
    import mlflow_client_env.discovery as discovery
    import mlflow_client_env.kerberos.java_cache as java_cache
    import mlflow_client_env.kerberos.profile as profile
    import mlflow_client_env.session as session

    calls: list[object] = []
    real = profile.discover_kerberos

    def counting(env: object) -> object:
        calls.append(env)
        return real(env)  # type: ignore[arg-type]

    for module in (profile, discovery, java_cache, session):
        monkeypatch.setattr(module, "discover_kerberos", counting)
    mlflow_client_env.setup(**edge.overrides())
    assert len(calls) == 1


def test_a_jvm_loaded_under_another_name_is_seen(tmp_path: Path) -> None:
    """``loaded_libjvm`` asks the dynamic loader first (RTLD_NOLOAD, by SONAME): none before
    a JVM is loaded, and the real file once one is, even through a link of another name."""
    libjvm = select_java().install.libjvm
    link = tmp_path / "libsomething.so"
    link.symlink_to(libjvm)
    code = (
        "import ctypes, json\n"
        "from mlflow_client_env.jvm import loaded_libjvm\n"
        "before = loaded_libjvm()\n"
        f"ctypes.CDLL({str(link)!r})\n"
        "print(json.dumps([str(before), str(loaded_libjvm())]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["None", str(libjvm.resolve())]


def test_a_jvm_whose_file_was_replaced_is_still_seen(tmp_path: Path) -> None:
    """A JDK upgraded (or removed) under a running kernel: the maps say ``(deleted)``."""
    copy = tmp_path / "jdk" / "libjvm.so"
    copy.parent.mkdir()
    shutil.copyfile(select_java().install.libjvm, copy)
    code = (
        "import ctypes, json, os\n"
        "from mlflow_client_env.jvm import loaded_libjvm\n"
        f"ctypes.CDLL({str(copy)!r})\n"
        f"os.unlink({str(copy)!r})\n"
        "print(json.dumps(str(loaded_libjvm())))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == str(copy)


def test_a_jvm_library_of_another_soname_is_seen_by_its_file(tmp_path: Path) -> None:
    """``also``: the chosen Java's libjvm is recognised by its file, whatever its SONAME
    (a library whose SONAME is not libjvm.so stands in for one here)."""
    lib = tmp_path / "server" / "libjvm.so"
    lib.parent.mkdir()
    shutil.copyfile(_system_lib("libcom_err.so.2"), lib)
    code = (
        "import ctypes, json\n"
        "from mlflow_client_env.jvm import loaded_libjvm\n"
        f"before = loaded_libjvm(also=[{str(lib)!r}])\n"
        f"ctypes.CDLL({str(lib)!r})\n"
        "print(json.dumps([str(before), str(loaded_libjvm()),\n"
        f"                  str(loaded_libjvm(also=[{str(lib)!r}]))]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # by SONAME alone it is not a libjvm; by its file it is, and the maps name it
    assert json.loads(out.stdout) == ["None", "None", str(lib)]


def _system_lib(name: str) -> Path:
    for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64"):
        if (Path(d) / name).exists():
            return Path(d) / name
    raise AssertionError(f"{name} not found: install libcom-err2 (apt) / e2fsprogs-libs (dnf)")


def test_a_jvm_the_maps_cannot_name_is_still_reported(tmp_path: Path) -> None:
    """A libjvm loaded from a file of another name: the loader knows it (by SONAME), the
    maps have no ``/libjvm.so`` line, and it is reported as ``libjvm.so``, not missed."""
    copy = tmp_path / "libjvm-renamed.so"
    shutil.copyfile(select_java().install.libjvm, copy)
    code = (
        "import ctypes, json\n"
        "from mlflow_client_env.jvm import loaded_libjvm\n"
        f"ctypes.CDLL({str(copy)!r})\n"
        "print(json.dumps(str(loaded_libjvm())))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == "libjvm.so"
