"""A realistic incident snapshot for the report tests (and for looking at the output)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from reports.snapshot import (
    Action,
    Impact,
    IncidentSnapshot,
    QuestionAnswer,
    RoleSpell,
    SeverityChange,
    TimelineItem,
    UpdateSent,
)

T0 = datetime(2026, 3, 3, 9, 12, tzinfo=UTC)
ADA, GRACE, ALAN = "Ada Lovelace", "Grace Hopper", "Alan Turing"
PEOPLE = (ADA, GRACE, ALAN)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


ROLES = (
    RoleSpell("Incident lead", ADA, at(0), at(70), key="incident_lead"),
    RoleSpell("Comms lead", GRACE, at(6), key="comms_lead"),
    RoleSpell("Incident lead", ALAN, at(70), key="incident_lead"),
)

TIMELINE = (
    TimelineItem(at(0), "Declared as P2", "declared", ADA, {"severity": "P2"}),
    TimelineItem(at(0), f"{ADA} is now incident lead", "role_assigned", ADA,
                 {"role": "incident_lead", "user_id": 1, "previous_user_id": None}),
    TimelineItem(at(6), f"{GRACE} is now comms lead", "role_assigned", ADA,
                 {"role": "comms_lead", "user_id": 2, "previous_user_id": None}),
    TimelineItem(at(14), "Error rate on the application form is 48%.", "note", ADA),
    TimelineItem(at(25), "Severity raised: P2 → P1", "severity_change", ADA,
                 {"from": "P2", "to": "P1", "note": "Half of all candidates affected"}),
    TimelineItem(at(40), "Grace asked DfE Sign-in whether they had changed anything.",
                 "note", GRACE),
    TimelineItem(at(70), f"{ALAN} is now incident lead, taking over from {ADA}",
                 "role_assigned", ALAN,
                 {"role": "incident_lead", "user_id": 3, "previous_user_id": 1}),
    TimelineItem(at(95), "Rolled back the 09:05 deploy; errors back to normal.", "note", ALAN),
    TimelineItem(at(130), "Status changed to resolved", "status_change", ALAN,
                 {"from": "monitoring", "to": "resolved"}),
)


def snapshot(**changes) -> IncidentSnapshot:
    base = IncidentSnapshot(
        reference="INC-2026-0042",
        title="Candidates cannot submit applications",
        declared_at=T0,
        detected_at=at(-8),
        severity="P1",
        severity_label="P1",
        status="resolved",
        description=("The application form returns an error page when candidates press "
                     "Submit.\n\nAbout half of all submissions fail."),
        services=("Apply for teacher training", "DfE Sign-in"),
        declared_by=ADA,
        resolved_at=at(130),
        resolution="The 09:05 deploy was rolled back.",
        roles=ROLES,
        timeline=TIMELINE,
        updates=(
            UpdateSent(at(10), "We are investigating errors on the application form.",
                       "investigating", 14, True, GRACE),
            UpdateSent(at(100), "A fix is in place and we are monitoring.", "monitoring",
                       14, True, GRACE),
        ),
        severity_changes=(SeverityChange(at(25), "P2", "P1", ADA,
                                         "Half of all candidates affected"),),
        actions=(
            Action("Alert when the form's error rate passes 5%", ALAN, date(2026, 3, 1),
                   "open", "https://tracker.example.com/ops/1234"),
            Action("Add a smoke test of Submit to the deploy pipeline", GRACE,
                   date(2026, 4, 10), "in_progress"),
            Action("Rotate the sign-in client secret on prod-db-3", ALAN, date(2026, 3, 20),
                   "done", public=False),
        ),
        impact=Impact("About half of candidates could not submit an application for two "
                      "hours on a weekday morning.", users_affected=2400),
        summary=("On Tuesday morning a change to the application form stopped about half of "
                 "candidates from submitting their applications. We undid the change and "
                 "the form has worked normally since."),
        contributing_factors=("The deploy changed how the form talks to DfE Sign-in.",
                              "No alert fired on the form's error rate."),
        lessons_learnt=("Smoke-test the whole journey after each deploy.",),
        what_went_well=("Rolling back took five minutes.",),
        key_questions=(QuestionAnswer("What made us declare an incident?",
                                      "Support saw a spike in tickets; Grace Hopper raised it."),),
        organisation="Teacher Services",
        generated_at=at(24 * 60),
    )
    return replace(base, **changes)
