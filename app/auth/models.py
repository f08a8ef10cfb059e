"""People who sign in, their API tokens, and their server-side MSAL token caches."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth import rights
from app.core import clock
from app.db import Base, UTCDateTime


class User(UserMixin, Base):
    """Keyed by the Entra object id; dev sign-in users get a `dev-` prefixed id."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    entra_oid: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), index=True)
    # The app roles (IncidentDesk.Admin / .Security, or the dev form's ticks) of the last
    # sign-in. The rights themselves are `is_admin` / `is_security`: these roles or
    # today's ADMIN_EMAILS / SECURITY_EMAILS, worked out afresh on every request.
    admin_role: Mapped[bool] = mapped_column("is_admin", default=False)
    security_role: Mapped[bool] = mapped_column("is_security", default=False,
                                                server_default="0")
    # What ADMIN_EMAILS and SECURITY_EMAILS are matched against: the user principal name
    # (`preferred_username`) of an Entra sign-in in this tenant, or the dev sign-in's
    # email; never the optional `email` claim, which need not be verified.
    sign_in_name: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Their Teams user id (a `29:` MRI), learnt from what the bot receives from them
    # (app/bot/teams_people.py): whom a live card names for automatic refreshes.
    teams_user_id: Mapped[str | None] = mapped_column(String(200))

    api_tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")

    def get_id(self) -> str:
        return self.entra_oid

    @property
    def is_admin(self) -> bool:
        return rights.of(self).admin

    @is_admin.setter
    def is_admin(self, value: bool) -> None:
        self.admin_role = value

    @property
    def is_security(self) -> bool:
        return rights.of(self).security

    @is_security.setter
    def is_security(self, value: bool) -> None:
        self.security_role = value

    @property
    def is_dev_user(self) -> bool:
        return self.entra_oid.startswith("dev-")

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class ApiToken(Base):
    """Bearer tokens for automation; only a SHA-256 of the secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Chosen when the token is made (app/auth/service.py TOKEN_DAYS); never unlimited.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="api_tokens")


class TokenCache(Base):
    """A user's MSAL token cache, encrypted, so jobs can later act as that user."""

    __tablename__ = "token_caches"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class SignIn(Base):
    """One browser sign-in, so signing out ends it on the server: a copy of the cookie is
    refused from then on. `id` is a SHA-256 of the random id the cookie carries, so a copy
    of this table names no live sign-in."""

    __tablename__ = "sign_ins"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
