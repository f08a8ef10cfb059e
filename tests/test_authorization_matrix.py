"""Authorisation matrix: every route against every kind of user, for a normal and a
security incident.

Every rule in the URL map needs a row in ROUTES, so a route added without deciding who may
use it fails here. Security incidents are visible only to admins, the security team, the
declarer, role holders and participants; anyone else gets a 404 (never a 403, never the
page) that does not give the title away. The checks only look at the authorisation
outcome: a 400 for a form sent with nothing but its CSRF token counts as "let through".
"""

from __future__ import annotations

import copy
import itertools
import re
import threading
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import Table, select
from sqlalchemy import text as text_sql

from app import create_app, db
from app.alerts import service as alerts
from app.auth.models import User
from app.auth.service import create_api_token
from app.catalogue import service as catalogue
from app.documents.models import ReportFile
from app.incidents.models import Incident, Service, TimelineEntry
from app.outbox.models import Delivery
from app.people.models import RoleHandover
from app.updates.models import UpdateTemplate
from app.uptime import service as uptime
from graph.fake import FakeGraph
from tests.conftest import (
    TABLES,
    Browser,
    csrf_from,
    drain,
    end_app,
    finish_jobs,
    make_settings,
    new_fake_graph,
    start_app,
    use_graph,
)

# One xdist worker runs the module, so `built_world` (seconds of set-up) is built once.
pytestmark = pytest.mark.xdist_group("authorization_matrix")

# ---- the table -------------------------------------------------------------------------

PUBLIC = "public"  # no sign-in; `anonymous` is what a signed-out request gets
SECRET = "public, own secret"  # 401 without the route's own secret, signed in or not
SIGNED_IN = "signed-in"  # any signed-in person
OWNER = "owner-only"  # any signed-in person, for their own things (404 for anyone else's)
ADMIN = "admin-only"  # 403 for everyone signed in but administrators
SANDBOX = "sandbox-only"  # signed-in, and 404 unless the Graph sandbox is on
INCIDENT = "incident-scoped"  # pages under /incidents/<reference>
API = "API"  # /api/v1 with a bearer token
API_INCIDENT = "API, incident-scoped"  # /api/v1/incidents/<reference>


@dataclass(frozen=True)
class Route:
    kind: str
    methods: tuple[str, ...]
    anonymous: int | None = None  # PUBLIC: the status a signed-out request gets
    resolved: bool = False  # INCIDENT: needs a resolved incident (the review)
    args: dict = field(default_factory=dict)  # URL values that are not ids from the world
    ids: dict = field(default_factory=dict)  # <arg>: the world's id to use instead
    form: dict = field(default_factory=dict)  # sent with the CSRF token (else nothing)
    # INCIDENT: when set, only these of those who may see the incident are let through;
    # the others get 403 (the world's entries are the declarer's, who is also the lead).
    only: tuple[str, ...] = ()


def route(kind: str, *methods: str, **extra) -> Route:
    return Route(kind, methods, **extra)


