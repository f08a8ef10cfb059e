"""Checking an organisation's template before anything opens it, and keeping only what a
report template has any business carrying.

A .docx is a zip of parts. A small upload can hold a part that inflates to gigabytes (a
1.5 MB template once held 1.5 GB), an XML part can declare entities that expand without
end or read files from the server (a DTD), and Word files can carry macros, ActiveX
controls, embedded programs and a remote "attached template" Word fetches on opening.
So, before python-docx sees a template:

- sizes are checked from the zip's directory (each part, the total, how tightly a part is
  packed, how many parts) and counted again while reading, never reading past the bound;
- every XML part is parsed with entities and DTDs off, and a DOCTYPE anywhere refuses it;
- macros, ActiveX, embedded objects, unknown binary parts and external relationships
  other than plain links are dropped, with whatever in the XML points at them.

Pure: bytes in, bytes out (or TemplateError saying why).
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass
from io import BytesIO

from lxml import etree

MB = 1 << 20
CHUNK = 64 * 1024
CONTENT_TYPES = "[Content_Types].xml"
_CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_RELS_CT = "application/vnd.openxmlformats-package.relationships+xml"
# XML parts that are programs or controls, not content.
_REFUSED_XML = frozenset({
    "application/vnd.ms-office.activeX+xml",
    "application/vnd.ms-word.vbaData+xml",
    "application/vnd.ms-word.keyMapCustomizations+xml",
    "application/xhtml+xml",  # an alternative-format chunk Word imports as content
})
_FONTS = frozenset({"application/vnd.openxmlformats-officedocument.obfuscatedFont"})
# Relationships to what a template has no business carrying; their targets go too.
_DROPPED_RELATIONSHIPS = ("/oleObject", "/package", "/control", "/aFChunk", "/vbaProject",
                          "/attachedTemplate", "/subDocument", "/activeXControlBinary",
                          "/wordVbaData", "/keyMapCustomizations", "/attachedToolbars")
_LINK = "/hyperlink"  # the one kind of external relationship kept: a link in the text
_OPEN = ("The report template could not be opened: save it from Word as a .docx document "
         "(not .dotx, .docm or .doc).")


class TemplateError(ValueError):
    """The template is not a Word .docx file that can safely be used; says why."""


@dataclass(frozen=True)
class Limits:
    """Bounds on a template's parts once unpacked (a real letterhead is well under)."""

    part: int = 25 * MB
    total: int = 60 * MB
    parts: int = 1000
    ratio: int = 100  # unpacked ÷ packed, for parts above `ratio_from`
    ratio_from: int = 512 * 1024


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          dtd_validation=False, huge_tree=False)


def make_safe(content: bytes, limits: Limits = Limits()) -> bytes:
    """The template with only safe parts (unchanged if it had nothing to drop); raises
    TemplateError with what is wrong with it."""
    try:
        zf = zipfile.ZipFile(BytesIO(content))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise TemplateError(f"{_OPEN} ({exc})") from exc
    with zf:
        infos = _checked_directory(zf, limits)
        types = _content_types(_parse(CONTENT_TYPES, _read(zf, infos[CONTENT_TYPES], limits)))
        package = _Package(zf, infos, types, limits)
        return package.rebuilt()


def _checked_directory(zf: zipfile.ZipFile, limits: Limits) -> dict[str, zipfile.ZipInfo]:
    infos = [i for i in zf.infolist() if not i.is_dir()]
    if len(infos) > limits.parts:
        raise TemplateError(f"The report template has too many parts ({len(infos):,}; a Word "
                            f"document has a few dozen). Save it again from Word.")
    by_name: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        if info.filename in by_name:
            raise TemplateError(f"{_OPEN} (the part {info.filename} appears twice)")
        if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED,
                                                               zipfile.ZIP_DEFLATED):
            raise TemplateError(f"{_OPEN} ({info.filename} is encrypted or packed in a way "
                                "Word does not use)")
        if info.file_size > limits.part:
            raise _too_large(info.filename)
        total += info.file_size
        if total > limits.total:
            raise _too_large("its parts together")
        if info.file_size > limits.ratio_from and \
                info.file_size > limits.ratio * max(info.compress_size, 1):
            raise TemplateError(
                f"The report template's part {info.filename} is compressed "
                f"{info.file_size // max(info.compress_size, 1):,} times over, the way "
                "files built to exhaust a server are; Word does not do that. Save the "
                "template again from Word, without it.")
        by_name[info.filename] = info
    if CONTENT_TYPES not in by_name:
        raise TemplateError(f"{_OPEN} (it has no {CONTENT_TYPES})")
    return by_name


def _too_large(what: str) -> TemplateError:
    return TemplateError(f"The report template is too large when unpacked ({what}): remove "
                         "large images or embedded files from it and save it again.")


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> bytes:
    """The part's bytes, counted as they are inflated: never more than its declared size
    nor the bound, whatever the headers say."""
    bound = min(info.file_size, limits.part)
    chunks, count = [], 0
    try:
        with zf.open(info) as stream:
            while chunk := stream.read(CHUNK):
                count += len(chunk)
                if count > bound:
                    raise _too_large(info.filename)
                chunks.append(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError,
            ValueError) as exc:
        if isinstance(exc, TemplateError):
            raise
        raise TemplateError(f"{_OPEN} ({info.filename}: {exc})") from exc
    return b"".join(chunks)


