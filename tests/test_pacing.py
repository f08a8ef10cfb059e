"""Deliveries pace themselves within Graph's published limits (app/outbox/pacing.py): the
limiters book each window's room, a paced delivery waits without failing and keeps its
slot, and a burst of updates or a flood of alerts reaches a sandbox enforcing Microsoft's
limits with no 429, each message exactly once. Without pacing the same burst is
throttled, and the 429 handling still delivers it once (the safety net)."""

from __future__ import annotations

import os
import random
import time
import uuid

import pytest
from sqlalchemy import select, update

from app.m365 import plans
from app.m365.handlers import HANDLERS, attachment_id
from app.m365.limits import need_of
from app.outbox import runner
from app.outbox import service as outbox
from app.outbox.models import DELIVERED, PENDING, Delivery
from app.outbox.pacing import (
    BUSY_RETRY,
    GRACE,
    IN_FLIGHT,
    OUTLOOK_CONCURRENT_PER_MAILBOX,
    LocalLimiter,
    Need,
    Pacer,
    Rate,
    earliest,
    window_ms,
)
from tests.conftest import drain, sandbox_tenant, use_graph

W = 1000  # a one-second window, in the limiters' milliseconds


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def redis_url() -> str:
    """REDIS_URL, else the local default (as tests/test_jobs.py); required under CI."""
    from redis import Redis
    from redis.exceptions import RedisError

    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        Redis.from_url(url, socket_connect_timeout=1).ping()
    except RedisError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis at {url} is required under CI=true: {exc}")
        pytest.skip(f"no Redis at {url} (set REDIS_URL to run these)")
    return url


def redis_connection():
    from redis import Redis

    return Redis.from_url(redis_url(), socket_connect_timeout=1)


@pytest.fixture(params=["local", "redis"])
def limiter(request):
    """Each limiter, with a clock standing still for the local one (Redis's moves on by
    the milliseconds a test takes)."""
    if request.param == "local":
        yield LocalLimiter(clock=Clock())
        return
    from app.outbox.redis_limiter import RedisLimiter

    connection = redis_connection()
    found = RedisLimiter(connection, prefix=f"test-pace:{uuid.uuid4().hex}:")
    yield found
    for key in connection.scan_iter(f"{found.prefix}*"):
        connection.delete(key)
    connection.close()


def slots(limiter, count: int, rates, prefix: str = "m") -> list[int]:
    return [limiter.book(f"{prefix}{n}", rates, None)[0] for n in range(count)]


# ---- the limiters ------------------------------------------------------------------------


def test_a_burst_is_booked_window_by_window(limiter):
    booked = slots(limiter, 10, [("channel", 4, W)])
    first = booked[0]
    assert all(at - first < 50 for at in booked[:4])  # room at once for four
    for n in range(4, 10):  # then each waits for the one four before it to leave
        assert W <= booked[n] - booked[n - 4] < W + 50


def test_channels_count_apart_and_the_tenant_key_spans_them(limiter):
    tenant = ("tenant", 2, W)
    a = limiter.book("a", [("channel-a", 1, W), tenant], None)
    b = limiter.book("b", [("channel-b", 1, W), tenant], None)
    c = limiter.book("c", [("channel-c", 1, W), tenant], None)
    assert a[0] - a[1] < 50 and b[0] - b[1] < 50  # different channels: no wait
    assert c[0] - a[0] >= W  # the tenant's two were taken


def test_a_booking_in_the_future_does_not_hold_up_another_key(limiter):
    busy = [("busy-channel", 1, W), ("tenant", 50, W)]
    limiter.book("first", busy, None)
    waiting, now = limiter.book("second", busy, None)
    assert waiting - now >= W - 50
    other, now = limiter.book("elsewhere", [("quiet-channel", 1, W), ("tenant", 50, W)], None)
    assert other - now < 50  # not queued behind the busy channel's booking


def test_a_kept_slot_is_reused_and_another_delivery_cannot_claim_it(limiter):
    rates = [("channel", 1, W)]
    limiter.book("first", rates, None)
    slot, _ = limiter.book("second", rates, None)
    assert limiter.book("second", rates, slot)[0] == slot  # its own: the same slot
    later, _ = limiter.book("third", rates, slot)  # not its own: booked anew, after it
    assert later - slot >= W


