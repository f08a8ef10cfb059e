"""Server-side sign-ins: the session cookie carries a random id, each request checks its
row, and signing out ends it, so a copied cookie stops working when its owner signs out
(a signed cookie alone would work until it expired). The lifetime is enforced here too,
from when the person signed in, whatever the cookie's own signature says."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session, joinedload

from app.auth.models import SignIn, User
from app.core import clock
from app.db import writing

LIFETIME = timedelta(hours=12)
# last_seen_at is written at most this often: a page view is then not a write.
SEEN_EVERY = timedelta(minutes=5)
# A person's sign-ins are kept this long (who signed in when), then deleted.
KEPT_FOR = timedelta(days=30)


def _row_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def begin(session: Session, user: User) -> str:
    """A new sign-in for `user`; returns the secret for the cookie (never stored). Their
    sign-ins older than KEPT_FOR go, so the table stays as small as people's habits."""
    secret = secrets.token_urlsafe(32)
    now = clock.now()
    session.execute(delete(SignIn).where(SignIn.user_id == user.id,
                                         SignIn.created_at < now - KEPT_FOR))
    session.add(SignIn(id=_row_id(secret), user_id=user.id, created_at=now, last_seen_at=now))
    session.commit()
    return secret


def user_for(session: Session, secret: str | None, object_id: str,
             lifetime: timedelta = LIFETIME) -> User | None:
    """The person this cookie's sign-in belongs to, if it is still open and theirs."""
    if not secret or not isinstance(secret, str):
        return None
    row = session.get(SignIn, _row_id(secret), options=[joinedload(SignIn.user)])
    now = clock.now()
    if (row is None or row.ended_at is not None or row.created_at + lifetime <= now
            or row.user.get_id() != object_id):  # the id Flask-Login keeps
        return None
    if now - row.last_seen_at >= SEEN_EVERY:
        with writing(session):  # pages are read in read-only transactions
            row.last_seen_at = now
            session.commit()
    return row.user


def end(session: Session, secret: str | None) -> None:
    """End this sign-in (signing out); nothing happens for one unknown or already ended."""
    if not secret or not isinstance(secret, str):
        return
    session.execute(update(SignIn).where(SignIn.id == _row_id(secret),
                                         SignIn.ended_at.is_(None))
                    .values(ended_at=clock.now()))
    session.commit()


def end_all(session: Session, user: User) -> int:
    """End every open sign-in of `user` (sign out everywhere); returns how many."""
    ended = session.execute(update(SignIn).where(SignIn.user_id == user.id,
                                                 SignIn.ended_at.is_(None))
                            .values(ended_at=clock.now()))
    session.commit()
    return ended.rowcount

