"""What a change causes is said where it happens: services publish events, and
app/m365/effects.py is the one table that turns each into work."""

import inspect

from sqlalchemy import select

from app.auth.models import User
from app.incidents import events
from app.incidents import service as incidents
from app.m365.effects import PLANS, M365Effects
from app.outbox.models import Delivery


class Recorder:
    """Effects that only remember what was published."""

    def __init__(self, installation):
        self.installation = installation
        self.published = []

    def publish(self, session, event):
        self.published.append(event)


def _person(session, name="Ada Lovelace", email="ada@example.com"):
    user = User(entra_oid=f"oid-{email}", name=name, email=email)
    session.add(user)
    session.commit()
    return user


def test_every_event_has_its_row_in_the_one_table():
    kinds = {cls for _, cls in inspect.getmembers(events, inspect.isclass)
             if issubclass(cls, events.Event) and cls is not events.Event}
    assert kinds and kinds == set(PLANS)


def test_declaring_says_what_happened_and_plans_nothing_itself(app, session, org, fake_graph):
    ada = _person(session)
    recorder = Recorder(app.extensions["installation"])
    incident = incidents.declare(session, org, ada, title="Checkout down", description="",
                                 severity="P1", effects=recorder)
    assert [type(e) for e in recorder.published] == [events.Declared]
    assert recorder.published[0].incident is incident and recorder.published[0].actor is ada
    assert session.scalars(select(Delivery)).all() == []  # the effects decide, not declare


def test_resolving_and_closing_say_so(app, session, org):
    ada = _person(session)
    recorder = Recorder(app.extensions["installation"])
    incident = incidents.declare(session, org, ada, title="Slow search", description="",
                                 severity="P3")
    incidents.change_status(session, org, recorder, ada, incident, "resolved", "Fixed it")
    [changed] = recorder.published
    assert (changed.previous, changed.status) == ("investigating", "resolved")


def test_the_effects_need_no_app_context(app, session, org, fake_graph):
    """Outside any request or app context (a job, a shell) the work is planned all the
    same: nothing depends on current_app."""
    ada = _person(session)
    effects = M365Effects(dict(app.extensions))
    incident = incidents.declare(session, org, ada, title="Email delayed", description="",
                                 severity="P1", effects=effects)
    kinds = set(session.scalars(select(Delivery.kind).where(
        Delivery.incident_id == incident.id)))
    assert {"teams.create_channel", "teams.post", "teams.meeting"} <= kinds


def test_a_security_declaration_tells_the_security_contacts_through_the_effects(
        app, session, org, fake_graph):
    from dataclasses import replace

    ada = _person(session)
    app.extensions["installation"] = replace(app.extensions["installation"],
                                        security_emails=frozenset({"soc@example.com"}))
    incident = incidents.declare(session, org, ada, title="Leaked key", description="",
                                 severity="P2", is_security=True,
                                 effects=app.extensions["effects"])
    mail = session.scalars(select(Delivery).where(
        Delivery.incident_id == incident.id, Delivery.kind == "mail.send")).all()
    assert [sorted(d.payload["to"] + d.payload["bcc"]) for d in mail] == [["soc@example.com"]]


def test_someone_removed_is_taken_out_of_a_private_channel_they_were_put_in(
        app, session, org, fake_graph):
    """ParticipantRemoved: an add already delivered is undone by one removal after it
    (acting as the service account, a channel owner); with no add delivered (a standard
    channel has none) nothing is planned."""
    from dataclasses import replace

    from app.outbox import service as outbox
    from app.outbox.models import DELIVERED

    ada, bob = _person(session), _person(session, "Bob Ng", "bob@example.com")
    effects = M365Effects({**app.extensions, "installation": replace(
        app.extensions["installation"], service_account="desk@example.com")})
    incident = incidents.declare(session, org, ada, title="Leaked key", description="",
                                 severity="P2", is_security=True, effects=effects)
    ref = incident.reference
    added = outbox.add(session, key=f"{ref}/channel-member/{bob.id}",
                       kind="teams.add_channel_member", incident=incident, actor=ada,
                       payload={"team_id": "t", "channel_id": "c", "user_id": bob.entra_oid})
    added.status = DELIVERED
    session.flush()
    removed = events.ParticipantRemoved(incident=incident, actor=bob, user=bob)
    effects.publish(session, removed)
    [removal] = session.scalars(select(Delivery).where(
        Delivery.kind == "teams.remove_channel_member")).all()
    assert removal.key == f"{ref}/channel-member/{bob.id}/removal/{added.id}"
    assert removal.depends_on is added and removal.actor is None
    assert removal.payload["user_id"] == bob.entra_oid
    assert added.key == f"{ref}/channel-member/{bob.id}/taken-back/{added.id}"
    effects.publish(session, removed)  # nothing delivered under the key any more
    standard = incidents.declare(session, org, ada, title="Slow", description="",
                                 severity="P3", effects=effects)
    effects.publish(session, events.ParticipantRemoved(incident=standard, actor=bob, user=bob))
    assert session.scalars(select(Delivery.id).where(
        Delivery.kind == "teams.remove_channel_member")).all() == [removal.id]
    session.rollback()
