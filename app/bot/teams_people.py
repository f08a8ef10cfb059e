"""Who someone is in Teams: their Teams user id (a `29:` MRI), which Teams puts in
`from.id` of everything they send the bot, beside their Entra object id. Kept on the
Incident Desk user it matches (by object id and tenant), so a card the bot posts can
name the incident's people in `refresh.userIds`: Teams then refreshes it for each of
them on its own, with the actions that person may take."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.auth.models import User

MAX_ID = 200


MAX_KNOWN = 20_000  # people whose stored Teams id this process remembers


def remember(session: Session, activity) -> None:
    """Note the sender's Teams id on their user, if it is new: one small UPDATE the
    first time this process sees them, nothing after (every press comes through here)."""
    sender = activity.from_property
    mri = getattr(sender, "id", None) if sender else None
    oid = getattr(sender, "aad_object_id", None) if sender else None
    tenant = activity.conversation.tenant_id if activity.conversation else None
    if not (isinstance(mri, str) and mri.startswith("29:") and len(mri) <= MAX_ID
            and oid and tenant):
        return
    known = current_app.extensions.setdefault("teams_ids_stored", {})  # (oid, tenant) -> id
    if known.get((oid, tenant)) == mri:
        return
    stored = session.execute(select(User.id, User.teams_user_id).where(
        User.entra_oid == oid, User.tenant_id == tenant)).first()
    if stored is None:  # not someone Incident Desk knows (yet): ask again next time
        session.rollback()
        return
    if stored.teams_user_id != mri:
        session.execute(update(User).where(User.id == stored.id).values(teams_user_id=mri)
                        .execution_options(synchronize_session=False))
        session.commit()
    else:
        session.rollback()
    if len(known) >= MAX_KNOWN:
        known.clear()
    known[(oid, tenant)] = mri
