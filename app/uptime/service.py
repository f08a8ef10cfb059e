"""Uptime checks: administrators keep them; the scheduler claims the due ones and a job
runs each; enough failures in a row open an incident through alert intake, and the first
pass after that records the recovery on it.

Opening goes through `app.alerts.service.ingest`, as a webhook alert does, from a
built-in alert source ("Uptime checks", kind `uptime`), with one fingerprint per check:
so a check's still-open incident is never opened again, the source's hourly limit
applies, and the recovery is the same "Alert recovered at source" entry. As with alerts,
nothing here resolves an incident: a person decides users are no longer affected.
Revoking that source on the *Alert sources* page stops checks opening incidents (their
results are still kept).

A check never runs twice at once: `claim_due` takes a lease on it (a token, compared and
set in one UPDATE) before queueing its run, the run renews the lease for its timeout as
it starts, and only the holder of the token records a result. Results are kept 90 days
(RESULTS_KEPT), pruned by the scheduler's sweep a batch at a time.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.alerts import service as alert_intake
from app.alerts.models import AlertSource
from app.alerts.parse import Alert
from app.core import clock
from app.incidents.models import Service
from app.incidents.rules import RuleError
from app.uptime import probe as probes
from app.uptime.models import UptimeCheck, UptimeResult

SOURCE_KIND = "uptime"
SOURCE_NAME = "Uptime checks"
RESULTS_KEPT = timedelta(days=90)
PRUNE_BATCH = 5000
CLAIM_BATCH = 200  # checks claimed per sweep, at most (the rest on the next one)
QUEUE_LEASE = timedelta(minutes=2)  # a claimed run not started by then is claimed again
RUN_MARGIN = timedelta(seconds=30)  # beyond the timeout, for recording the result

LIMITS = {  # field: (lowest, highest, message)
    "expected_status": (100, 599, "Enter the status code to expect: 100 to 599, e.g. 200."),
    "timeout_seconds": (1, probes.MAX_TIMEOUT,
                        f"Enter the timeout in seconds: 1 to {probes.MAX_TIMEOUT}."),
    "interval_seconds": (30, 86_400,
                         "Enter how often to check, in seconds: 30 to 86,400 (a day)."),
    "failures_before_open": (1, 20, "Enter how many failures in a row open an incident: "
                                    "1 to 20."),
}


@dataclass(frozen=True)
class CheckFields:
    url: str
    expected_status: int
    timeout_seconds: int
    interval_seconds: int
    failures_before_open: int
    enabled: bool = True


# ---- administrators ---------------------------------------------------------------------


def save_check(session: Session, service: Service, check: UptimeCheck | None, actor,
               fields: CheckFields) -> UptimeCheck:
    """Add a check to `service`, or change `check`; RuleError names the field at fault."""
    try:
        url = probes.check_url(fields.url)
    except probes.UnsafeAddress as error:
        raise RuleError(str(error), "url") from error
    for name, (low, high, message) in LIMITS.items():
        value = getattr(fields, name)
        if value is None or not low <= value <= high:
            raise RuleError(message, name)
    if fields.timeout_seconds >= fields.interval_seconds:
        raise RuleError("The timeout must be shorter than the time between checks.",
                        "timeout_seconds")
    now = clock.now()
    if check is None:
        check = UptimeCheck(service=service, created_by=actor, created_at=now,
                            consecutive_failures=0, alert_firing=False, next_run_at=now)
        session.add(check)
    elif fields.enabled and not check.enabled:
        check.next_run_at = now  # turned back on: check straight away
    check.url, check.expected_status = url, fields.expected_status
    check.timeout_seconds, check.interval_seconds = fields.timeout_seconds, fields.interval_seconds
    check.failures_before_open, check.enabled = fields.failures_before_open, fields.enabled
    check.updated_at = now
    session.commit()
    return check


def set_enabled(session: Session, check: UptimeCheck, enabled: bool) -> None:
    """Disable (runs stop; results and any open incident stay) or enable (due now)."""
    now = clock.now()
    if enabled and not check.enabled:
        check.next_run_at = now
    check.enabled, check.updated_at = enabled, now
    session.commit()


def checks_of(session: Session, service_id: int) -> list[UptimeCheck]:
    return list(session.scalars(select(UptimeCheck).where(
        UptimeCheck.service_id == service_id).order_by(UptimeCheck.id)))


def latest_results(session: Session, check_id: int, limit: int = 10) -> list[UptimeResult]:
    """A check's newest results, newest first (ix_uptime_results_check_at)."""
    return list(session.scalars(select(UptimeResult).where(
        UptimeResult.check_id == check_id).order_by(UptimeResult.at.desc(),
                                                    UptimeResult.id.desc()).limit(limit)))




# ---- the scheduler's sweep --------------------------------------------------------------


