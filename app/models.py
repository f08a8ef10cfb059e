"""Imports every model so Alembic and tests see the whole schema."""

from app.actions.models import FollowUpAction
from app.alerts.models import AlertRecord, AlertSource
from app.auth.models import ApiToken, TokenCache, User
from app.bot.models import BotInstallation
from app.catalogue.models import EscalationStep, Supplier
from app.contacts.models import Contact, ContactSync
from app.documents.models import ReportFile, ReportTemplate, Review
from app.incidents.models import (
    Incident,
    Participant,
    ReferenceCounter,
    RoleAssignment,
    Service,
    StatusUpdate,
    TimelineEdit,
    TimelineEntry,
)
from app.m365.models import ChannelMessageCopy, TeamsChannel
from app.outbox.models import Delivery
from app.people.models import RoleHandover
from app.reminders.models import ReminderSnooze, SentReminder
from app.review_meetings.models import ReviewMeeting
from app.updates.models import UpdateTemplate
from app.uptime.models import UptimeCheck, UptimeResult

__all__ = [
    "AlertRecord",
    "AlertSource",
    "ApiToken",
    "BotInstallation",
    "ChannelMessageCopy",
    "Contact",
    "ContactSync",
    "Delivery",
    "EscalationStep",
    "FollowUpAction",
    "Incident",
    "Participant",
    "ReferenceCounter",
    "ReminderSnooze",
    "ReportFile",
    "ReportTemplate",
    "Review",
    "ReviewMeeting",
    "RoleAssignment",
    "RoleHandover",
    "SentReminder",
    "Service",
    "StatusUpdate",
    "Supplier",
    "TeamsChannel",
    "TimelineEdit",
    "TimelineEntry",
    "TokenCache",
    "UpdateTemplate",
    "UptimeCheck",
    "UptimeResult",
    "User",
]
