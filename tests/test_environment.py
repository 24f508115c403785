"""The composed environment: values and reasons for every variable, on an edge-node tree."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlflow_client_env import errors
from mlflow_client_env.discovery import build_environment
from mlflow_client_env.environment import ADD_EXPORTS
from tests import trees
from tests.conftest import Edge, build_edge


def test_every_variable_has_value_and_reason(edge: Edge) -> None:
    env = build_environment(
        {"PATH": "/usr/bin:/bin"}, **edge.overrides(), tracking_uri="http://127.0.0.1:5000"
    )
    d = env.as_dict()
    cdh = edge.parcels / "CDH"
    assert d["HADOOP_HOME"] == str(cdh / "lib" / "hadoop")
    assert d["ARROW_LIBHDFS_DIR"] == str(cdh / "lib64")
    assert d["HADOOP_CONF_DIR"] == str(edge.conf)
    assert d["JAVA_HOME"] == str(edge.java)
    assert d["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000"
    assert d["PATH"] == f"{cdh / 'bin'}:{edge.java / 'bin'}:/usr/bin:/bin"
    for v in env.variables:
        assert v.reason, v.name


def test_classpath_conf_first_jars_explicit_no_parcel_jars(edge: Edge) -> None:
    env = build_environment({}, **edge.overrides())
    cp = env["CLASSPATH"].split(":")
    assert cp[0] == str(edge.conf)
    assert not any(e.endswith("*") for e in cp)
    assert not any("/jars/" in e for e in cp)
    names = [Path(e).name for e in cp[1:]]
    assert "hadoop-common-3.0.0-cdh6.3.2.jar" in names
    assert "hadoop-hdfs-client-3.0.0-cdh6.3.2.jar" in names
    # hadoop-common.jar is a symlink to the versioned jar: listed once
    assert "hadoop-common.jar" not in names
    # lib jars come before the component's own jars, as 'hadoop classpath' orders them
    assert names.index("guava-11.0.2.jar") < names.index("hadoop-common-3.0.0-cdh6.3.2.jar")
    assert len(cp) == len(set(cp))


def test_libhdfs_opts_kerberos_java17(edge: Edge) -> None:
    env = build_environment({"KRB5_CONFIG": str(edge.krb5_conf)}, **edge.overrides())
    opts = env["LIBHDFS_OPTS"].split()
    assert f"-Djava.library.path={edge.parcels / 'CDH' / 'lib/hadoop/lib/native'}" in opts
    assert f"-Djava.security.krb5.conf={edge.krb5_conf}" in opts
    assert ADD_EXPORTS in opts
    assert "-Xmx512m" in opts
    assert "Java ignores KRB5_CONFIG" in env.get("LIBHDFS_OPTS").reason  # type: ignore[union-attr]


def test_libhdfs_opts_keeps_user_options_and_is_idempotent(edge: Edge) -> None:
    base = {"LIBHDFS_OPTS": "-Xmx2g -Dfoo=bar", "KRB5_CONFIG": str(edge.krb5_conf)}
    first = build_environment(base, **edge.overrides())
    opts = first["LIBHDFS_OPTS"].split()
    assert "-Xmx2g" in opts and "-Dfoo=bar" in opts and "-Xmx512m" not in opts
    second = build_environment({**base, **first.as_dict()}, **edge.overrides())
    assert second.as_dict() == first.as_dict()


def test_java8_without_kerberos_has_no_add_exports(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    e = build_edge(tmp_path)
    trees.make_conf(e.conf, "hdfs://nn:8020", kerberos=False, nameservices=None)
    j8 = trees.make_java(tmp_path / "jdk8", "jdk8", "1.8.0_292")
    env = build_environment(
        {}, parcels_root=str(e.parcels), hadoop_conf_dir=str(e.conf), java_home=str(j8)
    )
    assert ADD_EXPORTS not in env["LIBHDFS_OPTS"]
    assert "KRB5CCNAME" not in env.as_dict()


def test_ld_library_path_only_appended(edge: Edge) -> None:
    env = build_environment({"LD_LIBRARY_PATH": "/opt/mine"}, **edge.overrides())
    var = env.get("LD_LIBRARY_PATH")
    assert var is not None and var.timing == "start"
    assert var.value == f"/opt/mine:{edge.java / 'lib' / 'server'}"
    assert "lib64" not in var.value


def test_legacy_ld_library_path_is_opt_in_and_warns(edge: Edge) -> None:
    env = build_environment({}, legacy_ld_library_path=True, **edge.overrides())
    assert env["LD_LIBRARY_PATH"].startswith(str(edge.parcels / "CDH" / "lib64"))
    assert any(
        f.code == "process-start.legacy-ld-library-path" and f.status == "warn"
        for f in env.findings
    )


def test_file_ccache_pins_python_and_java(edge: Edge, tmp_path: Path) -> None:
    cc = tmp_path / "krb5cc_test"
    env = build_environment(
        {"KRB5CCNAME": str(cc), "KRB5_CONFIG": str(edge.krb5_conf)}, **edge.overrides()
    )
    assert env["KRB5CCNAME"] == f"FILE:{cc}"
    assert env["MLFLOW_KERBEROS_TICKET_CACHE"] == str(cc)


def test_keyring_ccache_is_reported(edge: Edge) -> None:
    env = build_environment(
        {"KRB5CCNAME": "KEYRING:persistent:0", "KRB5_CONFIG": str(edge.krb5_conf)},
        **edge.overrides(),
    )
    assert "KRB5CCNAME" not in env.as_dict()
    (f,) = [f for f in env.findings if f.code == "kerberos.cache-not-java-readable"]
    assert f.status == "error" and "KEYRING" in f.summary and "--to-file" in (f.fix or "")


def test_colon_in_path_is_refused(tmp_path: Path, clean_env: dict[str, str]) -> None:
    e = build_edge(tmp_path / "a:b")
    with pytest.raises(errors.PathListError) as exc:
        build_environment({}, **e.overrides())
    assert "a:b" in exc.value.problem and "symlink" in exc.value.fix


def test_spaces_and_non_ascii_paths(tmp_path: Path, clean_env: dict[str, str]) -> None:
    e = build_edge(tmp_path / "Données partagées")
    env = build_environment({}, **e.overrides())
    assert env["CLASSPATH"].split(":")[0] == str(e.conf)
    assert env["HADOOP_HOME"] == str(e.parcels / "CDH" / "lib" / "hadoop")
    # libhdfs splits LIBHDFS_OPTS on spaces: the native dir is left out, and we say so
    assert "java.library.path" not in env["LIBHDFS_OPTS"]
    assert any(f.code == "native-libraries.dir-with-space" for f in env.findings)


def test_precedence_argument_env_user_site(
    tmp_path: Path, clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    edges = {n: build_edge(tmp_path / n) for n in ("arg", "env", "user", "site")}
    user_cfg, site_cfg = (
        Path(clean_env["MLFLOW_CLIENT_ENV_CONFIG"]),
        Path(clean_env["MLFLOW_CLIENT_ENV_SITE_CONFIG"]),
    )
    site_cfg.write_text(
        f'parcels_root = "{edges["site"].parcels}"\ntracking_uri = "http://site:5000"\n'
    )
    common = {"hadoop_conf_dir": str(edges["arg"].conf), "java_home": str(edges["arg"].java)}

    def root(**kw: str) -> str:
        return build_environment(dict(os.environ), **common, **kw)["HADOOP_HOME"]

    assert root() == str(edges["site"].parcels / "CDH/lib/hadoop")
    user_cfg.write_text(f'parcels_root = "{edges["user"].parcels}"\n')
    assert root() == str(edges["user"].parcels / "CDH/lib/hadoop")
    monkeypatch.setenv("MLFLOW_CLIENT_ENV_PARCELS_ROOT", str(edges["env"].parcels))
    assert root() == str(edges["env"].parcels / "CDH/lib/hadoop")
    assert root(parcels_root=str(edges["arg"].parcels)) == str(
        edges["arg"].parcels / "CDH/lib/hadoop"
    )
    env = build_environment(dict(os.environ), **common)
    assert env["MLFLOW_TRACKING_URI"] == "http://site:5000"
    assert "site config" in env.get("MLFLOW_TRACKING_URI").reason  # type: ignore[union-attr]


def test_malformed_toml_and_unknown_key(edge: Edge, clean_env: dict[str, str]) -> None:
    cfg = Path(clean_env["MLFLOW_CLIENT_ENV_CONFIG"])
    cfg.write_text('parcels_root = "/opt\n')
    with pytest.raises(errors.ConfigFileError) as exc:
        build_environment(dict(os.environ), **edge.overrides())
    assert str(cfg) in exc.value.problem and "TOML" in exc.value.problem
    cfg.write_text('parcel_root = "/opt"\n')
    with pytest.raises(errors.ConfigFileError, match="unknown setting"):
        build_environment(dict(os.environ), **edge.overrides())


def test_json_roundtrip_of_render(edge: Edge) -> None:
    from mlflow_client_env import formats

    env = build_environment({}, **edge.overrides())
    assert json.loads(formats.as_json(env)) == env.as_dict()
    explained = json.loads(formats.as_json(env, explain=True))
    assert explained["CLASSPATH"]["reason"].startswith("conf dir first")
    assert explained["LD_LIBRARY_PATH"]["timing"] == "start"
