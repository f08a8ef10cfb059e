"""Alert webhook payloads into one shape, without Flask or a database.

The samples in samples/ are built from the vendors' documented examples (Azure Monitor
common alert schema, Alertmanager webhook version 4, Grafana webhook contact point).
"""

import copy
import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.alerts.parse import (
    MAX_DESCRIPTION,
    MAX_FINGERPRINT,
    MAX_LABEL_VALUE,
    MAX_LABELS,
    MAX_SERVICE,
    MAX_TITLE,
    SOURCES,
    Alert,
    AlertPayloadError,
    parse,
)

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def one(source: str, payload: object) -> Alert:
    alerts = parse(source, payload)
    assert len(alerts) == 1
    return alerts[0]


def am_payload(**alert) -> dict:
    """A minimal Alertmanager payload around one alert."""
    return {"version": "4", "status": "firing", "alerts": [alert]}


def azure_payload(**essentials) -> dict:
    base = {"alertId": "/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/a1",
            "alertRule": "rule", "monitorCondition": "Fired"}
    return {"schemaId": "azureMonitorCommonAlertSchema",
            "data": {"essentials": {**base, **essentials}, "alertContext": {}}}


# --- Azure Monitor ---------------------------------------------------------------------------


def test_azure_fired_sample():
    """Every field is taken from where the common schema documents it."""
    alert = one("azure-monitor", sample("azure-monitor-fired"))
    assert alert.source == "azure-monitor"
    assert alert.fingerprint == (
        "azure-monitor:/subscriptions/11111111-2222-3333-4444-555555555555/providers/"
        "Microsoft.AlertsManagement/alerts/7d1c2a90-6a8e-4f5b-9a43-2f0e8c6b1d24"
    )
    assert alert.status == "firing"
    assert alert.title == "checkout-api CPU above 90%"
    assert alert.description.startswith("Average CPU on the checkout VM")
    assert "Percentage CPU GreaterThan 90: value 96.412" in alert.description
    assert alert.severity_hint == "high"
    assert alert.service == "vm-checkout-01"
    assert alert.url.startswith("https://portal.azure.com/")
    assert alert.started_at == datetime(2024, 5, 1, 9, 31, 12, 371321, tzinfo=UTC)
    assert alert.labels["signalType"] == "Metric"
    assert alert.labels["severity"] == "Sev1"
    assert alert.labels["team"] == "payments"  # from customProperties


def test_azure_resolved_keeps_the_fingerprint():
    """Resolved must find the incident the Fired notification opened."""
    fired = one("azure-monitor", sample("azure-monitor-fired"))
    resolved = one("azure-monitor", sample("azure-monitor-resolved"))
    assert resolved.status == "resolved"
    assert resolved.fingerprint == fired.fingerprint
    assert resolved.started_at == fired.started_at


def test_azure_non_common_schema_says_to_turn_it_on():
    """The older per-signal schemas have different fields; the fix is one tick box."""
    with pytest.raises(AlertPayloadError, match="common alert schema") as error:
        parse("azure-monitor", sample("azure-monitor-metric-alert-legacy"))
    assert "AzureMonitorMetricAlert" in str(error.value)
    with pytest.raises(AlertPayloadError, match="turn on"):
        parse("azure-monitor", {"data": {}})


def test_azure_service_from_target_id_when_no_configuration_items():
    alert = one("azure-monitor", azure_payload(alertTargetIDs=[
        "/subscriptions/s/resourcegroups/rg/providers/microsoft.web/sites/app-orders/"]))
    assert alert.service == "app-orders"
    assert one("azure-monitor", azure_payload()).service is None


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("Sev0", "critical"), ("Sev1", "high"), ("Sev2", "medium"), ("Sev3", "low"),
     ("Sev4", "low"), ("sev2", "medium"), ("Sev5", None), ("", None), (None, None)],
)
def test_azure_severity_map(severity, expected):
    assert one("azure-monitor", azure_payload(severity=severity)).severity_hint == expected


