"""An organisation's own .docx template: placeholders filled, sections placed, styles kept."""

from __future__ import annotations

from io import BytesIO

import pytest
from docx import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor

from reports import TemplateError, build_public, build_review, build_running
from reports.snapshot import TimelineItem
from tests.reports import sample
from tests.reports.docs import (
    all_text,
    header_footer_xml,
    headings,
    open_report,
    rows,
    table_after,
    text_of,
)


def runs(paragraph, *pieces: str, bold: int | None = None) -> None:
    """Write text as separate runs, the way Word splits a placeholder it has edited."""
    for i, piece in enumerate(pieces):
        run = paragraph.add_run(piece)
        if i == bold:
            run.bold = True


def template(*blocks: str,
             header: tuple[str, ...] = ("{{refer", "ence}} | {{classi", "fication}}"),
             footer: tuple[str, ...] = (), remove_styles: tuple[str, ...] = ()) -> bytes:
    doc = Document()
    doc.add_paragraph("Our incident report", style="Title")
    runs(doc.add_paragraph(), "Reference: {{ref", "erence}} (", "{{ sever", "ity }}", ")",
         bold=2)
    table = doc.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Title", "{{title}}"
    runs(table.cell(1, 0).paragraphs[0], "{", "{status}", "}")
    table.cell(1, 1).text = "{{description}}"
    doc.add_paragraph("Keep {{unknown_thing}} as typed.")
    for block in blocks:
        if block.startswith("#"):
            doc.add_paragraph(block[1:], style="Heading 1")
        else:
            runs(doc.add_paragraph(), block[:4], block[4:])
    runs(doc.sections[0].header.paragraphs[0], *header)
    if footer:
        runs(doc.sections[0].footer.paragraphs[0], *footer)
    styles = doc.styles.element
    for name in remove_styles:
        styles.remove(doc.styles[name].element)
    out = BytesIO()
    doc.save(out)
    return out.getvalue()


def paragraph_texts(doc) -> list[str]:
    return [p.text for p in doc.paragraphs]


def test_inline_placeholders_are_filled_even_when_split_across_runs():
    doc = open_report(build_running(sample.snapshot(), template(
        footer=("{{organisa", "tion}} · confidential",))))
    texts = paragraph_texts(doc)
    assert "Reference: INC-2026-0042 (P1)" in texts
    bold = [r.text for p in doc.paragraphs for r in p.runs if r.bold]
    assert "P1" in bold  # the replacement keeps the first run's formatting
    assert "Keep {{unknown_thing}} as typed." in texts
    cells = rows(doc.tables[0])
    assert cells[0] == ["Title", "Candidates cannot submit applications"]
    assert cells[1][0] == "Resolved"
    # A multi-line value keeps its line breaks.
    assert cells[1][1].startswith("The application form returns an error page")
    assert doc.tables[0].cell(1, 1)._tc.findall(f".//{qn('w:br')}")
    header, footer = header_footer_xml(doc)
    assert text_of(doc.sections[0].header._element) == "INC-2026-0042 | OFFICIAL"
    assert text_of(doc.sections[0].footer._element) == "Teacher Services · confidential"
    assert "{{" not in header and "{{" not in footer


def test_template_without_block_placeholders_gets_the_whole_report_appended():
    doc = open_report(build_running(sample.snapshot(), template()))
    texts = paragraph_texts(doc)
    assert texts[0] == "Our incident report"
    assert texts.index("Running incident report") > texts.index("Keep {{unknown_thing}} as typed.")
    assert headings(doc) == ["Overview", "Impact", "Severity history", "Roles", "Timeline",
                             "Status updates sent", "Actions"]
    # An empty template footer gets the page numbers.
    assert "NUMPAGES" in header_footer_xml(doc)[1]


