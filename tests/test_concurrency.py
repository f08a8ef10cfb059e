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
