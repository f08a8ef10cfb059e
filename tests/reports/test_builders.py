"""Each builder's document read back: headings in order, tables, header, footer, properties."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from docx.oxml.ns import qn

from reports import build_major, build_public, build_review, build_running
from reports.snapshot import IncidentSnapshot
from tests.reports import sample
from tests.reports.docs import (
    all_text,
    header_footer_xml,
    headings,
    is_header_row,
    open_report,
    rows,
    table_after,
    title,
)

RUNNING_HEADINGS = ["Overview", "Impact", "Severity history", "Roles", "Timeline",
                    "Status updates sent", "Actions"]


def test_running_report_sections_in_order():
    doc = open_report(build_running(sample.snapshot()))
    assert title(doc) == "Running incident report"
    assert headings(doc) == RUNNING_HEADINGS
    assert headings(doc, 2) == ["What is happening", "Resolution", "Who held each role"]


def test_running_report_timeline_table_has_one_row_per_entry_oldest_first():
    snap = sample.snapshot()
    doc = open_report(build_running(snap))
    table = table_after(doc, "Timeline")
    got = rows(table)
    assert got[0] == ["Time", "What happened", "Who"]
    assert is_header_row(table)
    assert len(got) == 1 + len(snap.timeline)
    assert got[1] == ["3 Mar 2026 09:12 GMT", "Declared as P2", sample.ADA]
    assert got[-1] == ["3 Mar 2026 11:22 GMT", "Status changed to resolved", sample.ALAN]
    # A reason given with a change is shown under it.
    assert "Reason: Half of all candidates affected" in got[5][1]


def test_running_report_overview_roles_updates_actions():
    doc = open_report(build_running(sample.snapshot()))
    overview = dict(rows(table_after(doc, "Overview")))
    assert overview["Reference"] == "INC-2026-0042"
    assert overview["Severity"] == "P1"
    assert overview["Status"] == "Resolved"
    assert overview["Security or data breach"] == "No"
    assert overview["Services affected"] == "Apply for teacher training, DfE Sign-in"
    assert overview["Declared"] == "3 March 2026, 09:12 GMT"
    current = rows(table_after(doc, "Roles"))
    assert current == [["Comms lead", "Grace Hopper (since 3 Mar 2026 09:18 GMT)"],
                       ["Incident lead", "Alan Turing (since 3 Mar 2026 10:22 GMT)"]]
    text = all_text(doc)
    assert "Still holds it" in text and "Teams channel and 14 people" in text
    severity = rows(table_after(doc, "Severity history"))
    assert severity[1][1] == "Declared as P2" and severity[2][1] == "P2 → P1"
    actions = rows(table_after(doc, "Actions"))
    assert actions[0] == ["Action", "Owner", "Due", "Status"]
    assert actions[1][3] == "Open (overdue)"  # due 1 March, report made 4 March
    assert actions[3][3] == "Done"


def test_every_table_repeats_its_header_row_and_uses_the_table_style():
    doc = open_report(build_running(sample.snapshot()))
    for table in doc.tables:
        assert table.style.name == "Incident Desk Table"
        first = rows(table)[0]
        if first[0] in ("Time", "Role", "Sent", "Action"):
            assert is_header_row(table)


def test_times_shown_in_the_snapshot_time_zone():
    summer = datetime(2026, 7, 1, 8, 30, tzinfo=UTC)
    doc = open_report(build_running(sample.snapshot(declared_at=summer, timeline=(),
                                                    severity_changes=())))
    assert dict(rows(table_after(doc, "Overview")))["Declared"] == "1 July 2026, 09:30 BST"
    doc = open_report(build_running(sample.snapshot(declared_at=summer, timezone="UTC")))
    assert dict(rows(table_after(doc, "Overview")))["Declared"] == "1 July 2026, 08:30 UTC"


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="naive"):
        build_running(sample.snapshot(declared_at=datetime(2026, 3, 3, 9, 0)))


@pytest.mark.parametrize("build", [build_running, build_major, build_review, build_public])
def test_header_footer_and_properties(build):
    snap = sample.snapshot()
    doc = open_report(build(snap))
    header, footer = header_footer_xml(doc)
    assert snap.reference in header
    assert ("Public" if build is build_public else "OFFICIAL") in header
    for instruction in ("PAGE", "NUMPAGES"):
        assert f"> {instruction} </w:instrText>" in footer
    assert "Page " in footer and " of " in footer
    props = doc.core_properties
    assert props.author == "Incident Desk"
    assert props.last_modified_by == "Incident Desk"
    assert snap.reference in props.keywords.split("; ")
    assert snap.title in props.title
    assert props.subject
    assert props.created == props.modified == snap.generated_at


def test_built_in_look_is_a4_with_real_heading_styles():
    doc = open_report(build_running(sample.snapshot()))
    section = doc.sections[0]
    assert round(section.page_width.cm, 1) == 21.0
    assert round(section.page_height.cm, 1) == 29.7
    styles = {s.name for s in doc.styles}
    assert {"Title", "Heading 1", "Heading 2", "Incident Desk Table"} <= styles


def test_major_report_central_team_format():
    doc = open_report(build_major(sample.snapshot()))
    assert title(doc) == "Major incident report"
    assert headings(doc) == ["Summary", "What happened", "Impact", "Key times",
                             "Contributing factors", "Actions", "Lessons learnt"]
    times = dict(rows(table_after(doc, "Key times")))
    assert times == {
        "Detected": "3 March 2026, 09:04 GMT",
        "Declared": "3 March 2026, 09:12 GMT",
        "Resolved": "3 March 2026, 11:22 GMT",
        "Closed": "Not yet",
        "Detected to declared": "8 minutes",
        "Duration": "2 hours 18 minutes",
    }
    summary = dict(rows(table_after(doc, "Summary")))
    assert summary["Incident team"] == "Comms lead: Grace Hopper; Incident lead: Alan Turing"
    assert "Smoke-test the whole journey after each deploy." in all_text(doc)


def test_major_report_before_the_review_says_lessons_are_to_come():
    doc = open_report(build_major(sample.snapshot(lessons_learnt=(), contributing_factors=(),
                                                  resolved_at=None)))
    text = all_text(doc)
    assert text.count("To be added after the incident review.") == 2
    assert dict(rows(table_after(doc, "Key times")))["Duration"] == "Ongoing"


def test_review_draft_and_final():
    snap = sample.snapshot()
    draft = open_report(build_review(snap))
    assert title(draft) == "Post-incident review (draft)"
    assert "DRAFT" in header_footer_xml(draft)[0]
    assert draft.core_properties.title.startswith("DRAFT ")
    assert "draft" in draft.core_properties.keywords
    assert any(p.style.name == "Incident Desk Notice" and p.text.startswith("DRAFT")
               for p in draft.paragraphs)
    assert headings(draft) == ["Introduction", "Overview", "Timeline", "Contributing factors",
                               "What went well", "Lessons learnt", "Key questions", "Actions"]
    final = open_report(build_review(snap, final=True))
    assert title(final) == "Post-incident review"
    assert "DRAFT" not in all_text(final)
    assert "DRAFT" not in header_footer_xml(final)[0]
    overview = dict(rows(table_after(final, "Overview")))
    assert overview["Users affected"] == "2,400"
    assert overview["Duration of impact"] == "2 hours 18 minutes"


def test_review_introduction_is_plain_english():
    doc = open_report(build_review(sample.snapshot(), final=True))
    intro = doc.paragraphs[[p.text for p in doc.paragraphs].index("Introduction") + 1].text
    assert intro == ("On 3 March 2026, 09:12 GMT we declared an incident: Candidates cannot "
                     "submit applications. It affected Apply for teacher training and DfE "
                     "Sign-in. About 2,400 users were affected. It was resolved on 3 March "
                     "2026, 11:22 GMT, 2 hours 18 minutes after it began.")


def test_final_review_leaves_out_empty_optional_sections_and_draft_prompts_for_them():
    bare = sample.snapshot(what_went_well=(), key_questions=(), contributing_factors=())
    final = open_report(build_review(bare, final=True))
    assert "What went well" not in headings(final)
    assert "Key questions" not in headings(final)
    assert "None recorded." in all_text(final)
    draft = open_report(build_review(bare))
    assert "How could we prevent this kind of incident from happening again?" in all_text(draft)


def test_minimal_snapshot_builds_every_report():
    snap = IncidentSnapshot(reference="INC-2026-0001", title="Something broke",
                            declared_at=datetime(2026, 1, 1, tzinfo=UTC))
    for build in (build_running, build_major, build_review, build_public):
        doc = open_report(build(snap))
        assert "INC-2026-0001" in all_text(doc) + header_footer_xml(doc)[0]
    text = all_text(open_report(build_running(snap)))
    assert "Nothing has been recorded yet." in text
    assert "No follow-up actions have been agreed yet." in text


def test_action_links_are_hyperlinks_but_only_for_web_and_mail():
    from reports.snapshot import Action
    snap = sample.snapshot(actions=(Action("Fix", link="https://example.com/1"),
                                    Action("Other", link="javascript:alert(1)")))
    doc = open_report(build_running(snap))
    links = [r.target_ref for r in doc.part.rels.values() if r.is_external]
    assert links == ["https://example.com/1"]
    assert doc.element.body.findall(f".//{qn('w:hyperlink')}")
    assert "javascript:alert(1)" in all_text(doc)  # shown as text, not clickable


@pytest.mark.parametrize("build", [build_running, build_major, build_review])
def test_security_incidents_carry_a_warning(build):
    doc = open_report(build(sample.snapshot(is_security=True)))
    notices = [p.text for p in doc.paragraphs if p.style.name == "Incident Desk Notice"]
    assert any(n.startswith("Security or data breach") for n in notices)
    assert "security" in doc.core_properties.keywords
