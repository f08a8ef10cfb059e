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

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.alerts.models import AlertRecord, AlertSource
from app.alerts.parse import SOURCES, Alert
from app.auth.models import User
from app.core import clock
from app.core.org import OrgSettings
from app.incidents import service as incidents
from app.incidents import timeline
from app.incidents.events import Changed, Effects
from app.incidents.models import Incident
from app.incidents.rules import RuleError

SYSTEM_OID = "system-alert-intake"
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
DESCRIPTION_MAX = 10_000


@dataclass(frozen=True)
class Outcome:
    reference: str
    action: str  # opened | fired_again | resolved | repeat

    def as_json(self) -> dict:
        return {"reference": self.reference, "action": self.action}


# ---- sources ----------------------------------------------------------------------------


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_source(session: Session, actor, *, name: str, kind: str,
                  severity: str | None) -> tuple[AlertSource, str]:
    """A new source and its secret (returned once; only its hash is stored)."""
    name = " ".join(name.split())
    if not name:
        raise RuleError("Enter a name for this source.", "name")
    if kind not in SOURCES:
        raise RuleError("Choose what sends the alerts.", "kind")
    if session.scalar(select(AlertSource.id).where(func.lower(AlertSource.name)
                                                   == name.lower())):
        raise RuleError("There is already a source with that name.", "name")
    secret = "ida_" + secrets.token_urlsafe(32)
    source = AlertSource(name=name[:80], kind=kind, secret_hash=_hash(secret),
                         prefix=secret[:12], severity=severity or None, created_by=actor,
                         created_at=clock.now())
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


def ingest(session: Session, org: OrgSettings, effects: Effects, source: AlertSource,
           alerts: list[Alert]) -> list[Outcome]:
    """Record a delivery of alerts; safe when the same condition arrives twice at once
    (the unique fingerprint makes the second wait, then count as a repeat)."""
    try:
        return _ingest(session, org, effects, source, alerts)
    except IntegrityError:
        session.rollback()  # someone recorded the same condition first: now it exists
        return _ingest(session, org, effects, source, alerts)


def _ingest(session, org, effects, source, alerts) -> list[Outcome]:
    outcomes: list[Outcome] = []
    now = clock.now()
    source.last_used_at = now
    for alert in alerts:
        record = session.scalar(select(AlertRecord).where(
            AlertRecord.source_id == source.id, AlertRecord.fingerprint == alert.fingerprint))
        if record is not None and not record.incident.is_closed:
            outcomes.append(_again(session, effects, record, alert, now))
            continue
        if alert.status == "resolved":
            continue  # a recovery for nothing we opened (or for a closed incident)
        incident = _open(session, org, effects, source, alert)
        if record is None:
            record = AlertRecord(source_id=source.id, fingerprint=alert.fingerprint,
                                 first_seen_at=now)
            session.add(record)
        record.incident_id, record.status, record.title = incident.id, "firing", alert.title
        record.url, record.times_fired, record.last_seen_at = alert.url, 1, now
        session.flush()
        outcomes.append(Outcome(incident.reference, "opened"))
    session.commit()
    return outcomes


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


def _open(session, org, effects, source: AlertSource, alert: Alert) -> Incident:
    severity = source.severity if source.severity and org.severity(source.severity) \
        else _severity_for(org, alert.severity_hint)
    new_services = [alert.service] if alert.service else []
    lines = [alert.description] if alert.description else []
    if alert.url:
        lines.append(f"Alert: {alert.url}")
    if alert.labels:
        shown = list(alert.labels.items())[:20]
        lines.append("Labels: " + ", ".join(f"{k}={v}" for k, v in shown))
    lines.append(f"Opened automatically from {source.name} ({source.kind}).")
    return incidents.declare(
        session, org, _system_user(session), title=alert.title,
        description="\n\n".join(lines)[:DESCRIPTION_MAX], severity=severity,
        new_services=new_services, take_lead=False, effects=effects, commit=False)


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

