"""Reminders due together for one person and incident go out as one notice: one email and
one Teams post listing each reminder with its own text and link.

Why: an unattended P1 overnight produced six kinds of reminder, each its own email and
its own Teams post, roughly five an hour all night. Each is right on its own; together
they bury the one that matters (see bench/bench_reminders_overnight.py for the counts).

Which reminders travel together (pure rules; `service.send_due` applies them):
- every reminder due in the same run of the minute's job for the same recipient;
- plus, when such a notice goes out anyway, the *standing-state* reminders of that
  recipient due within the next `RIDE_ALONG` minutes (`EARLY_KINDS`: an update, a summary,
  a required role still empty). Their text stays true a few minutes early, and sending
  them with the notice that is leaving now saves a second message minutes later (the
  summary repeats from declaration and an empty role from its grace time, so they are 10
  minutes apart for ever). Their due times and so their keys do not change: the next
  repeat still counts from the due time, and the job later finds the key already sent.
  A snoozed kind never rides ahead of its snooze's end.
  Never early: escalation, hand-over and "stop for the night", which say "for over N
  hours" and would not yet be true; and nothing is ever sent *later* than it is due.
- `RIDE_ALONG` is 10 minutes: the default gap between the summary and the empty-role
  prompts, and a third of the shortest repeat (30 minutes), so a reminder can never ride
  ahead of its own previous due time.
Nothing is dropped or thinned: every reminder the playbook rules produce is listed in
exactly one notice. Repeats do not back off, because the playbooks ask for an hourly
update and a 30-minute summary prompt for a P1; and out of hours only major incidents
remind anyone (the schedule's rule), so "quiet hours" for non-major kinds already hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.reminders.schedule import Reminder

RIDE_ALONG = timedelta(minutes=10)
EARLY_KINDS = frozenset({"update", "summary", "role_unfilled"})
TITLES = {"update": "An update is due", "summary": "Time for a summary",
          "role_unfilled": "A required role is not filled", "escalate": "Consider escalating",
          "rotate": "Time to hand over?", "out_of_hours": "Stop for the night or hand over?"}
# Where on the incident each reminder is acted on: (link text, path after the incident URL)
LINKS = {"update": ("Write the update", "/updates/new"),
         "summary": ("Add a summary to the timeline", "#timeline"),
         "role_unfilled": ("Assign the role", "#roles"),
         "escalate": ("Bring someone in", "#people"),
         "rotate": ("Hand over the role", "#roles"),
         "out_of_hours": ("Hand over the roles", "#roles")}


@dataclass(frozen=True)
class Item:
    """One reminder as a notice lists it."""

    title: str
    text: str
    link_text: str
    url: str


def item(reminder: Reminder, incident_url: str) -> Item:
    link_text, suffix = LINKS.get(reminder.kind, ("Open the incident", ""))
    return Item(TITLES.get(reminder.kind, "Reminder"), reminder.text, link_text,
                incident_url + suffix)


def items(reminders: Sequence[Reminder], incident_url: str) -> list[Item]:
    """One line per distinct reminder: when the job missed a due time (it was down) and
    the next repeat of the same series comes too, both keys are sent but listed once, as
    they say the same thing."""
    seen, found = set(), []
    for reminder in reminders:
        if (reminder.kind, reminder.text) not in seen:
            seen.add((reminder.kind, reminder.text))
            found.append(item(reminder, incident_url))
    return found


def riding_along(due_now: Sequence[Reminder], due_soon: Iterable[Reminder],
                 now: datetime, snoozed_until: Mapping[str, datetime] | None = None
                 ) -> list[Reminder]:
    """Of the reminders due by now + RIDE_ALONG, those that may go early with this run's.
    A kind someone snoozed never goes before the snooze ends: they asked for quiet."""
    taken, snoozed_until = {r.key for r in due_now}, snoozed_until or {}
    return [r for r in due_soon
            if r.kind in EARLY_KINDS and r.due_at > now and r.key not in taken
            and not (r.kind in snoozed_until and snoozed_until[r.kind] > now)]


def subject(items: Sequence[Item]) -> str:
    """One reminder keeps its title; several say how many and which (Outlook cuts at 255)."""
    if len(items) == 1:
        return items[0].title
    return f"{len(items)} reminders: " + "; ".join(i.title for i in items)
