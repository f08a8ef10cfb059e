"""GRAPH_BASE_URL naming a standalone sandbox (`python -m graph.sandbox`, a real process):
the app learns the sandbox's ids from it, so declaring makes a channel and the update form
keeps its Teams box; with ENTRA_* and ENTRA_CA_BUNDLE people sign in through MSAL against
its TLS Entra. A GRAPH_BASE_URL that is not a sandbox, without the ids, refuses to start
and names them; the set-up check lists where each id came from; /sandbox shows the
standalone sandbox's state."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from app import create_app
from app.m365.graph_setup import STANDALONE, ConfigurationError
from app.outbox.models import Delivery
from graph.sandbox import seed
from graph.sandbox.state import SandboxState
from tests.conftest import Browser, csrf_from, drain, finish_jobs, make_settings

ROOT = Path(__file__).resolve().parent.parent
GRACE = "grace@example.org"  # made a team member by `--member`, as an administrator would


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """`python -m graph.sandbox` in its own process, its state in a file; what it printed."""
    db = tmp_path_factory.mktemp("standalone") / "graph-sandbox.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPH_", "M365_"))}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "graph.sandbox", "--port", "0", "--db", str(db),
         "--member", GRACE], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    printed: dict[str, str] = {}
    deadline = time.monotonic() + 30
    while "GRAPH_BASE_URL" not in printed and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"the sandbox exited: {process.stderr.read()[-2000:]}")
        if line.startswith("Incident Desk:"):
            printed.update(re.findall(r"([A-Z_]+)=(\S+?)\)?(?=\s|$)", line))
    assert "ENTRA_CA_BUNDLE" in printed, printed
    yield {**printed, "db": str(db)}
    process.terminate()
    process.wait(10)


@pytest.fixture
def fresh(standalone):
    """The standalone sandbox back to its seed, with Grace in its team."""
    controls = standalone["GRAPH_BASE_URL"].removesuffix("/v1.0") + "/_sandbox"
    requests.post(f"{controls}/reset", json={"seed": True}, timeout=5).raise_for_status()
    requests.post(f"{controls}/tenant", json={"member_propagation": 0.0,
                                              "channel_list_lag": 0.0},
                  timeout=5).raise_for_status()
    requests.post(f"{controls}/team-members", json={"upns": [GRACE]},
                  timeout=5).raise_for_status()
    return SandboxState(standalone["db"])  # read only here: the sandbox owns the file


def _app(migrated, redis_url, **settings):
    return create_app(make_settings(migrated, redis_url=redis_url, **settings),
                      TESTING=True, SERVER_NAME="incident-desk.test")


@pytest.fixture
def only_url(migrated, redis_url, standalone, fresh, app):
    """GRAPH_BASE_URL and nothing else Microsoft 365 (after `app`: its clean-up runs
    last)."""
    application = _app(migrated, redis_url, graph_base_url=standalone["GRAPH_BASE_URL"],
                       graph_sandbox_db=str(Path(standalone["db"]).parent / "not-here.db"))
    yield application
    finish_jobs(application)


def _channel_prefix(reference: str) -> str:
    """INC-2026-0001's channel is named inc-0001-<day>-<title>."""
    return f"inc-{reference.rsplit('-', 1)[-1]}-"


def _statuses(session) -> dict[str, str]:
    session.expire_all()
    return {d.key.split("/", 1)[1]: d.status for d in session.scalars(select(Delivery))}


def test_graph_base_url_alone_gets_the_sandboxs_ids_and_declaring_makes_a_channel(
        only_url, fresh, session, frozen_clock):
    setup = only_url.extensions["graph_setup"]
    installation = only_url.extensions["installation"]
    assert setup.kind == STANDALONE
    assert (installation.team_id, installation.broadcast_channel_id, installation.contacts_list_id,
            installation.reports_drive_id) == (seed.TEAM_ID, seed.BROADCAST_CHANNEL_ID,
                                          seed.LIST_ID, seed.DRIVE_ID)
    browser = Browser(only_url.test_client())
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")  # joins the sandbox team
    reference = browser.declare(title="Payments <down>", severity="P1")
    drain(only_url)
    statuses = _statuses(session)  # the report may still wait out its debounce (below)
    others = {key: status for key, status in statuses.items() if not key.startswith("report/")}
    assert "channel" in others and set(others.values()) == {"delivered"}, others
    channels = [c["displayName"] for c in fresh.channels()]
    assert any(name.startswith(_channel_prefix(reference)) for name in channels), channels
    posted = [m for m in fresh.messages() if m["channel_id"] == seed.BROADCAST_CHANNEL_ID]
    assert posted, "the P1 was not announced in the sandbox's broadcast channel"
    form = browser.get(f"/incidents/{reference}/updates/new").get_data(as_text=True)
    assert 'name="to_channel"' in form and "Teams is not set up" not in form
    frozen_clock.advance(minutes=5)  # past the reports' debounce: the sweep writes them
    with only_url.app_context():
        from app.jobs import sweep_outbox

        sweep_outbox()
    drain(only_url)
    assert set(_statuses(session).values()) == {"delivered"}, _statuses(session)
    files = [f["path"] for f in fresh.files() if f["drive_id"] == seed.DRIVE_ID]
    assert any(reference in path for path in files), files  # in the sandbox's library


