"""Turn alert webhook payloads from monitoring tools into one shape, `Alert`.

Pure: no Flask, no database, no network. `parse(source, payload)` takes the already-decoded
JSON and returns a list of `Alert`s (one per alert in the payload; an empty `alerts` list gives
an empty list). Anything it cannot use raises `AlertPayloadError`, whose message names the
field and is safe to send back to the sender. No other exception escapes for JSON input.

Sources and where each field comes from:

azure-monitor  Azure Monitor action-group webhook with the *common alert schema* turned on
               (`schemaId` "azureMonitorCommonAlertSchema"). One alert per payload.
               fingerprint: `essentials.alertId` (the same id is sent for Fired and Resolved);
               status: `monitorCondition` Fired/Resolved; title: `alertRule`;
               description: `essentials.description` plus the metric criteria, if any;
               service: first `configurationItems` entry, else the last segment of the first
               `alertTargetIDs`; url: `investigationLink`; started_at: `firedDateTime`;
               labels: signalType, monitoringService, severity, targetResourceGroup,
               targetResourceType, then `customProperties`.
alertmanager   Prometheus Alertmanager webhook (`version` "4"). One alert per `alerts[]`.
               fingerprint: the alert's `fingerprint`, else sha256 of its sorted labels;
               title: `annotations.summary`, else `labels.alertname` (+ " on " instance);
               description: `annotations.description`; service: `labels.service`, else
               `labels.job`; url: `generatorURL`, else top-level `externalURL`.
grafana        Grafana unified alerting webhook contact point. One alert per `alerts[]`;
               as alertmanager, plus `valueString` in the description and the url taken
               from `panelURL`, `dashboardURL`, then `generatorURL`.
generic        Our own shape, one object or a list of them::

                   {"title": "...",            required
                    "status": "firing",        or "resolved"; default "firing"
                    "fingerprint": "...",      default: sha256 of title + service
                    "severity": "high",        critical/high/medium/low; others -> None
                    "description": "...", "service": "...", "url": "https://...",
                    "started_at": "2024-05-01T09:30:00Z",   no offset -> UTC
                    "labels": {"team": "payments"}}

Severity, normalised to critical/high/medium/low (or None when unknown):

* Azure: Sev0 -> critical, Sev1 -> high, Sev2 -> medium, Sev3 and Sev4 -> low.
* Alertmanager and Grafana `labels.severity`, case-insensitive: see `LABEL_SEVERITY`
  (critical/page/fatal/emergency/p1 -> critical; high/error/major/p2 -> high;
  warning/warn/medium/moderate/average/p3 -> medium; info/low/minor/notice/debug/p4/p5
  -> low).

Text is cleaned: control characters (and bidi overrides and lone surrogates, which break
display and UTF-8) are removed; titles, services and label keys are collapsed onto one line;
everything is cut to the limits below, ending in "…" when cut. Timestamps become
timezone-aware UTC; Go's zero time ("0001-01-01T00:00:00Z") becomes None. URLs that are not
absolute http(s) become None.

Strict about types (a `title` that is a list is an error naming `title`); lenient about
optional fields that are missing or null. Label values are coerced to strings.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from urllib.parse import urlsplit

SOURCES = ("azure-monitor", "grafana", "alertmanager", "generic")
STATUSES = ("firing", "resolved")
SEVERITIES = ("critical", "high", "medium", "low")

MAX_FINGERPRINT = 200
MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
MAX_SERVICE = 120
MAX_LABELS = 50
MAX_LABEL_KEY = 100
MAX_LABEL_VALUE = 500
MAX_URL = 2048  # a longer URL is dropped (None), never cut: a cut URL points elsewhere
# Alerts in one request: more is refused before any is read (TooManyAlerts), so one
# request cannot become thousands of incidents' work. Alertmanager's webhook_config
# `max_alerts` keeps its requests under it.
MAX_ALERTS = 100

AZURE_COMMON_SCHEMA = "azureMonitorCommonAlertSchema"

AZURE_SEVERITY = {
    "sev0": "critical",
    "sev1": "high",
    "sev2": "medium",
    "sev3": "low",
    "sev4": "low",
}

# Prometheus has no fixed severity vocabulary; these are the values seen in common rule sets.
LABEL_SEVERITY = {
    "critical": "critical",
    "crit": "critical",
    "page": "critical",
    "fatal": "critical",
    "emergency": "critical",
    "emerg": "critical",
    "disaster": "critical",
    "p1": "critical",
    "high": "high",
    "error": "high",
    "err": "high",
    "major": "high",
    "p2": "high",
    "warning": "medium",
    "warn": "medium",
    "medium": "medium",
    "moderate": "medium",
    "average": "medium",
    "p3": "medium",
    "info": "low",
    "informational": "low",
    "information": "low",
    "low": "low",
    "minor": "low",
    "notice": "low",
    "debug": "low",
    "none": "low",
    "p4": "low",
    "p5": "low",
}


@dataclass(frozen=True)
class Alert:
    source: str
    fingerprint: str
    status: str
    title: str
    description: str
    severity_hint: str | None
    service: str | None
    url: str | None
    started_at: datetime | None
    # Read-only; left out of the hash (a mapping is not hashable) but compared for equality.
    labels: Mapping[str, str] = field(hash=False)


class AlertPayloadError(ValueError):
    """The payload cannot be used; the message says what is wrong and is safe to show."""


class TooManyAlerts(AlertPayloadError):
    """More alerts in one payload than MAX_ALERTS (the sender should send smaller batches)."""


def parse(source: str, payload: object) -> list[Alert]:
    """payload is the already-decoded JSON. Raises AlertPayloadError on a wrong shape or
    unknown source, TooManyAlerts (before reading any) above MAX_ALERTS."""
    if not isinstance(source, str) or source not in SOURCES:
        raise AlertPayloadError(
            f"unknown alert source {_quote(source)}; expected one of: {', '.join(SOURCES)}"
        )
    count = _alert_count(source, payload)
    if count > MAX_ALERTS:
        raise TooManyAlerts(
            f"this request has {count} alerts; at most {MAX_ALERTS} are accepted in one "
            f"request: send them in batches of {MAX_ALERTS} or fewer"
        )
    return _PARSERS[source](payload)


def _alert_count(source: str, payload: object) -> int:
    """How many alerts the payload holds, counted without reading them."""
    if source == "generic":
        return len(payload) if isinstance(payload, list) else 1
    if source in ("alertmanager", "grafana") and isinstance(payload, dict):
        entries = payload.get("alerts")
        return len(entries) if isinstance(entries, list) else 0
    return 1  # Azure: one alert per notification


# --- Azure Monitor (common alert schema) -------------------------------------------------


def _parse_azure(payload: object) -> list[Alert]:
    root = _need_object(payload, "payload")
    schema_id = root.get("schemaId")
    if not isinstance(schema_id, str) or schema_id.strip().lower() != AZURE_COMMON_SCHEMA.lower():
        got = f" (got schemaId {_quote(schema_id)})" if schema_id is not None else ""
        raise AlertPayloadError(
            "Azure Monitor alerts must use the common alert schema: turn on "
            "'Enable the common alert schema' for this webhook in the action group" + got
        )
    data = _need_object(root.get("data"), "data")
    essentials = _need_object(data.get("essentials"), "data.essentials")
    path = "data.essentials"

    alert_id = _text(essentials, "alertId", path)
    if not alert_id or not _one_line(alert_id):
        raise AlertPayloadError(f"{path}.alertId is required")
    condition = _text(essentials, "monitorCondition", path)
    status = {"fired": "firing", "resolved": "resolved"}.get((condition or "").strip().lower())
    if status is None:
        raise AlertPayloadError(f"{path}.monitorCondition must be 'Fired' or 'Resolved'")

    rule = _text(essentials, "alertRule", path)
    severity = _text(essentials, "severity", path)
    description = _text(essentials, "description", path) or ""
    criteria = _azure_criteria(data.get("alertContext"))
    if criteria:
        description = "\n\n".join(part for part in (description.strip(), criteria) if part)

    items = _string_list(essentials, "configurationItems", path)
    targets = _string_list(essentials, "alertTargetIDs", path)
    service = next((item for item in items if item.strip()), None)
    if service is None and targets:
        service = targets[0].rstrip("/").rsplit("/", 1)[-1]

    labels: dict[str, object] = {}
    for key in ("signalType", "monitoringService", "severity", "targetResourceGroup",
                "targetResourceType"):
        value = _text(essentials, key, path)
        if value:
            labels[key] = value
    custom = _optional_object(data.get("customProperties"), "data.customProperties")
    for key, value in (custom or {}).items():
        labels.setdefault(str(key), value)

    return [_build(
        source="azure-monitor",
        raw_fingerprint=alert_id,
        status=status,
        title_candidates=(rule, "Azure Monitor alert"),
        description=description,
        severity=AZURE_SEVERITY.get((severity or "").strip().lower()),
        service=service,
        urls=(_text(essentials, "investigationLink", path),),
        started_at=_vendor_time(_text(essentials, "firedDateTime", path)),
        labels=labels,
    )]


def _azure_criteria(context: object) -> str:
    """One line per metric criterion ("Percentage CPU GreaterThan 25: value 31.1"). The
    alert context differs by signal type and is not validated: only what fits is used."""
    if not isinstance(context, dict):
        return ""
    condition = context.get("condition")
    if not isinstance(condition, dict) or not isinstance(condition.get("allOf"), list):
        return ""
    lines = []
    for criterion in condition["allOf"][:20]:
        if not isinstance(criterion, dict):
            continue
        name = criterion.get("metricName")
        if not isinstance(name, str) or not name.strip():
            continue
        parts = [name]
        for key in ("operator", "threshold"):
            if _is_scalar(criterion.get(key)):
                parts.append(_scalar_str(criterion[key]))
        line = " ".join(parts)
        if _is_scalar(criterion.get("metricValue")):
            line += f": value {_scalar_str(criterion['metricValue'])}"
        lines.append(line)
    return "\n".join(lines)


# --- Prometheus Alertmanager and Grafana ---------------------------------------------------


def _parse_alertmanager(payload: object) -> list[Alert]:
    root = _need_object(payload, "payload")
    version = _text(root, "version", "")
    if version is not None and version.strip() != "4":
        raise AlertPayloadError(
            f"unsupported Alertmanager webhook version {_quote(version)}; expected '4'"
        )
    external_url = _text(root, "externalURL", "")
    return [
        _group_alert("alertmanager", root, entry, path, "Alertmanager alert",
                     urls=(_text(entry, "generatorURL", path), external_url))
        for entry, path in _alert_entries(root)
    ]


def _parse_grafana(payload: object) -> list[Alert]:
    root = _need_object(payload, "payload")
    if "alerts" not in root and ("ruleName" in root or "evalMatches" in root):
        raise AlertPayloadError(
            "this looks like a legacy Grafana alerting payload; send alerts from a unified "
            "alerting webhook contact point (it has an 'alerts' list)"
        )
    group_title = _text(root, "title", "")
    alerts = []
    for entry, path in _alert_entries(root):
        value_string = _text(entry, "valueString", path)
        urls = tuple(_text(entry, key, path) for key in ("panelURL", "dashboardURL",
                                                          "generatorURL"))
        alerts.append(_group_alert("grafana", root, entry, path, "Grafana alert", urls=urls,
                                   extra_description=value_string, group_title=group_title))
    return alerts


def _alert_entries(root: dict) -> list[tuple[dict, str]]:
    if "alerts" not in root or root["alerts"] is None:
        raise AlertPayloadError("alerts is required: a list of alerts")
    entries = root["alerts"]
    if not isinstance(entries, list):
        raise AlertPayloadError(f"alerts must be a list, not {_type_name(entries)}")
    return [(_need_object(entry, f"alerts[{i}]"), f"alerts[{i}]")
            for i, entry in enumerate(entries)]


def _group_alert(source: str, root: dict, entry: dict, path: str, fallback_title: str, *,
                 urls: tuple[str | None, ...], extra_description: str | None = None,
                 group_title: str | None = None) -> Alert:
    labels = _label_map(entry.get("labels"), f"{path}.labels")
    annotations = _label_map(entry.get("annotations"), f"{path}.annotations", coerce=False)

    status_text = _text(entry, "status", path)
    if status_text is None:
        status_text = _text(root, "status", "") or "firing"
    status = status_text.strip().lower()
    if status not in STATUSES:
        where = f"{path}.status" if entry.get("status") is not None else "status"
        raise AlertPayloadError(f"{where} must be 'firing' or 'resolved'")

    name = labels.get("alertname", "")
    instance = labels.get("instance", "")
    name_title = f"{name} on {instance}" if name.strip() and instance.strip() else name

    description = annotations.get("description", "")
    if extra_description and extra_description.strip():
        description = "\n\n".join(
            part for part in (description.strip(), f"Values: {extra_description}") if part
        )

    raw_fingerprint = _text(entry, "fingerprint", path)
    if not raw_fingerprint or not _one_line(raw_fingerprint):
        raw_fingerprint = "sha256:" + _digest(sorted(labels.items()))

    service = labels.get("service", "")
    if not _one_line(service):
        service = labels.get("job")

    return _build(
        source=source,
        raw_fingerprint=raw_fingerprint,
        status=status,
        title_candidates=(annotations.get("summary"), name_title, group_title, fallback_title),
        description=description,
        severity=LABEL_SEVERITY.get(labels.get("severity", "").strip().lower()),
        service=service,
        urls=urls,
        started_at=_vendor_time(_text(entry, "startsAt", path)),
        labels=labels,
    )


# --- generic -------------------------------------------------------------------------------


def _parse_generic(payload: object) -> list[Alert]:
    if isinstance(payload, list):
        return [_generic_one(_need_object(item, f"[{i}]"), f"[{i}]")
                for i, item in enumerate(payload)]
    return [_generic_one(_need_object(payload, "payload"), "")]


def _generic_one(item: dict, path: str) -> Alert:
    title = _text(item, "title", path)
    if title is None or not _one_line(title):
        raise AlertPayloadError(f"{_join(path, 'title')} is required")

    status = (_text(item, "status", path) or "firing").strip().lower()
    if status not in STATUSES:
        raise AlertPayloadError(f"{_join(path, 'status')} must be 'firing' or 'resolved'")

    service = _text(item, "service", path)
    raw_fingerprint = _text(item, "fingerprint", path)
    if not raw_fingerprint or not _one_line(raw_fingerprint):
        raw_fingerprint = "sha256:" + _digest([_one_line(title), _one_line(service or "")])

    severity = (_text(item, "severity", path) or "").strip().lower()
    started = _text(item, "started_at", path)
    started_at = _parse_time(started) if started and started.strip() else None
    if started and started.strip() and started_at is None and not _is_zero_time(started):
        raise AlertPayloadError(
            f"{_join(path, 'started_at')} must be an ISO 8601 timestamp, "
            "e.g. 2024-05-01T09:30:00Z"
        )

    return _build(
        source="generic",
        raw_fingerprint=raw_fingerprint,
        status=status,
        title_candidates=(title,),
        description=_text(item, "description", path) or "",
        severity=severity if severity in SEVERITIES else None,
        service=service,
        urls=(_text(item, "url", path),),
        started_at=started_at,
        labels=_label_map(item.get("labels"), _join(path, "labels")),
    )


_PARSERS = {
    "azure-monitor": _parse_azure,
    "alertmanager": _parse_alertmanager,
    "grafana": _parse_grafana,
    "generic": _parse_generic,
}


# --- building and cleaning -----------------------------------------------------------------


def _build(*, source: str, raw_fingerprint: str, status: str,
           title_candidates: tuple[str | None, ...], description: str, severity: str | None,
           service: str | None, urls: tuple[str | None, ...], started_at: datetime | None,
           labels: Mapping[str, object]) -> Alert:
    title = next((t for t in map(_one_line, filter(None, title_candidates)) if t), source)
    service_line = _one_line(service or "")
    return Alert(
        source=source,
        fingerprint=_fingerprint(source, raw_fingerprint),
        status=status,
        title=_cut(title, MAX_TITLE),
        description=_cut(_multi_line(description), MAX_DESCRIPTION),
        severity_hint=severity,
        service=_cut(service_line, MAX_SERVICE) if service_line else None,
        url=next((u for u in map(_http_url, urls) if u), None),
        started_at=started_at,
        labels=_display_labels(labels),
    )


def _fingerprint(source: str, raw: str) -> str:
    """`source:raw`, or `source:sha256:<hex of raw>` when raw is too long to keep whole (a cut
    id could collide with another)."""
    cleaned = _one_line(raw)
    candidate = f"{source}:{cleaned}"
    if len(candidate) <= MAX_FINGERPRINT:
        return candidate
    return f"{source}:sha256:{_digest(cleaned)}"


def _digest(value: object) -> str:
    # ensure_ascii keeps any stray surrogate encodable.
    return hashlib.sha256(json.dumps(value, separators=(",", ":")).encode("ascii")).hexdigest()


_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _one_line(text: str) -> str:
    """Whitespace (newlines too) collapsed to single spaces; control characters removed."""
    return " ".join(_CONTROL.sub("", " ".join(text.split())).split())


def _multi_line(text: str) -> str:
    """Newlines and tabs kept, other control characters removed, trailing spaces trimmed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [_CONTROL.sub("", line).rstrip() for line in text.split("\n")]
    return "\n".join(lines).strip()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _http_url(value: str | None) -> str | None:
    if not value:
        return None
    url = value.strip()
    if not url or len(url) > MAX_URL or _CONTROL.search(url) or any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return url