ROUTES: dict[str, Route] = {
    # public
    "index": route(PUBLIC, "GET", anonymous=302),  # on to /incidents, which asks to sign in
    "healthz": route(PUBLIC, "GET", anonymous=200),
    "auth.sign_in": route(PUBLIC, "GET", anonymous=200),
    "auth.dev_sign_in": route(PUBLIC, "POST", anonymous=400),  # an empty form
    "auth.start_entra": route(PUBLIC, "POST", anonymous=302),  # no tenant: back to sign-in
    "auth.entra_callback": route(PUBLIC, "POST", anonymous=404),  # no tenant configured
    "auth.sign_out": route(PUBLIC, "POST", anonymous=302),
    # The public status page and its feed: nothing private on them (test_status_page.py).
    "status.page": route(PUBLIC, "GET", anonymous=200),
    "status.feed": route(PUBLIC, "GET", anonymous=200),
    "alerts.intake": route(SECRET, "POST"),
    # No bot is set up in this world's app (not the built-in sandbox): 404 for all;
    # tests/bot show the 401s for a missing, forged or other tenant's Bot Connector token.
    "bot.messages": route(PUBLIC, "POST", anonymous=404),
    "teams_app.privacy": route(PUBLIC, "GET", anonymous=200),  # linked from the manifest
    "teams_app.terms": route(PUBLIC, "GET", anonymous=200),
    # The Teams tab (app/web/tab) signs in with Teams SSO in a cookie of its own, so every
    # session here is anonymous to it: its pages offer that sign-in (200), its forms and
    # token post need their CSRF token (400), and with no tenant and no built-in sandbox
    # there is no consent prompt (404). Who sees which incident: tests/test_tab.py.
    "tab.config": route(PUBLIC, "GET", anonymous=200),
    "tab.incident": route(PUBLIC, "GET", anonymous=200),
    "tab.add_note": route(PUBLIC, "POST", anonymous=400),
    "tab.sign_in": route(PUBLIC, "POST", anonymous=400),
    "tab.consent": route(PUBLIC, "GET", anonymous=404),
    "tab.consent_done": route(PUBLIC, "GET", anonymous=200),
    # signed-in
    "incidents.list_incidents": route(SIGNED_IN, "GET"),
    "incidents.declare": route(SIGNED_IN, "GET", "POST"),
    "contacts.list_contacts": route(SIGNED_IN, "GET"),
    "contacts.sync_now": route(SIGNED_IN, "POST"),
    "auth.api_tokens": route(SIGNED_IN, "GET", "POST"),
    "api.docs": route(SIGNED_IN, "GET"),  # the API's documentation page, not the API
    "catalogue.services": route(SIGNED_IN, "GET"),
    "catalogue.show_service": route(SIGNED_IN, "GET"),
    "catalogue.suppliers": route(SIGNED_IN, "GET"),
    "catalogue.escalation": route(SIGNED_IN, "GET"),
    "actions.all_actions": route(SIGNED_IN, "GET"),  # across incidents the viewer may see
    "reporting.page": route(SIGNED_IN, "GET"),  # figures over what the viewer may see
    "reporting.monthly": route(SIGNED_IN, "GET"),
    # owner-only
    "auth.revoke_token": route(OWNER, "POST"),
    # admin-only
    "documents.template": route(ADMIN, "GET", "POST"),
    "documents.remove_template": route(ADMIN, "POST"),
    "alerts.sources": route(ADMIN, "GET", "POST"),
    "teams_app.page": route(ADMIN, "GET"),
    "teams_app.download": route(SANDBOX, "GET"),  # admins'; 404 until a bot is named
    "tab.sandbox_host": route(SANDBOX, "GET"),  # the tab in the sandbox's Teams host page
    "alerts.revoke": route(ADMIN, "POST"),
    # Saved update templates (migration 0029's rows: retire runs before restore, so the
    # template the world names is offered again afterwards).
    "updates.list_templates": route(ADMIN, "GET"),
    "updates.edit_template": route(ADMIN, "GET", "POST"),  # .../new and .../<id>/edit
    "updates.retire_template": route(ADMIN, "POST"),
    "updates.restore_template": route(ADMIN, "POST"),
    "setup_check.page": route(ADMIN, "GET", "POST"),  # the POST runs the set-up check
    "catalogue.edit_service": route(ADMIN, "GET", "POST"),  # /services/new and .../edit
    "catalogue.edit_supplier": route(ADMIN, "GET", "POST"),
    "catalogue.edit_step": route(ADMIN, "GET", "POST"),
    "catalogue.move_step": route(ADMIN, "POST", args={"direction": "down"}),
    "catalogue.remove_step": route(ADMIN, "POST", ids={"step_id": "spare_step_id"}),
    "uptime.edit_check": route(ADMIN, "GET", "POST"),  # .../uptime-checks/new and .../edit
    "uptime.switch": route(ADMIN, "POST", args={"action": "disable"}),
    # sandbox-only
    "m365.sandbox": route(SANDBOX, "GET"),
    "m365.sandbox_file": route(SANDBOX, "GET"),
    "m365.sandbox_add_app_for_me": route(SANDBOX, "POST"),
    # incident-scoped pages
    "incidents.show": route(INCIDENT, "GET"),
    "incidents.edit": route(INCIDENT, "GET", "POST"),
    "incidents.edit_entry": route(INCIDENT, "GET", "POST", only=("declarer", "admin")),
    "incidents.change_status": route(INCIDENT, "POST"),
    "incidents.assign_role": route(INCIDENT, "POST"),
    "incidents.add_note": route(INCIDENT, "POST"),
    "incidents.bring_in": route(INCIDENT, "POST"),
    "people.handover": route(INCIDENT, "GET"),
    "people.accept": route(INCIDENT, "POST"),
    "people.decline": route(INCIDENT, "POST"),
    "people.withdraw": route(INCIDENT, "POST"),
    "m365.retry": route(INCIDENT, "POST"),
    "m365.teams_messages": route(INCIDENT, "GET", "POST"),
    "m365.fetch_teams_messages": route(INCIDENT, "POST"),
    "reminders.snooze": route(INCIDENT, "POST", args={"kind": "update"}),
    "documents.download": route(INCIDENT, "GET", args={"kind": "running"}),
    "documents.write_again": route(INCIDENT, "POST"),
    "documents.review": route(INCIDENT, "GET", "POST", resolved=True),
    "reviews.meeting": route(INCIDENT, "POST", resolved=True),  # booked when resolved
    "updates.new_update": route(INCIDENT, "GET", "POST"),
    # .../actions/new and .../edit; a browser always sends the three date boxes
    "actions.edit": route(INCIDENT, "GET", "POST", form={"due": ["", "", ""]}),
    # API
    "api.list_incidents": route(API, "GET"),
    "api.declare": route(API, "POST"),
    "api.get_incident": route(API_INCIDENT, "GET"),
    "api.update_incident": route(API_INCIDENT, "PATCH"),
    "api.change_status": route(API_INCIDENT, "POST"),
    "api.assign_role": route(API_INCIDENT, "POST"),
    "api.add_note": route(API_INCIDENT, "POST"),
}

