"""Review drafts name roles, not people; finals name people; the choice can be overridden."""

from __future__ import annotations

import re

from reports import build_review
from reports.people import Mode, Namer
from reports.snapshot import RoleSpell, TimelineItem
from tests.reports import sample
from tests.reports.docs import open_report, rows, table_after

NAMES = re.compile(r"Ada|Lovelace|Grace|Hopper|Alan|Turing")


def timeline_rows(data: bytes) -> list[list[str]]:
    return rows(table_after(open_report(data), "Timeline"))[1:]


def test_draft_timeline_has_no_personal_names():
    got = timeline_rows(build_review(sample.snapshot()))
    assert len(got) == len(sample.TIMELINE)
    for row in got:
        assert not NAMES.search(" ".join(row)), row


def test_draft_timeline_uses_the_role_held_at_the_time():
    got = {row[0]: row[1:] for row in timeline_rows(build_review(sample.snapshot()))}
    assert got["3 Mar 2026 09:18 GMT"] == ["Comms lead role assigned", "Incident lead"]
    assert got["3 Mar 2026 09:52 GMT"] == [
        "The comms lead asked DfE Sign-in whether they had changed anything.", "Comms lead"]
    assert got["3 Mar 2026 10:22 GMT"] == ["Incident lead role handed over", "Incident lead"]
    assert got["3 Mar 2026 10:47 GMT"][1] == "Incident lead"  # Alan, after taking over


def test_final_timeline_names_people():
    got = timeline_rows(build_review(sample.snapshot(), final=True))
    text = " ".join(" ".join(r) for r in got)
    for name in sample.PEOPLE:
        assert name in text
    assert ["3 Mar 2026 10:22 GMT",
            "Alan Turing is now incident lead, taking over from Ada Lovelace",
            "Alan Turing"] in got


def test_blameless_can_be_chosen_either_way():
    snap = sample.snapshot()
    assert NAMES.search(str(timeline_rows(build_review(snap, blameless=False))))
    assert not NAMES.search(str(timeline_rows(build_review(snap, final=True, blameless=True))))


def test_someone_without_a_role_is_a_responder_and_two_roles_are_both_named():
    snap = sample.snapshot()
    namer = Namer(snap, Mode.BLAMELESS)
    assert namer.who("Linus Torvalds", sample.at(30)) == "A responder"
    assert namer.who(sample.ADA, sample.at(200)) == "A responder"  # released at 70
    both = sample.snapshot(roles=(*snap.roles,
                                  RoleSpell("Scribe", sample.ALAN, sample.at(0), key="scribe")))
    namer = Namer(both, Mode.BLAMELESS)
    assert namer.who(sample.ALAN, sample.at(80)) == "Scribe and incident lead"
    item = TimelineItem(sample.at(80), "Alan Turing paged Grace Hopper.", author=sample.ALAN)
    assert namer.timeline_text(item) == (
        "The scribe and incident lead paged the comms lead.")


def test_names_are_matched_as_whole_words_only():
    namer = Namer(sample.snapshot(), Mode.BLAMELESS)
    text = "Adaptive alerting; Graceful restart; ADA LOVELACE said so. Ada agreed."
    assert namer.scrub(text, sample.at(30)) == (
        "Adaptive alerting; Graceful restart; the incident lead said so. "
        "The incident lead agreed.")
