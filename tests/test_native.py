"""Native-library diagnostics against real shared objects.

Each broken setup is built for real (copied system libraries, rewritten
header bytes, gcc-built stubs), and wherever the real loader can be asked,
the test also shows ld.so agrees: a ``probe_load`` or ``python -c`` in a
fresh process with the same LD_LIBRARY_PATH.
"""

from __future__ import annotations

import os
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlflow_client_env.doctor.native.dependencies import check_library
from mlflow_client_env.doctor.native.elf import ElfInfo, read_elf
from mlflow_client_env.doctor.native.ldcache import read_ld_cache
from mlflow_client_env.doctor.native.loader import Resolution, resolve_needed
from mlflow_client_env.doctor.native.probe import load_finding, probe_load
from mlflow_client_env.doctor.native.shadowing import find_shadowing, python_native_libraries
from mlflow_client_env.findings import Finding
from tests.native_helpers import (
    E_MACHINE,
    EI_CLASS,
    EM_AARCH64,
    JVM_SERVER,
    LIBJVM,
    REAL_KRB5,
    REAL_SSL,
    REAL_Z,
    SYSTEM_LIBDIR,
    USES_JNI,
    copy_lib,
    env_without_llp,
    gcc_shared,
    patch,
    run_python,
)

HOST = "ELFCLASS64 EM_X86_64 (little-endian)"
NOT_FOUND = "cannot open shared object file: No such file or directory"


@pytest.fixture(scope="module")
def libhdfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A libhdfs stand-in: calls JNI, links -ljvm from the JDK, has no RPATH."""
    out = tmp_path_factory.mktemp("parcel") / "lib64" / "libhdfs.so"
    return gcc_shared(
        out, code=USES_JNI, soname="libhdfs.so.0.0.0", libs=["jvm"], libdirs=[JVM_SERVER]
    )


def _only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


def _elf(path: Path) -> ElfInfo:
    info = read_elf(path)
    assert isinstance(info, ElfInfo), info
    return info


def _ours(root: Path, llp: str | None, **kw: Any) -> list[Resolution]:
    """Resolutions of the test's own libraries (libnmc*), leaving out libc."""
    return [r for r in resolve_needed(_elf(root), llp, **kw) if r.soname.startswith("libnmc")]


# ----------------------------------------------------------- truncated files


@pytest.mark.parametrize(
    ("size", "loader_says"),
    [(40, "file too short"), (20000, "killed by SIGBUS")],
    ids=["header-cut", "segments-cut"],
)
def test_truncated_libhdfs_is_reported_before_it_crashes_the_loader(
    tmp_path: Path, size: int, loader_says: str
) -> None:
    lib = copy_lib(REAL_KRB5, tmp_path / "lib64" / "libhdfs.so")
    os.truncate(lib, size)

    finding = _only(check_library(lib, None))

    assert finding.code == "native-libraries.truncated"
    assert finding.status == "error"
    assert finding.summary == f"{lib} is truncated"
    probe = probe_load(LIBJVM, lib, env_without_llp(), timeout=60)
    assert (probe.ok, probe.stage) == (False, "libhdfs")
    assert loader_says in (probe.error or "")
    assert load_finding(probe).status == "error"


def test_non_elf_file_under_a_library_name(tmp_path: Path) -> None:
    lib = tmp_path / "libhdfs.so"
    lib.write_text("/* GNU ld script */\nGROUP ( /usr/lib64/libhdfs.so.0.0.0 )\n" * 4)

    finding = _only(check_library(lib, None))

    assert (finding.code, finding.status) == ("native-libraries.not-elf", "error")
    assert str(lib) in finding.summary


def test_missing_libhdfs_file(tmp_path: Path) -> None:
    lib = tmp_path / "lib" / "hadoop" / "lib" / "native" / "libhdfs.so"

    finding = _only(check_library(lib, None))

    assert (finding.code, finding.status) == ("native-libraries.file-missing", "error")
    assert finding.summary == f"{lib} does not exist"


# ------------------------------------------------------- wrong architecture


