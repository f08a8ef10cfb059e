"""Where alerts come from (each with its own secret) and which incident each alerting
condition opened, so a repeat is an update, not a second incident."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.core import clock
from app.db import Base, UTCDateTime
from app.incidents.models import Incident


class AlertSource(Base):
    """One sender (a Grafana, an Alertmanager, an Azure action group...). Only a SHA-256
    of its secret is kept; the secret is shown once, when the source is made."""

    __tablename__ = "alert_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # a key of app.alerts.parse.SOURCES
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str | None] = mapped_column(String(40))  # fixed; None: from the alert
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How many incidents it may open in an hour; None: the installation's setting.
    incidents_per_hour: Mapped[int | None] = mapped_column()
    # Where its alerts beyond that limit are grouped (while it stays open).
    grouping_incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"))

    created_by: Mapped[User | None] = relationship()
    grouping_incident: Mapped[Incident | None] = relationship()


class AlertRecord(Base):
    """An alerting condition (by fingerprint) and the incident it belongs to."""

    __tablename__ = "alert_records"
    __table_args__ = (UniqueConstraint("source_id", "fingerprint",
                                       name="uq_alert_records_source_fingerprint"),
                      Index("ix_alert_records_source_opened", "source_id", "opened_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("alert_sources.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(200))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"),
                                             index=True)
    status: Mapped[str] = mapped_column(String(20))  # firing | resolved
    title: Mapped[str] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(Text)
    times_fired: Mapped[int] = mapped_column(default=1)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # When it opened its incident; None when it joined one (a grouping incident). What
    # a source's hourly limit counts.
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    source: Mapped[AlertSource] = relationship()
    incident: Mapped[Incident] = relationship()
