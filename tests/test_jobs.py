"""Jobs run off the request: in-process threads by default, RQ on Redis when configured,
and the outbox survives Redis being unreachable."""

from __future__ import annotations

import os
import threading

import pytest
from flask import current_app
from sqlalchemy import select

from app import create_app
from app.core.job_queue import InProcessJobs, RQJobs
from app.outbox.models import Delivery
from tests.conftest import CI, drain, finish_jobs, use_graph

RAN: list[tuple] = []
_lock = threading.Lock()


def record(*args):
    """A job: notes that it ran, and in which app."""
    with _lock:
        RAN.append((current_app.extensions["settings"].app_base_url, *args))


@pytest.fixture
def real_redis_url():
    """Redis for the RQ tests: REDIS_URL, else the local default. Under CI it must exist."""
    from redis import Redis

    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as exc:
        if CI:
            pytest.fail(f"Redis at {url} is required under CI=true: {exc}")
        pytest.skip(f"no Redis at {url} (set REDIS_URL to run these)")
    return url


def test_in_process_jobs_run_in_the_app_and_can_be_delayed(app):
    RAN.clear()
    jobs = InProcessJobs(app, workers=2)
    jobs.enqueue("tests.test_jobs.record", 1)
    jobs.enqueue("tests.test_jobs.record", 2, delay=0.05)
    jobs.wait()
    jobs.wait(include_delayed=True)
    jobs.shutdown()
    assert sorted(RAN) == [("http://incident-desk.test", 1), ("http://incident-desk.test", 2)]


def test_rq_jobs_run_in_a_worker(app, real_redis_url):
    from rq import SimpleWorker

    RAN.clear()
    jobs = RQJobs(real_redis_url, queue_name="incident-desk-test")
    jobs.queue.empty()
    assert jobs.ping()
    assert jobs.enqueue("tests.test_jobs.record", "via-rq")
    with app.app_context():
        SimpleWorker([jobs.queue], connection=jobs.connection).work(burst=True)
    assert RAN == [("http://incident-desk.test", "via-rq")]
    jobs.shutdown()


def test_with_redis_down_declaring_works_and_delivery_resumes_later(
        migrated, fake_graph, frozen_clock):
    from tests.conftest import Browser, make_settings

    down = create_app(make_settings(migrated, redis_url="redis://127.0.0.1:1/0"),
                      TESTING=True, SERVER_NAME="incident-desk.test")
    use_graph(down, fake_graph)
    assert not down.extensions["jobs"].ping()
    browser = Browser(down.test_client())
    browser.sign_in()
    reference = browser.declare(title="Queue outage")
    page = browser.get(f"/incidents/{reference}")
    assert page.status_code == 200 and "Queued" in page.get_data(as_text=True)
    finish_jobs(down)

    # Redis is back (here: the suite's own job runner); the sweep picks the work up.
    up = create_app(make_settings(migrated, redis_url=os.environ.get("REDIS_URL")),
                    TESTING=True, SERVER_NAME="incident-desk.test")
    use_graph(up, fake_graph)
    from app.jobs import sweep_outbox

    for _ in range(3):
        with up.app_context():
            sweep_outbox()
        drain(up)
        frozen_clock.advance(seconds=10)
    from app.db import Session

    Session.remove()
    assert {d.status for d in Session.scalars(select(Delivery))} == {"delivered"}
    assert fake_graph.find_channel("incident-team", "inc-0001-2026-11-22-queue-outage")
    finish_jobs(up)
