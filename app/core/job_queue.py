"""Running slow work off the request: RQ on Redis in production, threads out of the box.

Jobs are named by dotted path ("app.jobs.deliver") and take plain ids, so the same call
works on a thread here and in an `rq worker` process elsewhere. Enqueueing never raises
into a page: if Redis is down the work stays in the outbox and the sweep picks it up.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

log = logging.getLogger(__name__)

QUEUE_NAME = "incident-desk"
JOB_TIMEOUT = 300  # seconds; a Graph call that hangs longer is abandoned and retried


def resolve(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


class InProcessJobs:
    """A small thread pool inside the web process, for laptops and the test suite.

    Work is lost if the process stops, which is acceptable only because every delivery
    is in the outbox first and the sweep (run at start and every minute) resumes it.
    """

    kind = "in-process"

    def __init__(self, app, workers: int = 4):
        self._app = app
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        # Urgent work has threads of its own, so it never waits behind queued work.
        self._urgent = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="urgent")
        self._lock = threading.Lock()
        self._pending: set[Future] = set()
        self._timers: set[threading.Timer] = set()
        self._stops: list[threading.Event] = []
        self._closed = False

    def enqueue(self, path: str, *args, delay: float = 0.0, urgent: bool = False) -> bool:
        """`urgent`: on time to the moment and ahead of queued work (a paced delivery's
        slot, or work that was waiting for what just finished)."""
        if self._closed:
            return False
        if delay > 0:
            timer = threading.Timer(delay, self._on_time if urgent else self._submit,
                                    (path, args))
            timer.daemon = True
            with self._lock:
                self._timers.add(timer)
            timer.start()
        else:
            self._submit(path, args, urgent)
        return True

    def _submit(self, path: str, args: tuple, urgent: bool = False) -> None:
        with self._lock:
            if self._closed:  # a retry timer firing after shutdown: the sweep has it
                return
            self._timers = {t for t in self._timers if t.is_alive()}
            pool = self._urgent if urgent else self._pool
            future = pool.submit(self._run, path, args)
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _on_time(self, path: str, args: tuple) -> None:
        """Timed urgent work runs in its timer's own thread: nothing queued can delay it."""
        if self._closed:
            return
        with contextlib.suppress(Exception):  # _run logged it; this thread has no caller
            self._run(path, args)

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)

    def _run(self, path: str, args: tuple) -> None:
        with self._app.app_context():
            try:
                resolve(path)(*args)
            except Exception:
                # The job's own bookkeeping (the outbox row) already says what failed;
                # this is the trace for whoever reads the logs.
                log.exception("job %s%r failed", path, args)
                raise

    def every(self, seconds: float, path: str, first_in: float = 0.0) -> None:
        """Run a job periodically for as long as the process lives (the outbox sweep)."""
        stop = threading.Event()
        self._stops.append(stop)

        def loop() -> None:
            if stop.wait(first_in):
                return
            while True:
                self._submit(path, ())
                if stop.wait(seconds):
                    return

        threading.Thread(target=loop, name=f"every-{path}", daemon=True).start()

    def wait(self, timeout: float = 10.0, include_delayed: bool = False) -> None:
        """Block until queued work is done (tests and the CLI use this)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                busy = bool(self._pending) or (
                    include_delayed and any(t.is_alive() for t in self._timers)
                )
            if not busy:
                return
            time.sleep(0.01)
        raise TimeoutError(f"jobs still running after {timeout:.1f} s")

    def recheck(self) -> bool:
        return True

    def shutdown(self) -> None:
        for stop in self._stops:
            stop.set()
        with self._lock:
            self._closed = True
            for timer in self._timers:
                timer.cancel()
            timers = list(self._timers)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._urgent.shutdown(wait=True, cancel_futures=True)
        for timer in timers:  # one running its job (_on_time) finishes it first
            timer.join(JOB_TIMEOUT)


class RQJobs:
    """RQ on Redis: the README's `rq worker-pool … incident-desk` runs what is queued here."""

    kind = "rq"
    # After Redis fails, leave new work to the sweep for this long: a Redis that accepts
    # connections but never answers would otherwise cost every page a timeout per job.
    COOL_OFF = 30.0

    def __init__(self, redis_url: str, queue_name: str = QUEUE_NAME):
        from redis import Redis
        from rq import Queue

        self.connection = Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=2)
        self.queue = Queue(queue_name, connection=self.connection,
                           default_timeout=JOB_TIMEOUT)
        self._down_until = 0.0
        self._pid = os.getpid()
        self._timers: set[threading.Timer] = set()
        self._timers_lock = threading.Lock()

    def enqueue(self, path: str, *args, delay: float = 0.0, urgent: bool = False) -> bool:
        """`urgent`: on time to the moment and ahead of queued work (a paced delivery's
        slot, or work that was waiting for what just finished): at the queue's front,
        and, as RQ's scheduler works in whole seconds once a second, a delay is held by
        a timer in this process instead. Not in a work horse forked from this process,
        whose timers would die with it. What a timer held when its process stopped, the
        sweep queues."""
        import time

        from redis.exceptions import RedisError

        if delay > 0 and urgent and os.getpid() == self._pid:
            timer = threading.Timer(delay, self._due, (path, args))
            timer.daemon = True
            with self._timers_lock:
                self._timers = {t for t in self._timers if t.is_alive()} | {timer}
            timer.start()
            return True
        if time.monotonic() < self._down_until:
            return False  # Redis failed moments ago: the sweep queues this later
        try:
            if delay > 0:
                # The scheduler keeps whole seconds, rounded down: a second more, so that a
                # job is never early for its row (which would do nothing until the sweep).
                self.queue.enqueue_in(timedelta(seconds=delay + 1), path, *args)
            else:
                self.queue.enqueue(path, *args, at_front=urgent)
        except RedisError as exc:
            self._down_until = time.monotonic() + self.COOL_OFF
            log.warning("could not queue %s%r, the sweep will retry it: %s", path, args, exc)
            return False
        return True

    def _due(self, path: str, args: tuple) -> None:
        self.enqueue(path, *args, urgent=True)

    def recheck(self) -> bool:
        """End the cool-off if Redis answers now (the sweep calls this before queueing)."""
        if self.ping():
            self._down_until = 0.0
            return True
        return False

    def every(self, seconds: float, path: str, first_in: float = 0.0) -> None:
        """Periodic work belongs to the scheduler (`python -m app.cron`), not to each web
        process."""

    def ping(self) -> bool:
        from redis.exceptions import RedisError

        try:
            return bool(self.connection.ping())
        except RedisError:
            return False

    def shutdown(self) -> None:
        with self._timers_lock:
            for timer in self._timers:
                timer.cancel()
        self.connection.close()


def make_jobs(app, redis_url: str | None):
    return RQJobs(redis_url) if redis_url else InProcessJobs(app)