def _parse(name: str, data: bytes) -> etree._Element:
    """An XML part with entities and DTDs off; a DOCTYPE (how XXE and "billion laughs"
    attacks start, and never written by Word) refuses the template."""
    doctype = TemplateError(
        f"The report template's part {name} has a document type declaration (DOCTYPE), "
        "which Word never writes and which is used to attack servers. Save the template "
        "again from Word.")
    if b"<!doctype" in data[:8192].lower():
        raise doctype
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise TemplateError(f"{_OPEN} ({name} is not well-formed XML: {exc})") from exc
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise doctype
    return root


def _content_types(root: etree._Element) -> tuple[dict[str, str], dict[str, str]]:
    defaults = {d.get("Extension", "").lower(): d.get("ContentType", "")
                for d in root.iter(f"{{{_CT_NS}}}Default")}
    overrides = {o.get("PartName", "").lstrip("/"): o.get("ContentType", "")
                 for o in root.iter(f"{{{_CT_NS}}}Override")}
    return defaults, overrides


def _is_xml(content_type: str) -> bool:
    return content_type.endswith("+xml") or content_type in ("application/xml", "text/xml")


def _allowed(content_type: str | None) -> bool:
    if not content_type:
        return False
    if _is_xml(content_type):
        return content_type not in _REFUSED_XML
    return content_type.startswith("image/") or content_type in _FONTS


def _rels_source(rels_name: str) -> str:
    """'word/_rels/document.xml.rels' -> 'word/document.xml'; '_rels/.rels' -> ''."""
    folder, file = posixpath.split(rels_name)
    return posixpath.join(posixpath.dirname(folder), file.removesuffix(".rels"))


def _target(source: str, target: str) -> str:
    if target.startswith("/"):
        return posixpath.normpath(target.lstrip("/"))
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))


class _Package:
    """The template's parts, what to drop, and the XML changed to match."""

    def __init__(self, zf: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo],
                 types: tuple[dict[str, str], dict[str, str]], limits: Limits) -> None:
        self.zf, self.infos, self.limits = zf, infos, limits
        self.defaults, self.overrides = types
        self.raw: dict[str, bytes] = {}
        self.xml: dict[str, etree._Element] = {}
        self.changed: set[str] = set()
        self.dropped = {name for name in infos
                        if name != CONTENT_TYPES and not self._is_rels(name)
                        and not _allowed(self.content_type(name))}

    def content_type(self, name: str) -> str | None:
        return self.overrides.get(name) or self.defaults.get(
            posixpath.splitext(name)[1].lstrip(".").lower())

    @staticmethod
    def _is_rels(name: str) -> bool:
        return name.endswith(".rels") and "/_rels/" in f"/{name}"

    def _load(self, name: str) -> etree._Element | None:
        if name not in self.xml:
            self.raw[name] = _read(self.zf, self.infos[name], self.limits)
            ct = self.content_type(name) or ""
            if self._is_rels(name) or name == CONTENT_TYPES or _is_xml(ct):
                self.xml[name] = _parse(name, self.raw[name])
        return self.xml.get(name)

    def rebuilt(self) -> bytes:
        rels = sorted(n for n in self.infos if self._is_rels(n))
        cut: dict[str, set[str]] = {}  # source part -> relationship ids removed
        for name in rels:  # relationships first: they decide what else goes
            source = _rels_source(name)
            if source in self.dropped:
                continue
            cut[source] = self._prune_relationships(name, source)
        for name in rels:
            if _rels_source(name) in self.dropped:
                self.dropped.add(name)
        for name in self.infos:
            if name in self.dropped:
                continue
            root = self._load(name)
            if root is not None and cut.get(name) and self._unhook(root, cut[name]):
                self.changed.add(name)
        self._prune_content_types()
        out = BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in self.infos:
                if name in self.dropped:
                    continue
                data = self.raw[name] if name not in self.changed else etree.tostring(
                    self.xml[name], xml_declaration=True, encoding="UTF-8", standalone=True)
                zf.writestr(name, data)
        return out.getvalue()

    def _prune_relationships(self, rels_name: str, source: str) -> set[str]:
        root = self._load(rels_name)
        removed: set[str] = set()
        for rel in list(root.iter(f"{{{_RELS_NS}}}Relationship")):
            kind = rel.get("Type", "")
            external = rel.get("TargetMode") == "External"
            target = None if external else _target(source, rel.get("Target", ""))
            if external:
                drop = not kind.endswith(_LINK)
            else:
                drop = kind.endswith(_DROPPED_RELATIONSHIPS) or target in self.dropped
            if drop:
                if target is not None and target in self.infos:
                    self.dropped.add(target)
                removed.add(rel.get("Id", ""))
                rel.getparent().remove(rel)
        if removed:
            self.changed.add(rels_name)
        return removed

    @staticmethod
    def _unhook(root: etree._Element, ids: set[str]) -> bool:
        """Take out whatever points at a removed relationship: an image's remote link
        loses the link; anything else (an OLE object, a control, the attached template)
        goes."""
        hit = False
        for element in list(root.iter()):
            if not isinstance(element.tag, str):
                continue
            for attribute, value in list(element.attrib.items()):
                if not attribute.startswith(f"{{{_R_NS}}}") or value not in ids:
                    continue
                hit = True
                if attribute == f"{{{_R_NS}}}link":
                    del element.attrib[attribute]
                elif element.getparent() is not None:
                    element.getparent().remove(element)
                    break
        return hit

    def _prune_content_types(self) -> None:
        root = self.xml[CONTENT_TYPES] if CONTENT_TYPES in self.xml else self._load(
            CONTENT_TYPES)
        for override in list(root.iter(f"{{{_CT_NS}}}Override")):
            if override.get("PartName", "").lstrip("/") in self.dropped:
                root.remove(override)
                self.changed.add(CONTENT_TYPES)
