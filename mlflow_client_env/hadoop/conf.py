"""The Hadoop client configuration: which conf dir, and the few keys that matter.

libhdfs finds ``core-site.xml`` only through CLASSPATH (catalog B4, B5), so the
conf dir goes first on it, and we read ``fs.defaultFS``, the nameservices and
the authentication mode to explain and check the chain. The XML is parsed with
expat, with DTDs and entities refused: these files come from outside our control.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from ..errors import ConfigFileError, setting
from ..records import record
from ..safeio import read_small

DEFAULT_CONF_DIR = "/etc/hadoop/conf"
SITE_FILES = ("core-site.xml", "hdfs-site.xml")
#: The NameNode RPC port an ``hdfs://host`` URI without one means.
DEFAULT_NAMENODE_PORT = 8020
#: The key whose presence makes the client treat ``hdfs://<name>`` as a logical (HA) name.
FAILOVER_PROVIDER = "dfs.client.failover.proxy.provider."

_HDFS_URI = re.compile(
    r"^hdfs://(?:[^/@]*@)?(?P<host>\[[^\]/]*\]|[^/:?#]+)(?::(?P<port>\d*))?", re.I
)


def hdfs_authority(uri: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of an ``hdfs://`` URI (the host as written: a nameservice ID is
    case-sensitive), port None when the URI gives none; None for any other URI."""
    m = _HDFS_URI.match(uri.strip())
    if not m:
        return None
    port = m.group("port")
    return m.group("host"), int(port) if port else None


def is_logical_name(host: str) -> bool:
    """Whether Hadoop can only resolve ``host`` through the client configuration: one label
    (no dot), not ``localhost``, not an address. Such a name is an HA nameservice; a host
    name with dots (or an address) goes to DNS."""
    h = host.strip("[]")
    return (
        bool(h) and "." not in h and ":" not in h and h.lower() != "localhost" and not (h.isdigit())
    )


def _address(text: str) -> tuple[str, int] | None:
    """``("nn1.example.com", 8020)`` from a ``host:port`` value (the port defaults)."""
    text = text.strip()
    if not text:
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return text, DEFAULT_NAMENODE_PORT
    return host, int(port)


@record
class HadoopConf:
    """A client configuration directory and its parsed properties."""

    conf_dir: Path
    source: str
    properties: Mapping[str, str]
    files: tuple[Path, ...]
    evidence: tuple[str, ...] = ()

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.properties.get(key, default)

    @property
    def default_fs(self) -> str | None:
        return self.get("fs.defaultFS") or self.get("fs.default.name")

    @property
    def authentication(self) -> str:
        return (self.get("hadoop.security.authentication") or "simple").strip().lower()

    @property
    def kerberos(self) -> bool:
        return self.authentication == "kerberos"

    @property
    def nameservices(self) -> tuple[str, ...]:
        return self._list("dfs.nameservices")

    def _list(self, key: str) -> tuple[str, ...]:
        raw = self.get(key) or ""
        return tuple(s.strip() for s in raw.split(",") if s.strip())

    def namenode_ids(self, nameservice: str) -> tuple[str, ...]:
        return self._list(f"dfs.ha.namenodes.{nameservice}")

    def nameservice_gaps(self, nameservice: str) -> tuple[str, ...]:
        """What this configuration lacks for a client to reach ``hdfs://<nameservice>``;
        empty when nothing. Hadoop's client needs all of: a failover proxy provider for the
        name (without one it looks the name up in DNS: ``UnknownHostException``), the name
        in ``dfs.nameservices``, its NameNode IDs and each one's RPC address (without them:
        "Could not find any configured addresses for URI")."""
        gaps = []
        if not self.get(FAILOVER_PROVIDER + nameservice):
            gaps.append(f"no {FAILOVER_PROVIDER}{nameservice}")
        if nameservice not in self.nameservices:
            gaps.append(
                f"dfs.nameservices={','.join(self.nameservices)} does not list it"
                if self.nameservices
                else "no dfs.nameservices"
            )
        ids = self.namenode_ids(nameservice)
        if not ids:
            gaps.append(f"no dfs.ha.namenodes.{nameservice}")
        gaps += [
            f"no dfs.namenode.rpc-address.{nameservice}.{nn}"
            for nn in ids
            if not self.get(f"dfs.namenode.rpc-address.{nameservice}.{nn}")
        ]
        return tuple(gaps)

    def namenode_addresses(self, uri: str) -> tuple[tuple[str, int], ...]:
        """The NameNode RPC addresses a client with this configuration connects to for an
        ``hdfs://`` URI: a nameservice's NameNodes, or the URI's own host and port."""
        authority = hdfs_authority(uri)
        if authority is None:
            return ()
        host, port = authority
        if port is None and self.get(FAILOVER_PROVIDER + host):
            found = (
                _address(self.get(f"dfs.namenode.rpc-address.{host}.{nn}") or "")
                for nn in self.namenode_ids(host)
            )
            return tuple(a for a in found if a is not None)
        return ((host, port or DEFAULT_NAMENODE_PORT),)

    def known_namenodes(self) -> tuple[tuple[str, int], ...]:
        """Every NameNode RPC address this configuration names: fs.defaultFS's, each
        nameservice's, and a plain ``dfs.namenode.rpc-address``."""
        out: list[tuple[str, int]] = []
        if self.default_fs:
            out += self.namenode_addresses(self.default_fs)
        for ns in self.nameservices:
            out += self.namenode_addresses(f"hdfs://{ns}")
            plain = _address(self.get(f"dfs.namenode.rpc-address.{ns}") or "")
            out += [plain] if plain else []
        plain = _address(self.get("dfs.namenode.rpc-address") or "")
        out += [plain] if plain else []
        return tuple(dict.fromkeys((h.lower(), p) for h, p in out))