# ---- the world -------------------------------------------------------------------------

PEOPLE = {  # key: name, email, admin, security
    "declarer": ("Dana Declarer", "dana@example.com", False, False),  # and incident lead
    "participant": ("Pat Participant", "pat@example.com", False, False),  # brought in
    "other": ("Olly Other", "olly@example.com", False, False),
    "security": ("Sam Secure", "sam@example.com", False, True),
    "admin": ("Ada Admin", "ada@example.com", True, False),
}
DEPUTY = ("Dee Deputy", "dee@example.com")  # offered the lead: a pending hand-over
USERS = ("anonymous", "other", "participant", "security", "admin", "declarer")  # owner last
SIGNED_IN_USERS = USERS[1:]
INCIDENTS = {  # key: title, is_security, resolved
    "normal": ("Matrix checkout slow", False, False),
    "security": ("Matrix payroll export leaked QX7", True, False),
    "normal-resolved": ("Matrix search down", False, True),
    "security-resolved": ("Matrix laptop stolen ZK4", True, True),
}
SECRET_TITLES = [title for title, is_security, _ in INCIDENTS.values() if is_security]
REPORTS_DRIVE = "reports-drive"
CSRF_REFUSED = "Your form could not be sent"
DENIED = {401, 403, 404, 405}
MISSING = "INC-2099-9999"  # a reference no incident has
# Differs from one response to the next: the CSP nonce and the time in CSRF tokens.
VOLATILE = re.compile(r"nonce[-=]\"?[\w-]+|name=\"csrf_token\" value=\"[^\"]*\"")
ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@dataclass(frozen=True)
class Case:
    key: str
    reference: str
    title: str
    is_security: bool
    ids: dict[str, int]  # entry_id, handover_id, delivery_id, report_id, action_id


@dataclass
class World:
    app: Flask
    clients: dict[str, Browser]
    csrf: dict[str, str]
    tokens: dict[str, str]
    cases: dict[str, Case]
    ids: dict[str, int]  # ids that are not an incident's: tokens, alert source, catalogue

    def case(self, kind: str, row: Route) -> Case:
        return self.cases[f"{kind}-resolved" if row.resolved else kind]

    def url(self, rule, row: Route, case: Case | None = None) -> str:
        values = {**self.ids, **(case.ids if case else {}), **row.args,
                  **{name: self.ids[alias] for name, alias in row.ids.items()}}
        if case:
            values["reference"] = case.reference

        def value(match):
            name = match.group(1)
            assert name in values, f"{rule.rule}: no value for <{name}>; add one to the world"
            return str(values[name])

        return ARG.sub(value, rule.rule)

    def call(self, user: str, method: str, url: str, form: dict | None = None):
        """A form sent with a valid CSRF token (and `form`, if given), or a page read."""
        client = self.clients[user].client
        if method == "GET":
            return client.get(url)
        response = client.open(url, method=method,
                               data={"csrf_token": self.csrf[user], **(form or {})})
        drain(self.app)  # let queued work finish before the next request (SQLite locks)
        if response.status_code == 302 and user != "anonymous":
            client.get(response.location)  # as a browser would: no flash left for the next
        return response

    def like_missing(self, response, user: str, method: str, url: str, case: Case,
                     api: bool = False, form: dict | None = None) -> str | None:
        """The same answer as for an incident that does not exist: nothing to tell the
        two apart by."""
        url = url.replace(case.reference, MISSING)
        missing = self.api(user, method, url) if api else self.call(user, method, url, form)
        if (missing.status_code, VOLATILE.sub("", text(missing))) != (
                response.status_code, VOLATILE.sub("", text(response))):
            return (f"answers differently from {url} ({missing.status_code}), which gives "
                    "away that the incident exists")
        return None

    def api(self, user: str | None, method: str, url: str, client=None):
        """An API request with `user`'s token (None: no token)."""
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        client = client or self.app.test_client()
        body = None if method == "GET" else {}
        response = client.open(url, method=method, headers=headers, json=body)
        if method != "GET":
            drain(self.app)
        return response


