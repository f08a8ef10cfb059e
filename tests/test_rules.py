"""Lifecycle rules, without a database."""

import pytest

from app.core import org as org_settings
from app.incidents.rules import (
    STATUSES,
    RuleError,
    check_transition,
    format_reference,
    next_statuses,
)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("investigating", "identified"),
        ("investigating", "monitoring"),
        ("identified", "monitoring"),
        ("monitoring", "investigating"),
    ],
)
def test_active_statuses_move_freely(current, target):
    check_transition(current, target, "")


def test_resolving_needs_a_note():
    with pytest.raises(RuleError) as error:
        check_transition("monitoring", "resolved", "   ")
    assert error.value.field == "note"
    check_transition("monitoring", "resolved", "Rolled back the deploy")


def test_close_only_after_resolve():
    for status in ("investigating", "identified", "monitoring"):
        with pytest.raises(RuleError, match="Resolve the incident before you close it"):
            check_transition(status, "closed", "done")
    check_transition("resolved", "closed", "")


def test_closed_is_final():
    assert next_statuses("closed") == ()
    for status in ("investigating", "resolved"):
        with pytest.raises(RuleError, match="closed incident cannot change status"):
            check_transition("closed", status, "again")


def test_reopen_needs_a_reason():
    with pytest.raises(RuleError, match="reopened"):
        check_transition("resolved", "investigating", "")
    check_transition("resolved", "investigating", "Errors are back")


def test_same_or_unknown_status_refused():
    with pytest.raises(RuleError, match="already"):
        check_transition("identified", "identified", "")
    with pytest.raises(RuleError, match="from the list"):
        check_transition("identified", "exploded", "")


def test_every_status_has_a_way_forward_except_closed():
    for status in STATUSES:
        assert bool(next_statuses(status.key)) == (status.key != "closed")


def test_reference_format():
    assert format_reference(2026, 42) == "INC-2026-0042"
    assert format_reference(2027, 12345) == "INC-2027-12345"


def test_seed_scales_and_roles():
    p123 = org_settings.load("p123")
    assert [s.key for s in p123.severities] == ["P1", "P2", "P3"]
    assert p123.severity("P1").major and not p123.severity("P3").major
    assert p123.severity_rank("P1") < p123.severity_rank("P3")
    cmmt = org_settings.load("cmmt")
    assert [s.key for s in cmmt.severities] == ["critical", "major", "minor", "trivial"]
    required = {r.key for r in p123.roles if r.required}
    assert required == {"incident_lead", "comms_lead"}
    assert {"scribe", "investigator", "incident_commander", "client_comms_manager"} <= {
        r.key for r in p123.roles
    }
    with pytest.raises(ValueError, match="unknown severity scale"):
        org_settings.load("sev1234")


def test_org_file(tmp_path):
    path = tmp_path / "org.json"
    path.write_text(
        '{"severities": [{"key": "SEV1", "label": "Sev 1", "major": true,'
        ' "update_every_minutes": 30}, {"key": "SEV2"}],'
        ' "roles": [{"key": "incident_lead", "label": "Lead", "required": true}]}'
    )
    loaded = org_settings.load(path=str(path))
    assert [s.key for s in loaded.severities] == ["SEV1", "SEV2"]
    assert loaded.severity("SEV1").update_every_minutes == 30
    assert loaded.role("incident_lead").label == "Lead"
    assert loaded.incident_criteria  # defaults kept


def test_pagination_links_a_window_of_pages_with_gaps():
    from app.incidents.service import Page

    def window(number, total):
        return Page(items=[], number=number, total=total * 25).window()

    assert window(1, 1) == [1]
    assert window(1, 4) == [1, 2, 3, 4]
    assert window(1, 400) == [1, 2, 3, None, 400]
    assert window(200, 400) == [1, None, 198, 199, 200, 201, 202, None, 400]
    assert window(399, 400) == [1, None, 397, 398, 399, 400]
    assert window(4, 7) == [1, 2, 3, 4, 5, 6, 7]


def test_the_stored_statuses_are_the_enum_and_closed_has_one_guard():
    from app.incidents.rules import CLOSED, FINISHED, IncidentStatus, refuse_if_closed

    assert [s.key for s in STATUSES] == [s.value for s in IncidentStatus]
    assert CLOSED == "closed" and {"resolved", "closed"} == FINISHED
    refuse_if_closed("resolved", "take new notes")  # only closed is final
    with pytest.raises(RuleError, match=r"^A closed incident cannot take new notes\.$"):
        refuse_if_closed("closed", "take new notes")
