"""A job that delivers a channel goes straight on to one delivery it released (the
kickoff card), instead of handing it to another worker through the queue; what else it
released is queued as before, and a delivery waiting on the card is queued too."""

from __future__ import annotations

from sqlalchemy import select

from app import jobs
from app.auth.models import User
from app.incidents import service
from app.outbox.models import DELIVERED, PENDING, Delivery


class Recorded:
    """The app's jobs, recording what is queued instead of running it."""

    kind = "recorded"

    def __init__(self):
        self.queued: list[tuple[str, tuple, bool]] = []

    def enqueue(self, path, *args, delay=0.0, urgent=False) -> bool:
        self.queued.append((path, args, urgent))
        return True

    def __getattr__(self, name):  # anything else the app asks of its jobs: nothing to do
        return lambda *args, **kwargs: True


def declared(app, session, org, severity: str) -> tuple[Recorded, dict[str, Delivery]]:
    """A declaration whose jobs are recorded, not run; its deliveries by what they are."""
    recorded = Recorded()
    app.extensions["jobs"] = recorded
    ada = User(entra_oid="dev-ada", name="Ada", email="ada@example.com")
    session.add(ada)
    session.commit()
    with app.app_context():
        incident = service.declare(session, org, ada, title="Checkout down",
                                   description="", severity=severity,
                                   effects=app.extensions["effects"])
    rows = {row.key.split("/", 1)[1]: row for row in session.scalars(
        select(Delivery).where(Delivery.key.startswith(f"{incident.reference}/")))}
    session.commit()
    return recorded, rows


def test_the_channels_job_posts_its_kickoff_itself_and_queues_the_broadcast(
        app, session, org, fake_graph):
    recorded, rows = declared(app, session, org, "P1")
    channel, kickoff, broadcast = rows["channel"], rows["kickoff"], rows["broadcast"]
    recorded.queued.clear()

    with app.app_context():
        assert jobs.deliver(channel.id) == "delivered"

    session.expire_all()
    assert session.get(Delivery, kickoff.id).status == DELIVERED  # in the same job
    assert session.get(Delivery, broadcast.id).status == PENDING
    queued = [args[0] for _path, args, _urgent in recorded.queued]
    assert broadcast.id in queued and kickoff.id not in queued
    assert len(fake_graph.messages(channel_id=channel_of(session, channel.id))) == 1


def channel_of(session, delivery_id: int) -> str:
    return session.get(Delivery, delivery_id).result["channel_id"]


def test_a_channels_first_attempt_books_its_turn_and_saves_nothing_before_its_call(
        app, session, org, fake_graph, monkeypatch):
    """A checkpoint is a commit, which can wait on a busy database: between booking and
    the call it could make the call late for its slot (a 429 under load), and before
    them it delays the declaration's critical path. The first name needs none: any
    later attempt knows it (tests/test_channel_recovery.py)."""
    from app.m365.handlers import HANDLERS
    from app.m365.limits import need_of
    from app.outbox import lease, runner
    from app.outbox.pacing import LocalLimiter, Pacer

    _recorded, rows = declared(app, session, org, "P2")
    channel_id = rows["channel"].id
    steps: list[str] = []
    pacer = Pacer(LocalLimiter(), need_of, sleep=lambda _s: None)
    real_admit, real_hold = pacer.admit, lease.hold
    monkeypatch.setattr(pacer, "admit", lambda *a, **k: steps.append("book") or
                        real_admit(*a, **k))
    monkeypatch.setattr(lease, "hold", lambda *a, **k: steps.append("save") or
                        real_hold(*a, **k))
    with app.app_context():
        assert runner.deliver(session, channel_id, graph_for=app.extensions["graph_for"],
                              handlers=HANDLERS, pacer=pacer) == "delivered"
    assert steps == ["book", "save"]  # the turn, the outcome: the first name needs no save
