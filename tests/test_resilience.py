"""The outbox against real failures, with real processes: a worker killed mid-job loses
and duplicates nothing, and Redis stopped and restarted loses nothing."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.documents.service import WRITE_KIND
from app.incidents import service
from app.incidents.models import Incident
from app.jobs import sweep_outbox
from app.m365.handlers import HANDLERS, attachment_id
from app.outbox import runner
from app.outbox.models import Delivery
from graph.client import GraphClient
from graph.sandbox import SandboxApp, SandboxServer, SandboxState
from graph.tokens import sandbox_token
from tests.conftest import CI, drain, make_settings, sandbox_tenant, use_graph

ADA = "ada@example.com"

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 20.0  # seconds to wait for anything a real process has to do


def wait_until(condition, what: str, timeout: float = DEADLINE, process=None):
    """Poll `condition` until it returns something truthy; fail with `what` if it never
    does (or if `process` dies first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            _out, err = process.communicate()
            pytest.fail(f"{what}: the process exited {process.returncode}\n{err[-3000:]}")
        time.sleep(0.05)
    pytest.fail(f"{what}: not within {timeout:.0f} s")


# ---- a worker killed between the Graph call and the bookkeeping -----------------------


class AnswerLate(SandboxApp):
    """The sandbox, except that while `holding` is set a channel post is applied and then
    its answer is held back: the worker is between the Graph call and the commit."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.holding = threading.Event()
        self.release = threading.Event()

    def _respond(self, request, *args):
        response = super()._respond(request, *args)
        if (self.holding.is_set() and request.method == "POST"
                and request.path.endswith("/messages")):
            self.release.wait(DEADLINE)
        return response


@pytest.fixture
def slow_sandbox(monkeypatch, frozen_clock):
    monkeypatch.setattr("graph.sandbox.server.SandboxApp", AnswerLate)
    server = SandboxServer(state=SandboxState(clock=frozen_clock)).start()
    sandbox_tenant(server.state, "ada@example.com")
    yield server
    server.app.release.set()
    server.stop()


WORKER = "import sys\nfrom app.jobs import deliver\nprint(deliver(int(sys.argv[1])))\n"


def worker_env(database_url: str, graph_base_url: str, instance: Path) -> dict:
    """What an `rq worker` host would have, without Redis: the app builds from this."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REDIS_", "ENTRA_", "M365_", "GRAPH_"))}
    env.update(DATABASE_URL=database_url, GRAPH_BASE_URL=graph_base_url,
               M365_TEAM_ID="incident-team", SECRET_KEY="test-secret-key-not-for-production",
               INCIDENT_DESK_INSTANCE=str(instance), BACKGROUND_SWEEP="false",
               APP_BASE_URL="http://incident-desk.test", PYTHONPATH=str(ROOT))
    return env


