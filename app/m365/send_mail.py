"""Stakeholder email as an outbox handler: sent exactly once, and no copy left in Drafts.

A draft is saved, its id checkpointed, then the draft is sent; sending a draft that was
sent already answers 404, so a retry never mails anyone twice. What each interleaving
leaves, and what the next attempt does with it:

- the create's answer is lost (or the worker dies during it): the draft exists but its id
  was never checkpointed. The attempt is ambiguous, so the next one finds the draft by the
  delivery key it carries (graph.port.DELIVERY_PROPERTY) before creating one, and sends
  that. Any further copies (from before this look-up existed) are deleted.
- the create is answered, the worker dies before sending: the id is checkpointed; it is
  sent.
- the send's answer is lost, or the worker dies after it: the draft is gone from Drafts;
  sending it again answers 404, which means "sent".

When the delivery gives up for good (a refusal, or its last attempt failing), the draft
it made can never be sent by us, yet anyone with the mailbox open could send it: it is
deleted on the way out, here, between the runner's commits (no Graph call inside a DB
transaction). A person's retry then starts from a new draft. A mail delivery cancelled
because an earlier step failed never ran, so it made no draft.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from app.outbox.lease import LeaseLost
from app.outbox.models import Delivery
from app.outbox.runner import MAX_ATTEMPTS, Attempt
from graph.port import Graph, GraphError, Mail, NotFound, Sender, TokenUnavailable

log = logging.getLogger(__name__)


class SendMail:
    """Stakeholder email, as a draft then a send (see the module docstring)."""

    def send(self, graph: Graph, attempt: Attempt) -> dict:
        p = attempt.delivery.payload
        sender = Sender(p.get("mailbox"))
        mail = Mail(subject=p["subject"], html_body=p["html"], to=p.get("to", []),
                    cc=p.get("cc", []), bcc=p.get("bcc", []),
                    delivery_key=attempt.delivery.key)
        try:
            return self._send(graph, attempt, sender, mail)
        except LeaseLost:
            raise  # another worker has the delivery now, and may be sending that draft
        except GraphError as error:
            if not error.retryable or attempt.delivery.attempts >= MAX_ATTEMPTS:
                discard_drafts(graph, attempt, sender)
            raise
        except Exception:
            discard_drafts(graph, attempt, sender)  # the runner gives up on it
            raise

    @staticmethod
    def _send(graph: Graph, attempt: Attempt, sender: Sender, mail: Mail) -> dict:
        draft_id = attempt.delivery.progress.get("draft_id")
        if draft_id is None and attempt.ambiguous:
            draft_id = earlier_draft(graph, attempt, sender)
        made_now = draft_id is None
        if made_now:
            draft_id = graph.create_draft(sender, mail)
            attempt.checkpoint(draft_id=draft_id)
        try:
            graph.send_draft(sender, draft_id)
        except NotFound:
            if made_now:
                raise
            return {"recipients": mail.recipient_count, "found_earlier": True}
        return {"recipients": mail.recipient_count}

    def apply(self, session: Session, delivery: Delivery, result: dict) -> None:
        """Recorded on the timeline when the update was written."""


def earlier_draft(graph: Graph, attempt: Attempt, sender: Sender) -> str | None:
    """The draft an earlier attempt saved without learning its id, checkpointed; any
    other copies are deleted. None if there is none (the create never arrived)."""
    found = graph.find_drafts(sender, attempt.delivery.key)
    if not found:
        return None
    keep, *extra = found
    attempt.checkpoint(draft_id=keep)
    for draft_id in extra:
        _delete(graph, sender, draft_id)
    return keep


def discard_drafts(graph: Graph, attempt: Attempt, sender: Sender) -> None:
    """Delete every unsent draft this delivery made, as it gives up. Best effort: the
    failure that made it give up is what the person needs to see, so a failure here is
    logged, and the checkpointed id is kept for a retry to send."""
    # Still ours? (LeaseLost if another worker took over: its draft is not ours to
    # delete; the runner then drops this attempt unrecorded.)
    attempt.checkpoint()
    progress = attempt.delivery.progress
    try:
        known = progress.get("draft_id")
        if known is not None and _delete(graph, sender, known):
            attempt.checkpoint(draft_id=None)  # deleted unsent: a retry makes a new one
        # A create whose answer was lost (now or earlier) may have saved another.
        for draft_id in graph.find_drafts(sender, attempt.delivery.key):
            _delete(graph, sender, draft_id)
    except (GraphError, TokenUnavailable) as error:
        log.warning("delivery %s: could not delete its unsent draft: %s",
                    attempt.delivery.key, error)


def _delete(graph: Graph, sender: Sender, draft_id: str) -> bool:
    """True if the draft was there (unsent) and is now deleted; False if it was gone:
    sent, or deleted already."""
    try:
        graph.delete_draft(sender, draft_id)
    except NotFound:
        return False
    return True