def test_azure_monitor_condition_is_required():
    """Without it we cannot tell a firing alert from its resolution."""
    with pytest.raises(AlertPayloadError, match="monitorCondition must be 'Fired' or 'Resolved'"):
        parse("azure-monitor", azure_payload(monitorCondition=None))
    with pytest.raises(AlertPayloadError, match=r"data\.essentials\.alertId is required"):
        parse("azure-monitor", azure_payload(alertId="  "))


# --- Alertmanager ----------------------------------------------------------------------------


def test_alertmanager_firing_sample():
    """One Alert per entry; Go's zero endsAt is ignored; times become UTC."""
    first, second = parse("alertmanager", sample("alertmanager-firing"))
    assert first.fingerprint == "alertmanager:1a30ba71cca2921f"
    assert first.status == "firing"
    assert first.title == "Probe failing: https://shop.example.org"
    assert first.description.endswith("\nCheck the load balancer first.")
    assert first.severity_hint == "critical"
    assert first.service == "shop-frontend"
    assert first.url.startswith("https://prometheus.example.org/graph")
    assert first.started_at == datetime(2024, 5, 1, 9, 30, 45, 828000, tzinfo=UTC)
    assert dict(first.labels)["instance"] == "https://shop.example.org"

    assert second.title == "ProbeFailure on https://api.example.org/health"  # no summary
    assert second.service == "blackbox_http"  # no service label: the job
    assert second.started_at == datetime(2024, 5, 1, 9, 31, 2, 739266, tzinfo=UTC)


def test_alertmanager_resolved_keeps_the_fingerprint():
    firing = parse("alertmanager", sample("alertmanager-firing"))[0]
    (resolved,) = parse("alertmanager", sample("alertmanager-resolved"))
    assert resolved.status == "resolved"
    assert resolved.fingerprint == firing.fingerprint


def test_alertmanager_fingerprint_from_labels_when_missing():
    """Older senders omit it: a hash of the labels is the same while firing and resolved,
    whatever order the labels come in."""
    labels = {"alertname": "DiskFull", "instance": "db-1:9100", "severity": "warning"}
    firing = one("alertmanager", am_payload(status="firing", labels=labels))
    resolved = one("alertmanager", am_payload(
        status="resolved", labels=dict(reversed(list(labels.items())))))
    other = one("alertmanager", am_payload(labels={**labels, "instance": "db-2:9100"}))
    assert firing.fingerprint.startswith("alertmanager:sha256:")
    assert firing.fingerprint == resolved.fingerprint
    assert other.fingerprint != firing.fingerprint


def test_alertmanager_title_and_service_fallbacks():
    assert one("alertmanager", am_payload(labels={"alertname": "Down"})).title == "Down"
    assert one("alertmanager", am_payload()).title == "Alertmanager alert"
    assert one("alertmanager", am_payload()).service is None
    alert = one("alertmanager", am_payload(labels={"service": " ", "job": "node"}))
    assert alert.service == "node"


def test_alertmanager_status_from_the_group_when_the_alert_has_none():
    payload = {"version": "4", "status": "resolved", "alerts": [{"labels": {"a": "b"}}]}
    assert one("alertmanager", payload).status == "resolved"


def test_alertmanager_url_falls_back_to_external_url():
    payload = am_payload(generatorURL="javascript:alert(1)")
    payload["externalURL"] = "https://am.example.org"
    assert one("alertmanager", payload).url == "https://am.example.org"


@pytest.mark.parametrize(
    ("label", "expected"),
    [("critical", "critical"), ("page", "critical"), ("P1", "critical"),
     ("high", "high"), ("error", "high"), ("major", "high"),
     ("warning", "medium"), ("Warn", "medium"), ("medium", "medium"),
     ("info", "low"), ("low", "low"), ("minor", "low"), ("none", "low"),
     ("whatever", None), ("", None)],
)
def test_label_severity_map(label, expected):
    """The same map serves Alertmanager and Grafana, which share the label convention."""
    for source in ("alertmanager", "grafana"):
        alert = one(source, am_payload(labels={"severity": label}))
        assert alert.severity_hint == expected