def test_a_slot_kept_too_late_is_booked_anew():
    clock = Clock()
    limiter = LocalLimiter(clock=clock)
    rates = [("channel", 1, W)]
    limiter.book("first", rates, None)
    slot, _ = limiter.book("second", rates, None)
    clock.now += (slot - limiter.book("x", [("other", 9, W)], None)[1]) / 1000 + GRACE + 0.5
    again, now = limiter.book("second", rates, slot)
    assert again == now != slot  # too late for its slot: the next free moment


def test_concurrency_slots_are_taken_refused_and_freed(limiter):
    assert limiter.hold("mailbox", "a", 2) and limiter.hold("mailbox", "b", 2)
    assert limiter.hold("mailbox", "a", 2)  # already its own
    assert not limiter.hold("mailbox", "c", 2)
    assert limiter.hold("other-mailbox", "c", 2)
    limiter.free("mailbox", "a")
    assert limiter.hold("mailbox", "c", 2)


def test_a_call_in_flight_counts_as_now_and_an_answered_one_as_its_answer(limiter):
    rates = [("channel", 2, W)]
    assert limiter.depart(rates, "a") == 0 and limiter.depart(rates, "b") == 0
    assert 0 < limiter.depart(rates, "c") <= 100  # both in flight: look again shortly
    limiter.sent(rates, "a")
    limiter.sent(rates, "b")
    assert W - 50 < limiter.depart(rates, "c") <= W  # a window after the answers


def test_calls_leaving_together_each_see_the_others():
    """The burst's 429 (bench_pacing.py): a call that reached Graph late, then a
    window's four leaving together a window after its slot. Each that leaves counts for
    the next, so the fourth waits until a window after the late one's answer instead of
    reaching Graph inside its window."""
    clock = Clock()
    limiter = LocalLimiter(clock=clock)
    rates = [("channel", 4, W)]
    for n in range(3):
        assert limiter.depart(rates, f"early{n}") == 0
        limiter.sent(rates, f"early{n}")
    assert limiter.depart(rates, "late") == 0
    clock.now += 0.2
    limiter.sent(rates, "late")  # answered 0.2 s after it left
    clock.now += 0.9  # the next window's slot
    assert [limiter.depart(rates, f"next{n}") for n in range(3)] == [0, 0, 0]
    assert limiter.depart(rates, "next3") == 100  # until a window after the late answer


def test_an_answer_or_a_retry_is_not_counted_twice(limiter):
    rates = [("channel", 1, W)]
    assert limiter.depart(rates, "a") == 0
    assert limiter.depart(rates, "a") == 0  # its own flight is not in its way
    limiter.sent(rates, "a")
    assert W - 50 < limiter.depart(rates, "b") <= W


def test_answered_calls_are_forgotten_after_their_window():
    clock = Clock()
    limiter = LocalLimiter(clock=clock)
    rates = [("channel", 1, W)]
    limiter.sent(rates, "a")
    clock.now += 0.6
    assert limiter.depart(rates, "b") == W - 600
    clock.now += 0.4
    assert limiter.depart(rates, "b") == 0


def test_a_call_whose_answer_never_comes_stops_counting_after_its_deadline():
    clock = Clock()
    limiter = LocalLimiter(clock=clock)
    rates = [("channel", 1, W)]
    assert limiter.depart(rates, "dies") == 0
    clock.now += IN_FLIGHT - 0.1
    assert limiter.depart(rates, "next") > 0
    clock.now += 0.2
    assert limiter.depart(rates, "next") == 0


def test_redis_keys_expire_when_they_can_no_longer_matter():
    from app.outbox.redis_limiter import RedisLimiter

    connection = redis_connection()
    limiter = RedisLimiter(connection, prefix=f"test-pace:{uuid.uuid4().hex}:")
    try:
        for n in range(6):
            limiter.book(f"m{n}", [("channel", 4, W)], None)
        limiter.hold("mailbox", "m", 4)
        ttl = connection.pttl(f"{limiter.prefix}channel")
        assert 0 < ttl <= 2 * W + 50  # the latest booking (a window on) plus its window
        assert 0 < connection.pttl(f"{limiter.prefix}mailbox") <= 360_000
        assert connection.zcard(f"{limiter.prefix}channel") == 6
    finally:
        for key in connection.scan_iter(f"{limiter.prefix}*"):
            connection.delete(key)
        connection.close()


