"""A real MIT KDC for the ticket, kinit and renew tests (fixtures and helpers; no tests here).

Built directly on ``mlflow_client_env_sandbox.kdc.Kdc`` so these tests do not need
the sandbox's HDFS assets. Principals with short limits make expiry and renewal
observable in seconds (``clockskew = 1`` in the sandbox krb5.conf).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlflow_client_env_sandbox.kdc import Kdc
from mlflow_client_env_sandbox.ports import free_port

ROOT = Path(__file__).resolve().parent.parent

#: name -> (max ticket life, max renewable life)
LIMITS = {
    "alice": ("1 day", "7 days"),
    "short": ("10 seconds", "1 hour"),  # 10 s tickets, renewable for long
    "brief": ("5 seconds", "12 seconds"),  # renewable window ends fast: keytab re-login
}
SERVICE = "HTTP/localhost"


@dataclass
class Krb:
    kdc: Kdc
    keytabs: dict[str, Path]

    @property
    def realm(self) -> str:
        return self.kdc.realm

    @property
    def krb5_conf(self) -> Path:
        return self.kdc.krb5_conf

    def principal(self, name: str) -> str:
        return self.kdc.principal(name)

    def kinit(
        self, name: str, ccache: Path, lifetime: str = "10m", renewable: str | None = None
    ) -> None:
        self.kdc.kinit(
            name, ccache, lifetime=lifetime, renewable=renewable, keytab=self.keytabs[name]
        )

    def env(self, ccache: Path | str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("KRB5CCNAME", "HADOOP_CONF_DIR")}
        env["KRB5_CONFIG"] = str(self.krb5_conf)
        if ccache is not None:
            env["KRB5CCNAME"] = str(ccache) if str(ccache).count(":") else f"FILE:{ccache}"
        return env


def start_kdc(base: Path, realm: str = "SANDBOX.TEST") -> Krb:
    kdc = Kdc(base, free_port(), realm)
    kdc.create()
    kdc.start()
    keytabs: dict[str, Path] = {}
    queries: list[str] = []
    for name, (life, renew) in LIMITS.items():
        p = kdc.principal(name)
        kt = kdc.keytab_path(name)
        queries += [
            f'addprinc -randkey -maxlife "{life}" -maxrenewlife "{renew}" {p}',
            f"ktadd -k {kt} -norandkey {p}",
        ]
        keytabs[name] = kt
    kdc.kadmin(*queries)
    kdc.add_principal(SERVICE)
    for kt in keytabs.values():
        kt.chmod(0o600)
    return Krb(kdc, keytabs)


@pytest.fixture(scope="session")
def krb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Krb]:
    """One KDC (realm SANDBOX.TEST) for the session; stopped at teardown."""
    k = start_kdc(tmp_path_factory.mktemp("kdc"))
    try:
        yield k
    finally:
        k.kdc.stop()


@pytest.fixture
def krb_env(krb: Krb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """This process uses the test KDC's krb5.conf and a private default cache; returns it."""
    cc = tmp_path / "krb5cc"
    monkeypatch.setenv("KRB5_CONFIG", str(krb.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{cc}")
    monkeypatch.delenv("HADOOP_CONF_DIR", raising=False)
    return cc


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 60.0, step: float = 0.2) -> None:
    """Poll until ``cond()``; a generous deadline only guards against hanging forever."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(step)


def cli(*args: str) -> list[str]:
    """argv for our Kerberos commands, through the real ``mlflow-client-env`` entry point."""
    return [sys.executable, "-m", "mlflow_client_env", *args]


#: A process that needs its ticket every second: it reads the cache with gssapi and gets a
#: service ticket from the KDC (so an expired TGT fails, clockskew = 1). Exit 1 on failure.
CHECKER = r"""
import sys, time, gssapi
duration = float(sys.argv[1])
end = time.monotonic() + duration
n = 0
while time.monotonic() < end:
    try:
        creds = gssapi.Credentials(usage="initiate")
        left = creds.lifetime
        target = gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service)
        gssapi.SecurityContext(name=target, usage="initiate", creds=creds).step()
    except Exception as exc:
        print(f"checker: ticket failed after {n} checks: {exc}", flush=True)
        sys.exit(1)
    n += 1
    time.sleep(1)
print(f"checker: ticket valid for all {n} checks", flush=True)
"""


def run_checked_proc(
    argv: list[str], env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run to completion; the process is killed if the test times out."""
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(argv, proc.returncode, out, "")
