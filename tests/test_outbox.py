"""The outbox: declare → Teams channel, kickoff card, broadcast; retries, lost responses,
dead workers and failures a person can retry — each message exactly once."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.m365.models import TeamsChannel
from app.outbox import runner
from app.outbox.models import Delivery
from graph.port import GraphError, InvalidRequest
from tests.conftest import drain


def sweep_and_drain(app):
    from app.jobs import sweep_outbox

    with app.app_context():
        sweep_outbox()
    drain(app)


def deliveries(session):
    session.expire_all()
    return {d.key.split("/", 1)[1]: d for d in session.scalars(select(Delivery))}


def card_of(message) -> dict:
    """The Adaptive Card a FakeGraph message carries, parsed."""
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return json.loads(attachment["content"])


def texts(card: dict) -> list[str]:
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") in ("TextRun", "TextBlock"):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return found


class Flaky:
    """Wraps a Graph and breaks chosen calls the ways Graph and networks break."""

    def __init__(self, graph):
        self.graph = graph
        self.plan: dict[str, list] = {}
        self.only: dict[str, object] = {}

    def fail(self, method: str, *outcomes, only=None):
        """outcomes: an exception to raise before the call, or ("after", exc) to make the
        call and then raise (the response was lost, or the worker died). `only(*args,
        **kwargs)` picks the calls that fail, where several jobs make the same call."""
        self.plan.setdefault(method, []).extend(outcomes)
        if only is not None:
            self.only[method] = only

    def __getattr__(self, name):
        target = getattr(self.graph, name)
        if not callable(target):
            return target

        def call(*args, **kwargs):
            queue = self.plan.get(name)
            chosen = self.only.get(name, lambda *a, **k: True)(*args, **kwargs)
            if queue and chosen:
                outcome = queue.pop(0)
                if isinstance(outcome, tuple):
                    target(*args, **kwargs)
                    raise outcome[1]
                raise outcome
            return target(*args, **kwargs)

        return call


@pytest.fixture
def flaky(app, fake_graph):
    wrapper = Flaky(fake_graph)
    wrapper.broadcast_channel_id = fake_graph.broadcast_channel_id
    app.extensions["graph_for"] = lambda delivery: wrapper
    return wrapper


def test_declaring_creates_the_channel_and_posts_the_kickoff_card(
        app, browser, session, fake_graph, frozen_clock):
    browser.sign_in()
    reference = browser.declare(title="Payments: 50% of card payments failing!",
                                severity="P2")
    drain(app)
    rows = deliveries(session)
    assert {k: d.status for k, d in rows.items()} == {
        "channel": "delivered", "kickoff": "delivered", "meeting": "delivered"}
    channel = fake_graph.find_channel("incident-team",
                                      "inc-0001-2026-11-22-payments-50-of-card-payments")
    assert channel is not None and channel.description.startswith(reference)
    (kickoff,) = fake_graph.messages(channel_id=channel.id)
    card = card_of(kickoff)
    assert "Payments: 50% of card payments failing!" in texts(card)
    assert card["actions"][0]["url"] == f"http://incident-desk.test/incidents/{reference}"
    stored = session.get(TeamsChannel, rows["channel"].incident_id)
    assert stored.channel_id == channel.id
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "Teams channel created: inc-0001-2026-11-22-payments" in page
    assert channel.web_url in page


def test_major_incidents_are_announced_in_the_broadcast_channel_with_a_link(
        app, browser, session, fake_graph, frozen_clock):
    browser.sign_in()
    browser.declare(title="Everything is down", severity="P1")
    drain(app)
    (announcement,) = fake_graph.messages(channel_id=fake_graph.broadcast_channel_id)
    card = card_of(announcement)
    channel = fake_graph.find_channel("incident-team", "inc-0001-2026-11-22-everything-is-down")
    assert [a["url"] for a in card["actions"]][-1] == channel.web_url
    assert all(d.status == "delivered" for d in deliveries(session).values())


def test_security_incidents_are_never_broadcast(app, browser, session, fake_graph,
                                                 frozen_clock):
    browser.sign_in()
    browser.declare(title="Customer data exposed", severity="P1", is_security="y")
    drain(app)
    # The declarer joins the team first, to own the private channel; the incident's tab
    # is tried in the private channel only (app/m365/tab_pins.py).
    assert set(deliveries(session)) == {"member/1", "channel", "channel/tab", "kickoff",
                                        "meeting"}
    assert fake_graph.messages(channel_id=fake_graph.broadcast_channel_id) == []


def test_a_rejected_declaration_leaves_nothing_to_send(app, browser, session, fake_graph):
    browser.sign_in()
    response = browser.submit("/incidents/new", data={"title": "", "severity": "P1"})
    assert response.status_code == 400
    assert session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_user_text_reaches_teams_exactly_as_typed(app, browser, fake_graph, frozen_clock):
    hostile = '<img src=x onerror=alert(1)> **bold** [link](http://evil.example) "quoted"'
    browser.sign_in(name='Eve <script>alert("x")</script>')
    browser.declare(title=hostile, description=hostile, severity="P2")
    drain(app)
    (channel,) = [c for c in fake_graph.channels("incident-team") if c["displayName"] != "General"]
    assert all(ch not in channel["displayName"] for ch in "<>\"'*[]")
    (kickoff,) = fake_graph.messages(channel_id=channel["id"])
    assert "<img" not in kickoff["body"]["content"]  # the HTML summary is escaped
    assert "&lt;img src=x onerror=alert(1)&gt;" in kickoff["body"]["content"]
    card = card_of(kickoff)
    assert hostile in texts(card)  # plain TextRuns: Teams shows it as text, unrendered
    assert 'Eve <script>alert("x")</script>' in texts(card)


def test_throttling_is_retried_after_the_time_graph_asks(app, browser, session, flaky,
                                                          fake_graph, frozen_clock):
    flaky.fail("create_channel", GraphError("slow down", status=429, retry_after=30))
    browser.sign_in()
    browser.declare()
    drain(app)
    channel = deliveries(session)["channel"]
    assert channel.status == "pending" and channel.attempts == 1
    assert channel.next_attempt_at >= frozen_clock() + timedelta(seconds=30)
    assert "throttling" in channel.last_error
    frozen_clock.advance(seconds=29)
    sweep_and_drain(app)
    assert deliveries(session)["channel"].status == "pending"
    frozen_clock.advance(seconds=2)
    sweep_and_drain(app)
    sweep_and_drain(app)
    assert {d.status for d in deliveries(session).values()} == {"delivered"}
    assert len(fake_graph.channels("incident-team")) == 2  # General and ours, once


def test_a_lost_response_does_not_post_twice(app, browser, session, flaky, fake_graph,
                                              frozen_clock):
    # The kickoff's call, not the broadcast's: both are posted once the channel exists.
    flaky.fail("post_message", ("after", GraphError("connection reset", status=0)),
               only=lambda team, channel, *rest, **more:
                   channel != flaky.broadcast_channel_id)
    browser.sign_in()
    browser.declare()
    drain(app)
    kickoff = deliveries(session)["kickoff"]
    assert kickoff.status == "pending" and kickoff.progress.get("ambiguous")
    frozen_clock.advance(minutes=1)
    sweep_and_drain(app)
    kickoff = deliveries(session)["kickoff"]
    assert kickoff.status == "delivered" and kickoff.result.get("found_earlier")
    channel_id = deliveries(session)["channel"].result["channel_id"]
    assert len(fake_graph.messages(channel_id=channel_id)) == 1


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing in the runner can catch it."""


