"""Markup and XML-illegal characters in user text come out as text, never as a crash."""

from __future__ import annotations

import pytest

from reports import build_major, build_public, build_review, build_running
from reports.snapshot import Action, RoleSpell, SeverityChange, TimelineItem, UpdateSent
from reports.text import clean, one_line
from tests.reports import sample
from tests.reports.docs import all_text, header_footer_xml, open_report, rows, table_after

MARKUP = "<script>alert('x')</script> & \"quoted\" <w:t>]]></w:t>"
ILLEGAL = "".join(chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)))
NASTY = f"{MARKUP}{ILLEGAL}\ud800\ufffe\uffff end"


def nasty_snapshot():
    who = f"Eve {NASTY}"
    return sample.snapshot(
        reference=f"INC-{NASTY}",
        title=f"Title {NASTY}",
        description=NASTY,
        services=(NASTY,),
        declared_by=who,
        resolution=NASTY,
        roles=(RoleSpell(f"Lead {NASTY}", who, sample.at(0), key=NASTY),),
        timeline=(TimelineItem(sample.at(1), NASTY, NASTY, who, {"note": NASTY, "role": NASTY}),
                  TimelineItem(sample.at(2), NASTY, "role_assigned", who, {"role": NASTY})),
        updates=(UpdateSent(sample.at(3), NASTY, NASTY, 3, True, who),),
        severity_changes=(SeverityChange(sample.at(4), NASTY, NASTY, who, NASTY),),
        actions=(Action(NASTY, who, None, NASTY, f"https://example.com/{NASTY}"),),
        summary=NASTY,
        public_summary=NASTY,
        contributing_factors=(NASTY,),
        lessons_learnt=(NASTY,),
        organisation=NASTY,
        classification=f"OFFICIAL {NASTY}",
    )


def test_clean_strips_what_xml_forbids_and_keeps_the_rest():
    assert clean(None) == ""
    assert clean("a\x00b\x1fc\x0bd\x0ce\r\nf\rg\th") == "abc\nd\ne\nf\ng\th"
    assert clean("\ud800x\ufffey\uffff") == "xy"
    assert clean(MARKUP) == MARKUP
    assert clean("café \u2013 \u201cquotes\u201d 🚨") == "café \u2013 \u201cquotes\u201d 🚨"
    assert one_line(" a\n b\t c ") == "a b c"


@pytest.mark.parametrize("build", [build_running, build_major, build_public, build_review])
def test_markup_and_control_characters_survive_as_text(build):
    doc = open_report(build(nasty_snapshot()))
    text = all_text(doc)
    assert MARKUP in text
    assert not any(ch in text for ch in ILLEGAL.replace("\t", "").replace("\n", ""))
    assert "<script>" not in doc.element.xml  # escaped in the XML, not raw markup
    assert "&lt;script&gt;" in doc.element.xml
    assert MARKUP in header_footer_xml(doc)[0].replace("&lt;", "<").replace(
        "&gt;", ">").replace("&amp;", "&").replace("&quot;", '"').replace("&apos;", "'")
    assert "INC-<script>" in doc.core_properties.keywords


def test_draft_review_with_nasty_names_still_hides_them():
    timeline = rows(table_after(open_report(build_review(nasty_snapshot())), "Timeline"))
    assert len(timeline) == 3
    assert "Eve" not in str(timeline)
    assert timeline[1][2].startswith("Lead <script>")  # the role, not the person
