"""The posted card brought up to date for everyone after someone acts on it, once per
burst of presses, through the outbox.

The person who pressed gets their refreshed card in the invoke's answer at once; the
message everyone else reads is updated (Bot Connector `PUT .../activities/{id}`) by a
debounced delivery, so fifty people pressing buttons at once cost one update of the
message, not fifty, and no press waits for the connector (Teams gives an invoke five
seconds). Updating a message is idempotent: a repeat after a lost answer is harmless.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from microsoft_agents.activity import Activity, ActivityTypes
from microsoft_agents.hosting.core import CardFactory
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from app.bot import live_cards, outbound
from app.incidents.models import Incident
from app.outbox import service as outbox
from app.outbox.models import PENDING, Delivery
from app.outbox.runner import Attempt, NothingToDo
from graph.port import InvalidRequest

KIND = "teams.update_card"
DEBOUNCE = timedelta(seconds=2)  # presses within this are one update
LONGEST = timedelta(seconds=10)  # a steady stream of presses still updates this often
MAX_ID = 120


def request_update(session: Session, incident: Incident, *, conversation_id: str,
                   activity_id: str, service_url: str, card_data: dict) -> None:
    """Ask for the message `activity_id` to show `incident` as it is now; committed.
    An update already waiting to be sent builds the card when it runs, so it will show
    this change too: nothing to write (fifty presses at once lock its row once)."""
    key = f"{incident.reference}/card/{activity_id[:MAX_ID]}"
    if session.scalar(select(Delivery.status).where(Delivery.key == key)) == PENDING:
        return
    outbox.request(session, key=key,
                   kind=KIND, incident=incident, debounce=DEBOUNCE, longest=LONGEST,
                   settle=False, payload={
                       "conversation_id": conversation_id[:400],
                       "activity_id": activity_id[:MAX_ID], "service_url": service_url[:400],
                       "card_data": card_data, "label": "Card in Teams brought up to date"})
    session.commit()


class UpdatePostedCard:
    """The outbox handler of KIND: builds the card from the database when it runs, so
    the update carries everything that happened up to then."""

    debounce = DEBOUNCE
    longest_wait = LONGEST

    def __init__(self, app: Flask):
        self.app = app
        self.poster = outbound.ConnectorPoster(app)

    def send(self, graph, attempt: Attempt) -> dict:
        delivery = attempt.delivery
        session = object_session(delivery)
        incident = session.get(Incident, delivery.incident_id)
        p = delivery.payload
        extensions = self.app.extensions
        card = live_cards.refreshed_for_everyone(
            session, extensions["org"], extensions["installation"], incident,
            p["card_data"], live_cards.refresh_users(session, incident))
        activity = Activity(type=ActivityTypes.message, id=p["activity_id"],
                            attachments=[CardFactory.adaptive_card(card)])
        try:
            self.poster.update(p["service_url"], p["conversation_id"], p["activity_id"],
                               activity)
        except InvalidRequest as gone:  # deleted, or the app left: nothing to bring up to date
            raise NothingToDo(str(gone)) from gone
        return {"updated": p["activity_id"]}

    def apply(self, session: Session, delivery: Delivery, result: dict) -> None:
        """Nothing to record: the change itself is on the timeline."""