def test_no_window_ever_holds_more_than_its_limit():
    """Random bookings on overlapping keys, clock moving at random: every window of
    every key, at every booked moment, holds at most its limit."""
    rng = random.Random(7)
    clock = Clock()
    limiter = LocalLimiter(clock=clock)
    keys = {"a": (2, 300), "b": (3, 500), "t": (4, 400)}
    booked: dict[str, list[int]] = {key: [] for key in keys}
    for n in range(300):
        chosen = rng.sample(sorted(keys), rng.randint(1, 3))
        slot, _ = limiter.book(f"m{n}", [(k, *keys[k]) for k in chosen], None)
        for key in chosen:
            booked[key].append(slot)
        clock.now += rng.choice([0, 0, 0.01, 0.05, 0.2])
    for key, (limit, window) in keys.items():
        times = sorted(booked[key])
        for end in times:
            assert sum(1 for t in times if end - window < t <= end) <= limit, key


def test_earliest_moves_past_what_must_leave_the_window():
    assert earliest(0, [([], 4, W)]) == 0
    assert earliest(0, [([0, 0, 0, 0], 4, W)]) == W
    assert earliest(0, [([0, 0, 0, 0, W], 4, W)]) == W  # W itself leaves room for three
    assert earliest(0, [([0, 500], 1, W)]) == 1500


def test_rq_keeps_an_urgent_delay_to_the_moment_and_others_never_early():
    """RQ's scheduler keeps whole seconds, rounded down: an urgent job (a paced slot) is
    held by a timer and queued at the front on time; any other is scheduled late rather
    than early for its row."""
    from datetime import UTC, datetime

    from app.core.job_queue import RQJobs

    jobs = RQJobs(redis_url(), queue_name=f"test-pace-{uuid.uuid4().hex}")
    try:
        jobs.queue.enqueue("tests.test_pacing.Clock")  # something already waiting
        assert jobs.enqueue("app.jobs.deliver", 1, delay=0.3, urgent=True)
        assert jobs.queue.scheduled_job_registry.count == 0 and jobs.queue.count == 1
        deadline = time.monotonic() + 5
        while jobs.queue.count < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert jobs.queue.jobs[0].args == (1,)  # queued, at the front
        asked = datetime.now(UTC).timestamp() + 2.5
        assert jobs.enqueue("app.jobs.deliver", 2, delay=2.5)
        scheduled = jobs.connection.zrange(jobs.queue.scheduled_job_registry.key, 0, -1,
                                           withscores=True)
        assert len(scheduled) == 1 and scheduled[0][1] >= asked  # never early
    finally:
        jobs.queue.empty()
        jobs.connection.delete(jobs.queue.scheduled_job_registry.key)
        jobs.shutdown()


# ---- the pacer ------------------------------------------------------------------------


def sleeper(clock: Clock, slept: list[float]):
    """A pacer's sleep that moves `clock` on, noting each wait."""

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    return sleep


def test_a_short_wait_is_slept_and_a_long_one_is_handed_back():
    clock, slept = Clock(), []
    pacer = Pacer(LocalLimiter(clock=clock), need_of, lead=0.5, sleep=sleeper(clock, slept))
    soon = Rate(1, 0.3)  # a window shorter than the pacer's short wait
    first = pacer.admit("a", Need(rates=(("channel", soon),)))
    assert first.wait == 0 and slept == []
    first.release()  # answered
    assert pacer.admit("b", Need(rates=(("channel", soon),))).wait == 0
    assert slept == [window_ms(soon) / 1000]  # waited in the worker, then sent
    late = Need(rates=(("other", Rate(1, 5.0)),))
    booked_at = round(clock.now * 1000)
    pacer.admit("c", late)
    handed_back = pacer.admit("d", late)
    assert handed_back.slot == booked_at + window_ms(Rate(1, 5.0))
    assert handed_back.wait == pytest.approx(window_ms(Rate(1, 5.0)) / 1000 - 0.5)
    assert len(slept) == 1  # nothing slept for it: back to the outbox, a lead early


