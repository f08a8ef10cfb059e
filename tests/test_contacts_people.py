"""Contacts are people: rows sharing an email merge, skipped rows are listed with why,
and every count is of distinct people."""

from __future__ import annotations

from sqlalchemy import func, select

from app.catalogue.service import contacts_for
from app.contacts import service
from app.contacts.models import Contact, ContactSync
from app.incidents.models import Incident, StatusUpdate
from tests.conftest import drain


def person(n: int, **extra) -> dict:
    fields = {"Title": f"Person {n}", "Email": f"person{n}@example.com", "Service": "",
              "Role": "Engineer", "Severities": []}
    fields.update(extra)
    return fields


def sync(app) -> str:
    with app.app_context():
        from app.jobs import sync_contacts

        return sync_contacts()


def contacts_of(session, email: str) -> list[tuple]:
    return sorted((c.service, c.role, c.severities) for c in session.scalars(
        select(Contact).where(Contact.email == email)))


def last_run(session) -> ContactSync:
    session.expire_all()
    return session.scalars(select(ContactSync).order_by(ContactSync.id.desc())).first()


def test_rows_differing_only_by_email_case_or_spaces_are_one_person(app, session, fake_graph,
                                                                     frozen_clock):
    rows = [person(n) for n in range(2000)]
    # 40 rows repeat someone, in another case or with spaces, most of them in a later
    # batch of the sync than the row they repeat.
    for n in range(40):
        rows[1000 + n * 20] = person(n * 7, Email=f"  PERSON{n * 7}@Example.COM ")
    fake_graph.seed_list("contacts-site", "contacts", rows)
    assert sync(app) == "done"
    assert service.count(session) == 1960
    assert session.scalar(select(func.count()).select_from(Contact)) == 1960
    run = last_run(session)
    assert (run.items, run.people, run.skipped) == (2000, 1960, 0)
    (only,) = session.scalars(select(Contact).where(Contact.email == "person7@example.com"))
    assert only.name == "Person 7"


def test_a_person_with_two_services_is_found_for_each_at_that_rows_severities(
        app, session, browser, fake_graph, frozen_clock):
    fake_graph.seed_list("contacts-site", "contacts", [
        person(1, Email="Owen@Example.com", Title="", Service="Payments",
               Role="Service owner", Severities=["P1"]),
        person(2),
        person(3, Email="owen@example.com", Title="Owen Owner", Service="Identity",
               Role="Service owner", Severities="P2, P3"),
        person(4, Email=" OWEN@example.com", Title="O. Owner", Service="payments",
               Role="service owner", Severities=["p1", "P2"]),
    ])
    assert sync(app) == "done"
    assert contacts_of(session, "owen@example.com") == [
        ("Identity", "Service owner", ["P2", "P3"]),
        ("Payments", "Service owner", ["P1", "P2"]),  # rows 1 and 4: same service and role
    ]
    # The first row that has a name names the person, on every one of their contacts.
    assert set(session.scalars(select(Contact.name).where(
        Contact.email == "owen@example.com"))) == {"Owen Owner"}
    assert [c.email for c in contacts_for(session, "Identity")] == ["owen@example.com"]
    assert [c.email for c in contacts_for(session, "Payments")] == ["owen@example.com"]
    run = last_run(session)
    assert (run.items, run.people) == (4, 2)

    browser.sign_in(name="Ivy Lead", email="ivy@example.com")
    expectations = {("Identity", "P3"): "required", ("Payments", "P2"): "required",
                    ("Payments", "P3"): "suggested", ("Search", "P2"): "others"}
    for (service_name, severity), group in expectations.items():
        reference = browser.declare(new_services=service_name, severity=severity)
        incident = session.scalar(select(Incident).where(Incident.reference == reference))
        recipients = service.recipients_for(session, app.extensions["org"], incident)
        found = {name: [p.email for p in getattr(recipients, name)]
                 for name in ("required", "suggested", "others")}
        owen = [name for name, emails in found.items() if "owen@example.com" in emails]
        assert owen == [group], (service_name, severity, found)
        assert sum(emails.count("owen@example.com") for emails in found.values()) == 1


def test_a_later_sync_replaces_what_an_earlier_one_merged(app, session, fake_graph,
                                                          frozen_clock):
    fake_graph.seed_list("contacts-site", "contacts", [
        person(1, Service="Payments", Severities=["P1"]),
        person(2, Email="PERSON1@example.com", Service="Payments", Severities=["P2"]),
        person(3, Email="person1@example.com", Service="Identity"),
    ])
    sync(app)
    assert contacts_of(session, "person1@example.com") == [
        ("Identity", "Engineer", []), ("Payments", "Engineer", ["P1", "P2"])]
    frozen_clock.advance(minutes=15)
    fake_graph.seed_list("contacts-site", "contacts", [
        person(1, Title="Renamed", Service="Payments", Severities=["P3"])], replace=True)
    sync(app)
    session.expire_all()
    assert contacts_of(session, "person1@example.com") == [("Payments", "Engineer", ["P3"])]
    assert session.scalar(select(Contact.name)) == "Renamed"
    assert last_run(session).people == 1


