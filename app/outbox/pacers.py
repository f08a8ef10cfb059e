"""Which limiter deliveries book on: RQ workers share one in Redis, in-process jobs use
their own process's. Apart from pacing.py, which the Redis limiter builds on."""

from __future__ import annotations

from collections.abc import Callable

from app.outbox.pacing import LocalLimiter, Need, Pacer
from app.outbox.redis_limiter import RedisLimiter


def make_pacer(jobs, need_of: Callable[..., Need | None]) -> Pacer:
    """On RQ, one Redis limiter every worker shares; a worker that waits for a slot is a
    worker less, so a paced delivery is queued LEAD before it. In process, this
    process's own limiter, and nearly a second's lead: a paced delivery waits in a timer
    thread of its own (app/core/job_queue.py), never in a worker thread, and SQLite's write
    lock can hold its claim that long."""
    if getattr(jobs, "kind", None) == "rq":
        return Pacer(RedisLimiter(jobs.connection), need_of)
    return Pacer(LocalLimiter(), need_of, lead=0.9, fresh_wait=0.05)
