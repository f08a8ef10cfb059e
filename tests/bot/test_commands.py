"""The bot's commands over real HTTP: the sandbox's Bot Connector signs and delivers each
message (in an incident's channel, mentioning the app, or in a personal chat), the SDK's
path runs, and the card the bot answers with is read back from the sandbox's connector.
The declare card's button is pressed as Teams presses it (an adaptiveCard/action invoke)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app import db
from app.auth.models import User
from app.bot import declare_card, replies
from app.core.org import DEFAULT_ROLES
from app.incidents.models import (
    Incident,
    Participant,
    RoleAssignment,
    Service,
    StatusUpdate,
    TimelineEntry,
)
from app.m365.models import TeamsChannel
from app.outbox.models import Delivery
from app.teams_app.manifest import TEAM_COMMANDS
from graph.sandbox import connector_invokes as invokes
from graph.sandbox import routes_connector as connector
from graph.sandbox.seed import BOT_APP_ID
from graph.sandbox.wire import TENANT_ID

ADA = "6f1c0c2e-0000-4000-8000-0000000ada01"
BOB = "6f1c0c2e-0000-4000-8000-0000000b0b02"
CHANNEL, TEAM = "19:inc-0007@thread.tacv2", "incident-team"
AT = "<at>Incident Desk</at>"


# ---- the conversation ------------------------------------------------------------------


def _where(sandbox, oid: str, channel: str | None) -> dict:
    return dict(service_url=f"{sandbox.url}/", bot_id=BOT_APP_ID, user_oid=oid,
                user_name="Someone", channel_id=channel, team_id=TEAM if channel else None)


def send(bot_app, text: str, *, channel: str | None = None, oid: str = ADA,
         entities: list | None = None, **conversation) -> tuple[dict, list[dict]]:
    """Send `text` as `oid`: (the activity, what the bot sent back in its conversation)."""
    _app, bot_url, sandbox = bot_app
    activity = connector.message_activity(text=text, **_where(sandbox, oid, channel))
    if entities is not None:
        activity["entities"] = entities
    activity["conversation"].update(conversation)
    token = connector.connector_token(sandbox.state, audience=BOT_APP_ID,
                                      service_url=activity["serviceUrl"])
    answer = connector.deliver(sandbox.state, bot_url, activity, token)
    assert answer.status_code in (200, 202), answer.text
    return activity, connector.sent_activities(sandbox.state, activity["conversation"]["id"])


def say(bot_app, text: str, **where) -> dict:
    """Send `text`; the content of the one card the bot answered with."""
    activity, [reply] = send(bot_app, text, **where)
    assert reply["reply_to_id"] == activity["id"]
    [attachment] = reply["activity"]["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return attachment["content"]


def press(bot_app, verb: str, data: dict, *, channel: str | None = None,
          oid: str = ADA) -> dict:
    """Press a card's Action.Execute button; the card the bot answers with."""
    _app, bot_url, sandbox = bot_app
    activity = invokes.card_action(verb, data, **_where(sandbox, oid, channel))
    status, body = invokes.send(sandbox.state, bot_url, activity, bot_id=BOT_APP_ID)
    assert status == 200, body
    assert body["statusCode"] == 200 and body["type"] == declare_card.CARD, body
    return body["value"]


def texts(card: dict) -> str:
    """Everything a person reads on the card, in order, as one string."""
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "RichTextBlock":  # one line, however many runs
                found.append("".join(run["text"] for run in node["inlines"]))
                return
            if node.get("type") == "TextBlock":
                found.append(node["text"])
            for fact in node.get("facts", []) if node.get("type") == "FactSet" else []:
                found.append(f"{fact['title']}: {fact['value']}")
            for key, value in node.items():
                if key not in ("text", "facts"):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return " ".join(found)


