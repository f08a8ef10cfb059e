"""Incidents, the services they touch, who holds which role, who took part, the
timeline and the status updates sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.core import clock
from app.db import Base, UTCDateTime
from app.incidents.rules import CLOSED, FINISHED, refuse_if_closed

incident_services = Table(
    "incident_services",
    Base.metadata,
    Column("incident_id", ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    Column("service_id", ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
)


class Service(Base):
    """A service in the catalogue: who owns it, where its runbook and disaster-recovery
    plan are; dependencies and suppliers live in app.catalogue."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    owner: Mapped[str] = mapped_column(String(200), default="", server_default="")
    runbook_url: Mapped[str | None] = mapped_column(String(1000))
    dr_url: Mapped[str | None] = mapped_column(String(1000))
    # A component on the public status page.
    public: Mapped[bool] = mapped_column(default=False, server_default="0")


class ReferenceCounter(Base):
    """The last number used in a series and year (INC-2026-0042 → INC, 2026, 42). Security
    incidents count in their own series (SEC), so their numbers leave no gap in INC."""

    __tablename__ = "reference_counters"

    series: Mapped[str] = mapped_column(String(3), primary_key=True, server_default="INC")
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(default=0)


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("is_security", "year", "number",
                         name="uq_incidents_series_year_number"),
        Index("ix_incidents_status_declared", "status", "declared_at"),
        # The list's order (newest first) without sorting every incident.
        Index("ix_incidents_declared_id", "declared_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    year: Mapped[int]
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20))
    is_security: Mapped[bool] = mapped_column(default=False)
    resolution: Mapped[str | None] = mapped_column(Text)
    # What the public status page calls it; set when an update is first published.
    public_title: Mapped[str | None] = mapped_column(String(200))
    declared_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    version: Mapped[int] = mapped_column(default=1)
    # The one-use key of the form or card it was declared from (service.declare).
    declare_key: Mapped[str | None] = mapped_column(
        String(64), unique=True)

    declared_by: Mapped[User | None] = relationship()
    services: Mapped[list[Service]] = relationship(
        secondary=incident_services, order_by=Service.name
    )
    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="incident",
        order_by="RoleAssignment.assigned_at",
        cascade="all, delete-orphan",
    )
    timeline: Mapped[list[TimelineEntry]] = relationship(
        back_populates="incident",
        order_by="TimelineEntry.occurred_at",
        cascade="all, delete-orphan",
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_open(self) -> bool:
        return self.status not in FINISHED

    @property
    def is_closed(self) -> bool:
        return self.status == CLOSED

    def refuse_if_closed(self, cannot: str) -> None:
        """Raise RuleError "A closed incident cannot <cannot>." (rules.refuse_if_closed)."""
        refuse_if_closed(self.status, cannot)

    def current_roles(self) -> dict[str, RoleAssignment]:
        return {a.role: a for a in self.roles if a.released_at is None}


class RoleAssignment(Base):
    """Who held which role and when; released_at is set when someone takes over."""

    __tablename__ = "role_assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    assigned_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    incident: Mapped[Incident] = relationship(back_populates="roles")
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    assigned_by: Mapped[User | None] = relationship(foreign_keys=[assigned_by_id])


class TimelineEntry(Base):
    """One thing that happened: declared, status/severity/description change, role, note."""

    __tablename__ = "timeline_entries"
    __table_args__ = (Index("ix_timeline_incident_occurred", "incident_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # Scribe-log entries (kind "note") are typed: event, discussion, decision, action,
    # result; they can be corrected (by whom and when kept here, for "corrected by X at
    # T"), and every correction keeps what it replaced (TimelineEdit).
    entry_type: Mapped[str | None] = mapped_column(String(20))
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    edited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))

    incident: Mapped[Incident] = relationship(back_populates="timeline")
    author: Mapped[User | None] = relationship(foreign_keys=[author_id])
    edited_by: Mapped[User | None] = relationship(foreign_keys=[edited_by_id])
    edits: Mapped[list[TimelineEdit]] = relationship(
        back_populates="entry", order_by="TimelineEdit.edited_at",
        cascade="all, delete-orphan")


class TimelineEdit(Base):
    """What a scribe-log entry said before an edit, and who changed it when."""

    __tablename__ = "timeline_edits"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("timeline_entries.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    entry_type: Mapped[str | None] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    edited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    edited_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    entry: Mapped[TimelineEntry] = relationship(back_populates="edits")
    edited_by: Mapped[User | None] = relationship()


class Participant(Base):
    """Someone brought into an incident: they can see it even when it is restricted, and
    they are added to its Teams team. Role holders are participants too."""

    __tablename__ = "participants"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    added_by: Mapped[User | None] = relationship(foreign_keys=[added_by_id])


class StatusUpdate(Base):
    __tablename__ = "status_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    phase: Mapped[str] = mapped_column(String(20))  # investigating|identified|monitoring|resolved
    message: Mapped[str] = mapped_column(Text)
    to_channel: Mapped[bool] = mapped_column(default=True)
    # Shown on the public status page (never for a security incident).
    public: Mapped[bool] = mapped_column(default=False, server_default="0")
    recipients: Mapped[list] = mapped_column(JSON, default=list)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    author: Mapped[User | None] = relationship()
