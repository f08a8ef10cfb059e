"""The one place a list of recipients becomes outbox mail deliveries: who is addressed
To and who Bcc, how many share a message, and each message's delivery key.

The rule: one recipient is addressed To (there is nobody to hide them from, and it reads
as the personal message it is). Two or more are all Bcc, with the sender in To, so no
recipient learns who else was told: stakeholders and contacts outside the organisation
must not see each other's addresses, and a security notice must not say who knows. The
sender stands in To because Bcc-only mail is scored as spam; with no sender address
(no shared mailbox and nobody acting) the message goes Bcc-only rather than show the list.

A message takes at most 500 recipients across To, Cc and Bcc: Microsoft's "Exchange
Online limits" service description, Sending limits, "Recipient limit" (learn.microsoft.com/
office365/servicedescriptions/exchange-online-service-description/exchange-online-limits);
graph.port.MAX_MAIL_RECIPIENTS. The sender in To takes one of those places.

Keys: `{key}/mail/{n}`, numbered over the recipients de-duplicated and sorted, so the same
people planned again, in any order, get the same keys and the same batches: a retry
reuses its delivery and a re-plan collides with the one already stored instead of
sending twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.core.installation import Installation
from app.incidents import delivery_keys
from app.m365 import plans
from app.outbox import service as outbox
from app.outbox.models import Delivery
from graph.port import MAX_MAIL_RECIPIENTS


@dataclass(frozen=True)
class Batch:
    """One message: its delivery key and addressing, and where it falls in the plan."""

    key: str
    number: int
    of: int
    to: tuple[str, ...]
    bcc: tuple[str, ...]

    @property
    def size(self) -> int:
        """The people it is for (the sender in To is not one of them)."""
        return len(self.bcc) or len(self.to)

    @property
    def part(self) -> str:
        return f" ({self.number} of {self.of})" if self.of > 1 else ""


def batches(recipients: Iterable[str], *, sender: str | None, key: str) -> list[Batch]:
    """The messages that reach every recipient once, within the per-message limit."""
    people = distinct(recipients)
    if len(people) == 1:
        return [Batch(key=delivery_keys.mail_part(key, 1), number=1, of=1, to=(people[0],), bcc=())]
    to = (sender,) if sender else ()
    size = MAX_MAIL_RECIPIENTS - len(to)
    groups = [tuple(people[i:i + size]) for i in range(0, len(people), size)]
    return [Batch(key=delivery_keys.mail_part(key, number), number=number, of=len(groups),
                  to=to, bcc=group)
            for number, group in enumerate(groups, start=1)]


def distinct(recipients: Iterable[str]) -> list[str]:
    """Each address once (compared case-insensitively, first spelling kept), sorted: the
    order that makes the batches and their keys the same however the list was given."""
    seen: dict[str, str] = {}
    for raw in recipients:
        address = (raw or "").strip()
        if address:
            seen.setdefault(address.casefold(), address)
    return [seen[folded] for folded in sorted(seen)]


def sender_of(installation: Installation, actor) -> str | None:
    """Whom the mail is from: the shared mailbox, else the person acting."""
    return installation.mail_from or (actor.email if actor is not None else None)


def queue(session: Session, installation: Installation, incident, actor, *, key: str,
          recipients: Iterable[str], subject: str, html: str,
          label: Callable[[Batch], str]) -> list[Delivery]:
    """Store one mail delivery per batch in the caller's transaction; `html` is already
    escaped, `label` names each batch on the incident's deliveries."""
    planned = batches(recipients, sender=sender_of(installation, actor), key=key)
    return [outbox.add(session, key=batch.key, kind=plans.MAIL, incident=incident, actor=actor,
                       payload={"mailbox": installation.mail_from, "subject": subject, "html": html,
                                "to": list(batch.to), "bcc": list(batch.bcc),
                                "label": label(batch)})
            for batch in planned]
