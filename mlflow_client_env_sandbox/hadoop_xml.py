"""Write Hadoop ``*-site.xml`` files from plain mappings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from xml.sax.saxutils import escape


def render_configuration(props: Mapping[str, str]) -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<configuration>"]
    for key, value in props.items():
        lines.append(
            f"  <property><name>{escape(key)}</name><value>{escape(value)}</value></property>"
        )
    lines.append("</configuration>")
    return "\n".join(lines) + "\n"


def write_configuration(path: Path, props: Mapping[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_configuration(props), encoding="utf-8")
    return path
