"""Assembling a report from named sections, with or without an organisation's template.

Each builder lists its sections; this module decides where they go:

- no block placeholder in the template (or no template): the cover and every section,
  each under its own Heading 1, are appended after whatever the template holds;
- otherwise each `{{section}}` paragraph is replaced by that section's content (no heading:
  the template has its own), `{{report}}` by every section not placed on its own (with
  headings), and sections the template does not ask for are left out.

Inline placeholders are filled before any section is rendered, so text typed by users
(which may well contain "{{title}}") is never treated as a placeholder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from docx.document import Document
from docx.oxml.ns import qn

from reports import placeholders, word
from reports.word import Rich

Render = Callable[[Document], None]

# Every block name any builder knows. A template may use any of them with any builder: a
# section the builder does not offer (the timeline, in the public version) renders nothing.
BLOCKS = frozenset({
    "cover", "report", "overview", "what_happened", "introduction", "impact", "times",
    "severity_history", "roles", "timeline", "updates", "contributing_factors",
    "what_went_well", "lessons", "key_questions", "actions", "prevention",
})


@dataclass(frozen=True)
class Section:
    name: str  # its block placeholder
    heading: str
    render: Render


@dataclass(frozen=True)
class Report:
    """One document to build: what it is, how it is labelled, and its sections."""

    kind: str  # "Running incident report"
    cover: Render
    sections: Sequence[Section]
    values: Mapping[str, str]  # inline placeholders
    header_left: Rich
    classification: str
    footer: str
    title: str  # document property
    subject: str
    keywords: Sequence[str]
    created: datetime
    alert: str = ""  # "DRAFT": also shown at the top when the template has no {{cover}}
    comments: str = ""


def build(report: Report, template: bytes | None) -> bytes:
    doc = word.open_document(template)
    slots = placeholders.find_blocks(doc, BLOCKS)
    placeholders.fill(doc, {**dict.fromkeys(BLOCKS, ""), **report.values})
    by_name = {s.name: s for s in report.sections}
    if not slots:
        report.cover(doc)
        for section in report.sections:
            _with_heading(section)(doc)
    else:
        placed = {name for name, _ in slots}
        rest = [s for s in report.sections if s.name not in placed]
        for name, anchor in slots:
            if name == "cover":
                _render_at(doc, anchor, report.cover)
            elif name == "report":
                for section in rest:
                    _render_at(doc, anchor, _with_heading(section))
            elif name in by_name:
                _render_at(doc, anchor, by_name[name].render)
            anchor.getparent().remove(anchor)
        if report.alert and "cover" not in placed:
            _render_at(doc, doc.element.body[0], lambda d: word.notice(d, report.alert))
    word.header_footer(doc, report.header_left, report.classification, report.footer,
                       only_if_empty=template is not None)
    word.properties(doc, title=report.title, subject=report.subject,
                    keywords=report.keywords, category=report.kind,
                    created=report.created, comments=report.comments)
    return word.to_bytes(doc)


def _with_heading(section: Section) -> Render:
    def render(doc: Document) -> None:
        word.heading(doc, section.heading, 1)
        section.render(doc)
    return render


def _render_at(doc: Document, anchor, render: Render) -> None:
    """Render at the end of the body, then move what was added to just before `anchor`."""
    body = doc.element.body
    tail = 1 if len(body) and body[-1].tag == qn("w:sectPr") else 0
    before = len(body) - tail
    render(doc)
    added = list(body[before:len(body) - tail])
    for element in added:
        anchor.addprevious(element)