def test_a_worker_killed_after_creating_the_channel_neither_loses_nor_duplicates_it(
        app, browser, session, flaky, fake_graph, frozen_clock):
    flaky.fail("create_channel", ("after", WorkerKilled()))
    browser.sign_in()
    browser.declare(title="Login broken")
    drain(app)  # the job dies; RQ and the thread pool both record it as crashed
    channel = deliveries(session)["channel"]
    assert channel.status == "sending"
    frozen_clock.advance(seconds=runner.LEASE.total_seconds() / 2)
    sweep_and_drain(app)
    assert deliveries(session)["channel"].status == "sending"  # lease still held
    frozen_clock.advance(seconds=runner.LEASE.total_seconds() / 2 + 1)
    sweep_and_drain(app)
    sweep_and_drain(app)
    rows = deliveries(session)
    assert {d.status for d in rows.values()} == {"delivered"}
    names = [c["displayName"] for c in fake_graph.channels("incident-team")]
    assert names.count("inc-0001-2026-11-22-login-broken") == 1 and len(names) == 2
    assert len(fake_graph.messages(channel_id=rows["channel"].result["channel_id"])) == 1


def test_a_failure_that_needs_a_person_shows_on_the_page_and_can_be_retried(
        app, browser, session, flaky, fake_graph, frozen_clock):
    flaky.fail("create_channel", InvalidRequest("Team is archived", status=400,
                                                code="BadRequest"))
    browser.sign_in()
    reference = browser.declare()
    drain(app)
    rows = deliveries(session)
    assert rows["channel"].status == "failed"
    assert rows["kickoff"].status == "failed"  # it cannot go anywhere without the channel
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "Team is archived" in page and "Try again" in page
    response = browser.submit(f"/incidents/{reference}",
                              f"/incidents/{reference}/deliveries/{rows['channel'].id}/retry")
    assert response.status_code == 302
    drain(app)
    sweep_and_drain(app)
    frozen_clock.advance(seconds=10)
    sweep_and_drain(app)
    assert {d.status for d in deliveries(session).values()} == {"delivered"}


