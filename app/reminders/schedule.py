"""Which reminders about an open incident are due: the playbook rules as pure functions.

No Flask, no database and no clock: the caller passes ``now``, so a cron job can recompute
as often as it likes and send each reminder exactly once by remembering its ``key``.

Interface
    ``due(facts, now, policy=DEFAULT_POLICY) -> list[Reminder]``
        Reminders due at ``now``, oldest first, at most one per kind (per role for
        ``role_unfilled``, per holding spell for ``rotate``). Send those with a new ``key``.
    ``next_due_at(facts, now, policy=DEFAULT_POLICY) -> datetime | None``
        The next moment ``due`` returns a new key, so a scheduler can sleep until then.
    ``IncidentFacts`` what the caller knows about one incident; ``Policy`` the playbook
    numbers; ``WorkingHours`` when non-major incidents may notify; ``Reminder`` the result
    (``key``, ``kind``, ``due_at`` in UTC, ``audience``, ``text``, ``role``, ``person``).
    ``WorkingHours`` also answers ``is_working``, ``next_start``, ``out_of_hours_began``,
    ``next_end`` and ``hold`` (all UTC), for anything else that must respect the hours.

Rules (minutes are ``Policy`` fields; 0 turns a rule off, except that
``role_repeat_minutes=0`` reminds once)
    update        comms lead, ``cadence_minutes`` after the last update (or declaration),
                  again every cadence while none is sent; no cadence (None or 0), none.
    summary       incident lead, every ``summary_minutes`` from declaration.
    role_unfilled incident lead, ``role_grace_minutes`` after a required role became
                  unfilled, then every ``role_repeat_minutes``.
    escalate      incident lead, once, ``escalate_after_minutes`` after declaration.
    rotate        the role holder, once per spell, ``rotate_after_minutes`` after assignment.
    out_of_hours  incident lead, once per out-of-hours stretch, ``out_of_hours_limit_minutes``
                  after it began (or after declaration, if later); major incidents only,
                  because others are not worked out of hours and a "stop for the night"
                  prompt held until the morning would be pointless. Lapses at the stretch end.
    Out of hours, a non-major incident's reminders are held until working hours start: the
    missed ones become one reminder due at that start. A snooze makes a kind due no earlier
    than its end (then held, if need be). Repeats count from the previous reminder's actual
    due time, so a held or snoozed one is not followed minutes later by the next.
    Resolved or closed incidents get nothing.

Keys are ``kind[:subject]:due_at`` with due_at in UTC ISO form, e.g.
``update:2026-11-22T10:00:00+00:00``; the subject is the role label for ``role_unfilled``
and ``role:person:assigned_at`` for ``rotate``. A new last update, snooze or spell gives
new due times and so new keys. Naive datetimes raise ValueError.

To build facts from ``app.core.org.Severity``: ``cadence_minutes=severity.update_every_minutes``
(0 means none) and ``major=severity.major``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.incidents.rules import FINISHED

KINDS = ("update", "summary", "role_unfilled", "escalate", "rotate", "out_of_hours")
FINISHED_STATUSES = FINISHED  # (app/incidents/rules.py)
_SEARCH_DAYS = 8  # either side of a moment: enough to find working hours held once a week
_TICK = timedelta(microseconds=1)


def _utc(value: datetime, name: str) -> datetime:
    """Compare in UTC; a naive time is ambiguous, so it is an error rather than a guess."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {value!r}")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class WorkingHours:
    """Local working hours; outside them only major incidents notify anyone."""

    start: time = time(10)
    end: time = time(18)
    days: frozenset[int] = frozenset(range(5))  # Monday is 0
    timezone: str = "Europe/London"

    def __post_init__(self) -> None:
        if self.start.tzinfo or self.end.tzinfo or not self.start < self.end:
            raise ValueError("working hours need naive local times with start before end")
        days = frozenset(self.days)
        if not days or not days <= frozenset(range(7)):
            raise ValueError("working days must be a non-empty set of weekdays 0 (Mon) to 6")
        object.__setattr__(self, "days", days)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc

    def _spans(self, when: datetime) -> list[tuple[datetime, datetime]]:
        """Working spans in UTC near `when`, built per local date so DST shifts are right."""
        zone = ZoneInfo(self.timezone)
        today = when.astimezone(zone).date()
        spans = []
        for offset in range(-_SEARCH_DAYS, _SEARCH_DAYS + 1):
            day = today + timedelta(days=offset)
            if day.weekday() in self.days:
                begin = datetime.combine(day, self.start, zone).astimezone(UTC)
                end = datetime.combine(day, self.end, zone).astimezone(UTC)
                if begin < end:  # a span swallowed by a DST gap is no span
                    spans.append((begin, end))
        return spans

    def is_working(self, when: datetime) -> bool:
        when = _utc(when, "when")
        return any(begin <= when < end for begin, end in self._spans(when))

    def next_start(self, when: datetime) -> datetime:
        """The first moment working hours begin at or after `when` (UTC)."""
        when = _utc(when, "when")
        return min(begin for begin, _ in self._spans(when) if begin >= when)

    def out_of_hours_began(self, when: datetime) -> datetime | None:
        """Start of the out-of-hours stretch containing `when` (UTC); None in working hours."""
        when = _utc(when, "when")
        spans = self._spans(when)
        if any(begin <= when < end for begin, end in spans):
            return None
        return max(end for _, end in spans if end <= when)

    def next_end(self, when: datetime) -> datetime:
        """The first moment working hours end after `when` (UTC): the next stretch begins."""
        when = _utc(when, "when")
        return min(end for _, end in self._spans(when) if end > when)

    def hold(self, when: datetime) -> datetime:
        """`when` itself in working hours, otherwise the next start (UTC)."""
        return when.astimezone(UTC) if self.is_working(when) else self.next_start(when)


