"""Short claims, kept alive while their delivery is in progress.

A claim lasts LEASE (30 s), so that the work of a worker that died (SIGKILL, a lost
machine) is due again moments later and the next sweep (every 15 s, app/cron.py) queues
it: out within a minute. A live worker renews its claim every RENEW_EVERY seconds from a
thread of its own, on a database connection of its own, so a Graph call that takes long
never loses it. Each claim carries a token: every renewal and every write of the
delivery's progress or outcome is conditional on it (`hold`), so a worker that lost its
claim anyway (a frozen process, a database away for longer than a lease) takes no further
irreversible step and records no second outcome; the claim's new holder looks before it
sends (runner.Attempt.ambiguous).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.core import clock
from app.outbox.models import SENDING, Delivery

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)
RENEW_EVERY = 10.0  # seconds: two renewals may fail (a busy database) before it lapses
# Renewed for this long at most: every Graph call has a deadline, so a delivery still
# going after this is stuck (a wedged process), and its work must go to another worker.
# The RQ job timeout (app/core/job_queue.py, 300 s) ends a stuck job at about the same time.
MAX_HOLD = 330.0  # seconds


class LeaseLost(Exception):
    """Another worker took the claim: this worker must stop working on the delivery."""


def new_token() -> str:
    return secrets.token_hex(8)


def hold(session: Session, delivery_id: int, token: str) -> None:
    """Inside the transaction about to write the delivery: raise LeaseLost unless this
    claim is still the delivery's. The conditional UPDATE also locks the row (takes the
    write lock on SQLite) until the commit, so nobody can take it in between. Runs
    without autoflush, before the caller's changes to the row reach the database."""
    with session.no_autoflush:
        held = session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.lease_token == token,
                   Delivery.status == SENDING)
            .values(lease_token=token)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
    if held is None:
        raise LeaseLost(f"delivery {delivery_id}: another worker holds it now")


def renew(engine: Engine, delivery_id: int, token: str) -> bool:
    """Extend the claim by LEASE from now; False if it is no longer this one."""
    with engine.begin() as connection:
        renewed = connection.execute(
            update(Delivery.__table__)
            .where(Delivery.__table__.c.id == delivery_id,
                   Delivery.__table__.c.lease_token == token,
                   Delivery.__table__.c.status == SENDING)
            .values(lease_until=clock.now() + LEASE)
        ).rowcount
    return renewed == 1


class Heartbeat:
    """Renews one claim until stopped (or lost, or held MAX_HOLD). `renew` extends it and
    says whether it was still held; `what` names it in logs. `also`: other leases held
    for the same work (the pacing's Outlook slot), renewed with it."""

    def __init__(self, renew: Callable[[], bool], what: str):
        self.renew, self.what = renew, what
        self.every = RENEW_EVERY
        self.also: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"lease-{what}")

    @classmethod
    def of_delivery(cls, engine: Engine, delivery_id: int, token: str) -> Heartbeat:
        return cls(lambda: renew(engine, delivery_id, token), f"delivery {delivery_id}")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(self.every + 5)

    def _run(self) -> None:
        until = time.monotonic() + MAX_HOLD
        while not self._stop.wait(self.every):
            if time.monotonic() > until:
                log.warning("%s: still in progress after %.0f s; letting its claim lapse so "
                            "another worker takes it", self.what, MAX_HOLD)
                return
            try:
                if not self.renew():
                    if not self._stop.is_set():  # else it was just recorded: done, not lost
                        log.warning("%s: claim lost while in progress", self.what)
                    return
            except Exception:  # the database is away: try again, the lease has margin
                log.warning("%s: could not renew the claim", self.what, exc_info=True)
                continue
            for extend in self.also:
                try:
                    extend()
                except Exception:  # a pacing lease only spares a 429; the claim matters
                    log.warning("%s: could not renew a pacing lease", self.what,
                                exc_info=True)
