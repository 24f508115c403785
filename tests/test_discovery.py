"""Discovery on realistic trees: parcels, packages, tarballs, Java layouts, configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlflow_client_env import errors
from mlflow_client_env.hadoop.conf import discover_conf
from mlflow_client_env.hadoop.install import HadoopHints, discover_hadoop
from mlflow_client_env.java import select_java
from mlflow_client_env.kerberos.profile import discover_kerberos
from tests import trees

NOWHERE = {"PATH": "/nonexistent"}


def _discover_root(root: Path, **kw: str) -> object:
    return discover_hadoop(HadoopHints(parcels_root=(str(root), "test")), NOWHERE, **kw)


@pytest.mark.parametrize(
    ("release", "hadoop_version"),
    [
        ("cdh5.16", "2.6.0-cdh5.16.2"),
        ("cdh6.3.2", "3.0.0-cdh6.3.2"),
        ("cdp7.1.7", "3.1.1.7.1.7.0-551"),
    ],
)
def test_active_parcel_of_each_release(tmp_path: Path, release: str, hadoop_version: str) -> None:
    root = tmp_path / "parcels"
    real = trees.make_parcel(root, release)
    inst = discover_hadoop(HadoopHints(parcels_root=(str(root), "test")), NOWHERE)
    assert inst.kind == "parcel"
    assert inst.root == root / "CDH"  # the active link, so values survive upgrades
    assert inst.hadoop_home == root / "CDH" / "lib" / "hadoop"
    assert inst.version == hadoop_version
    assert inst.libhdfs == root / "CDH" / "lib64" / "libhdfs.so"
    assert inst.native_dir == root / "CDH" / "lib" / "hadoop" / "lib" / "native"
    assert inst.parcel is not None and inst.parcel.resolved == real
    names = [d.relative_to(root / "CDH" / "lib").as_posix() for d in inst.jar_dirs]
    assert names == [
        "hadoop/lib",
        "hadoop",
        "hadoop-hdfs/lib",
        "hadoop-hdfs",
        "hadoop-yarn/lib",
        "hadoop-yarn",
        "hadoop-mapreduce/lib",
        "hadoop-mapreduce",
    ]


def test_two_parcels_without_link_picks_newest_and_warns(tmp_path: Path) -> None:
    root = tmp_path / "parcels"
    trees.make_parcel(root, "cdh6.3.2", activate=False)
    newest = trees.make_parcel(root, "cdp7.1.7", activate=False)
    inst = discover_hadoop(HadoopHints(parcels_root=(str(root), "test")), NOWHERE)
    assert inst.root == newest
    assert inst.version == "3.1.1.7.1.7.0-551"
    (warning,) = inst.warnings
    assert "2 parcels" in warning and newest.name in warning and "setup(parcel=...)" in warning


def test_broken_active_link_is_an_error_naming_link_and_choices(tmp_path: Path) -> None:
    root = tmp_path / "parcels"
    old = trees.make_parcel(root, "cdh6.3.2")
    os.rename(old, root / "gone")
    trees.make_parcel(root, "cdp7.1.7", activate=False)
    with pytest.raises(errors.ParcelError) as exc:
        discover_hadoop(HadoopHints(parcels_root=(str(root), "test")), NOWHERE)
    assert str(root / "CDH") in exc.value.problem
    assert "does not exist" in exc.value.problem
    assert "CDH-7.1.7-1.cdh7.1.7.p0.15945976" in exc.value.fix


def test_broken_link_at_default_root_raises_too(tmp_path: Path) -> None:
    root = tmp_path / "parcels"
    root.mkdir()
    os.symlink("CDH-missing", root / "CDH")
    with pytest.raises(errors.ParcelError, match="CDH-missing"):
        discover_hadoop(HadoopHints(), NOWHERE, default_parcels_root=str(root))


def test_missing_parcel_argument(tmp_path: Path) -> None:
    with pytest.raises(errors.ParcelError) as exc:
        discover_hadoop(HadoopHints(parcel=(str(tmp_path / "CDH-9"), "argument --parcel")), NOWHERE)
    assert "argument --parcel" in exc.value.problem and "CDH-9" in exc.value.problem


def test_parcel_by_name_under_root(tmp_path: Path) -> None:
    root = tmp_path / "parcels"
    p = trees.make_parcel(root, "cdh5.16", activate=False)
    inst = discover_hadoop(
        HadoopHints(parcel=(p.name, "argument --parcel"), parcels_root=(str(root), "x")), NOWHERE
    )
    assert inst.root == p and inst.version == "2.6.0-cdh5.16.2"


def test_malformed_parcel_json_names_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "parcels"
    p = trees.make_parcel(root)
    (p / "meta" / "parcel.json").write_text('{\n  "name": "CDH",\n  "version": \n}')
    with pytest.raises(errors.ConfigFileError) as exc:
        discover_hadoop(HadoopHints(parcels_root=(str(root), "x")), NOWHERE)
    assert str(p / "meta" / "parcel.json").replace(str(p), str(root / "CDH")) in exc.value.problem
    assert "line 4" in exc.value.problem


def test_package_install(tmp_path: Path) -> None:
    home = trees.make_package(tmp_path / "usr")
    inst = discover_hadoop(
        HadoopHints(),
        NOWHERE,
        default_parcels_root=str(tmp_path / "none"),
        package_base=str(tmp_path / "usr" / "lib"),
    )
    assert inst.kind == "package"
    assert inst.hadoop_home == home
    assert inst.libhdfs == tmp_path / "usr" / "lib64" / "libhdfs.so"
    assert inst.version == "2.6.0-cdh5.16.2"


def test_tarball_via_hadoop_home(tmp_path: Path) -> None:
    home = trees.make_tarball(tmp_path)
    inst = discover_hadoop(
        HadoopHints(),
        {"HADOOP_HOME": str(home), "PATH": ""},
        default_parcels_root=str(tmp_path / "none"),
    )
    assert inst.kind == "tarball" and inst.version == "3.3.6"
    assert inst.libhdfs == home / "lib" / "native" / "libhdfs.so"
    assert inst.default_conf_dir == home / "etc" / "hadoop"
    assert inst.jar_dirs[0] == home / "share" / "hadoop" / "common" / "lib"


def test_hadoop_home_at_parcel_root_warns_and_corrects(tmp_path: Path) -> None:
    p = trees.make_parcel(tmp_path / "parcels")
    inst = discover_hadoop(
        HadoopHints(),
        {"HADOOP_HOME": str(p), "PATH": ""},
        default_parcels_root=str(tmp_path / "none"),
    )
    assert inst.hadoop_home == p / "lib" / "hadoop"
    assert "parcel root" in inst.warnings[0]


def test_hadoop_on_path_through_alternatives(tmp_path: Path) -> None:
    p = trees.make_parcel(tmp_path / "parcels")
    alt = tmp_path / "etc" / "alternatives"
    alt.mkdir(parents=True)
    os.symlink(p / "bin" / "hadoop", alt / "hadoop")
    usr_bin = tmp_path / "usr" / "bin"
    usr_bin.mkdir(parents=True)
    os.symlink(alt / "hadoop", usr_bin / "hadoop")
    inst = discover_hadoop(
        HadoopHints(), {"PATH": str(usr_bin)}, default_parcels_root=str(tmp_path / "none")
    )
    assert inst.kind == "parcel" and inst.root.resolve() == p.resolve()
    assert "hadoop on PATH" in inst.source


def test_nothing_found_lists_what_was_checked(tmp_path: Path) -> None:
    with pytest.raises(errors.HadoopNotFoundError) as exc:
        discover_hadoop(
            HadoopHints(),
            NOWHERE,
            default_parcels_root=str(tmp_path / "p"),
            package_base=str(tmp_path / "u"),
            hdp_client=str(tmp_path / "h"),
        )
    assert str(tmp_path / "p") in exc.value.problem and "setup(parcel=...)" in exc.value.fix


def test_awkward_paths_with_spaces_and_non_ascii(tmp_path: Path) -> None:
    root = tmp_path / "Données partagées" / "parcels"
    trees.make_parcel(root, "cdp7.1.7")
    inst = discover_hadoop(HadoopHints(parcels_root=(str(root), "x")), NOWHERE)
    assert inst.hadoop_home == root / "CDH" / "lib" / "hadoop"
    assert inst.libhdfs is not None and inst.libhdfs.is_file()


# --- Java -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "version", "major", "rel"),
    [
        ("jdk8", "1.8.0_292", 8, "jre/lib/amd64/server/libjvm.so"),
        ("jre8", "1.8.0_181", 8, "lib/amd64/server/libjvm.so"),
        ("jdk9+", "17.0.9", 17, "lib/server/libjvm.so"),
    ],
)
def test_java_layouts(tmp_path: Path, layout: str, version: str, major: int, rel: str) -> None:
    home = trees.make_java(tmp_path / "java", layout, version)
    choice = select_java(home, {}, roots=())
    assert choice.install.layout == layout
    assert choice.install.major == major and choice.install.version == version
    assert choice.install.libjvm == home / rel


@pytest.mark.parametrize("suffix", ["bin/java", "bin", "jre"])
def test_java_home_normalised(tmp_path: Path, suffix: str) -> None:
    home = trees.make_java(tmp_path / "jdk1.8.0_292", "jdk8", "1.8.0_292")
    choice = select_java(None, {"JAVA_HOME": str(home / suffix), "PATH": ""}, roots=())
    assert choice.install.home == home


def test_java_25_passed_over_for_17_with_reason(tmp_path: Path) -> None:
    j25 = trees.make_java(tmp_path / "jvm" / "temurin-25", "jdk9+", "25.0.1")
    j17 = trees.make_java(tmp_path / "jvm" / "zulu-17", "jdk9+", "17.0.9")
    choice = select_java(None, {"JAVA_HOME": str(j25), "PATH": ""}, roots=(tmp_path / "jvm",))
    assert choice.install.home == j17
    assert "getSubject is not supported" in choice.reason and str(j25) in choice.reason


def test_explicit_java_25_is_used_with_warning(tmp_path: Path) -> None:
    j25 = trees.make_java(tmp_path / "temurin-25", "jdk9+", "25.0.1")
    choice = select_java(j25, {}, roots=())
    assert choice.install.home == j25
    assert "Java 25" in choice.warnings[0]


def test_no_java(tmp_path: Path) -> None:
    (tmp_path / "notjava").mkdir()
    with pytest.raises(errors.JavaNotFoundError) as exc:
        select_java(tmp_path / "notjava", {}, roots=())
    assert str(tmp_path / "notjava") in exc.value.problem and "openjdk" in exc.value.fix
    with pytest.raises(errors.JavaNotFoundError):
        select_java(None, {"PATH": ""}, roots=(tmp_path,))


# --- client configuration ---------------------------------------------------


def test_conf_parsed(tmp_path: Path) -> None:
    conf_dir = trees.make_conf(tmp_path / "conf", "hdfs://nameservice1", True, "nameservice1,ns2")
    conf = discover_conf(None, {"HADOOP_CONF_DIR": str(conf_dir)})
    assert conf is not None and conf.source == "HADOOP_CONF_DIR"
    assert conf.default_fs == "hdfs://nameservice1"
    assert conf.kerberos and conf.nameservices == ("nameservice1", "ns2")


def test_malformed_xml_names_file_and_line(tmp_path: Path) -> None:
    conf_dir = trees.make_conf(tmp_path / "conf")
    (conf_dir / "hdfs-site.xml").write_text("<configuration>\n<property>\n<name>x</nme>\n")
    with pytest.raises(errors.ConfigFileError) as exc:
        discover_conf((str(conf_dir), "argument --hadoop-conf-dir"), {})
    assert str(conf_dir / "hdfs-site.xml") in exc.value.problem and "line 3" in exc.value.problem


def test_xml_entity_bomb_refused(tmp_path: Path) -> None:
    conf_dir = trees.make_conf(tmp_path / "conf")
    (conf_dir / "core-site.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE c [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        "<configuration><property><name>x</name><value>&b;</value></property></configuration>"
    )
    with pytest.raises(errors.ConfigFileError, match="forbidden XML construct"):
        discover_conf((str(conf_dir), "x"), {})


def test_explicit_missing_conf_dir(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigFileError, match="does not exist"):
        discover_conf((str(tmp_path / "nope"), "argument --hadoop-conf-dir"), {})


# --- Kerberos facts -----------------------------------------------------------


def test_ccache_from_krb5ccname_types(tmp_path: Path) -> None:
    krb5 = trees.make_krb5_conf(tmp_path / "krb5.conf")
    base = {"KRB5_CONFIG": str(krb5)}
    k = discover_kerberos({**base, "KRB5CCNAME": "KEYRING:persistent:1000"})
    assert k.ccache_type == "KEYRING" and not k.java_readable
    k = discover_kerberos({**base, "KRB5CCNAME": str(tmp_path / "cc")})
    assert k.ccache_type == "FILE" and k.java_readable and k.ccache_path == tmp_path / "cc"
    assert k.default_realm == "EXAMPLE.COM" and k.realms == ("EXAMPLE.COM",)


def test_default_ccache_name_expanded(tmp_path: Path) -> None:
    krb5 = trees.make_krb5_conf(tmp_path / "krb5.conf", ccache="KCM:%{uid}")
    k = discover_kerberos({"KRB5_CONFIG": str(krb5)}, uid=1234)
    assert k.ccache == "KCM:1234" and k.ccache_type == "KCM"
    assert "default_ccache_name" in k.ccache_source


def test_mit_default_ccache(tmp_path: Path) -> None:
    krb5 = trees.make_krb5_conf(tmp_path / "krb5.conf")
    k = discover_kerberos({"KRB5_CONFIG": str(krb5)}, uid=4321)
    assert k.ccache == "FILE:/tmp/krb5cc_4321" and k.ccache_source == "MIT default"


def test_bad_krb5_config(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigFileError, match="KRB5_CONFIG"):
        discover_kerberos({"KRB5_CONFIG": str(tmp_path / "missing.conf")})
    bad = tmp_path / "bad.conf"
    bad.write_text("[libdefaults]\n default_realm = X\n[realms]\n X = {\n kdc = a\n")
    with pytest.raises(errors.ConfigFileError, match="not closed"):
        discover_kerberos({"KRB5_CONFIG": str(bad)})


def test_hdp_client_layout(tmp_path: Path) -> None:
    """HDP: /usr/hdp/current/hadoop-client -> /usr/hdp/<ver>/hadoop, libhdfs in <ver>/usr/lib."""
    ver = tmp_path / "usr" / "hdp" / "3.1.5.0-152"
    trees.bigtop_components(ver, trees.RELEASES["cdh6.3.2"])
    trees.make_so(ver / "usr" / "lib" / "libhdfs.so")
    current = tmp_path / "usr" / "hdp" / "current"
    current.mkdir()
    os.symlink(ver / "hadoop", current / "hadoop-client")
    inst = discover_hadoop(
        HadoopHints(),
        NOWHERE,
        default_parcels_root=str(tmp_path / "none"),
        package_base=str(tmp_path / "none"),
        hdp_client=str(current / "hadoop-client"),
    )
    assert inst.kind == "hdp"
    assert inst.libhdfs == ver / "usr" / "lib" / "libhdfs.so"
    assert inst.jar_dirs[0] == ver / "hadoop" / "lib"


def test_entries_named_is_glob_of_prefix_star_suffix(tmp_path: Path) -> None:
    """``entries_named(d, p, s)`` lists what ``d.glob(p + "*" + s)`` does, sorted."""
    from mlflow_client_env.hadoop.install import entries_named

    for name in ("CDH-7.1.7", "CDH-", "CDH", "xCDH-1", "CDH-6.3.2", "hadoop-common-3.jar",
                 "hadoop-common-.jar", "hadoop-common.jar", "hadoop-common-3.jar.bak"):  # fmt: skip
        (tmp_path / name).mkdir()
    for prefix, suffix in (("CDH-", ""), ("hadoop-common-", ".jar"), ("none", "")):
        expected = sorted(tmp_path.glob(f"{prefix}*{suffix}"))
        assert entries_named(tmp_path, prefix, suffix) == expected
    assert entries_named(tmp_path, "CDH-")[0].name == "CDH-"
    assert entries_named(tmp_path / "missing", "CDH-") == []
