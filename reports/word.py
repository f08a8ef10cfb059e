"""Small helpers every builder uses to put text, tables, links and fields into Word.

All user-written text goes in through python-docx text APIs after `text.clean`, never as
raw XML. Table rows are copies of one blank styled row, filled through the new `w:tr`:
`table.cell()` and `table.rows[i]` walk the whole table on every call (quadratic on a long
timeline), and `add_row()` plus a style lookup per cell cost three times the text itself.
"""

from __future__ import annotations

import weakref
import zipfile
from collections.abc import Iterable, Sequence
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from io import BytesIO

from docx import Document as open_docx
from docx.document import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_TAB_ALIGNMENT
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor, Twips
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from docx.text.run import Run

from reports import styles
from reports.template_safety import TemplateError, make_safe
from reports.text import clean, one_line

SAFE_SCHEMES = ("https://", "http://", "mailto:")
_TC, _P = qn("w:tc"), qn("w:p")


@dataclass(frozen=True)
class Span:
    """A piece of cell or paragraph text with its own emphasis, or a link."""

    text: str
    bold: bool = False
    italic: bool = False
    url: str = ""


Rich = str | Span | Sequence[Span]


def open_document(template: bytes | None) -> Document:
    """The organisation's template, or the built-in look, with the report's styles."""
    return open_docx(BytesIO(_prepared(template)))


@lru_cache(maxsize=4)
def _prepared(template: bytes | None) -> bytes:
    """The template with the report's styles in place, saved once per template: opening
    these bytes costs less than half of opening the template and adding the styles, which
    was half of building a short report. A template is made safe first
    (reports/template_safety.py), however it got here."""
    if template is None:
        doc = open_docx()
        styles.apply_house_style(doc)
        return to_bytes(doc)
    safe = make_safe(template)
    try:
        doc = open_docx(BytesIO(safe))
    except TemplateError:
        raise
    except (ValueError, KeyError, zipfile.BadZipFile, PackageNotFoundError) as exc:
        raise TemplateError(
            "The report template could not be opened: save it from Word as a .docx "
            f"document (not .dotx, .docm or .doc). ({exc})") from exc
    styles.ensure_styles(doc)
    return to_bytes(doc)


def to_bytes(doc: Document) -> bytes:
    out = BytesIO()
    doc.save(out)
    return out.getvalue()


def write(paragraph: Paragraph, content: Rich) -> Paragraph:
    """Append text (a str, a Span or several) to a paragraph; "\\n" becomes a line break."""
    spans = (Span(content),) if isinstance(content, str) else (
        (content,) if isinstance(content, Span) else content)
    for span in spans:
        if span.url:
            _link(paragraph, span)
            continue
        run = paragraph.add_run(clean(span.text))
        if span.bold:
            run.bold = True
        if span.italic:
            run.italic = True
    return paragraph


_style_ids: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def style_id(doc: Document, name: str, kind=WD_STYLE_TYPE.PARAGRAPH) -> str | None:
    """The id for a style name, looked up once per document. python-docx looks it up on
    every `paragraph.style = name`, scanning all of the template's styles for the
    default each time: a third of building a short report. (Naming the default style
    explicitly, as this may, looks the same in Word.)"""
    ids = _style_ids.setdefault(doc.part, {})
    if (name, kind) not in ids:
        style = doc.styles[name]
        if style.type != kind:
            raise ValueError(f"{name!r} is not a {kind} style")
        ids[name, kind] = style.style_id
    return ids[name, kind]


def styled(doc: Document, style: str | None) -> Paragraph:
    """A new paragraph at the end of the document, in `style`."""
    added = doc.add_paragraph()
    if style is not None:
        added._p.style = style_id(doc, style)
    return added


def paragraph(doc: Document, content: Rich = "", style: str | None = None) -> Paragraph:
    return write(styled(doc, style), content)


