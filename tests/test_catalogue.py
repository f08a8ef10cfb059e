"""The service catalogue: dependencies, suppliers, the escalation chain, and what an
incident's page says about its services' neighbours."""

from __future__ import annotations

from sqlalchemy import select

from app.catalogue.models import EscalationStep, Supplier, downstream_of, upstream_of
from app.contacts.models import Contact
from app.core import clock
from app.incidents.models import Service


def service_id(session, name: str) -> int:
    found = session.scalar(select(Service.id).where(Service.name == name))
    session.commit()
    return found


def add_service(browser, **fields) -> None:
    data = {"name": "x", "description": "", "owner": "", "runbook_url": "", "dr_url": ""}
    data.update(fields)
    response = browser.submit("/services/new", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)


def test_a_catalogue_an_incident_page_draws_on(app, browser, session):
    browser.sign_in(name="Ada", admin=True)
    response = browser.submit("/suppliers/new", data={
        "name": "Aiven", "support_route": "Portal: console.aiven.io, quote project pay-prod",
        "hours": "24/7", "escalation": "Sev1 ticket then phone", "url": "https://status.aiven.io"})
    assert response.status_code == 302
    aiven = session.scalar(select(Supplier.id))
    add_service(browser, name="Postgres", owner="Platform team", suppliers=[str(aiven)],
                runbook_url="https://wiki.example.org/runbooks/pg")
    add_service(browser, name="Payments", owner="Payments team",
                upstream=[str(service_id(session, "Postgres"))],
                dr_url="https://wiki.example.org/dr/payments")
    add_service(browser, name="Checkout", upstream=[str(service_id(session, "Payments"))])
    session.add(Contact(item_id="9", name="Priya Shah", email="priya@example.org",
                        service="Checkout", role="Service owner", severities=[],
                        synced_at=clock.now()))
    session.commit()
    payments = session.get(Service, service_id(session, "Payments"))
    assert [s.name for s in upstream_of(payments)] == ["Postgres"]
    assert [s.name for s in downstream_of(payments)] == ["Checkout"]
    session.commit()

    reference = browser.declare(services=[str(payments.id)], title="Payments failing")
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "Affected services and their neighbours" in page
    assert "https://wiki.example.org/dr/payments" in page
    assert "Checkout" in page and "depends on Payments" in page
    assert "Priya Shah (Service owner)" in page  # who to tell about the neighbour
    assert "Postgres" in page and "Payments depends on it" in page
    # Aiven supports Postgres, not Payments itself: only the affected services' suppliers.
    assert "Aiven" not in page
    page = browser.get(f"/services/{service_id(session, 'Postgres')}").get_data(as_text=True)
    assert "Aiven" in page and "Platform team" in page


def test_links_must_be_web_addresses(app, browser, session):
    browser.sign_in(admin=True)
    response = browser.submit("/services/new", data={
        "name": "Search", "runbook_url": "javascript:alert(1)"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Enter a full web address starting with https://" in page
    assert 'href="javascript:' not in page
    assert session.scalar(select(Service.id)) is None


def test_names_are_unique_and_a_service_cannot_depend_on_itself(app, browser, session):
    browser.sign_in(admin=True)
    add_service(browser, name="Search")
    response = browser.submit("/services/new", data={"name": "search"})
    assert "There is already a service with that name." in response.get_data(as_text=True)
    search = service_id(session, "Search")
    response = browser.submit(f"/services/{search}/edit", data={
        "name": "Search", "upstream": [str(search)]})
    assert response.status_code == 400  # not offered as a choice for itself


def test_the_escalation_chain_keeps_its_order(app, browser, session):
    browser.sign_in(admin=True)
    for name in ("On-call engineer", "Head of Tech Ops", "CTO"):
        response = browser.submit("/escalation/new", data={"name": name,
                                                           "phone": "+44 20 7946 0000"})
        assert response.status_code == 302
    cto = session.scalar(select(EscalationStep.id).where(EscalationStep.name == "CTO"))
    session.commit()
    browser.submit("/escalation", f"/escalation/{cto}/move/up")
    names = [s.name for s in session.scalars(select(EscalationStep)
                                             .order_by(EscalationStep.position))]
    assert names == ["On-call engineer", "CTO", "Head of Tech Ops"]
    session.commit()
    response = browser.submit("/escalation/new", data={"name": "X", "email": "not an email"})
    assert "Enter an email address like name@example.org" in response.get_data(as_text=True)
    page = browser.get("/escalation").get_data(as_text=True)
    assert page.index("CTO") < page.index("Head of Tech Ops")
    assert 'href="tel:+442079460000"' in page


def test_everyone_reads_the_catalogue_only_administrators_change_it(app, browser):
    browser.sign_in()
    for url in ("/services", "/suppliers", "/escalation"):
        assert browser.get(url).status_code == 200
    for url in ("/services/new", "/suppliers/new", "/escalation/new"):
        assert browser.get(url).status_code == 403
