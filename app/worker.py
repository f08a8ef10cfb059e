"""RQ worker classes that build the Flask app (and load msgraph) once per process.

`WarmWorker` (the README's, in `rq worker-pool -w app.worker.WarmWorker`): rq's
SimpleWorker, which runs each job in the worker process, building the app when it
starts instead of on its first job. A pool's workers would otherwise each pay for it
(create_app and the msgraph imports) inside the first declaration's deliveries.

`PreloadedWorker`: rq's default fork per job, with the app built once in the worker
before it forks; the work horse drops the parent's database connections.

Both look for a lost Redis at least every RECONNECT_EVERY seconds: rq's own backoff
grows to a minute, which would leave the work of an outage waiting that long after
Redis is back (app/cron.py queues the sweep within seconds of it). And one the pool
starts while Redis is away waits for it, instead of dying at once with a traceback
and being started again a second later, for as long as the outage lasts.
"""

from __future__ import annotations

import logging
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.worker import SimpleWorker, Worker

log = logging.getLogger(__name__)

RECONNECT_EVERY = 5.0  # seconds, at most, between tries to reach a lost Redis


def wait_for_redis(connection) -> None:
    """Until Redis answers: rq's worker needs it from its first line (CLIENT SETNAME)."""
    if connection is None:
        return
    wait, logged = 0.5, False
    while True:
        try:
            connection.ping()
            return
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if not logged:
                log.warning("worker waiting for Redis: %s", exc)
                logged = True
            time.sleep(wait)
            wait = min(wait * 2, RECONNECT_EVERY)


class WarmWorker(SimpleWorker):
    _warm = False
    max_connection_wait_time = RECONNECT_EVERY

    def __init__(self, *args, **kwargs):
        wait_for_redis(kwargs.get("connection"))
        super().__init__(*args, **kwargs)

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        if not self._warm:  # after rq has forked its scheduler, before the first job
            from app import jobs

            jobs.warm()
            self._warm = True
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)


class PreloadedWorker(Worker):
    max_connection_wait_time = RECONNECT_EVERY

    def __init__(self, *args, **kwargs):
        wait_for_redis(kwargs.get("connection"))
        super().__init__(*args, **kwargs)

    def work(self, *args, **kwargs):
        from app import jobs

        jobs.preload()
        return super().work(*args, **kwargs)
