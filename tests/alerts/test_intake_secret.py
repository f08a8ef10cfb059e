"""The alert secret travels in the Authorization header only (issue 15): a secret in the
address lands in access logs, so `?token=` is refused, and senders that cannot set a
header use HTTP Basic credentials, which their client sends as a header."""

from __future__ import annotations

import base64
import re

import pytest
from sqlalchemy import func, select

from app.alerts import service
from app.alerts.models import AlertSource
from app.auth.models import User
from app.incidents.models import Incident


@pytest.fixture
def source(session):
    admin = User(entra_oid="dev-admin", name="Admin", email="admin@example.com",
                 is_admin=True)
    session.add(admin)
    session.commit()
    made, secret = service.create_source(session, admin, name="Azure prod",
                                         kind="generic", severity=None)
    return made.id, secret


def basic(user: str, password: str) -> dict:
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def incidents(session) -> int:
    session.expire_all()
    total = session.scalar(select(func.count()).select_from(Incident))
    session.commit()
    return total


def test_a_secret_in_the_address_is_refused_with_how_to_send_it(app, session, source):
    source_id, secret = source
    client = app.test_client()
    response = client.post(f"/alerts/{source_id}?token={secret}", json={"title": "x"})
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert "Authorization: Bearer <secret>" in error and "?token=" in error
    assert 'Bearer realm="incident-desk-alerts"' in response.headers["WWW-Authenticate"]
    # Even alongside a good header: the secret has already been written to the logs.
    response = client.post(f"/alerts/{source_id}?token={secret}", json={"title": "x"},
                           headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401
    assert incidents(session) == 0


def test_http_basic_credentials_carry_the_secret_as_the_password(app, session, source):
    source_id, secret = source
    client = app.test_client()
    response = client.post(f"/alerts/{source_id}", json={"title": "CPU high"},
                           headers=basic("alerts", secret))
    assert response.status_code == 202, response.get_json()
    assert client.post(f"/alerts/{source_id}", json={"title": "y"},
                       headers=basic("alerts", secret[:-1] + "x")).status_code == 401
    assert client.post(f"/alerts/{source_id}", json={"title": "y"},
                       headers={"Authorization": "Basic not-base64!"}).status_code == 401
    assert client.post(f"/alerts/{source_id}", json={"title": "y"},
                       headers=basic(secret, "")).status_code == 401
    assert incidents(session) == 1


def test_the_sources_page_says_how_each_sender_sends_the_secret(app, browser, session):
    browser.sign_in(admin=True)
    response = browser.submit("/alerts/sources", data={"name": "Azure prod",
                                                       "kind": "azure-monitor"})
    page = response.get_data(as_text=True)
    assert response.status_code == 201
    assert "?token=" not in page
    assert "Authorization: Bearer" in page
    made = session.scalar(select(AlertSource))
    secret = re.search(r"ida_[\w-]+", page)[0]
    # Azure action groups have no header settings: Basic credentials in the URI.
    assert f"http://alerts:{secret}@incident-desk.test/alerts/{made.id}" in page
    assert "max_alerts: 100" in page  # Alertmanager, among the other senders
    assert "Authorization Header - Scheme" in page  # Grafana