def aside(doc: Document, text: str, *, after_table: bool = False) -> Paragraph:
    """An italic note: "nothing recorded yet", or how to read the table above."""
    p = paragraph(doc, Span(text, italic=True))
    if after_table:
        p.paragraph_format.space_before = Pt(6)
    return p


def heading(doc: Document, text: str, level: int = 1) -> Paragraph:
    return write(styled(doc, "Title" if level == 0 else f"Heading {level}"), one_line(text))


def prose(doc: Document, text: str, empty: str = "", *, after_table: bool = False) -> None:
    """Free text as paragraphs: blank lines split paragraphs, single newlines break lines.

    `after_table` adds the space Word does not leave below a table.
    """
    blocks = [b.strip() for b in clean(text).split("\n\n") if b.strip()]
    written = [paragraph(doc, block) for block in blocks]
    if not written and empty:
        written = [aside(doc, empty)]
    if written and after_table:
        written[0].paragraph_format.space_before = Pt(10)


def bullets(doc: Document, items: Iterable[Rich], empty: str = "") -> None:
    items = [i for i in items if i]
    if not items and empty:
        aside(doc, empty)
    for item in items:
        paragraph(doc, item, style="List Bullet")


def notice(doc: Document, text: str) -> Paragraph:
    return paragraph(doc, text, style=styles.NOTICE)


def table(doc: Document, widths: Sequence[float], rows: Iterable[Sequence[Rich]],
          headers: Sequence[str] = (), *, key_column: bool = False) -> Table:
    """A full-width table in the report's table style; its header row repeats on each page.

    `widths` are the columns' proportions (cm on the built-in A4 page; scaled to the
    template's margins). `key_column` makes a "label: value" table, first column emphasised.
    """
    section = doc.sections[-1]
    available = section.page_width - section.left_margin - section.right_margin
    twips = [int(Cm(w).twips * available / Cm(sum(widths))) for w in widths]
    tbl = doc.add_table(rows=0, cols=len(widths))
    tbl._tbl.tblStyle_val = style_id(doc, styles.TABLE, WD_STYLE_TYPE.TABLE)
    tbl.alignment = WD_TABLE_ALIGNMENT.LEFT
    _fixed_layout(tbl, twips, header=bool(headers), key_column=key_column)
    blank = _blank_row(tbl, doc.styles[styles.TABLE_TEXT].style_id)
    if headers:
        tr = _add_row(tbl, blank, [one_line(h) for h in headers])
        tr.trPr.append(OxmlElement("w:tblHeader"))
    for values in rows:
        _add_row(tbl, blank, values)
    return tbl


def _blank_row(tbl: Table, text_style: str):
    """An empty row, each cell's paragraph in the table text style, kept on one page."""
    tr = tbl.add_row()._tr
    tr.getparent().remove(tr)
    tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
    for tc in tr.tc_lst:
        tc.p_lst[0].style = text_style
    return tr


def _add_row(tbl: Table, blank, values: Sequence[Rich]):
    tr = deepcopy(blank)
    tbl._tbl.append(tr)
    for tc, value in zip(tr.iterchildren(_TC), values, strict=True):
        write(Paragraph(tc.find(_P), _Cell(tc, tbl)), value)
    return tr


def _fixed_layout(tbl: Table, twips: Sequence[int], *, header: bool, key_column: bool) -> None:
    tbl.autofit = False
    tbl_pr = tbl._tbl.tblPr
    tbl_w = tbl_pr.find(qn("w:tblW"))
    tbl_w.set(qn("w:type"), "dxa")
    tbl_w.set(qn("w:w"), str(sum(twips)))
    look = tbl_pr.find(qn("w:tblLook"))
    look.set(qn("w:firstRow"), "1" if header else "0")
    look.set(qn("w:firstColumn"), "1" if key_column else "0")
    look.set(qn("w:noHBand"), "1" if key_column else "0")
    # LibreOffice reads the bitmask, Word the attributes: keep them in step.
    bits = 0x0400 | (0x0020 if header else 0) | (0x0280 if key_column else 0)
    look.set(qn("w:val"), f"{bits:04X}")
    for col, width in zip(tbl.columns, twips, strict=True):
        col.width = Twips(width)