def test_the_sandbox_page_shows_the_standalone_sandboxs_state(only_url, standalone, fresh):
    browser = Browser(only_url.test_client())
    browser.sign_in()
    reference = browser.declare(title="Search is slow", severity="P1")
    drain(only_url)
    page = browser.get("/sandbox")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"Graph sandbox at <code>{standalone['GRAPH_BASE_URL']}</code>" in html
    assert os.path.abspath(standalone["db"]) in html  # which state it shows
    assert _channel_prefix(reference) in html  # the channel it made
    assert 'href="/sandbox"' in browser.get("/incidents").get_data(as_text=True)  # the nav


def test_the_sandbox_page_says_when_it_cannot_read_the_state(
        migrated, redis_url, app, tmp_path):
    """A standalone sandbox keeping its state in memory: the page says how to see it."""
    from graph.sandbox import SandboxServer

    with SandboxServer() as server:
        seed.seed_defaults(server.state)
        application = _app(migrated, redis_url, graph_base_url=server.graph_base_url,
                           graph_sandbox_db=str(tmp_path / "absent.db"))
        try:
            browser = Browser(application.test_client())
            browser.sign_in()
            page = browser.get("/sandbox")
            html = page.get_data(as_text=True)
            assert page.status_code == 200 and "keeps its state in memory" in html
            assert "GRAPH_SANDBOX_DB" in html and "Last 100 requests" not in html
            assert browser.get("/sandbox/file?drive=x&path=y").status_code == 404
        finally:
            finish_jobs(application)