def test_a_fresh_booking_waits_in_its_own_timer_not_in_a_worker():
    """In-process: a delivery that has just booked a slot 0.4 s away goes back to the
    outbox at once (to a timer thread); woken with that slot, it waits for it."""
    clock, slept = Clock(), []
    pacer = Pacer(LocalLimiter(clock=clock), need_of, lead=0.9, fresh_wait=0.05,
                  sleep=sleeper(clock, slept))
    need = Need(rates=(("channel", Rate(1, 0.3)),))
    pacer.admit("a", need).release()
    handed_back = pacer.admit("b", need)
    assert handed_back.wait == 0.01 and slept == []
    assert pacer.admit("b", need, handed_back.slot).wait == 0
    assert slept == [window_ms(Rate(1, 0.3)) / 1000]


def test_a_call_answered_late_holds_back_the_next_one_to_a_whole_window():
    """Four calls booked together, answered 0.3 s late (a stalled process): the fifth,
    booked a window after them, waits until a whole second after the late answers."""
    clock = Clock()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    pacer = Pacer(LocalLimiter(clock=clock), need_of, sleep=sleep)
    need = Need(rates=(("channel", Rate(4, 1.0)),))
    admitted = [pacer.admit(f"m{n}", need) for n in range(4)]
    clock.now += 0.3
    for admission in admitted:
        admission.release()
    clock.now += window_ms(Rate(4, 1.0)) / 1000 - 0.3  # the fifth's slot
    assert pacer.admit("m4", need).wait == 0
    assert slept == [pytest.approx(1.3 - window_ms(Rate(4, 1.0)) / 1000)]


def test_a_mailbox_with_no_free_slot_hands_the_delivery_back():
    limiter = LocalLimiter(clock=Clock())
    pacer = Pacer(limiter, need_of, sleep=lambda _s: None)
    need = Need(slots=(("outlook:incidents@example.com", 1),))
    first = pacer.admit("a", need)
    assert first.wait == 0
    assert pacer.admit("b", need).wait == BUSY_RETRY
    first.release()
    assert pacer.admit("b", need).wait == 0


def test_channels_are_paced_on_their_team_and_mail_on_its_mailbox_requests():
    channel = Delivery(key="x/channel", kind=plans.CREATE_CHANNEL,
                       payload={"team_id": "team-1"})
    assert dict(need_of(channel).rates) == {
        "teams:team:team-1": Rate(4, 1.0), "teams:channel-writes": Rate(30, 1.0)}
    mail = Delivery(key="x/mail", kind="mail.send",
                    payload={"mailbox": "Incidents@example.com"})
    need = need_of(mail)
    assert dict(need.slots) == {"outlook:incidents@example.com": 4}
    # 10,000 requests in 10 minutes, a mail making up to three of them
    assert dict(need.rates) == {"outlook:incidents@example.com:requests": Rate(3333, 600.0)}


def test_a_fifth_channel_on_one_team_in_a_second_waits_and_another_team_does_not():
    pacer = Pacer(LocalLimiter(clock=Clock()), need_of, sleep=lambda _s: None)

    def admit(n: int, team: str):
        channel = Delivery(key=f"x{n}/channel", kind=plans.CREATE_CHANNEL,
                           payload={"team_id": team})
        return pacer.admit(f"{n}:1", need_of(channel))

    waits = [admit(n, "team-1").wait for n in range(5)]
    assert waits[:4] == [0, 0, 0, 0] and waits[4] > 0.5
    assert admit(5, "team-2").wait == 0


# ---- the runner, paced ----------------------------------------------------------------


@pytest.fixture
def paced(app, session, fake_graph):
    """Six cards for the broadcast channel in the outbox (not queued: no app context),
    and a pacer whose clock stands still until a test moves it."""
    clock = Clock()
    pacer = Pacer(LocalLimiter(clock=clock), need_of, sleep=lambda _s: None)
    rows = [outbox.add(session, key=f"test/{n}", kind=plans.POST, payload={
        "team_id": "incident-team", "channel_id": fake_graph.broadcast_channel_id,
        "html": f"<p>{n}</p>", "card": {"type": "AdaptiveCard", "body": []}})
        for n in range(6)]
    session.commit()
    return pacer, clock, [row.id for row in rows]