def ok(response, what: str) -> None:
    assert response.status_code in (200, 302), f"{what}: {response.status_code}"


@dataclass(frozen=True)
class Built:
    """The world as its build left it, for each test to start from."""
    rows: list[tuple[Table, list[dict]]]  # every table the suite clears, parents first
    graph: FakeGraph  # Microsoft 365 as it was (a copy: never handed to an app)
    tokens: dict[str, str]
    cases: dict[str, Case]
    ids: dict[str, int]


@pytest.fixture(scope="module")
def built_world(migrated, redis_url) -> Built:
    """Building the world takes seconds (sign-ins, four incidents, their deliveries and
    reports), so it is built once per module, on an app of its own, and kept as rows."""
    application = start_app(make_settings(migrated, redis_url=redis_url))
    try:
        graph = new_fake_graph()
        use_graph(application, graph)
        world = build_world(application, db.Session, graph)
        db.Session.remove()
        return Built(copy_rows(application.extensions["db_engine"]), copy_graph(graph),
                     world.tokens, world.cases, world.ids)
    finally:
        end_app(application)  # the tables are empty again, as for any other test


@pytest.fixture
def world(app, session, built_world) -> World:
    """The built world on this test's own app: its rows put back, a fresh copy of its
    Microsoft 365, and everyone signed in again (what the tests do changes all three)."""
    restore_rows(app.extensions["db_engine"], built_world.rows)
    use_graph(app, copy_graph(built_world.graph))
    with_reports(app)
    clients = sign_in_everyone(app)
    return World(app, clients, csrf_of(clients), built_world.tokens, built_world.cases,
                 built_world.ids)


def copy_rows(engine) -> list[tuple[Table, list[dict]]]:
    """Every row of the tables the suite clears between tests, through the models' own
    column types (so what is put back is what was read)."""
    tables = [db.Base.metadata.tables[name] for name in reversed(TABLES)]  # parents first
    with engine.connect() as conn:
        return [(table, [dict(row) for row in conn.execute(
            select(table).order_by(*table.primary_key.columns)).mappings()])
                for table in tables]


def restore_rows(engine, rows: list[tuple[Table, list[dict]]]) -> None:
    with engine.begin() as conn:
        for table, _ in reversed(rows):
            conn.execute(table.delete())
        for table, records in rows:
            if records:
                conn.execute(table.insert(), records)
        if conn.dialect.name == "postgresql":  # ids go on from the restored ones
            for table, records in rows:
                # Integer ids only: sign_ins' ids are digests, with no sequence.
                if records and "id" in table.c and table.c.id.type.python_type is int:
                    conn.execute(text_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT max(id) FROM {table.name}))"))


def copy_graph(graph: FakeGraph) -> FakeGraph:
    """A FakeGraph in `graph`'s state that shares nothing with it: its own lock, and ids
    going on from where `graph`'s were."""
    with graph._lock:
        fresh = {id(graph._lock): threading.RLock(),
                 id(graph._ids): itertools.count(next(graph._ids))}
        return copy.deepcopy(graph, fresh)


def with_reports(app) -> None:
    app.extensions["installation"] = replace(
        app.extensions["installation"], reports_drive_id=REPORTS_DRIVE,
        reports_folder="Incident reports", security_reports_folder="Security reports")


def sign_in_everyone(app) -> dict[str, Browser]:
    clients = {"anonymous": Browser(app.test_client())}
    for key, (name, email, admin, security) in PEOPLE.items():
        clients[key] = Browser(app.test_client())
        clients[key].sign_in(name, email, admin=admin, security=security)
    return clients


def csrf_of(clients: dict[str, Browser]) -> dict[str, str]:
    """Each person's CSRF token (the signed-out one from the sign-in page)."""
    csrf = {"anonymous": csrf_from(clients["anonymous"].get("/sign-in").get_data(
        as_text=True))}
    for key in PEOPLE:
        csrf[key] = csrf_from(clients[key].get("/incidents/new").get_data(as_text=True))
    return csrf


