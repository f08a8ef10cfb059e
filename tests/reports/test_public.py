"""The public version: nothing internal, nobody named, and never a security incident."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from reports import NotPublishable, build_public
from reports.snapshot import Action
from tests.reports import sample
from tests.reports.docs import all_text, header_footer_xml, headings, open_report, title

NAMES = re.compile(r"Ada|Lovelace|Grace|Hopper|Alan|Turing")


def everything(data: bytes) -> str:
    """Body, header, footer and document properties: all a reader could see."""
    doc = open_report(data)
    props = doc.core_properties
    return "\n".join([all_text(doc), *header_footer_xml(doc), props.title, props.subject,
                      props.keywords, props.comments, props.author, props.last_modified_by])


def test_public_version_sections():
    doc = open_report(build_public(sample.snapshot()))
    assert title(doc) == "Incident report: Candidates cannot submit applications"
    assert headings(doc) == ["What happened", "When it happened", "Who was affected",
                             "What we are doing to stop it happening again"]
    text = all_text(doc)
    assert sample.snapshot().summary in text
    assert "3 March 2026, 09:04 GMT" in text and "2 hours 18 minutes" in text
    assert "About 2,400" in text


def test_public_version_names_nobody_even_when_the_text_does():
    snap = sample.snapshot(
        title="Form down after Ada Lovelace's deploy",
        public_summary="Grace Hopper noticed the errors and Alan Turing rolled back the change.",
        impact=replace(sample.snapshot().impact, summary="Ada Lovelace's team was affected."))
    text = everything(build_public(snap))
    assert not NAMES.search(text), NAMES.search(text)
    assert "A member of our team noticed the errors" in text


def test_public_version_leaves_out_internal_detail():
    text = everything(build_public(sample.snapshot()))
    for internal in ("Timeline", "Declared as P2", "prod-db-3", "tracker.example.com",
                     "The 09:05 deploy was rolled back.", "error page when candidates",
                     "OFFICIAL", "Status updates"):
        assert internal not in text, internal
    assert "Alert when the form's error rate passes 5%" in text
    assert "Public" in text


def test_cancelled_actions_are_not_published_and_done_ones_say_so():
    snap = sample.snapshot(actions=(Action("Add monitoring", status="done"),
                                    Action("Rewrite everything", status="cancelled")))
    text = all_text(open_report(build_public(snap)))
    assert "Add monitoring (done)" in text
    assert "Rewrite everything" not in text


def test_without_a_written_summary_the_facts_are_stated_plainly():
    text = all_text(open_report(build_public(sample.snapshot(summary="", public_summary=""))))
    assert "we declared an incident: Candidates cannot submit applications" in text


def test_security_incidents_are_never_published():
    with pytest.raises(NotPublishable, match="never published automatically") as err:
        build_public(sample.snapshot(is_security=True))
    assert "INC-2026-0042" in str(err.value)
