"""What happened to an incident, said by the service that made it happen.

A service publishes these to the `Effects` it is given, inside its own transaction;
app/m365/effects.py is the one place that turns each into work (Teams posts, emails,
meetings, report writes) in the outbox, so the work is stored exactly when the change
is. The services here and in the features know nothing of that work: they say what
happened, or whom to tell what.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from app.core.installation import Installation

if TYPE_CHECKING:  # the models import nothing from here; only annotations need them
    from app.auth.models import User
    from app.incidents.models import Incident, StatusUpdate


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happened to an incident, and who did it (None: the system)."""

    incident: Incident
    actor: User | None = None


@dataclass(frozen=True, kw_only=True)
class Declared(Event):
    """A new incident: its channel, kickoff card, meeting and announcements follow."""


@dataclass(frozen=True, kw_only=True)
class StatusChanged(Event):
    previous: str
    status: str


@dataclass(frozen=True, kw_only=True)
class Changed(Event):
    """Any other change on the timeline (a note, new details, a role, an import)."""


@dataclass(frozen=True, kw_only=True)
class ParticipantAdded(Event):
    """Someone brought in: they join the incident's Teams team (and private channel)."""

    user: User


@dataclass(frozen=True, kw_only=True)
class ParticipantRemoved(Event):
    """Someone there only for a role offer they declined: Teams work to add them goes."""

    user: User


@dataclass(frozen=True, kw_only=True)
class ReviewBooked(Event):
    """The review meeting is planned: its Outlook invitation follows."""

    subject: str
    starts_at: Any
    ends_at: Any
    attendees: Sequence[dict]


@dataclass(frozen=True, kw_only=True)
class UpdatePosted(Event):
    """A status update written: its card to the channel (if `update.to_channel`) and its
    emails to `update.recipients` follow. `entry_id` is its whole text on the timeline,
    where a card that cuts it short links to."""

    update: StatusUpdate
    entry_id: int


# What a notice to one person is about, for their Teams activity feed (app/m365/
# activity_feed.py turns each into the Teams app's activity type of the same meaning).
HANDOVER_OFFERED, ROLE_ASSIGNED = "handover_offered", "role_assigned"
ACTION_OVERDUE, UPDATE_DUE = "action_overdue", "update_due"


@dataclass(frozen=True, kw_only=True)
class Feed:
    """A notice's one person may hear of it in their Teams activity feed instead of by
    email (where they have the Teams app; else the email goes as ever). `about` is one of
    the names above; `values` are its words (who asked, which role: "asker", "role",
    "assigner"), plain text; `preview` a line of detail without the incident's title."""

    about: str
    to_user_id: int
    values: tuple[tuple[str, str], ...] = ()
    preview: str = ""


@dataclass(frozen=True, kw_only=True)
class Notice(Event):
    """Tell these people this (by email, and by a card in the channel if `teams`), with a
    link (`link_text`, `url`) to where they act on it."""

    key: str
    to: Sequence[str]
    subject: str
    message: str
    link_text: str
    url: str
    teams: bool = True
    label: str = "Notice"
    show_title: bool = True
    # What the channel's card says, where the email's "you" would be wrong for everyone
    # else reading the channel (a hand-over offered to one person). None: `message`.
    channel_message: str | None = None
    feed: Feed | None = None  # its one person's Teams activity feed, where they have it


@dataclass(frozen=True, kw_only=True)
class NoticeList(Event):
    """One email and one card listing several things (reminders due together): each item
    has a title, text, link_text and url; `url` opens the incident."""

    key: str
    to: Sequence[str]
    subject: str
    heading: str
    items: Sequence[Any]
    url: str
    label: str = "Notice"
    for_name: str | None = None
    show_title: bool = True
    feed: Feed | None = None  # its one person's Teams activity feed, where they have it


class Effects(Protocol):
    """Where services publish what happened. `installation` says where things go (time zone,
    addresses, Teams and SharePoint places) for services that need to word or date what
    they publish."""

    installation: Installation

    def publish(self, session: Session, event: Event) -> None: ...