def build_world(app, session, graph) -> World:
    """Five people, a deputy offered the lead, and four incidents with a participant, a
    note, a hand-over, a follow-up action, deliveries and reports; tokens, an alert
    source and a catalogue."""
    graph.add_drive(REPORTS_DRIVE)  # so reports exist, for /reports/<id>/write
    with_reports(app)
    clients = sign_in_everyone(app)
    Browser(app.test_client()).sign_in(*DEPUTY)
    emails = {email: id_ for email, id_ in session.execute(select(User.email, User.id))}
    user_ids = {key: emails[email] for key, (_name, email, *_flags) in PEOPLE.items()}
    user_ids["deputy"] = emails[DEPUTY[1]]
    session.commit()

    lead = clients["declarer"]
    references = {}
    for key, (title, is_security, resolved) in INCIDENTS.items():
        reference = lead.declare(title=title, **({"is_security": "y"} if is_security else {}))
        url = f"/incidents/{reference}"
        ok(lead.submit(url, f"{url}/people",
                       {"people-user": str(user_ids["participant"])}), "bring in")
        ok(lead.submit(url, f"{url}/notes", {"note-text": "Rolled back release 42"}), "note")
        ok(lead.submit(url, f"{url}/roles", {"role-role": "incident_lead",
                                             "role-user": str(user_ids["deputy"])}), "offer")
        if resolved:
            ok(lead.submit(url, f"{url}/status", {"status-status": "resolved",
                                                  "status-note": "Release rolled back"}),
               "resolve")
        if "actions.edit" in app.view_functions:
            ok(lead.submit(f"{url}/actions/new", data={
                "description": "Rotate the export keys", "owner": "0", "status": "open"}),
               "follow-up action")
        references[key] = reference
    drain(app)
    actions = text(lead.get("/actions?state=all")) if "actions.edit" in app.view_functions \
        else ""

    cases = {}
    for key, reference in references.items():
        incident_id = session.scalar(select(Incident.id).where(Incident.reference == reference))
        ids = {
            "entry_id": session.scalar(select(TimelineEntry.id).where(
                TimelineEntry.incident_id == incident_id, TimelineEntry.kind == "note")),
            "handover_id": session.scalar(select(RoleHandover.id).where(
                RoleHandover.incident_id == incident_id)),
            "delivery_id": session.scalar(select(Delivery.id).where(
                Delivery.incident_id == incident_id).order_by(Delivery.id)),
            "report_id": session.scalar(select(ReportFile.id).where(
                ReportFile.incident_id == incident_id).order_by(ReportFile.id)),
        }
        if actions:
            ids["action_id"] = int(re.search(rf"/incidents/{reference}/actions/(\d+)/edit",
                                             actions)[1])
        assert None not in ids.values(), f"{key} incident is missing something: {ids}"
        title, is_security, _ = INCIDENTS[key]
        cases[key] = Case(key, reference, title, is_security, ids)

    users = {key: session.get(User, id_) for key, id_ in user_ids.items()}
    tokens = {key: create_api_token(session, users[key], "matrix")[1] for key in PEOPLE}
    spare, _secret = create_api_token(session, users["declarer"], "spare")  # OWNER rows
    source, _secret = alerts.create_source(session, users["admin"], name="Matrix monitor",
                                           kind="generic", severity=None)
    ids = {
        "token_id": spare.id, "source_id": source.id,
        "service_id": catalogue.save_service(session, None, catalogue.ServiceFields(
            name="Matrix payroll")).id,
        "supplier_id": catalogue.save_supplier(session, None, name="Matrix hosting",
                                               support_route="", hours="", escalation="",
                                               url=None).id,
        **{key: catalogue.save_step(session, None, name=name, role="", phone="", email="",
                                    when="").id
           for key, name in (("step_id", "Duty manager"), ("spare_step_id", "Director"))},
        "template_id": session.scalar(select(UpdateTemplate.id).where(
            UpdateTemplate.name == "Resolved")),
    }
    ids["check_id"] = uptime.save_check(
        session, session.get(Service, ids["service_id"]), None, users["admin"],
        uptime.CheckFields(url="https://payroll.example.org/health", expected_status=200,
                           timeout_seconds=10, interval_seconds=300,
                           failures_before_open=3, enabled=False)).id  # never run here
    session.commit()  # end the read: on SQLite it would hold the lock requests need
    return World(app, clients, csrf_of(clients), tokens, cases, ids)


# ---- verdicts: None when the response is right, else what is wrong ----------------------


