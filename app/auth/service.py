"""Users from sign-in, encrypted token caches, and API tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import rights
from app.auth.models import ApiToken, TokenCache, User
from app.config import Settings
from app.core import clock
from app.db import insert_for, writing

ADMIN_APP_ROLE = "IncidentDesk.Admin"
SECURITY_APP_ROLE = "IncidentDesk.Security"
TOKEN_PREFIX = "idk_"  # noqa: S105 (a marker, not a secret)
TOKEN_DAYS = (7, 30, 90, 180, 365)  # how long a new token may last, chosen on its page
DEFAULT_TOKEN_DAYS = 90


class AccountOfAnotherTenant(Exception):
    """The object id is already that of an account in another tenant (or the sandbox's)."""


def upsert_user(
    session: Session,
    *,
    object_id: str,
    tenant_id: str | None,
    name: str,
    email: str,
    admin: bool,
    security: bool = False,
    sign_in_name: str | None = None,
) -> User:
    """Find the person by Entra object id and tenant (never by email, which can be
    reassigned). `admin` and `security` are this sign-in's app roles; the rights are
    worked out from them and today's configuration (app/auth/rights.py). `sign_in_name`
    is what ADMIN_EMAILS may name: the email unless told otherwise."""
    user = session.scalar(select(User).where(User.entra_oid == object_id))
    if user is not None and user.tenant_id is not None and user.tenant_id != tenant_id:
        raise AccountOfAnotherTenant(object_id)
    if user is None:
        user = User(entra_oid=object_id)
        session.add(user)
    user.tenant_id = tenant_id
    user.name = name.strip()[:200] or email
    user.email = email.strip().lower()[:320]
    user.sign_in_name = (email if sign_in_name is None else sign_in_name).strip().lower()[
        :320] or None
    user.admin_role = admin
    user.security_role = security
    user.last_sign_in_at = clock.now()
    session.commit()
    return user


def user_principal_name(token_cache: str, object_id: str) -> str:
    """The sign-in's user principal name as MSAL's cache records it for the account
    (`preferred_username`, else `upn`; never the `email` claim, which need not be
    verified), or "" if it has none."""
    try:
        accounts = json.loads(token_cache).get("Account", {}).values()
    except (ValueError, AttributeError):
        return ""
    for account in accounts:
        if account.get("local_account_id") == object_id:
            return str(account.get("username") or "")
    return ""


def account_refusal(user: User, settings: Settings) -> str | None:
    """Why this account may no longer be used (a session or an API token), or None."""
    if not rights.of_this_tenant(user, settings):
        return ("This account was made by development sign-in (or belongs to another "
                "tenant), which stopped counting when Microsoft Entra was configured: "
                "sign in with Microsoft.")
    if not settings.entra_configured and not settings.dev_sign_in_allowed:
        return ("This account was made by development sign-in, which is switched off "
                "(DEV_SIGN_IN is not set).")
    return None


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


def create_api_token(session: Session, user: User, name: str,
                     days: int = DEFAULT_TOKEN_DAYS) -> tuple[ApiToken, str]:
    """Returns the row and the secret, which is shown once and never stored. Every token
    expires: `days` is one of TOKEN_DAYS."""
    if days not in TOKEN_DAYS:
        raise ValueError(f"a token lasts one of {TOKEN_DAYS} days, not {days!r}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    row = ApiToken(user=user, name=name.strip()[:100], prefix=secret[:10],
                   token_hash=_hash(secret), created_at=now,
                   expires_at=now + timedelta(days=days))
    session.add(row)
    session.commit()
    return row, secret


@dataclass(frozen=True)
class TokenCheck:
    """The token's person, or why it was refused (said in the API's 401)."""

    user: User | None
    refusal: str = ""


NOT_A_TOKEN = "Send a valid API token: Authorization: Bearer <token>."  # noqa: S105 (text)


def sign_in_days(settings: Settings) -> int:
    return max(settings.api_token_sign_in_days, 1)


def check_api_token(session: Session, secret: str, settings: Settings) -> TokenCheck:
    """A token works until it expires, while its owner keeps signing in (within
    API_TOKEN_SIGN_IN_DAYS) and while their account counts (app/auth/rights.py)."""
    if not secret.startswith(TOKEN_PREFIX):
        return TokenCheck(None, NOT_A_TOKEN)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(secret)))
    if row is None or row.revoked_at is not None:
        return TokenCheck(None, NOT_A_TOKEN)
    now = clock.now()
    if row.expires_at <= now:
        return TokenCheck(None, f"This API token expired on {row.expires_at:%Y-%m-%d}: "
                                "create a new one on the API tokens page.")
    refusal = account_refusal(row.user, settings)
    if refusal:
        return TokenCheck(None, refusal)
    days = sign_in_days(settings)
    # An account is made by signing in; one made otherwise counts from its creation.
    last = row.user.last_sign_in_at or row.user.created_at
    if last is None or now - last > timedelta(days=days):
        return TokenCheck(None, f"This API token's owner has not signed in to Incident Desk "
                                f"for {days} days: tokens work again once they sign in.")
    with writing(session):  # API reads are GETs, in read-only transactions
        row.last_used_at = now
        session.commit()
    return TokenCheck(row.user)


def token_expired(row: ApiToken) -> bool:
    return row.expires_at <= clock.now()


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
