"""Alerts in, incidents out: a new alerting condition opens an incident, a repeat or a
recovery is recorded on the incident it opened (deduplicated by fingerprint).

Alerts never resolve or close an incident: the symptoms stopping is not the same as
users no longer being affected, and that call is a person's. A recovery is put on the
timeline for them to see.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from app.alerts.models import AlertRecord, AlertSource
from app.alerts.parse import SOURCES, Alert
from app.auth.models import User
from app.core import clock
from app.core.org import OrgSettings
from app.incidents import service as incidents
from app.incidents import timeline
from app.incidents.events import Changed, Effects
from app.incidents.models import Incident, Service
from app.incidents.rules import RuleError, normalise_service_name

SYSTEM_OID = "system-alert-intake"
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
DESCRIPTION_MAX = 10_000
MAX_PER_HOUR = 100  # a source's own limit of incidents an hour, at most
LIMIT_MESSAGE = f"Enter how many incidents it may open in an hour: between 0 and {MAX_PER_HOUR}."


@dataclass(frozen=True)
class Outcome:
    reference: str
    action: str  # opened | grouped | fired_again | resolved | repeat

    def as_json(self) -> dict:
        return {"reference": self.reference, "action": self.action}


# ---- sources ----------------------------------------------------------------------------


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_source(session: Session, actor, *, name: str, kind: str, severity: str | None,
                  incidents_per_hour: int | None = None) -> tuple[AlertSource, str]:
    """A new source and its secret (returned once; only its hash is stored).
    `incidents_per_hour` None: the installation's limit (ALERT_INCIDENTS_PER_HOUR)."""
    name = " ".join(name.split())
    if not name:
        raise RuleError("Enter a name for this source.", "name")
    if kind not in SOURCES:
        raise RuleError("Choose what sends the alerts.", "kind")
    if incidents_per_hour is not None and not 0 <= incidents_per_hour <= MAX_PER_HOUR:
        raise RuleError(LIMIT_MESSAGE, "incidents_per_hour")
    if session.scalar(select(AlertSource.id).where(func.lower(AlertSource.name)
                                                   == name.lower())):
        raise RuleError("There is already a source with that name.", "name")
    secret = "ida_" + secrets.token_urlsafe(32)
    source = AlertSource(name=name[:80], kind=kind, secret_hash=_hash(secret),
                         prefix=secret[:12], severity=severity or None, created_by=actor,
                         created_at=clock.now(), incidents_per_hour=incidents_per_hour)
    session.add(source)
    session.commit()
    return source, secret


def authenticate(session: Session, source_id: int, secret: str | None) -> AlertSource | None:
    """The source if the secret is its own and it is not revoked."""
    source = session.get(AlertSource, source_id)
    if source is None or source.revoked_at is not None or not secret:
        return None
    if not hmac.compare_digest(source.secret_hash, _hash(secret)):
        return None
    return source


def revoke(session: Session, source: AlertSource) -> None:
    source.revoked_at = clock.now()
    session.commit()


def sources(session: Session) -> list[AlertSource]:
    return list(session.scalars(select(AlertSource).order_by(func.lower(AlertSource.name))))


# ---- intake -----------------------------------------------------------------------------

# Alerts per transaction: on SQLite every write transaction holds the database's write lock
# (BEGIN IMMEDIATE), so a request commits this many at a time and other writers (a note, a
# status update) get their turns in between.
BATCH_SIZE = 25
LIMIT_WINDOW = timedelta(hours=1)
GROUPED_TITLES_SHOWN = 10


def ingest(session: Session, org: OrgSettings, effects: Effects, source: AlertSource,
           alerts: list[Alert], *, incidents_per_hour: int) -> list[Outcome]:
    """Record a delivery of alerts, BATCH_SIZE to a transaction. A source opens at most
    its own limit (else `incidents_per_hour`) of incidents in an hour; further new
    conditions are grouped into one incident for it. Safe when the same condition
    arrives twice at once (the unique fingerprint makes the second wait, then its batch
    runs again and counts it as a repeat)."""
    source_id = source.id
    outcomes: list[Outcome] = []
    for start in range(0, max(len(alerts), 1), BATCH_SIZE):
        batch = alerts[start:start + BATCH_SIZE]
        try:
            outcomes += _ingest_batch(session, org, effects, source_id, batch,
                                      incidents_per_hour)
        except IntegrityError:
            session.rollback()  # someone recorded the same condition first: now it exists
            outcomes += _ingest_batch(session, org, effects, source_id, batch,
                                      incidents_per_hour)
    return outcomes


