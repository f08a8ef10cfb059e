"""The scheduler: `python -m app.cron --url "$REDIS_URL"` (the README's, exactly one).

It queues the outbox sweep every 15 s (the sweep re-queues work left by a restart, a dead
worker or a Redis outage; the database is the source of truth), the reminders and channel
archiving every minute and the SharePoint contacts sync every 15 minutes. It also runs
the uptime checks itself, on a thread of its own every 15 s (UptimeChecks): a check waits
up to 30 s for a target that hangs, which must not hold a delivery worker during the
outage it is checking (docs/uptime-checks.md).

It is rq's `CronScheduler` except that it never exits on a lost Redis: `rq cron` dies at
its first tick while Redis is down (ConnectionError in `register_death`), and then nothing
sweeps. This one logs the outage once, retries with capped backoff, and on reconnecting
queues at once everything that fell due meanwhile. It needs no database itself: the jobs it
queues run in the workers, and a database outage only fails those runs until it is back.
`rq cron app/cron.py` still reads the same schedules.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import threading
import time

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import cron
from rq.cron import CronScheduler
from rq.exceptions import SchedulerNotFound, StopRequested

from app.core.job_queue import QUEUE_NAME
from app.jobs import archive_channels, send_reminders, sweep_outbox, sync_contacts

log = logging.getLogger("app.cron")

SWEEP_EVERY = 15  # seconds; agreed with the claim leases (app/outbox/lease.py)
SCHEDULES = (
    dict(func=sweep_outbox, interval=SWEEP_EVERY, name="sweep-outbox"),
    dict(func=send_reminders, interval=60, name="send-reminders"),
    dict(func=sync_contacts, interval=15 * 60, name="sync-contacts"),
    dict(func=archive_channels, interval=60, name="archive-channels"),
)
FIRST_RETRY = 0.5  # seconds after Redis first fails...
MAX_RETRY = 5.0  # ...doubling up to this, so a returning Redis is seen within 5 s
LOST = (RedisConnectionError, RedisTimeoutError)

for schedule in SCHEDULES:  # for `rq cron app/cron.py`, which reads rq's global registry
    cron.register(queue_name=QUEUE_NAME, **schedule)


class SteadyCron(CronScheduler):
    """rq's cron scheduler that waits out Redis outages instead of exiting."""

    def __init__(self, connection: Redis, sleep=time.sleep, **kwargs):
        super().__init__(connection, **kwargs)
        self._sleep = sleep
        self._down_since: float | None = None
        self._retry = FIRST_RETRY
        for schedule in SCHEDULES:
            self.register(queue_name=QUEUE_NAME, **schedule)

    def start(self) -> None:
        self.log.info("CronScheduler %s: starting...", self.name)
        self._install_signal_handlers()
        try:
            self._until_registered()
            while True:
                self._sleep(self.tick())
        except (KeyboardInterrupt, StopRequested):
            self.log.info("CronScheduler %s: stop requested", self.name)
        finally:
            # Redis away: its registry entry expires. Redis back empty and stopped before
            # the next heartbeat registered it again: there is nothing to unregister.
            with contextlib.suppress(RedisError, SchedulerNotFound):
                self.register_death()
            self.log.info("CronScheduler %s: shutdown complete", self.name)

    def _until_registered(self) -> None:
        while True:
            try:
                self.register_birth()
                self._back()
                return
            except LOST as exc:
                self._sleep(self._lost(exc))

    def tick(self) -> float:
        """Queue what is due and heartbeat; returns how long to sleep. A lost Redis is
        logged once per outage and retried sooner and sooner than the next tick would be;
        a job that could not be queued stays due, so it goes out on reconnecting."""
        try:
            if self.enqueue_jobs():
                self.save()
            self.heartbeat()  # also re-registers if Redis came back empty
        except LOST as exc:
            return self._lost(exc)
        self._back()
        return self.calculate_sleep_interval()

    def _lost(self, exc: Exception) -> float:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("Redis is unreachable (%s): scheduled work waits in the database; "
                        "retrying every %.0f s at most", exc, MAX_RETRY)
        wait, self._retry = self._retry, min(self._retry * 2, MAX_RETRY)
        return wait

    def _back(self) -> None:
        if self._down_since is not None:
            log.warning("Redis is back after %.0f s: queueing what fell due meanwhile",
                        time.monotonic() - self._down_since)
        self._down_since, self._retry = None, FIRST_RETRY


UPTIME_EVERY = 15  # seconds between the scheduler's sweeps of due uptime checks


class UptimeChecks(threading.Thread):
    """The uptime checks, run in the scheduler's process (there is exactly one): every
    UPTIME_EVERY seconds the due checks, side by side (app.jobs.sweep_uptime_checks).
    Needs the database, not Redis; a sweep that fails is logged and the next one tries."""

    def __init__(self, every: float = UPTIME_EVERY):
        super().__init__(name="uptime-checks", daemon=True)
        self.every = every
        self.stopped = threading.Event()

    def run(self) -> None:
        from app.jobs import sweep_uptime_checks

        failing = False
        while not self.stopped.wait(self.every):
            try:
                sweep_uptime_checks()
            except Exception as exc:  # the database away, say: the next sweep tries again
                if not failing:  # once per outage, as for Redis
                    log.warning("uptime checks could not run (%s: %s); trying every %.0f s",
                                type(exc).__name__, str(exc).splitlines()[0][:200],
                                self.every)
                failing = True
            else:
                if failing:
                    log.warning("uptime checks run again")
                failing = False


def connect(url: str) -> Redis:
    """Timeouts on every call, so a Redis that hangs is an outage, not a hang."""
    return Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10,
                          health_check_interval=30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m app.cron",
        description="Queue Incident Desk's scheduled work (run exactly one).")
    parser.add_argument("--url", default=os.environ.get("REDIS_URL"),
                        help="Redis URL (default: $REDIS_URL)")
    parser.add_argument("--logging-level", default="INFO")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("no Redis to queue on: give --url or set REDIS_URL")
    logging.basicConfig(level=args.logging_level.upper(),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    UptimeChecks().start()
    SteadyCron(connect(args.url), logging_level=args.logging_level.upper()).start()


if __name__ == "__main__":
    main()