@pytest.mark.parametrize(
    ("offset", "data", "built_for", "loader_says"),
    [
        (E_MACHINE, EM_AARCH64.to_bytes(2, "little"), "ELFCLASS64 EM_AARCH64", NOT_FOUND),
        (EI_CLASS, b"\x01", "ELFCLASS32 EM_X86_64", "wrong ELF class: ELFCLASS32"),
    ],
    ids=["aarch64", "32-bit"],
)
def test_libhdfs_of_another_architecture(
    tmp_path: Path, offset: int, data: bytes, built_for: str, loader_says: str
) -> None:
    lib = patch(copy_lib(REAL_Z, tmp_path / "libhdfs.so"), offset, data)

    finding = _only(check_library(lib, None))

    assert finding.code == "native-libraries.wrong-architecture"
    assert finding.status == "error"
    assert (
        finding.summary == f"{lib} is built for {built_for} (little-endian); this Python is {HOST}"
    )
    probe = probe_load(LIBJVM, lib, env_without_llp(), timeout=60)
    assert probe.error == f"{lib}: {loader_says}"


def test_foreign_copy_on_ld_library_path_is_skipped_like_ld_so(tmp_path: Path) -> None:
    foreign = gcc_shared(tmp_path / "arm" / "libnmcdep.so", soname="libnmcdep.so")
    patch(foreign, E_MACHINE, EM_AARCH64.to_bytes(2, "little"))
    good = gcc_shared(tmp_path / "good" / "libnmcdep.so", soname="libnmcdep.so")
    root = gcc_shared(tmp_path / "root" / "libhdfs.so", libs=["nmcdep"], libdirs=[good.parent])
    llp = f"{foreign.parent}:{good.parent}"

    (res,) = _ours(root, llp)

    assert (res.path, res.step) == (good, "ld_library_path")
    assert res.skipped == (f"{foreign}: ELFCLASS64 EM_AARCH64 (little-endian), not {HOST}",)
    assert probe_load(LIBJVM, root, env_without_llp(LD_LIBRARY_PATH=llp), timeout=60).ok
    only_foreign = _only(check_library(root, str(foreign.parent)))
    assert (only_foreign.code, only_foreign.status) == (
        "native-libraries.missing-dependency",
        "error",
    )
    assert f"skipped {foreign}: ELFCLASS64 EM_AARCH64 (little-endian), not {HOST}" in (
        only_foreign.evidence
    )


def test_truncated_dependency_stops_the_search(tmp_path: Path) -> None:
    """ld.so gives up at a damaged candidate; it does not try the next directory."""
    good = gcc_shared(tmp_path / "good" / "libnmcdep.so", soname="libnmcdep.so")
    bad = copy_lib(good, tmp_path / "bad" / "libnmcdep.so")
    os.truncate(bad, 40)
    root = gcc_shared(tmp_path / "root" / "libhdfs.so", libs=["nmcdep"], libdirs=[good.parent])
    llp = f"{bad.parent}:{good.parent}"

    finding = _only(check_library(root, llp))

    assert (finding.code, finding.status) == ("native-libraries.truncated", "error")
    assert finding.summary == f"{bad} (needed by {root}) is truncated"
    probe = probe_load(LIBJVM, root, env_without_llp(LD_LIBRARY_PATH=llp), timeout=60)
    assert probe.error == f"{bad}: file too short"


# --------------------------------------------------------- missing libjvm


def test_libhdfs_without_libjvm_on_the_search_path(libhdfs: Path) -> None:
    finding = _only(check_library(libhdfs, None, jvm_dir=JVM_SERVER))

    assert finding.code == "native-libraries.missing-dependency"
    assert finding.status == "warn"  # pyarrow dlopens libjvm first
    assert finding.summary.startswith(f"libjvm.so, needed by {libhdfs}, cannot be found")
    assert f"add {JVM_SERVER} to LD_LIBRARY_PATH at process start" in (finding.fix or "")
    direct = _only(check_library(libhdfs, None, preloaded=()))
    assert direct.status == "error"
    loader = run_python(f"import ctypes; ctypes.CDLL({str(libhdfs)!r})", env_without_llp())
    assert f"OSError: libjvm.so: {NOT_FOUND}" in loader.stderr


