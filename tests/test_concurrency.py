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
