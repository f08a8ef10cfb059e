"""Users from sign-in, encrypted token caches, and API tokens."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import ApiToken, TokenCache, User
from app.core import clock
from app.db import insert_for, writing

ADMIN_APP_ROLE = "IncidentDesk.Admin"
SECURITY_APP_ROLE = "IncidentDesk.Security"
TOKEN_PREFIX = "idk_"  # noqa: S105 (a marker, not a secret)


def upsert_user(
    session: Session,
    *,
    object_id: str,
    tenant_id: str | None,
    name: str,
    email: str,
    admin: bool,
    security: bool = False,
) -> User:
    """Find the person by Entra object id (never by email, which can be reassigned)."""
    user = session.scalar(select(User).where(User.entra_oid == object_id))
    if user is None:
        user = User(entra_oid=object_id)
        session.add(user)
    user.tenant_id = tenant_id
    user.name = name.strip()[:200] or email
    user.email = email.strip().lower()[:320]
    user.is_admin = admin
    user.is_security = security
    user.last_sign_in_at = clock.now()
    session.commit()
    return user


def adopt_object_id(session: Session, old: str, new: str) -> None:
    """Give the person known by `old` the object id `new` (unless someone has it), so one
    person keeps one account, and their incidents, when their id changes."""
    person = session.scalar(select(User).where(User.entra_oid == old))
    if person is None or session.scalar(select(User.id).where(User.entra_oid == new)):
        return
    person.entra_oid = new
    session.commit()


def dev_object_id(email: str) -> str:
    return "dev-" + str(uuid.uuid5(uuid.NAMESPACE_URL, "mailto:" + email.strip().lower()))


def _fernet(secret: str) -> Fernet:
    key = hashlib.sha256(b"incident-desk token cache\x00" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def save_token_cache(session: Session, user: User, serialized: str, secret: str) -> None:
    """One upsert: two deliveries acting as the same person may both be the first to
    save a cache for them (a read-then-insert would make one fail)."""
    values = {"ciphertext": _fernet(secret).encrypt(serialized.encode()),
              "updated_at": clock.now()}
    stmt = insert_for(session)(TokenCache).values(user_id=user.id, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=[TokenCache.user_id],
                                               set_=values))
    session.commit()
    cached = session.identity_map.get(session.identity_key(TokenCache, (user.id,)))
    if cached is not None:
        session.expire(cached)  # read afresh by the next load


def load_token_cache(session: Session, user: User, secret: str) -> str | None:
    """The decrypted cache, or None if there is none or the key has changed."""
    row = session.get(TokenCache, user.id)
    if row is None:
        return None
    try:
        return _fernet(secret).decrypt(row.ciphertext).decode()
    except InvalidToken:
        return None


# ---- API tokens ------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """Returns the row and the secret, which is shown once and never stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user=user, name=name.strip()[:100], prefix=secret[:10],
                   token_hash=_hash(secret))
    session.add(row)
    session.commit()
    return row, secret


def user_for_api_token(session: Session, secret: str) -> User | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(secret)))
    if row is None or row.revoked_at is not None:
        return None
    with writing(session):  # API reads are GETs, in read-only transactions
        row.last_used_at = clock.now()
        session.commit()
    return row.user


def revoke_api_token(session: Session, user: User, token_id: int) -> bool:
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        return False
    row.revoked_at = clock.now()
    session.commit()
    return True


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at)
        )
    )
