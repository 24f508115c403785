"""Helpers for tests that use the sandbox: subprocess runner, conf-dir variants, libhdfs env.

libhdfs creates its JVM once per process and fixes CLASSPATH, LIBHDFS_OPTS and
krb5.conf at that moment, so every libhdfs scenario runs in its own subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlflow_client_env_sandbox.hadoop_xml import write_configuration
from mlflow_client_env_sandbox.hdfs import CLIENT_LOG4J, client_site
from mlflow_client_env_sandbox.procs import pdeathsig_preexec

#: Variables a bare subprocess keeps from the test process (everything else is explicit).
BASE_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "LOGNAME")


def base_env() -> dict[str, str]:
    return {k: os.environ[k] for k in BASE_ENV_KEYS if k in os.environ}


def run_python(
    code: str,
    env: Mapping[str, str],
    timeout: float = 120.0,
    inherit: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet in a fresh interpreter (fresh JVM) with ``env``.

    ``env`` is added to a minimal base (PATH, HOME, LANG, ...), or to the whole
    current environment when ``inherit``. The child dies with the test process
    (PR_SET_PDEATHSIG). On timeout an AssertionError carries the output so far.
    """
    full = {**(dict(os.environ) if inherit else base_env()), **env}
    try:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            env=full, capture_output=True, text=True, timeout=timeout,
            preexec_fn=pdeathsig_preexec(),
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
        raise AssertionError(
            f"python snippet timed out after {timeout} s\nstdout:\n{out}\nstderr:\n{err}"
        ) from exc


def make_client_conf(
    dest: Path,
    realm: str,
    nn_port: int,
    core: Mapping[str, str | None] | None = None,
    hdfs: Mapping[str, str | None] | None = None,
) -> Path:
    """A client conf dir like the sandbox's, with overrides; a None value removes the key."""
    base_core, base_hdfs = client_site(realm, nn_port)
    for base, over in ((base_core, core or {}), (base_hdfs, hdfs or {})):
        for key, value in over.items():
            if value is None:
                base.pop(key, None)
            else:
                base[key] = value
    write_configuration(dest / "core-site.xml", base_core)
    write_configuration(dest / "hdfs-site.xml", base_hdfs)
    (dest / "log4j.properties").write_text(CLIENT_LOG4J)
    return dest


@dataclass(frozen=True)
class ClientEnv:
    """What a test gets from ``client_env``: the env vars ``sandbox env`` prints, and paths."""

    env: dict[str, str]
    parcels_root: Path
    parcel_dir: Path
    conf_dir: Path
    ccache: Path
    krb5_conf: Path
    java_home: Path
    namenode_uri: str
    tracking_uri: str
    extra: dict[str, Path] = field(default_factory=dict)


def parcel_jars(parcel_dir: Path) -> list[Path]:
    """Every jar under the parcel's lib/hadoop* folders, listed explicitly (sorted)."""
    jars: list[Path] = []
    for folder in ("hadoop", "hadoop-hdfs"):
        for sub in (parcel_dir / "lib" / folder / "lib", parcel_dir / "lib" / folder):
            jars.extend(sorted(sub.glob("*.jar")))
    return jars


def libhdfs_env(client: ClientEnv) -> dict[str, str]:
    """The environment from ``mlflow-client-env env --json``, as a user's shell gets it.

    The client's own variables (KRB5_CONFIG, KRB5CCNAME, the parcels root, the
    conf dir, the tracking URI) go in; everything pyarrow/libhdfs needs comes out.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "env", "--json"],
        env={**base_env(), **client.env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return {**client.env, **json.loads(proc.stdout)}
