"""Adding deliveries with the change that causes them, and queueing them once committed.

A delivery is queued only after its transaction commits (a rolled-back declare must not
post anything), and only when nothing it depends on is still outstanding. Anything that
could not be queued (Redis down, process restarted) is found again by `sweep`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from flask import current_app, has_app_context
from sqlalchemy import and_, event, inspect, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.base import NO_VALUE

from app.core import clock
from app.db import Session as ScopedSession
from app.outbox.models import DELIVERED, FAILED, PENDING, SENDING, Delivery

log = logging.getLogger(__name__)

DELIVER_JOB = "app.jobs.deliver"
_NEW = "outbox_new_ids"
_AWAITED = "outbox_awaited_ids"  # prerequisites of what was just made


def add(session: Session, *, key: str, kind: str, payload: dict, incident=None, actor=None,
        depends_on: Delivery | None = None) -> Delivery:
    """Store a delivery in the caller's transaction; it is queued when that commits."""
    delivery = Delivery(key=key, kind=kind, payload=payload, incident=incident, actor=actor,
                        depends_on=depends_on, status=PENDING, next_attempt_at=clock.now(),
                        created_at=clock.now(), updated_at=clock.now())
    session.add(delivery)
    return delivery


def for_incident(session: Session, incident_id: int) -> Sequence[Delivery]:
    return session.scalars(
        select(Delivery).where(Delivery.incident_id == incident_id).order_by(Delivery.id)
    ).all()


def retry(session: Session, delivery: Delivery) -> None:
    """A person asked to try a failed delivery again: a fresh set of attempts, for it
    and for whatever failed only because it was waiting on it."""
    if delivery.status != FAILED:
        return
    now = clock.now()
    dependents = session.scalars(
        select(Delivery).where(Delivery.depends_on_id == delivery.id, Delivery.status == FAILED)
    ).all()
    if delivery.progress.get("unconfirmed"):  # the person has checked: send it again
        delivery.progress = {k: v for k, v in delivery.progress.items()
                             if k not in ("ambiguous", "unconfirmed")}
    for row in (delivery, *dependents):
        row.status = PENDING
        row.attempts = 0
        row.next_attempt_at = now
        row.updated_at = now
        row.last_error = None
    session.commit()
    queue(delivery.id)


def queue(delivery_id: int, delay: float = 0.0, urgent: bool = False) -> bool:
    """`urgent`: on time and ahead of queued work (app/core/job_queue.py)."""
    if not has_app_context():
        return False
    return current_app.extensions["jobs"].enqueue(DELIVER_JOB, delivery_id, delay=delay,
                                                  urgent=urgent)


def sweep(session: Session) -> int:
    """Queue every delivery that is due and not held by a live worker; returns how many.

    This is what makes the outbox safe against Redis outages, restarts and dead workers:
    run at start-up and every 15 s (app/cron.py; in-process, a timer every minute), so a
    dead worker's claim (lease.LEASE, 30 s) is handed out again within a minute.
    """
    now = clock.now()
    due = session.scalars(
        select(Delivery.id).where(
            or_(
                and_(Delivery.status == PENDING, Delivery.next_attempt_at <= now),
                and_(Delivery.status == SENDING, Delivery.lease_until < now),
            )
        ).order_by(Delivery.id)
    ).all()
    session.rollback()
    queued = sum(1 for delivery_id in due if queue(delivery_id))
    return queued


def release_dependents(session: Session, delivery_id: int, *, commit: bool = True
                       ) -> list[int]:
    """A prerequisite was delivered: what waited for it is due now. Returns their ids, to
    queue once committed (by this call, or by the caller's commit with `commit` False)."""
    ids = list(session.scalars(
        update(Delivery)
        .where(Delivery.depends_on_id == delivery_id, Delivery.status == PENDING)
        .values(next_attempt_at=clock.now())
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)))
    if commit:
        session.commit()
    return ids


def cancel_dependents(session: Session, delivery: Delivery, reason: str) -> None:
    """A failed prerequisite fails what waits for it, with a reason a person can act on."""
    session.execute(
        update(Delivery)
        .where(Delivery.depends_on_id == delivery.id, Delivery.status == PENDING)
        .values(status=FAILED, last_error=reason, updated_at=clock.now())
    )


# ---- queue after commit -----------------------------------------------------------------


@event.listens_for(ScopedSession, "after_flush")
def _remember_new(session, _flush_context):
    made = [obj for obj in session.new if isinstance(obj, Delivery)]
    if made:
        session.info.setdefault(_NEW, []).extend((obj.id, _waiting(obj)) for obj in made)
        session.info.setdefault(_AWAITED, set()).update(
            obj.depends_on_id for obj in made if obj.depends_on_id is not None)


@event.listens_for(ScopedSession, "after_commit")
def _queue_committed(session):
    """In the order that finishes soonest: what others wait for first (a declaration's
    channel, ahead of its meeting and report: its kickoff card waits on it), then in
    the order they were made."""
    new = session.info.pop(_NEW, [])
    awaited = session.info.pop(_AWAITED, set())
    for delivery_id, waiting in sorted(new, key=lambda pair: (pair[0] not in awaited,
                                                              pair[0])):
        if not waiting:
            queue(delivery_id)


def _waiting(delivery: Delivery) -> bool:
    """Whether a new delivery's prerequisite is still outstanding, decided at flush while
    the objects are at hand (the identity map holds them only weakly, and no SQL may run
    after a commit). Its prerequisite's worker queues it on success; the sweep covers
    anything this misses. Queueing it anyway only wastes a job that finds it waiting."""
    prerequisite = inspect(delivery).attrs.depends_on.loaded_value
    if prerequisite is NO_VALUE or prerequisite is None:
        return False  # not at hand (or none): queue it; a job that finds it waiting waits
    return prerequisite.status != DELIVERED


@event.listens_for(ScopedSession, "after_rollback")
def _forget(session):
    session.info.pop(_NEW, None)
    session.info.pop(_AWAITED, None)