def _display_labels(labels: Mapping[str, object]) -> Mapping[str, str]:
    """At most MAX_LABELS, in key order, keys and values on one line and cut."""
    out: dict[str, str] = {}
    for key in sorted(labels, key=str):
        clean_key = _cut(_one_line(str(key)), MAX_LABEL_KEY)
        if not clean_key or clean_key in out:
            continue
        out[clean_key] = _cut(_one_line(_coerce(labels[key])), MAX_LABEL_VALUE)
        if len(out) == MAX_LABELS:
            break
    return MappingProxyType(out)


# --- reading fields ------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "an unsupported value"


def _quote(value: object) -> str:
    """A short, cleaned rendering of a value the sender gave, for error messages."""
    if not isinstance(value, str):
        return f"({_type_name(value)})"
    return "'" + _cut(_one_line(value), 60) + "'"


def _need_object(value: object, path: str) -> dict:
    if not isinstance(value, dict):
        raise AlertPayloadError(f"{path} must be an object, not {_type_name(value)}")
    return value


def _optional_object(value: object, path: str) -> dict | None:
    return None if value is None else _need_object(value, path)


def _text(parent: dict, key: str, path: str) -> str | None:
    """parent[key] as a string; None when missing or null; an error naming it otherwise."""
    value = parent.get(key)
    if value is None or isinstance(value, str):
        return value
    raise AlertPayloadError(f"{_join(path, key)} must be a string, not {_type_name(value)}")


