"""Word (.docx) report builders: an incident snapshot in, document bytes out.

No Flask, database or Graph code belongs here, so the builders can be tested and
benchmarked on their own.
"""

from reports.major import build_major
from reports.monthly import IncidentLine, MonthlyFigures, build_monthly
from reports.public import NotPublishable, build_public
from reports.review import build_review
from reports.running import build_running
from reports.snapshot import (
    Action,
    Impact,
    IncidentSnapshot,
    QuestionAnswer,
    RoleSpell,
    SeverityChange,
    TimelineItem,
    UpdateSent,
)
from reports.word import TemplateError

__all__ = [
    "Action",
    "Impact",
    "IncidentLine",
    "IncidentSnapshot",
    "MonthlyFigures",
    "NotPublishable",
    "QuestionAnswer",
    "RoleSpell",
    "SeverityChange",
    "TemplateError",
    "TimelineItem",
    "UpdateSent",
    "build_major",
    "build_monthly",
    "build_public",
    "build_review",
    "build_running",
]
