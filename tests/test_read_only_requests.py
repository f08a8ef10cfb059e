"""GET pages read in read-only transactions: on SQLite they neither wait for nor hold
the write lock, and a GET that writes fails every time instead of now and then."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session as PlainSession

from app.auth import service as auth_service
from app.auth.models import ApiToken, User
from app.core.reads import writes
from app.db import WriteInReadOnlyTransaction, read_only, writing


def _person(session) -> User:
    user = User(entra_oid="dev-ro", name="Read Only", email="ro@example.com")
    session.add(user)
    session.commit()
    return user


def test_a_write_inside_read_only_is_refused_and_nothing_is_stored(app, session):
    user = _person(session)
    with read_only():
        assert session.get(User, user.id).name == "Read Only"
        user.name = "Changed"
        with pytest.raises(WriteInReadOnlyTransaction, match="UPDATE users"):
            session.flush()
        session.rollback()
    session.expire_all()
    assert session.get(User, user.id).name == "Read Only"


def test_writing_inside_read_only_ends_the_read_and_writes(app, session):
    user = _person(session)
    with read_only():
        session.get(User, user.id)
        with writing(session):
            user.name = "Written"
            session.commit()
        with pytest.raises(WriteInReadOnlyTransaction):  # read-only again afterwards
            session.execute(text("DELETE FROM users"))
        session.rollback()
    session.expire_all()
    assert session.get(User, user.id).name == "Written"


def test_a_read_only_transaction_does_not_hold_writers_back(app, session):
    """While one request reads, another commits a write without waiting (on SQLite a
    BEGIN IMMEDIATE read would hold the write lock until it ended)."""
    user = _person(session)
    engine = app.extensions["db_engine"]
    reading = PlainSession(engine)
    with read_only():
        assert reading.get(User, user.id) is not None  # the read transaction is open
        done = threading.Event()

        def write() -> None:
            with PlainSession(engine) as writer:
                writer.get(User, user.id).name = "Written meanwhile"
                writer.commit()
            done.set()

        # A thread starts with a fresh context: it is not read-only.
        thread = threading.Thread(target=write)
        thread.start()
        assert done.wait(5), "the writer waited for a reader"
        thread.join()
    reading.close()
    session.expire_all()
    assert session.get(User, user.id).name == "Written meanwhile"


def test_get_views_that_write_are_refused_unless_marked(app, browser, session):
    @app.get("/test-writes-unmarked")
    def unmarked():
        from app.db import Session

        Session.add(User(entra_oid="dev-w1", name="W1", email="w1@example.com"))
        Session.commit()
        return "stored"

    @app.get("/test-writes-marked")
    @writes
    def marked():
        from app.db import Session

        Session.add(User(entra_oid="dev-w2", name="W2", email="w2@example.com"))
        Session.commit()
        return "stored"

    browser.sign_in()
    app.config["PROPAGATE_EXCEPTIONS"] = False
    refused = browser.get("/test-writes-unmarked")
    assert refused.status_code == 500
    assert "Traceback" not in refused.get_data(as_text=True)
    assert browser.get("/test-writes-marked").status_code == 200
    emails = set(session.scalars(select(User.email)))
    assert "w2@example.com" in emails and "w1@example.com" not in emails


def test_an_api_get_still_records_when_its_token_was_used(app, session):
    user = _person(session)
    _row, secret = auth_service.create_api_token(session, user, "ci")
    client = app.test_client()
    response = client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    session.expire_all()
    assert session.scalar(select(ApiToken.last_used_at)) is not None
