"""A real PostgreSQL server for the tests, in a temp dir on 127.0.0.1.

Our users' tracking servers keep their metadata in PostgreSQL; the sandbox
defaults to sqlite and takes ``--backend-store-uri`` for a real one. This
starts Debian's PostgreSQL 15 (initdb, then ``postgres`` in the foreground,
trust auth on loopback only). PostgreSQL refuses to run as root, so as root it
runs as the ``postgres`` user through ``setpriv``, whose ``--pdeathsig``
re-arms the parent-death signal that the UID change clears.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from mlflow_client_env_sandbox.ports import HOST, free_port, tcp_open
from mlflow_client_env_sandbox.procs import ManagedProcess, spawn, wait_until


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    assert found, (
        f"PostgreSQL's {name} is missing: apt-get install postgresql (scripts/bootstrap does)"
    )
    return found[-1]


class Postgres:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.data = base / "data"
        self.port = free_port()
        self.process: ManagedProcess | None = None
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = [
                "setpriv",
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--pdeathsig=SIGKILL",
                "--",
            ]

    def _own(self) -> None:
        if self.as_user:
            pw = pwd.getpwnam("postgres")
            for path in (self.base, *self.base.rglob("*")):
                os.chown(path, pw.pw_uid, pw.pw_gid)

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self._own()
        init = subprocess.run(
            [*self.as_user, pg_bin("initdb"), "-D", str(self.data), "-U", "postgres",
             "--auth=trust", "-E", "UTF8"], capture_output=True, text=True,
        )  # fmt: skip
        assert init.returncode == 0, f"initdb failed:\n{init.stdout}\n{init.stderr}"
        self.process = spawn(
            "postgres",
            [*self.as_user, pg_bin("postgres"), "-D", str(self.data), "-p", str(self.port),
             "-c", f"listen_addresses={HOST}", "-c", f"unix_socket_directories={self.base}"],
            env={"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}, log=self.base / "postgres.log",
            cwd=self.base, detached=False,
        )  # fmt: skip
        wait_until(
            lambda: tcp_open(self.port),
            what=f"PostgreSQL on {HOST}:{self.port}",
            timeout=60,
            procs=[self.process],
            fix="read postgres.log",
        )
        self.psql("CREATE DATABASE mlflow")

    def psql(self, sql: str, db: str = "postgres") -> str:
        out = subprocess.run(
            [shutil.which("psql") or "psql", "-h", HOST, "-p", str(self.port), "-U", "postgres",
             "-d", db, "-At", "-c", sql], capture_output=True, text=True, check=True,
        )  # fmt: skip
        return out.stdout.strip()

    @property
    def uri(self) -> str:
        return f"postgresql+psycopg2://postgres@{HOST}:{self.port}/mlflow"

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
