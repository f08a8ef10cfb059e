"""Test fixtures: a database built by the real migrations, and a browser-like client.

DATABASE_URL picks the database (PostgreSQL in CI); without it a temporary SQLite file is
used. Under CI=true a DATABASE_URL or REDIS_URL that cannot be reached fails the run.

Under pytest-xdist (`make test` runs two workers) each worker has its own of everything a
test writes to: a SQLite file, a PostgreSQL database (DATABASE_URL's name + `_gw0`…), a
Redis database number, tmp_path; servers listen on ports the system picks.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jinja2 import BytecodeCache
from sqlalchemy import create_engine, make_url, text

from app import create_app, db
from app.cli import upgrade
from app.config import Settings
from app.core import clock

CI = os.environ.get("CI", "").lower() == "true"
WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1"… under xdist, else None
REDIS_DATABASES = 16  # redis-server's default `databases`
TABLES = ["bot_installations", "uptime_results", "uptime_checks",
          "review_meetings", "follow_up_actions", "channel_messages", "service_dependencies",
          "service_suppliers", "suppliers",
          "escalation_steps",
          "sent_reminders", "reminder_snoozes", "alert_records", "alert_sources",
          "role_handovers", "participants", "timeline_edits",
          "report_files", "reviews", "report_templates",
          "deliveries", "teams_channels", "status_updates", "contacts", "contact_syncs",
          "timeline_entries",
          "role_assignments", "incident_services", "incidents", "reference_counters",
          "services", "sign_ins", "api_tokens", "token_caches", "users"]


def pytest_configure(config) -> None:
    """Give an xdist worker its own PostgreSQL database and Redis database number, in the
    environment too: subprocesses and tests that read DATABASE_URL or REDIS_URL then never
    see the other worker's rows or queue."""
    if not WORKER:
        return
    if os.environ.get("DATABASE_URL"):
        url = make_url(os.environ["DATABASE_URL"])
        os.environ["DATABASE_URL"] = url.set(database=f"{url.database}_{WORKER}").render_as_string(
            hide_password=False)
    if os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = worker_redis_url(os.environ["REDIS_URL"], worker_number())


def pytest_collection_modifyitems(config, items) -> None:
    """Under xdist the `slow` tests (real-time waits, subprocesses) are handed out first:
    one started last would keep the other worker idle until it ends. Otherwise in order."""
    if WORKER:
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def worker_number() -> int:
    return int(WORKER.removeprefix("gw")) if WORKER else 0


def worker_redis_url(url: str, number: int) -> str:
    """The same Redis, database number moved on by `number` (wrapping at 16)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(database + number) % REDIS_DATABASES}"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{sqlite_folder(tmp_path_factory) / 'test.db'}"
    try:  # start from nothing so the migrations are what is tested
        if WORKER:  # its own database, made afresh (a run cut short may have left one)
            recreate_database(url)
        else:
            empty_schema(url)
    except Exception as exc:
        pytest.exit(f"DATABASE_URL={url} cannot be reached: {exc}", returncode=3)
    return url


def empty_schema(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def recreate_database(url: str) -> None:
    """Drop and create the database `url` names, from the server's `postgres` database."""
    name = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def sqlite_folder(tmp_path_factory) -> Path:
    """In memory (/dev/shm) where there is one: each commit waits for the disk otherwise,
    and the suite commits thousands of times."""
    shm = Path("/dev/shm")  # noqa: S108 - mkdtemp below makes a private folder in it
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        return tmp_path_factory.mktemp("db")
    folder = Path(tempfile.mkdtemp(prefix="incident-desk-tests-", dir=shm))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@pytest.fixture(scope="session")
def migrated(database_url) -> str:
    upgrade(database_url)
    return database_url


