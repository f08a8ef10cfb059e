"""The one place what happened to an incident becomes Microsoft 365 work.

Services publish events (app/incidents/events.py) in their own transaction; `publish`
looks each up in PLANS and stores the work it causes in the outbox there and then, so
the work exists exactly when the change does. The events that put something on the
timeline (REPORTED) also mark the incident's Word reports out of date
(`_reports_follow`). Read PLANS to see everything a change causes.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from app.core.installation import Installation
from app.core.org import OrgSettings
from app.documents import service as reports
from app.incidents import delivery_keys
from app.incidents.events import (
    Changed,
    Declared,
    Event,
    Notice,
    NoticeList,
    ParticipantAdded,
    ParticipantRemoved,
    ReviewBooked,
    StatusChanged,
    UpdatePosted,
)
from app.incidents.rules import CLOSED, RESOLVED
from app.m365 import cards, lifecycle, mail_plan, notices, plans
from app.outbox import service as outbox
from app.people.security import tell_security_contacts
from app.reminders.service import policy_from
from app.review_meetings.service import book
from app.updates import mail
from app.updates.phrasing import PHASE_LABELS


class M365Effects:
    """Built once by the app (app/__init__.py); services get it as their `effects`. It
    reads the app's configuration (`extensions`: org, installation, settings) when used, so
    what it does always follows the configuration in force."""

    def __init__(self, extensions: dict):
        self._extensions = extensions

    @property
    def org(self) -> OrgSettings:
        return self._extensions["org"]

    @property
    def installation(self) -> Installation:
        return self._extensions["installation"]

    @property
    def settings(self):
        return self._extensions["settings"]

    def publish(self, session: Session, event: Event) -> None:
        plan = PLANS.get(type(event))
        if plan is not None:
            plan(self, session, event)
        self._reports_follow(session, event)

    def _reports_follow(self, session: Session, event: Event) -> None:
        """A change on the timeline makes the incident's Word reports out of date; their
        writes are outbox work too, due once the changes settle."""
        if not isinstance(event, REPORTED):
            return
        closing = isinstance(event, StatusChanged) and event.status == CLOSED
        reports.follow_change(session, self.installation, self.org, event.incident, outbox=outbox,
                              declared=isinstance(event, Declared), closing=closing)


# ---- what each event causes -------------------------------------------------------------


def _declared(effects: M365Effects, session: Session, event: Declared) -> None:
    session.flush()
    plans.on_declared(session, effects.org, effects.installation, event.incident, event.actor)
    if event.incident.is_security and event.actor is not None:
        tell_security_contacts(session, effects.org, effects, event.incident, event.actor)


def _status_changed(effects: M365Effects, session: Session, event: StatusChanged) -> None:
    if event.status == RESOLVED:
        book(session, effects, policy_from(effects.settings).hours, event.incident,
             event.actor)
    if event.previous == CLOSED:  # open again: its archived Teams channel must take posts
        lifecycle.on_reopened(session, event.incident, event.actor)


def _participant_added(effects: M365Effects, session: Session, event: ParticipantAdded
                       ) -> None:
    removal = lifecycle.keep_in_channel(session, event.incident, event.user)
    plans.participant(session, effects.installation, event.incident, event.actor, event.user)
    if removal is not None:
        lifecycle.wait_for_removal(session, event.incident, event.user, removal)


def _participant_removed(effects: M365Effects, session: Session, event: ParticipantRemoved
                         ) -> None:
    lifecycle.drop_member_work(session, event.incident, event.user)
    if effects.installation.teams_enabled:  # access already given in Teams is taken back
        lifecycle.take_back_channel(
            session, event.incident, event.user,
            as_service_account=bool(effects.installation.service_account))


def _review_booked(effects: M365Effects, session: Session, event: ReviewBooked) -> None:
    installation, incident = effects.installation, event.incident
    if not installation.teams_enabled:
        return
    url = installation.incident_url(incident.reference) + "/review"
    outbox.add(
        session, key=delivery_keys.review_meeting(incident.reference), kind=plans.EVENT,
        incident=incident, actor=event.actor,
        payload={"subject": event.subject[:250], "start": event.starts_at.isoformat(),
                 "end": event.ends_at.isoformat(),
                 "attendees": [{"email": p["email"], "name": p["name"]}
                               for p in event.attendees],
                 "body_html": notices.meeting_body(url), "label": "Review meeting (Outlook)"})


def _update_posted(effects: M365Effects, session: Session, event: UpdatePosted) -> None:
    installation, incident, update = effects.installation, event.incident, event.update
    facts = plans.card_facts(effects.org, incident)
    label = PHASE_LABELS[update.phase]
    url = installation.incident_url(incident.reference)
    key = delivery_keys.update(incident.reference, update.id)
    author = event.actor.name if event.actor is not None else "Incident Desk"
    if update.to_channel:  # a card cuts a long update short: it links to the whole of it
        card = cards.update(facts, label, update.message, author, url,
                            full_url=f"{url}?timeline=all#entry-{event.entry_id}")
        outbox.add(session, key=delivery_keys.teams_part(key), kind=plans.POST,
                   incident=incident, actor=event.actor,
                   depends_on=lifecycle.posting_prerequisite(session, incident),
                   payload={"channel": "incident", "html": cards.summary_html(facts),
                            "card": card, "card_kind": "update",
                            "label": f"Update ({label.lower()}) to Teams"})
    mail_plan.queue(session, installation, incident, event.actor, key=key,
                    recipients=update.recipients, subject=mail.subject(facts, label),
                    html=mail.body(facts, label, update.message, author, url),
                    label=lambda b: f"Update email to {mail.people(b.size)}{b.part}")


def _notice(effects: M365Effects, session: Session, event: Notice) -> None:
    notices.notify(session, effects.installation, event.incident, event.actor, key=event.key,
                   to=event.to, subject=event.subject, message=event.message,
                   link_text=event.link_text, url=event.url, teams=event.teams,
                   label=event.label, show_title=event.show_title,
                   channel_message=event.channel_message, feed=event.feed)


def _notice_list(effects: M365Effects, session: Session, event: NoticeList) -> None:
    notices.notify_list(session, effects.installation, event.incident, event.actor,
                        key=event.key, to=event.to, subject=event.subject,
                        heading=event.heading, items=event.items, url=event.url,
                        label=event.label, for_name=event.for_name,
                        show_title=event.show_title, feed=event.feed)


# The events that put something on the timeline; the others (notices, meetings, people
# joining Teams) only tell or invite people about a change already recorded.
REPORTED = (Declared, StatusChanged, Changed, UpdatePosted)

PLANS: dict[type[Event], Callable[[M365Effects, Session, Event], None]] = {
    Declared: _declared,
    StatusChanged: _status_changed,
    Changed: lambda *_: None,  # reports only
    ParticipantAdded: _participant_added,
    ParticipantRemoved: _participant_removed,
    ReviewBooked: _review_booked,
    UpdatePosted: _update_posted,
    Notice: _notice,
    NoticeList: _notice_list,
}