def claim_due(session: Session) -> list[tuple[int, str]]:
    """Lease the enabled checks that are due and not in flight: (check id, token) each,
    for the caller to queue a run of. Compare-and-set per check, so two sweeps at once
    (a second scheduler by mistake) never claim the same check."""
    now = clock.now()
    free = or_(UptimeCheck.lease_until.is_(None), UptimeCheck.lease_until < now)
    due = list(session.scalars(select(UptimeCheck.id).where(
        UptimeCheck.enabled.is_(True), UptimeCheck.next_run_at <= now, free)
        .order_by(UptimeCheck.next_run_at).limit(CLAIM_BATCH)))
    claimed = []
    for check_id in due:
        token = secrets.token_hex(16)
        taken = session.execute(update(UptimeCheck).where(UptimeCheck.id == check_id, free)
                                .values(lease_token=token, lease_until=now + QUEUE_LEASE))
        if taken.rowcount == 1:
            claimed.append((check_id, token))
    session.commit()
    return claimed


def prune(session: Session) -> int:
    """Delete up to PRUNE_BATCH results older than RESULTS_KEPT; returns how many."""
    cutoff = clock.now() - RESULTS_KEPT
    old = select(UptimeResult.id).where(UptimeResult.at < cutoff).limit(PRUNE_BATCH)
    ids = list(session.scalars(old))
    if ids:
        session.execute(delete(UptimeResult).where(UptimeResult.id.in_(ids)))
    session.commit()
    return len(ids)


# ---- one run ----------------------------------------------------------------------------


def run(session: Session, check_id: int, token: str, *, org, effects,
        incidents_per_hour: int,
        fetch: Callable[[str, float], probes.ProbeResult] = probes.probe) -> str:
    """Run a claimed check once and act on the result; returns what happened (for the
    job's log): not-ours | disabled | passed | failed | opened | recovered."""
    now = clock.now()
    check = session.get(UptimeCheck, check_id)
    if check is None:
        session.rollback()
        return "not-ours"
    lease = now + timedelta(seconds=check.timeout_seconds) + RUN_MARGIN
    if not _renew(session, check_id, token, now, lease):
        return "not-ours"  # queued again after its lease ran out: that run has it now
    check = session.get(UptimeCheck, check_id, populate_existing=True)
    if not check.enabled:
        _release(session, check_id, token)
        return "disabled"
    url, timeout, expected = check.url, check.timeout_seconds, check.expected_status
    session.commit()  # no transaction is held open across the request
    outcome = fetch(url, timeout)
    passed = outcome.error is None and outcome.status_code == expected
    error = outcome.error
    if error is None and not passed:
        error = f"Answered {outcome.status_code}, expected {expected}."
    finished = clock.now()
    check = session.get(UptimeCheck, check_id, populate_existing=True)
    result = UptimeResult(check_id=check_id, at=finished, ok=passed,
                          status_code=outcome.status_code, response_ms=outcome.response_ms,
                          error=(error or None) and error[:probes.ERROR_MAX])
    session.add(result)
    check.consecutive_failures = 0 if passed else check.consecutive_failures + 1
    check.next_run_at = now + timedelta(seconds=check.interval_seconds)
    failures, threshold, firing = (check.consecutive_failures, check.failures_before_open,
                                   check.alert_firing)
    session.commit()  # the result is kept whatever alert intake does next

    action = "passed" if passed else "failed"
    if not passed and failures >= threshold and not firing:
        if _raise(session, org, effects, incidents_per_hour, _firing(check, result, failures)):
            action = "opened"
            _set_firing(session, check_id, True)
    elif passed and firing:
        if _raise(session, org, effects, incidents_per_hour, _recovered(check, result)):
            action = "recovered"
        _set_firing(session, check_id, False)
    _release(session, check_id, token)
    return action


def _renew(session, check_id: int, token: str, now: datetime, until: datetime) -> bool:
    renewed = session.execute(update(UptimeCheck).where(
        UptimeCheck.id == check_id, UptimeCheck.lease_token == token,
        UptimeCheck.lease_until >= now).values(lease_until=until))
    session.commit()
    return renewed.rowcount == 1


def _release(session, check_id: int, token: str) -> None:
    session.execute(update(UptimeCheck).where(
        UptimeCheck.id == check_id, UptimeCheck.lease_token == token)
        .values(lease_token=None, lease_until=None))
    session.commit()


def _set_firing(session, check_id: int, firing: bool) -> None:
    session.execute(update(UptimeCheck).where(UptimeCheck.id == check_id)
                    .values(alert_firing=firing))
    session.commit()


def fingerprint(check_id: int) -> str:
    return f"uptime-check-{check_id}"


def _firing(check: UptimeCheck, result: UptimeResult, failures: int) -> Alert:
    name = check.service.name
    return Alert(
        source=SOURCE_KIND, fingerprint=fingerprint(check.id), status="firing",
        title=f"{name} is failing its uptime check"[:200],
        description=(f"{check.url} failed {failures} checks in a row (an incident opens "
                     f"after {check.failures_before_open}). Last: {result.error}"),
        severity_hint="high", service=name, url=check.url, started_at=result.at,
        labels={"check": str(check.id), "expected_status": str(check.expected_status)})


