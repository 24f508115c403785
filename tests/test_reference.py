"""The troubleshooting reference: every code a message cites resolves, and the docs match.

The codes are found in the package's real source text (every string literal of
every module, docstrings included), the docs are compared with the real output of
``python -m mlflow_client_env.reference``, and letter codes are checked against the
real error catalog in the shared reference folder.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlflow_client_env import reference
from mlflow_client_env.doctor import catalog
from mlflow_client_env.errors import MlflowClientEnvError, UnknownCodeError

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "mlflow_client_env"
DOC = REPO / reference.DOC_PATH
ERROR_CATALOG = REPO.parent / "shared" / "reference" / "error-catalog.md"

#: A catalog code standing alone (``(D8)``, ``catalog D3``, ``[catalog D1]``, ``hdfs.D1``,
#: ``A1/B1``), or a range of them (``catalog A1-A3``).
CITED = re.compile(
    r"(?<![A-Za-z0-9_])([A-H])([1-9][0-9]?)(?:-([A-H])([1-9][0-9]?))?(?![A-Za-z0-9_])"
)
_STRING_TOKENS = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}


def cited_codes(text: str) -> set[str]:
    """The catalog codes cited in ``text``, ranges expanded (``A1-A3``: A1, A2, A3)."""
    found: set[str] = set()
    for m in CITED.finditer(text):
        letter, first, end_letter, last = m.groups()
        if end_letter is None or end_letter != letter:
            found.add(f"{letter}{first}")
            if end_letter is not None:
                found.add(f"{end_letter}{last}")
        else:
            found.update(f"{letter}{n}" for n in range(int(first), int(last) + 1))
    return found


def string_literals(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal in a module: messages, f-strings, docstrings."""
    with tokenize.open(path) as f:
        for tok in tokenize.generate_tokens(f.readline):
            if tok.type in _STRING_TOKENS:
                yield tok.start[0], tok.string


def citations_in_package() -> dict[str, list[str]]:
    """code -> ["module.py:line", ...] for every catalog code the package's strings cite."""
    where: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, text in string_literals(path):
            for code in cited_codes(text):
                where.setdefault(code, []).append(f"{path.relative_to(REPO)}:{line}")
    return where


def catalog_headings() -> set[str]:
    """The codes of the ``### X9.`` headings of the error catalog."""
    text = ERROR_CATALOG.read_text(encoding="utf-8")  # missing: fail loudly, never skip
    return set(re.findall(r"^### ([A-H][1-9][0-9]?)\.", text, flags=re.M))


# --------------------------------------------------------------------------- the scanner
def test_the_scanner_finds_every_form_of_citation() -> None:
    text = (
        "pyarrow cannot load the JVM (catalog A2); [catalog D1]; hdfs.D3 and hdfs.namenode-x; "
        "see A1/B1; rules (catalog C1-C3, A5); (FutureWarning, E3); A4, F2; catalog B4, B5."
    )
    assert cited_codes(text) == {"A1", "A2", "A4", "A5", "B1", "B4", "B5", "C1", "C2", "C3"} | {
        "D1",
        "D3",
        "E3",
        "F2",
    }
    # not citations: words, hex, versions, Java flags, other letters
    assert cited_codes("SHA256 E2E B12x Xmx512m A0 I1 -XX:+UseG1GC log4j2 H2O 0xA1") == set()


def test_the_scanner_reads_real_string_literals(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        '"""Docstring citing catalog D3."""\n'
        "# a comment citing G4 is not a message\n"
        "x = 1  # nor is this: H1\n"
        'msg = f"{x} failed (catalog B2)" + "see E1"\n',
        encoding="utf-8",
    )
    got = {code for _, text in string_literals(module) for code in cited_codes(text)}
    assert got == {"D3", "B2", "E1"}