def _ingest_batch(session, org, effects, source_id: int, alerts: list[Alert],
                  default_limit: int) -> list[Outcome]:
    now = clock.now()
    # Locked (PostgreSQL; SQLite's writers already take turns): two deliveries from one
    # source count its openings one after the other, so neither overshoots the limit.
    source = session.get(AlertSource, source_id, with_for_update=True, populate_existing=True)
    source.last_used_at = now
    limit = default_limit if source.incidents_per_hour is None else source.incidents_per_hour
    records = _records(session, source_id, alerts)
    catalogue = _catalogue_matches(session, alerts)
    opened = _opened_since(session, source_id, now - LIMIT_WINDOW)
    outcomes: list[Outcome] = []
    grouped: list[Alert] = []
    for alert in alerts:
        record = records.get(alert.fingerprint)
        if record is not None and not record.incident.is_closed:
            outcomes.append(_again(session, effects, record, alert, now))
            continue
        if alert.status == "resolved":
            continue  # a recovery for nothing we opened (or for a closed incident)
        if opened < limit:
            incident = _open(session, org, effects, source, alert, catalogue)
            opened_at, action = now, "opened"
            opened += 1
        else:
            incident = _grouping_incident(session, org, effects, source, alert, limit)
            opened_at, action = None, "grouped"
            grouped.append(alert)
        if record is None:
            record = AlertRecord(source_id=source_id, fingerprint=alert.fingerprint,
                                 first_seen_at=now)
            session.add(record)
            records[alert.fingerprint] = record
        record.incident, record.status, record.title = incident, "firing", alert.title
        record.url, record.times_fired, record.last_seen_at = alert.url, 1, now
        record.opened_at = opened_at
        session.flush()
        outcomes.append(Outcome(incident.reference, action))
    if grouped:
        _note_grouped(session, effects, source, grouped, limit)
    session.commit()
    return outcomes


def _records(session, source_id: int, alerts: list[Alert]) -> dict[str, AlertRecord]:
    """The batch's known conditions and their incidents, in one query each."""
    fingerprints = {a.fingerprint for a in alerts}
    if not fingerprints:
        return {}
    return {r.fingerprint: r for r in session.scalars(
        select(AlertRecord).options(selectinload(AlertRecord.incident)).where(
            AlertRecord.source_id == source_id, AlertRecord.fingerprint.in_(fingerprints)))}


def _opened_since(session, source_id: int, since) -> int:
    """Incidents the source opened since then. (A condition that opens a second incident
    after a person closed its first counts once: that needs a person, not a flood.)"""
    return session.scalar(select(func.count()).select_from(AlertRecord).where(
        AlertRecord.source_id == source_id, AlertRecord.opened_at >= since))


def _catalogue_matches(session, alerts: list[Alert]) -> dict[str, Service]:
    """The catalogue services the alerts name (case-insensitively). Alerts never add
    services: a label is whatever the sender says, and a flood of them would bury the
    catalogue."""
    keys = {_service_key(a.service) for a in alerts if a.service}
    if not keys:
        return {}
    found = session.scalars(select(Service).where(func.lower(Service.name).in_(keys)))
    return {_service_key(s.name): s for s in found}


def _service_key(name: str) -> str:
    return normalise_service_name(name).lower()


def _again(session, effects, record: AlertRecord, alert: Alert, now) -> Outcome:
    incident = record.incident
    record.last_seen_at = now
    if alert.status == "resolved":
        if record.status == "resolved":
            return Outcome(incident.reference, "repeat")
        record.status = "resolved"
        _note(session, effects, incident, "alert_resolved",
              f"Alert recovered at source ({record.source.name}): {alert.title}. Check users "
              "are no longer affected before resolving the incident.", alert)
        return Outcome(incident.reference, "resolved")
    record.times_fired += 1
    if record.status == "resolved":  # it came back
        record.status = "firing"
        _note(session, effects, incident, "alert_fired",
              f"Alert firing again ({record.source.name}): {alert.title}", alert)
        return Outcome(incident.reference, "fired_again")
    return Outcome(incident.reference, "repeat")  # still firing: nothing new to say


