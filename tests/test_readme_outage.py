"""The README's production set-up as written (bench/readme_setup.py: its migration,
gunicorn, worker pool and scheduler lines, on PostgreSQL, a private Redis and a standalone
Graph sandbox) through outages: Redis stopped across two sweep ticks while a P1 is declared
and updated, or PostgreSQL refusing connections while deliveries are under way. Once it is
back every delivery goes out within a minute, exactly once, and no process has exited or
been restarted by anyone. bench/bench_outage.py runs the full two-minute Redis outage."""

from __future__ import annotations

import sys
import time
from collections import Counter
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.cron import SWEEP_EVERY
from app.m365.handlers import attachment_id
from tests.conftest import make_settings
from tests.test_resilience import ROOT, private_redis  # noqa: F401 - a fixture

sys.path.insert(0, str(ROOT / "bench"))
from graph_bench import SANDBOX_BROADCAST, SANDBOX_TEAM
from readme_setup import Deployment

pytestmark = pytest.mark.slow  # README set-ups in subprocesses, real-time outages

OUTAGE = 2 * SWEEP_EVERY + 5  # seconds: across at least two of the scheduler's sweeps
BACK_WITHIN = 60.0  # seconds from the outage's end to the last delivery out
PIECES = {"channel", "kickoff", "broadcast", "meeting"}  # of every P1


@pytest.fixture
def settings(migrated, private_redis):  # noqa: F811 - the fixture, by name
    """The conftest `app` (its teardown empties the tables) on the private Redis."""
    return make_settings(migrated, redis_url=private_redis.url)


@pytest.fixture
def deployment(app, migrated, private_redis, tmp_path):  # noqa: F811
    if not migrated.startswith("postgresql"):
        pytest.skip("the README's production set-up is PostgreSQL: set DATABASE_URL")
    deployed = Deployment(SimpleNamespace(database_url=migrated, path=tmp_path),
                          private_redis.url)
    yield deployed
    deployed.close()
    app.extensions["db_engine"].dispose()  # its connections may predate an outage


def test_a_redis_outage_across_sweeps_delays_deliveries_but_loses_or_repeats_none(
        deployment, private_redis):  # noqa: F811
    before, _, _ = deployment.declare("Declared before Redis stops")
    deployment.wait_for_deliveries(before, PIECES)

    private_redis.kill()
    stopped = time.monotonic()
    during, _, took = deployment.declare("Declared while Redis is down")
    assert took < 10, took  # the page does not wait on Redis
    assert deployment.post_update(before, "Update posted while Redis is down") < 10
    time.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped)))
    assert all(p.poll() is None for p in deployment.processes.values()), exits(deployment)
    assert {s for s, _ in deployment.deliveries(during).values()} == {"pending"}

    private_redis.start()
    back = time.monotonic()
    deployment.wait_for_deliveries(during, PIECES, timeout=BACK_WITHIN)
    deployment.wait_for_deliveries(before, set(deployment.deliveries(before)),
                                   timeout=BACK_WITHIN - (time.monotonic() - back))
    assert all(p.poll() is None for p in deployment.processes.values()), exits(deployment)

    delivered_once(deployment, [before, during], update="Update posted while Redis is down")
    log = (deployment.workdir.path / "app.cron.log").read_text()
    assert log.count("Redis is unreachable") == 1, log[-3000:]  # once per outage
    assert log.count("Redis is back") == 1, log[-3000:]


def test_a_database_outage_mid_delivery_is_caught_up_once_it_is_back(deployment):
    url = make_url(deployment.settings.database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = url.database
    reference, _, _ = deployment.declare("Declared just before the database goes")
    try:
        with admin.connect() as conn:  # refuse new connections and drop the open ones
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :name AND pid <> pg_backend_pid()"),
                         {"name": name})
        page = deployment.http.get(f"{deployment.url}/incidents", timeout=30)
        assert page.status_code >= 500 and "Traceback" not in page.text
        time.sleep(SWEEP_EVERY + 5)  # the scheduler queues a sweep that cannot run
        assert all(p.poll() is None for p in deployment.processes.values()), \
            exits(deployment)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    if getattr(deployment, "_engine", None):
        deployment._engine.dispose()
    deployment.wait_for_deliveries(reference, PIECES, timeout=BACK_WITHIN)
    assert all(p.poll() is None for p in deployment.processes.values()), exits(deployment)
    delivered_once(deployment, [reference])


