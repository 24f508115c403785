"""CLASSPATH lint and the exact-fidelity mode, on real trees."""

from __future__ import annotations

from pathlib import Path

from mlflow_client_env.discovery import build_environment
from mlflow_client_env.hadoop import classpath
from tests import trees
from tests.conftest import Edge


def codes(entries: list[str], **kw: object) -> dict[str, str]:
    return {f.code: f.status for f in classpath.lint(entries, **kw)}  # type: ignore[arg-type]


def test_our_classpath_is_clean(edge: Edge) -> None:
    env = build_environment({}, **edge.overrides())
    assert classpath.lint(env["CLASSPATH"].split(":"), env.hadoop) == []


def test_wildcards(edge: Edge) -> None:
    env = build_environment({}, **edge.overrides())
    wild = [str(edge.conf)] + [f"{d}/*" for d in env.hadoop.jar_dirs]
    found = codes(wild)
    assert found["classpath.wildcard"] == "error"
    # the wildcard form also hides hadoop-common from the JNI JVM
    assert found["classpath.no-hadoop-common"] == "error"


def test_two_protobuf_versions_and_parcel_jars(edge: Edge) -> None:
    env = build_environment({}, **edge.overrides())
    jars = edge.parcels / "CDH" / "jars"
    entries = [*env["CLASSPATH"].split(":"), str(jars / "protobuf-java-3.5.1.jar")]
    found = {f.code: f for f in classpath.lint(entries, env.hadoop)}
    assert found["classpath.two-protobuf-java"].status == "error"
    assert "2.5.0, 3.5.1" in found["classpath.two-protobuf-java"].summary
    assert found["classpath.parcel-jars"].status == "warn"


def test_two_hadoop_common_versions(tmp_path: Path) -> None:
    a = trees.make_jar(tmp_path / "hadoop-common-3.0.0-cdh6.3.2.jar")
    b = trees.make_jar(tmp_path / "hadoop-common-2.6.0-cdh5.16.2.jar")
    assert codes([str(a), str(b)])["classpath.two-hadoop-common"] == "error"


def test_shaded_client_mixed_with_unshaded(tmp_path: Path) -> None:
    conf = trees.make_conf(tmp_path / "conf")
    jars = [
        trees.make_jar(tmp_path / n)
        for n in (
            "hadoop-client-api-3.3.4.jar",
            "hadoop-common-3.0.0.jar",
            "hadoop-hdfs-client-3.0.0.jar",
        )
    ]
    assert codes([str(conf), *map(str, jars)])["classpath.shaded-mix"] == "error"


def test_missing_and_misplaced_conf_dir(edge: Edge) -> None:
    env = build_environment({}, **edge.overrides())
    jars = env["CLASSPATH"].split(":")[1:]
    assert codes(jars)["classpath.no-conf-dir"] == "error"
    assert codes([*jars, str(edge.conf)])["classpath.conf-not-first"] == "warn"


def test_missing_hdfs_client_jar(edge: Edge) -> None:
    env = build_environment({}, **edge.overrides())
    entries = [e for e in env["CLASSPATH"].split(":") if "hadoop-hdfs" not in Path(e).name]
    assert codes(entries)["classpath.no-hdfs-client"] == "error"


def test_symlinked_jar_is_not_a_second_version(edge: Edge) -> None:
    link = edge.parcels / "CDH" / "lib" / "hadoop" / "hadoop-common.jar"
    real = edge.parcels / "CDH" / "lib" / "hadoop" / "hadoop-common-3.0.0-cdh6.3.2.jar"
    assert "classpath.two-hadoop-common" not in codes([str(link), str(real)])


def test_a_link_counts_as_the_file_it_points_to(tmp_path: Path) -> None:
    """Each link's identity is normpath(join(folder, target)), whatever form the target
    takes, so one file reached through two links (or a link and itself) is listed once."""
    import os

    jars = tmp_path / "jars"
    jars.mkdir()
    for name in ("a-1.jar", "b-1.jar", "c-1.jar"):
        (jars / name).write_bytes(b"PK")
    lib = tmp_path / "p" / "lib" / "hadoop"
    lib.mkdir(parents=True)
    (lib / "a-1.jar").symlink_to("../../../jars/a-1.jar")  # relative, the parcel form
    (lib / "a.jar").symlink_to("../../../jars//a-1.jar")  # the same file, unversioned
    (lib / "b-1.jar").symlink_to(jars / "b-1.jar")  # absolute
    (lib / "b.jar").symlink_to("../../../jars/../jars/./b-1.jar")
    (lib / "c-1.jar").write_bytes(b"PK")  # a plain file
    (lib / "c.jar").symlink_to("c-1.jar")  # a link beside its target
    (lib / "d.jar").symlink_to("../../../jars/")  # a folder, kept by its own identity
    (lib / "e.jar").symlink_to("/")
    (lib / "g.jar").symlink_to("//g-1.jar")  # POSIX keeps a leading "//"
    (lib / "h.jar").symlink_to("/h-1.jar")
    (lib / "f.jar").symlink_to("../../../jars/missing-1.jar")  # dangling: still one entry
    listing = classpath._listing(str(lib))
    expected = {
        str(lib / n): (
            os.path.normpath(os.path.join(lib, os.readlink(lib / n)))
            if (lib / n).is_symlink()
            else str(lib / n)
        )
        for n in os.listdir(lib)
    }
    assert dict(listing) == expected
    install = type("I", (), {"jar_dirs": (lib, jars)})()
    listed = classpath.list_jars(install)  # type: ignore[arg-type]
    # jars/c-1.jar is another file than lib/hadoop/c-1.jar: both stay
    names = sorted(os.path.basename(p) for p in listed)
    assert names == [
        "a-1.jar", "b-1.jar", "c-1.jar", "c-1.jar", "d.jar", "e.jar", "f.jar", "g.jar", "h.jar"
    ]  # fmt: skip