def test_libjvm_resolves_once_ld_library_path_has_the_jvm_dir(libhdfs: Path) -> None:
    finding = _only(check_library(libhdfs, str(JVM_SERVER)))
    jvm = next(r for r in resolve_needed(_elf(libhdfs), str(JVM_SERVER)) if r.soname == "libjvm.so")

    assert (finding.code, finding.status) == ("native-libraries.dependencies-resolved", "ok")
    assert f"libjvm.so => {LIBJVM} [ld_library_path]" in finding.evidence
    assert (jvm.path, jvm.step) == (LIBJVM, "ld_library_path")
    loader = run_python(
        f"import ctypes; ctypes.CDLL({str(libhdfs)!r})",
        env_without_llp(LD_LIBRARY_PATH=str(JVM_SERVER)),
    )
    assert loader.returncode == 0, loader.stderr


def test_read_elf_fields(libhdfs: Path) -> None:
    info = _elf(libhdfs)

    assert (info.elf_class, info.machine, info.elf_type) == (64, "EM_X86_64", "ET_DYN")
    assert info.soname == "libhdfs.so.0.0.0"
    assert "libjvm.so" in info.needed
    assert (info.rpath, info.runpath) == ((), ())


# ------------------------------------------------------------ search order


@pytest.fixture
def two_deps(tmp_path: Path) -> tuple[Path, Path]:
    """``libnmcorder.so`` twice: ``a`` returns 1, ``b`` returns 2."""
    return tuple(  # type: ignore[return-value]
        gcc_shared(
            tmp_path / name / "libnmcorder.so",
            code=f"int nmc_which(void) {{ return {value}; }}\n",
            soname="libnmcorder.so",
        )
        for name, value in (("a", 1), ("b", 2))
    )


CALLER = "extern int nmc_which(void);\nint nmc_root(void) { return nmc_which(); }\n"


def _which(root: Path, llp: str | None) -> int:
    """Ask the real loader which copy it bound: 1 (dir a) or 2 (dir b)."""
    env = env_without_llp(**({"LD_LIBRARY_PATH": llp} if llp else {}))
    done = run_python(f"import ctypes; print(ctypes.CDLL({str(root)!r}).nmc_root())", env)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@pytest.mark.parametrize(
    ("dtags", "llp_b", "step", "copy"),
    [
        ("--disable-new-dtags", True, "rpath", "a"),  # RPATH beats LD_LIBRARY_PATH
        ("--enable-new-dtags", True, "ld_library_path", "b"),  # LD_LIBRARY_PATH beats RUNPATH
        ("--enable-new-dtags", False, "runpath", "a"),
    ],
    ids=["rpath-first", "runpath-after-llp", "runpath-origin"],
)
def test_search_order_matches_the_real_loader(
    tmp_path: Path, two_deps: tuple[Path, Path], dtags: str, llp_b: bool, step: str, copy: str
) -> None:
    a, b = two_deps
    root = gcc_shared(
        tmp_path / "root" / "libnmcroot.so",
        code=CALLER,
        libs=["nmcorder"],
        libdirs=[a.parent],
        ldflags=[f"-Wl,{dtags}", "-Wl,-rpath,$ORIGIN/../a"],
    )
    llp = str(b.parent) if llp_b else None

    (res,) = _ours(root, llp)

    assert res.step == step
    assert res.path is not None and os.path.samefile(res.path, a if copy == "a" else b)
    assert _which(root, llp) == (1 if copy == "a" else 2)


def test_transitive_dependencies_are_followed_once(tmp_path: Path, libhdfs: Path) -> None:
    mid = gcc_shared(
        tmp_path / "mid" / "libnmcmid.so",
        code=USES_JNI,
        soname="libnmcmid.so",
        libs=["hdfs", "jvm"],
        libdirs=[libhdfs.parent, JVM_SERVER],
    )
    root = gcc_shared(tmp_path / "root" / "libnmctop.so", libs=["nmcmid"], libdirs=[mid.parent])

    llp = f"{mid.parent}:{JVM_SERVER}"

    flat = resolve_needed(_elf(root), llp)
    deep = resolve_needed(_elf(root), llp, recursive=True)

    assert [r.soname for r in flat if r.soname.startswith("libnmc")] == ["libnmcmid.so"]
    names = [r.soname for r in deep]
    assert "libjvm.so" in names and "libstdc++.so.6" in names  # libjvm's own NEEDED
    assert len(names) == len(set(names))
    # libhdfs.so.0.0.0 is the SONAME, but only a file named libhdfs.so exists.
    (missing,) = [f for f in check_library(root, llp) if f.status != "ok"]
    assert (missing.code, missing.status) == ("native-libraries.missing-dependency", "error")
    assert missing.summary.startswith(f"libhdfs.so.0.0.0, needed by {mid}, cannot be found")