def _open(session, org, effects, source: AlertSource, alert: Alert,
          catalogue: dict[str, Service]) -> Incident:
    service = catalogue.get(_service_key(alert.service)) if alert.service else None
    lines = [alert.description] if alert.description else []
    if alert.service and service is None:
        lines.append(f"Service named by the alert (not in the catalogue): {alert.service}")
    if alert.url:
        lines.append(f"Alert: {alert.url}")
    if alert.labels:
        shown = list(alert.labels.items())[:20]
        lines.append("Labels: " + ", ".join(f"{k}={v}" for k, v in shown))
    lines.append(f"Opened automatically from {source.name} ({source.kind}).")
    return incidents.declare(
        session, org, _system_user(session), title=alert.title,
        description="\n\n".join(lines)[:DESCRIPTION_MAX], severity=_severity(org, source, alert),
        service_ids=[service.id] if service else [], take_lead=False, effects=effects,
        commit=False)


def _grouping_incident(session, org, effects, source: AlertSource, alert: Alert,
                       limit: int) -> Incident:
    """The one incident a source's alerts beyond its limit share, while it is open."""
    incident = source.grouping_incident
    if incident is not None and not incident.is_closed:
        return incident
    incident = incidents.declare(
        session, org, _system_user(session),
        title=f"More alerts from {source.name}, grouped",
        description=(f"{source.name} opened its limit of {limit} incidents in the last hour, "
                     "so its further alerts are grouped here instead of opening more. The "
                     "timeline lists them; when one fires again or recovers, that is "
                     f"recorded here too.\n\nOpened automatically from {source.name} "
                     f"({source.kind})."),
        severity=_severity(org, source, alert), take_lead=False, effects=effects,
        commit=False)
    source.grouping_incident = incident
    return incident


def _note_grouped(session, effects, source: AlertSource, grouped: list[Alert],
                  limit: int) -> None:
    """One timeline entry for a batch's grouped alerts, saying why they are here."""
    incident = source.grouping_incident
    shown = [f"{a.title} (service: {a.service})" if a.service else a.title
             for a in grouped[:GROUPED_TITLES_SHOWN]]
    rest = len(grouped) - len(shown)
    noun = "alert" if len(grouped) == 1 else "alerts"
    text = (f"{len(grouped)} more {noun} grouped here because {source.name} opened its "
            f"limit of {limit} incidents in the last hour: " + "; ".join(shown)
            + (f"; and {rest} more." if rest else "."))
    entry = timeline.record(incident, "alerts_grouped", text,
                            data={"fingerprints": [a.fingerprint for a in grouped]},
                            session=session)
    incident.updated_at = entry.created_at
    effects.publish(session, Changed(incident=incident))


def _severity(org: OrgSettings, source: AlertSource, alert: Alert) -> str:
    if source.severity and org.severity(source.severity):
        return source.severity
    return _severity_for(org, alert.severity_hint)


def _severity_for(org: OrgSettings, hint: str | None) -> str:
    """critical → the most severe level, high → the next, ...; unknown → the middle."""
    keys = [s.key for s in org.severities]
    rank = SEVERITY_RANK.get(hint or "", 2)
    return keys[min(rank, len(keys) - 1)]


def _note(session, effects, incident: Incident, kind: str, text: str, alert: Alert) -> None:
    entry = timeline.record(incident, kind, text,
                            data={"fingerprint": alert.fingerprint, "url": alert.url},
                            session=session)
    incident.updated_at = entry.created_at
    effects.publish(session, Changed(incident=incident))


def _system_user(session: Session) -> User:
    """Who "declared" an alert's incident: shown as Alert intake; the work it causes in
    Microsoft 365 falls back to the configured service account."""
    user = session.scalar(select(User).where(User.entra_oid == SYSTEM_OID))
    if user is None:
        user = User(entra_oid=SYSTEM_OID, name="Alert intake",
                    email="alert-intake@incident-desk.invalid")
        session.add(user)
        session.flush()
    return user

