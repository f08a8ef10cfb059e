"""Service dependencies, suppliers and the escalation chain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core import clock
from app.db import Base, UTCDateTime
from app.incidents.models import Service

# downstream depends on upstream: if upstream breaks, downstream may too.
service_dependencies = Table(
    "service_dependencies",
    Base.metadata,
    Column("downstream_id", ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
    Column("upstream_id", ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
)

service_suppliers = Table(
    "service_suppliers",
    Base.metadata,
    Column("service_id", ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
    Column("supplier_id", ForeignKey("suppliers.id", ondelete="CASCADE"), primary_key=True),
)


class Supplier(Base):
    """Someone outside the organisation a service depends on (AWS, Aiven, DataDog...)."""

    __tablename__ = "suppliers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    support_route: Mapped[str] = mapped_column(Text, default="")  # how to raise a ticket
    hours: Mapped[str] = mapped_column(String(200), default="")  # e.g. 24/7, or 09:00-17:30
    escalation: Mapped[str] = mapped_column(Text, default="")  # when and how to escalate
    url: Mapped[str | None] = mapped_column(String(1000))  # status or support page
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    services: Mapped[list[Service]] = relationship(secondary=service_suppliers,
                                                   order_by=Service.name)


class EscalationStep(Base):
    """One step of the escalation chain: who to call next, in order."""

    __tablename__ = "escalation_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(60), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    when: Mapped[str] = mapped_column(Text, default="")  # e.g. "after 30 minutes unresolved"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


def upstream_of(service: Service) -> list[Service]:
    return _neighbours(service, service_dependencies.c.downstream_id,
                       service_dependencies.c.upstream_id)


def downstream_of(service: Service) -> list[Service]:
    return _neighbours(service, service_dependencies.c.upstream_id,
                       service_dependencies.c.downstream_id)


def _neighbours(service: Service, mine, theirs) -> list[Service]:
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    session = object_session(service)
    return list(session.scalars(
        select(Service).join(service_dependencies, theirs == Service.id)
        .where(mine == service.id).order_by(Service.name)))