# --------------------------------------------------------------------------- (a) cited codes
def test_every_code_the_package_cites_has_an_entry() -> None:
    where = citations_in_package()
    assert len(where) >= 10, f"the scanner found almost nothing: {sorted(where)}"
    known = set(reference.codes())
    missing = {code: places for code, places in sorted(where.items()) if code not in known}
    assert not missing, f"cited without an entry: {missing}; cited in all: {sorted(where)}"


# --------------------------------------------------------------------------- (b) explain()'s codes
def test_every_code_explain_produces_has_an_entry() -> None:
    produced = catalog.codes()
    assert "D1" in produced and "namenode-unreachable" in produced
    for code in produced:
        entry = reference.lookup(code)
        assert entry.code == code
        if not entry.in_catalog:
            assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)+", code), f"{code!r} is not descriptive"


def test_explain_takes_title_and_fix_from_the_reference() -> None:
    exp = catalog.explain_text("java.net.ConnectException: Connection refused")
    entry = reference.lookup("namenode-unreachable")
    assert exp is not None and (exp.title, exp.fix) == (entry.title, entry.fix)
    assert exp.doc_link == "docs/troubleshooting.md#namenode-unreachable"
    # a pattern-specific hint goes in front of the entry's fix
    exp = catalog.explain_text("java.io.IOException: failure to login using ticket cache file /x")
    d1 = reference.lookup("D1")
    assert exp is not None and exp.code == "D1" and exp.title == d1.title
    assert exp.fix.startswith("the cache MLFLOW_KERBEROS_TICKET_CACHE names") and exp.fix.endswith(
        d1.fix
    )
    exp = catalog.explain_text("GSS initiate failed")
    assert exp is not None and exp.fix == d1.fix


# --------------------------------------------------------------------------- (c) the docs
def test_docs_are_the_output_of_the_generator() -> None:
    out = subprocess.run(
        [sys.executable, "-m", reference.__name__],
        cwd=REPO,
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 0 and out.stderr == b"", out.stderr.decode(errors="replace")
    assert out.stdout == DOC.read_bytes(), f"{DOC} is stale: run `{reference.GENERATE}`"
    assert out.stdout.decode().startswith("# Troubleshooting reference\n\n> Generated by `")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_docs_anchors_are_the_codes_and_every_link_lands() -> None:
    text = DOC.read_text(encoding="utf-8")
    headings = re.findall(r"^#{1,6} (.+)$", text, flags=re.M)
    slugs = [github_slug(h) for h in headings]
    assert len(slugs) == len(set(slugs)), "two headings share an anchor"
    for entry in reference.entries():
        assert f"\n### {entry.code}\n" in text
        assert entry.anchor in slugs and entry.doc_link == f"docs/troubleshooting.md#{entry.anchor}"
    for target in re.findall(r"\]\(#([^)]+)\)", text):
        assert target in slugs, f"link #{target} goes nowhere"


def test_docs_have_no_text_that_renders_as_html() -> None:
    """``FILE:<path>`` outside `code` would be an HTML tag on GitHub, and vanish."""
    text = DOC.read_text(encoding="utf-8")
    prose = re.sub(r"<https://[^>\s]+>", "", re.sub(r"`[^`\n]*`", "", text))
    assert re.findall(r".{0,30}<[A-Za-z/!].{0,30}", prose) == []
    assert "KRB5CCNAME=FILE:&lt;path>" in text


# --------------------------------------------------------------------------- (d) lookup
@pytest.mark.parametrize(
    "code", ["Z9", "D99", "d1x", "", "   ", "hdfs.", "[catalog ]", "x" * 10_000]
)
def test_an_unknown_code_is_a_typed_error_with_the_valid_codes(code: str) -> None:
    with pytest.raises(UnknownCodeError) as err:
        reference.lookup(code)
    assert isinstance(err.value, MlflowClientEnvError) and isinstance(err.value, LookupError)
    assert "no troubleshooting entry" in err.value.problem
    assert "D1" in err.value.fix and "namenode-unreachable" in err.value.fix


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ("D1", "D1"),
        ("d1", "D1"),
        (" hdfs.D1 ", "D1"),
        ("[catalog D1]", "D1"),
        ("(D8)", "D8"),
        ("catalog g2", "G2"),
        ("NameNode-Unreachable", "namenode-unreachable"),
        ("hdfs.namenode-unreachable", "namenode-unreachable"),
        ("[kdc-unreachable]", "kdc-unreachable"),
    ],
)
def test_lookup_takes_what_messages_print(given: str, code: str) -> None:
    assert reference.lookup(given).code == code


