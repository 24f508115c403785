"""hadoop.conf.site_xml_properties: Hadoop's XML files read with expat directly (no
defusedxml at import time: issue 10's cold path), compared with what ElementTree's
``iter('property')``/``findtext`` reads from the same bytes, and refusing what defusedxml
refuses by default (entity declarations, external entities)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mlflow_client_env.errors import ConfigFileError
from mlflow_client_env.hadoop.conf import parse_site_xml, site_xml_properties
from tests import trees

DOCS = [
    b'<?xml version="1.0"?><?xml-stylesheet type="text/xsl" href="configuration.xsl"?>'
    b"<configuration><property><name>fs.defaultFS</name><value>hdfs://ns1</value>"
    b"<final>true</final></property></configuration>",
    # whitespace, comments, CDATA, a description, an empty value, a property without a name
    b"<configuration>\n  <!-- c -->\n  <property>\n    <name> a.b </name>\n"
    b"    <value><![CDATA[x<y>&z]]></value>\n    <description>d</description>\n"
    b"  </property>\n  <property><name>e</name><value/></property>\n"
    b"  <property><value>orphan</value></property>\n</configuration>",
    # a second <name>/<value> child: the first counts, as findtext finds it
    b"<configuration><property><name>k</name><name>k2</name><value>1</value>"
    b"<value>2</value></property></configuration>",
    # nested wrappers, an xi:include element, character references, non-ASCII
    b'<configuration xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="x.xml"/>'
    b"<group><property><name>n&#233;</name><value>v&amp;w \xc3\xa9</value></property>"
    b"</group></configuration>",
    # a DOCTYPE without declarations: allowed, as defusedxml allows it
    b"<!DOCTYPE configuration><configuration><property><name>d</name><value>1</value>"
    b"</property></configuration>",
]


def etree_properties(data: bytes) -> dict[str, str]:
    props: dict[str, str] = {}
    for prop in ET.fromstring(data).iter("property"):
        name = prop.findtext("name")
        if name:
            props[name.strip()] = (prop.findtext("value") or "").strip()
    return props


@pytest.mark.parametrize("data", DOCS, ids=range(len(DOCS)))
def test_same_properties_as_elementtree(data: bytes) -> None:
    assert site_xml_properties(data) == etree_properties(data)


def test_real_client_configurations_read_the_same(tmp_path: Path) -> None:
    conf = trees.make_conf(tmp_path / "conf")
    for f in sorted(conf.glob("*.xml")):
        data = f.read_bytes()
        assert site_xml_properties(data) == etree_properties(data), f
        assert parse_site_xml(f) == etree_properties(data)


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b'<!DOCTYPE c [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><c>&b;</c>', "entity"),
        (b'<!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/passwd">]><c>&x;</c>', "entity"),
        (b'<!DOCTYPE c [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><c/>', "entity"),
        (b'<!DOCTYPE c [<!ENTITY u SYSTEM "x" NDATA gif>]><c/>', "entity"),
    ],
)
def test_entities_are_refused_before_expansion(tmp_path: Path, data: bytes, what: str) -> None:
    f = tmp_path / "core-site.xml"
    f.write_bytes(data)
    with pytest.raises(ConfigFileError, match=f"forbidden XML construct \\(an {what}"):
        parse_site_xml(f)


def test_malformed_is_typed_with_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "hdfs-site.xml"
    f.write_bytes(b"<configuration>\n<property>\n<name>x</nme>\n")
    with pytest.raises(ConfigFileError, match=r"not well-formed XML \(line 3, column \d+\)"):
        parse_site_xml(f)


def test_an_entity_declared_in_an_unread_dtd_is_refused(tmp_path: Path) -> None:
    """ElementTree refuses an undefined entity; expat skips it unless told: refused too."""
    f = tmp_path / "core-site.xml"
    f.write_bytes(
        b'<!DOCTYPE c SYSTEM "x.dtd"><c><property><name>k</name><value>&e;</value></property></c>'
    )
    with pytest.raises(ConfigFileError, match="forbidden XML construct \\(an undefined entity"):
        parse_site_xml(f)


def test_a_file_parsed_again_is_read_again_and_never_shared(tmp_path: Path) -> None:
    """parse_site_xml keeps the parse of bytes it has seen (a warm setup() reads the same
    two files again): a changed file gives its new pairs, a caller's change to its dict
    never reaches the next caller, and a refused file is refused every time."""
    site = tmp_path / "core-site.xml"
    site.write_bytes(DOCS[0])
    for _ in range(3):  # the first parse, then the kept one, each changed by its caller
        got = parse_site_xml(site)
        assert got == {"fs.defaultFS": "hdfs://ns1"}
        got["fs.defaultFS"] = "changed by the caller"
        got["extra"] = "x"
    site.write_bytes(DOCS[0].replace(b"hdfs://ns1", b"hdfs://ns2"))  # same size, new value
    assert parse_site_xml(site) == {"fs.defaultFS": "hdfs://ns2"}
    site.write_bytes(DOCS[0])
    assert parse_site_xml(site) == {"fs.defaultFS": "hdfs://ns1"}
    bomb = b'<!DOCTYPE c [<!ENTITY a "b">]><configuration/>'
    site.write_bytes(bomb)
    for _ in range(2):
        with pytest.raises(ConfigFileError, match="forbidden"):
            parse_site_xml(site)
