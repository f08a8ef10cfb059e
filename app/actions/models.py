"""A follow-up action."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.core import clock
from app.db import Base, UTCDateTime
from app.incidents.models import Incident

STATUSES = {"open": "Open", "in_progress": "In progress", "done": "Done",
            "wont_do": "Won't do"}
FINISHED = ("done", "wont_do")


class FollowUpAction(Base):
    __tablename__ = "follow_up_actions"
    __table_args__ = (Index("ix_follow_up_actions_status_due", "status", "due"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"),
                                             index=True)
    description: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    due: Mapped[date | None] = mapped_column(Date)
    link: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(20), default="open")
    public: Mapped[bool] = mapped_column(default=False)  # may appear in the public version
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_chased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    incident: Mapped[Incident] = relationship()
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def overdue(self, today: date) -> bool:
        return not self.finished and self.due is not None and self.due < today