def test_retry_needs_the_form_token_and_the_incident(app, browser, other_browser, session,
                                                      flaky, frozen_clock):
    flaky.fail("create_channel", InvalidRequest("nope", status=400))
    browser.sign_in()
    reference = browser.declare(is_security="y")
    drain(app)
    delivery_id = deliveries(session)["channel"].id
    url = f"/incidents/{reference}/deliveries/{delivery_id}/retry"
    assert browser.client.post(url).status_code == 400  # no CSRF token
    other_browser.sign_in(name="Mallory", email="mallory@example.com")
    assert other_browser.submit("/incidents", url).status_code == 404  # cannot see it
    assert deliveries(session)["channel"].status == "failed"


@pytest.mark.slow
def test_persistent_outages_give_up_after_the_attempt_limit(app, browser, session, flaky,
                                                             frozen_clock, monkeypatch):
    # Retries go out through the sweep only: a retry timer firing in real time could be
    # mid-delivery when the frozen clock jumps minutes, past its claim's lease. A pacing
    # wait (channel creation is paced in real time) still runs, and is waited for.
    jobs = app.extensions["jobs"]
    queue = jobs.enqueue
    monkeypatch.setattr(jobs, "enqueue", lambda path, *args, delay=0.0, urgent=False:
                        (delay <= 0 or urgent) and queue(path, *args, delay=delay,
                                                         urgent=urgent))
    flaky.fail("create_channel",
               *[GraphError("unavailable", status=503)] * runner.MAX_ATTEMPTS)
    browser.sign_in()
    browser.declare()
    drain(app)
    for _ in range(3 * runner.MAX_ATTEMPTS):  # a paced round is not an attempt
        if deliveries(session)["channel"].status == "failed":
            break
        frozen_clock.advance(seconds=runner.MAX_BACKOFF + 1)
        sweep_and_drain(app)
        if hasattr(jobs, "wait"):  # in-process: its timers; RQ's are swept next round
            jobs.wait(20, include_delayed=True)
    channel = deliveries(session)["channel"]
    assert channel.status == "failed" and channel.attempts == runner.MAX_ATTEMPTS
    assert f"after {runner.MAX_ATTEMPTS} attempts" in channel.last_error


def test_a_delivered_delivery_is_never_sent_again(app, browser, session, fake_graph,
                                               frozen_clock):
    browser.sign_in()
    browser.declare()
    drain(app)
    with app.app_context():
        from app.jobs import deliver

        assert deliver(deliveries(session)["channel"].id) == "skipped"
    assert len(fake_graph.channels("incident-team")) == 2


def test_backoff_grows_and_never_undercuts_retry_after():
    assert runner.backoff(1, None) <= 1.0
    assert 4.0 <= runner.backoff(4, None) <= 8.0
    assert runner.backoff(30, None) <= runner.MAX_BACKOFF
    assert runner.backoff(1, 45.0) == 45.0


# ---- short claims, renewed while in progress (app/outbox/lease.py) -------------------------


