"""Uptime checks (issue 18, replacing Upptime), against HTTP servers this test starts on
127.0.0.1 only: failures in a row open one incident through alert intake, the recovery
is recorded on it, timeouts fail, a check never runs twice at once, bodies are read only
so far, the forms are administrators' (with CSRF), and the status page draws the times
with a text alternative and nothing of a security incident."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import delete, func, select

from app import jobs
from app.alerts.models import AlertRecord
from app.core import clock
from app.incidents.models import Incident, Service, TimelineEntry
from app.uptime import probe as probes
from app.uptime import service as uptime
from app.uptime.models import UptimeCheck, UptimeResult
from tests.conftest import drain


class Behaviour:
    """What the test server does next; tests change it between runs."""

    def __init__(self):
        self.status = 200
        self.delay = 0.0  # before answering
        self.trickle = 0.0  # seconds between body bytes (a server that never finishes)
        self.body = b"ok"
        self.location = None
        self.hits = 0


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        b: Behaviour = self.server.behaviour
        b.hits += 1
        if self.path.startswith("/loop"):
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
            return
        if self.path.startswith("/moved-here"):
            self.send_response(302)
            self.send_header("Location", "/health")
            self.end_headers()
            return
        time.sleep(b.delay)
        self.send_response(b.status)
        if b.location:
            self.send_header("Location", b.location)
        if b.trickle:
            self.end_headers()
            with contextlib.suppress(OSError):  # the check gave up at its deadline
                for _ in range(100):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(b.trickle)
            return
        self.send_header("Content-Length", str(len(b.body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the check stopped reading, past BODY_CAP
            self.wfile.write(b.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.behaviour = Behaviour()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _no_checks_left(app):
    """Uptime rows go with their service; emptied here too, whatever the database."""
    yield
    from app.db import Session

    Session.remove()
    with app.extensions["db_engine"].begin() as conn:
        conn.execute(delete(UptimeResult.__table__))
        conn.execute(delete(UptimeCheck.__table__))


def make_check(session, url: str, *, name="Payments", public=True, **fields) -> int:
    service = session.scalar(select(Service).where(Service.name == name))
    if service is None:
        service = Service(name=name, public=public)
        session.add(service)
        session.flush()
    values = dict(url=url, expected_status=200, timeout_seconds=2, interval_seconds=30,
                  failures_before_open=3, enabled=True)
    values.update(fields)
    check = uptime.save_check(session, service, None, None, uptime.CheckFields(**values))
    return check.id


def tick(app, frozen_clock, seconds=30) -> None:
    """One scheduler sweep, which runs the due checks itself (app/cron.py's thread), then
    the deliveries an opened incident queued."""
    with app.app_context():
        jobs.sweep_uptime_checks()
    drain(app)
    frozen_clock.advance(seconds=seconds)


def test_checks_run_in_the_scheduler_never_on_the_delivery_workers(
        app, session, server, frozen_clock):
    """A target that hangs for its whole timeout must not hold a worker that posts to
    Teams during the outage it found: the sweep runs the check before it returns."""
    check_id = make_check(session, server.url + "/health")
    session.commit()
    with app.app_context():
        assert jobs.sweep_uptime_checks() == 1
        jobs_queue = app.extensions["jobs"]
        if jobs_queue.kind == "rq":
            assert "app.jobs.run_uptime_check" not in [
                job.func_name for job in jobs_queue.queue.get_jobs()]
    [result] = session.scalars(select(UptimeResult).where(UptimeResult.check_id == check_id))
    assert result.ok


def incidents_of(session) -> list[Incident]:
    found = list(session.scalars(select(Incident).order_by(Incident.id)))
    session.commit()
    return found


def test_a_failing_check_opens_one_incident_after_the_failures_and_records_the_recovery(
        app, session, server, frozen_clock):
    server.behaviour.status = 503
    check_id = make_check(session, server.url + "/health", failures_before_open=3)
    tick(app, frozen_clock)
    tick(app, frozen_clock)
    assert incidents_of(session) == []  # two failures: not yet
    tick(app, frozen_clock)
    [incident] = incidents_of(session)  # the third opens it
    assert incident.title == "Payments is failing its uptime check"
    assert [s.name for s in incident.services] == ["Payments"]
    assert not incident.is_security
    record = session.scalar(select(AlertRecord))
    assert record.fingerprint == uptime.fingerprint(check_id)
    assert record.source.kind == "uptime"
    session.commit()
    tick(app, frozen_clock)
    tick(app, frozen_clock)
    assert len(incidents_of(session)) == 1  # still failing: the same incident, not another

    server.behaviour.status = 200
    tick(app, frozen_clock)
    tick(app, frozen_clock)
    [incident] = incidents_of(session)
    recovered = list(session.scalars(select(TimelineEntry).where(
        TimelineEntry.incident_id == incident.id, TimelineEntry.kind == "alert_resolved")))
    assert len(recovered) == 1  # recorded once, by the first pass
    assert "Payments is passing its uptime check again (200 in" in recovered[0].text
    assert incident.status == "investigating"  # a person resolves it, as with alerts
    results = list(session.scalars(select(UptimeResult.ok).order_by(UptimeResult.id)))
    assert results == [False] * 5 + [True] * 2
    session.commit()

    server.behaviour.status = 500  # failing again while that incident is still open
    for _ in range(3):
        tick(app, frozen_clock)
    assert len(incidents_of(session)) == 1
    fired = session.scalar(select(func.count()).select_from(TimelineEntry).where(
        TimelineEntry.kind == "alert_fired"))
    assert fired == 1  # "firing again" on the open incident
    session.commit()


def test_a_timeout_is_a_failure_and_the_deadline_holds_against_a_trickling_server(
        app, session, server, frozen_clock):
    server.behaviour.delay = 8.0
    started = time.monotonic()
    result = probes.probe(server.url + "/slow", 1)
    assert time.monotonic() - started < 5  # cut at 1 s, far short of the 8 s
    assert result.status_code is None and result.error == "No complete answer within 1 s."

    server.behaviour.delay, server.behaviour.trickle = 0.0, 0.2  # 100 bytes over 20 s
    started = time.monotonic()
    result = probes.probe(server.url + "/trickle", 1)
    assert time.monotonic() - started < 5  # cut at 1 s, far short of the 20 s
    assert result.error == "No complete answer within 1 s."

    server.behaviour.trickle, server.behaviour.delay = 0.0, 3.0
    check_id = make_check(session, server.url + "/health", timeout_seconds=1,
                          failures_before_open=1)
    tick(app, frozen_clock)
    [result] = session.scalars(select(UptimeResult).where(UptimeResult.check_id == check_id))
    assert not result.ok and result.error == "No complete answer within 1 s."
    session.commit()
    assert len(incidents_of(session)) == 1  # one failure was all this check allows


def test_a_check_never_runs_twice_at_once(app, session, server, frozen_clock):
    check_id = make_check(session, server.url + "/health")
    [(claimed, token)] = uptime.claim_due(session)
    assert claimed == check_id
    assert uptime.claim_due(session) == []  # queued and not started: still leased

    frozen_clock.advance(minutes=3)  # the queued run never started: claimed afresh
    [(_, second)] = uptime.claim_due(session)
    assert second != token
    org, effects = app.extensions["org"], app.extensions["effects"]
    assert uptime.run(session, check_id, token, org=org, effects=effects,
                      incidents_per_hour=5) == "not-ours"
    assert session.scalar(select(func.count()).select_from(UptimeResult)) == 0
    session.commit()

    entered, leave = threading.Event(), threading.Event()
    outcomes = []

    def held_fetch(url, timeout):
        entered.set()
        assert leave.wait(10)
        return probes.probe(url, timeout)

    def in_flight():
        from app.db import Session

        with app.app_context():
            outcomes.append(uptime.run(Session, check_id, second, org=org, effects=effects,
                                       incidents_per_hour=5, fetch=held_fetch))
            Session.remove()

    runner = threading.Thread(target=in_flight)
    runner.start()
    try:
        assert entered.wait(10)
        # Still due (its run has not finished), but in flight: leased for the run's
        # timeout and a margin, which a run bounded by its timeout cannot outlast.
        frozen_clock.advance(seconds=20)
        session.expire_all()
        assert uptime.claim_due(session) == []
    finally:
        leave.set()
        runner.join(20)
    assert outcomes == ["passed"]
    assert session.scalar(select(func.count()).select_from(UptimeResult)) == 1
    check = session.get(UptimeCheck, check_id)
    assert check.lease_token is None
    session.commit()
    frozen_clock.advance(seconds=30)
    assert [c for c, _ in uptime.claim_due(session)] == [check_id]  # free once it is done


def test_a_body_is_read_only_so_far_and_redirects_stay_on_the_host(server):
    server.behaviour.body = b"x" * (2 * 1024 * 1024)
    result = probes.probe(server.url + "/big", 5)
    assert result.status_code == 200 and result.error is None
    assert result.body_bytes == probes.BODY_CAP

    server.behaviour.body = b"ok"
    result = probes.probe(server.url + "/moved-here", 5)
    assert result.status_code == 200  # same host: followed
    hits = server.behaviour.hits
    result = probes.probe(server.url + "/loop", 5)
    assert result.status_code == 302
    assert server.behaviour.hits - hits == probes.MAX_REDIRECTS + 1  # then it stops

    server.behaviour.status, server.behaviour.location = 302, "http://example.invalid/x"
    result = probes.probe(server.url + "/away", 5)
    assert result.status_code == 302  # another host: never fetched


@pytest.mark.parametrize("url, message", [
    ("ftp://127.0.0.1/", "must start with https:// or http://"),
    ("file:///etc/passwd", "must start with https:// or http://"),
    ("http://user:pw@127.0.0.1/", "must not contain a user name or password"),
    ("http://169.254.169.254/latest/meta-data", "may not reach 169.254.169.254"),
    ("http://[fe80::1]/", "may not reach fe80::1"),
    ("http://[::ffff:169.254.169.254]/", "may not reach 169.254.169.254"),
    ("http:///nohost", "must name a host"),
])
def test_only_http_addresses_a_check_may_reach(url, message):
    with pytest.raises(probes.UnsafeAddress, match=message):
        probes.check_url(url)
    result = probes.probe(url, 1)  # and the run refuses it too, without connecting
    assert result.status_code is None and message in result.error


def test_checks_are_administrators_with_csrf_and_clear_errors(app, browser, other_browser,
                                                              session, server):
    service = Service(name="Search <b>", public=True)
    session.add(service)
    session.commit()
    new = f"/services/{service.id}/uptime-checks/new"
    fields = {"url": server.url + "/health", "expected_status": "200", "timeout_seconds": "5",
              "interval_seconds": "60", "failures_before_open": "3", "enabled": "y"}

    other_browser.sign_in(name="Ada", email="ada@example.com")
    assert other_browser.get(new).status_code == 403
    page = other_browser.get(f"/services/{service.id}").get_data(as_text=True)
    assert "No uptime checks." in page and "Add an uptime check" not in page
    browser.sign_in(name="Grace", email="grace@example.com", admin=True)
    no_token = browser.client.post(new, data=fields)
    assert no_token.status_code == 400
    assert session.scalar(select(func.count()).select_from(UptimeCheck)) == 0
    session.commit()

    for bad, message in [({"url": "ftp://127.0.0.1/"}, "must start with https:// or http://"),
                         ({"url": "x" * 2001}, "2,000 characters or fewer"),
                         ({"timeout_seconds": "31"}, "Enter the timeout in seconds: 1 to 30."),
                         ({"interval_seconds": "ten"}, "Enter how often to check"),
                         ({"expected_status": "700"}, "Enter the status code to expect"),
                         ({"failures_before_open": "0"}, "failures in a row open an incident"),
                         ({"timeout_seconds": "30", "interval_seconds": "30"},
                          "The timeout must be shorter than the time between checks.")]:
        response = browser.submit(new, data={**fields, **bad})
        assert response.status_code == 400, bad
        assert message in response.get_data(as_text=True), bad
    assert session.scalar(select(func.count()).select_from(UptimeCheck)) == 0
    session.commit()

    response = browser.submit(new, data=fields)
    assert response.status_code == 302
    check = session.scalar(select(UptimeCheck))
    assert (check.url, check.timeout_seconds, check.enabled) == (server.url + "/health", 5, True)
    check_id = check.id
    session.commit()
    response = browser.submit(f"/uptime-checks/{check_id}/edit",
                              data={**fields, "failures_before_open": "2"})
    assert response.status_code == 302
    page = browser.get(f"/services/{service.id}").get_data(as_text=True)
    assert "Search &lt;b&gt;" in page and "<b>" not in page.split("<main", 1)[1]
    assert "an incident opens after 2 failures in a row" in page

    service_page = f"/services/{service.id}"
    response = browser.submit(service_page, f"/uptime-checks/{check_id}/disable")
    assert response.status_code == 302
    assert session.get(UptimeCheck, check_id).enabled is False
    session.commit()
    assert browser.client.post(f"/uptime-checks/{check_id}/enable").status_code == 400
    ada = other_browser
    assert ada.submit(service_page, f"/uptime-checks/{check_id}/enable").status_code == 403
    assert ada.submit(service_page, f"/uptime-checks/{check_id}/edit",
                      data=fields).status_code == 403
    assert session.get(UptimeCheck, check_id).enabled is False
    session.commit()


def test_the_status_page_draws_response_times_with_a_text_alternative(
        app, browser, session, frozen_clock):
    payments = make_check(session, "http://127.0.0.1:9/health", name="Pay <script>x</script>")
    hidden = make_check(session, "http://127.0.0.1:9/internal", name="Back office",
                        public=False)
    at = clock.now()
    times = [200, 224] * 250  # 500 passes, average 212 ms
    for i, ms in enumerate(times):
        session.add(UptimeResult(check_id=payments, at=at - timedelta(minutes=2 * i), ok=True,
                                 status_code=200, response_ms=ms))
    session.add(UptimeResult(check_id=payments, at=at - timedelta(minutes=1), ok=False,
                             error="Answered 503, expected 200."))
    session.add(UptimeResult(check_id=payments, at=at - timedelta(days=2), ok=False))
    session.add(UptimeResult(check_id=hidden, at=at, ok=True, status_code=200,
                             response_ms=5))
    session.commit()

    page = browser.get("/status").get_data(as_text=True)
    assert "Response times" in page
    assert ("Average response 212 ms over the last 24 hours; 99.8 % of checks passed"
            in page)
    assert 'role="img" aria-labelledby="uptime-summary-' in page
    assert "Pay &lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page
    assert "Back office" not in page  # not a public service
    assert "127.0.0.1:9" not in page and "Answered 503" not in page  # no address, no error
    assert page.count("<rect ") == uptime.BUCKETS

    session.add(UptimeResult(check_id=payments, at=clock.now(), ok=False))
    session.commit()
    page = browser.get("/status").get_data(as_text=True)  # a new result: drawn afresh
    assert "99.6 % of checks passed" in page


def test_nothing_about_a_security_incident_reaches_the_status_page(
        app, browser, session, server, frozen_clock):
    make_check(session, server.url + "/health")
    service_id = session.scalar(select(Service.id))
    session.commit()
    tick(app, frozen_clock)
    browser.sign_in(name="Sam", email="sam@example.com", security=True)
    browser.declare(title="Payroll data exfiltrated", is_security="y",
                    services=[str(service_id)], description="Attacker in the payroll box")
    browser.client.post("/sign-out", data={})
    anonymous = app.test_client()
    page = anonymous.get("/status").get_data(as_text=True)
    assert "Response times" in page and "Payments" in page
    assert "Payroll" not in page and "exfiltrated" not in page and "Attacker" not in page