def text(response) -> str:
    return response.get_data().decode("utf-8", "replace")  # downloads are not UTF-8


def leaks(response, secrets=SECRET_TITLES) -> str | None:
    body = text(response)
    named = [secret for secret in secrets if secret in body]
    return f"the response names a security incident: {named}" if named else None


def sent_to_sign_in(response) -> str | None:
    if response.status_code == 302 and urlsplit(response.location).path == "/sign-in":
        return leaks(response)
    return "expected a redirect to /sign-in"


def not_found(response) -> str | None:
    if response.status_code != 404:
        return "expected exactly 404 (not 403, not the page)"
    return leaks(response)


def let_through(response, method: str) -> str | None:
    status = response.status_code
    if status in DENIED or status >= 500:
        return "expected to be let through"
    if status == 302 and urlsplit(response.location).path == "/sign-in":
        return "sent to sign in although signed in"
    if status == 400 and CSRF_REFUSED in text(response):
        return "the CSRF token was refused, so nothing was checked (test setup)"
    if method == "GET" and status != 200:
        return "expected 200"
    return None


def forbidden(response) -> str | None:
    return None if response.status_code == 403 else "expected 403"


class Failures(list):
    def __init__(self, world: World):
        super().__init__()
        # `other` never sees a security incident's title or reference, whatever they ask
        # for (signed out, the reference is only in the ?next= of the sign-in redirect).
        self.secrets = SECRET_TITLES + [c.reference for c in world.cases.values()
                                        if c.is_security]

    def check(self, problem: str | None, response, method: str, rule, user: str,
              case: Case | None = None, url: str = "") -> None:
        if user == "other" and problem is None:
            problem = leaks(response, self.secrets)
        if problem:
            where = f" on the {case.key} incident" if case else ""
            self.append(f"{method} {rule.rule} [{rule.endpoint}] as {user}{where} "
                        f"({url}): {response.status_code}: {problem}")

    def report(self) -> str:
        return f"{len(self)} authorisation failures:\n" + "\n".join(self)


def rules(app, *kinds: str):
    """(rule, row, method) for every rule of these kinds, in URL-map order."""
    for rule in app.url_map.iter_rules():
        row = ROUTES.get(rule.endpoint)
        if row is not None and row.kind in kinds:
            for method in row.methods:
                yield rule, row, method


# ---- the tests -------------------------------------------------------------------------


def test_every_route_is_in_the_matrix(app):
    problems = []
    endpoints = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        endpoints.add(rule.endpoint)
        row = ROUTES.get(rule.endpoint)
        methods = set(rule.methods) - {"HEAD", "OPTIONS"}
        if row is None:
            problems.append(f"{sorted(methods)} {rule.rule} [{rule.endpoint}] has no row in "
                            "ROUTES: decide who may use it and add it to the matrix")
            continue
        if methods != set(row.methods):
            problems.append(f"{rule.rule} [{rule.endpoint}] answers {sorted(methods)} but its "
                            f"row lists {sorted(row.methods)}")
        scoped = "<reference>" in rule.rule
        if scoped != (row.kind in (INCIDENT, API_INCIDENT)):
            problems.append(f"{rule.rule} [{rule.endpoint}] is classed {row.kind!r}; "
                            "routes with a <reference> (and only they) are incident-scoped")
        api = rule.rule.startswith("/api/v1/incidents")
        if api != (row.kind in (API, API_INCIDENT)):
            problems.append(f"{rule.rule} [{rule.endpoint}] is classed {row.kind!r}; "
                            "/api/v1/incidents routes (and only they) are API routes")
    problems += [f"ROUTES has a row for {name!r}, which is not a route any more"
                 for name in sorted(set(ROUTES) - endpoints)]
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_incident_pages(world):
    """Signed out: sign in. `other`: the normal incident, and for the security one the 404
    a reference that does not exist gets.
    The declarer, a participant, the security team and admins: both."""
    failures = Failures(world)
    for rule, row, method in rules(world.app, INCIDENT):
        for kind in ("normal", "security"):
            case = world.case(kind, row)
            url = world.url(rule, row, case)
            for user in USERS:
                response = world.call(user, method, url, row.form)
                if user == "anonymous":
                    problem = sent_to_sign_in(response)
                elif user == "other" and case.is_security:
                    problem = not_found(response) or world.like_missing(
                        response, user, method, url, case, form=row.form)
                elif row.only and user not in row.only:
                    problem = forbidden(response)
                else:
                    problem = let_through(response, method)
                failures.check(problem, response, method, rule, user, case, url)
    assert not failures, failures.report()