@pytest.mark.slow
def test_a_worker_killed_after_posting_neither_loses_nor_repeats_the_post(
        app, session, org, migrated, slow_sandbox, frozen_clock, tmp_path):
    """SIGKILL lands after Teams stored the post but before the row was marked delivered:
    the lease expires, the sweep retries, and the retry finds the post instead of
    posting again."""
    frozen_clock.value = datetime.now(UTC) - timedelta(seconds=1)  # the worker's real clock
    base = slow_sandbox.graph_base_url
    graph = GraphClient(base, sandbox_token(base, ADA), timeout=10)
    use_graph(app, graph)
    ada = User(entra_oid="dev-ada", name="Ada", email="ada@example.com")
    session.add(ada)
    session.commit()
    incident = service.declare(session, org, ada, title="Killed worker", description="",
                               severity="P3", effects=app.extensions["effects"])
    reference = incident.reference
    channel, kickoff = (session.scalar(select(Delivery).where(Delivery.key == f"{reference}/{k}"))
                        for k in ("channel", "kickoff"))
    # The channel first, here; outside an app context nothing is queued, so the kickoff
    # is left for the worker below.
    assert runner.deliver(session, channel.id, graph_for=app.extensions["graph_for"],
                          handlers=HANDLERS) == "delivered"
    channel_id = channel.result["channel_id"]
    kickoff_id = kickoff.id
    card = attachment_id(f"{reference}/kickoff")
    session.remove()  # no transaction open here while the worker writes

    def posted() -> list[dict]:
        return [m for m in slow_sandbox.state.messages(channel_id=channel_id)
                if any(a["id"] == card for a in m["attachments"])]

    slow_sandbox.app.holding.set()
    worker = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", WORKER, str(kickoff_id)], cwd=ROOT, text=True,
        env=worker_env(migrated, slow_sandbox.graph_base_url, tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(posted, "the worker's post reaching Teams", process=worker)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            worker.communicate(timeout=DEADLINE)
    slow_sandbox.app.holding.clear()
    slow_sandbox.app.release.set()
    assert worker.returncode == -signal.SIGKILL

    row = session.get(Delivery, kickoff_id)
    assert row.status == "sending" and row.attempts == 1
    assert row.lease_until is not None and row.lease_until > frozen_clock()

    frozen_clock.advance(seconds=(runner.LEASE + timedelta(minutes=1)).total_seconds())
    with app.app_context():
        assert sweep_outbox() >= 1
    drain(app)

    session.expire_all()
    row = session.get(Delivery, kickoff_id)
    assert (row.status, row.attempts) == ("delivered", 2), row.last_error
    assert row.result["found_earlier"] is True
    assert len(posted()) == 1
    assert row.result["message_id"] == posted()[0]["id"]
    statuses = Counter(d.status for d in session.scalars(
        select(Delivery).where(Delivery.incident_id == incident.id)))
    assert statuses == {"delivered": 3}, statuses  # channel, kickoff, command room


# ---- Redis stopped and restarted -------------------------------------------------------


class RedisProcess:
    """A private redis-server on its own port that keeps nothing on disk."""

    def __init__(self, executable: str, workdir: Path):
        self.executable, self.workdir = executable, workdir
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - redis-server from PATH, fixed args
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from redis import Redis

        client = Redis.from_url(self.url, socket_connect_timeout=0.5)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except Exception:
                return False

        try:
            wait_until(answers, f"redis-server on port {self.port}", process=self.process)
        finally:
            client.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(DEADLINE)
        self.process = None


@pytest.fixture
def private_redis(tmp_path):
    executable = shutil.which("redis-server")
    if executable is None:
        message = "redis-server is not on PATH"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    redis = RedisProcess(executable, tmp_path)
    redis.start()
    yield redis
    redis.kill()


class TestRedisOutage:
    @pytest.fixture
    def settings(self, migrated, private_redis):
        """The conftest `app` fixture (and its teardown), on the private Redis."""
        return make_settings(migrated, redis_url=private_redis.url)

    def test_work_queued_or_declared_while_redis_is_down_is_delivered_once_after(
            self, app, session, fake_graph, browser, private_redis):
        """Redis keeps nothing here, so a crash loses the queue: the outbox and the sweep
        must be enough to deliver everything, once."""
        jobs = app.extensions["jobs"]
        assert jobs.kind == "rq"
        browser.sign_in()
        queued = browser.declare(title="Queued before the crash", severity="P3")
        assert jobs.queue.count >= 2  # the channel and the command room, waiting

        private_redis.kill()
        started = time.monotonic()
        declared = browser.declare(title="Declared during the outage", severity="P3")
        assert time.monotonic() - started < 10  # the page does not wait on Redis
        assert browser.get(f"/incidents/{declared}").status_code == 200

        private_redis.start()
        assert jobs.queue.count == 0  # the jobs queued before the crash are gone
        references = (queued, declared)
        incidents = {i.reference: i.id for i in session.scalars(
            select(Incident).where(Incident.reference.in_(references)))}
        rows = session.scalars(select(Delivery)).all()
        assert {d.incident_id for d in rows} == set(incidents.values())
        assert {d.status for d in rows} == {"pending"}
        session.rollback()

        with app.app_context():
            assert sweep_outbox() >= len(rows)  # and whatever else is due (reports)
        drain(app)

        session.expire_all()
        statuses = Counter(d.status for d in session.scalars(select(Delivery)))
        assert statuses == {"delivered": len(rows)}, statuses
        for reference in references:
            ours = [c for c in fake_graph.channels("incident-team")
                    if c["description"].startswith(f"{reference}:")]
            assert len(ours) == 1, ours
            kickoffs = [m for m in fake_graph.messages(channel_id=ours[0]["id"])
                        if any(a["id"] == attachment_id(f"{reference}/kickoff")
                               for a in m["attachments"])]
            assert len(kickoffs) == 1
        cards = Counter(a["id"] for m in fake_graph.messages() for a in m["attachments"])
        assert set(cards.values()) == {1}, cards
        assert len(fake_graph.meetings()) == len(references)

    @pytest.mark.slow
    def test_a_redis_that_hangs_costs_a_page_one_short_timeout(
            self, app, session, fake_graph, browser, private_redis):
        """A Redis that accepts connections but never answers (paused, swapping, a stuck
        proxy): the first enqueue times out, later ones skip Redis until the sweep finds
        it answering again, and nothing is lost."""
        browser.sign_in()
        os.kill(private_redis.process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            reference = browser.declare(title="Declared while Redis hangs", severity="P1")
            elapsed = time.monotonic() - started
            assert elapsed < 5, elapsed  # one socket timeout, not one per delivery
            started = time.monotonic()
            browser.declare(title="And another", severity="P1")
            assert time.monotonic() - started < 1  # in the cool-off: Redis not tried
        finally:
            os.kill(private_redis.process.pid, signal.SIGCONT)
        with app.app_context():
            assert sweep_outbox() > 0
        drain(app)
        session.expire_all()
        assert {d.status for d in session.scalars(select(Delivery))} == {"delivered"}
        assert any(c["description"].startswith(f"{reference}:")
                   for c in fake_graph.channels("incident-team"))


@pytest.mark.slow
class TestPreloadedWorker:
    @pytest.fixture
    def settings(self, migrated, private_redis):
        return make_settings(migrated, redis_url=private_redis.url)

    def test_a_real_forking_rq_worker_delivers_with_the_preloaded_app(
            self, app, session, org, migrated, private_redis, tmp_path):
        """`rq worker --worker-class app.worker.PreloadedWorker`, as the README runs it:
        each job's forked work horse reuses the app built before the fork (with fresh
        database connections) and everything is delivered once."""
        with SandboxServer() as sandbox:
            sandbox_tenant(sandbox.state, "ada@example.com")
            base = sandbox.graph_base_url
            use_graph(app, GraphClient(base, sandbox_token(base, ADA)))
            ada = User(entra_oid="dev-ada", name="Ada", email="ada@example.com")
            session.add(ada)
            session.commit()
            with app.app_context():
                service.declare(session, org, ada, title="Forked", description="",
                                severity="P2", effects=app.extensions["effects"])
            session.remove()
            env = {**worker_env(migrated, sandbox.graph_base_url, tmp_path),
                   "REDIS_URL": private_redis.url}
            rq = Path(sys.executable).with_name("rq")
            deadline = time.monotonic() + DEADLINE * 3
            while time.monotonic() < deadline:
                worker = subprocess.run(  # noqa: S603 - the venv's rq, fixed arguments
                    [str(rq), "worker", "--burst", "--url", private_redis.url,
                     "--worker-class", "app.worker.PreloadedWorker", "incident-desk"],
                    cwd=ROOT, env=env, capture_output=True, text=True, timeout=DEADLINE * 3)
                assert worker.returncode == 0, worker.stderr[-3000:]
                # (The running report's write is a delivery too: this tenant grants no
                # SharePoint access, so it fails, as it always has; not this test's point.)
                rows = session.scalars(select(Delivery).where(
                    Delivery.kind != WRITE_KIND)).all()
                statuses = Counter(d.status for d in rows)
                errors = [(d.kind, d.last_error) for d in rows if d.last_error]
                session.remove()
                if statuses == {"delivered": 3}:
                    break
            assert statuses == {"delivered": 3}, (statuses, errors, worker.stderr[-2000:])
            assert len(sandbox.state.channels()) == 1


# ---- a deadline for each kind of Graph call (graph/client.py) ------------------------------


def test_each_kind_of_call_gets_its_own_deadline(monkeypatch):
    """The kind is read off the request the client really builds (method and path)."""
    import graph.client as client_module
    from graph.port import Card, Mail, Sender

    seen: list[str] = []
    kind_of = client_module.request_kind
    monkeypatch.setattr(client_module, "request_kind",
                        lambda method, url: seen.append(kind_of(method, url)) or seen[-1])
    with SandboxServer() as sandbox:
        sandbox_tenant(sandbox.state, ADA)
        graph = GraphClient(sandbox.graph_base_url, sandbox_token(sandbox.graph_base_url, ADA))
        channel = graph.create_channel("incident-team", "inc-deadlines")
        graph.post_message("incident-team", channel.id, "<p>hi</p>",
                           cards=[Card("deadline-card", {"type": "AdaptiveCard"})])
        graph.find_channel("incident-team", "inc-deadlines")
        draft = graph.create_draft(Sender(None), Mail(subject="s", html_body="<p>b</p>",
                                                      to=[ADA]))
        graph.send_draft(Sender(None), draft)
    assert seen == ["channel", "post", "read", "mail", "mail"]
    base = "https://graph.microsoft.com/v1.0"
    for method, path, kind in [
            ("POST", "/teams/t/channels/c/messages/m/replies", "post"),
            ("POST", "/teams/t/members", "member"),
            ("POST", "/users/u/sendMail", "mail"),
            ("POST", "/me/events", "meeting"),
            ("POST", "/me/onlineMeetings/createOrGet", "meeting"),
            ("PUT", "/drives/d/items/root:/a/b.docx:/content", "upload"),
            ("GET", "/sites/s/lists/l/items?$expand=fields", "read"),
            ("POST", "/teams/t/channels/c/archive", "change")]:
        assert kind_of(method, base + path) == kind, path
    capped = GraphClient(base, lambda: "t", timeout=5)
    assert capped.deadline("PUT", base + "/drives/d/items/root:/x:/content") == 5
    assert GraphClient(base, lambda: "t").deadline("PUT", base + "/x/content") == \
        client_module.DEADLINES["upload"]


def test_a_slow_post_times_out_at_its_own_deadline_while_reads_wait_theirs(monkeypatch):
    """Graph answers every request after a second: a post with a shorter deadline is
    status 0 (ambiguous: the outbox looks before repeating it); a read with a longer one
    is answered."""
    import graph.client as client_module
    from graph.port import GraphError

    monkeypatch.setitem(client_module.DEADLINES, "post", 0.3)
    with SandboxServer() as sandbox:
        sandbox_tenant(sandbox.state, ADA)
        graph = GraphClient(sandbox.graph_base_url, sandbox_token(sandbox.graph_base_url, ADA))
        channel = graph.create_channel("incident-team", "inc-slow")
        sandbox.faults.configure(latency=1.0)
        started = time.monotonic()
        with pytest.raises(GraphError) as caught:
            graph.post_message("incident-team", channel.id, "<p>late</p>")
        took = time.monotonic() - started
        assert caught.value.status == 0 and caught.value.retryable
        assert 0.3 <= took < 0.9
        assert graph.find_channel("incident-team", "inc-slow") is not None


def test_a_read_is_tried_again_in_place_after_a_quick_failure_but_not_after_a_stall(
        monkeypatch):
    """A 503 costs a moment: the page is read again at once. A stall has already held
    the worker for its length: the delivery's own backoff tries again instead."""
    import graph.client as client_module
    from graph.port import GraphError

    monkeypatch.setattr(client_module, "QUICK", 0.5)
    with SandboxServer() as sandbox:
        sandbox_tenant(sandbox.state, ADA)
        graph = GraphClient(sandbox.graph_base_url, sandbox_token(sandbox.graph_base_url, ADA))
        graph.create_channel("incident-team", "inc-reads")
        sandbox.faults.configure(retry_after=0.0, hang=1.0)
        sandbox.faults.fail_next(1, "503", "GET /v1.0/teams/incident-team/channels")
        assert graph.find_channel("incident-team", "inc-reads") is not None
        sandbox.faults.fail_next(2, "timeout", "GET /v1.0/teams/incident-team/channels")
        started = time.monotonic()
        with pytest.raises(GraphError) as caught:
            graph.find_channel("incident-team", "inc-reads")
        assert caught.value.status == 0 and time.monotonic() - started < 1.9
        assert sandbox.faults.pending == 1  # the second stall was never reached
