"""Saved update wordings that administrators keep (app/updates/templates.py renders them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core import clock
from app.db import Base, UTCDateTime


class UpdateTemplate(Base):
    """One starting wording for a phase. Retired ones are kept (not deleted) so an
    administrator can bring one back.

    `updated_by` is the person's name as it was, not a key to users: the seeded rows have
    no author, and a reference would tie this settings table's life to the users table's.
    """

    __tablename__ = "update_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    phase: Mapped[str] = mapped_column(String(20))  # one of app.updates.phrasing.PHASES
    public_text: Mapped[str] = mapped_column(Text)
    internal_text: Mapped[str] = mapped_column(Text, default="")  # "" when there is none
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)  # lower first
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
