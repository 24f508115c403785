"""Path-list merging: idempotent, keeps the user's entries and order, refuses ':'."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlflow_client_env import pathlist
from mlflow_client_env.errors import PathListError

entry = st.text(alphabet=st.characters(blacklist_characters=":\x00"), min_size=1, max_size=12)
user_value = st.lists(st.one_of(entry, st.just("")), max_size=8).map(":".join)
new_entries = st.lists(entry, max_size=5)


@given(user_value, new_entries)
def test_prepend_is_idempotent(existing: str, new: list[str]) -> None:
    once = pathlist.prepend(existing, new, "PATH")
    assert pathlist.prepend(once, new, "PATH") == once


@given(user_value, new_entries)
def test_append_is_idempotent(existing: str, new: list[str]) -> None:
    once = pathlist.append(existing, new, "LD_LIBRARY_PATH")
    assert pathlist.append(once, new, "LD_LIBRARY_PATH") == once


@given(user_value, new_entries)
def test_prepend_keeps_user_entries_in_order(existing: str, new: list[str]) -> None:
    merged = pathlist.prepend(existing, new, "PATH").split(":") if (existing or new) else []
    kept = [e for e in (existing.split(":") if existing else []) if e not in new]
    assert merged[len(dict.fromkeys(new)) :] == kept
    assert merged[: len(dict.fromkeys(new))] == list(dict.fromkeys(new))


@given(user_value, new_entries)
def test_append_leaves_user_value_as_prefix(existing: str, new: list[str]) -> None:
    merged = pathlist.append(existing, new, "LD_LIBRARY_PATH")
    assert merged.startswith(existing)
    for e in new:
        assert e in merged.split(":")


@given(user_value, entry, entry)
def test_entry_with_colon_is_refused(existing: str, a: str, b: str) -> None:
    bad = f"{a}:{b}"
    with pytest.raises(PathListError) as exc:
        pathlist.prepend(existing, [bad], "CLASSPATH")
    assert repr(bad) in exc.value.problem and "CLASSPATH" in exc.value.problem
    with pytest.raises(PathListError):
        pathlist.append(existing, [bad], "CLASSPATH")


def test_empty_user_entries_survive() -> None:
    # an empty PATH entry means the current directory; we must not drop it
    assert pathlist.prepend("/usr/bin::/bin", ["/opt/x"], "PATH") == "/opt/x:/usr/bin::/bin"
