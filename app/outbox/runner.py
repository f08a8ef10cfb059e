"""Delivering one outbox row exactly once, whatever Graph or the worker does.

1. Claim the row with a conditional UPDATE (pending and due, or sending with an expired
   lease), committed before any Graph call: two workers never send the same row. The
   claim is short and renewed while the delivery is in progress (lease.py), so a dead
   worker's delivery is due again within half a minute, and every later write is
   conditional on still holding it.
2. If an earlier attempt may have reached Graph (it timed out, lost its response, or
   its worker died holding the lease), the handler first looks for the earlier result
   (card attachment id, channel description, draft id, transactionId) instead of
   sending again.
3. Record the outcome and its effects (channel id, timeline entry) in one commit.
Retryable failures go back to pending with backoff that honours Retry-After; the rest
fail visibly, with a message a person can act on and a retry button. Before its Graph
call a delivery waits its turn within Graph's published limits (pacing.py): going back
to the outbox for that is not a failed attempt, so a burst never fails anything.
A handler can also say that its work must wait through no fault (`Later`: a file open in
Word), that it cannot be done at all (`GiveUp`) or that there is nothing left to do
(`NothingToDo`). A debounced delivery (service.request) asked for again while it was
being sent is sent once more, when the handler's debounce says.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.core import clock
from app.core.redact import redact
from app.outbox import lease, service
from app.outbox.lease import LEASE, LeaseLost
from app.outbox.models import CANCELLED, DELIVERED, FAILED, PENDING, SENDING, Delivery
from app.outbox.pacing import Admission, Pacer
from graph.port import Graph, GraphError, TokenUnavailable, Unconfirmed

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12  # about half an hour of backoff before a person is asked to look
MAX_BACKOFF = 300.0
WAIT_FOR_PREREQUISITE = 60.0  # a safety net: the prerequisite's success queues it sooner
PACED_SLOT = "paced_slot"  # a paced delivery's progress: the slot it booked (pacing.py)


@dataclass
class Attempt:
    delivery: Delivery
    ambiguous: bool  # an earlier attempt may have reached Graph: look before sending
    checkpoint: Callable[..., None]  # save progress before an irreversible step; raises
    # LeaseLost if another worker has taken the delivery meanwhile (so the step is not taken)
    pace: Callable[[], None] = lambda: None  # take its turn within Graph's limits, now


class _Wait(Exception):  # control flow: the delivery's turn is later
    def __init__(self, admission: Admission):
        self.admission = admission


class Later(Exception):
    """From a handler: the work cannot be done yet through nobody's fault (the file is
    open in Word). Due again after `delay`, without using up an attempt; `message` is
    shown meanwhile and `reason` kept in its progress (service.LATER)."""

    def __init__(self, message: str, delay: timedelta, reason: str):
        super().__init__(message)
        self.message, self.delay, self.reason = message, delay, reason


class GiveUp(Exception):
    """From a handler: the work cannot be done as it stands (a broken template); fail
    it with this message for a person to act on."""


class NothingToDo(Exception):
    """From a handler: what the delivery was for is gone (a report no longer kept)."""


class Handler(Protocol):
    """`service`: what a person calls where it goes, in messages ("SharePoint"); a
    debounced kind (service.request) also has `debounce` and `longest_wait`."""

    def send(self, graph: Graph, attempt: Attempt) -> dict: ...

    def apply(self, session: Session, delivery: Delivery, result: dict) -> None: ...


def deliver(session: Session, delivery_id: int, *, graph_for: Callable[[Delivery], Graph],
            handlers: Mapping[str, Handler], pacer: Pacer | None = None,
            next_here: list[int] | None = None) -> str:
    """Run one delivery; returns what happened (for logs and tests). With a `pacer`, a
    delivery waits its turn within Graph's limits (pacing.py) before calling Graph.

    `next_here`: the caller will deliver one of the dependents this releases itself,
    straight after (jobs.deliver): its id is appended instead of being queued. On a
    declaration's critical path (channel, then its kickoff card) that saves the hop
    through the queue; the other dependents are queued for other workers as usual."""
    claimed = _claim(session, delivery_id)
    if claimed is None:
        return "skipped"
    delivery, claimed_from, covered = claimed
    prerequisite = delivery.depends_on
    if prerequisite is not None and prerequisite.status != DELIVERED:
        # Read before the claim: delivered since, it released this row while still
        # pending, and waiting now would sleep through that wake-up. Look again now that
        # the claim holds the row (a release from here on waits for it, then applies).
        session.refresh(prerequisite)
    if prerequisite is not None and prerequisite.status != DELIVERED:
        return _wait_for(session, delivery, prerequisite)
    handler = handlers[delivery.kind]
    ambiguous = claimed_from == SENDING or bool(delivery.progress.get("ambiguous"))
    try:
        graph = graph_for(delivery)  # may read the person's token cache: still the claim's
        # End the claim before calling Graph: on SQLite every transaction holds the write
        # lock (BEGIN IMMEDIATE), and no page may wait while Graph answers. What sending
        # needs (payload, prerequisite, actor) is loaded and kept after the commit.
        session.commit()
    except (TokenUnavailable, Unconfirmed) as error:
        return _give_up(session, delivery, str(error))
    except Exception as error:
        _give_up(session, delivery, f"Unexpected error ({type(error).__name__}); "
                                    "the details are in the server log.")
        raise
    # Renewed from here on (once committed, so a renewal can see the claim), until done.
    with lease.Heartbeat.of_delivery(session.get_bind(), delivery.id,
                                    delivery.lease_token) as heartbeat:
        try:
            return _attempt(session, delivery, handler, graph, pacer, heartbeat, ambiguous,
                            next_here, covered)
        except LeaseLost as lost:
            session.rollback()
            log.warning("%s; this worker's attempt is dropped unrecorded", lost)
            return "lost"


def _attempt(session: Session, delivery: Delivery, handler: Handler, graph: Graph,
             pacer: Pacer | None, heartbeat: lease.Heartbeat, ambiguous: bool,
             next_here: list[int] | None, covered=None) -> str:
    """Send while `heartbeat` keeps the claim; record the outcome if it still holds.
    `covered`: the latest request this attempt was claimed after (service.request)."""
    token = delivery.lease_token

    def checkpoint(**progress) -> None:
        lease.hold(session, delivery.id, token)  # or LeaseLost: the step is not taken
        delivery.progress = {**delivery.progress, **progress}
        session.commit()

    need = pacer.need_of(delivery) if pacer is not None else None
    admitted: list[Admission] = []

    def pace() -> None:
        """Book the delivery's turn, once. A handler that saves progress first (a
        checkpoint is a commit, which can wait on a busy database) calls this just
        before its Graph call, so the call is not late for the slot it booked."""
        if not need or admitted:
            return
        graph.ready()  # a token fetched now cannot make the call late for its slot
        admission = pacer.admit(f"{delivery.id}:{delivery.attempts}", need,
                                delivery.progress.get(PACED_SLOT))
        if admission.wait:
            raise _Wait(admission)
        admitted.append(admission)
        heartbeat.also.append(admission.renew)  # an Outlook slot lasts as the claim

    try:
        try:
            if not getattr(handler, "paces_itself", False):
                pace()
            result = handler.send(graph, Attempt(delivery, ambiguous, checkpoint, pace))
        except _Wait as later:
            return _paced(session, delivery, later.admission)
        finally:
            for admission in admitted:
                admission.release()
    except LeaseLost:
        raise
    except Later as later:
        return _later(session, delivery, later)
    except NothingToDo:
        return _nothing_to_do(session, delivery)
    except GraphError as error:
        return _failed_attempt(session, delivery, error, getattr(handler, "service",
                                                                 "Microsoft 365"))
    except (TokenUnavailable, Unconfirmed, GiveUp) as error:
        return _give_up(session, delivery, str(error))
    except Exception as error:
        try:
            _give_up(session, delivery, f"Unexpected error ({type(error).__name__}); "
                                        "the details are in the server log.")
        except LeaseLost:
            session.rollback()
        raise

    lease.hold(session, delivery.id, token)
    now = clock.now()
    again = _asked_again(session, delivery, handler, covered)
    delivery.status = DELIVERED if again is None else PENDING
    delivery.result = result
    delivery.delivered_at = now
    delivery.updated_at = now
    delivery.lease_until = None
    delivery.lease_token = None
    delivery.last_error = None
    delivery.progress = _without(delivery.progress, "ambiguous", service.LATER)
    if again is None:
        delivery.pending_since = None
    else:  # done, but it changed meanwhile: once more, when it settles
        delivery.attempts = 0
        delivery.next_attempt_at = again
    handler.apply(session, delivery, result)
    dependents = service.release_dependents(session, delivery.id, commit=False)
    session.commit()  # delivered, its effects and its dependents due: one commit
    if again is not None:
        service.queue(delivery.id, delay=max(0.0, (again - now).total_seconds()))
    if next_here is not None and dependents:
        next_here.append(dependents.pop(0))  # (due in the database: the sweep's if we die)
    for dependent in dependents:  # ahead of new work: an incident under way finishes first
        service.queue(dependent, urgent=True)
    return "delivered"


def _asked_again(session: Session, delivery: Delivery, handler: Handler, covered):
    """When a debounced delivery asked for again while it was sent is due again (None:
    it was not). Read after `lease.hold`, which locks the row: a request committed
    before is seen, and one after waits and finds it delivered (service.request)."""
    debounce = getattr(handler, "debounce", None)
    if debounce is None or covered is None:
        return None
    requested_at = session.scalar(select(Delivery.requested_at)
                                  .where(Delivery.id == delivery.id))
    if requested_at is None or requested_at <= covered:
        return None
    return service.due_again(requested_at, delivery.pending_since, debounce,
                             handler.longest_wait)


def _without(progress: dict, *keys: str) -> dict:
    return {k: v for k, v in progress.items() if k not in keys}


def _claim(session: Session, delivery_id: int) -> tuple[Delivery, str, object] | None:
    """Take the row if it is ours to take, loading what sending needs with it: one
    transaction of two statements (each hop of a declaration pays for this). Returns the
    delivery (its `lease_token` this claim's), the status it was taken from and the
    latest request it covers (`requested_at`, read before the claim); the caller
    commits."""
    now = clock.now()
    token = lease.new_token()
    current = session.scalar(
        select(Delivery).where(Delivery.id == delivery_id)
        .options(joinedload(Delivery.depends_on), joinedload(Delivery.actor))
        .execution_options(populate_existing=True))
    if current is None:
        session.rollback()
        return None
    previous, covered = current.status, current.requested_at
    attempts = session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            or_(
                and_(Delivery.status == PENDING, Delivery.next_attempt_at <= now),
                and_(Delivery.status == SENDING, Delivery.lease_until < now),
            ),
        )
        .values(status=SENDING, lease_until=now + LEASE, lease_token=token,
                attempts=Delivery.attempts + 1, updated_at=now)
        .returning(Delivery.attempts)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if attempts is None:  # not due, or another worker holds it
        session.rollback()
        return None
    for name, value in (("status", SENDING), ("lease_until", now + LEASE),
                        ("lease_token", token), ("attempts", attempts), ("updated_at", now)):
        set_committed_value(current, name, value)
    return current, previous, covered


def _wait_for(session: Session, delivery: Delivery, prerequisite: Delivery) -> str:
    """Still in the claim's transaction: nobody can have taken it since."""
    if prerequisite.status == FAILED:
        return _give_up(session, delivery,
                        f"Waiting for an earlier step that failed: {prerequisite.last_error}")
    delivery.status = PENDING
    delivery.attempts -= 1  # waiting is not a failed attempt
    delivery.lease_until = None
    delivery.lease_token = None
    delivery.next_attempt_at = clock.now() + timedelta(seconds=WAIT_FOR_PREREQUISITE)
    session.commit()
    return "waiting"


def _paced(session: Session, delivery: Delivery, admission: Admission) -> str:
    """Graph's limits have no room for it yet: back to the outbox until just before its
    booked slot (kept in its progress), which is not a failed attempt."""
    lease.hold(session, delivery.id, delivery.lease_token)
    now = clock.now()
    delay = admission.wait
    delivery.status = PENDING
    delivery.attempts -= 1
    delivery.lease_until = None
    delivery.lease_token = None
    delivery.next_attempt_at = now + timedelta(seconds=delay)
    delivery.updated_at = now
    if admission.slot is not None:
        delivery.progress = {**delivery.progress, PACED_SLOT: admission.slot}
    session.commit()
    service.queue(delivery.id, delay=delay, urgent=True)
    return "paced"


def _later(session: Session, delivery: Delivery, later: Later) -> str:
    """Not yet, through nobody's fault: back to the outbox for `later.delay`, which is
    not a failed attempt."""
    lease.hold(session, delivery.id, delivery.lease_token)
    now = clock.now()
    delivery.status = PENDING
    delivery.attempts -= 1
    delivery.lease_until = None
    delivery.lease_token = None
    delivery.next_attempt_at = now + later.delay
    delivery.updated_at = now
    delivery.last_error = later.message
    delivery.progress = {**delivery.progress, service.LATER: later.reason}
    session.commit()
    service.queue(delivery.id, delay=later.delay.total_seconds())
    return later.reason


def _nothing_to_do(session: Session, delivery: Delivery) -> str:
    lease.hold(session, delivery.id, delivery.lease_token)
    delivery.status = CANCELLED
    delivery.lease_until = None
    delivery.lease_token = None
    delivery.updated_at = clock.now()
    session.commit()
    return "nothing to do"


def _failed_attempt(session: Session, delivery: Delivery, error: GraphError,
                    where: str = "Microsoft 365") -> str:
    lease.hold(session, delivery.id, delivery.lease_token)
    delivery.progress = _without(delivery.progress, service.LATER)
    if not error.retryable:
        return _give_up(session, delivery, describe(error, where))
    if delivery.attempts >= MAX_ATTEMPTS:
        return _give_up(session, delivery, f"Still failing after {delivery.attempts} "
                                           f"attempts: {describe(error, where)}")
    delay = backoff(delivery.attempts, error.retry_after)
    now = clock.now()
    delivery.status = PENDING
    delivery.lease_until = None
    delivery.lease_token = None
    delivery.next_attempt_at = now + timedelta(seconds=delay)
    delivery.updated_at = now
    delivery.last_error = describe(error, where)
    if error.status in (0, 504):  # no answer: the request may or may not have been applied
        delivery.progress = {**delivery.progress, "ambiguous": True}
    session.commit()
    service.queue(delivery.id, delay=delay)
    return "retrying"


def _give_up(session: Session, delivery: Delivery, message: str) -> str:
    lease.hold(session, delivery.id, delivery.lease_token)
    now = clock.now()
    delivery.status = FAILED
    delivery.lease_until = None
    delivery.lease_token = None
    delivery.last_error = message
    delivery.updated_at = now
    delivery.progress = _without(delivery.progress, service.LATER)
    service.cancel_dependents(session, delivery,
                              "Not sent because an earlier step failed; retry that step.")
    session.commit()
    log.warning("delivery %s (%s) failed: %s", delivery.id, delivery.key, redact(message))
    return "failed"


def backoff(attempts: int, retry_after: float | None) -> float:
    """Exponential with jitter, never sooner than Graph asked."""
    exponential = min(MAX_BACKOFF, 2.0 ** max(0, attempts - 1))
    jittered = exponential * random.uniform(0.5, 1.0)  # noqa: S311 - spreading retries, not security
    return max(retry_after or 0.0, jittered)


def describe(error: GraphError, service: str = "Microsoft 365") -> str:
    """A Graph failure in words a person can act on (shown on the incident page), without
    the secrets an error's text can quote (a webhook's sig=, a link's token)."""
    if error.status == 429:
        return f"{service} is throttling requests; trying again shortly."
    if error.status == 0:
        return f"{service} could not be reached ({redact(error.message)})."
    code = f" [{error.code}]" if error.code else ""
    said = f"{service} answered {error.status}{code}: {redact(error.message)}"
    if error.status in (401, 403):  # a permission, a membership or a grant is missing
        return f"{said} An administrator's Microsoft 365 set-up check names what is missing."
    return said