def test_empty_alerts_list_is_not_an_error():
    """Alertmanager can send a group whose alerts were all truncated."""
    assert parse("alertmanager", {"version": "4", "alerts": []}) == []
    assert parse("grafana", {"alerts": []}) == []
    assert parse("generic", []) == []


# --- Grafana -----------------------------------------------------------------------------------


def test_grafana_sample():
    """panelURL is the most specific link; valueString tells the responder the numbers."""
    memory, cpu = parse("grafana", sample("grafana-firing"))
    assert memory.fingerprint == "grafana:c6eadffa33fcdf37"
    assert memory.title == "High memory usage on ledger (eu-west-1)"
    assert memory.severity_hint == "medium"
    assert memory.service == "ledger"
    assert memory.url == "https://grafana.example.org/d/ledger-hosts?viewPanel=4"
    assert "Values: [ var='B'" in memory.description
    assert memory.started_at == datetime(2024, 5, 1, 9, 51, 3, 157076, tzinfo=UTC)

    assert cpu.title == "High CPU usage"
    assert cpu.severity_hint is None
    assert cpu.url == "https://grafana.example.org/alerting/grafana/d1rdpdv7k/view"  # empty
    assert cpu.labels["grafana_folder"] == "Payments"                            # panel URL


def test_grafana_resolved_keeps_the_fingerprint():
    payload = sample("grafana-firing")
    payload["alerts"][0]["status"] = "resolved"
    assert parse("grafana", payload)[0].fingerprint == "grafana:c6eadffa33fcdf37"
    assert parse("grafana", payload)[0].status == "resolved"


def test_grafana_legacy_alerting_payload_is_explained():
    legacy = {"ruleName": "CPU alert", "state": "alerting", "evalMatches": [], "title": "x"}
    with pytest.raises(AlertPayloadError, match="legacy Grafana alerting"):
        parse("grafana", legacy)


# --- generic ---------------------------------------------------------------------------------


def test_generic_sample():
    alert = one("generic", sample("generic"))
    assert alert.title == "Nightly payroll export failed"
    assert alert.status == "firing"
    assert alert.severity_hint == "high"
    assert alert.service == "payroll-export"
    assert alert.url == "https://jobs.example.org/runs/8841"
    assert alert.started_at == datetime(2024, 5, 1, 1, 4, 10, tzinfo=UTC)
    assert dict(alert.labels) == {"team": "hr-systems", "attempts": "3", "retrying": "false"}


def test_generic_defaults():
    """Only the title is required; the default fingerprint follows title and service."""
    alert = one("generic", {"title": "Backups late"})
    assert alert.status == "firing"
    assert alert.description == ""
    assert alert.severity_hint is None
    assert alert.service is alert.url is alert.started_at is None
    assert dict(alert.labels) == {}
    again = one("generic", {"title": "  Backups   late ", "status": "resolved"})
    assert again.fingerprint == alert.fingerprint
    assert one("generic", {"title": "Backups late", "service": "nas"}).fingerprint != \
        alert.fingerprint


def test_generic_given_fingerprint_and_list():
    alerts = parse("generic", [{"title": "A", "fingerprint": "job-42"}, {"title": "B"}])
    assert [a.title for a in alerts] == ["A", "B"]
    assert alerts[0].fingerprint == "generic:job-42"


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("critical", "critical"), ("HIGH", "high"), ("medium", "medium"), ("low", "low"),
     ("warning", None), ("sev1", None)],
)
def test_generic_severity(severity, expected):
    """Our own shape: only our four words; vendor words mean the sender should map them."""
    assert one("generic", {"title": "t", "severity": severity}).severity_hint == expected


