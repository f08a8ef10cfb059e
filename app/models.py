"""Imports every model so Alembic and tests see the whole schema."""

from app.auth.models import ApiToken, TokenCache, User
from app.incidents.models import Incident, RoleAssignment, Service, TimelineEntry

__all__ = ["ApiToken", "Incident", "RoleAssignment", "Service", "TimelineEntry", "TokenCache",
           "User"]
