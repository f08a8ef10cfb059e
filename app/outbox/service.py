"""Adding deliveries with the change that causes them, and queueing them once committed.

A delivery is queued only after its transaction commits (a rolled-back declare must not
post anything), and only when nothing it depends on is still outstanding. Anything that
could not be queued (Redis down, process restarted) is found again by `sweep`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from flask import current_app, has_app_context
from sqlalchemy import and_, event, inspect, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.base import NO_VALUE

from app.core import clock
from app.core.redact import redact
from app.db import Session as ScopedSession
from app.db import insert_for
from app.outbox.models import CANCELLED, DELIVERED, FAILED, PENDING, SENDING, Delivery

log = logging.getLogger(__name__)

DELIVER_JOB = "app.jobs.deliver"
_NEW = "outbox_new_ids"
_AWAITED = "outbox_awaited_ids"  # prerequisites of what was just made
_DUE = "outbox_due"  # requested (new or again): delivery id -> when it is due
LATER = "later"  # progress: why a pending delivery waits (runner.Later), e.g. "locked"


def add(session: Session, *, key: str, kind: str, payload: dict, incident=None, actor=None,
        depends_on: Delivery | None = None) -> Delivery:
    """Store a delivery in the caller's transaction; it is queued when that commits."""
    delivery = Delivery(key=key, kind=kind, payload=payload, incident=incident, actor=actor,
                        depends_on=depends_on, status=PENDING, next_attempt_at=clock.now(),
                        created_at=clock.now(), updated_at=clock.now())
    session.add(delivery)
    return delivery


def request(session: Session, *, key: str, kind: str, payload: dict, incident,
            debounce: timedelta, longest: timedelta, settle: bool = True) -> int:
    """Ask for work that is asked for again and again (a report file after every change)
    and done once per burst: the delivery `key` is made if new (due now), and otherwise
    its due time is the debounce. Delivered, failed or cancelled, it is due again in
    `debounce`, with fresh attempts; pending (and `settle`: there is an earlier result
    to keep until things settle), it is put off to `debounce` from now, never past
    `longest` after it first became pending; being sent, the request is remembered, and
    the runner sends it once more afterwards (runner: `requested_at`). Queued once the
    caller commits, at its due time. Returns the delivery's id."""
    now = clock.now()

    def existing() -> Delivery | None:
        return session.scalars(
            select(Delivery).where(Delivery.key == key).with_for_update()
            .execution_options(populate_existing=True)).one_or_none()

    delivery = existing()  # asked for before: the usual case, one statement
    if delivery is None:
        made = session.execute(
            insert_for(session)(Delivery).values(
                key=key, kind=kind, payload=payload, status=PENDING,
                incident_id=incident.id if incident is not None else None,
                attempts=0, next_attempt_at=now, requested_at=now, pending_since=now,
                progress={}, result={}, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=[Delivery.key])
            .returning(Delivery.id)).scalar_one_or_none()
        if made is not None:
            _due(session, made, now)
            return made
        delivery = existing()  # made meanwhile by another transaction
    _requested_again(delivery, now, debounce, longest, settle)
    session.flush()
    if delivery.status == PENDING:
        _due(session, delivery.id, delivery.next_attempt_at)
    return delivery.id


def _requested_again(delivery: Delivery, now: datetime, debounce: timedelta,
                     longest: timedelta, settle: bool) -> None:
    delivery.requested_at = now
    delivery.updated_at = now
    if delivery.status in (DELIVERED, FAILED, CANCELLED):
        delivery.status = PENDING
        delivery.attempts = 0
        delivery.pending_since = now
        delivery.next_attempt_at = now + debounce
    elif delivery.status == PENDING and settle:
        since = delivery.pending_since or now
        delivery.next_attempt_at = max(delivery.next_attempt_at,
                                       min(now + debounce, since + longest))


def due_again(requested_at: datetime, pending_since: datetime | None, debounce: timedelta,
              longest: timedelta) -> datetime:
    """When a debounced delivery asked for again at `requested_at` is due."""
    return min(requested_at + debounce, (pending_since or requested_at) + longest)


def withdraw(session: Session, key: str) -> bool:
    """Work still waiting (pending or failed) is no longer wanted: a delivery never
    delivered goes; one delivered before stands as it was (its error forgotten). One
    being sent is left to finish. Returns whether the delivery is gone (or never was)."""
    delivery = session.scalars(select(Delivery).where(Delivery.key == key)).one_or_none()
    if delivery is None:
        return True
    if delivery.status not in (PENDING, FAILED):
        return False
    if delivery.delivered_at is None:
        session.delete(delivery)
        return True
    delivery.status = DELIVERED
    delivery.attempts = 0
    delivery.last_error = None
    delivery.pending_since = None
    delivery.progress = {k: v for k, v in delivery.progress.items() if k != LATER}
    delivery.updated_at = clock.now()
    return False