def test_a_security_incidents_ids_are_not_reachable_through_another_incident(world):
    """An entry, hand-over, delivery or report of the security incident, asked for under
    the normal incident's reference, is a 404 for everyone (even those who may see both)."""
    failures = Failures(world)
    normal, security = world.cases["normal"], world.cases["security"]
    crossed = replace(normal, key="normal (with the security incident's ids)",
                      ids=security.ids)
    for rule, row, method in rules(world.app, INCIDENT):
        if not set(ARG.findall(rule.rule)) & set(security.ids):
            continue
        url = world.url(rule, row, crossed)
        for user in SIGNED_IN_USERS:
            response = world.call(user, method, url, row.form)
            failures.check(not_found(response), response, method, rule, user, crossed, url)
    assert not failures, failures.report()


def test_the_api(world):
    """No token: 401, even with a signed-in session. `other`'s token: for the security
    incident, the 404 a reference that does not exist gets. Everyone else's: both."""
    failures = Failures(world)
    signed_in_browser = world.clients["admin"].client
    for rule, row, method in rules(world.app, API_INCIDENT):
        for kind in ("normal", "security"):
            case = world.case(kind, row)
            url = world.url(rule, row, case)
            response = world.api(None, method, url, client=signed_in_browser)
            problem = None if response.status_code == 401 else "expected 401 (no token)"
            failures.check(problem, response, method, rule, "admin's session", case, url)
            for user in USERS:
                response = world.api(None if user == "anonymous" else user, method, url)
                if user == "anonymous":
                    problem = None if response.status_code == 401 else "expected 401"
                elif user == "other" and case.is_security:
                    problem = not_found(response) or world.like_missing(
                        response, user, method, url, case, api=True)
                else:
                    problem = let_through(response, method)
                failures.check(problem, response, method, rule, user, case, url)
    for rule, row, method in rules(world.app, API):
        url = world.url(rule, row)
        for user in USERS:
            response = world.api(None if user == "anonymous" else user, method, url)
            if user == "anonymous":
                problem = None if response.status_code == 401 else "expected 401"
            else:
                problem = let_through(response, method)
            failures.check(problem, response, method, rule, user, None, url)
    assert not failures, failures.report()


def test_lists_show_security_incidents_only_to_those_who_may_see_them(world):
    failures = []
    secret = [c for c in world.cases.values() if c.is_security]
    public = [c for c in world.cases.values() if not c.is_security]
    for user in SIGNED_IN_USERS:
        page = world.call(user, "GET", "/incidents?state=all")
        api = world.api(user, "GET", "/api/v1/incidents?state=all")
        assert page.status_code == 200 and api.status_code == 200, (user, page, api)
        listed = {
            "/incidents?state=all": text(page),
            "/api/v1/incidents?state=all": " ".join(
                f"{i['reference']} {i['title']}" for i in api.get_json()["incidents"]),
        }
        for where, shows in listed.items():
            for case in public:
                if case.reference not in shows or case.title not in shows:
                    failures.append(f"{where} as {user}: {case.key} incident is missing")
            for case in secret:
                shown = [v for v in (case.reference, case.title) if v in shows]
                if user == "other" and shown:
                    failures.append(f"{where} as other: shows the {case.key} incident {shown}")
                if user != "other" and len(shown) != 2:
                    failures.append(f"{where} as {user}: {case.key} incident is missing")
    assert not failures, "\n".join(failures)


def test_pages_outside_incidents(world):
    """Public pages, signed-in pages, your own tokens, administrators' pages, the sandbox
    and the alert intake (its own secret: a session is not enough)."""
    failures = Failures(world)
    for rule, row, method in rules(world.app, PUBLIC):
        url = world.url(rule, row)
        response = world.call("anonymous", method, url, row.form)
        problem = None if response.status_code == row.anonymous else f"expected {row.anonymous}"
        failures.check(problem, response, method, rule, "anonymous", None, url)
    for rule, row, method in rules(world.app, SECRET):
        url = world.url(rule, row)
        for user in USERS:
            response = world.call(user, method, url, row.form)
            problem = None if response.status_code == 401 else "expected 401 without a secret"
            failures.check(problem, response, method, rule, user, None, url)
    for rule, row, method in rules(world.app, SIGNED_IN, OWNER, ADMIN, SANDBOX):
        url = world.url(rule, row)
        for user in USERS:  # the owner (declarer) last: once revoked, their token is gone
            response = world.call(user, method, url, row.form)
            if user == "anonymous":
                problem = sent_to_sign_in(response)
            elif row.kind == SANDBOX:
                problem = not_found(response)  # the tests' app is not in sandbox mode
            elif (row.kind == SIGNED_IN or (row.kind == OWNER and user == "declarer")
                  or (row.kind == ADMIN and user == "admin")):
                problem = let_through(response, method)
            elif row.kind == OWNER:
                problem = not_found(response)  # someone else's token
            else:
                problem = forbidden(response)
            failures.check(problem, response, method, rule, user, None, url)
    assert not failures, failures.report()


