"""Who is an administrator or in the security team, worked out on every use.

Rights are never stored as granted: they are the app roles of the person's last sign-in
(Entra's IncidentDesk.Admin / IncidentDesk.Security, or the dev form's ticks) or today's
ADMIN_EMAILS / SECURITY_EMAILS, so someone taken off those lists loses the right on their
next request, not at their next sign-in. An account of no current tenant has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from flask import current_app, has_app_context

from app.config import Settings


class User(Protocol):
    """What rights are worked out from (app.auth.models.User, which imports this)."""

    entra_oid: str
    tenant_id: str | None
    sign_in_name: str | None
    admin_role: bool
    security_role: bool


@dataclass(frozen=True)
class Rights:
    admin: bool = False
    security: bool = False


NONE = Rights()


def of(user: User) -> Rights:
    """The rights under the running app's configuration (the stored roles alone outside an
    app, e.g. a script)."""
    settings = current_app.extensions.get("settings") if has_app_context() else None
    if settings is None:
        return Rights(bool(user.admin_role), bool(user.security_role))
    return under(user, settings)


def under(user: User, settings: Settings) -> Rights:
    if not of_this_tenant(user, settings):
        return NONE
    names = {n.strip().lower() for n in (user.sign_in_name, user.entra_oid) if n}
    return Rights(admin=bool(user.admin_role) or bool(names & settings.admin_emails),
                  security=bool(user.security_role) or bool(names & settings.security_emails))


def of_this_tenant(user: User, settings: Settings) -> bool:
    """With a tenant configured only its own accounts count: not dev sign-in's, not the
    built-in sandbox's, not another tenant's. Without one every account is a dev one."""
    if not settings.entra_configured:
        return True
    return (not user.entra_oid.startswith("dev-")
            and (user.tenant_id or "").lower() == settings.entra_tenant_id.lower())