@pytest.fixture(scope="session")
def redis_url() -> str | None:
    """REDIS_URL (CI sets it): the suite then runs its jobs through RQ on that Redis."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return None
    from redis import Redis

    try:
        Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        pytest.exit(f"REDIS_URL={url} cannot be reached: {exc}", returncode=3)
    return url


def make_settings(database_url: str, **overrides) -> Settings:
    values = dict(
        secret_key="test-secret-key-not-for-production",
        database_url=database_url,
        redis_url=None,
        background_sweep=False,
        # Microsoft 365 is off unless a test turns it on (fixture `fake_graph`, or a
        # sandbox server); this address refuses connections, so nothing leaves the machine.
        graph_base_url="http://127.0.0.1:9/v1.0",
        graph_sandbox_db=":memory:",
        teams_team_id=None,
        teams_broadcast_channel_id=None,
        mail_from=None,
        service_account=None,
        contacts_site_id=None,
        contacts_list_id=None,
        contacts_fields=None,
        reports_drive_id=None,
        app_base_url="http://incident-desk.test",
        entra_tenant_id=None,
        entra_client_id=None,
        entra_client_secret=None,
        admin_emails=frozenset(),
        security_emails=frozenset(),
        org_config_path=None,
        severity_scale="p123",
        timezone="Europe/London",
        working_hours="10:00-18:00",
        secure_cookies=False,
        dev_sign_in=True,  # asked for, as `make run` does (never counts with a tenant)
    )
    values.update(overrides)
    # The default address above is meant to be unreachable: only a test that names a Graph
    # (a sandbox, or None for the built-in one) has it checked at start-up.
    values.setdefault("graph_start_check", "graph_base_url" in overrides)
    return Settings(**values)


@pytest.fixture
def settings(migrated, redis_url) -> Settings:
    return make_settings(migrated, redis_url=redis_url)


class CompiledTemplates(BytecodeCache):
    """Compiled templates shared by every test app. Each test has an app of its own, and
    compiling the same templates again for each was a fifth of the suite's time; a
    changed template has another checksum, so it is compiled afresh."""

    def __init__(self):
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()


def start_app(settings: Settings):
    """A test app on an empty queue (the `app` fixture's; a module-scoped fixture that
    builds something once uses it too)."""
    application = create_app(settings, TESTING=True, SERVER_NAME="incident-desk.test")
    application.jinja_env.bytecode_cache = COMPILED_TEMPLATES
    jobs = application.extensions["jobs"]
    if jobs.kind == "rq":
        jobs.queue.empty()
    return application


def end_app(application) -> None:
    """Finish an app's jobs and leave the tables empty for the next test."""
    finish_jobs(application)
    db.Session.remove()
    with application.extensions["db_engine"].begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                conn.execute(text(f"DELETE FROM {table}"))
    application.extensions["db_engine"].dispose()


@pytest.fixture
def app(settings):
    """The app as configured by `settings`; Microsoft 365 is off until a test asks for
    `fake_graph` (or points the app at a sandbox server with `use_graph`)."""
    application = start_app(settings)
    yield application
    end_app(application)


def new_fake_graph():
    """An in-memory FakeGraph with a team and a broadcast channel."""
    from graph.fake import FakeGraph

    graph = FakeGraph()
    graph.add_team("incident-team", "Incidents")
    broadcast = graph.create_channel("incident-team", "General", "Announcements")
    graph.broadcast_channel_id = broadcast.id
    return graph


@pytest.fixture
def fake_graph(app):
    """Turn Microsoft 365 on for `app`, going to a `new_fake_graph()`."""
    graph = new_fake_graph()
    use_graph(app, graph)
    return graph


def sandbox_tenant(state, *members: str, team_id: str = "incident-team"):
    """A sandbox tenant set up as the README says (Incident Desk's app registration and
    grants), with these people in the incidents team and no propagation delays."""
    from graph.sandbox.seed import register_incident_desk

    register_incident_desk(state)
    state.configure_tenant(member_propagation=0.0, channel_list_lag=0.0)
    state.add_team(team_id, "Incidents")
    for person in members:
        state.add_team_member(team_id, person, owner=True)
    return state


