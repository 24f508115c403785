"""libkrb5 decides the credential cache and the realm (issue 12), checked against the system.

RHEL-style krb5.conf layouts are written to tmp dirs and pointed at with KRB5_CONFIG; the
tool's answer must be what real ``kinit``/``klist`` use (a real KDC, tickets in the
default cache), and its prediction of Java's view what a real JVM reads. No mocks: the
"no libkrb5" case hides the library in a private mount namespace.
"""
# ruff: noqa: F811  (the KDC fixtures are imported from tests.test_ticket_kdc)

from __future__ import annotations

import json
import os
import pwd
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlflow_client_env.kerberos import libkrb5
from mlflow_client_env.kerberos.profile import (
    discover_kerberos,
    java_disagreement,
    java_view,
)
from mlflow_client_env.kerberos.ticket import ticket_status
from mlflow_client_env_sandbox.java import sandbox_java
from tests import native_helpers as nh
from tests.conftest import Edge
from tests.helpers_cli import run_cli
from tests.test_ticket_kdc import Krb, krb  # noqa: F401

UID = os.getuid()

# The stock RHEL 8 /etc/krb5.conf (comments ours): the drop-in directory is included at the
# top, and the main file sets a KEYRING cache. kcm_socket is not stock: it points into the
# test's tmp dir, so klist behaves the same whether or not the host runs a KCM server.
RHEL8_MAIN = """\
# the drop-in directory comes first, as on RHEL 8/9
{includedir_top}
[logging]
    default = FILE:{tmp}/krb5libs.log

[libdefaults]
    dns_lookup_realm = false
    ticket_lifetime = 24h
    renew_lifetime = 7d
    forwardable = true
    rdns = false
    spake_preauth_groups = edwards25519
    default_realm = {realm}
{keyring}    kcm_socket = {tmp}/no-kcm.sock

[realms]
    {realm} = {{
        kdc = 127.0.0.1:{port}
        admin_server = 127.0.0.1:{port}
    }}

[domain_realm]
    .localhost = {realm}
{includedir_bottom}"""
# sssd-kcm's drop-in (/etc/krb5.conf.d/kcm_default_ccache): one relation, comments ours
KCM_DROPIN = """\
# installed with sssd-kcm: credential caches live in the KCM daemon
[libdefaults]
    default_ccache_name = KCM:
"""
# /etc/krb5.conf.d/crypto-policies is a symlink to the system-wide policy's krb5 file
CRYPTO_POLICY = (
    "[libdefaults]\npermitted_enctypes = aes256-cts-hmac-sha1-96 aes256-cts-hmac-sha384-192 "
    "camellia256-cts-cmac aes128-cts-hmac-sha1-96 aes128-cts-hmac-sha256-128 camellia128-cts-cmac\n"
)


def rhel8_layout(
    tmp: Path,
    krb: Krb,
    *,
    kcm_dropin: bool = True,
    includedir_first: bool = True,
    keyring_in_main: bool = True,
) -> Path:
    """etc/krb5.conf + etc/krb5.conf.d/ (crypto-policies symlink, the sssd-kcm drop-in and
    an editor's leftover that both MIT and Java must skip); returns the main file.
    ``keyring_in_main=False``: a main file that sets no cache (as a site's own often does)."""
    etc = tmp / "etc"
    dropins = etc / "krb5.conf.d"
    dropins.mkdir(parents=True)
    policy = etc / "crypto-policies" / "back-ends" / "krb5.config"
    policy.parent.mkdir(parents=True)
    policy.write_text(CRYPTO_POLICY)
    (dropins / "crypto-policies").symlink_to(policy)
    if kcm_dropin:
        (dropins / "kcm_default_ccache").write_text(KCM_DROPIN)
    # '.rpmsave' has a dot and does not end in .conf: never read
    (dropins / "kcm_default_ccache.rpmsave").write_text(
        f"[libdefaults]\n    default_ccache_name = FILE:{tmp}/must-not-be-read\n"
    )
    line = f"includedir {dropins}/"
    main = etc / "krb5.conf"
    main.write_text(
        RHEL8_MAIN.format(
            includedir_top=line if includedir_first else "",
            includedir_bottom=line if not includedir_first else "",
            tmp=tmp,
            keyring="    default_ccache_name = KEYRING:persistent:%{uid}\n"
            if keyring_in_main
            else "",
            realm=krb.realm,
            port=krb.kdc.port,
        )
    )
    return main