class Gate:
    """Wraps a Graph: the first call of `method` waits until `release` (having made the
    call first if `call_first`), then answers, or raises `then_raise`."""

    def __init__(self, graph, method: str, call_first: bool = False, then_raise=None):
        import threading

        self.graph, self.method = graph, method
        self.call_first, self.then_raise = call_first, then_raise
        self.entered, self.release = threading.Event(), threading.Event()
        self.calls: dict[str, int] = {}

    def __getattr__(self, name):
        target = getattr(self.graph, name)
        if not callable(target):
            return target

        def call(*args, **kwargs):
            self.calls[name] = self.calls.get(name, 0) + 1
            if name != self.method or self.entered.is_set():
                return target(*args, **kwargs)
            answer = target(*args, **kwargs) if self.call_first else None
            self.entered.set()
            assert self.release.wait(20), "the test never released the call"
            if self.then_raise is not None:
                raise self.then_raise
            return answer if self.call_first else target(*args, **kwargs)

        return call


def _mail_delivery(app, session, key="lease-test/mail") -> int:
    from app.outbox import service

    delivery = service.add(session, key=key, kind="mail.send", payload={
        "mailbox": "desk@example.com", "subject": "Update", "html": "<p>Update</p>",
        "to": ["desk@example.com"], "bcc": ["ada@example.com"], "label": "Update email"})
    session.commit()  # outside an app context: nothing queued, the test runs it
    delivery_id = delivery.id
    session.remove()
    return delivery_id


def _row(session, delivery_id: int) -> Delivery:
    session.expire_all()
    row = session.get(Delivery, delivery_id)
    session.remove()  # no transaction (on SQLite: no write lock) left open here
    return row


def _in_a_worker(app, delivery_id: int):
    """Run the delivery job in a thread of its own, as one pool worker would."""
    import threading

    from app.jobs import deliver

    outcome: list[str] = []

    def work():
        with app.app_context():
            outcome.append(deliver(delivery_id))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread, outcome