@pytest.mark.parametrize(
    ("started_at", "expected"),
    [("2024-05-01T09:30:00Z", datetime(2024, 5, 1, 9, 30, tzinfo=UTC)),
     ("2024-05-01T11:30:00+02:00", datetime(2024, 5, 1, 9, 30, tzinfo=UTC)),
     ("2024-05-01T09:30:00", datetime(2024, 5, 1, 9, 30, tzinfo=UTC)),  # no offset: UTC
     ("2024-05-01T09:30:00.123456789Z", datetime(2024, 5, 1, 9, 30, 0, 123456, tzinfo=UTC)),
     ("0001-01-01T00:00:00Z", None),
     ("0001-01-01T00:00:00+05:00", None),
     ("", None)],
)
def test_timestamps(started_at, expected):
    alert = one("generic", {"title": "t", "started_at": started_at})
    assert alert.started_at == expected
    assert alert.started_at is None or alert.started_at.tzinfo is UTC


def test_vendor_timestamps_are_read_leniently():
    """We do not control the vendors' formats: unreadable is no time, not a rejection."""
    alert = one("alertmanager", am_payload(startsAt="yesterday"))
    assert alert.started_at is None


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "payload", "message"),
    [
        ("generic", {"title": ["a", "b"]}, "title must be a string, not a list"),
        ("generic", {"title": {"x": 1}}, "title must be a string, not an object"),
        ("generic", {}, "title is required"),
        ("generic", {"title": " \n\t"}, "title is required"),
        ("generic", [{"title": "ok"}, {"title": 3}], r"\[1\].title must be a string"),
        ("generic", [{"title": "ok"}, "oops"], r"\[1\] must be an object"),
        ("generic", {"title": "t", "status": "open"}, "status must be 'firing' or 'resolved'"),
        ("generic", {"title": "t", "labels": ["a"]}, "labels must be an object"),
        ("generic", {"title": "t", "started_at": "soon"}, "started_at must be an ISO 8601"),
        ("generic", {"title": "t", "url": 5}, "url must be a string, not a number"),
        ("generic", "title", "payload must be an object, not a string"),
        ("alertmanager", [], "payload must be an object, not a list"),
        ("alertmanager", {"version": "4"}, "alerts is required"),
        ("alertmanager", {"alerts": {}}, "alerts must be a list, not an object"),
        ("alertmanager", {"alerts": [None]}, r"alerts\[0\] must be an object, not null"),
        ("alertmanager", am_payload(labels="a=b"), r"alerts\[0\].labels must be an object"),
        ("alertmanager", am_payload(annotations={"summary": 1}),
         r"alerts\[0\].annotations.summary must be a string"),
        ("alertmanager", am_payload(status="pending"),
         r"alerts\[0\].status must be 'firing' or 'resolved'"),
        ("alertmanager", {"version": "3", "alerts": []}, "unsupported Alertmanager webhook"),
        ("grafana", am_payload(fingerprint=True), r"alerts\[0\].fingerprint must be a string"),
        ("azure-monitor", {"schemaId": "azureMonitorCommonAlertSchema"}, "data must be an object"),
        ("azure-monitor", azure_payload(configurationItems="vm"),
         "configurationItems must be a list of strings"),
        ("azure-monitor", azure_payload(alertRule=False), "alertRule must be a string"),
    ],
)
def test_error_messages_name_the_field(source, payload, message):
    """The sender sees the message, so it must say which field is wrong and how."""
    with pytest.raises(AlertPayloadError, match=message):
        parse(source, payload)


def test_unknown_source():
    with pytest.raises(AlertPayloadError, match="unknown alert source 'pagerduty'"):
        parse("pagerduty", {})
    with pytest.raises(AlertPayloadError, match="expected one of: azure-monitor"):
        parse(None, {})


def test_error_messages_do_not_echo_long_or_hidden_text():
    """A hostile schemaId is cut and cleaned before it goes back into a response."""
    with pytest.raises(AlertPayloadError) as error:
        parse("azure-monitor", {"schemaId": "<script>\x00" + "x" * 5000})
    assert len(str(error.value)) < 300
    assert "\x00" not in str(error.value)


