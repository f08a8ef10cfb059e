"""Microsoft 365 Agents Playground (playground/, installed by `make install`) pointed at
the app's bot through the sandbox's signing relay (scripts/playground.py), and a headless
Chromium (playwright) to use it as a person would."""

from __future__ import annotations

import pytest

from app import db
from app.auth.service import upsert_user
from graph.sandbox.wire import TENANT_ID
from scripts.playground import CLI, NOT_INSTALLED, Person, Playground, Relay
from tests.bot.conftest import bot_app  # noqa: F401 - the app served over real HTTP

ME = Person("ada.lovelace@example.org", "Ada Lovelace")
CHROMIUM = "/usr/bin/chromium"


def incident_desk_user(application, person: Person):
    """The Incident Desk account a dev sign-in with the sandbox would make for them."""
    with application.app_context():
        user = upsert_user(db.Session, object_id=person.oid, tenant_id=TENANT_ID,
                           name=person.name, email=person.email, admin=False)
        db.Session.remove()
        return user.id


@pytest.fixture
def relay(bot_app):  # noqa: F811
    _application, bot_url, sandbox = bot_app
    found = Relay(sandbox.state, bot_url).start()
    yield found
    found.stop()


def start_playground(relay, me: Person = ME, others=(), channel=None) -> Playground:
    """Fails, not skips, when it is not installed: `make install` installs it."""
    assert CLI.is_file(), NOT_INSTALLED
    return Playground(relay, me, others, channel=channel).start()


@pytest.fixture
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"],
                                         headless=True)
        yield browser
        browser.close()
