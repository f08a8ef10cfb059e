"""Contacts from a SharePoint list: paging, mapping, removals, failures, the page."""

from __future__ import annotations

from sqlalchemy import func, select

from app.contacts.mapping import parse_field_map, to_contact
from app.contacts.models import Contact, ContactSync
from graph.port import GraphError
from tests.conftest import drain


def row(n: int, **extra) -> dict:
    fields = {"Title": f"Person {n}", "Email": f"person{n}@example.com",
              "Service": "Payments" if n % 2 else "", "Role": "Service owner",
              "Severities": ["P1", "P2"]}
    fields.update(extra)
    return fields


def sync(app):
    with app.app_context():
        from app.jobs import sync_contacts

        return sync_contacts()


def test_a_long_list_is_read_page_by_page(app, session, fake_graph, frozen_clock):
    fake_graph.seed_list("contacts-site", "contacts", [row(n) for n in range(1234)])
    assert sync(app) == "done"
    assert session.scalar(select(func.count()).select_from(Contact)) == 1234
    person = session.scalar(select(Contact).where(Contact.email == "person7@example.com"))
    assert (person.name, person.service, person.role, person.severities) == (
        "Person 7", "Payments", "Service owner", ["P1", "P2"])
    run = session.scalar(select(ContactSync))
    assert (run.status, run.items, run.skipped) == ("done", 1234, 0)


def test_rows_without_an_email_are_skipped_and_removed_rows_disappear(app, session,
                                                                      fake_graph, frozen_clock):
    fake_graph.seed_list("contacts-site", "contacts",
                         [row(1), row(2), row(3, Email="not an email"), row(4, Email=None)])
    sync(app)
    assert sorted(session.scalars(select(Contact.email))) == ["person1@example.com",
                                                              "person2@example.com"]
    frozen_clock.advance(minutes=15)
    fake_graph.seed_list("contacts-site", "contacts", [row(2, Title="Renamed")], replace=True)
    sync(app)
    session.expire_all()
    (only,) = session.scalars(select(Contact)).all()
    assert (only.email, only.name) == ("person2@example.com", "Renamed")


def test_a_failed_read_keeps_the_contacts_it_had(app, session, fake_graph, frozen_clock):
    fake_graph.seed_list("contacts-site", "contacts", [row(1), row(2)])
    sync(app)
    frozen_clock.advance(minutes=15)
    app.extensions["graph_for_app"] = lambda: Broken()
    assert sync(app) == "failed"
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Contact)) == 2
    last = session.scalars(select(ContactSync).order_by(ContactSync.id.desc())).first()
    assert last.status == "failed" and "Service unavailable" in last.error


class Broken:
    def list_items(self, site_id, list_id, page_size=200):
        yield from ()
        raise GraphError("Service unavailable", status=503)


def test_column_names_can_be_mapped_and_values_are_tidied():
    mapping = parse_field_map("email=WorkEmail, name=FullName,bogus=X")
    assert mapping["email"] == "WorkEmail" and mapping["name"] == "FullName"
    contact = to_contact("9", {"FullName": "  Ada   Lovelace ", "WorkEmail": "Ada@Example.COM",
                               "Severities": "P1; P2,P1", "Role": {"LookupValue": "DPO"}},
                         mapping)
    assert contact.name == "Ada Lovelace"
    assert contact.email == "ada@example.com"  # one address is one person, in any case
    assert contact.severities == ("P1", "P2")
    assert contact.role == "DPO"


def test_the_contacts_page_lists_searches_and_syncs_on_request(app, browser, session,
                                                               fake_graph, frozen_clock):
    fake_graph.seed_list("contacts-site", "contacts",
                         [row(1), row(2, Title="<b>Bold</b> Name", Role="DPO")])
    browser.sign_in()
    page = browser.get("/contacts").get_data(as_text=True)
    assert "Not read yet." in page
    response = browser.submit("/contacts", "/contacts/sync")
    assert response.status_code == 302
    drain(app)
    page = browser.get("/contacts").get_data(as_text=True)
    assert "2 people from 2 rows." in page and "&lt;b&gt;Bold&lt;/b&gt; Name" in page
    page = browser.get("/contacts?q=dpo").get_data(as_text=True)
    assert "person2@example.com" in page and "person1@example.com" not in page
    assert browser.client.post("/contacts/sync").status_code == 400  # no CSRF token
    assert session.scalar(select(func.count()).select_from(ContactSync)) == 1


def press_sync(browser) -> str:
    """Press "sync now" and return the page it leads back to."""
    response = browser.submit("/contacts", "/contacts/sync")
    assert response.status_code == 302
    return browser.get(response.location).get_data(as_text=True)


class Counting:
    """The fake graph's list, counting how often the whole list is read."""

    def __init__(self, graph):
        self.graph, self.reads = graph, 0

    def list_items(self, site_id, list_id, page_size=200):
        self.reads += 1
        yield from self.graph.list_items(site_id, list_id)


def test_syncs_by_hand_are_one_at_a_time_and_one_per_few_minutes(
        app, browser, session, fake_graph, frozen_clock, monkeypatch):
    fake_graph.seed_list("contacts-site", "contacts", [row(1), row(2)])
    counting = Counting(fake_graph)
    app.extensions["graph_for_app"] = lambda: counting
    browser.sign_in()
    jobs = app.extensions["jobs"]
    with monkeypatch.context() as held:  # the job waits in the queue meanwhile
        held.setattr(jobs, "enqueue", lambda *args, **kwargs: True)
        assert "Reading the contacts list" in press_sync(browser)
        refused = press_sync(browser)  # still queued: not a second one
        assert "already being read" in refused
    assert sync(app) == "done"  # the job runs the sync that was asked for
    refused = press_sync(browser)  # done, but started by hand a moment ago
    assert "less than 5 minutes ago" in refused and "Try again in 5 minutes" in refused
    assert counting.reads == 1
    assert session.scalar(select(func.count()).select_from(ContactSync)) == 1
    frozen_clock.advance(minutes=5, seconds=1)
    assert "Reading the contacts list" in press_sync(browser)
    drain(app)
    assert counting.reads == 2


def test_a_scheduled_sync_waits_for_one_already_running(app, session, fake_graph, frozen_clock):
    fake_graph.seed_list("contacts-site", "contacts", [row(1)])
    counting = Counting(fake_graph)
    app.extensions["graph_for_app"] = lambda: counting
    session.add(ContactSync(status="running", slot="active", skipped_rows=[]))
    session.commit()
    assert sync(app) == "running"  # the running one is left to finish
    assert counting.reads == 0
    frozen_clock.advance(minutes=31)  # its worker died: the slot is released
    assert sync(app) == "done"
    assert counting.reads == 1
    session.expire_all()
    first = session.scalars(select(ContactSync).order_by(ContactSync.id)).first()
    assert first.status == "failed" and "did not finish" in first.error.lower()


def test_a_failed_sync_keeps_no_secret_in_its_error(app, session, fake_graph, frozen_clock):
    class Leaky:
        def list_items(self, site_id, list_id, page_size=200):
            yield from ()
            raise GraphError("GET https://graph.example/items?$skiptoken=abc&token=T0pSecret "
                             "failed", status=503)

    app.extensions["graph_for_app"] = lambda: Leaky()
    assert sync(app) == "failed"
    session.expire_all()
    last = session.scalars(select(ContactSync).order_by(ContactSync.id.desc())).first()
    assert "T0pSecret" not in last.error and "failed" in last.error
