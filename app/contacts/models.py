"""Contacts as last read from SharePoint, and a record of each sync."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core import clock
from app.db import Base, UTCDateTime


class Contact(Base):
    """One thing a person does, as the SharePoint contacts list says (the list is the
    source of truth): their role for a service, and the severities they must hear about.

    A person is all the contacts with one email address (stored lowercased): someone
    with two services has two of these, so every query by service or by role still finds
    them. `app.contacts.service` explains how list rows are merged into these.
    """

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(String(100))  # the first list row it came from
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), index=True)
    service: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(120), default="")
    severities: Mapped[list] = mapped_column(JSON, default=list)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class ContactSync(Base):
    __tablename__ = "contact_syncs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|done|failed
    items: Mapped[int] = mapped_column(default=0)  # rows read with a usable email
    people: Mapped[int] = mapped_column(default=0, server_default="0")  # distinct emails
    skipped: Mapped[int] = mapped_column(default=0)
    # The first SKIPPED_KEPT skipped rows as {"item_id", "name", "problem", "value"}, so
    # the page can say which rows to fix in SharePoint and why.
    skipped_rows: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    error: Mapped[str | None] = mapped_column(Text)
    # Started from the contacts page (at most one per MANUAL_GAP), not by the schedule.
    by_hand: Mapped[bool] = mapped_column(default=False, server_default="0")
    # ACTIVE while queued or running, else None: unique, so one sync at a time.
    slot: Mapped[str | None] = mapped_column(String(10), unique=True)