@dataclass(frozen=True)
class Policy:
    """The playbook numbers, in minutes, so an organisation can change them."""

    hours: WorkingHours = field(default_factory=WorkingHours)
    summary_minutes: int = 30
    escalate_after_minutes: int = 30
    role_grace_minutes: int = 10
    role_repeat_minutes: int = 30
    rotate_after_minutes: int = 120
    out_of_hours_limit_minutes: int = 120

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if name != "hours" and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a whole number of minutes, 0 or more")


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class IncidentFacts:
    """What the caller knows about one incident at the moment of asking."""

    reference: str
    declared_at: datetime
    status: str
    cadence_minutes: int | None  # the severity's update cadence; None or 0: no updates
    major: bool  # major/critical: notifies out of hours too
    last_update_at: datetime | None = None
    unfilled_roles: Mapping[str, datetime] = field(default_factory=dict)  # label -> since
    role_spells: Sequence[tuple[str, str, datetime]] = ()  # (label, person, assigned_at)
    snoozed_until: Mapping[str, datetime] = field(default_factory=dict)  # kind -> until

    def __post_init__(self) -> None:
        _utc(self.declared_at, "declared_at")
        if self.last_update_at is not None:
            _utc(self.last_update_at, "last_update_at")
        for role, since in self.unfilled_roles.items():
            _utc(since, f"unfilled_roles[{role!r}]")
        for role, _person, assigned_at in self.role_spells:
            _utc(assigned_at, f"role_spells {role!r} assigned_at")
        for kind, until in self.snoozed_until.items():
            if kind not in KINDS:
                raise ValueError(f"cannot snooze unknown reminder kind {kind!r}")
            _utc(until, f"snoozed_until[{kind!r}]")


@dataclass(frozen=True)
class Reminder:
    """One notification to send once; `key` identifies it across recomputations."""

    key: str
    kind: str  # one of KINDS
    due_at: datetime  # UTC
    audience: str  # "comms_lead" | "incident_lead" | "role_holder"
    text: str  # one plain sentence
    role: str | None = None  # the role concerned, for role_unfilled and rotate
    person: str | None = None  # who holds it, for rotate (audience "role_holder")


@dataclass(frozen=True)
class _Series:
    """A reminder first due at `first` (before shifting), repeating `every` unless None."""

    kind: str
    subject: str
    first: datetime
    every: timedelta | None
    audience: str
    text: str
    role: str | None = None
    person: str | None = None


def due(facts: IncidentFacts, now: datetime, policy: Policy = DEFAULT_POLICY) -> list[Reminder]:
    """Reminders due at `now` after holding and snoozes, oldest first."""
    return _evaluate(facts, now, policy)[0]


def next_due_at(
    facts: IncidentFacts, now: datetime, policy: Policy = DEFAULT_POLICY
) -> datetime | None:
    """When `due` next has a new key (UTC), so a scheduler sleeps instead of polling."""
    return _evaluate(facts, now, policy)[1]


def _evaluate(
    facts: IncidentFacts, now: datetime, policy: Policy
) -> tuple[list[Reminder], datetime | None]:
    now = _utc(now, "now")
    if facts.status in FINISHED_STATUSES:
        return [], None
    found: list[Reminder] = []
    upcoming: list[datetime] = []
    for series in _series(facts, policy):
        current, following = _regular(series, facts, now, policy)
        if current:
            found.append(current)
        if following:
            upcoming.append(following)
    if facts.major and policy.out_of_hours_limit_minutes:
        current, following = _out_of_hours(facts, now, policy)
        if current:
            found.append(current)
        if following:
            upcoming.append(following)
    found.sort(key=lambda r: (r.due_at, r.key))
    return found, min(upcoming, default=None)


