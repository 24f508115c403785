"""Keytab login and KEYRING -> FILE copies against a real KDC; Java reads the result."""
# ruff: noqa: F811  (the KDC fixtures are imported from tests.test_ticket_kdc)

from __future__ import annotations

import os
import stat
import subprocess
import uuid
import warnings
from pathlib import Path

import pytest

from mlflow_client_env.errors import KeyringUnavailableError, KeytabError, KinitError
from mlflow_client_env.kerberos.login import (
    NO_KEYRING_MESSAGE,
    KeytabPermissionWarning,
    copy_to_file,
    ensure_java_ccache,
    keyring_supported,
    keytab_login,
)
from mlflow_client_env.kerberos.ticket import ticket_status
from tests.test_ticket_kdc import Krb, cli, krb, krb_env  # noqa: F401


def test_keytab_login_writes_private_file_cache(krb: Krb, krb_env: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a 0600 keytab gives no warning
        st = keytab_login(krb.keytabs["alice"], "alice", f"FILE:{krb_env}")
    assert st.state == "valid"
    assert st.principal == f"alice@{krb.realm}"
    assert stat.S_IMODE(krb_env.stat().st_mode) == 0o600
    inode = krb_env.stat().st_ino
    again = keytab_login(krb.keytabs["alice"], "alice", f"FILE:{krb_env}")
    assert again.state == "valid"
    assert krb_env.stat().st_ino != inode  # a new file was swapped in, not rewritten in place
    assert not [p for p in krb_env.parent.iterdir() if p.name.startswith(f".{krb_env.name}.")]


def test_world_readable_keytab_warns(krb: Krb, krb_env: Path, tmp_path: Path) -> None:
    kt = tmp_path / "loose.keytab"
    kt.write_bytes(krb.keytabs["alice"].read_bytes())
    kt.chmod(0o644)
    with pytest.warns(KeytabPermissionWarning, match="chmod 600"):
        st = keytab_login(kt, f"alice@{krb.realm}")
    assert st.ccache == f"FILE:{krb_env}"  # the user's FILE cache by default
    assert st.state == "valid"


def test_missing_keytab_is_a_usage_error(krb_env: Path, tmp_path: Path) -> None:
    with pytest.raises(KeytabError, match="does not exist"):
        keytab_login(tmp_path / "nope.keytab", "alice")


def test_unreachable_kdc_is_a_clear_error(
    krb: Krb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow_client_env_sandbox.ports import free_port

    conf = tmp_path / "krb5.conf"
    text = krb.krb5_conf.read_text().replace(f":{krb.kdc.port}", f":{free_port()}")
    conf.write_text(text)
    monkeypatch.setenv("KRB5_CONFIG", str(conf))
    cache = tmp_path / "cc"
    with pytest.raises(KinitError, match="Cannot contact any KDC") as info:
        keytab_login(krb.keytabs["alice"], "alice", f"FILE:{cache}")
    assert "KDC is reachable" in info.value.fix
    assert not cache.exists()


def test_cli_kinit(krb: Krb, krb_env: Path) -> None:
    env = dict(os.environ)
    out = subprocess.run(
        cli("kinit", "--keytab", str(krb.keytabs["alice"]), "--principal", "alice"),
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        f"export KRB5CCNAME=FILE:{krb_env}\nexport MLFLOW_KERBEROS_TICKET_CACHE={krb_env}\n"
    )
    assert ticket_status(threshold=60).state == "valid"
    nothing = subprocess.run(cli("kinit"), env=env, capture_output=True, text=True)
    assert nothing.returncode == 2 and "passwords are not accepted" in nothing.stderr
    no_principal = subprocess.run(
        cli("kinit", "--keytab", str(krb.keytabs["alice"])), env=env, capture_output=True, text=True
    )
    assert no_principal.returncode == 2
    help_text = subprocess.run(cli("kinit", "--help"), capture_output=True, text=True).stdout
    assert "--to-file" in help_text and "--password" not in help_text


JAVA_KLIST = r"""
import java.util.*;
import javax.security.auth.Subject;
import javax.security.auth.kerberos.KerberosTicket;
import javax.security.auth.login.*;

public class JKlist {
    public static void main(String[] args) throws Exception {
        Map<String, String> opts = new HashMap<>();
        opts.put("useTicketCache", "true");
        opts.put("ticketCache", args[0]);
        opts.put("doNotPrompt", "true");
        Configuration conf = new Configuration() {
            public AppConfigurationEntry[] getAppConfigurationEntry(String name) {
                return new AppConfigurationEntry[] {new AppConfigurationEntry(
                    "com.sun.security.auth.module.Krb5LoginModule",
                    AppConfigurationEntry.LoginModuleControlFlag.REQUIRED, opts)};
            }
        };
        Subject subject = new Subject();
        new LoginContext("x", subject, null, conf).login();
        for (KerberosTicket t : subject.getPrivateCredentials(KerberosTicket.class)) {
            System.out.println(t.getClient() + " " + t.getServer() + " " + t.getEndTime().getTime() / 1000);
        }
    }
}
"""


def java_klist(cache: Path, krb5_conf: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """What the JDK's own Kerberos (as used by Hadoop's UGI) finds in a ticket cache."""
    from mlflow_client_env_sandbox.java import sandbox_java

    java = Path(sandbox_java().home) / "bin" / "java"
    src = tmp_path / "JKlist.java"
    src.write_text(JAVA_KLIST)
    return subprocess.run(
        [str(java), f"-Djava.security.krb5.conf={krb5_conf}", str(src), str(cache)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_keyring_cache_is_copied_for_java(
    krb: Krb,
    krb_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    record_property: pytest.RecordProperty,
) -> None:
    keyring = f"KEYRING:session:mce-{uuid.uuid4().hex[:8]}"
    if not keyring_supported():
        msg = "this kernel has no keyrings: checking the documented fallback message instead"
        print(msg)
        record_property("keyring", msg)
        warnings.warn(msg, stacklevel=1)
        monkeypatch.setenv("KRB5CCNAME", keyring)
        with pytest.raises(KeyringUnavailableError) as info:
            ensure_java_ccache()
        assert NO_KEYRING_MESSAGE in info.value.problem
        return
    record_property("keyring", "kernel keyrings available; KEYRING cache copied and read by Java")
    env = dict(os.environ, KRB5CCNAME=keyring)
    subprocess.run(
        ["kinit", "-l", "1h", "-r", "1d", "-kt", str(krb.keytabs["alice"]), krb.principal("alice")],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    try:
        monkeypatch.setenv("KRB5CCNAME", keyring)
        src = ticket_status(threshold=60)
        assert src.state == "valid" and src.ccache_type == "KEYRING" and not src.java_readable
        assert src.renew_until is not None  # read through a private FILE copy
        target = tmp_path / "java-cc"
        java_cc = ensure_java_ccache(target=f"FILE:{target}")
        assert java_cc.copied and java_cc.source == keyring
        assert java_cc.env == {
            "KRB5CCNAME": f"FILE:{target}",
            "MLFLOW_KERBEROS_TICKET_CACHE": str(target),
        }
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        copied = ticket_status(f"FILE:{target}", threshold=60)
        assert copied.state == "valid" and copied.java_readable
        assert copied.principal == src.principal and copied.expires_at == src.expires_at
        java = java_klist(target, krb.krb5_conf, tmp_path)
        assert java.returncode == 0, java.stderr
        assert f"alice@{krb.realm} krbtgt/{krb.realm}@{krb.realm}" in java.stdout
        # Java cannot read the KEYRING itself (catalog D3): the reason for the copy
        assert java_klist(Path(keyring), krb.krb5_conf, tmp_path).returncode != 0
    finally:
        subprocess.run(["kdestroy", "-c", keyring], env=env, capture_output=True)


def test_copy_refuses_an_expired_or_missing_source(krb_env: Path, tmp_path: Path) -> None:
    with pytest.raises(KinitError, match="cannot copy"):
        copy_to_file(f"FILE:{krb_env}", f"FILE:{tmp_path / 'out'}")
    assert not (tmp_path / "out").exists()