# --- cleaning and limits ---------------------------------------------------------------------


def test_truncation_to_the_limits():
    alert = one("generic", {
        "title": "T" * 500,
        "description": "D" * 50_000,
        "service": "S" * 300,
        "labels": {f"k{i:03}": "v" * 2_000 for i in range(80)},
    })
    assert len(alert.title) == MAX_TITLE and alert.title.endswith("…")
    assert len(alert.description) == MAX_DESCRIPTION and alert.description.endswith("…")
    assert len(alert.service) == MAX_SERVICE
    assert len(alert.labels) == MAX_LABELS
    assert list(alert.labels)[:2] == ["k000", "k001"]  # sorted, so the same 50 every time
    assert all(len(v) == MAX_LABEL_VALUE for v in alert.labels.values())


def test_long_fingerprint_is_hashed_not_cut():
    """Two long ids sharing a 200-character prefix must not collide."""
    a = one("generic", {"title": "t", "fingerprint": "x" * 300 + "a"})
    b = one("generic", {"title": "t", "fingerprint": "x" * 300 + "b"})
    assert len(a.fingerprint) <= MAX_FINGERPRINT
    assert a.fingerprint.startswith("generic:sha256:")
    assert a.fingerprint != b.fingerprint
    assert a == one("generic", {"title": "t", "fingerprint": "x" * 300 + "a"})


def test_text_is_cleaned():
    """Control characters, bidi overrides and lone surrogates would corrupt display or UTF-8;
    titles are one line; descriptions keep their line breaks."""
    alert = one("generic", {
        "title": "  Disk\x00 full\n\non\t db-1 \u202eevil\u202c ",
        "description": "line one\r\nline\x07 two\n\tindented \ud800",
        "service": "db\x1b[31m-1",
        "labels": {"note": "a\nb", "bad\x00key": "v"},
    })
    assert alert.title == "Disk full on db-1 evil"
    assert alert.description == "line one\nline two\n\tindented"
    assert alert.service == "db[31m-1"
    assert dict(alert.labels) == {"note": "a b", "badkey": "v"}
    alert.description.encode("utf-8")


@pytest.mark.parametrize(
    ("url", "expected"),
    [("https://example.org/a?b=c", "https://example.org/a?b=c"),
     ("HTTP://example.org", "HTTP://example.org"),
     ("  https://example.org  ", "https://example.org"),
     ("javascript:alert(1)", None), ("ftp://example.org/x", None), ("/relative", None),
     ("https://", None), ("https://exa mple.org", None), ("http://[::1", None),
     ("https://example.org/" + "a" * 3000, None), ("", None)],
)
def test_only_http_urls(url, expected):
    assert one("generic", {"title": "t", "url": url}).url == expected


def test_alert_is_immutable_and_hashable():
    """Callers may put alerts in sets to deduplicate; labels cannot be changed behind them."""
    alert = one("generic", sample("generic"))
    assert alert in {alert}
    with pytest.raises(TypeError):
        alert.labels["team"] = "other"


# --- fuzz ------------------------------------------------------------------------------------

_STRINGS = ["", " ", "firing", "resolved", "Fired", "Resolved", "Sev0", "critical", "x" * 300,
            "0001-01-01T00:00:00Z", "2024-05-01T09:30:00+02:00", "9999-12-31T23:59:59-05:00",
            "0001-01-01T00:00:00+05:00", "not a time", "https://example.org", "javascript:x",
            "http://[::1", "\x00\x1b\u202e", "\ud800", "a\nb", "azureMonitorCommonAlertSchema",
            "4", "fingerprint", "labels", "alerts", "title"]
_KEYS = ["title", "status", "fingerprint", "severity", "description", "service", "url",
         "started_at", "labels", "alerts", "annotations", "startsAt", "generatorURL",
         "externalURL", "version", "schemaId", "data", "essentials", "alertContext",
         "customProperties", "alertId", "alertRule", "monitorCondition", "configurationItems",
         "alertTargetIDs", "firedDateTime", "investigationLink", "condition", "allOf",
         "metricName", "metricValue", "summary", "alertname", "instance", "job", "panelURL",
         "dashboardURL", "valueString", "ruleName", "x"]


