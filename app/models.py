"""Imports every model so Alembic and tests see the whole schema."""

from app.auth.models import ApiToken, TokenCache, User
from app.incidents.models import (
    Incident,
    ReferenceCounter,
    RoleAssignment,
    Service,
    TimelineEntry,
)

__all__ = ["ApiToken", "Incident", "ReferenceCounter", "RoleAssignment", "Service",
           "TimelineEntry", "TokenCache", "User"]