def _string_list(parent: dict, key: str, path: str) -> list[str]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise AlertPayloadError(f"{_join(path, key)} must be a list of strings")
    return value


def _label_map(value: object, path: str, *, coerce: bool = True) -> dict[str, str]:
    """A flat object of strings. Labels coerce other values to strings; annotations, which
    become the title and description, must be strings (or null, which is skipped)."""
    if value is None:
        return {}
    mapping = _need_object(value, path)
    out: dict[str, str] = {}
    for key, item in mapping.items():
        if item is None:
            continue
        if isinstance(item, str):
            out[str(key)] = item
        elif coerce:
            out[str(key)] = _coerce(item)
        else:
            raise AlertPayloadError(f"{path}.{_cut(_one_line(str(key)), 60)} must be a string, "
                                    f"not {_type_name(item)}")
    return out


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float)  # bool is an int


def _scalar_str(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        return str(value)
    except ValueError:  # an int too long to print (Python's digit limit)
        return ""


def _coerce(value: object) -> str:
    """A label value as a string: scalars as JSON would spell them, lists and objects as
    compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if _is_scalar(value):
        return _scalar_str(value)
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return ""


# --- time ----------------------------------------------------------------------------------


def _is_zero_time(text: str) -> bool:
    return text.strip().startswith("0001-01-01")


def _parse_time(text: str) -> datetime | None:
    """ISO 8601 to aware UTC; None for Go's zero time and anything unreadable. A timestamp
    without an offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return None if moment.year <= 1 else moment


def _vendor_time(text: str | None) -> datetime | None:
    """Vendors' timestamps are read leniently: a format we cannot read is just no time."""
    return _parse_time(text) if text else None
