"""One row per message, channel, mail or file Incident Desk owes Microsoft 365."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.core import clock
from app.db import Base, UTCDateTime
from app.incidents.models import Incident

PENDING, SENDING, DELIVERED, FAILED, CANCELLED = (
    "pending", "sending", "delivered", "failed", "cancelled",
)


class Delivery(Base):
    """A unit of outbound work, written in the same transaction as its cause.

    `key` is unique and stable (e.g. "INC-2026-0007/kickoff"), so the same intent can
    never be queued twice, and it doubles as the idempotency key sent to Graph (card
    attachment id, event transactionId, meeting externalId, mail header).
    `lease_until` marks a claim: a worker that dies mid-delivery leaves a lease that
    expires, and the next attempt first checks whether the work reached Graph;
    `lease_token` names the claim, so a worker that lost it can write nothing more.
    A debounced delivery (a report file, asked for again on every change: service.request)
    also has `requested_at`, its latest request, which an attempt covers only if it came
    before the claim, and `pending_since`, which bounds how long the debounce may put it
    off.
    """

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    depends_on_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    progress: Mapped[dict] = mapped_column(JSON, default=dict)
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(32))  # whose claim (lease.py)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    actor: Mapped[User | None] = relationship()
    incident: Mapped[Incident | None] = relationship()
    depends_on: Mapped[Delivery | None] = relationship(remote_side=[id])

    @property
    def is_done(self) -> bool:
        return self.status in (DELIVERED, CANCELLED)
