"""The review meeting of an incident."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.core import clock
from app.db import Base, UTCDateTime


class ReviewMeeting(Base):
    __tablename__ = "review_meetings"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    invited: Mapped[list] = mapped_column(JSON, default=list)  # [{"email", "name", "why"}]
    attended: Mapped[list] = mapped_column(JSON, default=list)  # emails
    facilitator_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    note_taker_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    booked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    facilitator: Mapped[User | None] = relationship(foreign_keys=[facilitator_id])
    note_taker: Mapped[User | None] = relationship(foreign_keys=[note_taker_id])
    booked_by: Mapped[User | None] = relationship(foreign_keys=[booked_by_id])