def run(app, session, delivery_id, pacer) -> str:
    return runner.deliver(session, delivery_id, graph_for=app.extensions["graph_for"],
                          handlers=HANDLERS, pacer=pacer)


def test_a_paced_delivery_waits_without_failing_and_keeps_its_slot(app, session, fake_graph,
                                                                     paced):
    pacer, clock, ids = paced
    outcomes = [run(app, session, each, pacer) for each in ids]
    assert outcomes == ["delivered"] * 4 + ["paced"] * 2  # four a second per channel
    waiting = session.get(Delivery, ids[4])
    assert waiting.status == PENDING and waiting.attempts == 0 and waiting.last_error is None
    slot = waiting.progress[runner.PACED_SLOT]
    # Its turn comes (the timer, or a sweep): still early, it keeps the slot it booked.
    session.execute(update(Delivery).values(next_attempt_at=waiting.created_at))
    session.commit()
    assert run(app, session, ids[4], pacer) == "paced"
    session.refresh(waiting)
    assert waiting.progress[runner.PACED_SLOT] == slot and waiting.attempts == 0
    clock.now = slot / 1000  # its slot
    session.execute(update(Delivery).values(next_attempt_at=waiting.created_at))
    session.commit()
    assert [run(app, session, each, pacer) for each in ids[4:]] == ["delivered"] * 2
    posted = fake_graph.messages(channel_id=fake_graph.broadcast_channel_id)
    cards = sorted(a["id"] for m in posted for a in m["attachments"])
    assert cards == sorted(attachment_id(f"test/{n}") for n in range(6))  # each once
    session.expire_all()
    assert {d.attempts for d in session.scalars(select(Delivery))} == {1}


def test_mail_waits_for_a_free_slot_in_its_mailbox(app, session, fake_graph):
    limiter = LocalLimiter(clock=Clock())
    pacer = Pacer(limiter, need_of, sleep=lambda _s: None)
    mail = outbox.add(session, key="test/mail", kind="mail.send", payload={
        "mailbox": "Incidents@example.com", "subject": "Update", "html": "<p>x</p>",
        "to": ["incidents@example.com"], "bcc": ["a@example.com"]})
    session.commit()
    for n in range(OUTLOOK_CONCURRENT_PER_MAILBOX):  # other workers' mail in flight
        assert limiter.hold("outlook:incidents@example.com", f"other{n}",
                            OUTLOOK_CONCURRENT_PER_MAILBOX)
    assert run(app, session, mail.id, pacer) == "paced"
    assert mail.status == PENDING and mail.attempts == 0
    limiter.free("outlook:incidents@example.com", "other0")
    session.execute(update(Delivery).values(next_attempt_at=mail.created_at))
    session.commit()
    assert run(app, session, mail.id, pacer) == "delivered"
    assert limiter.hold("outlook:incidents@example.com", "next",
                        OUTLOOK_CONCURRENT_PER_MAILBOX)  # its slot was given back


# ---- against a sandbox enforcing Microsoft's limits -------------------------------------

ADA = "ada@example.com"
BROADCAST = "19:announcements@thread.tacv2"


@pytest.fixture
def tenant(app):
    """The app on a sandbox with Microsoft's documented limits, through the real client."""
    from graph.client import GraphClient
    from graph.sandbox import SandboxServer
    from graph.tokens import sandbox_token

    with SandboxServer() as server:
        sandbox_tenant(server.state, ADA)
        server.state.add_channel("incident-team", "Announcements", BROADCAST)
        graph = GraphClient(server.graph_base_url, sandbox_token(server.graph_base_url, ADA))
        graph.broadcast_channel_id = BROADCAST
        use_graph(app, graph)
        yield server


