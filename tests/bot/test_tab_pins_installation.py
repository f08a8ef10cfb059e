"""Whether a new incident channel gets its tab follows what Teams told the bot about the
app's installation (installationUpdate, app/bot/installations.py), over real HTTP: the
sandbox removes the app and signs the activity as the Bot Connector does, then adds it
back."""

from __future__ import annotations

import requests
from sqlalchemy import select

from app.bot.models import BotInstallation
from app.db import Session
from app.m365 import tab_pins
from app.outbox.models import Delivery
from graph.sandbox.routes_tabs import pinned_tabs
from graph.sandbox.seed import TEAM_ID
from tests.conftest import Browser, drain


def _pins() -> dict[int, Delivery]:
    Session.expire_all()
    return {d.incident_id: d for d in Session.scalars(
        select(Delivery).where(Delivery.kind == tab_pins.PIN_TAB))}


def _teams_app(sandbox, bot_url: str, action: str) -> None:
    Session.remove()  # the bot records it: on SQLite, no read of ours may hold it up
    answer = requests.post(f"{sandbox.url}/_sandbox/teams-app",
                           json={"action": action, "bot_url": bot_url}, timeout=10).json()
    assert answer["bot_answered"] in (200, 202), answer


def test_the_tab_follows_what_teams_told_the_bot(bot_app):
    application, bot_url, sandbox = bot_app
    browser = Browser(application.test_client())
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")

    _teams_app(sandbox, bot_url, "uninstall")
    assert not Session.get(BotInstallation, TEAM_ID).active
    browser.declare(title="Search is slow")
    drain(application)
    assert _pins() == {} and pinned_tabs(sandbox.state) == []

    _teams_app(sandbox, bot_url, "install")
    assert Session.get(BotInstallation, TEAM_ID).active
    browser.declare(title="Payments failing")
    drain(application)
    [pin] = _pins().values()
    assert pin.status == "delivered", pin.last_error
    [tab] = pinned_tabs(sandbox.state)
    assert tab["id"] == pin.result["tab_id"]
    assert tab["configuration"]["entityId"] == pin.incident.reference
    Session.remove()
