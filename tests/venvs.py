"""Real Python environments for tests: this venv's packages, all but some (links, nothing
copied), to see how a tool behaves where a package is not installed."""

from __future__ import annotations

import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path


def python_without(home: Path, leave_out: Callable[[str], bool], missing: str) -> Path:
    """A venv at ``home`` with a link to every entry of this venv's site-packages whose name
    ``leave_out`` does not pick; its python, checked to find no module ``missing``."""
    venv.EnvBuilder(with_pip=False).create(home)
    python = home / "bin/python"
    ask = "import site; print(site.getsitepackages()[0])"
    site = Path(subprocess.check_output([python, "-c", ask], text=True).strip())
    ours = Path(subprocess.check_output([sys.executable, "-c", ask], text=True).strip())
    for entry in ours.iterdir():
        if not leave_out(entry.name.lower()):
            (site / entry.name).symlink_to(entry)
    check = f"import importlib.util as u; print(u.find_spec({missing!r}) is None)"
    assert subprocess.check_output([python, "-c", check], text=True).split() == ["True"]
    return python