# ------------------------------------------------------------ ld.so.cache


def test_cache_step_uses_the_cache_file_not_the_conf_dirs(tmp_path: Path) -> None:
    libdir = tmp_path / "opt" / "lib"
    cached = gcc_shared(libdir / "libnmccached.so.1", soname="libnmccached.so.1")
    (libdir / "libnmccached.so").symlink_to(cached.name)
    conf = tmp_path / "ld.so.conf"
    conf.write_text(f"{libdir}\n")
    cache = tmp_path / "ld.so.cache"
    subprocess.run(["ldconfig", "-X", "-C", str(cache), "-f", str(conf)], check=True)
    # Added after ldconfig ran: ld.so cannot see it, although its dir is configured.
    stale = gcc_shared(libdir / "libnmcstale.so.1", soname="libnmcstale.so.1")
    (libdir / "libnmcstale.so").symlink_to(stale.name)
    root = gcc_shared(tmp_path / "root.so", libs=["nmccached", "nmcstale"], libdirs=[libdir])

    hit, miss = _ours(root, None, ld_cache=cache, default_dirs=())

    assert (hit.soname, hit.path, hit.step) == ("libnmccached.so.1", cached, "cache")
    assert (miss.soname, miss.path) == ("libnmcstale.so.1", None)
    assert f"cache: {cache}" in miss.searched
    assert _ours(root, None, ld_cache=None, default_dirs=())[0].path is None


@pytest.mark.parametrize("fmt", ["old", "compat", "new"])
def test_ld_cache_formats_parse_to_the_same_table(tmp_path: Path, fmt: str) -> None:
    conf = tmp_path / "ld.so.conf"
    conf.write_text("")
    new, other = tmp_path / "new.cache", tmp_path / f"{fmt}.cache"
    for fmt_, out in (("new", new), (fmt, other)):
        subprocess.run(["ldconfig", "-X", "-c", fmt_, "-C", str(out), "-f", str(conf)], check=True)

    a, b = read_ld_cache(new), read_ld_cache(other)

    assert (a.problem, b.problem) == (None, None)
    assert {(e.soname, e.path) for e in a.entries} == {(e.soname, e.path) for e in b.entries}
    assert a.lookup("libz.so.1") is not None


def test_system_cache_matches_ldconfig_print() -> None:
    printed = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True)
    expected = {
        (line.split()[0], line.split(" => ")[1])
        for line in printed.stdout.splitlines()
        if " => " in line
    }

    assert {(e.soname, str(e.path)) for e in read_ld_cache().entries} == expected


def test_garbage_cache_is_no_cache(tmp_path: Path) -> None:
    junk = tmp_path / "ld.so.cache"
    junk.write_bytes(b"not a cache at all")

    assert read_ld_cache(junk).entries == ()
    assert read_ld_cache(junk).problem == f"{junk}: not a glibc ld.so.cache (unknown magic)"


# --------------------------------------------------------------- shadowing


@pytest.fixture
def parcel_lib64(tmp_path: Path) -> Path:
    """A parcel dir with a real libssl copy and an incompatible libkrb5.so.3."""
    lib64 = tmp_path / "CDH" / "lib64"
    copy_lib(REAL_SSL, lib64 / "libssl.so.3")
    gcc_shared(lib64 / "libkrb5.so.3", code="int nmc_not_krb5;\n", soname="libkrb5.so.3")
    return lib64


def test_parcel_copies_shadow_the_system_and_break_imports(parcel_lib64: Path) -> None:
    krb5, ssl_ = find_shadowing(str(parcel_lib64), label="proposed", python_libs={})

    for f in (krb5, ssl_):
        assert (f.code, f.status) == ("native-libraries.shadowing", "warn")
    assert krb5.summary == (
        f"LD_LIBRARY_PATH (proposed) puts {parcel_lib64}/libkrb5.so.3 "
        "ahead of the system's /lib/x86_64-linux-gnu/libkrb5.so.3"
    )
    assert "the system's copy: /lib/x86_64-linux-gnu/libkrb5.so.3 (different build)" in (
        krb5.evidence
    )
    assert ssl_.summary == (
        f"LD_LIBRARY_PATH (proposed) puts {parcel_lib64}/libssl.so.3 "
        "ahead of the system's /lib/x86_64-linux-gnu/libssl.so.3"
    )
    assert "the system's copy: /lib/x86_64-linux-gnu/libssl.so.3 (identical bytes)" in (
        ssl_.evidence
    )
    assert str(parcel_lib64) in (krb5.fix or "")
    # The breakage is real: gssapi's libgssapi_krb5 binds to the stub libkrb5.
    broken = run_python("import ssl, gssapi", env_without_llp(LD_LIBRARY_PATH=str(parcel_lib64)))
    assert broken.returncode == 1
    assert "ImportError" in broken.stderr and "undefined symbol" in broken.stderr
    assert run_python("import ssl, gssapi", env_without_llp()).returncode == 0


