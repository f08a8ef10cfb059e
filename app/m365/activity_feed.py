"""A notice to one person in their Teams activity feed, with email as the fallback.

Four notices can go to the feed (app/incidents/events.py's Feed): a hand-over offered to
you, a role given to you, your follow-up action overdue, an update due from you. Where
the person can be reached in Teams (an Entra account, Teams on for this installation, a
Teams app package this installation can build), the notice is planned as one delivery of
kind KIND instead of its email, and the email is kept in that delivery's payload. So a
person with the app hears once, in Teams; nothing is lost:
- Graph says the app is not installed for them (AppNotInstalled): the email goes instead,
  planned in the same commit that settles the feed delivery (shown as cancelled);
- there is nothing in Teams to link to (no channel, no card, no tab): the email, too;
- Graph refuses for good (a permission missing, a body it rejects, no token, still
  throttled after the last attempt): the email is planned (committed before anything
  else) and the feed delivery fails, with the reason on the incident page.
A person's Try again on a failed one sends the feed notification too: they asked.

Each links to where the person acts: the notice's card in the incident channel (the
hand-over card has Accept and Decline for them; the reminders card has Snooze), by the
Teams link of the posted message, once it is posted (the feed delivery waits for it,
without using up attempts, for CARD_WAIT); where there is no card (a role given, or a
card that failed), the incident's tab in its channel, by a Teams deep link
(https://learn.microsoft.com/microsoftteams/platform/concepts/build-and-test/
deep-link-application, "Configure deep link to browse within your app manually"): the tab
is configured with the incident's reference as its entityId (static/tab.js,
app/m365/tab_pins.py), and `webUrl` is the incident's page for clients that cannot show it.

Exactly once: the outbox claims the delivery before it is sent; a retry after an answer
that was lost sends the same `chainId` (from the delivery key), and Teams replaces the
earlier notification with it instead of adding a second
(https://learn.microsoft.com/graph/api/userteamwork-sendactivitynotification). The email
keeps the key it always had (`{key}/mail/1`), so it is planned once whichever way it
comes.

What the feed shows is plain text: user-written words (a title, a name) lose control and
formatting characters, are put on one line and cut to fit; a security incident's title
never appears, only its reference (nothing about it outside its private channel).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, urlsplit

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from app.auth.models import User
from app.core import clock
from app.core.installation import Installation
from app.core.redact import redact
from app.incidents import delivery_keys
from app.incidents import events as about
from app.incidents.models import Incident
from app.m365 import mail_plan
from app.m365.models import TeamsChannel
from app.outbox import service as outbox
from app.outbox.models import CANCELLED, DELIVERED, PENDING, SENDING, Delivery
from app.outbox.runner import MAX_ATTEMPTS, Attempt, GiveUp, Later, describe
from app.teams_app import manifest
from graph.port import (
    MAX_PREVIEW_TEXT,
    TEAMS_LINK,
    ActivityNotification,
    AppNotInstalled,
    Graph,
    GraphError,
    TokenUnavailable,
)

KIND = "teams.activity"
SERVICE = "Microsoft Teams"
# What each notice is in the Teams app's manifest (app/teams_app/manifest.py).
ACTIVITY = {about.HANDOVER_OFFERED: manifest.HANDOVER_OFFERED,
            about.ROLE_ASSIGNED: manifest.ROLE_ASSIGNED,
            about.ACTION_OVERDUE: manifest.ACTION_OVERDUE,
            about.UPDATE_DUE: manifest.UPDATE_DUE}
CARD_WAIT = timedelta(minutes=10)  # how long a notice waits for its card to be posted
LOOK_AGAIN = timedelta(seconds=5)
MAX_WORDS = 60  # a name, a role or a title as the feed shows it
MAX_TOPIC = 100
NOT_INSTALLED, NOWHERE = "not_installed", "nowhere"


@dataclass(frozen=True)
class TeamsApp:
    """This installation's Teams app: the manifest's id (what deep links name)."""

    external_id: str


def teams_app() -> TeamsApp | None:
    """The Teams app this installation's package is (None where none can be built: no bot
    set up, so nobody can have it)."""
    if not has_app_context():
        return None
    from app.m365.graph_setup import BUILT_IN
    from app.teams_app.identity import NotReady, identity_from

    try:
        identity = identity_from(current_app.extensions["settings"], built_in_sandbox=(
            current_app.extensions["graph_setup"].kind == BUILT_IN))
    except NotReady:
        return None
    return TeamsApp(manifest.app_id(identity))


def plain(text: str, limit: int = MAX_WORDS) -> str:
    """User-written words for a plain-text notification: no control or formatting
    characters (a bidirectional override could make it read otherwise), one line, at
    most `limit` characters."""
    kept = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
                   for c in text or "" if unicodedata.category(c) not in ("Cf", "Co", "Cs"))
    kept = " ".join(kept.split())
    return kept if len(kept) <= limit else kept[:limit - 1].rstrip() + "…"


def incident_words(incident: Incident, show_title: bool) -> str:
    """How the feed names the incident: its reference, and its title unless it must not
    travel (a security incident's, or one its notice keeps out)."""
    if not show_title or incident.is_security:
        return incident.reference
    return plain(f"{incident.reference}: {incident.title}", MAX_TOPIC)


def recipient(session: Session, installation: Installation, feed: about.Feed | None,
              to) -> User | None:
    """The one person this notice may reach in their activity feed instead of by email,
    or None: email as ever. They are its only addressee and have an Entra account."""
    if feed is None or feed.about not in ACTIVITY or not installation.teams_enabled:
        return None
    addresses = {a.strip().lower() for a in to if a and "@" in a}
    user = session.get(User, feed.to_user_id)
    if user is None or addresses != {(user.email or "").strip().lower()}:
        return None
    if not user.entra_oid or user.entra_oid.startswith(("dev-", "system-")):
        return None  # no Microsoft account behind them: nothing to notify
    if teams_app() is None:
        return None
    return user


def plan(session: Session, incident: Incident, actor, *, person: User, feed: about.Feed,
         key: str, mail: dict, card: Delivery | None, label: str,
         show_title: bool) -> Delivery:
    """The feed delivery for `person` in the caller's transaction, with `mail` (the
    arguments mail_plan.queue takes, but the installation) to send if the feed cannot."""
    activity = ACTIVITY[feed.about]
    app = teams_app()
    words = incident_words(incident, show_title)
    values = dict(feed.values)
    wanted = _parameters(activity)
    parameters = [[name, words if name == "incident" else plain(values.get(name, ""))]
                  for name in wanted]
    missing = [name for name, value in parameters if not value]
    if missing:  # a caller's slip: better found in its tests than shown as blanks
        raise ValueError(f"{activity.type} needs {', '.join(missing)}")
    feed_key = delivery_keys.activity_feed(key, person.id)
    return outbox.add(session, key=feed_key, kind=KIND, incident=incident, actor=actor,
                      payload={
                          "recipient": person.entra_oid, "recipient_name": person.name,
                          "activity_type": activity.type, "parameters": parameters,
                          "preview": plain(feed.preview, MAX_PREVIEW_TEXT),
                          "topic": words, "chain_id": chain_id(feed_key),
                          "card_key": card.key if card is not None else None,
                          "reference": incident.reference, "teams_app": app.external_id,
                          "mail": mail,
                          "label": f"{label} in {plain(person.name)}'s Teams activity feed"})


def _parameters(activity: manifest.ActivityType) -> list[str]:
    """The templateText's {names}, in order, `actor` excepted (Teams fills that in)."""
    names = re.findall(r"\{(\w+)\}", activity.template_text)
    return [n for n in dict.fromkeys(names) if n != "actor"]


def chain_id(key: str) -> int:
    """A stable Int64 per delivery: sent again, it replaces rather than adds."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:7], "big")


def tab_link(teams_app_id: str, reference: str, channel_id: str, web_url: str) -> str:
    """The incident's tab in its channel, as a Teams deep link to a configurable tab."""
    context = json.dumps({"channelId": channel_id}, separators=(",", ":"))
    return (f"{TEAMS_LINK}l/entity/{quote(teams_app_id, safe='')}/{quote(reference, safe='')}"
            f"?webUrl={quote(web_url, safe='')}&label={quote(reference, safe='')}"
            f"&context={quote(context, safe='')}")


class SendActivity:
    """The outbox handler for KIND (see the module docstring), with the app's own token
    (app/jobs.py gives it the app's Graph)."""

    service = SERVICE

    def send(self, graph: Graph, attempt: Attempt) -> dict:
        delivery = attempt.delivery
        p = delivery.payload
        session = object_session(delivery)
        web_url = self._where(session, delivery)
        if web_url is None:
            return {"sent": False, "why": NOWHERE}
        notification = ActivityNotification(
            activity_type=p["activity_type"], topic_text=p["topic"], web_url=web_url,
            preview=p.get("preview", ""),
            parameters=tuple((name, value) for name, value in p["parameters"]),
            chain_id=p["chain_id"])
        try:
            graph.send_activity_notification(p["recipient"], notification)
        except AppNotInstalled:
            return {"sent": False, "why": NOT_INSTALLED}
        except GraphError as error:
            if error.retryable and delivery.attempts < MAX_ATTEMPTS:
                raise  # the outbox tries again, honouring Retry-After
            self._email_now(session, attempt)
            raise GiveUp(refused(error, p.get("recipient_name", ""))) from error
        except TokenUnavailable as error:
            self._email_now(session, attempt)
            raise GiveUp(f"{error} {p.get('recipient_name', 'They')} was emailed "
                         "instead.") from error
        return {"sent": True, "web_url": web_url}

    def _where(self, session: Session, delivery: Delivery) -> str | None:
        """The Teams link the notification opens: the notice's card once it is posted,
        else the incident's tab; None if the incident has nothing in Teams. Raises Later
        while what it would link to is still being made."""
        p = delivery.payload
        waited = clock.now() - delivery.created_at
        card = _by_key(session, p.get("card_key"))
        if card is not None:
            posted = (card.result or {}).get("web_url") or ""
            if card.status == DELIVERED and posted.startswith(TEAMS_LINK):
                return posted
            if card.status in (PENDING, SENDING) and waited < CARD_WAIT:
                raise Later("Waiting for the card in the incident channel, to link to it.",
                            LOOK_AGAIN, "card")
        channel = session.get(TeamsChannel, delivery.incident_id)
        if channel is not None:
            incident_url = _incident_url(delivery)
            return tab_link(p["teams_app"], p["reference"], channel.channel_id, incident_url)
        making = _by_key(session, delivery_keys.channel(p["reference"]))
        if making is not None and making.status in (PENDING, SENDING) and waited < CARD_WAIT:
            raise Later("Waiting for the incident's Teams channel, to link to its tab.",
                        LOOK_AGAIN, "channel")
        return None

    @staticmethod
    def _email_now(session: Session, attempt: Attempt) -> None:
        """Plan the email and commit it (under the claim) before the delivery fails."""
        email_instead(session, attempt.delivery)
        attempt.checkpoint(emailed=True)

    def apply(self, session: Session, delivery: Delivery, result: dict) -> None:
        """Sent: nothing more. Not sent (no app, nowhere to link): the email goes, and
        this delivery reads as cancelled, saying why."""
        if result.get("sent"):
            return
        email_instead(session, delivery)
        p = delivery.payload
        name = p.get("recipient_name") or "They"
        why = (f"{name} does not have the Incident Desk app in Teams"
               if result.get("why") == NOT_INSTALLED else
               "the incident has nothing in Teams to link to")
        delivery.status = CANCELLED
        delivery.payload = {**p, "label": f"{p['label']}: {why}, so it was emailed"}


def email_instead(session: Session, delivery: Delivery) -> list[Delivery]:
    """The notice's email, planned once (its key is the one it always had)."""
    mail = delivery.payload.get("mail")
    if not mail or _by_key(session, delivery_keys.mail_part(mail["key"], 1)) is not None:
        return []
    label = mail["label"]
    return mail_plan.queue(session, current_app.extensions["installation"], delivery.incident,
                           delivery.actor, key=mail["key"], recipients=mail["recipients"],
                           subject=mail["subject"], html=mail["html"],
                           label=lambda _batch: label)


def refused(error: GraphError, name: str) -> str:
    """Graph's final refusal in words for the incident page."""
    who = name or "the person"
    if error.status == 403:
        code = f" [{error.code}]" if error.code else ""
        return (f"Microsoft Teams refused to notify {who} in their activity feed "
                f"(403{code}: {redact(error.message)}). The Incident Desk app installed for "
                "them needs TeamsActivity.Send.User: publish the current package from the "
                "Teams app page, so that their installation is updated, or grant the app "
                f"TeamsActivity.Send. {who} was emailed instead.")
    return f"{describe(error, SERVICE)} {who} was emailed instead."


def _by_key(session: Session, key: str | None) -> Delivery | None:
    if not key:
        return None
    return session.scalar(select(Delivery).where(Delivery.key == key))


def _incident_url(delivery: Delivery) -> str:
    installation = current_app.extensions["installation"]
    return installation.incident_url(delivery.payload["reference"])


# ---- the built-in sandbox --------------------------------------------------------------


def install_in_sandbox(app, email: str) -> dict:
    """The Teams app (this installation's package) added for `email` in the Graph sandbox,
    as they would add it for themselves in Teams: then Incident Desk's notices reach
    their activity feed, and the /sandbox page lists them. For the built-in sandbox and a
    standalone one (POST /_sandbox/teams-app/personal)."""
    from app.m365.graph_setup import BUILT_IN
    from app.teams_app.identity import identity_from
    from graph.sandbox.seed import CLIENT_ID

    setup = app.extensions["graph_setup"]
    package = manifest.build(identity_from(app.extensions["settings"],
                                           built_in_sandbox=setup.kind == BUILT_IN))
    if setup.kind == BUILT_IN:
        from app.m365.sandbox_host import state_for
        from graph.sandbox import teams_apps

        state = state_for(app.extensions["settings"].graph_sandbox_db)
        with state.read() as tx:
            known = tx.get("user", email.strip().lower())
        if known is None:
            state.add_user(email)
        return teams_apps.install_for_user(state, email, package, (CLIENT_ID,))
    if not setup.standalone:
        raise ValueError("Microsoft 365 is not a Graph sandbox here")
    import requests

    parts = urlsplit(setup.base_url)
    http = requests.Session()
    http.trust_env = False
    try:
        answer = http.post(f"{parts.scheme}://{parts.netloc}/_sandbox/teams-app/personal",
                           json={"action": "install", "upn": email, "manifest": package,
                                 "rsc_app_ids": [CLIENT_ID]}, timeout=5)
        answer.raise_for_status()
        return answer.json()
    finally:
        http.close()