class _Forbidden(Exception):
    """A DTD or an entity in a Hadoop XML file (internal: becomes a ConfigFileError)."""


def _forbid(what: str) -> Callable[..., None]:
    def handler(*_: object) -> None:
        raise _Forbidden(what)

    return handler


def _external_entity(*_: object) -> int:
    raise _Forbidden("an external entity")


def site_xml_properties(data: bytes) -> dict[str, str]:
    """The ``<property><name/><value/></property>`` pairs of a Hadoop XML file's text.

    Parsed with expat directly (streaming: no tree, no recursion), with defusedxml's
    default rules for ElementTree: an entity declaration or an external entity reference
    is refused (``_Forbidden``) before anything is expanded, and no external DTD is read,
    so neither an entity bomb nor an external entity gets in (Hadoop's own files have
    none). ``name``/``value``: the text of the first such child, as ElementTree's
    ``findtext`` gives it. Not defusedxml itself: its ElementTree costs ~4 ms to import, a fifth
    of a cold ``setup()`` in a notebook (issue 10), for files this simple.
    """
    # no XML parser until a file must be read (issue 10); ``pyexpat`` is the module that
    # ``xml.parsers.expat`` re-exports, imported as itself: the three wrapper modules of the
    # ``xml`` package were another ~0.3 ms of a cold setup()
    import pyexpat as expat

    parser = expat.ParserCreate()
    parser.EntityDeclHandler = _forbid("an entity declaration")
    parser.UnparsedEntityDeclHandler = _forbid("an entity declaration")
    parser.ExternalEntityRefHandler = _external_entity
    # an entity declared nowhere we read (a DTD we do not load): ElementTree refuses it
    parser.SkippedEntityHandler = _forbid("an undefined entity")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True  # one text call per run of text, not per line or entity
    props: dict[str, str] = {}
    stack: list[str] = []
    # per open <property>: its name and value text so far (None: no such child yet)
    fields: list[dict[str, list[str]]] = []

    def start(tag: str, _attrs: object) -> None:
        if tag == "property":
            fields.append({})
        elif tag in ("name", "value") and stack and stack[-1] == "property":
            if tag in fields[-1]:  # only the first <name>/<value> child counts
                tag = f"{tag}:again"
            else:
                fields[-1][tag] = []
        stack.append(tag)

    def end(tag: str) -> None:
        tag = stack.pop()
        if tag == "property":
            got = fields.pop()
            name = "".join(got.get("name", ())).strip()
            if name:
                props[name] = "".join(got.get("value", ())).strip()

    def text(data: str) -> None:
        if len(stack) >= 2 and stack[-2] == "property" and stack[-1] in ("name", "value"):
            fields[-1][stack[-1]].append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.Parse(data, True)
    return props