def markdown_texts(card: dict) -> list[str]:
    """The texts a renderer reads as markdown (TextBlocks, facts): never user text."""
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                found.append(node["text"])
            if node.get("type") == "FactSet":
                found.extend(f["value"] for f in node["facts"])
                found.extend(f["title"] for f in node["facts"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


def actions(card: dict) -> list[dict]:
    return card.get("actions", [])


def inputs(card: dict) -> dict[str, dict]:
    return {node["id"]: node for node in card["body"] if str(node.get("type", "")).startswith(
        "Input.")}


# ---- the people and incidents ----------------------------------------------------------


def person(application, oid: str = ADA, name: str = "Ada", **extra) -> int:
    with application.app_context():
        user = User(entra_oid=oid, tenant_id=TENANT_ID, name=name,
                    email=f"{name.lower()}@example.org", **extra)
        db.Session.add(user)
        db.Session.commit()
        return user.id


def incident(application, declared_by: int, *, number: int = 7, status: str = "investigating",
             is_security: bool = False, channel: str | None = CHANNEL,
             title: str = "Payments down") -> str:
    series = "SEC" if is_security else "INC"
    reference = f"{series}-2026-{number:04d}"
    with application.app_context():
        row = Incident(reference=reference, year=2026, number=number, title=title,
                       severity="P1", status=status, declared_by_id=declared_by,
                       is_security=is_security)
        db.Session.add(row)
        db.Session.flush()
        db.Session.add(RoleAssignment(incident_id=row.id, role="incident_lead",
                                      user_id=declared_by, assigned_by_id=declared_by))
        if channel:
            db.Session.add(TeamsChannel(incident_id=row.id, team_id=TEAM, channel_id=channel,
                                        name=f"inc-{number:04d}"))
        db.Session.commit()
    return reference


def holders(application, reference: str) -> dict[str, str]:
    with application.app_context():
        row = db.Session.scalar(select(Incident).where(Incident.reference == reference))
        return {role: a.user.name for role, a in row.current_roles().items()}


def notes(application, reference: str) -> list[tuple[str, str, str]]:
    with application.app_context():
        row = db.Session.scalar(select(Incident).where(Incident.reference == reference))
        return [(e.text, e.entry_type, e.author.name) for e in db.Session.scalars(
            select(TimelineEntry).where(TimelineEntry.incident_id == row.id,
                                        TimelineEntry.kind == "note"))]


# ---- help and parsing ------------------------------------------------------------------


def test_help_names_every_command_of_the_manifests_menu():
    """The card's list and the Teams command menu (app/teams_app/manifest.py) agree."""
    assert list(replies.COMMANDS) == [c.title for c in TEAM_COMMANDS]


@pytest.mark.parametrize("channel", [CHANNEL, None])
def test_help_in_channel_and_personal_chat(bot_app, channel):
    card = say(bot_app, f"{AT} help" if channel else "help", channel=channel)
    facts = {f["title"] for f in card["body"][1]["facts"]}
    assert facts == {"declare", "status", "update", "lead me", "note", "help"}


@pytest.mark.parametrize("channel", [CHANNEL, None])
def test_an_unknown_command_answers_with_the_help_card(bot_app, channel):
    card = say(bot_app, f"{AT} frobnicate the thing", channel=channel)
    shown = texts(card)
    assert "I don't know 'frobnicate'" in shown and "declare" in shown
    assert "frobnicate" not in " ".join(markdown_texts(card))  # quoted in a TextRun only


def test_commands_ignore_case_extra_whitespace_and_where_the_mention_is(bot_app):
    application, *_ = bot_app
    ada = person(application)
    incident(application, ada)
    card = say(bot_app, f"  \r\n STATUS \xa0  {AT}  ", channel=CHANNEL)
    assert "INC-2026-0007" in texts(card) and "Payments down" in texts(card)
    card = say(bot_app, f"Lead  {AT}   ME", channel=CHANNEL)
    assert "You are already incident lead for INC-2026-0007" in texts(card)


def test_the_mention_is_found_by_the_entity_teams_sends(bot_app):
    """Another display name: the mention entity names the bot's id."""
    application, *_ = bot_app
    incident(application, person(application))
    entities = [{"type": "mention", "text": "<at>IncDesk</at>",
                 "mentioned": {"id": f"28:{BOT_APP_ID}", "name": "IncDesk"}}]
    card = say(bot_app, "note <at>IncDesk</at> called <at>Bob</at> about it",
               channel=CHANNEL, entities=entities)
    assert "Added to the INC-2026-0007 log" in texts(card)
    assert notes(application, "INC-2026-0007") == [("called @Bob about it", "event", "Ada")]


@pytest.mark.parametrize("text", ["note the database is fine", "status", "<at>Bob</at> lead me",
                                  "help"])
@pytest.mark.parametrize("where", [{"channel": CHANNEL},
                                   {"conversationType": "groupChat", "id": "19:chat@thread.v2"}])
def test_a_channel_or_group_message_not_mentioning_the_bot_is_not_for_it(bot_app, text,
                                                                         where):
    """The manifest's ChannelMessage.Read.Group brings every channel message to the bot;
    only those mentioning it are commands."""
    application, *_ = bot_app
    incident(application, person(application))
    _activity, replies_sent = send(bot_app, text, **where)
    assert replies_sent == []
    assert notes(application, "INC-2026-0007") == []
    assert holders(application, "INC-2026-0007") == {"incident_lead": "Ada"}


def test_a_group_chat_message_mentioning_the_bot_is_answered(bot_app):
    person(bot_app[0])
    card = say(bot_app, f"{AT} status", conversationType="groupChat", id="19:chat@thread.v2")
    assert "You have no open incidents" in texts(card)


# ---- who you are -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["status", "declare Payments down", "lead me", "scribe me",
                                  "note checking the load balancer", "update"])