def use_graph(application, graph, team_id="incident-team") -> None:
    """Point an app's Microsoft 365 work at `graph` (a FakeGraph or a GraphClient)."""
    from dataclasses import replace

    application.extensions["graph_for"] = lambda delivery: graph
    application.extensions["graph_for_app"] = lambda: graph
    application.extensions["installation"] = replace(
        application.extensions["installation"], team_id=team_id,
        broadcast_channel_id=getattr(graph, "broadcast_channel_id", None),
        contacts_site_id="contacts-site", contacts_list_id="contacts")


def drain(application, timeout: float = 20.0) -> None:
    """Run every queued job to completion: in-process threads, or an RQ worker in this
    process (inside the app's context, so it uses the test app's settings).

    The test's own transaction ends first: on SQLite even a read holds the write lock
    the jobs need, and a job can only see what the test has committed anyway."""
    db.Session.commit()
    jobs = application.extensions["jobs"]
    if jobs.kind == "rq":
        from rq import SimpleWorker

        with application.app_context():
            SimpleWorker([jobs.queue], connection=jobs.connection).work(
                burst=True, with_scheduler=False, logging_level="WARNING")
    else:
        jobs.wait(timeout)


def finish_jobs(application) -> None:
    jobs = application.extensions["jobs"]
    if jobs.kind != "rq":
        jobs.wait(30)
    jobs.shutdown()


@pytest.fixture
def org(app):
    return app.extensions["org"]


@pytest.fixture
def session(app):
    """The thread's scoped session; no app context is held, so requests get their own `g`."""
    yield db.Session
    db.Session.remove()


@pytest.fixture
def frozen_clock():
    """A clock that moves only when told: `frozen_clock.advance(minutes=5)`."""

    class Frozen:
        def __init__(self):
            self.value = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)

        def __call__(self):
            return self.value

        def advance(self, **delta):
            self.value += timedelta(**delta)

    frozen = Frozen()
    clock.set_source(frozen)
    yield frozen
    clock.set_source(None)


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1) or match.group(2)


class Browser:
    """A test client that behaves like a person: it reads the form's CSRF token first."""

    def __init__(self, client):
        self.client = client

    def get(self, url, **kwargs):
        return self.client.get(url, **kwargs)

    def submit(self, page_url: str, action: str | None = None, data=None, **kwargs):
        page = self.client.get(page_url)
        assert page.status_code == 200, f"{page_url} answered {page.status_code}"
        form = {"csrf_token": csrf_from(page.get_data(as_text=True))}
        form.update(data or {})
        return self.client.post(action or page_url, data=form, **kwargs)

    def sign_in(self, name="Ada Lovelace", email="ada@example.com", admin=False,
                security=False):
        self.identity = {"name": name, "email": email, "admin": admin, "security": security}
        data = {"name": name, "email": email}
        if admin:
            data["admin"] = "y"
        if security:
            data["security"] = "y"
        response = self.submit("/sign-in", "/sign-in/dev", data)
        assert response.status_code == 302, response.get_data(as_text=True)
        return response

    def sign_in_again(self):
        """The same person again: a sign-in lasts 12 hours of the app's clock, so a test
        that moves the clock on by days signs in afresh before it reads a page."""
        return self.sign_in(**self.identity)

    def declare(self, **fields):
        data = {"title": "example.com returning errors", "severity": "P2",
                "description": "503s on every page"}
        data.update(fields)
        response = self.submit("/incidents/new", data=data)
        assert response.status_code == 302, response.get_data(as_text=True)
        return response.location.rsplit("/", 1)[-1]


@pytest.fixture
def browser(app):
    return Browser(app.test_client())


@pytest.fixture
def other_browser(app):
    return Browser(app.test_client())


@pytest.fixture
def sandbox_app(migrated, redis_url, tmp_path, app):
    """An app of its own whose Microsoft 365 is the built-in Graph sandbox (its state in
    tmp_path), as `make run` has it."""
    settings = make_settings(migrated, redis_url=redis_url, graph_base_url=None,
                             graph_sandbox_db=str(tmp_path / "graph-sandbox.db"))
    application = create_app(settings, TESTING=True, SERVER_NAME="incident-desk.test")
    yield application
    finish_jobs(application)