def delivered_once(deployment: Deployment, references: list[str], update: str = "") -> None:
    """Each incident has one channel and one meeting, each card was posted once, and the
    update went to its channel once."""
    state = deployment.sandbox.state
    assert all(status == "delivered" for ref in references  # reports settle later
               for piece, (status, _) in deployment.deliveries(ref).items()
               if not piece.startswith("report/"))
    cards = Counter(a["id"] for m in state.messages() for a in m.get("attachments") or [])
    assert set(cards.values()) == {1}, cards
    for reference in references:
        channels = [c for c in state.channels(SANDBOX_TEAM)
                    if (c.get("description") or "").startswith(f"{reference}:")]
        assert len(channels) == 1, channels
        for piece in ("kickoff", "broadcast"):
            assert cards[attachment_id(f"{reference}/{piece}")] == 1, (reference, piece)
    broadcasts = state.messages(SANDBOX_TEAM, SANDBOX_BROADCAST)
    assert len(broadcasts) == len(references), broadcasts
    assert len(state.meetings()) == len(references)
    if update:
        posted = [m for m in state.messages() if update in str(m)]
        assert len(posted) == 1, posted


def exits(deployment: Deployment) -> dict:
    return {name: (p.poll(), (deployment.workdir.path / f"{log_name(name)}.log")
                   .read_text()[-2000:])
            for name, p in deployment.processes.items() if p.poll() is not None}


def log_name(name: str) -> str:
    return name.replace(" ", "-")


def test_a_prerequisite_delivered_while_its_dependent_is_claimed_does_not_strand_it(
        app, session, org, fake_graph, frozen_clock, migrated):
    """Found by the outage run: after Redis returns, the sweep queues a kickoff together
    with its channel. The kickoff's claim read the channel (not yet delivered), the channel
    was delivered and released the kickoff, then the claim took the row and went back to
    sleep for a minute. Here the channel is delivered, in another thread, exactly there
    (the clock stands still: the release makes the row due at the claim's own time)."""
    import threading

    from sqlalchemy import event, select

    from app.auth.models import User
    from app.incidents import service
    from app.m365.handlers import HANDLERS
    from app.outbox import runner
    from app.outbox.models import Delivery

    if not migrated.startswith("postgresql"):  # SQLite: one writer, the race cannot occur
        pytest.skip("a race between PostgreSQL transactions: set DATABASE_URL")
    ada = User(entra_oid="dev-ada", name="Ada", email="ada@example.com")
    session.add(ada)
    session.commit()
    incident = service.declare(session, org, ada, title="Raced", description="",
                               severity="P3", effects=app.extensions["effects"])
    channel, kickoff = (session.scalar(select(Delivery.id).where(
        Delivery.key == f"{incident.reference}/{piece}")) for piece in ("channel", "kickoff"))
    session.remove()
    main, outcomes = threading.get_ident(), {}

    def deliver_channel():
        outcomes["channel"] = runner.deliver(session, channel, handlers=HANDLERS,
                                             graph_for=app.extensions["graph_for"])
        session.remove()

    def before_the_claim(state):  # the kickoff's claim: its first UPDATE
        if state.is_update and threading.get_ident() == main and "channel" not in outcomes:
            other = threading.Thread(target=deliver_channel)
            other.start()
            other.join(30)

    event.listen(session.session_factory, "do_orm_execute", before_the_claim)
    try:
        outcomes["kickoff"] = runner.deliver(session, kickoff, handlers=HANDLERS,
                                             graph_for=app.extensions["graph_for"])
    finally:
        event.remove(session.session_factory, "do_orm_execute", before_the_claim)
        session.remove()
    assert outcomes == {"channel": "delivered", "kickoff": "delivered"}


def test_a_worker_started_while_redis_is_away_waits_for_it_instead_of_dying(
        private_redis):  # noqa: F811
    """The pool replaces a worker that died with Redis; rq's would die again at once (its
    constructor names its connection), a traceback a second for the whole outage."""
    import threading

    from redis import Redis
    from rq import Queue

    from app.core.job_queue import QUEUE_NAME
    from app.worker import RECONNECT_EVERY, PreloadedWorker, WarmWorker

    private_redis.kill()
    made, errors = [], []

    def build(worker_class):
        try:
            connection = Redis.from_url(private_redis.url)
            made.append(worker_class([Queue(QUEUE_NAME, connection=connection)],
                                     connection=connection))
        except Exception as exc:  # the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(cls,), daemon=True)
               for cls in (WarmWorker, PreloadedWorker)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    assert all(thread.is_alive() for thread in threads) and not errors, errors
    private_redis.start()
    for thread in threads:
        thread.join(RECONNECT_EVERY + 3)
    assert not errors and len(made) == 2, errors