@pytest.mark.parametrize("channel", [CHANNEL, None])
def test_an_unknown_person_is_asked_to_sign_in_once(bot_app, text, channel):
    application, *_ = bot_app
    incident(application, person(application, BOB, "Bob"))
    card = say(bot_app, f"{AT} {text}", channel=channel)
    assert "sign in to Incident Desk once" in texts(card)
    assert [a["url"] for a in actions(card)] == ["http://incident-desk.test/sign-in"]
    assert holders(application, "INC-2026-0007") == {"incident_lead": "Bob"}
    assert notes(application, "INC-2026-0007") == []


def test_an_unknown_person_pressing_declare_is_asked_to_sign_in(bot_app):
    application, *_ = bot_app
    card = press(bot_app, "declare", {"title": "Disk full", "severity": "P3"})
    assert "sign in to Incident Desk once" in texts(card)
    with application.app_context():
        assert db.Session.scalars(select(Incident)).all() == []


# ---- status ----------------------------------------------------------------------------


def test_status_in_an_incident_channel_is_the_incidents_card(bot_app):
    application, *_ = bot_app
    ada = person(application)
    incident(application, ada, title="**Payments** <b>down</b>")
    card = say(bot_app, f"{AT} status", channel=CHANNEL)
    shown = texts(card)
    assert "INC-2026-0007 · P1" in shown and "**Payments** <b>down</b>" in shown
    assert "Investigating" in shown and "Incident lead Ada" in " ".join(shown.split(":"))
    assert "Payments" not in " ".join(markdown_texts(card))
    assert actions(card)[-1]["url"] == "http://incident-desk.test/incidents/INC-2026-0007"


def test_status_in_personal_chat_lists_your_open_incidents(bot_app):
    application, *_ = bot_app
    ada = person(application)
    incident(application, ada, channel=None)
    incident(application, ada, number=8, status="resolved", title="Old one", channel=None)
    shown = texts(say(bot_app, "status"))
    assert "Your open incidents" in shown and "INC-2026-0007" in shown
    assert "INC-2026-0008" not in shown