def test_the_sandbox_page_is_still_404_with_a_tenant(migrated, redis_url, app, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("Microsoft's Graph is never asked at start-up")

    monkeypatch.setattr("app.m365.graph_setup.ask_sandbox", no_network)
    application = _app(migrated, redis_url, graph_base_url=None,
                       entra_tenant_id="tenant", entra_client_id="client",
                       entra_client_secret="secret", teams_team_id="team-1")
    try:
        assert application.extensions["graph_setup"].kind == "Microsoft Graph"
        with application.test_request_context():
            from app.web.m365.sandbox_page import sandbox_record

            assert sandbox_record(application) is None  # the route's 404
    finally:
        finish_jobs(application)


# ---- a GRAPH_BASE_URL that is not a sandbox ----------------------------------------------


@pytest.fixture
def not_a_sandbox():
    """Something that answers like Graph's front door (a proxy): 400 to everything."""
    def answer(environ, start_response):
        return Response('{"error": {"code": "BadRequest"}}', 400,
                        content_type="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, answer, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1.0"
    server.shutdown()


def test_a_graph_that_is_not_a_sandbox_without_ids_refuses_to_start(
        migrated, redis_url, not_a_sandbox):
    with pytest.raises(ConfigurationError) as refused:
        _app(migrated, redis_url, graph_base_url=not_a_sandbox)
    message = str(refused.value)
    assert "is not a Graph sandbox" in message and "M365_TEAM_ID" in message
    assert not_a_sandbox in message


def test_half_a_contacts_list_is_refused_too(migrated, redis_url, not_a_sandbox):
    with pytest.raises(ConfigurationError, match="M365_CONTACTS_LIST_ID"):
        _app(migrated, redis_url, graph_base_url=not_a_sandbox, teams_team_id="team-1",
             contacts_site_id="site-1")


def test_microsofts_graph_without_a_team_refuses_without_asking_it(
        migrated, redis_url, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("Microsoft's Graph is never asked at start-up")

    monkeypatch.setattr("app.m365.graph_setup.ask_sandbox", no_network)
    with pytest.raises(ConfigurationError, match=r"Microsoft Graph .*M365_TEAM_ID"):
        _app(migrated, redis_url, graph_base_url="https://graph.microsoft.com/v1.0")


def test_a_sandbox_that_is_not_running_is_named_within_the_timeout(migrated, redis_url):
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as refused:
        _app(migrated, redis_url, graph_base_url="http://127.0.0.1:9/v1.0")
    assert time.monotonic() - started < 5
    message = str(refused.value)
    assert "did not answer" in message and "python -m graph.sandbox" in message
    assert "M365_TEAM_ID" in message


def test_the_wsgi_entry_point_says_what_to_set_without_a_traceback(not_a_sandbox, tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GRAPH_", "M365_", "ENTRA_", "REDIS_"))}
    env.update(GRAPH_BASE_URL=not_a_sandbox, PYTHONPATH=str(ROOT),
               SECRET_KEY="test-secret-key-not-for-production", BACKGROUND_SWEEP="false",
               DATABASE_URL=f"sqlite:///{tmp_path / 'desk.db'}",
               INCIDENT_DESK_INSTANCE=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Incident Desk cannot start:" in done.stderr and "M365_TEAM_ID" in done.stderr
    assert "Traceback" not in done.stderr


# ---- the set-up check -----------------------------------------------------------------


def _check(application):
    from app.m365.setup_check import run_check

    with application.app_context():
        return run_check(application, timeout=5.0, budget=60.0)


def test_the_set_up_check_lists_the_ids_the_sandbox_filled_in(only_url, standalone):
    report = _check(only_url)
    address = report.finding("graph-address")
    assert address.status == "passed" and standalone["GRAPH_BASE_URL"] in address.detail
    team = report.finding("setting-m365-team-id")
    assert team.section == "Settings" and team.needs == "M365_TEAM_ID"
    assert f"the sandbox at {standalone['GRAPH_BASE_URL']} says {seed.TEAM_ID}" in team.detail
    mail = report.finding("setting-m365-mail-from")
    assert mail.status == "not applicable" and "sent as the person" in mail.detail


def test_the_set_up_check_names_unset_ids_and_a_graph_that_did_not_answer(
        migrated, redis_url, app):
    application = _app(migrated, redis_url, graph_base_url="http://127.0.0.1:9/v1.0",
                       teams_team_id="team-1")  # enough to start; the rest is unset
    try:
        report = _check(application)
        address = report.finding("graph-address")
        assert address.status == "failed" and "did not answer at start-up" in address.detail
        reports = report.finding("setting-m365-reports-drive-id")
        assert reports.status == "not applicable"
        assert "reports are not put in SharePoint" in reports.detail
        assert report.finding("setting-m365-team-id").detail == "M365_TEAM_ID = team-1"
    finally:
        finish_jobs(application)


# ---- ENTRA_* and ENTRA_CA_BUNDLE against the standalone sandbox's Entra ---------------


@pytest.fixture
def with_entra(migrated, redis_url, standalone, fresh, app, monkeypatch):
    """The standalone sandbox's printed settings, Entra's included; REQUESTS_CA_BUNDLE
    pointing elsewhere must not matter (the MSAL session ignores the environment)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    application = create_app(make_settings(
        migrated, redis_url=redis_url, graph_base_url=standalone["GRAPH_BASE_URL"],
        entra_tenant_id=standalone["ENTRA_TENANT_ID"],
        entra_client_id=standalone["ENTRA_CLIENT_ID"],
        entra_client_secret=standalone["ENTRA_CLIENT_SECRET"],
        entra_authority_host=standalone["ENTRA_AUTHORITY_HOST"],
        entra_ca_bundle=standalone["ENTRA_CA_BUNDLE"]),
        TESTING=True, SERVER_NAME="incident-desk.test", PREFERRED_URL_SCHEME="https")
    yield application
    finish_jobs(application)


def _msal_sign_in(application, standalone, email: str) -> Browser:
    """The browser's part of a real sign-in: start, follow Entra's authorize URL (the
    sandbox answers it with the form it would post back), post that to the callback."""
    client = application.test_client()
    client.environ_base["HTTP_REFERER"] = "https://incident-desk.test/sign-in"
    page = client.get("/sign-in")
    started = client.post("/sign-in/microsoft",
                          data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert started.status_code == 302, started.get_data(as_text=True)
    assert started.location.startswith(standalone["ENTRA_AUTHORITY_HOST"])
    entra_page = requests.get(started.location, params={"login_hint": email}, timeout=10,
                              verify=standalone["ENTRA_CA_BUNDLE"])
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', entra_page.text))
    finished = client.post("/auth/callback", data=fields)
    assert finished.status_code == 302, finished.get_data(as_text=True)
    return Browser(client)


def test_ca_bundle_lets_msal_sign_in_and_declaring_reaches_the_sandbox(
        with_entra, standalone, fresh, session):
    browser = _msal_sign_in(with_entra, standalone, GRACE)
    reference = browser.declare(title="Checkout failing", severity="P2")
    drain(with_entra)
    statuses = _statuses(session)
    assert statuses.get("channel") == "delivered", statuses
    [channel] = [c for c in fresh.channels()
                 if c["displayName"].startswith(_channel_prefix(reference))]
    creators = {r["actor"] for r in fresh.requests()
                if r["method"] == "POST" and r["path"].endswith("/channels")}
    assert creators == {GRACE}  # as the person who signed in, through MSAL's token
    assert channel["displayName"]
    report = _check(with_entra)
    assert report.finding("app-token").status == "passed"  # the check trusts the CA too
    assert "ENTRA_CA_BUNDLE=" in report.finding("graph-address").detail


def test_without_the_ca_bundle_sign_in_fails_with_a_message(migrated, redis_url, standalone,
                                                            fresh, app):
    application = create_app(make_settings(
        migrated, redis_url=redis_url, graph_base_url=standalone["GRAPH_BASE_URL"],
        entra_tenant_id=standalone["ENTRA_TENANT_ID"],
        entra_client_id=standalone["ENTRA_CLIENT_ID"],
        entra_client_secret=standalone["ENTRA_CLIENT_SECRET"],
        entra_authority_host=standalone["ENTRA_AUTHORITY_HOST"]),
        TESTING=True, SERVER_NAME="incident-desk.test", PREFERRED_URL_SCHEME="https")
    try:
        client = application.test_client()
        client.environ_base["HTTP_REFERER"] = "https://incident-desk.test/sign-in"
        page = client.get("/sign-in")
        started = client.post("/sign-in/microsoft",
                              data={"csrf_token": csrf_from(page.get_data(as_text=True))})
        assert started.status_code == 502  # the sandbox's certificate is not trusted
        assert "Traceback" not in started.get_data(as_text=True)
    finally:
        finish_jobs(application)


def test_a_ca_bundle_that_is_not_a_file_is_refused(migrated, tmp_path):
    with pytest.raises(ValueError, match="ENTRA_CA_BUNDLE"):
        make_settings(migrated, entra_ca_bundle=str(tmp_path / "missing.pem"))


# ---- the sandbox's own controls ---------------------------------------------------------


def test_a_sandbox_reset_without_its_seed_is_named_at_start_up(migrated, redis_url):
    from graph.sandbox import SandboxServer

    with SandboxServer() as server:  # nothing seeded
        about = requests.get(f"{server.url}/_sandbox/seed", timeout=5).json()
        assert about["seeded"] is False and about["ids"] == {}
        with pytest.raises(ConfigurationError, match=r"no seeded tenant.*seed=1.*M365_TEAM_ID"):
            _app(migrated, redis_url, graph_base_url=server.graph_base_url)


def test_team_members_control_checks_what_it_is_given():
    from graph.sandbox import SandboxServer

    with SandboxServer() as server:
        seed.seed_defaults(server.state)
        url = f"{server.url}/_sandbox/team-members"
        assert requests.post(url, json={"upns": "ada@example.org"}, timeout=5).status_code == 400
        assert requests.post(url, json={"upns": ["not an address"]},
                             timeout=5).status_code == 400
        assert requests.post(url, json={"upns": ["a@example.org"], "team_id": "no-such"},
                             timeout=5).status_code == 400
        added = requests.post(url, json={"upns": ["Ada@Example.org"]}, timeout=5)
        assert added.json() == {"members": ["ada@example.org"]}
        with server.state.read() as tx:
            assert tx.get("member", f"{seed.TEAM_ID}/ada@example.org") is not None


def test_the_sandbox_page_falls_back_to_graph_sandbox_db(migrated, redis_url, standalone,
                                                         fresh, app):
    """The sandbox runs elsewhere (its --db is not a path here) and its file is shared:
    GRAPH_SANDBOX_DB names where this machine reads it."""
    from dataclasses import replace

    application = _app(migrated, redis_url, graph_base_url=standalone["GRAPH_BASE_URL"],
                       graph_sandbox_db=standalone["db"])
    try:
        setup = application.extensions["graph_setup"]
        application.extensions["graph_setup"] = replace(
            setup, sandbox={**setup.sandbox, "state_file": "/srv/sandbox/state.db"})
        browser = Browser(application.test_client())
        browser.sign_in()
        html = browser.get("/sandbox").get_data(as_text=True)
        assert "read from its state file" in html and standalone["db"] in html
        assert "/srv/sandbox/state.db" not in html
    finally:
        finish_jobs(application)
