"""The permissions Incident Desk asks for, held against the README and the sandbox: each
Graph call fails without the permission Microsoft lists for it and works with it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from graph import permissions
from graph.client import GraphClient
from graph.port import EventRequest, GraphError, Mail, Sender
from graph.sandbox.seed import register_incident_desk
from tests.graph.conftest import ACTOR, DRIVE, TEAM

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_rows() -> set[tuple[str, str, bool]]:
    """(permission, delegated|application, scoped to a resource?) from the README."""
    text = README.read_text()
    table = text[text.index("<!-- permissions:start -->"):text.index("<!-- permissions:end -->")]
    rows = set()
    for line in table.splitlines():
        match = re.match(r"\s*\| `([\w.]+)` \| (\w+) \| ([^|]+) \|", line)
        if match:
            rows.add((match.group(1), match.group(2), match.group(3).strip() != "Entra"))
    return rows


def test_the_readme_table_is_the_declaration():
    declared = {(p.name, "delegated", False) for p in permissions.DELEGATED} | {
        (p.name, "application", bool(p.scoped_to)) for p in permissions.APPLICATION}
    assert readme_rows() == declared


def test_sign_in_and_jobs_ask_for_the_declared_concrete_scopes():
    from graph.entra import DEFAULT_SCOPES
    from graph.tokens import DELEGATED_SCOPES

    assert DEFAULT_SCOPES == DELEGATED_SCOPES == permissions.delegated_scopes()
    assert not any(".default" in scope for scope in DELEGATED_SCOPES)
    assert not set(DELEGATED_SCOPES) & set(permissions.RESERVED_SCOPES)


GENERAL = "19:general@thread.tacv2"
START = datetime(2026, 12, 1, 14, tzinfo=UTC)


# Each call of the port as Incident Desk makes it, with the delegated permission that
# Microsoft lists for it (graph/sandbox/permissions.py cites the pages).
CALLS = {
    "Channel.Create": lambda g: g.create_channel(TEAM, "new-one"),
    "Channel.ReadBasic.All": lambda g: g.find_channel(TEAM, "General"),
    "ChannelMessage.Send": lambda g: g.post_message(TEAM, "19:general@thread.tacv2",
                                                    "<p>hi</p>"),
    "ChannelMessage.Read.All": lambda g: list(g.channel_messages(
        TEAM, "19:general@thread.tacv2")),
    "TeamMember.ReadWrite.All": lambda g: g.add_team_member(TEAM, "bo@example.com"),
    "Mail.ReadWrite": lambda g: g.create_draft(Sender(), Mail("s", "<p>x</p>",
                                                              ["a@example.com"])),
    "Mail.Send": lambda g: g.send_mail(Sender(), Mail("s", "<p>x</p>", ["a@example.com"])),
    "Calendars.ReadWrite": lambda g: g.create_event(Sender(), EventRequest(
        "Review", START, START + timedelta(hours=1), transaction_id="T")),
    "OnlineMeetings.ReadWrite": lambda g: g.create_online_meeting(
        Sender(), "Command room", START, START + timedelta(hours=1), external_id="X"),
}

# The same for what the app does with its own token (application permissions).
APP_CALLS = {
    "Sites.Selected": [
        lambda g: list(g.list_items("contacts-site", "contacts")),
        lambda g: g.upload_file("incident-reports", "Incident reports", "a.docx", b"x"),
        lambda g: g.get_file("incident-reports", "Templates/t.docx")],
    "ChannelSettings.ReadWrite.All": [lambda g: g.archive_channel(TEAM, GENERAL)],
}


def app_client(server, roles) -> GraphClient:
    token = server.state.app_token(permissions_client(server), roles=roles)
    return GraphClient(server.graph_base_url, lambda: token, timeout=5)


@pytest.mark.parametrize("permission", sorted(APP_CALLS))
def test_each_call_as_the_app_needs_its_permission(tenant, permission):
    state = tenant.state
    state.add_site("incident-reports-site")
    state.add_drive("incident-reports", site_id="incident-reports-site")
    state.put_file("incident-reports", "Templates/t.docx", b"template")
    state.seed_list("contacts-site", "contacts", [{"Title": "yes"}])
    everything = permissions.consented_application_roles()
    without = [r for r in everything if r != permission]
    for call in APP_CALLS[permission]:
        with pytest.raises(GraphError) as refused:
            call(app_client(tenant, without))
        assert refused.value.status == 403
        call(app_client(tenant, everything))


def test_every_call_the_app_makes_is_held_to_a_permission():
    """Each permission Incident Desk declares is needed by a call tested here, so none is
    asked for idly: User.Read by sign-in, Mail.* as the app in the shared-mailbox test,
    ChannelMember.ReadWrite.All in the private-channel one."""
    exercised = set(CALLS) | set(APP_CALLS) | {"User.Read", "ChannelMember.ReadWrite.All"}
    declared = {p.name for p in (*permissions.DELEGATED, *permissions.APPLICATION)}
    assert declared <= exercised


def test_adding_to_a_private_channel_needs_its_permission(tenant):
    state = tenant.state
    state.add_user("bo@example.com")
    state.add_team_member(TEAM, "bo@example.com")
    everything = permissions.delegated_scopes()
    channel = client(tenant, everything).create_channel(TEAM, "sec-1", private_owner=ACTOR)
    without = [s for s in everything if s != "ChannelMember.ReadWrite.All"]
    with pytest.raises(GraphError) as refused:
        client(tenant, without).add_channel_member(TEAM, channel.id, "bo@example.com")
    assert refused.value.status == 403
    client(tenant, everything).add_channel_member(TEAM, channel.id, "bo@example.com")


@pytest.fixture
def tenant(sandbox):
    sandbox.state.reset()
    sandbox.faults.reset()
    register_incident_desk(sandbox.state)
    sandbox.state.configure_tenant(member_propagation=0.0, channel_list_lag=0.0)
    sandbox.state.add_team(TEAM, "Incidents")
    sandbox.state.add_channel(TEAM, "General", "19:general@thread.tacv2")
    sandbox.state.add_team_member(TEAM, ACTOR, owner=True)
    sandbox.state.add_user("bo@example.com")
    return sandbox


def client(server, scopes) -> GraphClient:
    token = server.state.token_for(ACTOR, permissions_client(server), scopes=scopes)
    return GraphClient(server.graph_base_url, lambda: token, timeout=5)


def permissions_client(server) -> str:
    from graph.sandbox.seed import CLIENT_ID

    return CLIENT_ID


@pytest.mark.parametrize("permission", sorted(CALLS))
def test_each_call_needs_its_permission(tenant, permission):
    everything = permissions.delegated_scopes()
    without = [s for s in everything if s != permission]
    with pytest.raises(GraphError) as refused:
        CALLS[permission](client(tenant, without))
    assert refused.value.status == 403
    CALLS[permission](client(tenant, everything))  # and works with it


def test_a_made_up_token_is_refused_with_401(tenant):
    made_up = GraphClient(tenant.graph_base_url, lambda: "eyJhbGciOiJIUzI1NiJ9.e30.x")
    with pytest.raises(GraphError) as refused:
        made_up.find_channel(TEAM, "General")
    assert refused.value.status == 401


def test_someone_outside_the_team_cannot_post_or_create(tenant):
    outsider = GraphClient(tenant.graph_base_url, lambda: tenant.state.token_for(
        "bo@example.com", permissions_client(tenant)), timeout=5)
    for call in ("Channel.Create", "ChannelMessage.Send", "ChannelMessage.Read.All"):
        with pytest.raises(GraphError) as refused:
            CALLS[call](outsider)
        assert refused.value.status == 403, call


def test_only_an_owner_adds_members(tenant):
    tenant.state.add_team_member(TEAM, "member@example.com")
    member = GraphClient(tenant.graph_base_url, lambda: tenant.state.token_for(
        "member@example.com", permissions_client(tenant)), timeout=5)
    with pytest.raises(GraphError) as refused:
        CALLS["TeamMember.ReadWrite.All"](member)
    assert refused.value.status == 403


def test_the_app_reads_and_writes_only_the_sites_granted(tenant):
    state = tenant.state
    state.add_site("other-site")
    state.seed_list("other-site", "secrets", [{"Title": "no"}])
    state.add_drive(DRIVE, site_id="other-site")
    state.seed_list("contacts-site", "contacts", [{"Title": "yes"}])
    state.add_site("incident-reports-site")
    state.add_drive("incident-reports", site_id="incident-reports-site")
    app = GraphClient(tenant.graph_base_url, lambda: state.app_token(), timeout=5)
    assert [i.fields["Title"] for i in app.list_items("contacts-site", "contacts")] == ["yes"]
    app.upload_file("incident-reports", "Incident reports", "a.docx", b"x")
    with pytest.raises(GraphError) as refused:
        list(app.list_items("other-site", "secrets"))
    assert refused.value.status == 403
    with pytest.raises(GraphError):
        app.upload_file(DRIVE, "", "b.docx", b"x")


def test_the_shared_mailbox_is_the_only_one_the_app_may_send_from(tenant):
    from graph.sandbox.seed import SHARED_MAILBOX

    app = GraphClient(tenant.graph_base_url, lambda: tenant.state.app_token(), timeout=5)
    mail = Mail("s", "<p>x</p>", ["a@example.com"])
    draft = app.create_draft(Sender(SHARED_MAILBOX), mail)
    app.send_draft(Sender(SHARED_MAILBOX), draft)
    with pytest.raises(GraphError) as refused:
        app.create_draft(Sender("ceo@example.org"), mail)
    assert refused.value.status == 403
