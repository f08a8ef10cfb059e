"""Reading generated reports back with python-docx, for assertions."""

from __future__ import annotations

from io import BytesIO

from docx import Document
from docx.document import Document as DocumentType
from docx.oxml.ns import qn
from docx.table import Table


def text_of(element) -> str:
    return "".join(t.text or "" for t in element.iter(qn("w:t")))


def open_report(data: bytes) -> DocumentType:
    assert data[:2] == b"PK", "not a .docx (zip) file"
    return Document(BytesIO(data))


def headings(doc: DocumentType, level: int = 1) -> list[str]:
    style = f"Heading {level}"
    return [p.text for p in doc.paragraphs if p.style.name == style]


def title(doc: DocumentType) -> str:
    return next(p.text for p in doc.paragraphs if p.style.name == "Title")


def all_text(doc: DocumentType) -> str:
    """Every piece of text in the body, tables included, in document order."""
    return "\n".join(t.text or "" for t in doc.element.body.iter(qn("w:t")))


def header_footer_xml(doc: DocumentType) -> tuple[str, str]:
    section = doc.sections[0]
    return section.header._element.xml, section.footer._element.xml


def table_after(doc: DocumentType, heading: str) -> Table:
    """The first table after the Heading 1 with this text."""
    body = doc.element.body
    seen = False
    for child in body.iterchildren():
        if child.tag == qn("w:p") and text_of(child) == heading:
            seen = True
        elif seen and child.tag == qn("w:tbl"):
            return Table(child, doc)
    raise AssertionError(f"no table after {heading!r}")


def rows(table: Table) -> list[list[str]]:
    return [[cell.text for cell in row.cells] for row in table.rows]


def is_header_row(table: Table) -> bool:
    tr_pr = table.rows[0]._tr.trPr
    return tr_pr is not None and tr_pr.find(qn("w:tblHeader")) is not None