def test_a_person_of_another_tenant_with_the_same_object_id_is_unknown(bot_app):
    application, *_ = bot_app
    with application.app_context():
        db.Session.add(User(entra_oid=ADA, tenant_id="another-tenant", name="Eve",
                            email="eve@example.org"))
        db.Session.commit()
    assert "sign in to Incident Desk once" in texts(say(bot_app, "status"))


def test_status_with_no_open_incidents_says_how_to_declare(bot_app):
    person(bot_app[0])
    assert "You have no open incidents" in texts(say(bot_app, "status"))


def test_status_in_a_channel_that_is_no_incidents(bot_app):
    person(bot_app[0])
    card = say(bot_app, f"{AT} status", channel="19:general@thread.tacv2")
    assert "not the channel of an incident you can see" in texts(card)


# ---- declare ---------------------------------------------------------------------------


@pytest.mark.parametrize("channel", [CHANNEL, None])
def test_declare_answers_with_the_web_forms_fields(bot_app, channel):
    application, *_ = bot_app
    person(application)
    with application.app_context():
        db.Session.add_all([Service(name="Payments"), Service(name="Login")])
        db.Session.commit()
    card = say(bot_app, f"{AT}   declare   Payments   failing  ", channel=channel)
    fields = inputs(card)
    assert fields["title"]["value"] == "Payments failing"
    assert fields["title"]["maxLength"] == 200
    assert [c["value"] for c in fields["severity"]["choices"]] == ["P1", "P2", "P3"]
    assert {c["title"] for c in fields["services"]["choices"]} == {"Payments", "Login"}
    assert fields["services"]["isMultiSelect"] is True
    assert fields["is_security"]["type"] == "Input.Toggle"
    assert fields["description"]["isMultiline"] is True
    [button] = actions(card)
    assert (button["type"], button["verb"]) == ("Action.Execute", "declare")
    assert "If you are unsure, it is an incident" in texts(card)


def test_an_overlong_title_is_cut_to_the_limit_and_said_so(bot_app):
    person(bot_app[0])
    card = say(bot_app, "declare " + "x" * 250)
    assert inputs(card)["title"]["value"] == "x" * 200
    assert "Titles must be 200 characters or fewer, and yours has 250" in texts(card)


def _kickoff_queued(application, reference: str) -> set[str]:
    with application.app_context():
        return {d.key for d in db.Session.scalars(select(Delivery)) if
                d.key.startswith(reference + "/")}


@pytest.mark.parametrize("channel", [CHANNEL, None])
def test_pressing_declare_declares_and_queues_the_kickoff(bot_app, channel):
    application, *_ = bot_app
    ada = person(application)
    with application.app_context():
        payments = Service(name="Payments")
        db.Session.add(payments)
        db.Session.commit()
        payments_id = payments.id
    card = press(bot_app, "declare", {
        "card": "declare", "title": "  Payments   failing ", "severity": "P2",
        "services": str(payments_id), "new_services": "Card gateway",
        "description": "Card payments fail since 09:00", "is_security": "false"},
        channel=channel)
    shown = texts(card)
    with application.app_context():
        [row] = db.Session.scalars(select(Incident)).all()
        assert (row.title, row.severity, row.declared_by_id, row.is_security) == (
            "Payments failing", "P2", ada, False)
        assert row.description == "Card payments fail since 09:00"
        assert sorted(s.name for s in row.services) == ["Card gateway", "Payments"]
        reference = row.reference
    assert f"{reference} declared. You are the incident lead" in shown
    assert actions(card)[-1]["url"] == f"http://incident-desk.test/incidents/{reference}"
    assert holders(application, reference) == {"incident_lead": "Ada"}
    assert {f"{reference}/channel", f"{reference}/kickoff"} <= _kickoff_queued(
        application, reference)