def test_skipped_rows_are_listed_with_what_is_wrong(app, session, browser, fake_graph,
                                                    frozen_clock):
    fake_graph.seed_list("contacts-site", "contacts", [
        person(1),
        person(2, Email=None),
        person(3, Title="<script>x</script>", Email="not an email"),
        person(4, Title="", Email="a@b"),
        person(5, Email="x" * 5000 + "@example.com"),
        person(6, Title=""),  # no name, but an address: kept, shown by the address
    ])
    sync(app)
    run = last_run(session)
    assert (run.items, run.people, run.skipped) == (2, 2, 4)
    assert [(r["item_id"], r["name"]) for r in run.skipped_rows] == [
        ("2", "Person 2"), ("3", "<script>x</script>"), ("4", ""), ("5", "Person 5")]
    problems = [r["problem"] for r in run.skipped_rows]
    assert problems[0] == "No email address"
    # The validator says what is wrong (its wording is its own).
    assert problems[1].startswith("Email address not valid: ") and "@-sign" in problems[1]
    assert problems[2].startswith("Email address not valid: ") and "after the @" in problems[2]
    assert problems[3] == "Email address too long (5,012 characters)"
    values = [r["value"] for r in run.skipped_rows]
    assert values[:3] == ["", "not an email", "a@b"]
    assert values[3] == "x" * 79 + "…"  # what is shown of a value is bounded

    browser.sign_in()
    page = browser.get("/contacts").get_data(as_text=True)
    assert "2 people from 6 rows." in page
    assert "4 rows were skipped" in page and "Skipped rows" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page
    assert problems[1] in page
    assert "“not an email”" in page and 'href="#skipped"' in page
    assert "No email address" in page and "No name" in page
    assert "person6@example.com" in page


def test_only_the_first_hundred_skipped_rows_are_kept_but_all_are_counted(
        app, session, browser, fake_graph, frozen_clock):
    fake_graph.seed_list("contacts-site", "contacts",
                         [person(n, Email=f"bad {n}") for n in range(650)] + [person(1)])
    sync(app)
    run = last_run(session)
    assert (run.skipped, len(run.skipped_rows)) == (650, service.SKIPPED_KEPT)
    assert run.skipped_rows[-1]["item_id"] == str(service.SKIPPED_KEPT)
    browser.sign_in()
    page = browser.get("/contacts").get_data(as_text=True)
    assert "650 rows were skipped" in page
    assert "The first 100 of the 650 rows on the SharePoint list" in page
    assert page.count("Email address not valid") == 100


def test_the_contacts_page_lists_a_person_once_with_each_service(app, session, browser,
                                                                 fake_graph, frozen_clock):
    fake_graph.seed_list("contacts-site", "contacts", [
        person(1, Service="Payments", Role="Service owner"),
        person(2, Email="Person1@example.com", Service="Identity", Role="Service owner"),
        person(3, Email="PERSON1@EXAMPLE.COM", Service="Payments", Role="Service owner"),
    ] + [person(n) for n in range(10, 120)])
    sync(app)
    browser.sign_in()
    page = browser.get("/contacts").get_data(as_text=True)
    assert "111 people from 113 rows." in page
    assert "2 rows repeat the email address of someone on another row" in page
    assert page.count("person1@example.com") == 1
    assert page.count('rowspan="2"') == 1
    assert "Showing the first 100 people" in page
    page = browser.get("/contacts?q=identity").get_data(as_text=True)
    assert page.count("person1@example.com") == 1 and "Payments" in page  # all they do
    assert "person10@example.com" not in page


def test_the_update_form_counts_and_ticks_people_not_rows(app, session, browser, fake_graph,
                                                          frozen_clock):
    fake_graph.seed_list("contacts-site", "contacts", [
        person(1, Title="Dee Director", Email="dee@example.com", Role="Deputy director"),
        person(2, Title="Dee Director", Email="DEE@example.com", Role="Deputy director"),
        person(3, Title="Sam Owner", Email="sam@example.com", Service="Payments",
               Role="Service owner"),
        person(4, Title="Sam Owner", Email="Sam@Example.com", Service="Identity",
               Role="Service owner"),
        person(5, Title="Pam Payments", Email="pam@example.com", Service="Payments",
               Role="Product manager"),
        person(6, Title="Pam Payments", Email="PAM@example.com", Service="Payments",
               Role="Engineer"),
    ])
    sync(app)
    browser.sign_in()
    reference = browser.declare(severity="P1", new_services="Payments")
    page = browser.get(f"/incidents/{reference}/updates/new").get_data(as_text=True)
    assert "Always sent to these 2 people" in page
    assert page.count("Dee Director") == 1
    assert "Sam Owner (Service owner, Payments; Service owner, Identity)" in page
    assert page.count('name="contacts"') == 1  # one box for Pam, not one per row
    assert "Pam Payments (Product manager, Payments; Engineer, Payments)" in page
    pam = service.people(session.scalars(select(Contact).where(
        Contact.email == "pam@example.com")))[0]
    response = browser.submit(f"/incidents/{reference}/updates/new", data={
        "phase": "investigating", "message": "Looking", "contacts": [str(pam.id)]})
    assert response.status_code == 302, response.get_data(as_text=True)
    drain(app)
    update = session.scalar(select(StatusUpdate))
    assert sorted(update.recipients) == ["dee@example.com", "pam@example.com",
                                         "sam@example.com"]