def settle(app, session, timeout: float = 60.0) -> list[Delivery]:
    """Run jobs, paced ones too (they wait on timers), until every delivery is done; the
    sweep queues retries that RQ's scheduler would (drain runs without one)."""
    from app.jobs import sweep_outbox

    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            sweep_outbox()
        drain(app)
        jobs = app.extensions["jobs"]
        if jobs.kind != "rq":
            jobs.wait(timeout, include_delayed=True)
        session.expire_all()
        rows = list(session.scalars(select(Delivery)))
        session.commit()
        if all(row.status == DELIVERED for row in rows):
            return rows
        assert time.monotonic() < deadline, {r.key: r.status for r in rows}
        time.sleep(0.1)


def throttled(server) -> list[dict]:
    return [r for r in server.state.requests() if r["status"] == 429]


def cards_once(server, rows: list[Delivery]) -> bool:
    """Every post delivery's card is in Teams exactly once."""
    found = [a["id"] for m in server.state.messages() for a in m["attachments"]]
    wanted = [attachment_id(r.key) for r in rows if r.kind == plans.POST]
    return all(found.count(card) == 1 for card in wanted)


def declare_with_updates(app, session, org, count: int) -> None:
    from app.auth.models import User
    from app.incidents import service
    from app.updates.service import post_update

    ada = User(entra_oid="dev-ada", name="Ada", email=ADA)
    session.add(ada)
    session.commit()
    effects = app.extensions["effects"]
    with app.app_context():  # as a page does: what it commits is queued
        incident = service.declare(session, org, ada, title="Checkout failing",
                                   description="", severity="P3", effects=effects)
    settle(app, session)  # its channel exists: now the burst
    with app.app_context():
        for n in range(count):
            post_update(session, org, effects, ada, incident, phase="investigating",
                        message=f"Update {n}", to_channel=True, recipients=[])


@pytest.mark.slow
def test_a_burst_of_updates_provokes_no_throttling_and_arrives_once_each(
        app, session, org, tenant):
    declare_with_updates(app, session, org, 10)
    rows = settle(app, session)
    assert throttled(tenant) == []
    assert cards_once(tenant, rows) and len(tenant.state.messages()) == 11  # kickoff too
    assert {row.attempts for row in rows} == {1}  # waiting its turn is not an attempt


@pytest.mark.slow
def test_without_pacing_the_burst_is_throttled_and_still_arrives_once(
        app, session, org, tenant):
    app.extensions["pacer"] = None
    declare_with_updates(app, session, org, 10)
    rows = settle(app, session)
    assert throttled(tenant)  # Microsoft's limits are real in the sandbox
    assert cards_once(tenant, rows) and len(tenant.state.messages()) == 11
    assert max(row.attempts for row in rows) > 1


@pytest.mark.slow
def test_many_incidents_opened_by_alerts_at_once_provoke_no_throttling(
        app, session, tenant):
    from app.alerts import service as alerts
    from app.auth.models import User

    admin = User(entra_oid="dev-admin", name="Admin", email="admin@example.com",
                 is_admin=True)
    session.add(admin)
    session.commit()
    source, secret = alerts.create_source(session, admin, name="Probes", kind="generic",
                                          severity=None, incidents_per_hour=12)
    client = app.test_client()
    for n in range(12):  # critical: a major incident each, broadcast to one channel
        answer = client.post(f"/alerts/{source.id}", json={
            "title": f"Probe {n} failing", "severity": "critical", "fingerprint": f"p{n}"},
            headers={"Authorization": f"Bearer {secret}"})
        assert answer.status_code == 202, answer.get_json()
    rows = settle(app, session)
    assert throttled(tenant) == []
    broadcasts = tenant.state.messages(channel_id=BROADCAST)
    assert len(broadcasts) == 12 and cards_once(tenant, rows)


def test_the_local_limiter_keeps_no_empty_flight_logs():
    """A long-running process paces many channels: a key with no call in flight keeps
    nothing, even where a call was told to wait (as bookings' keys go once empty)."""
    limiter = LocalLimiter(clock=Clock())
    for n in range(50):
        rates = [(f"channel-{n}", 1, W)]
        assert limiter.depart(rates, "first") == 0
        limiter.sent(rates, "first")
        assert limiter.depart(rates, "second") > 0  # told to wait: nothing in flight
    assert limiter._flying == {}
