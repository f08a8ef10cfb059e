"""A security incident or data breach: the security contacts hear at once (playbooks 001
and 003), and those of them who use Incident Desk can open it although it is restricted.

The message says only that one was declared, how severe, and by whom: its details stay
in the restricted incident.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts.models import Contact
from app.core.org import OrgSettings
from app.incidents import delivery_keys
from app.incidents.events import Effects, Notice
from app.incidents.models import Incident
from app.people.service import add_participant


def security_contacts(session: Session, org: OrgSettings, effects: Effects) -> list[str]:
    """The security team (SECURITY_EMAILS) and contacts whose role is a security role."""
    roles = [r.lower() for r in org.security_contact_roles]
    listed = session.scalars(select(Contact.email).where(func.lower(Contact.role).in_(roles)))
    return sorted({*effects.installation.security_emails, *(e.lower() for e in listed if e)})


def tell_security_contacts(session: Session, org: OrgSettings, effects: Effects,
                           incident: Incident, actor) -> list[str]:
    """In the declaring transaction: tell the security contacts, and let those with an
    account see the incident. Returns who is told."""
    emails = security_contacts(session, org, effects)
    if not emails:
        return []
    for user in session.scalars(select(User).where(func.lower(User.email).in_(emails))):
        if user.id != actor.id:
            add_participant(session, effects, actor, incident, user, record=False)
    severity = org.severity(incident.severity)
    effects.publish(session, Notice(
        incident=incident, actor=actor, key=delivery_keys.security_contacts(incident.reference),
        to=emails, subject="Security incident or data breach declared",
        message=(f"{actor.name} declared a security incident or data breach, "
                 f"{severity.label if severity else incident.severity}. Its details are "
                 "restricted to the people handling it: sign in to Incident Desk to see it. "
                 "Do not forward this email."),
        link_text="Open the incident", url=effects.installation.incident_url(incident.reference),
        teams=False, label="Security contacts", show_title=False))
    return emails