def test_declaring_a_security_incident_from_the_card(bot_app):
    application, *_ = bot_app
    person(application)
    card = press(bot_app, "declare", {"title": "Leaked key", "severity": "P1",
                                      "is_security": "true"})
    with application.app_context():
        [row] = db.Session.scalars(select(Incident)).all()
        assert row.is_security and row.reference.startswith("SEC-")
    assert "Security or data breach" in texts(card)


@pytest.mark.parametrize("data, error", [
    ({"title": "   ", "severity": "P1"}, "Enter a title."),
    ({"title": "x" * 201, "severity": "P1"}, "Titles must be 200 characters or fewer."),
    ({"title": "Disk full"}, "Choose a severity."),
    ({"title": "Disk full", "severity": "P9"}, "Choose a severity from the list."),
    ({"title": "Disk full", "severity": "P3", "description": "x" * 20_001},
     "The description must be 20,000 characters or fewer."),
    ({"title": "Disk full", "severity": "P3", "services": "1,abc"},
     "Choose the services from the list."),
    ({"title": "Disk full", "severity": "P3", "services": "999999"},
     "One of the chosen services no longer exists."),
    ({"title": "Disk full", "severity": "P3",
      "new_services": ",".join(f"s{i}" for i in range(11))},
     "Name at most 10 new services at once"),
    ({"title": "Disk full", "severity": "P3", "new_services": "x" * 1001},
     "Other impacted services must be 1,000 characters or fewer."),
    ({"title": {"not": "text"}, "severity": "P3"}, "Enter a title."),
])
def test_the_declare_card_refuses_what_the_web_form_refuses(bot_app, data, error):
    application, *_ = bot_app
    person(application)
    card = press(bot_app, "declare", {"card": "declare", **data})
    assert error in texts(card)
    assert actions(card)[0]["verb"] == "declare"  # the form again, to fix and press again
    if isinstance(data["title"], str) and data["title"].strip():
        assert inputs(card)["title"]["value"] == data["title"][:200]
    with application.app_context():
        assert db.Session.scalars(select(Incident)).all() == []


def test_the_limits_are_the_web_forms():
    from app.web.incidents import forms

    form_limits = {name: next(v.max for v in field.kwargs["validators"]
                              if hasattr(v, "max")) for name, field in (
        ("title", forms.DeclareForm.title), ("description", forms.DeclareForm.description),
        ("new_services", forms.DeclareForm.new_services))}
    assert form_limits == {"title": declare_card.TITLE_MAX,
                           "description": declare_card.DESCRIPTION_MAX,
                           "new_services": declare_card.NEW_SERVICES_MAX}


# ---- roles -----------------------------------------------------------------------------


@pytest.mark.parametrize("said, role", [
    ("lead me", "incident_lead"), ("scribe me", "scribe"), ("Comms ME", "comms_lead"),
    ("tech lead me", "tech_lead"), ("comms_lead me", "comms_lead"),
    ("commander me", "incident_commander")])
def test_role_me_in_the_channel_takes_the_role(bot_app, said, role):
    application, *_ = bot_app
    bob = person(application, BOB, "Bob")
    person(application)
    incident(application, bob)
    card = say(bot_app, f"{AT} {said}", channel=CHANNEL)
    label = {r.key: r.label for r in DEFAULT_ROLES}[role].lower()
    assert f"You are now {label} for INC-2026-0007" in texts(card)
    assert holders(application, "INC-2026-0007")[role] == "Ada"
    if role != "incident_lead":
        assert holders(application, "INC-2026-0007")["incident_lead"] == "Bob"
    with application.app_context():  # and is working on it, as on the web
        assert db.Session.scalars(select(Participant)).one().user.name == "Ada"


@pytest.mark.parametrize("said", ["chef me", "incident me"])
def test_an_unknown_or_unclear_role_lists_the_roles(bot_app, said):
    application, *_ = bot_app
    incident(application, person(application))
    card = say(bot_app, f"{AT} {said}", channel=CHANNEL)
    shown = texts(card)
    assert f"I don't know the role '{said[:-3]}'" in shown and "scribe" in shown