def _link(paragraph: Paragraph, span: Span) -> None:
    """A clickable link for web and mail addresses; anything else stays plain text."""
    url = one_line(span.url)
    text = clean(span.text) or url
    if not url.lower().startswith(SAFE_SCHEMES):
        paragraph.add_run(f"{text} ({url})" if text != url else text)
        return
    rel_id = paragraph.part.relate_to(url, RT.HYPERLINK, is_external=True)
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), rel_id)
    r = OxmlElement("w:r")
    link.append(r)
    paragraph._p.append(link)
    run = Run(r, paragraph)
    run.text = text
    run.font.underline = True
    run.font.color.rgb = RGBColor(0x1D, 0x4E, 0xD8)


def field(paragraph: Paragraph, instruction: str, shown: str = "1") -> None:
    """A Word field (PAGE, NUMPAGES) as begin/instr/separate/result/end runs."""
    def char(kind: str) -> None:
        el = OxmlElement("w:fldChar")
        el.set(qn("w:fldCharType"), kind)
        paragraph.add_run()._r.append(el)

    char("begin")
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    paragraph.add_run()._r.append(instr)
    char("separate")
    paragraph.add_run(shown)
    char("end")


def _has_content(part) -> bool:
    el = part._element
    return any((t.text or "").strip() for t in el.iter(qn("w:t"))) or any(
        el.iter(qn("w:drawing"), qn("w:pict"), qn("w:fldChar"), qn("w:fldSimple")))


def header_footer(doc: Document, left: Rich, right: str, footer_left: str, *,
                  only_if_empty: bool) -> None:
    """Header: reference (left) and classification (right); footer: "Page X of Y".

    With a template, an existing header or footer (a logo, the org's own wording) is kept.
    """
    for section in doc.sections:
        width = section.page_width - section.left_margin - section.right_margin
        header = section.header
        if not (only_if_empty and _has_content(header)):
            p = _fresh(header, width)
            write(p, left)
            p.add_run("\t")
            write(p, Span(right, bold=True))
        footer = section.footer
        if not (only_if_empty and _has_content(footer)):
            p = _fresh(footer, width)
            write(p, footer_left)
            p.add_run("\tPage ")
            field(p, "PAGE")
            p.add_run(" of ")
            field(p, "NUMPAGES")


def _fresh(part, width) -> Paragraph:
    """The part's first paragraph emptied, with a right tab stop at the margin."""
    part.is_linked_to_previous = False
    p = part.paragraphs[0] if part.paragraphs else part.add_paragraph()
    for extra in part.paragraphs[1:]:
        extra._p.getparent().remove(extra._p)
    for child in list(p._p):
        if child.tag != qn("w:pPr"):
            p._p.remove(child)
    stops = p.paragraph_format.tab_stops
    style_stops = p.style.paragraph_format.tab_stops if p.style else []
    for stop in style_stops:
        stops.add_tab_stop(stop.position, WD_TAB_ALIGNMENT.CLEAR)
    stops.add_tab_stop(width, WD_TAB_ALIGNMENT.RIGHT)
    return p


def properties(doc: Document, *, title: str, subject: str, keywords: Sequence[str],
               category: str, created: datetime, comments: str = "") -> None:
    """Core document properties, so SharePoint and Word search can find the report."""
    props = doc.core_properties
    when = created.astimezone(UTC).replace(tzinfo=None)
    props.title = one_line(title)[:255]
    props.subject = one_line(subject)[:255]
    props.author = "Incident Desk"
    props.last_modified_by = "Incident Desk"
    props.keywords = "; ".join(one_line(k) for k in keywords if k)[:255]
    props.category = one_line(category)
    props.comments = one_line(comments)[:255]
    props.created = props.modified = when
    props.revision = 1
    props.language = "en-GB"
