"""The reminder rules, driven by explicit datetimes: no clock, no sleeping, no database.

Dates: 2026-11-16 is a Monday and Europe/London is on GMT then, so local equals UTC;
the DST tests use 2026-03-29 (spring forward) and 2026-10-25 (fall back), both Sundays.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.core import org
from app.reminders.schedule import (
    KINDS,
    IncidentFacts,
    Policy,
    Reminder,
    WorkingHours,
    due,
    next_due_at,
)

LONDON = ZoneInfo("Europe/London")
MINUTE = timedelta(minutes=1)
WED_11 = datetime(2026, 11, 18, 11, 0, tzinfo=UTC)  # in working hours
EVERY_DAY = Policy(hours=WorkingHours(days=frozenset(range(7))))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=LONDON)


def facts(**changes) -> IncidentFacts:
    fields = {"reference": "INC-7", "declared_at": WED_11, "status": "investigating",
              "cadence_minutes": 60, "major": False}
    return IncidentFacts(**(fields | changes))


def of_kind(reminders: list[Reminder], kind: str) -> list[Reminder]:
    return [r for r in reminders if r.kind == kind]


def only(reminders: list[Reminder], kind: str) -> Reminder:
    (reminder,) = of_kind(reminders, kind)
    return reminder


def kinds(reminders: list[Reminder]) -> set[str]:
    return {r.kind for r in reminders}


# Each rule fires exactly when due and not a minute before.

@pytest.mark.parametrize(
    ("kind", "changes", "due_at", "audience"),
    [
        ("update", {}, utc(2026, 11, 18, 12, 0), "comms_lead"),
        ("update", {"last_update_at": utc(2026, 11, 18, 12, 10)}, utc(2026, 11, 18, 13, 10),
         "comms_lead"),
        ("summary", {}, utc(2026, 11, 18, 11, 30), "incident_lead"),
        ("escalate", {}, utc(2026, 11, 18, 11, 30), "incident_lead"),
        ("role_unfilled", {"unfilled_roles": {"Comms lead": utc(2026, 11, 18, 11, 5)}},
         utc(2026, 11, 18, 11, 15), "incident_lead"),
        ("rotate", {"role_spells": [("Tech lead", "Sam Ode", utc(2026, 11, 18, 11, 20))]},
         utc(2026, 11, 18, 13, 20), "role_holder"),
    ],
)
def test_each_rule_fires_exactly_when_due(kind, changes, due_at, audience):
    incident = facts(**changes)
    assert kind not in kinds(due(incident, due_at - MINUTE))
    assert next_due_at(incident, due_at - MINUTE) <= due_at
    reminder = only(due(incident, due_at), kind)
    assert reminder.due_at == due_at
    assert reminder.audience == audience
    assert reminder.key.startswith(f"{kind}:") and reminder.key.endswith(due_at.isoformat())
    assert "INC-7" in reminder.text and "\n" not in reminder.text
    assert reminder.text.endswith(".")


def test_rule_times_follow_the_policy():
    policy = Policy(summary_minutes=45, escalate_after_minutes=60, role_grace_minutes=5,
                    rotate_after_minutes=90)
    incident = facts(unfilled_roles={"Scribe": WED_11},
                     role_spells=[("Scribe", "Ola", WED_11)])
    at = {r.kind: r.due_at for r in due(incident, utc(2026, 11, 18, 13, 59), policy)}
    assert at["summary"] == utc(2026, 11, 18, 13, 15)  # 11:45, 12:30, 13:15
    assert at["escalate"] == utc(2026, 11, 18, 12, 0)
    assert at["role_unfilled"] == utc(2026, 11, 18, 13, 35)  # 11:05, 11:35, ... 13:35
    assert at["rotate"] == utc(2026, 11, 18, 12, 30)


def test_zero_turns_rules_off():
    policy = Policy(summary_minutes=0, escalate_after_minutes=0, rotate_after_minutes=0,
                    role_repeat_minutes=0)
    incident = facts(cadence_minutes=None, unfilled_roles={"Comms lead": WED_11},
                     role_spells=[("Scribe", "Ola", WED_11)])
    later = WED_11 + timedelta(hours=5)
    assert [r.key for r in due(incident, later, policy)] == [
        "role_unfilled:Comms lead:2026-11-18T11:10:00+00:00"]  # once, not repeated
    assert next_due_at(incident, later, policy) is None


def test_severity_fields_from_org_settings():
    p1, trivial = org.P123[0], org.CMMT[-1]
    urgent = facts(cadence_minutes=p1.update_every_minutes, major=p1.major)
    assert only(due(urgent, utc(2026, 11, 18, 12, 0)), "update").due_at == utc(2026, 11, 18, 12)
    quiet = facts(cadence_minutes=trivial.update_every_minutes, major=trivial.major)
    assert trivial.update_every_minutes == 0
    assert "update" not in kinds(due(quiet, WED_11 + timedelta(days=3)))


# Repeats, keys and once-only reminders.

def test_summary_repeats_every_30_minutes():
    incident = facts()
    assert only(due(incident, utc(2026, 11, 18, 12, 29)), "summary").due_at == utc(
        2026, 11, 18, 12, 0)
    assert only(due(incident, utc(2026, 11, 18, 12, 30)), "summary").due_at == utc(
        2026, 11, 18, 12, 30)


def test_unfilled_role_repeats_every_30_minutes_per_role():
    incident = facts(unfilled_roles={"Comms lead": WED_11, "Scribe": utc(2026, 11, 18, 11, 20)})
    found = of_kind(due(incident, utc(2026, 11, 18, 12, 15)), "role_unfilled")
    assert {(r.role, r.due_at) for r in found} == {
        ("Comms lead", utc(2026, 11, 18, 12, 10)), ("Scribe", utc(2026, 11, 18, 12, 0))}
    assert len({r.key for r in found}) == 2


def test_update_reminder_repeats_while_none_is_sent():
    incident = facts()
    assert only(due(incident, utc(2026, 11, 18, 12, 59)), "update").due_at == utc(
        2026, 11, 18, 12)
    assert only(due(incident, utc(2026, 11, 18, 13, 0)), "update").due_at == utc(
        2026, 11, 18, 13)


def test_the_same_due_time_keeps_its_key():
    incident = facts(unfilled_roles={"Comms lead": WED_11},
                     role_spells=[("Tech lead", "Sam", WED_11)])
    first = {r.kind: r.key for r in due(incident, utc(2026, 11, 18, 13, 0))}
    again = {r.kind: r.key for r in due(incident, utc(2026, 11, 18, 13, 9))}
    assert first == again
    assert first["update"] == "update:2026-11-18T13:00:00+00:00"
    assert first["rotate"] == (
        "rotate:Tech lead:Sam:2026-11-18T11:00:00+00:00:2026-11-18T13:00:00+00:00")


def test_one_shot_reminders_stay_one_key():
    incident = facts(role_spells=[("Tech lead", "Sam", WED_11)])
    keys = {only(due(incident, WED_11 + step * MINUTE), "escalate").key
            for step in range(30, 400, 7)}
    assert keys == {"escalate:2026-11-18T11:30:00+00:00"}
    assert of_kind(due(incident, utc(2026, 11, 18, 17, 0)), "rotate")[0].due_at == utc(
        2026, 11, 18, 13)


def test_sending_an_update_gives_the_next_reminder_a_new_key():
    before = only(due(facts(), utc(2026, 11, 18, 12, 0)), "update")
    sent = facts(last_update_at=utc(2026, 11, 18, 12, 5))
    assert "update" not in kinds(due(sent, utc(2026, 11, 18, 13, 4)))
    after = only(due(sent, utc(2026, 11, 18, 13, 5)), "update")
    assert after.key == "update:2026-11-18T13:05:00+00:00" != before.key
    assert "12:05" in after.text


def test_rotate_is_one_per_holding_spell():
    spells = [("Tech lead", "Sam", WED_11), ("Tech lead", "Ana", utc(2026, 11, 18, 11, 30))]
    found = of_kind(due(facts(role_spells=spells), utc(2026, 11, 18, 14, 0)), "rotate")
    assert [(r.role, r.person, r.due_at) for r in found] == [
        ("Tech lead", "Sam", utc(2026, 11, 18, 13, 0)),
        ("Tech lead", "Ana", utc(2026, 11, 18, 13, 30))]
    assert found[0].text.startswith("Sam has been Tech lead on INC-7 for over 2 hours")


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_nothing_once_resolved_or_closed(status):
    incident = facts(status=status, major=True, unfilled_roles={"Comms lead": WED_11},
                     role_spells=[("Tech lead", "Sam", WED_11)])
    later = WED_11 + timedelta(hours=20)
    assert due(facts(major=True), later)  # the same incident, open, has plenty due
    assert due(incident, later) == []
    assert next_due_at(incident, later) is None


# Out of hours.

def test_non_major_declared_friday_evening_is_held_until_monday():
    friday = local(2026, 11, 20, 17, 55)
    monday_ten = local(2026, 11, 23, 10, 0)
    incident = facts(declared_at=friday, cadence_minutes=120,
                     unfilled_roles={"Comms lead": friday},
                     role_spells=[("Incident lead", "Ana", friday)])
    for now in (local(2026, 11, 20, 18, 30), local(2026, 11, 21, 3, 0),
                local(2026, 11, 22, 23, 0), local(2026, 11, 23, 9, 59)):
        assert due(incident, now) == []
        assert next_due_at(incident, now) == monday_ten
    reminders = due(incident, monday_ten)
    assert sorted(r.kind for r in reminders) == sorted(KINDS[:5])  # one each; no out_of_hours
    assert {r.due_at for r in reminders} == {monday_ten.astimezone(UTC)}
    # Repeats count from the held reminder: the next comes 30 minutes later, not at 10:05.
    assert next_due_at(incident, monday_ten) == local(2026, 11, 23, 10, 30)


def test_held_reminders_are_one_reminder_not_a_burst():
    friday = local(2026, 11, 20, 17, 55)
    incident = facts(declared_at=friday, unfilled_roles={"Comms lead": friday})
    sent: dict[str, list[datetime]] = {}
    now = friday
    while now < local(2026, 11, 23, 10, 29):  # a cron job ticking every minute
        for reminder in due(incident, now):
            sent.setdefault(reminder.kind, [])
            if reminder.due_at not in sent[reminder.kind]:
                sent[reminder.kind].append(reminder.due_at)
        now += MINUTE
    assert sent == {kind: [local(2026, 11, 23, 10, 0)]
                    for kind in ("update", "summary", "escalate", "role_unfilled")}


def test_major_incident_pages_at_3am():
    night = local(2026, 11, 18, 2, 0)
    incident = facts(declared_at=night, major=True)
    assert "update" not in kinds(due(incident, local(2026, 11, 18, 2, 59)))
    assert next_due_at(incident, local(2026, 11, 18, 2, 59)) == local(2026, 11, 18, 3, 0)
    assert only(due(incident, local(2026, 11, 18, 3, 0)), "update").due_at == local(
        2026, 11, 18, 3, 0)
    # The same incident, not major, waits for the morning.
    assert due(facts(declared_at=night), local(2026, 11, 18, 3, 0)) == []
    assert next_due_at(facts(declared_at=night), local(2026, 11, 18, 3, 0)) == local(
        2026, 11, 18, 10, 0)


def test_out_of_hours_prompt_across_midnight():
    incident = facts(declared_at=local(2026, 11, 17, 23, 0), major=True)
    assert "out_of_hours" not in kinds(due(incident, local(2026, 11, 18, 0, 59)))
    prompt = only(due(incident, local(2026, 11, 18, 1, 0)), "out_of_hours")
    assert prompt.due_at == local(2026, 11, 18, 1, 0)
    assert prompt.key == "out_of_hours:2026-11-18T01:00:00+00:00"
    assert prompt.audience == "incident_lead" and "night" in prompt.text
    assert only(due(incident, local(2026, 11, 18, 9, 59)), "out_of_hours").key == prompt.key
    # It lapses when working hours start; the next stretch starts at 18:00, prompt at 20:00.
    assert "out_of_hours" not in kinds(due(incident, local(2026, 11, 18, 10, 0)))
    assert "out_of_hours" not in kinds(due(incident, local(2026, 11, 18, 19, 59)))
    assert only(due(incident, local(2026, 11, 18, 20, 0)), "out_of_hours").due_at == local(
        2026, 11, 18, 20, 0)


def test_out_of_hours_prompt_counts_from_when_the_stretch_began():
    incident = facts(declared_at=local(2026, 11, 18, 16, 0), major=True, cadence_minutes=None)
    policy = Policy(summary_minutes=0, escalate_after_minutes=0)
    assert next_due_at(incident, local(2026, 11, 18, 16, 0), policy) == local(
        2026, 11, 18, 20, 0)


def test_out_of_hours_prompt_is_once_per_stretch_even_over_a_weekend():
    incident = facts(declared_at=local(2026, 11, 20, 17, 0), major=True, cadence_minutes=None)
    policy = Policy(summary_minutes=0, escalate_after_minutes=0)
    assert next_due_at(incident, local(2026, 11, 20, 17, 0), policy) == local(
        2026, 11, 20, 20, 0)
    assert next_due_at(incident, local(2026, 11, 20, 20, 0), policy) == local(
        2026, 11, 23, 20, 0)


def test_non_major_incidents_get_no_out_of_hours_prompt():
    incident = facts(declared_at=local(2026, 11, 17, 23, 0))
    for hour in range(24):
        assert "out_of_hours" not in kinds(due(incident, local(2026, 11, 18, hour, 0)))


def test_working_hours_are_configurable():
    hours = WorkingHours(start=time(9), end=time(17), days=frozenset({0, 1, 2, 3}),
                         timezone="America/New_York")
    new_york = ZoneInfo("America/New_York")
    thursday_evening = datetime(2026, 11, 19, 17, 0, tzinfo=new_york)
    assert not hours.is_working(thursday_evening)
    assert hours.out_of_hours_began(thursday_evening) == thursday_evening
    assert hours.next_start(thursday_evening) == datetime(2026, 11, 23, 9, 0, tzinfo=new_york)
    incident = facts(declared_at=thursday_evening - timedelta(minutes=20))
    assert next_due_at(incident, thursday_evening, Policy(hours=hours)) == datetime(
        2026, 11, 23, 9, 0, tzinfo=new_york)


# Daylight saving: working hours start at 10:00 local on both sides of each change.

def test_spring_forward_week():
    hours = WorkingHours()
    assert hours.is_working(utc(2026, 3, 27, 17, 59))  # Friday 17:59 GMT
    assert not hours.is_working(utc(2026, 3, 27, 18, 0))
    assert not hours.is_working(utc(2026, 3, 30, 8, 59))  # Monday 09:59 BST
    assert hours.is_working(utc(2026, 3, 30, 9, 0))  # Monday 10:00 BST
    assert hours.next_start(utc(2026, 3, 28, 12, 0)) == local(2026, 3, 30, 10, 0) == utc(
        2026, 3, 30, 9, 0)
    incident = facts(declared_at=local(2026, 3, 27, 17, 55))
    assert due(incident, utc(2026, 3, 30, 8, 59)) == []
    assert {r.due_at for r in due(incident, utc(2026, 3, 30, 9, 0))} == {utc(2026, 3, 30, 9)}


def test_spring_forward_night_counts_real_hours():
    # Every day is a working day here; Saturday ends 18:00 GMT, Sunday starts 10:00 BST.
    hours = EVERY_DAY.hours
    assert hours.out_of_hours_began(utc(2026, 3, 29, 5, 0)) == utc(2026, 3, 28, 18, 0)
    assert hours.next_start(utc(2026, 3, 29, 5, 0)) == utc(2026, 3, 29, 9, 0)
    incident = facts(declared_at=local(2026, 3, 28, 23, 0), major=True)
    prompt = only(due(incident, utc(2026, 3, 29, 1, 0), EVERY_DAY), "out_of_hours")
    assert prompt.due_at == utc(2026, 3, 29, 1, 0)  # 02:00 BST, two real hours after 23:00 GMT
    assert "out_of_hours" not in kinds(due(incident, utc(2026, 3, 29, 0, 59), EVERY_DAY))


def test_fall_back_week():
    hours = WorkingHours()
    assert hours.is_working(utc(2026, 10, 23, 9, 0))  # Friday 10:00 BST
    assert not hours.is_working(utc(2026, 10, 23, 17, 0))  # Friday 18:00 BST
    assert not hours.is_working(utc(2026, 10, 26, 9, 30))  # Monday 09:30 GMT
    assert hours.next_start(utc(2026, 10, 24, 12, 0)) == local(2026, 10, 26, 10, 0) == utc(
        2026, 10, 26, 10, 0)
    incident = facts(declared_at=local(2026, 10, 23, 17, 55))  # 16:55 UTC
    assert due(incident, utc(2026, 10, 23, 17, 25)) == []  # summary 18:25 BST: held
    assert due(incident, utc(2026, 10, 26, 9, 59)) == []
    assert {r.due_at for r in due(incident, utc(2026, 10, 26, 10, 0))} == {utc(2026, 10, 26, 10)}


def test_fall_back_night_counts_real_hours():
    incident = facts(declared_at=utc(2026, 10, 25, 0, 0), major=True)  # 01:00 BST, first time
    assert "out_of_hours" not in kinds(due(incident, utc(2026, 10, 25, 1, 59), EVERY_DAY))
    prompt = only(due(incident, utc(2026, 10, 25, 2, 0), EVERY_DAY), "out_of_hours")
    assert prompt.due_at == local(2026, 10, 25, 2, 0)  # 02:00 GMT: the clock read 01:00 twice


# Snoozes.

def test_snoozed_reminder_is_due_at_the_snooze_end():
    incident = facts(snoozed_until={"summary": utc(2026, 11, 18, 11, 45)})
    assert "summary" not in kinds(due(incident, utc(2026, 11, 18, 11, 44)))
    assert "escalate" in kinds(due(incident, utc(2026, 11, 18, 11, 44)))  # only that kind
    snoozed = only(due(incident, utc(2026, 11, 18, 11, 45)), "summary")
    assert snoozed.due_at == utc(2026, 11, 18, 11, 45)
    assert snoozed.key == "summary:2026-11-18T11:45:00+00:00"
    assert next_due_at(incident, utc(2026, 11, 18, 11, 59)) == utc(2026, 11, 18, 12, 0)
    assert only(due(incident, utc(2026, 11, 18, 12, 15)), "summary").due_at == utc(
        2026, 11, 18, 12, 15)


def test_a_sent_reminder_comes_back_when_its_snooze_ends():
    sent = only(due(facts(), utc(2026, 11, 18, 11, 30)), "escalate")
    incident = facts(snoozed_until={"escalate": utc(2026, 11, 18, 11, 50)})
    assert "escalate" not in kinds(due(incident, utc(2026, 11, 18, 11, 40)))
    again = only(due(incident, utc(2026, 11, 18, 11, 50)), "escalate")
    assert again.key != sent.key


def test_snooze_no_longer_applies_once_the_update_is_sent():
    incident = facts(last_update_at=utc(2026, 11, 18, 12, 20),
                     snoozed_until={"update": utc(2026, 11, 18, 12, 30)})
    assert "update" not in kinds(due(incident, utc(2026, 11, 18, 12, 30)))
    assert only(due(incident, utc(2026, 11, 18, 13, 20)), "update").due_at == utc(
        2026, 11, 18, 13, 20)


def test_snooze_ending_out_of_hours_is_held_for_non_major():
    incident = facts(snoozed_until={"update": local(2026, 11, 18, 19, 0)})
    assert "update" not in kinds(due(incident, local(2026, 11, 18, 19, 0)))
    assert only(due(incident, local(2026, 11, 19, 10, 0)), "update").due_at == local(
        2026, 11, 19, 10, 0)


def test_out_of_hours_prompt_snoozed_past_the_morning_lapses():
    night = local(2026, 11, 17, 23, 0)
    incident = facts(declared_at=night, major=True,
                     snoozed_until={"out_of_hours": local(2026, 11, 18, 10, 30)})
    for hour in (1, 5, 9, 10, 11):
        assert "out_of_hours" not in kinds(due(incident, local(2026, 11, 18, hour, 0)))


def test_unknown_snooze_kind_is_refused():
    with pytest.raises(ValueError, match="unknown reminder kind"):
        facts(snoozed_until={"summery": WED_11})


# Input checks.

@pytest.mark.parametrize(
    "make",
    [
        lambda: due(facts(), datetime(2026, 11, 18, 12, 0)),
        lambda: next_due_at(facts(), datetime(2026, 11, 18, 12, 0)),
        lambda: facts(declared_at=datetime(2026, 11, 18, 11, 0)),
        lambda: facts(last_update_at=datetime(2026, 11, 18, 11, 0)),
        lambda: facts(unfilled_roles={"Scribe": datetime(2026, 11, 18, 11, 0)}),
        lambda: facts(role_spells=[("Scribe", "Ola", datetime(2026, 11, 18, 11, 0))]),
        lambda: facts(snoozed_until={"summary": datetime(2026, 11, 18, 11, 0)}),
        lambda: WorkingHours().is_working(datetime(2026, 11, 18, 11, 0)),
    ],
)
def test_naive_datetimes_are_refused(make):
    with pytest.raises(ValueError, match="timezone-aware"):
        make()


@pytest.mark.parametrize(
    "changes",
    [{"start": time(18), "end": time(10)}, {"days": frozenset()}, {"days": frozenset({7})},
     {"timezone": "Europe/Atlantis"}],
)
def test_bad_working_hours_are_refused(changes):
    with pytest.raises(ValueError):
        WorkingHours(**changes)


def test_negative_minutes_are_refused():
    with pytest.raises(ValueError):
        Policy(summary_minutes=-30)


# next_due_at agrees with due: sleeping until it sends the same reminders as polling.

SCENARIOS = {
    "non-major over a weekend": facts(
        declared_at=local(2026, 11, 20, 16, 40), cadence_minutes=120,
        unfilled_roles={"Comms lead": local(2026, 11, 20, 16, 40)},
        role_spells=[("Incident lead", "Ana", local(2026, 11, 20, 16, 40))],
        snoozed_until={"summary": local(2026, 11, 23, 11, 10)}),
    "major over a weekend": facts(
        declared_at=local(2026, 11, 20, 16, 40), major=True,
        unfilled_roles={"Scribe": local(2026, 11, 21, 2, 5)},
        role_spells=[("Tech lead", "Sam", local(2026, 11, 20, 23, 15))]),
    "non-major across fall back": facts(
        declared_at=local(2026, 10, 23, 15, 5), last_update_at=local(2026, 10, 23, 16, 0),
        unfilled_roles={"Comms lead": local(2026, 10, 23, 15, 5)}),
    "major across spring forward": facts(
        declared_at=local(2026, 3, 27, 12, 0), major=True,
        snoozed_until={"out_of_hours": utc(2026, 3, 28, 21, 30)}),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_sleeping_until_next_due_matches_polling(name):
    incident = SCENARIOS[name]
    step = timedelta(minutes=5)  # every time in these scenarios falls on a 5-minute mark
    start, end = incident.declared_at, incident.declared_at + timedelta(days=4)

    polled: dict[str, tuple[datetime, datetime]] = {}  # key -> (due_at, first seen)
    now = start
    while now < end:
        reminders = due(incident, now)
        groups = [(r.kind, r.role if r.kind == "role_unfilled" else r.key) for r in reminders]
        assert len(groups) == len(set(groups))  # at most one per kind (and per role)
        assert reminders == sorted(reminders, key=lambda r: r.due_at)
        for reminder in reminders:
            polled.setdefault(reminder.key, (reminder.due_at, now))
        now += step
    assert polled
    for due_at, seen in polled.values():
        assert due_at <= seen < due_at + step  # sent on the first tick it is due

    slept: dict[str, datetime] = {}
    now = start
    while now < end:
        for reminder in due(incident, now):
            slept.setdefault(reminder.key, now)
        following = next_due_at(incident, now)
        if following is None:
            break
        assert following > now
        assert any(r.due_at == following for r in due(incident, following))
        now = following
    assert set(slept) == set(polled)
    assert all(slept[key] == due_at for key, (due_at, _) in polled.items())