def by_keys(session: Session, keys: Sequence[str]) -> dict[str, Delivery]:
    if not keys:
        return {}
    return {d.key: d for d in session.scalars(select(Delivery).where(Delivery.key.in_(keys)))}


def for_incident(session: Session, incident_id: int) -> Sequence[Delivery]:
    """The incident's deliveries, as its Microsoft 365 panel lists them. Work asked for
    again and again (`request`: the report files) is shown by what asks for it (the
    reports panel), not here."""
    return session.scalars(
        select(Delivery).where(Delivery.incident_id == incident_id,
                               Delivery.requested_at.is_(None)).order_by(Delivery.id)
    ).all()


def retry(session: Session, delivery: Delivery, *, even_if_done: bool = False) -> None:
    """A person asked to try a failed delivery again: a fresh set of attempts, for it
    and for whatever failed only because it was waiting on it. `even_if_done`: work that
    is safe to do again (a report file, replaced) is done again now, delivered or still
    waiting; never while it is being sent."""
    allowed = (FAILED, DELIVERED, PENDING, CANCELLED) if even_if_done else (FAILED,)
    if delivery.status not in allowed:
        return
    now = clock.now()
    if even_if_done:
        delivery.requested_at = delivery.pending_since = now
        delivery.progress = {k: v for k, v in delivery.progress.items() if k != LATER}
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
        .values(status=FAILED, last_error=redact(reason), updated_at=clock.now())
    )


@event.listens_for(Delivery.last_error, "set", retval=True)
def _last_error_without_secrets(_delivery, value, _old, _initiator):
    """Whatever sets a delivery's error (runner, lifecycle, reports) stores it redacted:
    the incident page shows it, and an exception's text can quote a secret URL."""
    return redact(value)


# ---- queue after commit -----------------------------------------------------------------


def queue_after_commit(sessions=ScopedSession) -> None:
    """Hand what a transaction added to the outbox to the job queue once it commits (the
    outbox's relay: it decides nothing, it only queues what the transaction stored).
    Called when the app is created (app/__init__.py: web and worker alike), not on import."""
    for name, listener in (("after_flush", _remember_new), ("after_commit", _queue_committed),
                           ("after_rollback", _forget)):
        if not event.contains(sessions, name, listener):
            event.listen(sessions, name, listener)


def _remember_new(session, _flush_context):
    made = [obj for obj in session.new if isinstance(obj, Delivery)]
    if made:
        session.info.setdefault(_NEW, []).extend((obj.id, _waiting(obj)) for obj in made)
        session.info.setdefault(_AWAITED, set()).update(
            obj.depends_on_id for obj in made if obj.depends_on_id is not None)


def _due(session: Session, delivery_id: int, due: datetime) -> None:
    """Queue this requested delivery once the caller commits, at its due time."""
    session.info.setdefault(_DUE, {})[delivery_id] = due


def _queue_committed(session):
    """In the order that finishes soonest: what others wait for first (a declaration's
    channel, ahead of its meeting and report: its kickoff card waits on it), then in
    the order they were made; then what was requested (`request`), each at its time."""
    new = session.info.pop(_NEW, [])
    awaited = session.info.pop(_AWAITED, set())
    for delivery_id, waiting in sorted(new, key=lambda pair: (pair[0] not in awaited,
                                                              pair[0])):
        if not waiting:
            queue(delivery_id)
    now = clock.now()
    for delivery_id, due in sorted(session.info.pop(_DUE, {}).items()):
        queue(delivery_id, delay=max(0.0, (due - now).total_seconds()))


def _waiting(delivery: Delivery) -> bool:
    """Whether a new delivery's prerequisite is still outstanding, decided at flush while
    the objects are at hand (the identity map holds them only weakly, and no SQL may run
    after a commit). Its prerequisite's worker queues it on success; the sweep covers
    anything this misses. Queueing it anyway only wastes a job that finds it waiting."""
    prerequisite = inspect(delivery).attrs.depends_on.loaded_value
    if prerequisite is NO_VALUE or prerequisite is None:
        return False  # not at hand (or none): queue it; a job that finds it waiting waits
    return prerequisite.status != DELIVERED


def _forget(session):
    session.info.pop(_NEW, None)
    session.info.pop(_AWAITED, None)
    session.info.pop(_DUE, None)
