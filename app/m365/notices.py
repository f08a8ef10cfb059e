"""Short notices to people about an incident (a hand-over to accept, a security incident,
a reminder): an email and, where it helps, a card in the incident's Teams channel.

Written into the outbox like everything else, so they are sent once, after the change
that caused them commits. All user-written text is escaped for HTML and kept to TextRuns
in cards.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from app.core.email_html import paragraphs
from app.core.installation import Installation
from app.incidents import delivery_keys
from app.incidents.events import Feed
from app.incidents.models import Incident
from app.m365 import activity_feed, cards, lifecycle, mail_plan, plans
from app.outbox import service as outbox
from app.outbox.models import Delivery


def notify(session: Session, installation: Installation, incident: Incident, actor, *, key: str,
           to: Sequence[str], subject: str, message: str, link_text: str, url: str,
           teams: bool = True, label: str = "Notice", show_title: bool = True,
           channel_message: str | None = None, feed: Feed | None = None) -> None:
    """Queue the email (and Teams card) in the caller's transaction. `show_title` False
    keeps the incident's title out of the email (a restricted incident's title can say
    too much in a forwarded message). `feed`: its one person hears in their Teams
    activity feed instead of by email where they can (app/m365/activity_feed.py)."""
    html = Markup('{message}<p style="margin:0"><a href="{url}">{link_text}</a></p>').format(
        message=paragraphs(message), url=url, link_text=link_text)
    person = activity_feed.recipient(session, installation, feed, to)
    mail = _queue_mail(session, installation, incident, actor, key=key, to=to,
                       subject=subject, body=html, label=label, show_title=show_title,
                       hold=person is not None)
    card = None
    if teams:
        body = [cards.rich(cards.run(subject, weight="Bolder")),
                cards.rich(cards.run(channel_message or message), spacing="Small")]
        card = _queue_card(session, installation, incident, actor, key=key, heading=subject,
                           card=cards.card(body, [cards.open_url(link_text, url)]),
                           label=label, live=_handover_card(key))
    if person is not None and mail is not None:
        activity_feed.plan(session, incident, actor, person=person, feed=feed, key=key,
                           mail=mail, card=card, label=label, show_title=show_title)


def notify_list(session: Session, installation: Installation, incident: Incident, actor, *,
                key: str, to: Sequence[str], subject: str, heading: str, items: Sequence,
                url: str, label: str = "Notice", for_name: str | None = None,
                show_title: bool = True, feed: Feed | None = None) -> None:
    """One email and one Teams card listing several things at once (reminders due
    together), each `item` (title, text, link_text, url) with its own text and link.
    A list of one is headed by its title, so the title is not repeated. `feed` as for
    `notify`."""
    titled = len(items) > 1
    listed = Markup("").join(Markup(
        '<li style="margin:0 0 10px">{title}{text}<br><a href="{url}">{link_text}</a></li>'
    ).format(title=Markup("<strong>{}</strong><br>").format(i.title) if titled else "",
             text=i.text, url=i.url, link_text=i.link_text) for i in items)
    html = Markup(
        '<p style="margin:0 0 8px">{heading}</p>'
        '<ul style="margin:0 0 12px;padding-left:20px">{listed}</ul>'
        '<p style="margin:0"><a href="{url}">Open the incident</a></p>').format(
            heading=heading, listed=listed, url=url)
    person = activity_feed.recipient(session, installation, feed, to)
    mail = _queue_mail(session, installation, incident, actor, key=key, to=to,
                       subject=subject, body=html, label=label, show_title=show_title,
                       hold=person is not None)
    body = [cards.rich(cards.run(heading, weight="Bolder"))]
    if for_name:
        body.append(cards.rich(cards.run(f"For {for_name}", isSubtle=True), spacing="None"))
    for i in items:
        if titled:
            body.append(cards.rich(cards.run(i.title, weight="Bolder"), spacing="Medium",
                                   separator=True))
        body += [cards.rich(cards.run(i.text), spacing="Small"),
                 {"type": "ActionSet", "spacing": "Small",
                  "actions": [cards.open_url(i.link_text, i.url)]}]
    card = _queue_card(session, installation, incident, actor, key=key, heading=heading,
                       card=cards.card(body, [cards.open_url("Open the incident", url)]),
                       label=label, live=_reminders_card(key))
    if person is not None and mail is not None:
        activity_feed.plan(session, incident, actor, person=person, feed=feed, key=key,
                           mail=mail, card=card, label=label, show_title=show_title)


def _queue_mail(session: Session, installation: Installation, incident: Incident, actor, *,
                key: str, to: Sequence[str], subject: str, body: Markup, label: str,
                show_title: bool, hold: bool = False) -> dict | None:
    """The email under the incident's headline; `body` is already escaped HTML. `hold`:
    not queued but returned (mail_plan.queue's arguments but the installation), for the
    activity feed to send if it cannot reach the person itself."""
    headline = f"{incident.reference}: {incident.title}" if show_title else incident.reference
    people = [address.strip().lower() for address in to if address and "@" in address]
    if not people:
        return None
    html = str(Markup(
        '<div style="font-family:Segoe UI,Arial,sans-serif;font-size:15px;'
        'color:#0b0c0c"><p style="margin:0 0 4px;color:#505a5f">{headline}</p>'
        '{body}</div>').format(headline=headline, body=body))
    subject = " ".join(f"{incident.reference} {subject}".split())[:255]
    if hold:
        return {"key": key, "recipients": people, "subject": subject, "html": html,
                "label": f"{label} email"}
    mail_plan.queue(session, installation, incident, actor, key=key, recipients=people,
                    subject=subject, html=html, label=lambda _batch: f"{label} email")
    return None


_HANDOVER_KEY = re.compile(r"/handover/(\d+)$")  # delivery_keys.handover
_REMINDERS_KEY = re.compile(r"/reminders/\d+$")  # delivery_keys.reminders


def _handover_card(key: str) -> dict | None:
    """A hand-over request's card is live where the bot posts it (accept, decline)."""
    match = _HANDOVER_KEY.search(key)
    return {"card_kind": "handover", "card_context": {"handover_id": int(match[1])}} \
        if match else None


def _reminders_card(key: str) -> dict | None:
    """A reminders card is live where the bot posts it (snooze; its rows share `key`)."""
    return {"card_kind": "reminders", "card_context": {"notice_key": key}} \
        if _REMINDERS_KEY.search(key) else None


def _queue_card(session: Session, installation: Installation, incident: Incident, actor, *,
                key: str,
                heading: str, card: dict, label: str, live: dict | None = None
                ) -> Delivery | None:
    """`live` ({"card_kind", "card_context"}) says which live card the bot may make of it
    (app/bot/live_cards.py); the Graph path ignores it. Returns the post, if planned."""
    channel = _channel(session, incident) if installation.teams_enabled else None
    if channel is None:
        return None
    return outbox.add(session, key=delivery_keys.teams_part(key), kind=plans.POST,
                      incident=incident, actor=actor, depends_on=channel,
                      payload={"channel": "incident", "html": f"<p>{escape(heading)}</p>",
                               "card": card, "label": f"{label} in Teams", **(live or {})})


def meeting_body(url: str) -> str:
    """The review meeting's invitation text (no user-written text in it)."""
    return str(Markup(
        '<p>A blameless post-incident review: how the incident happened and how we '
        'responded, so we can learn from it. Please read the timeline first.</p>'
        '<p><a href="{url}">The incident and its review in Incident Desk</a></p>'
    ).format(url=url))


def _channel(session: Session, incident: Incident) -> Delivery | None:
    """What a card must wait for; None when there is no channel to post in, or it is
    archived (an overdue action of a closed incident is then chased by email only)."""
    return lifecycle.posting_prerequisite(session, incident, unless_archived=True)
