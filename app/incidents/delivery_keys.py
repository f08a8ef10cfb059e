"""Every delivery's key, built here only. A key names one piece of Microsoft 365 work
for an incident (`INC-2026-0042/kickoff`); it is unique in the outbox, so planning the
same work twice stores it once, and a retry or a re-plan can never send it twice. The
strings are stored: changing one would let work already planned be planned again."""

from __future__ import annotations

from datetime import date


def channel(reference: str) -> str:
    return f"{reference}/channel"


def kickoff(reference: str) -> str:
    return f"{reference}/kickoff"


def meeting(reference: str) -> str:
    return f"{reference}/meeting"


def broadcast(reference: str) -> str:
    return f"{reference}/broadcast"


def team_member(reference: str, user_id: int) -> str:
    return f"{reference}/member/{user_id}"


def channel_member(reference: str, user_id: int) -> str:
    return f"{reference}/channel-member/{user_id}"


def channel_member_removal(reference: str, user_id: int, added_id: int) -> str:
    """Taking back the private-channel membership delivery `added_id` gave."""
    return f"{channel_member(reference, user_id)}/removal/{added_id}"


def channel_member_taken_back(reference: str, user_id: int, added_id: int) -> str:
    """Where an add that was taken back is kept, so that bringing the person in again
    plans a new add under `channel_member`."""
    return f"{channel_member(reference, user_id)}/taken-back/{added_id}"


def archive_channel(reference: str, closing: object) -> str:
    """One per closing (an incident reopened and closed again is archived again)."""
    return f"{reference}/channel/archive/{closing}"


def unarchive_channel(reference: str, archive_id: int) -> str:
    return f"{reference}/channel/unarchive/{archive_id}"


def channel_read(reference: str, token: str) -> str:
    """A Teams import's read: each import reads afresh."""
    return f"{reference}/read/{token}"


def reminders(reference: str, first_row_id: int) -> str:
    return f"{reference}/reminders/{first_row_id}"


def action_chase(reference: str, action_id: int, day: date) -> str:
    return f"{reference}/action/{action_id}/chase/{day.isoformat()}"


def review_meeting(reference: str) -> str:
    return f"{reference}/review-meeting"


def review_invite(reference: str, role: str, person_id: int) -> str:
    return f"{reference}/review-meeting/{role.split()[0]}/{person_id}"


def update(reference: str, update_id: int) -> str:
    return f"{reference}/update/{update_id}"


def handover(reference: str, handover_id: int) -> str:
    return f"{reference}/handover/{handover_id}"


def handover_declined(reference: str, handover_id: int) -> str:
    return f"{handover(reference, handover_id)}/declined"


def role_assigned(reference: str, assignment_id: int) -> str:
    """Telling someone a role was given to them by someone else."""
    return f"{reference}/role/{assignment_id}"


def activity_feed(key: str, user_id: int) -> str:
    """A notice in its one person's Teams activity feed, beside its (fallback) email."""
    return f"{key}/feed/{user_id}"


def security_contacts(reference: str) -> str:
    return f"{reference}/security-contacts"


def teams_part(key: str) -> str:
    """A notice's or update's Teams post, beside its email batches (`mail_part`)."""
    return f"{key}/teams"


def mail_part(key: str, number: int) -> str:
    return f"{key}/mail/{number}"


def report(reference: str, kind: str) -> str:
    """A report file in SharePoint: one delivery per report, asked for again and again."""
    return f"{reference}/report/{kind}"