#: Parsed files by their bytes: the file is read every time (a changed file is never
#: missed), only the parse is saved when the bytes are the same (a warm ``setup()`` reads
#: core-site.xml and hdfs-site.xml again; expat was a quarter of its time). Bounded.
_PARSED: dict[bytes, dict[str, str]] = {}
PARSED_MAX_FILES = 16
PARSED_MAX_BYTES = 1 << 20


def parse_site_xml(path: Path) -> dict[str, str]:
    """``<property><name/><value/></property>`` pairs of one Hadoop XML file (a new dict
    each time: the caller may change it)."""
    from pyexpat import ExpatError  # xml.parsers.expat.ExpatError (see site_xml_properties)

    redeploy = (
        "re-deploy the client configuration from Cloudera Manager (Actions > Deploy "
        f"Client Configuration), or point {setting('hadoop_conf_dir')} at a good copy"
    )
    data = read_small(path, redeploy)
    if data is None:
        raise ConfigFileError(f"{path} does not exist", redeploy)
    known = _PARSED.get(data)
    if known is not None:  # the same bytes as a parse before: the same pairs
        return dict(known)
    try:
        props = site_xml_properties(data)
    except ExpatError as exc:
        raise ConfigFileError(
            f"{path} is not well-formed XML (line {exc.lineno}, column {exc.offset})", redeploy
        ) from None
    except _Forbidden as exc:
        raise ConfigFileError(
            f"{path} uses a forbidden XML construct ({exc})",
            "Hadoop config files need no DTDs or entities: re-deploy the client configuration",
        ) from None
    if len(data) <= PARSED_MAX_BYTES:
        if len(_PARSED) >= PARSED_MAX_FILES:
            _PARSED.clear()
        _PARSED[data] = dict(props)
    return props


def conf_dir_candidates(
    explicit: tuple[str, str] | None, env: Mapping[str, str], install_default: Path | None
) -> list[tuple[Path, str]]:
    out: list[tuple[Path, str]] = []
    if explicit:
        out.append((Path(explicit[0]), explicit[1]))
    if env.get("HADOOP_CONF_DIR"):
        out.append((Path(env["HADOOP_CONF_DIR"]), "HADOOP_CONF_DIR"))
    out.append((Path(DEFAULT_CONF_DIR), "default client configuration"))
    if install_default:
        out.append((install_default, "the installation's own etc/hadoop"))
    return out


def read_conf_dir(conf_dir: Path, source: str) -> HadoopConf:
    evidence = [f"{source}: {conf_dir}"]
    real = Path(os.path.realpath(conf_dir))
    if real != conf_dir:
        evidence.append(f"{conf_dir} -> {real} (alternatives)")
    props: dict[str, str] = {}
    files = []
    for name in SITE_FILES:
        f = conf_dir / name
        if os.path.lexists(f):  # not is_file(): a FIFO or a dangling link is an error, not absent
            props.update(parse_site_xml(f))
            files.append(f)
    evidence.append("read " + (", ".join(f.name for f in files) or "no *-site.xml files"))
    return HadoopConf(conf_dir, source, MappingProxyType(props), tuple(files), tuple(evidence))


def discover_conf(
    explicit: tuple[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    install_default: Path | None = None,
) -> HadoopConf | None:
    """The first existing conf dir among: explicit, HADOOP_CONF_DIR, /etc/hadoop/conf.

    An explicit directory that does not exist is an error; None means nothing
    was found at all (the caller reports it).
    """
    env = os.environ if env is None else env
    for path, source in conf_dir_candidates(explicit, env, install_default):
        if path.is_dir():
            return read_conf_dir(path, source)
        if explicit and source == explicit[1]:
            raise ConfigFileError(
                f"{source}: the Hadoop configuration directory {path} does not exist",
                "pass the folder that holds core-site.xml and hdfs-site.xml "
                "(on Cloudera edge nodes /etc/hadoop/conf)",
            )
    return None