def test_sandbox_pages_open_to_anyone_signed_in_only_in_sandbox_mode(
        migrated, redis_url, tmp_path, app):
    """Outside sandbox mode they are a 404 (test_pages_outside_incidents). In it, there is
    no tenant and so only dev sign-in, where anyone can say they are an administrator: the
    pages are for every signed-in person, and nobody signed out."""
    settings = make_settings(migrated, redis_url=redis_url, graph_base_url=None,
                             graph_sandbox_db=str(tmp_path / "graph-sandbox.db"))
    sandbox = create_app(settings, TESTING=True, SERVER_NAME="incident-desk.test")
    try:
        signed_out = sandbox.test_client()
        person = Browser(sandbox.test_client())
        person.sign_in(*PEOPLE["other"][:2])
        for url, status in (("/sandbox", 200), ("/sandbox/file?drive=none&path=x.docx", 404)):
            assert sent_to_sign_in(signed_out.get(url)) is None, url
            assert person.get(url).status_code == status, url
        for client in (signed_out, person.client):  # no CSRF token: refused before all else
            assert client.post("/sandbox/teams-app-for-me").status_code == 400
    finally:
        finish_jobs(sandbox)
        sandbox.extensions["db_engine"].dispose()


# ---- every form: CSRF, and junk that must never be a 500 --------------------------------

FORM_KINDS = (INCIDENT, SIGNED_IN, OWNER, ADMIN)
JUNK = ["", " ", "\x00", "0", "-1", "9" * 40, "x" * 25_000, "<script>alert(1)</script>",
        "javascript:alert(1)", "☃ \u202e fdp", "2026-02-31 25:61", "../../etc/passwd",
        "' OR 1=1 --", "{{7*7}}", "%s%s%s"]


def test_every_form_needs_its_csrf_token(world):
    """An administrator's session is not enough: without the form's token every POST is
    refused (400) and changes nothing."""
    admin = world.clients["admin"].client
    failures = []
    for rule, row, method in rules(world.app, *FORM_KINDS):
        if method != "POST":
            continue
        case = world.case("normal", row) if row.kind == INCIDENT else None
        url = world.url(rule, row, case)
        response = admin.post(url, data={**row.form, "title": "forged"})
        if response.status_code != 400:
            failures.append(f"POST {url} [{rule.endpoint}] without a token: "
                            f"{response.status_code}")
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_junk_in_every_form_never_gives_a_500(world):
    """Every field any form has, filled with hostile or malformed values, with a valid
    token: a clear 4xx (or a redirect), never a server error or a stack trace."""
    import random

    chooser = random.Random(20261130)  # repeatable junk
    fields = ["title", "description", "severity", "services", "new_services", "is_security",
              "status-status", "status-note", "role-role", "role-user", "note-text",
              "note-entry_type", "note-when", "people-user", "phase", "message", "to_channel",
              "contacts", "extra_recipients", "publish", "public_title", "summary",
              "users_affected", "answer_0", "name", "kind", "url", "runbook_url", "dr_url",
              "upstream", "suppliers", "owner", "due", "link", "status", "public", "email",
              "phone", "when", "minutes", "meeting-facilitator", "meeting-attended",
              "decline-reason", "messages", "version", "reason", "template",
              "snooze-update-minutes"]
    failures = []
    for round_ in range(3):
        for rule, row, method in rules(world.app, *FORM_KINDS):
            if method != "POST":
                continue
            case = world.case("normal", row) if row.kind == INCIDENT else None
            url = world.url(rule, row, case)
            form = {name: chooser.choice(JUNK) for name in fields}
            if round_ == 2:
                form = {name: [chooser.choice(JUNK), chooser.choice(JUNK)] for name in fields}
            response = world.call("admin", "POST", url, form)
            body = text(response)
            if response.status_code >= 500 or "Traceback" in body:
                failures.append(f"POST {url} [{rule.endpoint}] round {round_}: "
                                f"{response.status_code}")
    assert not failures, "\n".join(failures)
