"""Posting into a channel as the Incident Desk Teams app's bot, as app.m365 sees it.

app.m365 must not import app.bot (the layers in .importlinter); app/jobs.py, the
composition root, hands PostToChannel an implementation (app/bot/outbound.py). Where the
app is installed in the team, the bot posts (no one's token needed); elsewhere the
delegated Graph path stays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from graph.port import CardMarker


@dataclass(frozen=True)
class BotPost:
    team_id: str
    channel_id: str
    card: dict  # as the Graph path posts it; the bot makes it live (app/bot/live_cards.py)
    kind: str  # kickoff, update, announcement, notice...
    incident_id: int
    key: str  # the delivery's key: the card carries it, so a repeat can be recognised
    html: str = ""  # the short summary the Graph path puts above the card (escaped)


@dataclass(frozen=True)
class Posted:
    message_id: str
    web_url: str


class BotGone(Exception):
    """The app is no longer in the team (the connector says the bot is not in its
    roster): its installation is marked removed, and the post goes the Graph way."""


class BotPoster(Protocol):
    def can_post(self, session: Session, team_id: str) -> bool:
        """Whether the app is installed in this team (so the bot may post there)."""

    def post(self, session: Session, post: BotPost) -> Posted:
        """Start a thread in the channel with the card. Raises BotGone, or GraphError
        (retryable for throttling, outages and no answer: status 0 may have posted)."""

    def marker(self, key: str) -> CardMarker:
        """How the bot's card for delivery `key` is recognised in the channel."""
