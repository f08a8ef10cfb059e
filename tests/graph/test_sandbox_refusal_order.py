"""The sandbox checks who may make a request before it looks at what the request asks, as
Graph does: a request certain to be refused as invalid answers 403 without the permission
(or the grant, or the team membership) and 400 with it, and changes nothing either way.
The set-up check (app/m365/setup_check) relies on exactly this."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from graph import permissions
from graph.client import GraphClient
from graph.port import ME, EventRequest, GraphError, InvalidRequest, Mail, Sender
from graph.sandbox.seed import CLIENT_ID, SHARED_MAILBOX, register_incident_desk
from tests.graph.conftest import ACTOR, TEAM

GENERAL = "19:general@thread.tacv2"
START = datetime(2026, 12, 1, 9, tzinfo=UTC)

# Each request as the set-up check makes it, with the delegated permission it needs.
AS_A_PERSON = {
    "Channel.Create": lambda g: g.create_channel(TEAM, 'check: "?#%*"'),
    "ChannelMessage.Send": lambda g: g.post_without_body(TEAM, GENERAL),
    "Mail.ReadWrite": lambda g: g.create_invalid_draft(ME),
    "Mail.Send": lambda g: g.send_mail(ME, Mail("check", "", to=())),
    "Calendars.ReadWrite": lambda g: g.create_event(ME, EventRequest(
        "check", START, START - timedelta(minutes=1), online_meeting=False)),
    "OnlineMeetings.ReadWrite": lambda g: g.create_online_meeting(
        ME, "check", START, START + timedelta(hours=1), ""),
}


@pytest.fixture
def tenant(sandbox):
    state = sandbox.state
    state.reset()
    sandbox.faults.reset()
    register_incident_desk(state)
    state.configure_tenant(member_propagation=0.0, channel_list_lag=0.0)
    state.add_team(TEAM, "Incidents")
    state.add_channel(TEAM, "General", GENERAL)
    state.add_team_member(TEAM, ACTOR, owner=True)
    state.add_user("outsider@example.com")
    return sandbox


def as_person(server, scopes, who: str = ACTOR) -> GraphClient:
    token = server.state.token_for(who, CLIENT_ID, scopes=scopes)
    return GraphClient(server.graph_base_url, lambda: token, timeout=5)


def as_app(server) -> GraphClient:
    return GraphClient(server.graph_base_url, lambda: server.state.app_token(CLIENT_ID),
                       timeout=5)


def nothing_made(state) -> bool:
    counts = state.summary()
    return not any(counts.get(kind) for kind in ("message", "draft", "mail", "event",
                                                  "meeting", "file", "upload")) \
        and [c["id"] for c in state.channels()] == [GENERAL]


@pytest.mark.parametrize("permission", sorted(AS_A_PERSON))
def test_an_invalid_request_is_refused_for_want_of_permission_first(tenant, permission):
    everything = permissions.delegated_scopes()
    with pytest.raises(GraphError) as refused:
        AS_A_PERSON[permission](as_person(tenant, [s for s in everything if s != permission]))
    assert refused.value.status == 403
    with pytest.raises(InvalidRequest) as invalid:
        AS_A_PERSON[permission](as_person(tenant, everything))
    assert invalid.value.status == 400
    assert nothing_made(tenant.state)


@pytest.mark.parametrize("permission", ["Channel.Create", "ChannelMessage.Send"])
def test_someone_outside_the_team_is_refused_before_the_request_is_read(tenant, permission):
    outsider = as_person(tenant, permissions.delegated_scopes(), "outsider@example.com")
    with pytest.raises(GraphError) as refused:
        AS_A_PERSON[permission](outsider)
    assert refused.value.status == 403
    assert nothing_made(tenant.state)


def test_the_shared_mailbox_answers_403_outside_the_rbac_scope_and_400_inside(tenant):
    app = as_app(tenant)
    for attempt in (lambda box: app.create_invalid_draft(Sender(box)),
                    lambda box: app.send_mail(Sender(box), Mail("check", "", to=()))):
        with pytest.raises(GraphError) as refused:
            attempt("ceo@example.org")
        assert refused.value.status == 403
        with pytest.raises(InvalidRequest):
            attempt(SHARED_MAILBOX)
    assert nothing_made(tenant.state)


def test_an_upload_session_needs_a_write_grant_and_cancelling_it_leaves_no_file(tenant):
    state = tenant.state
    state.add_site("reports-site")
    state.add_drive("reports", site_id="reports-site")
    app = as_app(tenant)
    with pytest.raises(GraphError) as refused:  # no grant on the site at all
        app.start_upload_session("reports", "Incident reports", "check.docx")
    assert refused.value.status == 403
    state.grant_site(CLIENT_ID, "reports-site", "read")
    with pytest.raises(GraphError) as read_only:
        app.start_upload_session("reports", "Incident reports", "check.docx")
    assert read_only.value.status == 403
    state.grant_site(CLIENT_ID, "reports-site", "write")
    session = app.start_upload_session("reports", "Incident reports", "check.docx")
    assert state.summary().get("upload") == 1
    app.cancel_upload_session(session)
    assert nothing_made(state)


def test_archiving_a_channel_that_is_not_there_needs_the_permission_first(tenant):
    state = tenant.state
    state.add_app("no-settings", "s", "Without ChannelSettings",
                  application=["Sites.Selected"])
    without = GraphClient(tenant.graph_base_url,
                          lambda: state.app_token("no-settings"), timeout=5)
    with pytest.raises(GraphError) as refused:
        without.archive_channel(TEAM, "19:nothing@thread.tacv2")
    assert refused.value.status == 403
    with pytest.raises(GraphError) as missing:
        as_app(tenant).archive_channel(TEAM, "19:nothing@thread.tacv2")
    assert missing.value.status == 404