def test_render_text_has_every_part() -> None:
    entry = reference.lookup("D3")
    text = reference.render_text(entry)
    assert text.startswith("D3 (catalog entry): ")
    for label in ("symptom", "cause", "fix", "docs"):
        assert re.search(rf"^{label} +\S", text, flags=re.M), label
    assert "docs/troubleshooting.md#d3" in text


# --------------------------------------------------------------------------- (e) the entries
def test_entries_are_complete_and_match_the_error_catalog() -> None:
    headings = catalog_headings()
    assert len(headings) >= 40, f"unexpected error catalog: {sorted(headings)}"
    entries = reference.entries()
    codes = [e.code for e in entries]
    assert len(codes) == len(set(codes)), "a code has two entries"
    for e in entries:
        for field in ("title", "symptom", "cause", "fix"):
            assert getattr(e, field).strip(), f"{e.code}: empty {field}"
        assert "\n" not in e.title and "\n" not in e.fix
        assert all(u.startswith("https://") for u in e.see_also), e.code
    letter = {e.code for e in entries if e.in_catalog}
    assert letter - headings == set(), "entries for codes the error catalog does not have"
    assert headings - letter == set(), "catalog codes without an entry"


def _prose_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", re.sub(r"`[^`]*`", " ", text.lower()))
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def test_entries_are_written_in_our_own_words() -> None:
    """No run of 6 words outside quoted error texts (`...`) is the catalog's."""
    theirs = _prose_ngrams(ERROR_CATALOG.read_text(encoding="utf-8"), 6)
    copied = {
        f"{e.code}.{field}": sorted(
            " ".join(g) for g in _prose_ngrams(getattr(e, field), 6) & theirs
        )
        for e in reference.entries()
        for field in ("title", "symptom", "cause", "fix")
    }
    assert {where: runs for where, runs in copied.items() if runs} == {}


# --------------------------------------------------------------------------- the explain command
def _explain(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlflow_client_env", "explain", *args],
        input=stdin, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_explain_a_code_as_messages_print_it() -> None:
    for form in ("D1", "d1", "hdfs.D1", "[catalog D1]"):
        out = _explain(form)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("D1 (catalog entry):")


def test_explain_a_pasted_traceback_from_stdin_and_from_a_file(tmp_path: Path) -> None:
    trace = (
        'Traceback (most recent call last):\n  File "train.py", line 3\n'
        "OSError: Unable to load libhdfs: /opt/x/libhdfs.so: cannot open shared object file\n"
    )
    out = _explain("--json", stdin=trace)
    data = json.loads(out.stdout)
    assert (
        out.returncode == 0 and data["code"] == "A1" and "Unable to load libhdfs" in data["matched"]
    )
    log = tmp_path / "kernel.log"
    log.write_text(trace)
    assert json.loads(_explain("--json", str(log)).stdout)["code"] == "A1"


def test_explain_unknown_code_and_no_match_are_distinct_exits(tmp_path: Path) -> None:
    unknown = _explain("Z9")
    assert unknown.returncode == 2 and "no troubleshooting entry" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    nothing = _explain(stdin="all good here\n")
    assert nothing.returncode == 1 and "no known failure" in nothing.stderr
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    blocked = _explain(str(fifo))
    assert blocked.returncode == 2 and "not a regular file" in blocked.stderr
