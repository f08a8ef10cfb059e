"""What the incident page shows about Microsoft 365: the channel and each delivery."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.incidents.models import Incident
from app.m365.models import TeamsChannel
from app.outbox import service as outbox
from app.outbox.models import DELIVERED, FAILED, Delivery

KIND_LABELS = {
    "teams.create_channel": "Teams channel",
    "teams.post": "Teams post",
    "teams.meeting": "Command room (Teams meeting)",
    "teams.webhook": "Teams post (Workflows)",
    "teams.add_member": "Add to the Teams team",
    "teams.read_channel": "Read the channel's messages",
    "teams.add_channel_member": "Add to the private channel",
    "teams.remove_channel_member": "Remove from the private channel",
    "teams.archive_channel": "Archive the Teams channel",
    "teams.unarchive_channel": "Unarchive the Teams channel",
    "outlook.event": "Review meeting (Outlook)",
    "mail.send": "Email",
}


@dataclass(frozen=True)
class Panel:
    channel: TeamsChannel | None
    deliveries: list[Delivery]

    @property
    def command_room(self) -> str | None:
        for delivery in self.deliveries:
            if delivery.kind == "teams.meeting" and delivery.status == DELIVERED:
                return delivery.result.get("join_url")
        return None

    @property
    def channel_state(self) -> str:
        """"archived" once archiving went through (and no unarchiving since), "unarchiving"
        while a reopened incident's channel is being restored (still read-only), else ""."""
        for delivery in reversed(self.deliveries):
            if delivery.kind == "teams.unarchive_channel" and delivery.status != "cancelled":
                if delivery.status == DELIVERED:
                    return ""
                return "archived" if delivery.status == FAILED else "unarchiving"
            if delivery.kind == "teams.archive_channel" and delivery.status == DELIVERED:
                return "archived"
        return ""

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.status == FAILED]

    @property
    def outstanding(self) -> int:
        return sum(1 for d in self.deliveries if d.status not in (DELIVERED, FAILED)
                   and d.status != "cancelled")


def label(delivery: Delivery) -> str:
    return delivery.payload.get("label") or KIND_LABELS.get(delivery.kind, delivery.kind)


def panel(session: Session, incident: Incident) -> Panel:
    return Panel(channel=session.get(TeamsChannel, incident.id),
                 deliveries=list(outbox.for_incident(session, incident.id)))