def _random_json(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 4, 10**30, 2**63])
    if kind == 3:
        return rng.choice([0.5, -1e308, float("nan"), float("inf")])
    if kind in (4, 5):
        return rng.choice(_STRINGS)
    if kind == 6:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(_KEYS): _random_json(rng, depth + 1) for _ in range(rng.randrange(5))}


def _mutate(rng: random.Random, value: object) -> object:
    """Replace, drop or add one node somewhere inside a valid sample."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        choice = rng.random()
        if choice < 0.15:
            del value[key]
        elif choice < 0.3:
            value[key] = _random_json(rng)
        else:
            value[key] = _mutate(rng, value[key])
        return value
    if isinstance(value, list) and value and rng.random() < 0.8:
        i = rng.randrange(len(value))
        value[i] = _mutate(rng, value[i])
        return value
    return _random_json(rng)


def _check(alert: Alert, source: str) -> None:
    assert isinstance(alert, Alert)
    assert alert.source == source
    assert alert.fingerprint.startswith(source + ":") and len(alert.fingerprint) <= 200
    assert len(alert.fingerprint) > len(source) + 1
    assert alert.status in ("firing", "resolved")
    assert alert.title and len(alert.title) <= 200 and "\n" not in alert.title
    assert len(alert.description) <= 10_000
    assert alert.severity_hint in ("critical", "high", "medium", "low", None)
    assert alert.service is None or 0 < len(alert.service) <= 120
    assert alert.url is None or alert.url.lower().startswith(("http://", "https://"))
    assert alert.started_at is None or alert.started_at.utcoffset().total_seconds() == 0
    assert len(alert.labels) <= 50
    assert all(isinstance(k, str) and isinstance(v, str) and len(v) <= 500
               for k, v in alert.labels.items())
    for text in (alert.title, alert.description, alert.service or "", *alert.labels.values()):
        text.encode("utf-8")  # no lone surrogates
        assert "\x00" not in text


_SAMPLES_BY_SOURCE = {
    "azure-monitor": ["azure-monitor-fired", "azure-monitor-resolved"],
    "alertmanager": ["alertmanager-firing", "alertmanager-resolved"],
    "grafana": ["grafana-firing"],
    "generic": ["generic"],
}


@pytest.mark.parametrize("source", SOURCES)
def test_fuzz_only_alerts_or_payload_errors(source):
    """Whatever JSON arrives, the webhook gets a list of valid Alerts or an
    AlertPayloadError (a 400), never another exception (a 500)."""
    rng = random.Random(f"alerts-{source}")  # fixed seed: a failure can be replayed
    bases = [sample(name) for name in _SAMPLES_BY_SOURCE[source]]
    outcomes = {"alerts": 0, "errors": 0}
    for i in range(3000):
        if i % 3 == 0:
            payload = _random_json(rng)
        else:
            payload = copy.deepcopy(rng.choice(bases))
            for _ in range(rng.randrange(1, 4)):
                payload = _mutate(rng, payload)
        try:
            alerts = parse(source, payload)
        except AlertPayloadError as error:
            assert str(error)
            outcomes["errors"] += 1
            continue
        assert isinstance(alerts, list)
        for alert in alerts:
            _check(alert, source)
        outcomes["alerts"] += 1
    assert outcomes["alerts"] > 100 and outcomes["errors"] > 100  # both paths exercised


def test_deeply_nested_label_value():
    """json.loads accepts deep nesting; coercing it to a label string must not blow up."""
    deep: object = "x"
    for _ in range(5_000):
        deep = [deep]
    alert = one("generic", {"title": "t", "labels": {"deep": deep}})
    assert len(alert.labels.get("deep", "")) <= MAX_LABEL_VALUE
