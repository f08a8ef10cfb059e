"""The README's scheduler line (`python -m app.cron`), against a private Redis: it outlives
a Redis outage instead of exiting as `rq cron` does, logs the outage once, backs off to at
most a few seconds between tries, and on reconnecting queues at once what fell due."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq.exceptions import StopRequested

from app.core.job_queue import QUEUE_NAME
from app.cron import FIRST_RETRY, MAX_RETRY, SWEEP_EVERY, SteadyCron, connect
from tests.test_readme_worker import README, ROOT, start, stop
from tests.test_resilience import private_redis, wait_until  # noqa: F401 - a fixture

SCHEDULED = {"app.jobs.sweep_outbox", "app.jobs.send_reminders", "app.jobs.sync_contacts",
             "app.jobs.archive_channels"}


def readme_scheduler_command() -> str:
    """The scheduler line of the README's "Run it:" block (the one marked exactly one)."""
    block = README.read_text().split("\nRun it:", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    [line] = [line for line in block.splitlines() if "exactly one" in line]
    return " ".join(line.split(" #", 1)[0].split())


def queued(url: str) -> list[str]:
    with Redis.from_url(url) as redis:
        return [job.func_name for job in Queue(QUEUE_NAME, connection=redis).get_jobs()]


@pytest.mark.slow
def test_the_readme_scheduler_waits_out_redis_and_queues_what_fell_due(
        private_redis, tmp_path):  # noqa: F811
    command = readme_scheduler_command()
    assert command == 'python -m app.cron --url "$REDIS_URL"'
    private_redis.kill()  # down before the scheduler even starts
    env = {**os.environ, "REDIS_URL": private_redis.url, "PYTHONPATH": str(ROOT),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    log = tmp_path / "cron.log"
    scheduler = start(command, env, log)
    try:
        time.sleep(MAX_RETRY + 2)  # several failed tries
        assert scheduler.poll() is None, log.read_text()[-3000:]
        private_redis.start()
        back = time.monotonic()
        wait_until(lambda: set(queued(private_redis.url)) >= SCHEDULED,
                   "the scheduled jobs queued", timeout=MAX_RETRY + 5)
        assert time.monotonic() - back < MAX_RETRY + 2
        private_redis.kill()  # and a second outage, across its next tick
        time.sleep(SWEEP_EVERY + 2)
        private_redis.start()
        wait_until(lambda: "app.jobs.sweep_outbox" in queued(private_redis.url),
                   "the sweep queued after the second outage",
                   timeout=MAX_RETRY + 5)
        assert scheduler.poll() is None, log.read_text()[-3000:]
    finally:
        os.kill(scheduler.pid, signal.SIGTERM)
        try:
            assert scheduler.wait(10) == 0, log.read_text()[-3000:]
        finally:
            stop(scheduler)
    text = log.read_text()
    assert text.count("Redis is unreachable") == 2, text[-3000:]  # once per outage
    assert text.count("Redis is back") == 2, text[-3000:]
    assert "Traceback" not in text, text[-3000:]


def test_a_tick_without_redis_backs_off_and_logs_once_then_catches_up(
        private_redis, caplog):  # noqa: F811
    scheduler = SteadyCron(connect(private_redis.url))
    private_redis.kill()
    with caplog.at_level(logging.WARNING, logger="app.cron"):
        waits = [scheduler.tick() for _ in range(6)]
        private_redis.start()
        after = scheduler.tick()
    assert waits == [FIRST_RETRY, 2 * FIRST_RETRY, 4 * FIRST_RETRY, 8 * FIRST_RETRY,
                     MAX_RETRY, MAX_RETRY]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("Redis is unreachable")
    assert messages[1].startswith("Redis is back")
    assert sorted(queued(private_redis.url)) == sorted(SCHEDULED)  # all due at once
    assert 0 < after <= SWEEP_EVERY
    assert scheduler.tick() > 0 and len(queued(private_redis.url)) == len(SCHEDULED)
    private_redis.kill()
    assert scheduler.tick() == FIRST_RETRY  # a new outage starts the backoff afresh


def test_stopping_just_after_redis_came_back_empty_ends_cleanly(private_redis):  # noqa: F811
    """Stopped between Redis coming back empty and the next heartbeat registering the
    scheduler again: there is nothing to unregister, and it still exits 0."""
    def sleep_then_stop(_seconds):
        with Redis.from_url(private_redis.url) as redis:
            redis.flushall()  # came back without its data
        raise StopRequested

    scheduler = SteadyCron(connect(private_redis.url), sleep=sleep_then_stop)
    scheduler.start()  # returns: no SchedulerNotFound from register_death
