"""An uptime check of a catalogue service and the results of its runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.core import clock
from app.db import Base, UTCDateTime
from app.incidents.models import Service


class UptimeCheck(Base):
    """What to fetch and how often, plus the state the runs share: failures in a row,
    whether its alert is firing, when it is next due and the lease of the run in flight
    (a run holds `lease_token` until `lease_until`, so a check never runs twice at once)."""

    __tablename__ = "uptime_checks"
    __table_args__ = (Index("ix_uptime_checks_due", "enabled", "next_run_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"),
                                            index=True)
    url: Mapped[str] = mapped_column(String(2000))
    expected_status: Mapped[int] = mapped_column(default=200)
    timeout_seconds: Mapped[int] = mapped_column(default=10)
    interval_seconds: Mapped[int] = mapped_column(default=60)
    failures_before_open: Mapped[int] = mapped_column(default=3)
    enabled: Mapped[bool] = mapped_column(default=True)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    alert_firing: Mapped[bool] = mapped_column(default=False)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    service: Mapped[Service] = relationship()
    created_by: Mapped[User | None] = relationship()


class UptimeResult(Base):
    """One run: when, whether it passed, the status and time it took, or what went wrong."""

    __tablename__ = "uptime_results"
    __table_args__ = (Index("ix_uptime_results_check_at", "check_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("uptime_checks.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    ok: Mapped[bool] = mapped_column()
    status_code: Mapped[int | None] = mapped_column()
    response_ms: Mapped[int | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(String(300))
