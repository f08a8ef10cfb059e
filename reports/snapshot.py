"""What a report needs to know, frozen at one moment.

Callers (the app, a job, a test) copy what they have out of the database into these
dataclasses; the builders never see an ORM object, so they stay pure and a report can be
rebuilt exactly from a stored snapshot. Every field but the few that identify an incident
has a default, so callers fill only what they know.

Datetimes are timezone-aware UTC; builders show them in `IncidentSnapshot.timezone`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Any

# A role is held "at" a moment from a little before it was assigned: the app records the
# declaration a few microseconds before it makes the declarer incident lead.
ROLE_GRACE = timedelta(seconds=60)


def _now() -> datetime:
    return datetime.now(UTC)


def _freeze(obj: Any) -> None:
    """Lists become tuples and dicts read-only, so a frozen snapshot really is frozen."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, list):
            object.__setattr__(obj, f.name, tuple(value))
        elif isinstance(value, dict):
            object.__setattr__(obj, f.name, MappingProxyType(dict(value)))


@dataclass(frozen=True)
class RoleSpell:
    """One person holding one role for a while; `released_at` is None while they still do."""

    role: str  # label as shown, e.g. "Incident lead"
    person: str
    assigned_at: datetime
    released_at: datetime | None = None
    key: str = ""  # the org's role key ("incident_lead"), matches TimelineItem.data["role"]

    def held_at(self, when: datetime) -> bool:
        started = self.assigned_at - ROLE_GRACE <= when
        return started and (self.released_at is None or when < self.released_at)


@dataclass(frozen=True)
class TimelineItem:
    """One thing that happened. `kind` and `data` are as the app records them. A
    corrected scribe-log entry says who corrected it and when, so the words are not
    credited to `author` alone."""

    occurred_at: datetime
    text: str
    kind: str = "note"
    author: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    corrected_at: datetime | None = None
    corrected_by: str | None = None

    def __post_init__(self) -> None:
        _freeze(self)


@dataclass(frozen=True)
class UpdateSent:
    """A status update as it went out."""

    created_at: datetime
    message: str
    phase: str = ""
    recipients: int = 0  # how many people it was emailed to
    to_channel: bool = False
    author: str | None = None


@dataclass(frozen=True)
class SeverityChange:
    """Severity moved from one level to another (labels, as shown to people)."""

    changed_at: datetime
    from_severity: str
    to_severity: str
    by: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Action:
    """A follow-up action. `public=False` keeps it out of the published version."""

    description: str
    owner: str = ""
    due: date | None = None
    status: str = "open"
    link: str = ""
    public: bool = True


@dataclass(frozen=True)
class Impact:
    """Impact figures for the review; `duration` overrides declared → resolved."""

    summary: str = ""
    users_affected: int | None = None
    duration: timedelta | None = None


@dataclass(frozen=True)
class QuestionAnswer:
    question: str
    answer: str = ""


@dataclass(frozen=True)
class IncidentSnapshot:
    """Everything any of the four reports shows about one incident."""

    reference: str
    title: str
    declared_at: datetime
    severity: str = ""  # the org's key, e.g. "P1"
    severity_label: str = ""  # as shown; falls back to `severity`
    status: str = "investigating"
    description: str = ""
    is_security: bool = False
    services: tuple[str, ...] = ()
    declared_by: str | None = None
    detected_at: datetime | None = None  # when someone first noticed; defaults to declared
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    resolution: str = ""
    roles: tuple[RoleSpell, ...] = ()
    timeline: tuple[TimelineItem, ...] = ()
    updates: tuple[UpdateSent, ...] = ()
    severity_changes: tuple[SeverityChange, ...] = ()
    actions: tuple[Action, ...] = ()
    # Review fields
    impact: Impact = field(default_factory=Impact)
    summary: str = ""  # plain English, for people who were not there
    public_summary: str = ""  # what happened, written to be published; else `summary`
    contributing_factors: tuple[str, ...] = ()
    lessons_learnt: tuple[str, ...] = ()
    what_went_well: tuple[str, ...] = ()
    key_questions: tuple[QuestionAnswer, ...] = ()
    # About the document
    organisation: str = ""
    classification: str = "OFFICIAL"
    timezone: str = "Europe/London"
    generated_at: datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        _freeze(self)

    @property
    def severity_display(self) -> str:
        return self.severity_label or self.severity

    @property
    def started_at(self) -> datetime:
        return self.detected_at or self.declared_at

    @property
    def duration(self) -> timedelta | None:
        """The impact duration if given, else detected/declared → resolved (None if open)."""
        if self.impact.duration is not None:
            return self.impact.duration
        if self.resolved_at is None:
            return None
        return self.resolved_at - self.started_at

    def current_roles(self) -> tuple[RoleSpell, ...]:
        return tuple(r for r in self.roles if r.released_at is None)

    def people(self) -> frozenset[str]:
        """Every personal name the snapshot knows, so they can be kept out of some reports."""
        names = {self.declared_by}
        names.update(r.person for r in self.roles)
        names.update(t.author for t in self.timeline)
        names.update(t.corrected_by for t in self.timeline)
        names.update(t.data["teams_message"].get("sender") for t in self.timeline
                     if isinstance(t.data.get("teams_message"), Mapping))  # who wrote it
        names.update(u.author for u in self.updates)
        names.update(c.by for c in self.severity_changes)
        names.update(a.owner for a in self.actions)
        return frozenset(n.strip() for n in names if n and n.strip())
