"""Reminders sent (one row per key, so each due time is sent once, in exactly one notice)
and snoozes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.core import clock
from app.db import Base, UTCDateTime


class SentReminder(Base):
    __tablename__ = "sent_reminders"
    __table_args__ = (UniqueConstraint("incident_id", "key",
                                       name="uq_sent_reminders_incident_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"),
                                             index=True)
    key: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    text: Mapped[str] = mapped_column(Text)
    to: Mapped[str] = mapped_column(Text, default="")  # who it went to, for the page
    # The outbox key of the one email/Teams post that listed it with the others due then.
    notice_key: Mapped[str | None] = mapped_column(String(200), index=True)


class ReminderSnooze(Base):
    """A kind of reminder put off for an incident until a time."""

    __tablename__ = "reminder_snoozes"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"),
                                             primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    by: Mapped[User | None] = relationship()