def test_role_me_in_personal_chat_says_where(bot_app):
    person(bot_app[0])
    card = say(bot_app, "scribe me")
    assert "in the incident's Teams channel" in texts(card)


# ---- notes -----------------------------------------------------------------------------


def test_note_in_the_channel_adds_to_the_log(bot_app):
    application, *_ = bot_app
    incident(application, person(application))
    card = say(bot_app, f"{AT} note  failover to  eu-west **started**", channel=CHANNEL)
    assert "Added to the INC-2026-0007 log as event" in texts(card)
    assert "**started**" not in " ".join(markdown_texts(card))
    say(bot_app, f"{AT} NOTE decision: roll back the release", channel=CHANNEL)
    assert notes(application, "INC-2026-0007") == [
        ("failover to  eu-west **started**", "event", "Ada"),
        ("roll back the release", "decision", "Ada")]


def test_note_outside_an_incident_channel_says_where(bot_app):
    application, *_ = bot_app
    incident(application, person(application))
    assert "in the incident's Teams channel" in texts(say(bot_app, "note it broke"))
    assert notes(application, "INC-2026-0007") == []


@pytest.mark.parametrize("text, said", [
    ("note", "Say note followed by what happened"),
    ("note " + "x" * 20_001, "Notes must be 20,000 characters or fewer, and this one has "
                             "20,001")])
def test_an_empty_or_overlong_note_says_what_to_do(bot_app, text, said):
    application, *_ = bot_app
    incident(application, person(application))
    assert said in texts(say(bot_app, f"{AT} {text}", channel=CHANNEL))
    assert notes(application, "INC-2026-0007") == []


# ---- what the incident allows ----------------------------------------------------------


@pytest.mark.parametrize("text, web_says", [
    ("scribe me", "A closed incident cannot change roles."),
    ("note too late", "A closed incident cannot have its log changed."),
    ("update", "A closed incident cannot take new updates.")])
def test_a_closed_incident_says_what_the_web_says(bot_app, text, web_says):
    application, *_ = bot_app
    incident(application, person(application), status="closed")
    assert web_says in texts(say(bot_app, f"{AT} {text}", channel=CHANNEL))
    assert holders(application, "INC-2026-0007") == {"incident_lead": "Ada"}
    assert notes(application, "INC-2026-0007") == []


@pytest.mark.parametrize("text", ["status", "lead me", "scribe me", "note I can see this",
                                  "update"])
def test_a_security_incident_is_not_shown_to_someone_outside_it(bot_app, text):
    application, *_ = bot_app
    ada = person(application)
    person(application, BOB, "Bob")
    reference = incident(application, ada, is_security=True, title="Leaked key")
    card = say(bot_app, f"{AT} {text}", channel=CHANNEL, oid=BOB)
    assert "not the channel of an incident you can see" in texts(card)
    assert "Leaked key" not in texts(card) and reference not in texts(card)
    assert holders(application, reference) == {"incident_lead": "Ada"}
    assert notes(application, reference) == []
    # Its own people are answered.
    assert reference in texts(say(bot_app, f"{AT} status", channel=CHANNEL, oid=ADA))