def base_env(conf: Path, **extra: str) -> dict[str, str]:
    """This process's environment, with ``conf`` as KRB5_CONFIG and no inherited cache."""
    env = {k: v for k, v in os.environ.items() if k not in ("KRB5CCNAME", "TMPDIR")}
    env["KRB5_CONFIG"] = str(conf)
    env.update(extra)
    return env


def klist(env: dict[str, str]) -> tuple[int, str]:
    out = subprocess.run(
        ["klist"], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    return out.returncode, (out.stdout + out.stderr).strip()


def assert_klist_default_is(env: dict[str, str], name: str) -> str:
    """Real klist's default cache is ``name``: klist says exactly what it says when told
    ``KRB5CCNAME=name``, and something else for the old answer FILE:/tmp/krb5cc_<uid>."""
    assert "KRB5CCNAME" not in env
    default = klist(env)
    assert default == klist({**env, "KRB5CCNAME": name}), default
    if name != f"FILE:/tmp/krb5cc_{UID}":
        assert default != klist({**env, "KRB5CCNAME": f"FILE:/tmp/krb5cc_{UID}"})
    return default[1]


def kinit_default(krb: Krb, env: dict[str, str]) -> str:
    """A real ``kinit`` into the default cache (no -c): the name klist shows for it."""
    subprocess.run(
        ["kinit", "-l", "10h", "-kt", str(krb.keytabs["alice"]), krb.principal("alice")],
        env=env, check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    rc, text = klist(env)
    assert rc == 0, text
    first = text.splitlines()[0]
    assert first.startswith("Ticket cache: "), text
    return first.removeprefix("Ticket cache: ")


# --------------------------------------------------------------------------- (a) RHEL 8
def test_rhel8_sssd_kcm_dropin_wins_over_the_main_files_keyring(krb: Krb, tmp_path: Path) -> None:
    conf = rhel8_layout(tmp_path, krb)
    env = base_env(conf)
    k = discover_kerberos(env)
    dropin = conf.parent / "krb5.conf.d" / "kcm_default_ccache"
    assert k.ccache == "KCM:" and k.ccache_type == "KCM" and not k.java_readable
    assert k.from_libkrb5 and k.ccache_source == f"default_ccache_name in {dropin}"
    assert k.default_realm == krb.realm and k.realms == (krb.realm,)
    assert any("KCM:" in e and "from libkrb5" in e for e in k.evidence), k.evidence
    assert dropin in k.conf_files
    assert not any(f.name.endswith(".rpmsave") for f in k.conf_files)
    # klist resolves the same KCM cache (no KCM server here: it says so, for KCM: only)
    said = assert_klist_default_is(env, k.ccache)
    assert "No KCM server found" in said
    # the ticket report follows libkrb5 too, not FILE:/tmp/krb5cc_<uid>
    st = ticket_status(env=env)
    assert st.ccache == "KCM:" and st.ccache_type == "KCM" and not st.java_readable


def test_rhel8_without_the_dropin_is_the_keyring(krb: Krb, tmp_path: Path) -> None:
    conf = rhel8_layout(tmp_path, krb, kcm_dropin=False)
    env = base_env(conf)
    k = discover_kerberos(env)
    assert k.ccache == f"KEYRING:persistent:{UID}" and k.ccache_type == "KEYRING"
    assert k.ccache_source == f"default_ccache_name in {conf}"
    said = assert_klist_default_is(env, k.ccache)
    assert f"persistent:{UID}" in said


def test_mit_takes_the_first_value_read_so_order_matters(krb: Krb, tmp_path: Path) -> None:
    """includedir at the bottom: the main file's KEYRING is read before the drop-in's KCM."""
    conf = rhel8_layout(tmp_path, krb, includedir_first=False)
    env = base_env(conf)
    k = discover_kerberos(env)
    assert k.ccache == f"KEYRING:persistent:{UID}", k.evidence
    assert_klist_default_is(env, k.ccache)
    # ...and JDK 9 to 25 cannot load this file at all: includedir after a section
    jv = java_view(conf, "test", 17, env)
    assert jv.problem is not None and "Illegal config content" in jv.problem
    f = java_disagreement(k, jv)
    assert f.code == "kerberos.java-libkrb5-disagree" and f.status == "error"
    assert "catalog D5" in f.summary and "above the first [section]" in (f.fix or "")


# --------------------------------------------------------------------------- (b) include
def test_include_of_one_file_names_the_cache_kinit_writes(krb: Krb, tmp_path: Path) -> None:
    site = tmp_path / "site.conf"
    site.write_text(
        f"[libdefaults]\n  default_realm = {krb.realm}\n"
        f"  default_ccache_name = FILE:{tmp_path}/site-cc/krb5cc_%{{uid}}\n"
        f"[realms]\n  {krb.realm} = {{\n    kdc = 127.0.0.1:{krb.kdc.port}\n  }}\n"
    )
    (tmp_path / "site-cc").mkdir()
    conf = tmp_path / "krb5.conf"
    conf.write_text(
        f"include {site}\n\n[libdefaults]\n"
        f"  default_ccache_name = FILE:{tmp_path}/main-file-says/krb5cc\n"  # read second
    )
    env = base_env(conf)
    k = discover_kerberos(env)
    assert k.ccache == f"FILE:{tmp_path}/site-cc/krb5cc_{UID}" and k.from_libkrb5
    assert k.ccache_source == f"default_ccache_name in {site}"
    assert k.default_realm == krb.realm
    assert kinit_default(krb, env) == k.ccache
    st = ticket_status(env=env)  # a good kinit is found: not "missing"
    assert st.state == "valid" and st.ccache == k.ccache, st.message


# --------------------------------------------------------------------------- (c) tokens
def test_uid_username_and_temp_tokens(
    krb: Krb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmpdir"
    temp.mkdir()
    conf = tmp_path / "krb5.conf"
    conf.write_text(
        f"[libdefaults]\n  default_realm = {krb.realm}\n"
        "  default_ccache_name = FILE:%{TEMP}/cc_%{uid}_%{username}\n"
        f"[realms]\n  {krb.realm} = {{\n    kdc = 127.0.0.1:{krb.kdc.port}\n  }}\n"
    )
    env = base_env(conf, TMPDIR=str(temp))
    user = pwd.getpwuid(UID).pw_name
    expected = f"FILE:{temp}/cc_{UID}_{user}"
    k = discover_kerberos(env)
    assert k.ccache == expected, k.evidence
    assert kinit_default(krb, env) == expected
    # asked in a child for a foreign environment, in this process for our own: same answer
    child = libkrb5.ask(env)
    assert child.where == "in a child process with the given environment"
    monkeypatch.setenv("KRB5_CONFIG", str(conf))
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.delenv("KRB5CCNAME", raising=False)
    here = libkrb5.ask(os.environ)
    assert here.where == "in this process"
    assert (here.ccache, here.realm) == (child.ccache, child.realm) == (expected, krb.realm)


# --------------------------------------------------------------------------- (d) KRB5CCNAME
def test_krb5ccname_beats_the_kcm_dropin(krb: Krb, tmp_path: Path) -> None:
    conf = rhel8_layout(tmp_path, krb)
    explicit = f"FILE:{tmp_path}/explicit_cc"
    env = base_env(conf, KRB5CCNAME=explicit)
    k = discover_kerberos(env)
    assert k.ccache == explicit and k.ccache_source == "KRB5CCNAME" and k.java_readable
    assert kinit_default(krb, env) == explicit
    assert ticket_status(env=env).state == "valid"


# --------------------------------------------------------------------------- env CLI
@pytest.mark.parametrize("keyring_in_main", [True, False], ids=["stock-main", "main-sets-no-cache"])
def test_env_never_exports_the_wrong_cache_for_a_kcm_dropin(
    keyring_in_main: bool, krb: Krb, edge: Edge, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    """The issue's case: a main file that sets no cache used to give FILE:/tmp/krb5cc_<uid>
    ('MIT default'), exported to Python and Java while the ticket sits in KCM."""
    conf = rhel8_layout(tmp_path / "rhel", krb, keyring_in_main=keyring_in_main)
    out = run_cli("env", "--json", *edge.cli_args(), env={**clean_env, "KRB5_CONFIG": str(conf)})
    data = json.loads(out.stdout)
    # Java cannot read KCM: the cache is reported (D3), not replaced by FILE:/tmp/krb5cc_<uid>
    assert "KRB5CCNAME" not in data and "MLFLOW_KERBEROS_TICKET_CACHE" not in data, data
    assert out.returncode == 1
    assert "KCM: is a KCM cache, which Java cannot read (catalog D3)" in out.stderr
    explain = run_cli(
        "env", "--explain", *edge.cli_args(), env={**clean_env, "KRB5_CONFIG": str(conf)}
    )
    assert f"/tmp/krb5cc_{UID}" not in explain.stdout


def test_env_exports_libkrb5s_file_cache_from_an_included_file(
    krb: Krb, edge: Edge, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    site = tmp_path / "site.conf"
    site.write_text(
        f"[libdefaults]\n  default_realm = {krb.realm}\n"
        f"  default_ccache_name = FILE:{tmp_path}/cc_%{{uid}}\n"
    )
    conf = tmp_path / "krb5.conf"
    conf.write_text(f"include {site}\n")
    out = run_cli("env", "--json", *edge.cli_args(), env={**clean_env, "KRB5_CONFIG": str(conf)})
    data = json.loads(out.stdout)
    assert data["KRB5CCNAME"] == f"FILE:{tmp_path}/cc_{UID}", out.stderr
    assert data["MLFLOW_KERBEROS_TICKET_CACHE"] == f"{tmp_path}/cc_{UID}"
    assert f"-Djava.security.krb5.conf={conf}" in data["LIBHDFS_OPTS"]


# --------------------------------------------------------------------------- the cache
def test_answers_are_cached_until_a_config_file_changes(krb: Krb, tmp_path: Path) -> None:
    conf = rhel8_layout(tmp_path, krb, kcm_dropin=False)
    env = base_env(conf)
    past = time.time() - 60  # files older than the racy window, as on a real host
    for p in [*tmp_path.rglob("*"), tmp_path]:
        os.utime(p, (past, past), follow_symlinks=False)
    first = discover_kerberos(env)
    assert first.ccache == f"KEYRING:persistent:{UID}"
    assert discover_kerberos(env) is first  # a warm call: stat the files, nothing else
    # sssd-kcm gets installed: a new drop-in changes the directory
    (conf.parent / "krb5.conf.d" / "kcm_default_ccache").write_text(KCM_DROPIN)
    after = discover_kerberos(env)
    assert after.ccache == "KCM:"
    assert_klist_default_is(env, after.ccache)
    # an edit of an included file is seen too (size and times change)
    (conf.parent / "krb5.conf.d" / "kcm_default_ccache").write_text(
        KCM_DROPIN.replace("KCM:", "KCM:%{uid}")
    )
    assert discover_kerberos(env).ccache == f"KCM:{UID}"


# --------------------------------------------------------------------------- fallbacks
FALLBACK_CHILD = """
import json, sys
from mlflow_client_env.kerberos.profile import discover_kerberos
k = discover_kerberos()
print(json.dumps({"ccache": k.ccache, "realm": k.default_realm,
                  "libkrb5": k.from_libkrb5, "evidence": k.evidence}))
"""


def test_without_libkrb5_the_files_are_read_by_mits_rules(krb: Krb, tmp_path: Path) -> None:
    """libkrb5.so.3 hidden (bind-mounted /dev/null over it in a private mount namespace)."""
    import ctypes

    ctypes.CDLL(libkrb5.LIBRARY)
    with open("/proc/self/maps") as maps:
        lib = next(line.split()[-1] for line in maps if "libkrb5.so.3" in line)
    conf = rhel8_layout(tmp_path, krb)
    out = subprocess.run(
        ["unshare", "-m", "sh", "-c", 'mount --bind /dev/null "$0" && exec "$1" -c "$2"',
         lib, sys.executable, FALLBACK_CHILD],
        env=base_env(conf), capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["libkrb5"] is False
    assert got["ccache"] == "KCM:" and got["realm"] == krb.realm  # the drop-in, MIT's order
    assert any(
        "predicted from the files" in e and "libkrb5.so.3 cannot be loaded" in e
        for e in got["evidence"]
    ), got["evidence"]
    assert os.path.exists(lib) and ctypes.CDLL(libkrb5.LIBRARY)  # the host never saw it


def test_a_shadowing_libkrb5_on_ld_library_path_is_not_trusted(krb: Krb, tmp_path: Path) -> None:
    """Catalog E1: a parcel's folder on LD_LIBRARY_PATH with some other libkrb5.so.3 first."""
    bad = tmp_path / "parcel-lib64"
    nh.gcc_shared(bad / "libkrb5.so.3", soname="libkrb5.so.3")
    conf = rhel8_layout(tmp_path, krb)
    out = subprocess.run(
        [sys.executable, "-c", FALLBACK_CHILD],
        env=base_env(conf, LD_LIBRARY_PATH=str(bad)),
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["libkrb5"] is False and got["ccache"] == "KCM:"
    assert any("not MIT krb5's" in e and "(catalog E1)" in e for e in got["evidence"]), got


def test_a_krb5_conf_owned_by_someone_else_is_not_handed_to_libkrb5(
    krb: Krb, tmp_path: Path
) -> None:
    """doctor --pid reads other users' environments: their krb5.conf could name a module."""
    conf = rhel8_layout(tmp_path, krb)
    dropin = conf.parent / "krb5.conf.d" / "kcm_default_ccache"
    os.chown(dropin, 65534, 65534)
    k = discover_kerberos(base_env(conf))  # not this process's environment: a child would ask
    assert not k.from_libkrb5 and k.ccache == "KCM:"
    assert any(f"{dropin} is owned by uid 65534" in e for e in k.evidence), k.evidence


def test_a_link_of_someone_else_or_a_file_not_there_yet_is_not_handed_to_libkrb5(
    krb: Krb, tmp_path: Path
) -> None:
    """A link another user owns can be re-pointed while the child starts; a file that does
    not exist yet can be created by someone else: neither goes to libkrb5 in a child."""
    conf = rhel8_layout(tmp_path, krb)
    link = tmp_path / "their-krb5.conf"
    link.symlink_to(conf)
    os.lchown(link, 65534, 65534)
    k = discover_kerberos(base_env(link))
    assert not k.from_libkrb5, k.evidence
    assert any(f"{link} is owned by uid 65534" in e for e in k.evidence), k.evidence
    later = tmp_path / "later.conf"
    k2 = discover_kerberos(base_env(conf, KRB5_CONFIG=f"{conf}:{later}"))
    assert not k2.from_libkrb5, k2.evidence
    assert any(f"{later} cannot be checked" in e for e in k2.evidence), k2.evidence
    # and our own link to our own file is fine
    mine = tmp_path / "my-krb5.conf"
    mine.symlink_to(conf)
    assert discover_kerberos(base_env(mine)).from_libkrb5


# --------------------------------------------------------------------------- Java's view
JAVA_PROBE = """
public class Probe {
    public static void main(String[] args) {
        try {
            String realm = new javax.security.auth.kerberos.KerberosPrincipal("alice").getRealm();
            System.out.println("REALM " + realm);
        } catch (Exception e) {
            StringBuilder s = new StringBuilder("FAIL");
            for (Throwable c = e; c != null; c = c.getCause()) s.append(" | ").append(c);
            System.out.println(s);
        }
    }
}
"""


def real_java_realm(java: Path, conf: Path, work: Path) -> str:
    """What a real JVM makes of ``conf``: 'REALM X' or 'FAIL ...'."""
    probe = work / "Probe.java"
    if not probe.exists():
        probe.write_text(JAVA_PROBE)
    out = subprocess.run(
        [str(java), f"-Djava.security.krb5.conf={conf}", str(probe)],
        capture_output=True, text=True, timeout=120, cwd=work, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_java_view_is_what_a_real_jvm_reads(krb: Krb, tmp_path: Path) -> None:
    inst = sandbox_java()  # the machine's JDK 17, as the sandbox runs Hadoop on
    java = Path(inst.home) / "bin" / "java"
    work = tmp_path / "java"
    work.mkdir()

    def layout(name: str, main: str, files: dict[str, str]) -> Path:
        d = tmp_path / name
        d.mkdir()
        for rel, text in files.items():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_text(text)
        (d / "krb5.conf").write_text(main.format(d=d))
        return d / "krb5.conf"

    realm = "[libdefaults]\n  default_realm = {}\n"
    cases = {
        # RHEL: includedir on top, default_realm only in a drop-in: both read it
        "top": layout("top", "includedir {d}/conf.d/\n" + realm.format("MAIN"),
                      {"conf.d/ipa": realm.format("DROPIN"), "conf.d/x.bak": realm.format("BAK")}),
        # appended at the end: MIT reads it, JDK 9 to 25 refuse the whole file
        "bottom": layout("bottom", realm.format("MAIN") + "includedir {d}/conf.d\n",
                         {"conf.d/ipa": realm.format("DROPIN")}),
        # indented: the JDK trims lines, MIT wants the directive at column 0
        "indented": layout("indented", "  include {d}/other.conf\n" + realm.format("MAIN"),
                           {"other.conf": realm.format("OTHER")}),
        # a tab after the keyword: MIT reads it, the JDK needs a space
        "tab": layout("tab", "includedir\t{d}/conf.d\n" + realm.format("MAIN"),
                      {"conf.d/ipa": realm.format("DROPIN")}),
    }  # fmt: skip
    # drop-ins created in random order: MIT sorts them, JDK 17 takes the directory's order
    shuffled = list(range(10, 20))
    random.Random(12).shuffle(shuffled)  # a fixed creation order; readdir decides the rest
    cases["order"] = layout(
        "order",
        "includedir {d}/conf.d\n" + realm.format("MAIN"),
        {f"conf.d/K{i}": realm.format(f"K{i}") for i in shuffled},
    )
    expected_mit = {"top": "DROPIN", "bottom": "MAIN", "indented": "MAIN", "tab": "DROPIN",
                    "order": "K10"}  # fmt: skip
    for name, conf in cases.items():
        env = base_env(conf)
        k = discover_kerberos(env, check_ccache=False)
        assert k.default_realm == expected_mit[name] and k.from_libkrb5, (name, k.evidence)
        jv = java_view(conf, "test", inst.major, env)
        real = real_java_realm(java, conf, work)
        predicted = f"REALM {jv.realm}" if jv.problem is None else "FAIL"
        assert real.startswith(predicted), (name, real, jv)
        f = java_disagreement(k, jv)
        agree = real == f"REALM {k.default_realm}"
        assert (f.code == "kerberos.java-libkrb5-agree") == agree, (name, real, f)
        if not agree:
            assert f.status == ("error" if real.startswith("FAIL") else "warn"), (name, f)
            assert "catalog D5" in f.summary
    assert real_java_realm(java, cases["top"], work) == "REALM DROPIN"
    assert "Illegal config content" in real_java_realm(java, cases["bottom"], work)
    assert real_java_realm(java, cases["indented"], work) == "REALM OTHER"
    assert real_java_realm(java, cases["tab"], work) == "REALM MAIN"


def test_doctor_reports_java_and_libkrb5_disagreeing(
    krb: Krb, edge: Edge, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    conf = rhel8_layout(tmp_path / "rhel", krb, includedir_first=False)
    out = run_cli(
        "doctor", "--json", "--check", "kerberos", *edge.cli_args(),
        env={**clean_env, "KRB5_CONFIG": str(conf)},
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    found = {f["code"]: f for c in data["checks"] for f in c["findings"]}
    f = found["kerberos.java-libkrb5-disagree"]
    assert f["status"] == "error", f
    assert "Illegal config content" in f["summary"] and "catalog D5" in f["summary"]
    assert any(f"realm {krb.realm}" in e for e in f["evidence"]), f