def _series(facts: IncidentFacts, policy: Policy) -> list[_Series]:
    ref, declared = facts.reference, _utc(facts.declared_at, "declared_at")
    result = []
    if facts.cadence_minutes:
        cadence = timedelta(minutes=facts.cadence_minutes)
        every = "hour" if facts.cadence_minutes == 60 else _duration(facts.cadence_minutes)
        if facts.last_update_at is None:
            base = declared
            text = f"{ref} needs its first status update now; updates are due every {every}."
        else:
            base = _utc(facts.last_update_at, "last_update_at")
            last = base.astimezone(ZoneInfo(policy.hours.timezone)).strftime("%H:%M")
            text = (f"{ref} needs a status update now; updates are due every {every} "
                    f"and the last went out at {last}.")
        result.append(_Series("update", "", base + cadence, cadence, "comms_lead", text))
    if policy.summary_minutes:
        step = timedelta(minutes=policy.summary_minutes)
        text = f"{ref}: please add a short summary of where things stand to the timeline."
        result.append(_Series("summary", "", declared + step, step, "incident_lead", text))
    if policy.escalate_after_minutes:
        after = policy.escalate_after_minutes
        text = (f"{ref} has been open for over {_duration(after)}; consider escalating, "
                "raising the severity or calling the next person in the escalation chain.")
        result.append(_Series("escalate", "", declared + timedelta(minutes=after), None,
                              "incident_lead", text))
    repeat = timedelta(minutes=policy.role_repeat_minutes) or None
    grace = timedelta(minutes=policy.role_grace_minutes)
    for role, since in facts.unfilled_roles.items():
        text = f"{ref} still has no {role}; please ask someone to take it on."
        result.append(_Series("role_unfilled", role, _utc(since, role) + grace, repeat,
                              "incident_lead", text, role))
    if policy.rotate_after_minutes:
        after = policy.rotate_after_minutes
        for role, person, assigned_at in facts.role_spells:
            assigned = _utc(assigned_at, role)
            text = (f"{person} has been {role} on {ref} for over {_duration(after)}; "
                    "consider handing over to someone fresh.")
            result.append(_Series("rotate", f"{role}:{person}:{assigned.isoformat()}",
                                  assigned + timedelta(minutes=after), None, "role_holder",
                                  text, role, person))
    return result


def _regular(
    series: _Series, facts: IncidentFacts, now: datetime, policy: Policy
) -> tuple[Reminder | None, datetime | None]:
    """The latest reminder due by `now` and the due time of the one after it.

    Each repeat comes `every` after the previous reminder's (shifted) due time, so a held
    or snoozed reminder restarts the count instead of being followed minutes later.
    """
    hours = policy.hours
    snooze = facts.snoozed_until.get(series.kind)
    snooze = _utc(snooze, "snoozed_until") if snooze else None

    def shifted(moment: datetime) -> datetime:
        moment = max(moment, snooze) if snooze else moment
        return moment if facts.major else hours.hold(moment)

    current, following = None, shifted(series.first)
    while following is not None and following <= now:
        current = following
        if series.every is None:
            following = None
        else:  # skip ahead through repeats that need no shifting, then shift the next one
            free_until = now if facts.major else min(now, hours.next_end(current) - _TICK)
            current += (free_until - current) // series.every * series.every
            following = shifted(current + series.every)
    if current is None:
        return None, following
    subject = f"{series.subject}:" if series.subject else ""
    reminder = Reminder(f"{series.kind}:{subject}{current.isoformat()}", series.kind, current,
                        series.audience, series.text, series.role, series.person)
    return reminder, following


def _out_of_hours(
    facts: IncidentFacts, now: datetime, policy: Policy
) -> tuple[Reminder | None, datetime | None]:
    """This stretch's "stop or hand over" prompt if due, and the next one's due time."""
    hours = policy.hours
    limit = timedelta(minutes=policy.out_of_hours_limit_minutes)
    snooze = facts.snoozed_until.get("out_of_hours")
    snooze = _utc(snooze, "snoozed_until") if snooze else None
    declared = _utc(facts.declared_at, "declared_at")

    def prompt_at(began: datetime, ends: datetime) -> datetime | None:
        at = max(began, declared) + limit
        at = max(at, snooze) if snooze else at
        return at if at < ends else None  # it lapses when working hours start

    current = None
    began = hours.out_of_hours_began(now)
    if began is None:
        search_from = now
    else:
        search_from = hours.next_start(now)
        at = prompt_at(began, search_from)
        if at is not None and at > now:
            return None, at
        if at is not None:
            text = (f"{facts.reference} has been open out of hours for over "
                    f"{_duration(policy.out_of_hours_limit_minutes)}; if you are still on "
                    "it, consider stopping for the night or handing over.")
            current = Reminder(f"out_of_hours:{at.isoformat()}", "out_of_hours", at,
                               "incident_lead", text)
    for _ in range(2 * _SEARCH_DAYS):  # stretches too short for the limit never prompt
        began = hours.next_end(search_from)
        search_from = hours.next_start(began)
        at = prompt_at(began, search_from)
        if at is not None:
            return current, at
    return current, None


def _duration(minutes: int) -> str:
    if minutes % 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    return f"{hours} hour{'s' if hours != 1 else ''}"