def test_update_shows_the_update_form_in_the_card_or_the_web_page(bot_app):
    """`update` answers with a button that shows the web form in the card (an
    Action.Execute, as Teams, Outlook and the Playground all run it); sending from it
    answers the person with the incident's card and leaves the reply as it is."""
    application, bot_url, sandbox = bot_app
    incident(application, person(application))
    asked, [reply] = send(bot_app, f"{AT} UPDATE", channel=CHANNEL)
    card = reply["activity"]["attachments"][0]["content"]
    opener, web = actions(card)
    with application.app_context():
        incident_id = db.Session.scalar(select(Incident.id))
    assert opener["type"] == "Action.Execute" and opener["verb"] == "update_form"
    assert opener["data"] == {"incident_id": incident_id, "kind": "kickoff",
                              "delivery_key": "", "launcher": True}
    assert web["url"] == "http://incident-desk.test/incidents/INC-2026-0007/updates/new"
    where = dict(_where(sandbox, ADA, CHANNEL), conversation_id=asked["conversation"]["id"],
                 reply_to_id=reply["id"])

    def press_here(verb, data):
        status, body = invokes.send(sandbox.state, bot_url, invokes.card_action(
            verb, data, **where), bot_id=BOT_APP_ID)
        assert status == 200 and body["type"] == declare_card.CARD, body
        return body["value"]

    form = press_here(opener["verb"], opener["data"])
    assert {"phase", "message", "extra_recipients"} <= set(inputs(form))
    send_button = form["actions"][0]
    done = press_here(send_button["verb"], {**send_button["data"], "phase": "identified",
                                            "message": "Found it", "to_channel": "true"})
    assert "Update sent." in texts(done) and "INC-2026-0007" in texts(done)
    with application.app_context():
        assert db.Session.scalars(select(StatusUpdate.message).where(
            StatusUpdate.incident_id == incident_id)).all() == ["Found it"]
        assert not db.Session.scalars(select(Delivery).where(
            Delivery.kind == "teams.update_card")).all()  # the reply stays a launcher
    assert "in the incident's Teams channel" in texts(say(bot_app, "update"))


def test_declaring_from_the_card_causes_what_declaring_on_the_web_does(bot_app):
    """The same P1 declared on the web page and from the card: the same deliveries (the
    channel, its kickoff, the broadcast, the meeting, delivered; the report, written when
    its debounce allows) and the same timeline once the jobs have run."""
    from tests.conftest import Browser, drain

    application, *_ = bot_app
    person(application)
    web = Browser(application.test_client())
    web.sign_in(name="Bob", email="bob@example.org")
    on_web = web.declare(title="Payments down", severity="P1", description="All cards fail")
    card = press(bot_app, "declare", {"title": "Payments down", "severity": "P1",
                                      "description": "All cards fail"})
    with application.app_context():
        [from_card] = [ref for ref in db.Session.scalars(select(Incident.reference))
                       if ref != on_web]
    assert f"{from_card} declared" in texts(card)

    def caused(reference):
        with application.app_context():
            row = db.Session.scalar(select(Incident).where(Incident.reference == reference))
            kinds = sorted(e.kind for e in row.timeline)
            deliveries = sorted(("".join(c for c in d.key.split("/", 1)[1]
                                         if not c.isdigit()),
                                 "debounced" if "/report/" in d.key else d.status)
                                for d in db.Session.scalars(select(Delivery))
                                if d.key.startswith(reference + "/"))
            return kinds, deliveries, sorted(r for r in row.current_roles())

    drain(application)  # what the jobs of each add too
    assert caused(from_card) == caused(on_web)
    assert {("channel", "delivered"), ("kickoff", "delivered"),
            ("broadcast", "delivered")} <= set(caused(from_card)[1])


def test_the_posted_declare_card_loses_its_button_for_everyone_once_declared(bot_app):
    """In a channel everyone sees the card: after Ada declares from it, the message shows
    the incident, so nobody declares it a second time from the same card."""
    application, bot_url, sandbox = bot_app
    person(application)
    asked, [posted] = send(bot_app, f"{AT} declare Payments down", channel=CHANNEL)
    conversation = asked["conversation"]["id"]
    activity = invokes.card_action("declare", {"title": "Payments down", "severity": "P2"},
                                   **_where(sandbox, ADA, CHANNEL), conversation_id=conversation,
                                   reply_to_id=posted["id"])
    status, body = invokes.send(sandbox.state, bot_url, activity, bot_id=BOT_APP_ID)
    assert status == 200 and "You are the incident lead" in texts(body["value"])
    [shared] = connector.sent_activities(sandbox.state, conversation)
    assert shared["id"] == posted["id"] and shared["updated"]
    content = shared["activity"]["attachments"][0]["content"]
    with application.app_context():
        reference = db.Session.scalar(select(Incident.reference))
    assert f"{reference} declared by Ada" in texts(content)
    assert [a["type"] for a in actions(content)] == ["Action.OpenUrl"]


