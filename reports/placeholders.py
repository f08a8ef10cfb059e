"""`{{name}}` placeholders in an organisation's own .docx template.

Word splits what looks like one word into several runs (spell-check marks, an edit made
later, a change of formatting half-way), so `{{reference}}` may reach us as "{{ref",
"erence", "}}". Replacement therefore works on the paragraph's text as a whole and maps
each match back onto the runs it spans: the first keeps the replacement (and so its
formatting), the others lose the matched characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from docx.document import Document
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn

from reports.text import clean

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}")
_P, _T = qn("w:p"), qn("w:t")


def _own_texts(p) -> list:
    """The paragraph's w:t elements, leaving out those of text boxes nested inside it."""
    return [t for t in p.iter(_T) if next(t.iterancestors(_P)) is p]


def paragraph_text(p) -> str:
    return "".join(t.text or "" for t in _own_texts(p))


def find_blocks(doc: Document, names: frozenset[str]) -> list[tuple[str, object]]:
    """Body paragraphs holding nothing but one block placeholder, in document order."""
    found = []
    for p in doc.element.body.iterchildren(_P):
        match = PLACEHOLDER.fullmatch(paragraph_text(p).strip())
        if match and match.group(1).lower() in names:
            found.append((match.group(1).lower(), p))
    return found


def _roots(doc: Document) -> Iterator:
    yield doc.element.body
    for rel in doc.part.rels.values():
        if rel.reltype in (RT.HEADER, RT.FOOTER) and not rel.is_external:
            yield rel.target_part.element


def fill(doc: Document, values: Mapping[str, str]) -> None:
    """Replace known placeholders in body, tables, text boxes, headers and footers.

    Unknown names are left as typed, so a misspelt placeholder shows in the document.
    """
    values = {k.lower(): clean(v).replace("\t", " ") for k, v in values.items()}
    for root in _roots(doc):
        for p in root.iter(_P):
            _fill_paragraph(p, values)


def _fill_paragraph(p, values: Mapping[str, str]) -> None:
    ts = _own_texts(p)
    texts = [t.text or "" for t in ts]
    full = "".join(texts)
    if "{{" not in full:
        return
    matches = [m for m in PLACEHOLDER.finditer(full) if m.group(1).lower() in values]
    if not matches:
        return
    lengths = [len(text) for text in texts]
    starts = [sum(lengths[:i]) for i in range(len(lengths))]

    def holder(pos: int) -> int:
        return next(i for i, n in enumerate(lengths) if starts[i] <= pos < starts[i] + n)

    # Last match first: earlier offsets stay valid while later text changes.
    for match in reversed(matches):
        begin, end = match.span()
        first, last = holder(begin), holder(end - 1)
        tail = texts[last][end - starts[last]:]
        for i in range(first + 1, last + 1):
            texts[i] = ""
        value = values[match.group(1).lower()]
        texts[first] = texts[first][:begin - starts[first]] + value + tail
    for t, text in zip(ts, texts, strict=True):
        if text != (t.text or ""):
            _set_text(t, text)


def _set_text(t, text: str) -> None:
    """Write text into a w:t; line breaks become w:br siblings in the same run."""
    lines = text.split("\n")
    t.text = lines[0]
    t.set(qn("xml:space"), "preserve")
    anchor = t
    for line in lines[1:]:
        br = OxmlElement("w:br")
        anchor.addnext(br)
        nxt = OxmlElement("w:t")
        nxt.text = line
        nxt.set(qn("xml:space"), "preserve")
        br.addnext(nxt)
        anchor = nxt