def test_shadowing_names_pythons_own_copy(parcel_lib64: Path) -> None:
    own = python_native_libraries()["libssl.so.3"]  # mapped: this test imported ssl
    assert ssl.OPENSSL_VERSION and os.path.samefile(own, REAL_SSL)

    findings = find_shadowing(str(parcel_lib64), label="inherited")
    by_copy = {f.summary.split(" puts ")[1].split(" ahead")[0]: f for f in findings}

    assert by_copy[f"{parcel_lib64}/libssl.so.3"].summary.endswith(f"ahead of Python's own {own}")


@pytest.mark.parametrize(
    "llp",
    [str(JVM_SERVER), f"{SYSTEM_LIBDIR}:{{parcel}}", ""],
    ids=["jvm-dir-only", "system-dir-first", "unset"],
)
def test_no_shadowing(parcel_lib64: Path, llp: str) -> None:
    value = llp.format(parcel=parcel_lib64)

    finding = _only(find_shadowing(value, label="proposed", python_libs={}))

    assert (finding.code, finding.status) == ("native-libraries.no-shadowing", "ok")
    assert finding.summary.startswith("LD_LIBRARY_PATH (proposed) shadows no")


# ------------------------------------------------------------------ probe


def test_probe_loads_real_jvm_and_a_library_needing_it(libhdfs: Path) -> None:
    probe = probe_load(LIBJVM, libhdfs, env_without_llp(), timeout=60)

    assert (probe.ok, probe.stage, probe.error) == (True, None, None)
    assert (load_finding(probe).code, load_finding(probe).status) == ("native-libraries.load", "ok")


def test_probe_reports_the_missing_library_text(tmp_path: Path) -> None:
    gone = gcc_shared(tmp_path / "dep" / "libnmcgone.so", soname="libnmcgone.so")
    root = gcc_shared(
        tmp_path / "lib64" / "libhdfs.so",
        code=USES_JNI,
        libs=["nmcgone", "jvm"],
        libdirs=[gone.parent, JVM_SERVER],
    )
    gone.unlink()

    probe = probe_load(LIBJVM, root, env_without_llp(), timeout=60)
    finding = load_finding(probe)

    assert (probe.ok, probe.stage) == (False, "libhdfs")
    assert probe.error == f"libnmcgone.so: {NOT_FOUND}"
    assert (finding.code, finding.status) == ("native-libraries.load", "error")
    assert finding.summary == f"loading {root} failed: libnmcgone.so: {NOT_FOUND}"
    static = [f for f in check_library(root, None) if f.status == "error"]
    assert [f.summary.split(",")[0] for f in static] == ["libnmcgone.so"]


def test_probe_reports_a_missing_libjvm(tmp_path: Path, libhdfs: Path) -> None:
    libjvm = tmp_path / "jre" / "lib" / "server" / "libjvm.so"

    probe = probe_load(libjvm, libhdfs, env_without_llp(), timeout=60)

    assert (probe.ok, probe.stage) == (False, "libjvm")
    assert probe.error == f"{libjvm}: {NOT_FOUND}"


def test_probe_times_out_on_a_hanging_constructor(tmp_path: Path) -> None:
    hang = gcc_shared(
        tmp_path / "libhdfs.so",
        code="#include <unistd.h>\n__attribute__((constructor)) static void h(void) { sleep(60); }\n",
    )

    probe = probe_load(LIBJVM, hang, env_without_llp(), timeout=1)

    assert (probe.ok, probe.timed_out) == (False, True)
    assert load_finding(probe).code == "native-libraries.load-timeout"