def test_the_declare_card_of_a_large_catalogue_stays_within_teams_message_size(bot_app):
    application, *_ = bot_app
    person(application)
    with application.app_context():
        db.Session.add_all([Service(name=f"Service {i:03d} " + "n" * 100) for i in range(150)])
        db.Session.commit()
    card = say(bot_app, "declare " + "t" * 200)
    assert len(inputs(card)["services"]["choices"]) == declare_card.SERVICE_CHOICES_MAX
    assert "type any other below" in texts(card)
    assert len(json.dumps(card).encode()) < 28 * 1024


def test_a_security_incident_declared_from_a_channel_card_shows_nobody_else_its_details(
        bot_app):
    application, bot_url, sandbox = bot_app
    person(application)
    asked, [posted] = send(bot_app, f"{AT} declare Leaked key", channel=CHANNEL)
    conversation = asked["conversation"]["id"]
    activity = invokes.card_action("declare", {"title": "Leaked key", "severity": "P1",
                                               "is_security": "true"},
                                   **_where(sandbox, ADA, CHANNEL), conversation_id=conversation,
                                   reply_to_id=posted["id"])
    status, body = invokes.send(sandbox.state, bot_url, activity, bot_id=BOT_APP_ID)
    assert status == 200 and "Leaked key" in texts(body["value"])  # the declarer sees it
    [shared] = connector.sent_activities(sandbox.state, conversation)
    everyone = texts(shared["activity"]["attachments"][0]["content"])
    assert "Declared by Ada as a security incident" in everyone
    assert "Leaked key" not in everyone and "SEC-" not in everyone


def test_the_same_declare_card_declares_once_however_often_it_is_pressed(bot_app):
    """A double press, or a second person on the same shared card: one incident, and the
    second press is shown it (a security incident only to those who may see it)."""
    application, *_ = bot_app
    person(application)
    person(application, BOB, "Bob")
    _asked, [posted] = send(bot_app, f"{AT} declare Payments down", channel=CHANNEL)
    form = posted["activity"]["attachments"][0]["content"]
    [button] = [a for a in actions(form) if a.get("verb") == "declare"]
    key = button["data"][declare_card.KEY]
    assert len(key) == 32
    data = {**button["data"], "title": "Payments down", "severity": "P2"}
    first = press(bot_app, "declare", data, channel=CHANNEL)
    again = press(bot_app, "declare", data, channel=CHANNEL, oid=BOB)
    with application.app_context():
        [row] = db.Session.scalars(select(Incident)).all()
        assert row.declare_key == key
    assert f"{row.reference} declared. You are the incident lead" in texts(first)
    assert f"{row.reference} was declared from this card already, by Ada." in texts(again)
    # A new card is a new key: the next incident is declared.
    _asked, sent = send(bot_app, f"{AT} declare Disk full", channel=CHANNEL)
    [button] = [a for a in actions(sent[-1]["activity"]["attachments"][0]["content"])
                if a.get("verb") == "declare"]
    assert button["data"][declare_card.KEY] != key
    secret = press(bot_app, "declare", {**button["data"], "title": "Key leaked",
                                        "severity": "P1", "is_security": "true"},
                   channel=CHANNEL)
    assert "declared. You are the incident lead" in texts(secret)
    refused = press(bot_app, "declare", {**button["data"], "title": "Key leaked",
                                         "severity": "P1", "is_security": "true"},
                    channel=CHANNEL, oid=BOB)
    assert "only the people working on it can see it" in texts(refused)
    assert "Key leaked" not in json.dumps(refused) and "SEC-" not in json.dumps(refused)
    with application.app_context():
        assert db.Session.scalar(select(func.count()).select_from(Incident)) == 2