def test_block_placeholders_place_sections_and_others_are_left_out():
    doc = open_report(build_running(sample.snapshot(), template(
        "#What we know", "{{timeline}}", "#Who is doing what", "{{ roles }}",
        "#Not in this report", "{{prevention}}")))
    assert headings(doc) == ["What we know", "Who is doing what", "Not in this report"]
    body = list(doc.element.body.iterchildren())
    mine = ("What we know", "Who is doing what", "Not in this report")
    heading_at = {b: i for i, b in enumerate(body) if b.tag == qn("w:p") and text_of(b) in mine}
    timeline = table_after(doc, "What we know")
    assert rows(timeline)[0] == ["Time", "What happened", "Who"]
    assert len(rows(timeline)) == 1 + len(sample.TIMELINE)
    positions = sorted(heading_at.values())
    assert positions[0] < body.index(timeline._tbl) < positions[1]
    text = all_text(doc)
    assert "{{" not in text.replace("{{unknown_thing}}", "")
    assert "Status updates sent" not in text and "Sent to" not in text  # not asked for
    assert "Running incident report" not in paragraph_texts(doc)  # no {{cover}}


def test_report_placeholder_takes_every_section_not_placed_elsewhere():
    doc = open_report(build_running(sample.snapshot(), template(
        "{{cover}}", "#Timeline first", "{{timeline}}", "{{report}}")))
    assert "Running incident report" in paragraph_texts(doc)
    assert headings(doc) == ["Timeline first", "Overview", "Impact", "Severity history",
                             "Roles", "Status updates sent", "Actions"]


def test_user_text_that_looks_like_a_placeholder_is_left_alone():
    snap = sample.snapshot(timeline=(TimelineItem(sample.at(1), "Typed {{reference}} here"),),
                           title="About {{timeline}}")
    doc = open_report(build_running(snap, template("{{timeline}}")))
    text = all_text(doc)
    assert "Typed {{reference}} here" in text
    assert "About {{timeline}}" in text


def test_template_styles_are_used_and_missing_ones_added():
    doc = Document()
    heading = doc.styles["Heading 1"]
    heading.font.name, heading.font.size = "Georgia", Pt(20)
    heading.font.color.rgb = RGBColor(0x99, 0x00, 0x00)
    own_table = doc.styles.add_style("Incident Desk Table", WD_STYLE_TYPE.TABLE)
    own_table.font.name = "Courier New"
    out = BytesIO()
    doc.save(out)
    built = open_report(build_running(sample.snapshot(), out.getvalue()))
    h1 = built.styles["Heading 1"]
    assert (h1.font.name, h1.font.size, h1.font.color.rgb) == (
        "Georgia", Pt(20), RGBColor(0x99, 0x00, 0x00))
    assert [s.name for s in built.styles].count("Incident Desk Table") == 1
    assert built.styles["Incident Desk Table"].font.name == "Courier New"
    assert all(t.style.name == "Incident Desk Table" for t in built.tables)

    bare = open_report(build_running(sample.snapshot(), template(
        remove_styles=("Heading 1", "Heading 2", "Title", "List Bullet"))))
    assert headings(bare)[0] == "Overview"
    assert bare.styles["Heading 1"].type == WD_STYLE_TYPE.PARAGRAPH


def test_draft_review_in_a_template_is_still_marked_draft():
    tpl = template("#Timeline", "{{timeline}}", header=("{{draft}} {{reference}}",))
    doc = open_report(build_review(sample.snapshot(), tpl))
    assert doc.paragraphs[0].text == "DRAFT"
    assert doc.paragraphs[0].style.name == "Incident Desk Notice"
    assert text_of(doc.sections[0].header._element) == "DRAFT INC-2026-0042"
    final = open_report(build_review(sample.snapshot(), tpl, final=True))
    assert "DRAFT" not in all_text(final)


def test_public_template_cannot_pull_in_internal_sections_or_names():
    tpl = template("{{timeline}}", "{{roles}}", "{{updates}}", "{{what_happened}}",
                   "By {{declared_by}}: {{description}}")
    doc = open_report(build_public(sample.snapshot(), tpl))
    text = all_text(doc)
    assert "Ada" not in text and "Grace" not in text and "Alan" not in text
    assert "error page when candidates" not in text
    assert "Declared as P2" not in text
    assert sample.snapshot().summary in text
    assert "By : " in text


def test_a_file_that_is_not_a_docx_is_refused_clearly():
    for junk in (b"not a zip", b"PK\x03\x04broken", template().replace(b"word/", b"wurd/")):
        with pytest.raises(TemplateError, match="could not be opened"):
            build_running(sample.snapshot(), junk)
