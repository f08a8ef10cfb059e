"""Report files in SharePoint, the organisation's template, and the review's findings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.core import clock
from app.db import Base, UTCDateTime
from app.incidents.models import Incident


class ReportFile(Base):
    """One report of one incident, as a file Incident Desk keeps up to date: where it
    goes and what the library has now, for the reports panel.

    Writing it is an outbox delivery (documents.service: key delivery_keys.report),
    which says whether it is waiting, being written or failed, and holds the debounce.
    """

    __tablename__ = "report_files"
    __table_args__ = (
        UniqueConstraint("incident_id", "kind", name="uq_report_files_incident_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    file_name: Mapped[str] = mapped_column(String(250))
    folder: Mapped[str] = mapped_column(String(400))
    drive_id: Mapped[str | None] = mapped_column(String(200))
    item_id: Mapped[str | None] = mapped_column(String(200))
    web_url: Mapped[str | None] = mapped_column(String(1000))
    size: Mapped[int | None] = mapped_column()
    written_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    incident: Mapped[Incident] = relationship()


class ReportTemplate(Base):
    """The organisation's .docx template: uploaded in the app, or the last copy read from
    SharePoint (so a download in the app looks like the file in SharePoint)."""

    __tablename__ = "report_templates"

    source: Mapped[str] = mapped_column(String(20), primary_key=True)  # uploaded | sharepoint
    file_name: Mapped[str] = mapped_column(String(250))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int]
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    uploaded_by: Mapped[User | None] = relationship()


class Review(Base):
    """What the post-incident review found, in the words the reports will use.

    Lists (contributing factors, lessons...) are kept one item per line, as people type
    them; `answers` maps each key question to its answer.
    """

    __tablename__ = "reviews"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    public_summary: Mapped[str] = mapped_column(Text, default="")
    impact_summary: Mapped[str] = mapped_column(Text, default="")
    users_affected: Mapped[int | None] = mapped_column()
    contributing_factors: Mapped[str] = mapped_column(Text, default="")
    what_went_well: Mapped[str] = mapped_column(Text, default="")
    lessons_learnt: Mapped[str] = mapped_column(Text, default="")
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
    name_people_in_draft: Mapped[bool] = mapped_column(default=False)
    finalised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    updated_by: Mapped[User | None] = relationship()

    @staticmethod
    def lines(text: str) -> tuple[str, ...]:
        """One item per non-empty line, leading bullets and dashes dropped."""
        items = (line.strip().lstrip("-•*").strip() for line in (text or "").splitlines())
        return tuple(item for item in items if item)
