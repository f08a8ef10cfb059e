"""Declaring at the same moment from many places never duplicates a reference."""

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

from app.auth.models import User
from app.incidents import service
from app.incidents.models import Incident


def test_concurrent_declares_get_distinct_references(app, org, session):
    engine = app.extensions["db_engine"]
    with OrmSession(engine) as setup:
        setup.add(User(entra_oid="dev-x", name="X", email="x@example.com"))
        setup.commit()

    def declare(n: int) -> str:
        with OrmSession(engine, expire_on_commit=False) as own:
            actor = own.scalar(select(User).where(User.entra_oid == "dev-x"))
            return service.declare(own, org, actor, title=f"Parallel {n}",
                                   description="", severity="P2").reference

    with ThreadPoolExecutor(max_workers=8) as pool:
        references = list(pool.map(declare, range(24)))
    assert len(set(references)) == 24
    numbers = sorted(session.scalars(select(Incident.number)))
    assert numbers == list(range(1, 25))


def test_two_deliveries_saving_a_new_persons_token_cache_at_once_both_succeed(app):
    """Two deliveries acting as someone with no cache yet each save the one MSAL gave
    them: neither may fail on the other's row (a read-then-insert did on PostgreSQL)."""
    import threading

    from app.auth.models import TokenCache
    from app.auth.service import load_token_cache, save_token_cache

    engine = app.extensions["db_engine"]
    with OrmSession(engine) as setup:
        people = [User(entra_oid=f"dev-cache-{n}", name=f"P{n}", email=f"p{n}@example.com")
                  for n in range(12)]
        setup.add_all(people)
        setup.commit()
        ids = [person.id for person in people]
    start = threading.Barrier(2)

    def save(user_id: int, text: str) -> None:
        start.wait(5)  # (on SQLite each transaction takes the write lock at its start)
        with OrmSession(engine, expire_on_commit=False) as own:
            save_token_cache(own, own.get(User, user_id), text, "secret")

    for user_id in ids:
        with ThreadPoolExecutor(max_workers=2) as pool:
            done = [pool.submit(save, user_id, text) for text in ("one", "two")]
            for future in done:
                future.result()  # raises if either save failed
    with OrmSession(engine) as check:
        assert check.query(TokenCache).count() == len(ids)
        person = check.get(User, ids[0])
        assert load_token_cache(check, person, "secret") in ("one", "two")


def test_adding_to_the_log_conflicts_with_nothing(app, org, session):
    """A note is an append: one added between another request's read and its write
    neither is refused nor makes that request's status change "changed meanwhile"."""
    from app.incidents import scribe
    from app.incidents.models import TimelineEntry

    engine, effects = app.extensions["db_engine"], app.extensions["effects"]
    with OrmSession(engine) as setup:
        setup.add(User(entra_oid="dev-y", name="Y", email="y@example.com"))
        setup.commit()
        actor = setup.scalar(select(User).where(User.entra_oid == "dev-y"))
        reference = service.declare(setup, org, actor, title="Appends", description="",
                                    severity="P2").reference

    def mine(own):
        actor = own.scalar(select(User).where(User.entra_oid == "dev-y"))
        return actor, own.scalar(select(Incident).where(Incident.reference == reference))

    with OrmSession(engine, expire_on_commit=False) as first, \
            OrmSession(engine, expire_on_commit=False) as second:
        actor_1, read_first = mine(first)
        first.commit()  # read, as a page's form is, before the other request writes
        actor_2, read_second = mine(second)
        scribe.add_entry(second, actor_2, read_second, text="From the card",
                         entry_type="event", effects=effects)
        scribe.add_entry(first, actor_1, read_first, text="From the page",
                         entry_type="event", effects=effects)
        service.change_status(first, org, effects, actor_1, read_first, "identified", "")

    def add(n: int) -> None:
        with OrmSession(engine, expire_on_commit=False) as own:
            actor, incident = mine(own)
            scribe.add_entry(own, actor, incident, text=f"At once {n}", entry_type="event",
                             effects=effects)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(add, range(16)))
    texts = set(session.scalars(select(TimelineEntry.text).where(
        TimelineEntry.kind == "note")))
    assert {"From the card", "From the page"} | {f"At once {n}" for n in range(16)} <= texts
    assert session.scalar(select(Incident.status).where(
        Incident.reference == reference)) == "identified"