def _recovered(check: UptimeCheck, result: UptimeResult) -> Alert:
    name = check.service.name
    return Alert(
        source=SOURCE_KIND, fingerprint=fingerprint(check.id), status="resolved",
        title=(f"{name} is passing its uptime check again ({result.status_code} in "
               f"{result.response_ms} ms)")[:200],
        description="", severity_hint=None, service=name, url=check.url,
        started_at=result.at, labels={"check": str(check.id)})


def _raise(session, org, effects, incidents_per_hour: int, alert: Alert) -> bool:
    """Hand the alert to alert intake; False when the built-in source is revoked."""
    source = uptime_source(session)
    if source.revoked_at is not None:
        session.commit()
        return False
    alert_intake.ingest(session, org, effects, source, [alert],
                        incidents_per_hour=incidents_per_hour)
    return True


def uptime_source(session: Session) -> AlertSource:
    """The built-in alert source checks open incidents from (made on first use). Its
    secret is never shown or kept, so nothing can post to /alerts/<id> as it."""
    found = session.scalar(select(AlertSource).where(AlertSource.kind == SOURCE_KIND)
                           .order_by(AlertSource.id))
    if found is not None:
        return found
    taken = session.scalar(select(func.count()).select_from(AlertSource).where(
        func.lower(AlertSource.name) == SOURCE_NAME.lower()))
    name = SOURCE_NAME if not taken else f"{SOURCE_NAME} (built in)"
    secret = secrets.token_urlsafe(32)
    session.add(AlertSource(name=name, kind=SOURCE_KIND,
                            secret_hash=hashlib.sha256(secret.encode()).hexdigest(),
                            prefix="(built in)", created_at=clock.now()))
    try:
        session.commit()
    except IntegrityError:  # made at the same moment by another run
        session.rollback()
    return session.scalar(select(AlertSource).where(AlertSource.kind == SOURCE_KIND)
                          .order_by(AlertSource.id))


# ---- the status page --------------------------------------------------------------------

WINDOW = timedelta(hours=24)
BUCKETS = 24


@dataclass(frozen=True)
class Bar:
    start: datetime
    average_ms: int | None  # of the passing checks in the hour
    checks: int
    passed: int


@dataclass(frozen=True)
class ServiceUptime:
    service_id: int
    name: str
    bars: tuple[Bar, ...]
    average_ms: int | None
    passed_percent: float | None
    checks: int

    @property
    def summary(self) -> str:
        """The chart's text alternative."""
        if not self.checks:
            return "No checks in the last 24 hours."
        average = (f"Average response {self.average_ms:,} ms" if self.average_ms is not None
                   else "No successful response")
        return (f"{average} over the last 24 hours; {format_percent(self.passed_percent)} "
                "of checks passed")

    @property
    def slowest_ms(self) -> int:
        return max([b.average_ms for b in self.bars if b.average_ms] or [1])


def format_percent(value: float | None) -> str:
    if value is None:
        return "no"
    text = f"{value:.1f}".removesuffix(".0")
    if text == "100" and value < 100:
        text = "99.9"
    return f"{text} %"


def public_uptime(session: Session) -> list[ServiceUptime]:
    """Each public service with an enabled check: its last 24 hours in hourly bars,
    average response and share of checks passed (all its checks together)."""
    # Whole hours, the current one last: the bars move on once an hour, not per request.
    end = clock.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    since = end - WINDOW
    services = list(session.execute(
        select(Service.id, Service.name).where(Service.public.is_(True)).where(
            select(UptimeCheck.id).where(UptimeCheck.service_id == Service.id,
                                         UptimeCheck.enabled.is_(True)).exists())
        .order_by(func.lower(Service.name))))
    if not services:
        return []
    rows = session.execute(
        select(UptimeCheck.service_id, UptimeResult.at, UptimeResult.ok,
               UptimeResult.response_ms)
        .join(UptimeCheck, UptimeCheck.id == UptimeResult.check_id)
        .where(UptimeCheck.service_id.in_([s.id for s in services]),
               UptimeCheck.enabled.is_(True), UptimeResult.at >= since))
    start = since
    size = WINDOW / BUCKETS
    tallies: dict[int, list[list[int]]] = {s.id: [[0, 0, 0, 0] for _ in range(BUCKETS)]
                                           for s in services}
    for service_id, at, ok, ms in rows:
        index = min(int((at - start) / size), BUCKETS - 1)
        tally = tallies[service_id][index]  # checks, passed, sum of ms, timed passes
        tally[0] += 1
        if ok:
            tally[1] += 1
            if ms is not None:
                tally[2] += ms
                tally[3] += 1
    out = []
    for service in services:
        tally = tallies[service.id]
        bars = tuple(Bar(start + size * i, round(t[2] / t[3]) if t[3] else None, t[0], t[1])
                     for i, t in enumerate(tally))
        checks = sum(t[0] for t in tally)
        passed = sum(t[1] for t in tally)
        timed = sum(t[3] for t in tally)
        out.append(ServiceUptime(
            service.id, service.name, bars,
            round(sum(t[2] for t in tally) / timed) if timed else None,
            (100.0 * passed / checks) if checks else None, checks))
    return out
