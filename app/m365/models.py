"""Where an incident lives in Teams (kept apart from Incident so that a worker recording
a channel never bumps the incident's version under someone's open edit form)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core import clock
from app.db import Base, UTCDateTime


class TeamsChannel(Base):
    __tablename__ = "teams_channels"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[str] = mapped_column(String(200))
    channel_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(100))
    web_url: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class ChannelMessageCopy(Base):
    """A message read from the incident's Teams channel, so people can choose which ones
    belong on the timeline (playbooks 002 and 003: reconstruct the incident afterwards)."""

    __tablename__ = "channel_messages"
    __table_args__ = (UniqueConstraint("incident_id", "message_id",
                                       name="uq_channel_messages_incident_message"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"),
                                             index=True)
    message_id: Mapped[str] = mapped_column(String(100))
    # A reply's post (its message id), so the reply is shown under it; None for a post.
    reply_to_id: Mapped[str | None] = mapped_column(String(100))
    sender: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    web_url: Mapped[str] = mapped_column(String(1000), default="")
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    timeline_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("timeline_entries.id", ondelete="SET NULL"))
