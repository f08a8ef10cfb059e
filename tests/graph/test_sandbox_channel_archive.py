"""The sandbox's channel archive and unarchive routes, as Microsoft's pages document them
(https://learn.microsoft.com/graph/api/channel-archive, .../channel-unarchive): called
directly, so what is checked here is the routes' own answers; the token and permission
checks in front of every route are graph/sandbox/app.py's."""

from __future__ import annotations

import json

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from graph.sandbox import SandboxState
from graph.sandbox import routes_channel_archive as routes
from graph.sandbox.auth import requirement_of
from graph.sandbox.wire import ApiError, Ctx

TEAM = "team-1"
OWNER = "owner@example.com"


@pytest.fixture
def state():
    state = SandboxState()
    state.add_team(TEAM, "Incidents")
    with state.tx() as tx:
        tx.put("member", f"{TEAM}/{OWNER}", {"userId": OWNER, "roles": ["owner"]},
               scope=TEAM)
    yield state
    state.close()


def ctx(state, path: str, body=None) -> Ctx:
    builder = EnvironBuilder(method="POST", path=f"/v1.0{path}",
                             data=None if body is None else json.dumps(body),
                             content_type="application/json")
    return Ctx(Request(builder.get_environ()), state, OWNER, "request-1")


def channel_doc(state, channel_id: str) -> dict:
    (found,) = [c for c in state.channels(TEAM) if c["id"] == channel_id]
    return found


def test_both_routes_need_channel_settings_read_write_all_delegated_or_application():
    for route, doc in ((routes.archive_channel, routes.ARCHIVE_DOC),
                       (routes.unarchive_channel, routes.UNARCHIVE_DOC)):
        requirement = requirement_of(route)
        assert requirement.delegated == ("ChannelSettings.ReadWrite.All",)
        assert requirement.application == ("ChannelSettings.ReadWrite.All",)
        assert requirement.doc == doc


def test_archive_answers_202_with_the_operations_location_and_no_content(state):
    channel = state.add_channel(TEAM, "inc-1")["id"]
    response = routes.archive_channel(
        ctx(state, f"/teams/{TEAM}/channels/{channel}/archive",
            {"shouldSetSpoSiteReadOnlyForMembers": False}), TEAM, channel)
    assert response.status_code == 202 and response.get_data() == b""
    assert response.headers["Location"].startswith(f"/teams/{TEAM}/operations/")
    assert channel_doc(state, channel)["isArchived"] is True
    again = routes.archive_channel(ctx(state, "/archive"), TEAM, channel)  # no body, again
    assert again.status_code == 202 and channel_doc(state, channel)["isArchived"] is True
    back = routes.unarchive_channel(ctx(state, "/unarchive"), TEAM, channel)
    assert back.status_code == 202 and back.headers["Location"] != response.headers["Location"]
    assert channel_doc(state, channel)["isArchived"] is False


def test_a_team_that_is_archived_refuses_both_as_documented(state):
    channel = state.add_channel(TEAM, "inc-1")["id"]
    with state.tx() as tx:
        tx.put("team", TEAM, {**tx.get("team", TEAM), "isArchived": True})
    for route in (routes.archive_channel, routes.unarchive_channel):
        with pytest.raises(ApiError) as caught:
            route(ctx(state, "/x"), TEAM, channel)
        assert (caught.value.status, caught.value.code) == (400, "BadRequest")
        assert caught.value.message == ("Team has to be active, for channel to be archived "
                                        f"or unarchived: {channel}")
    assert channel_doc(state, channel)["isArchived"] is False


def test_a_private_channel_needs_an_owner_of_its_own(state):
    channel = state.add_channel(TEAM, "sec-1", membership_type="private")["id"]
    with pytest.raises(ApiError) as caught:
        routes.archive_channel(ctx(state, "/x"), TEAM, channel)
    assert caught.value.status == 400
    with state.tx() as tx:
        tx.put("channel_member", f"{channel}/{OWNER}", {"userId": OWNER, "roles": ["owner"]},
               scope=channel)
    assert routes.archive_channel(ctx(state, "/x"), TEAM, channel).status_code == 202


def test_a_body_flag_that_is_not_a_boolean_is_refused(state):
    channel = state.add_channel(TEAM, "inc-1")["id"]
    with pytest.raises(ApiError) as caught:
        routes.archive_channel(ctx(state, "/x", {"shouldSetSpoSiteReadOnlyForMembers": "yes"}),
                               TEAM, channel)
    assert caught.value.status == 400
    assert channel_doc(state, channel)["isArchived"] is False


def test_unknown_team_or_channel_is_not_found(state):
    channel = state.add_channel(TEAM, "inc-1")["id"]
    for team, which in (("no-such-team", channel), (TEAM, "19:missing@thread.tacv2")):
        with pytest.raises(ApiError) as caught:
            routes.archive_channel(ctx(state, "/x"), team, which)
        assert caught.value.status == 404


def test_a_person_must_be_in_the_team_an_app_need_not(state):
    from graph.sandbox.auth import Principal

    channel = state.add_channel(TEAM, "inc-1")["id"]
    settings = frozenset({"ChannelSettings.ReadWrite.All"})
    stranger = ctx(state, "/x")
    stranger.principal = Principal("delegated", "app-1", settings, user_id="u-1",
                                   upn="stranger@example.com")
    with pytest.raises(ApiError) as caught:
        routes.archive_channel(stranger, TEAM, channel)
    assert caught.value.status == 403
    assert channel_doc(state, channel)["isArchived"] is False
    app_alone = ctx(state, "/x")
    app_alone.principal = Principal("application", "app-1", settings, name="Incident Desk")
    assert routes.archive_channel(app_alone, TEAM, channel).status_code == 202


def test_posting_is_refused_only_while_archived():
    routes.refuse_if_archived({"id": "c", "isArchived": False})
    routes.refuse_if_archived({"id": "c"})  # a channel made before isArchived was kept
    with pytest.raises(ApiError) as caught:
        routes.refuse_if_archived({"id": "c", "isArchived": True})
    assert (caught.value.status, caught.value.code) == (403, "Forbidden")


def test_the_sandbox_serves_both_routes():
    from graph.sandbox import create_wsgi_app

    adapter = create_wsgi_app().url_map.bind("sandbox.test")
    for action, route in (("archive", routes.archive_channel),
                          ("unarchive", routes.unarchive_channel)):
        (kind, endpoint), args = adapter.match(
            f"/v1.0/teams/{TEAM}/channels/19:abc@thread.tacv2/{action}", method="POST")
        assert (kind, endpoint) == ("graph", route)
        assert args == {"team": TEAM, "channel": "19:abc@thread.tacv2"}