def _wait(condition, what: str, timeout: float = 10.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    pytest.fail(f"{what}: not within {timeout:.0f} s")


def test_a_call_longer_than_the_lease_keeps_its_claim(app, session, fake_graph, frozen_clock,
                                                      monkeypatch):
    from app.jobs import sweep_outbox
    from app.outbox import lease

    monkeypatch.setattr(lease, "RENEW_EVERY", 0.01)
    gate = Gate(fake_graph, "create_draft")
    app.extensions["graph_for"] = lambda delivery: gate
    delivery_id = _mail_delivery(app, session)
    worker, outcome = _in_a_worker(app, delivery_id)
    assert gate.entered.wait(10)
    claimed_until = _row(session, delivery_id).lease_until
    for _ in range(4):  # two minutes of a stalled call, in the clock's steps
        frozen_clock.advance(seconds=runner.LEASE.total_seconds() * 2 / 3)
        _wait(lambda: _row(session, delivery_id).lease_until
              >= frozen_clock() + runner.LEASE - timedelta(seconds=1), "a renewal")
        with app.app_context():
            assert sweep_outbox() == 0  # held: nothing for the sweep to hand out
    assert frozen_clock() > claimed_until + runner.LEASE
    gate.release.set()
    worker.join(10)
    row = _row(session, delivery_id)
    assert outcome == ["delivered"] and (row.status, row.attempts) == ("delivered", 1)
    assert row.lease_until is None and row.lease_token is None
    assert len(fake_graph.mails()) == 1


@pytest.mark.parametrize("stale", ["answer", "error"])
def test_a_worker_that_lost_its_claim_takes_no_further_step_and_records_nothing(
        app, session, fake_graph, frozen_clock, monkeypatch, stale):
    """A frozen worker (no renewals) whose lease lapsed: another worker delivers; when the
    frozen one wakes, with its draft made ("answer") or its call failed ("error"), it
    neither sends nor writes: a stale failure would set a delivered row pending again."""
    from app.outbox import lease

    monkeypatch.setattr(lease, "RENEW_EVERY", 3600.0)
    gate = Gate(fake_graph, "create_draft", call_first=stale == "answer",
                then_raise=GraphError("Service unavailable", status=503)
                if stale == "error" else None)
    app.extensions["graph_for"] = lambda delivery: gate
    delivery_id = _mail_delivery(app, session)
    frozen, outcome = _in_a_worker(app, delivery_id)
    assert gate.entered.wait(10)
    frozen_clock.advance(seconds=runner.LEASE.total_seconds() + 1)
    sweep_and_drain(app)  # another worker takes the lapsed claim and delivers
    taken_over = _row(session, delivery_id)
    assert (taken_over.status, taken_over.attempts) == ("delivered", 2)
    gate.release.set()
    frozen.join(10)
    assert outcome == ["lost"]
    row = _row(session, delivery_id)
    assert (row.status, row.attempts, row.result) == ("delivered", 2, taken_over.result)
    assert row.delivered_at == taken_over.delivered_at and row.last_error is None
    assert len(fake_graph.mails()) == 1 and gate.calls["send_draft"] == 1
    drain(app)
    assert _row(session, delivery_id).status == "delivered"


def test_a_dead_workers_claim_is_taken_again_after_the_lease(app, session, fake_graph,
                                                           frozen_clock):
    """SIGKILL leaves a claim nobody renews: the sweep after LEASE hands it out again."""
    from app.jobs import sweep_outbox

    delivery_id = _mail_delivery(app, session)
    assert runner._claim(session, delivery_id) is not None
    session.commit()  # the worker dies here, holding the claim
    session.remove()
    frozen_clock.advance(seconds=runner.LEASE.total_seconds() - 1)
    with app.app_context():
        assert sweep_outbox() == 0
    frozen_clock.advance(seconds=2)
    sweep_and_drain(app)
    row = _row(session, delivery_id)
    assert (row.status, row.attempts) == ("delivered", 2)
    assert len(fake_graph.mails()) == 1
    # A minute from the kill at most: the lease, then the next sweep (every 15 s).
    assert runner.LEASE + timedelta(seconds=15) < timedelta(minutes=1)


def test_a_wedged_delivery_lets_its_claim_lapse_after_the_longest_hold(
        app, session, fake_graph, frozen_clock, monkeypatch):
    """Every Graph call has a deadline: a delivery still going after MAX_HOLD is stuck,
    so its heartbeat stops and the sweep hands the work to another worker."""
    from app.jobs import sweep_outbox
    from app.outbox import lease

    monkeypatch.setattr(lease, "RENEW_EVERY", 0.01)
    monkeypatch.setattr(lease, "MAX_HOLD", 0.2)
    gate = Gate(fake_graph, "create_draft")
    app.extensions["graph_for"] = lambda delivery: gate
    delivery_id = _mail_delivery(app, session)
    wedged, outcome = _in_a_worker(app, delivery_id)
    assert gate.entered.wait(10)
    import time

    time.sleep(0.5)  # past MAX_HOLD: no more renewals
    frozen_clock.advance(seconds=runner.LEASE.total_seconds() + 1)
    with app.app_context():
        assert sweep_outbox() == 1
    drain(app)
    gate.release.set()
    wedged.join(10)
    row = _row(session, delivery_id)
    assert outcome == ["lost"] and (row.status, row.attempts) == ("delivered", 2)
    assert len(fake_graph.mails()) == 1


def test_an_outlook_slot_is_renewed_with_the_claim():
    """A mailbox's 4 concurrent requests (pacing): a slot held by a long delivery is
    renewed by its heartbeat, so a fifth request still waits; a dead worker's lapses."""
    from app.outbox.pacing import LEASE, LocalLimiter, Need, Pacer

    now = [1000.0]
    limiter = LocalLimiter(clock=lambda: now[0])
    pacer = Pacer(limiter, lambda delivery: None, sleep=lambda seconds: None)
    need = Need(slots=(("outlook:desk@example.com", 4),))
    long_call, *others = [pacer.admit(f"{n}:1", need) for n in range(4)]
    assert not any(a.wait for a in (long_call, *others))
    for admission in others:
        admission.release()
    for _ in range(3):  # the long call's heartbeat, past LEASE
        now[0] += LEASE * 2 / 3
        long_call.renew()
    busy = [pacer.admit(f"{n}:1", need) for n in range(10, 13)]
    assert not any(a.wait for a in busy)
    assert pacer.admit("13:1", need).wait  # 4 held: the long one is still counted
    now[0] += LEASE + 1  # nobody renews now: as if all four workers died
    assert not pacer.admit("14:1", need).wait


# ---- debounced deliveries (a report file: service.request) and handler outcomes ----------

DEBOUNCE, LONGEST = timedelta(seconds=15), timedelta(minutes=2)


class Repeatable:
    """A handler for work asked for again and again; `during` runs inside its send."""

    debounce, longest_wait, service = DEBOUNCE, LONGEST, "SharePoint"

    def __init__(self):
        self.sent = 0
        self.during = None

    def send(self, graph, attempt):
        self.sent += 1
        if self.during is not None:
            during, self.during = self.during, None
            during()
        return {"sent": self.sent}

    def apply(self, session, delivery, result):
        """Nothing to record."""


def _ask(session, settle=True) -> int:
    from app.outbox import service

    delivery_id = service.request(session, key="debounce-test/report", kind="repeatable",
                                  payload={}, incident=None, debounce=DEBOUNCE,
                                  longest=LONGEST, settle=settle)
    session.commit()
    return delivery_id


def _run(session, handler, delivery_id) -> str:
    return runner.deliver(session, delivery_id, graph_for=lambda _d: None,
                          handlers={"repeatable": handler})


def test_a_burst_of_requests_is_sent_once_it_settles_and_never_later_than_the_longest_wait(
        app, session, frozen_clock):
    handler = Repeatable()
    delivery_id = _ask(session)
    assert _row(session, delivery_id).next_attempt_at == frozen_clock.value  # new: now
    assert _run(session, handler, delivery_id) == "delivered"
    start = frozen_clock.value
    _ask(session)  # delivered: due again after the debounce, fresh attempts
    row = _row(session, delivery_id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 0, start + DEBOUNCE)
    assert _run(session, handler, delivery_id) == "skipped"  # not due yet
    for _ in range(20):  # a change every 10 s for 200 s
        frozen_clock.advance(seconds=10)
        _ask(session)
        due = _row(session, delivery_id).next_attempt_at
        assert due == min(frozen_clock.value + DEBOUNCE, start + LONGEST)
    assert _row(session, delivery_id).next_attempt_at == start + LONGEST
    _ask(session, settle=False)  # nothing to keep meanwhile: its time stands
    assert _row(session, delivery_id).next_attempt_at == start + LONGEST


def test_a_request_made_while_it_is_sent_sends_it_once_more(app, session, frozen_clock):
    from sqlalchemy.orm import Session as OrmSession

    handler = Repeatable()
    delivery_id = _ask(session)

    def someone_asks_again():
        frozen_clock.advance(seconds=1)
        with OrmSession(app.extensions["db_engine"]) as other:
            _ask(other)

    handler.during = someone_asks_again
    assert _run(session, handler, delivery_id) == "delivered"
    row = _row(session, delivery_id)
    assert row.status == "pending" and row.delivered_at is not None
    assert row.next_attempt_at == frozen_clock.value + DEBOUNCE
    frozen_clock.advance(seconds=16)
    assert _run(session, handler, delivery_id) == "delivered" and handler.sent == 2
    assert _row(session, delivery_id).status == "delivered"


def test_a_handler_can_wait_without_an_attempt_give_up_or_find_nothing_to_do(
        app, session, frozen_clock):
    from app.outbox import service

    outcomes = iter([runner.Later("Open in Word", timedelta(minutes=1), "locked"),
                     runner.GiveUp("The template is broken."), runner.NothingToDo()])

    class Refusing(Repeatable):
        def send(self, graph, attempt):
            raise next(outcomes)

    delivery_id = _ask(session)
    assert _run(session, Refusing(), delivery_id) == "locked"
    row = _row(session, delivery_id)
    assert (row.status, row.attempts, row.last_error) == ("pending", 0, "Open in Word")
    assert row.progress == {service.LATER: "locked"}
    frozen_clock.advance(minutes=1)
    assert _run(session, Refusing(), delivery_id) == "failed"
    row = _row(session, delivery_id)
    assert (row.status, row.last_error, row.progress) == (
        "failed", "The template is broken.", {})
    service.retry(session, session.get(Delivery, delivery_id))
    assert _run(session, Refusing(), delivery_id) == "nothing to do"
    assert _row(session, delivery_id).status == "cancelled"


def test_withdrawn_work_goes_unless_it_was_delivered_before(app, session, frozen_clock):
    from app.outbox import service

    delivery_id = _ask(session)
    assert service.withdraw(session, "debounce-test/report") is True
    session.commit()
    assert _row(session, delivery_id) is None
    delivery_id = _ask(session)
    _run(session, Repeatable(), delivery_id)
    _ask(session)
    assert service.withdraw(session, "debounce-test/report") is False
    session.commit()
    assert _row(session, delivery_id).status == "delivered"
