"""The Graph sandbox over plain HTTP: each endpoint's answer and errors in Graph's shapes,
paging, idempotency, upload sessions, injected faults, persistence and threads."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime

import pytest
import requests

from graph.sandbox import Faults, SandboxServer, SandboxState, create_wsgi_app, seed_defaults
from tests.graph.conftest import CONTRACT_APP, PEOPLE, prepare_tenant

ACTOR = "ada@example.com"
TEAM = "team-1"
DRIVE = "drive-1"
CARD = "application/vnd.microsoft.card.adaptive"


class Http:
    """requests, pointed at the sandbox, as `ACTOR` unless told otherwise."""

    def __init__(self, server: SandboxServer, token: str | None = ACTOR):
        """`token` names the person signed in (a token is issued for them)."""
        self.server = server
        self.session = requests.Session()
        if token:
            bearer = server.state.token_for(token, CONTRACT_APP)
            self.session.headers["Authorization"] = f"Bearer {bearer}"

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.server.graph_base_url}{path}"

    def __getattr__(self, method):
        return lambda path, **kwargs: self.session.request(method.upper(), self.url(path),
                                                           timeout=10, **kwargs)


@pytest.fixture
def sandbox(running):
    running.state.reset()
    running.faults.reset()
    prepare_tenant(running.state)
    running.state.add_team(TEAM, "Incidents")
    running.state.add_team_member(TEAM, ACTOR, owner=True)
    for person in (*PEOPLE, "u1", "bo@example.com"):  # the directory knows them all
        running.state.add_user(person)
    running.state.add_drive(DRIVE)
    return running


@pytest.fixture
def graph(sandbox) -> Http:
    return Http(sandbox)


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"] and error["innerError"]["request-id"] and error["innerError"]["date"]
    return error


def card(text: str = "hello") -> str:
    return json.dumps({"type": "AdaptiveCard", "version": "1.5",
                       "body": [{"type": "TextBlock", "text": text}]})


def post(graph, channel, html="<p>hi</p>", cards=(), path=""):
    body = html + "".join(f'<attachment id="{c}"></attachment>' for c in cards)
    return graph.post(f"/teams/{TEAM}/channels/{channel}/messages{path}", json={
        "body": {"contentType": "html", "content": body},
        "attachments": [{"id": c, "contentType": CARD, "content": card()} for c in cards]})


def new_channel(graph, name="incident") -> str:
    response = graph.post(f"/teams/{TEAM}/channels", json={"displayName": name})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def message(subject="Update", to=("a@example.com",), **extra) -> dict:
    return {"subject": subject, "body": {"contentType": "HTML", "content": "<p>x</p>"},
            "toRecipients": [{"emailAddress": {"address": a}} for a in to], **extra}


# ---- auth, unknown routes, /me -------------------------------------------------------------


def test_graph_requests_need_a_bearer_token(sandbox, graph):
    error = error_of(Http(sandbox, token=None).get("/me"), 401, "InvalidAuthenticationToken")
    assert error["message"] == "Access token is empty."
    error_of(Http(sandbox, token="").get("/me"), 401, "InvalidAuthenticationToken")
    me = graph.get("/me", headers={"client-request-id": "abc"})
    assert me.status_code == 200 and me.headers["client-request-id"] == "abc"
    assert me.json()["userPrincipalName"] == ACTOR and me.json()["mail"] == ACTOR
    assert Http(sandbox).get("/me").json()["id"] == me.json()["id"]  # stable per actor
    assert [(r["status"], r["actor"]) for r in sandbox.state.requests()] == \
        [(401, ""), (401, ""), (200, ACTOR), (200, ACTOR)]


def test_unknown_routes_and_methods_answer_in_graphs_shape(sandbox, graph):
    error = error_of(graph.get("/nothing/here"), 400, "BadRequest")
    assert error["message"] == "Resource not found for the segment 'here'."
    error_of(graph.delete(f"/teams/{TEAM}/channels"), 405, "BadRequest")
    error_of(graph.get(f"{sandbox.url}/elsewhere"), 404, "NotFound")


# ---- Teams -------------------------------------------------------------------------------


def test_a_channel_is_created_listed_filtered_and_fetched(sandbox, graph):
    created = graph.post(f"/teams/{TEAM}/channels",
                         json={"displayName": "inc-2026-11-24-login", "description": "Login",
                               "membershipType": "standard"})
    assert created.status_code == 201
    channel = created.json()
    assert re.fullmatch(r"19:[0-9a-f]{32}@thread\.tacv2", channel["id"])
    assert channel["membershipType"] == "standard" and channel["description"] == "Login"
    assert channel["webUrl"].startswith("https://teams.microsoft.com/l/channel/")
    datetime.fromisoformat(channel["createdDateTime"].replace("Z", "+00:00"))
    sandbox.state.add_channel(TEAM, "O'Brien")  # set-up skips Teams' name rules
    found = graph.get(f"/teams/{TEAM}/channels",
                      params={"$filter": "displayName eq 'INC-2026-11-24-LOGIN'"}).json()
    assert [c["id"] for c in found["value"]] == [channel["id"]]
    quoted = graph.get(f"/teams/{TEAM}/channels",
                       params={"$filter": "displayName eq 'o''brien'"}).json()["value"]
    assert [c["displayName"] for c in quoted] == ["O'Brien"]
    assert len(graph.get(f"/teams/{TEAM}/channels").json()["value"]) == 2
    error_of(graph.get(f"/teams/{TEAM}/channels", params={"$filter": "startswith(x)"}),
             400, "BadRequest")
    assert graph.get(f"/teams/{TEAM}/channels/{channel['id']}").json() == \
        {**channel, "@odata.context": created.json()["@odata.context"]}
    error_of(graph.get(f"/teams/{TEAM}/channels/19:nope@thread.tacv2"), 404, "NotFound")
    assert [c["team_id"] for c in sandbox.state.channels(TEAM)] == [TEAM, TEAM]


@pytest.mark.parametrize("name", ["a" * 51, "", "  ", "what?", "a/b", "50%", "x#y", "a:b",
                                  "_hidden", "ends.", 'say "hi"', "it's", "a|b", "{x}"])
def test_an_illegal_channel_name_is_a_bad_request(sandbox, graph, name):
    error_of(graph.post(f"/teams/{TEAM}/channels", json={"displayName": name}), 400,
             "BadRequest")
    assert sandbox.state.channels() == []


def test_a_taken_name_and_a_missing_team(sandbox, graph):
    new_channel(graph, "inc-1")
    error = error_of(graph.post(f"/teams/{TEAM}/channels", json={"displayName": "INC-1"}),
                     400, "NameAlreadyExists")
    assert error["message"] == "Channel name already existed, please use other name."
    error = error_of(graph.post("/teams/nope/channels", json={"displayName": "fine"}),
                     404, "NotFound")
    assert error["message"] == "No team found with Group Id nope"
    assert len(sandbox.state.channels()) == 1


def test_a_message_with_cards_is_posted(sandbox, graph):
    channel = new_channel(graph)
    response = post(graph, channel, "<p>&lt;hi&gt; 🔥</p>", cards=["att-1", "att-2"])
    assert response.status_code == 201
    posted = response.json()
    assert posted["id"].isdigit() and posted["replyToId"] is None
    assert posted["from"]["user"]["displayName"] == ACTOR
    assert posted["webUrl"].startswith("https://teams.microsoft.com/l/message/")
    assert posted["body"]["content"].startswith("<p>&lt;hi&gt; 🔥</p><attachment id=\"att-1\">")
    assert [a["id"] for a in posted["attachments"]] == ["att-1", "att-2"]
    assert posted["attachments"][0]["content"] == card()  # the JSON string, unchanged
    (stored,) = sandbox.state.messages(TEAM, channel)
    assert stored["channel_id"] == channel and stored["team_id"] == TEAM
    assert stored["reply_to"] is None and stored["id"] == posted["id"]


def test_a_message_is_checked_before_it_is_kept(sandbox, graph):
    channel = new_channel(graph)
    url = f"/teams/{TEAM}/channels/{channel}/messages"
    attachment = {"id": "a1", "contentType": CARD, "content": card()}
    unmarked = graph.post(url, json={"body": {"contentType": "html", "content": "<p>x</p>"},
                                     "attachments": [attachment]})
    assert "Body does not contain marker for attachment with Id 'a1'" in \
        error_of(unmarked, 400, "BadRequest")["message"]
    marked = {"contentType": "html", "content": '<attachment id="a1"></attachment>'}
    for content in ("{not json", "[1, 2]"):
        bad = graph.post(url, json={"body": marked, "attachments": [{**attachment,
                                                                      "content": content}]})
        assert error_of(bad, 400, "BadRequest")["message"] == \
            "Failed to process content in attachment with Id 'a1'."
    as_object = graph.post(url, json={"body": marked, "attachments": [
        {**attachment, "content": {"type": "AdaptiveCard"}}]})
    error_of(as_object, 400, "BadRequest")
    error_of(graph.post(url, json={"body": {"contentType": "pdf", "content": "x"}}), 400,
             "RequestBodyRead")
    error_of(graph.post(url, data=b"{oops", headers={"Content-Type": "application/json"}),
             400, "BadRequest")
    too_big = graph.post(url, json={"body": marked, "attachments": [
        {**attachment, "content": card("x" * 28 * 1024)}]})
    error_of(too_big, 413, "RequestEntityTooLarge")
    assert post(graph, channel, "x" * (28 * 1024 - 100)).status_code == 201  # under the cap
    error_of(post(graph, "19:nope@thread.tacv2"), 404, "NotFound")
    assert len(sandbox.state.messages()) == 1


def test_replies_and_listing_newest_first_with_paging(sandbox, graph):
    channel = new_channel(graph)
    first, second, third = (post(graph, channel, f"<p>{n}</p>").json()["id"] for n in range(3))
    reply = post(graph, channel, "<p>re</p>", cards=["r1"], path=f"/{first}/replies")
    assert reply.status_code == 201 and reply.json()["replyToId"] == first
    url = f"/teams/{TEAM}/channels/{channel}/messages"
    assert [m["id"] for m in graph.get(url).json()["value"]] == [third, second, first]
    page = graph.get(url, params={"$top": 2}).json()
    assert [m["id"] for m in page["value"]] == [third, second]
    rest = graph.get(page["@odata.nextLink"]).json()
    assert [m["id"] for m in rest["value"]] == [first] and "@odata.nextLink" not in rest
    error = error_of(graph.get(url, params={"$top": 51}), 400, "BadRequest")
    assert error["message"] == "Limit of '50' for Top Query has been exceeded."
    replies = graph.get(f"{url}/{first}/replies").json()["value"]
    assert [m["id"] for m in replies] == [reply.json()["id"]]
    assert graph.get(f"{url}/{first}").json()["id"] == first
    assert graph.get(f"{url}/{first}/replies/{reply.json()['id']}").status_code == 200
    error_of(post(graph, channel, path="/404/replies"), 404, "NotFound")
    error_of(post(graph, channel, path=f"/{reply.json()['id']}/replies"), 404, "NotFound")
    stored = sandbox.state.messages(channel_id=channel)
    assert [m["reply_to"] for m in stored] == [None, None, None, first]


def test_expanded_replies_come_inline_up_to_the_limit_then_by_next_link(
        sandbox, graph, monkeypatch):
    from graph.sandbox import routes_teams

    monkeypatch.setattr(routes_teams, "EXPANDED_REPLIES", 2)
    channel = new_channel(graph)
    first = post(graph, channel, "<p>thread</p>").json()["id"]
    replies = [post(graph, channel, f"<p>{n}</p>", path=f"/{first}/replies").json()["id"]
               for n in range(3)]
    second = post(graph, channel, "<p>quiet</p>").json()["id"]
    url = f"/teams/{TEAM}/channels/{channel}/messages"
    page = graph.get(url, params={"$top": 1, "$expand": "replies"}).json()
    assert page["value"][0]["id"] == second and page["value"][0]["replies"] == []
    assert "$expand=replies" in page["@odata.nextLink"]  # the next page expands too
    (thread,) = graph.get(page["@odata.nextLink"]).json()["value"]
    assert [r["id"] for r in thread["replies"]] == replies[:0:-1]  # newest first, two
    rest = graph.get(thread["replies@odata.nextLink"]).json()
    assert [r["id"] for r in rest["value"]] == replies[:1]
    assert "replies" not in graph.get(url).json()["value"][0]  # only when asked for
    error = error_of(graph.get(url, params={"$expand": "reactions"}), 400, "BadRequest")
    assert "reactions" in error["message"]


def test_adding_a_member_twice_answers_201_both_times(sandbox, graph):
    def add(user, roles=(), team=TEAM):
        return graph.post(f"/teams/{team}/members", json={
            "@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": list(roles),
            "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{user}')"})

    first = add("user-1")
    assert first.status_code == 201 and first.json()["userId"] == "user-1"
    again = add("user-1", ["owner"])
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert add("bo@example.com").status_code == 201
    members = sandbox.state.members(TEAM)
    assert [(m["userId"], m["roles"]) for m in members] == \
        [(ACTOR, ["owner"]), ("user-1", ["owner"]), ("bo@example.com", [])]
    assert len(graph.get(f"/teams/{TEAM}/members").json()["value"]) == 3
    error_of(add("x", team="nope"), 404, "NotFound")
    error_of(graph.post(f"/teams/{TEAM}/members", json={"roles": []}), 400, "BadRequest")


MEMBER = "#microsoft.graph.aadUserConversationMember"


def member(user, roles=("owner",), **extra) -> dict:
    return {"@odata.type": MEMBER, "roles": list(roles),
            "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{user}')", **extra}


def private(name="sec", members=None, **extra) -> dict:
    return {"displayName": name, "description": "secret", "membershipType": "private",
            "members": [member("lead@example.com")] if members is None else members, **extra}


def add_to_team(graph, *users):
    for user in users:
        assert graph.post(f"/teams/{TEAM}/members",
                          json=member(user, ())).status_code == 201


def test_a_private_channel_is_created_with_its_owner(sandbox, graph):
    add_to_team(graph, "lead@example.com")
    created = graph.post(f"/teams/{TEAM}/channels", json=private())
    assert created.status_code == 201, created.text
    channel = created.json()
    assert channel["membershipType"] == "private" and channel["displayName"] == "sec"
    assert channel["@odata.context"].endswith(f"teams('{TEAM}')/channels/$entity")
    # A private channel is there only for its members: not for ada, who made it for lead.
    assert graph.get(f"/teams/{TEAM}/channels").json()["value"] == []
    error_of(graph.get(f"/teams/{TEAM}/channels/{channel['id']}"), 404, "NotFound")
    lead = Http(sandbox, token="lead@example.com")
    listed = lead.get(f"/teams/{TEAM}/channels").json()["value"]
    assert [(c["id"], c["membershipType"]) for c in listed] == [(channel["id"], "private")]
    assert lead.get(f"/teams/{TEAM}/channels/{channel['id']}").json()["membershipType"] == \
        "private"
    members = graph.get(f"/teams/{TEAM}/channels/{channel['id']}/members").json()["value"]
    assert [(m["userId"], m["roles"], m["@odata.type"]) for m in members] == \
        [("lead@example.com", ["owner"], MEMBER)]
    assert [m["userId"] for m in sandbox.state.channel_members(channel["id"])] == \
        ["lead@example.com"]


def test_a_private_channel_is_checked_before_it_is_made(sandbox, graph):
    add_to_team(graph, "lead@example.com", "user-2")

    def create(**body):
        return graph.post(f"/teams/{TEAM}/channels", json=private(**body))

    error = error_of(create(members=[]), 400, "BadRequest")  # no owner at all
    assert "owner" in error["message"]
    error_of(create(members=[member("user-2", ())]), 400, "BadRequest")  # members, no owner
    error = error_of(create(members=[{"roles": ["owner"], "user@odata.bind":
                                      "https://graph.microsoft.com/v1.0/users('user-2')"}]),
                     400, "BadRequest")
    assert error["message"] == \
        "'odata.type' must be specified in the request body for each member."
    error = error_of(create(members=[member("stranger@example.com")]), 400, "BadRequest")
    assert error["message"] == f"User stranger@example.com is not part of team {TEAM}."
    error_of(create(members=[member("user-2", ("guest",))]), 400, "BadRequest")
    error_of(create(members=[member(f"u{n}") for n in range(201)]), 400, "BadRequest")
    error_of(create(name="what?"), 400, "BadRequest")  # the same name rules
    error_of(graph.post(f"/teams/{TEAM}/channels", json={
        "displayName": "std", "members": [member("lead@example.com")]}), 400, "BadRequest")
    error_of(create(membershipType="shared"), 400, "BadRequest")
    error_of(graph.post("/teams/nope/channels", json=private()), 404, "NotFound")
    assert sandbox.state.channels() == []
    new_channel(graph, "taken")
    error_of(create(name="TAKEN"), 400, "NameAlreadyExists")
    assert create(members=[member("lead@example.com"),
                           member("user-2", ())]).status_code == 201


def test_adding_a_channel_member(sandbox, graph):
    """Only the channel's owners may add to it; owning the team is not enough."""
    add_to_team(graph, "lead@example.com", "user-2")
    theirs = graph.post(f"/teams/{TEAM}/channels", json=private("theirs")).json()["id"]
    error = error_of(graph.post(f"/teams/{TEAM}/channels/{theirs}/members",
                                json=member("user-2", ())), 403, "Forbidden")
    assert "not an owner of channel" in error["message"]
    channel = graph.post(f"/teams/{TEAM}/channels", json=private(
        members=[member("lead@example.com"), member(ACTOR)])).json()["id"]
    url = f"/teams/{TEAM}/channels/{channel}/members"
    first = graph.post(url, json=member("user-2", ()))
    assert first.status_code == 201 and first.json()["userId"] == "user-2"
    assert first.json()["@odata.context"].endswith(
        "/members/microsoft.graph.aadUserConversationMember/$entity")
    again = graph.post(url, json=member("USER-2"))
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert [(m["userId"], m["roles"]) for m in sandbox.state.channel_members(channel)] == \
        [("lead@example.com", ["owner"]), (ACTOR, ["owner"]), ("user-2", ["owner"])]
    error = error_of(graph.post(url, json=member("stranger@example.com", ())), 400,
                     "BadRequest")
    assert error["message"] == "User is not found in the team."
    error_of(graph.post(url, json=member("user-2", ("guest",))), 400, "BadRequest")
    error_of(graph.post(url, json={"roles": []}), 400, "BadRequest")
    standard = new_channel(graph, "open")
    error = error_of(graph.post(f"/teams/{TEAM}/channels/{standard}/members",
                                json=member("user-2", ())), 400, "BadRequest")
    assert error["message"] == "Operation not supported for this Channel."
    error_of(graph.post(f"/teams/{TEAM}/channels/19:nope@thread.tacv2/members",
                        json=member("user-2", ())), 404, "NotFound")
    assert sandbox.state.channel_members(standard) == []
    assert len(graph.get(f"/teams/{TEAM}/channels/{standard}/members").json()["value"]) == 3


def test_removing_a_channel_member(sandbox, graph):
    """DELETE .../members/{membership-id}: 204, out of the channel but not the team; a
    membership that is gone is 404; only the channel's owners; only private channels."""
    add_to_team(graph, "lead@example.com", "user-2", "user-3")
    channel = graph.post(f"/teams/{TEAM}/channels", json=private(
        members=[member("lead@example.com"), member(ACTOR)])).json()["id"]
    url = f"/teams/{TEAM}/channels/{channel}/members"
    membership = graph.post(url, json=member("user-2", ())).json()["id"]
    other = graph.post(url, json=member("user-3", ())).json()["id"]
    user_2 = Http(sandbox, token="user-2")
    error = error_of(user_2.delete(f"{url}/{other}"), 403, "Forbidden")  # not an owner
    assert "not an owner of channel" in error["message"]
    gone = graph.delete(f"{url}/{membership}")
    assert gone.status_code == 204 and gone.content == b""
    assert [m["userId"] for m in sandbox.state.channel_members(channel)] == \
        ["lead@example.com", ACTOR, "user-3"]
    assert [m["userId"] for m in graph.get(url).json()["value"]] == \
        ["lead@example.com", ACTOR, "user-3"]
    assert "user-2" in {m["userId"] for m in sandbox.state.members(TEAM)}  # still in the team
    error_of(user_2.get(f"/teams/{TEAM}/channels/{channel}"), 404, "NotFound")  # hidden again
    error = error_of(graph.delete(f"{url}/{membership}"), 404, "NotFound")  # gone already
    assert membership in error["message"]
    error_of(graph.delete(f"{url}/not-a-membership"), 404, "NotFound")
    error_of(graph.delete(f"/teams/{TEAM}/channels/19:nope@thread.tacv2/members/{other}"),
             404, "NotFound")
    error_of(graph.delete(f"/teams/nope/channels/{channel}/members/{other}"), 404, "NotFound")
    standard = new_channel(graph, "open")
    error = error_of(graph.delete(f"/teams/{TEAM}/channels/{standard}/members/{other}"), 400,
                     "BadRequest")
    assert error["message"] == "Operation not supported for this Channel."
    assert len(sandbox.state.channel_members(channel)) == 3


def test_removing_a_channel_member_needs_channel_member_read_write(sandbox, graph):
    """Delegated: ChannelMember.ReadWrite.All; application: .Group (resource-specific) or
    .All, as https://learn.microsoft.com/graph/api/channel-delete-members lists."""
    add_to_team(graph, "lead@example.com", "user-2")
    channel = graph.post(f"/teams/{TEAM}/channels", json=private()).json()["id"]
    url = f"/teams/{TEAM}/channels/{channel}/members"
    lead = Http(sandbox, token="lead@example.com")
    membership = lead.post(url, json=member("user-2", ())).json()["id"]

    def bearer(token: str) -> Http:
        caller = Http(sandbox, token=None)
        caller.session.headers["Authorization"] = f"Bearer {token}"
        return caller

    narrow = bearer(sandbox.state.token_for("lead@example.com", CONTRACT_APP,
                                            scopes=("ChannelMember.Read.All",)))
    error = error_of(narrow.delete(f"{url}/{membership}"), 403, "Forbidden")
    assert "ChannelMember.ReadWrite.All" in error["message"]
    reader = bearer(sandbox.state.app_token(CONTRACT_APP, roles=("ChannelMember.Read.All",)))
    error = error_of(reader.delete(f"{url}/{membership}"), 403, "Forbidden")
    assert "ChannelMember.ReadWrite.Group" in error["message"]
    resource = bearer(sandbox.state.app_token(CONTRACT_APP,
                                              roles=("ChannelMember.ReadWrite.Group",)))
    assert resource.delete(f"{url}/{membership}").status_code == 204
    assert [m["userId"] for m in sandbox.state.channel_members(channel)] == \
        ["lead@example.com"]


# ---- Outlook -------------------------------------------------------------------------------


def test_send_mail_from_me_and_from_a_shared_mailbox(sandbox, graph):
    headers = [{"name": "x-incident-desk-delivery", "value": "incident/1"}]
    sent = graph.post("/me/sendMail", json={  # the SDK's spelling of the parameters
        "Message": message(internetMessageHeaders=headers, ccRecipients=[
            {"emailAddress": {"address": "c@example.com"}}]), "SaveToSentItems": True})
    assert sent.status_code == 202 and sent.content == b""
    sandbox.state.add_mailbox_delegate("incidents@example.com", ACTOR)  # Send As
    shared = graph.post("/users/incidents@example.com/sendMail",
                        json={"message": message(to=["b@example.com"])})
    assert shared.status_code == 202
    mine, theirs = sandbox.state.mails()
    assert mine["sender"] == mine["mailbox"] == ACTOR and mine["to"] == ["a@example.com"]
    assert mine["cc"] == ["c@example.com"] and mine["bcc"] == []
    assert mine["headers"] == {"x-incident-desk-delivery": "incident/1"}
    assert mine["html"] == "<p>x</p>" and mine["subject"] == "Update" and mine["sent_at"]
    assert theirs["mailbox"] == "incidents@example.com" and theirs["actor"] == ACTOR


def test_mail_is_checked_before_it_is_sent(sandbox, graph):
    def send(body):
        return graph.post("/me/sendMail", json=body)

    error = error_of(send({}), 400, "ErrorInvalidParameter")
    assert error["message"] == "The value of the parameter 'Message' is empty."
    assert "contains no recipients" in error_of(send({"message": message(to=())}), 400,
                                                "ErrorInvalidRecipients")["message"]
    error_of(send({"message": message(to=["not an address"])}), 400, "ErrorInvalidRecipients")
    many = [f"p{n}@example.com" for n in range(500)]
    assert send({"message": message(to=many[:1], bccRecipients=[
        {"emailAddress": {"address": a}} for a in many[1:]])}).status_code == 202
    error = error_of(send({"message": message(to=[*many, "one.more@example.com"])}), 400,
                     "ErrorExceededMessageLimit")
    assert "501 recipients" in error["message"]
    error_of(send({"message": message(internetMessageHeaders=[{"name": "Foo", "value": "x"}])}),
             400, "InvalidInternetMessageHeader")
    assert len(sandbox.state.mails()) == 1


def test_a_draft_is_sent_once(sandbox, graph):
    created = graph.post("/me/messages", json=message(internetMessageHeaders=[
        {"name": "x-incident-desk-delivery", "value": "K1"}]))
    assert created.status_code == 201
    draft = created.json()
    assert draft["isDraft"] is True and draft["subject"] == "Update"
    assert draft["toRecipients"] == [{"emailAddress": {"name": "a@example.com",
                                                       "address": "a@example.com"}}]
    assert [d["id"] for d in sandbox.state.drafts()] == [draft["id"]]
    assert sandbox.state.drafts()[0]["headers"] == {"x-incident-desk-delivery": "K1"}
    assert graph.post(f"/me/messages/{draft['id']}/send").status_code == 202
    error = error_of(graph.post(f"/me/messages/{draft['id']}/send"), 404, "ErrorItemNotFound")
    assert error["message"] == "The specified object was not found in the store."
    (sent,) = sandbox.state.mails()
    assert sent["via"] == "draft" and sent["draft_id"] == draft["id"]
    assert sent["headers"] == {"x-incident-desk-delivery": "K1"} and sent["sender"] == ACTOR
    assert sandbox.state.drafts() == []
    sandbox.state.add_mailbox_delegate("shared@example.com", ACTOR)
    theirs = graph.post("/users/shared@example.com/messages", json=message()).json()["id"]
    error_of(graph.post(f"/me/messages/{theirs}/send"), 404, "ErrorItemNotFound")
    assert graph.post(f"/users/shared@example.com/messages/{theirs}/send").status_code == 202
    empty = graph.post("/me/messages", json=message(to=())).json()["id"]  # a draft may be
    error_of(graph.post(f"/me/messages/{empty}/send"), 400, "ErrorInvalidRecipients")  # bare


def test_an_event_is_created_once_per_transaction_id(sandbox, graph):
    def create(transaction_id=None, online=True, mailbox="/me", **extra):
        body = {"subject": "Review", "isOnlineMeeting": online,
                "onlineMeetingProvider": "teamsForBusiness",
                "start": {"dateTime": "2026-11-25T09:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2026-11-25T10:00:00", "timeZone": "UTC"},
                "attendees": [{"emailAddress": {"address": "a@example.com", "name": "A"},
                               "type": "required"},
                              {"emailAddress": {"address": "b@example.com"},
                               "type": "optional"}], **extra}
        if transaction_id:
            body["transactionId"] = transaction_id
        return graph.post(f"{mailbox}/events", json=body)

    first = create("T1")
    assert first.status_code == 201
    event = first.json()
    assert event["webLink"].startswith("https://") and event["subject"] == "Review"
    assert event["onlineMeeting"]["joinUrl"].startswith("https://teams.microsoft.com/")
    assert event["start"] == {"dateTime": "2026-11-25T09:00:00.0000000", "timeZone": "UTC"}
    assert [a["type"] for a in event["attendees"]] == ["required", "optional"]
    again = create("T1")
    assert again.status_code == 201 and again.json()["id"] == event["id"]
    sandbox.state.add_mailbox_delegate("other@example.com", ACTOR)
    assert create("T1", mailbox="/users/other@example.com").json()["id"] != event["id"]
    offline = create(online=False).json()
    assert offline["onlineMeeting"] is None and create(online=False).json()["id"] != \
        offline["id"]
    assert len(sandbox.state.events()) == 4
    error_of(create(end={"dateTime": "2026-11-25T08:00:00", "timeZone": "UTC"}), 400,
             "ErrorInvalidRequest")
    error_of(create(start=None), 400, "ErrorInvalidRequest")
    assert len(sandbox.state.events()) == 4


def test_an_online_meeting_is_created_or_got(sandbox, graph):
    def create_or_get(external_id, subject="Command room"):
        return graph.post("/me/onlineMeetings/createOrGet", json={
            "externalId": external_id, "subject": subject,
            "startDateTime": "2026-11-25T09:00:00+00:00",
            "endDateTime": "2026-11-25T17:00:00+00:00"})

    first = create_or_get("E1")
    assert first.status_code == 201 and first.json()["joinWebUrl"].startswith("https://")
    again = create_or_get("E1", subject="Another name")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["subject"] == "Command room"
    assert create_or_get("E2").status_code == 201
    assert sorted(m["externalId"] for m in sandbox.state.meetings()) == ["E1", "E2"]
    error_of(graph.post("/me/onlineMeetings/createOrGet", json={"subject": "x"}), 400,
             "BadRequest")


# ---- SharePoint ----------------------------------------------------------------------------


def test_ten_thousand_list_items_are_paged_through_once_each(sandbox, graph):
    started = time.monotonic()
    sandbox.state.seed_list("site", "list", ({"Title": f"P{n}", "Email": f"p{n}@x.org"}
                                             for n in range(10_000)))
    assert time.monotonic() - started < 2
    seen, pages = [], 0
    url = "/sites/site/lists/list/items?expand=fields"
    while url:
        page = graph.get(url).json()
        pages += 1
        seen += [(item["id"], item["fields"]["Title"]) for item in page["value"]]
        url = page.get("@odata.nextLink")
        assert url is None or "$skiptoken=" in url
    assert pages == 50  # 200 a page by default
    assert [item_id for item_id, _ in seen] == [str(n) for n in range(1, 10_001)]
    assert [title for _, title in seen] == [f"P{n}" for n in range(10_000)]
    big = graph.get("/sites/site/lists/list/items", params={"$expand": "fields",
                                                            "$top": 9000}).json()
    assert len(big["value"]) == 5000 and "@odata.nextLink" in big  # capped at 5000
    item = big["value"][0]
    assert item["eTag"] and item["createdDateTime"] and item["fields"]["id"] == item["id"]
    assert item["fields"]["Email"] == "p0@x.org" and "@odata.etag" in item["fields"]
    selected = graph.get("/sites/site/lists/list/items", params={
        "$expand": "fields($select=Title)", "$top": 1}).json()
    assert set(selected["value"][0]["fields"]) == {"@odata.etag", "id", "Title"}
    assert "fields($select=Title)" in selected["@odata.nextLink"]
    assert "fields" not in graph.get("/sites/site/lists/list/items").json()["value"][0]
    error_of(graph.get("/sites/site/lists/missing/items"), 404, "itemNotFound")
    error_of(graph.get("/sites/nope/lists/list/items"), 404, "itemNotFound")


# ---- drives -----------------------------------------------------------------------------


def test_a_small_file_is_uploaded_replaced_refused_and_downloaded(sandbox, graph):
    url = f"/drives/{DRIVE}/items/root:/Incident reports/INC-1 review.docx:/content"
    first = graph.put(url, data=b"one")
    assert first.status_code == 201
    item = first.json()
    assert item["name"] == "INC-1 review.docx" and item["size"] == 3 and item["eTag"]
    assert item["file"]["mimeType"].startswith("application/vnd.openxmlformats")
    assert item["parentReference"]["path"] == f"/drives/{DRIVE}/root:/Incident reports"
    assert item["webUrl"].startswith("https://")
    second = graph.put(url, data=b"two!", params={"@microsoft.graph.conflictBehavior":
                                                  "replace"})
    assert second.status_code == 200 and second.json()["id"] == item["id"]
    assert second.json()["eTag"] != item["eTag"]
    error_of(graph.put(url, data=b"x", params={"@microsoft.graph.conflictBehavior": "fail"}),
             409, "nameAlreadyExists")
    renamed = graph.put(url, data=b"3", params={"@microsoft.graph.conflictBehavior": "rename"})
    assert renamed.status_code == 201 and renamed.json()["name"] == "INC-1 review 1.docx"
    redirect = graph.get(url, allow_redirects=False)
    assert redirect.status_code == 302 and "/_download/" in redirect.headers["Location"]
    assert requests.get(redirect.headers["Location"], timeout=5).content == b"two!"  # no auth
    assert graph.get(url).content == b"two!"
    meta = graph.get(f"/drives/{DRIVE}/root:/incident reports/inc-1 review.docx").json()
    assert meta["id"] == item["id"] and meta["size"] == 4  # paths ignore case
    folder = graph.get(f"/drives/{DRIVE}/root:/Incident reports").json()
    assert folder["folder"] == {"childCount": 2}
    assert graph.get(f"/drives/{DRIVE}/items/{item['id']}/content").content == b"two!"
    assert sandbox.state.file_bytes(DRIVE, "Incident reports/INC-1 review.docx") == b"two!"
    assert [f["path"] for f in sandbox.state.files(DRIVE)] == [
        "Incident reports/INC-1 review.docx", "Incident reports/INC-1 review 1.docx"]
    error_of(graph.put(f"/drives/{DRIVE}/root:/big.bin:/content", data=b"x" * (4 * 2**20 + 1)),
             413, "requestEntityTooLarge")
    error_of(graph.get(f"/drives/{DRIVE}/root:/missing.docx:/content"), 404, "itemNotFound")
    error_of(graph.put("/drives/nope/root:/a.txt:/content", data=b"x"), 404, "itemNotFound")


def test_a_large_file_goes_up_in_chunks(sandbox, graph):
    body = os.urandom(700_000)
    session = graph.post(f"/drives/{DRIVE}/items/root:/Reports/big.docx:/createUploadSession",
                         json={"item": {"@microsoft.graph.conflictBehavior": "fail"}})
    assert session.status_code == 200
    upload_url = session.json()["uploadUrl"]
    assert upload_url.startswith(f"{sandbox.url}/") and "/v1.0/" not in upload_url
    assert session.json()["nextExpectedRanges"] == ["0-"]
    datetime.fromisoformat(session.json()["expirationDateTime"].replace("Z", "+00:00"))

    def chunk(start, end):
        return requests.put(upload_url, data=body[start:end + 1], timeout=5, headers={
            "Content-Range": f"bytes {start}-{end}/{len(body)}"})  # no Authorization

    first = chunk(0, 327_679)
    assert first.status_code == 202
    assert first.json()["nextExpectedRanges"] == [f"327680-{len(body) - 1}"]
    error_of(chunk(400_000, 655_359), 416, "invalidRange")  # a gap
    assert error_of(chunk(0, 327_679), 416, "invalidRange")["message"] == \
        "Uploaded fragment overlaps with existing data."
    error_of(requests.put(upload_url, data=b"abc", timeout=5), 400, "invalidRequest")
    assert requests.get(upload_url, timeout=5).json()["nextExpectedRanges"][0] == \
        f"327680-{len(body) - 1}"
    assert chunk(327_680, 655_359).status_code == 202
    done = chunk(655_360, len(body) - 1)
    assert done.status_code == 201 and done.json()["size"] == len(body)
    assert sandbox.state.file_bytes(DRIVE, "Reports/big.docx") == body
    assert sandbox.state.files(DRIVE)[0]["upload_session"] is True
    error_of(chunk(0, 9), 404, "itemNotFound")  # the session is over
    error_of(graph.post(f"/drives/{DRIVE}/root:/Reports/big.docx:/createUploadSession",
                        json={"item": {"@microsoft.graph.conflictBehavior": "fail"}}),
             409, "nameAlreadyExists")
    replace = graph.post(f"/drives/{DRIVE}/root:/Reports/big.docx:/createUploadSession").json()
    assert requests.delete(replace["uploadUrl"], timeout=5).status_code == 204
    error_of(requests.get(replace["uploadUrl"], timeout=5), 404, "itemNotFound")


def test_a_file_open_in_word_answers_423_until_closed_and_its_session_can_finish(
        sandbox, graph):
    from graph.sandbox.locks import lock_file, unlock_file

    url = f"/drives/{DRIVE}/items/root:/Reports/open.docx:/content"
    assert graph.put(url, data=b"one").status_code == 201
    lock_file(sandbox.state, DRIVE, "Reports/open.docx", by="bo@example.com")
    error = error_of(graph.put(url, data=b"two"), 423, "notAllowed")
    assert error["message"] == "The resource you are attempting to access is locked"
    assert error["innerError"]["code"] == "resourceLocked"
    session = graph.post(f"/drives/{DRIVE}/root:/Reports/open.docx:/createUploadSession")
    upload_url = session.json()["uploadUrl"]

    def chunk(start, end, total=10):
        return requests.put(upload_url, data=b"0123456789"[start:end + 1], timeout=5,
                            headers={"Content-Range": f"bytes {start}-{end}/{total}"})

    assert chunk(0, 4).status_code == 202
    error_of(chunk(5, 9), 423, "notAllowed")  # the last fragment: refused, session kept
    assert requests.get(upload_url, timeout=5).json()["nextExpectedRanges"] == ["5-9"]
    assert unlock_file(sandbox.state, DRIVE, "Reports/open.docx")
    assert chunk(5, 9).status_code == 200
    assert sandbox.state.file_bytes(DRIVE, "Reports/open.docx") == b"0123456789"


# ---- faults --------------------------------------------------------------------------------


def test_throttling_says_when_to_retry_and_is_not_applied(sandbox, graph):
    sandbox.faults.configure(retry_after=3)
    sandbox.faults.fail_next(1, "429", "/channels")
    throttled = graph.post(f"/teams/{TEAM}/channels", json={"displayName": "x"})
    assert error_of(throttled, 429, "TooManyRequests")["innerError"]["status"] == "429"
    assert throttled.headers["Retry-After"] == "3"
    assert sandbox.state.channels() == []
    assert graph.post(f"/teams/{TEAM}/channels", json={"displayName": "x"}).status_code == 201
    assert sandbox.faults.injected == {"429": 1}
    assert [(r["status"], r["fault"]) for r in sandbox.state.requests()] == \
        [(429, "429"), (201, None)]


def test_outages_are_not_applied(sandbox, graph):
    sandbox.faults.fail_next(1, "503", "sendMail")
    sandbox.faults.fail_next(1, "504", "POST /v1.0/me/sendMail")
    outage = graph.post("/me/sendMail", json={"message": message()})
    assert error_of(outage, 503, "serviceNotAvailable") and outage.headers["Retry-After"]
    error_of(graph.post("/me/sendMail", json={"message": message()}), 504, "UnknownError")
    assert sandbox.state.mails() == [] and sandbox.faults.pending == 0


def test_a_lost_response_was_applied(sandbox, graph):
    channel = new_channel(graph)
    sandbox.faults.fail_next(1, "lost_response", "/messages")
    error_of(post(graph, channel, cards=["k"]), 504, "UnknownError")
    (kept,) = sandbox.state.messages(channel_id=channel)
    assert kept["attachments"][0]["id"] == "k"


def test_a_timeout_hangs_then_closes_without_an_answer(sandbox, graph):
    sandbox.faults.configure(hang=0.3)
    sandbox.faults.fail_next(1, "timeout", "/channels")
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        graph.post(f"/teams/{TEAM}/channels", json={"displayName": "slow"})
    assert time.monotonic() - started >= 0.3
    assert sandbox.state.channels() == []
    assert sandbox.state.requests()[-1]["fault"] == "timeout"


def test_random_faults_latency_and_the_controls(sandbox, graph):
    control = requests.post(f"{sandbox.url}/_sandbox/faults", timeout=5,
                            json={"error_rate": 1, "kinds": ["503"], "seed": 4})
    assert control.status_code == 200 and control.json()["error_rate"] == 1
    assert graph.get("/me").status_code == 503
    state = requests.get(f"{sandbox.url}/_sandbox/state", timeout=5).json()  # never faulted
    assert state["faults"]["injected"] == {"503": 1} and state["counts"]["team"] == 1
    bad = requests.post(f"{sandbox.url}/_sandbox/faults", json={"kinds": ["nope"]}, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "BadRequest"
    requests.post(f"{sandbox.url}/_sandbox/faults", timeout=5, json={
        "latency": 0.2, "fail_next": {"count": 1, "kind": "429", "path_contains": "/me"}})
    started = time.monotonic()
    assert graph.get("/me").status_code == 429 and time.monotonic() - started >= 0.2
    assert graph.get("/me").status_code == 200
    reset = requests.post(f"{sandbox.url}/_sandbox/reset?seed=defaults", timeout=5)
    assert reset.json() == {"reset": True, "seeded": True}
    assert [c["displayName"] for c in sandbox.state.channels("incident-team")] == ["General"]
    assert sandbox.faults.settings()["latency"] == 0 and sandbox.faults.injected == {}


def test_faults_object():
    faults = Faults()
    with pytest.raises(ValueError):
        faults.configure(kinds=("500",))
    with pytest.raises(ValueError):
        faults.fail_next(1, "teapot")
    faults.configure(error_rate=0.5, seed=1)
    first = [faults.pick("GET", "/v1.0/me") for _ in range(20)]
    faults.configure(error_rate=0.5, seed=1)
    assert [faults.pick("GET", "/v1.0/me") for _ in range(20)] == first  # repeatable
    assert None in first and set(first) - {None} <= {"429", "503", "timeout", "lost_response"}
    faults.fail_next(2, "503", "/items")
    faults.configure()  # random faults off; targeted ones stay
    assert faults.pick("GET", "/v1.0/me") is None
    assert faults.pick("GET", "/v1.0/sites/s/lists/l/items") == "503"
    assert faults.injected["503"] >= 1 and faults.pending == 1
    faults.reset()
    assert faults.injected == {} and faults.pending == 0


# ---- state: persistence, threads, the WSGI app -----------------------------------------


def test_state_persists_in_a_file_shared_by_two_servers(tmp_path):
    path = tmp_path / "graph-sandbox.db"
    first, second = SandboxState(path), SandboxState(str(path))
    seed_defaults(first)
    seed_defaults(second)  # already seeded: nothing doubles
    prepare_tenant(first)
    first.add_team_member("incident-team", ACTOR)
    with SandboxServer(first) as one, SandboxServer(second) as two:
        made = Http(one).post("/teams/incident-team/channels", json={"displayName": "inc-1"})
        assert made.status_code == 201
        error_of(Http(two).post("/teams/incident-team/channels", json={"displayName": "INC-1"}),
                 400, "NameAlreadyExists")
        assert Http(two).put("/drives/incident-reports/root:/a.txt:/content",
                             data=b"hello").status_code == 201
        assert Http(one).get("/drives/incident-reports/root:/a.txt:/content").content == \
            b"hello"
    reopened = SandboxState(path)
    assert [c["displayName"] for c in reopened.channels()] == ["General", "inc-1"]
    assert len(reopened.requests()) == 4 and reopened.file_bytes("incident-reports",
                                                                 "A.TXT") == b"hello"
    assert [i["fields"]["Title"] for i in _items(reopened)][:1] == ["Priya Shah"]
    with reopened.read() as tx:
        assert tx.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _items(state):
    with state.read() as tx:
        return tx.bodies("item", scope="contacts-site/contacts")


def test_concurrent_requests_are_all_kept_and_checks_hold(sandbox, graph):
    channel = new_channel(graph)
    results: dict[str, list] = {"posts": [], "names": [], "events": []}

    def work(n):
        results["posts"].append(post(graph, channel, f"<p>{n}</p>").status_code)
        results["names"].append(graph.post(f"/teams/{TEAM}/channels",
                                           json={"displayName": "same"}).status_code)
        results["events"].append(graph.post("/me/events", json={
            "subject": "x", "transactionId": "T",
            "start": {"dateTime": "2026-11-25T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-25T10:00:00", "timeZone": "UTC"}}).json()["id"])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert results["posts"] == [201] * 12
    assert sorted(results["names"]) == [201] + [400] * 11
    assert len(set(results["events"])) == 1 and len(sandbox.state.events()) == 1
    ids = [m["id"] for m in sandbox.state.messages(channel_id=channel)]
    assert len(set(ids)) == 12 and ids == sorted(ids, key=int)


def test_the_wsgi_app_runs_without_the_server():
    from werkzeug.test import Client

    app = create_wsgi_app(SandboxState())
    prepare_tenant(app.state)
    app.state.add_team(TEAM)
    app.state.add_team_member(TEAM, ACTOR)
    client = Client(app)
    auth = {"Authorization": f"Bearer {app.state.token_for(ACTOR, CONTRACT_APP)}"}
    made = client.post(f"/v1.0/teams/{TEAM}/channels", json={"displayName": "x"}, headers=auth)
    assert made.status_code == 201
    app.faults.configure(hang=0)
    app.faults.fail_next(1, "timeout")
    assert client.get("/v1.0/me", headers=auth).status_code == 504  # no socket to drop


@pytest.mark.slow
def test_the_sdk_reads_every_answer(sandbox, graph):
    """msgraph-sdk's own models parse what the sandbox sends, as they would Graph's."""
    from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
    from msgraph.generated.models.channel import Channel
    from msgraph.generated.models.chat_message import ChatMessage
    from msgraph.generated.models.conversation_member import ConversationMember
    from msgraph.generated.models.drive_item import DriveItem
    from msgraph.generated.models.event import Event
    from msgraph.generated.models.list_item_collection_response import (
        ListItemCollectionResponse,
    )
    from msgraph.generated.models.message import Message
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph.generated.models.online_meeting import OnlineMeeting
    from msgraph.generated.models.upload_session import UploadSession
    from msgraph.generated.models.user import User

    def parse(response, model):
        node = JsonParseNodeFactory().get_root_parse_node("application/json", response.content)
        return node.get_object_value(model)

    channel = parse(graph.post(f"/teams/{TEAM}/channels", json={"displayName": "sdk"}), Channel)
    assert channel.display_name == "sdk" and channel.membership_type.value == "standard"
    chat = parse(post(graph, channel.id, cards=["c1"]), ChatMessage)
    assert chat.from_.user.display_name == ACTOR and chat.attachments[0].id == "c1"
    assert isinstance(chat.created_date_time, datetime) and chat.reply_to_id is None
    draft = parse(graph.post("/me/messages", json=message()), Message)
    assert draft.is_draft and draft.to_recipients[0].email_address.address == "a@example.com"
    event = parse(graph.post("/me/events", json={
        "subject": "e", "isOnlineMeeting": True,
        "start": {"dateTime": "2026-11-25T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-25T10:00:00", "timeZone": "UTC"}}), Event)
    assert event.online_meeting.join_url and event.start.time_zone == "UTC"
    meeting = parse(graph.post("/me/onlineMeetings/createOrGet", json={"externalId": "x"}),
                    OnlineMeeting)
    assert meeting.join_web_url and isinstance(meeting.start_date_time, datetime)
    item = parse(graph.put(f"/drives/{DRIVE}/root:/a.txt:/content", data=b"x"), DriveItem)
    assert item.size == 1 and item.file.mime_type == "text/plain"
    session = parse(graph.post(f"/drives/{DRIVE}/root:/b.txt:/createUploadSession"),
                    UploadSession)
    assert session.upload_url and session.next_expected_ranges == ["0-"]
    assert parse(graph.get("/me"), User).user_principal_name == ACTOR
    member = parse(graph.post(f"/teams/{TEAM}/members", json={
        "@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": [],
        "user@odata.bind": "https://graph.microsoft.com/v1.0/users('u1')"}), ConversationMember)
    assert member.roles == []
    private = parse(graph.post(f"/teams/{TEAM}/channels", json={
        "displayName": "sdk-private", "membershipType": "private", "members": [{
            "@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": ["owner"],
            "user@odata.bind": "https://graph.microsoft.com/v1.0/users('u1')"}, {
            "@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": ["owner"],
            "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{ACTOR}')"}]}), Channel)
    assert private.membership_type.value == "private"
    joined = parse(graph.post(f"/teams/{TEAM}/channels/{private.id}/members", json={
        "@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": ["owner"],
        "user@odata.bind": "https://graph.microsoft.com/v1.0/users('u1')"}), ConversationMember)
    assert joined.roles == ["owner"] and joined.odata_type.endswith("ConversationMember")
    sandbox.state.seed_list("s", "l", [{"Title": "t"}])
    items = parse(graph.get("/sites/s/lists/l/items?$expand=fields"), ListItemCollectionResponse)
    assert items.value[0].fields.additional_data["Title"] == "t"
    error = parse(graph.post("/me/messages/nope/send"), ODataError)
    assert error.error.code == "ErrorItemNotFound"


def test_python_m_graph_sandbox_serves_the_default_tenant(tmp_path):
    db = tmp_path / "sandbox.db"
    process = subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "graph.sandbox", "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE, text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    try:
        line = process.stdout.readline()
        base = re.search(r"(http://\S+)/v1\.0", line).group(1)
        entra = dict(re.findall(r"(\w+)=(\S+)", process.stdout.readline()))
        state = requests.get(f"{base}/_sandbox/state", timeout=5).json()
        assert state["counts"]["team"] == 1 and state["counts"]["item"] == 5
        # The app's own token, by MSAL's client-credentials flow against the sandbox Entra.
        import msal

        from graph.tokens import entra_http

        app = msal.ConfidentialClientApplication(
            entra["client_id"], client_credential=entra["secret"],
            authority=f"{entra['authority']}/{entra['tenant']}",
            http_client=entra_http(entra["ca_file"]),
            instance_discovery=False)
        token = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        items = requests.get(f"{base}/v1.0/sites/contacts-site/lists/contacts/items",
                             timeout=5, headers=auth).json()["value"]  # Sites.Selected
        assert len(items) == 5
        messages = f"{base}/v1.0/teams/incident-team/channels/19:general@thread.tacv2/messages"
        # The Teams app is installed in the seeded team: its RSC lets the app read there.
        assert requests.get(messages, timeout=5, headers=auth).status_code == 200
        removed = requests.post(f"{base}/_sandbox/teams-app", json={"action": "uninstall"},
                                timeout=5)
        assert removed.status_code == 200 and removed.json()["installed"] is False
        refused = requests.get(messages, timeout=5, headers=auth)  # the app alone may not
        assert refused.status_code == 403
    finally:
        process.terminate()
        process.wait(10)


def test_a_clock_of_the_tests_own_dates_what_the_sandbox_makes():
    from datetime import UTC, timedelta

    now = [datetime(2026, 11, 22, 9, tzinfo=UTC)]
    with SandboxServer(SandboxState(clock=lambda: now[0])) as server:
        prepare_tenant(server.state)
        server.state.add_team(TEAM)
        server.state.add_team_member(TEAM, ACTOR)
        graph = Http(server)
        channel = new_channel(graph)
        first = post(graph, channel).json()
        now[0] += timedelta(minutes=10)
        second = post(graph, channel).json()
    assert first["createdDateTime"] == "2026-11-22T09:00:00.000Z"
    assert second["createdDateTime"] == "2026-11-22T09:10:00.000Z"
    assert int(first["id"]) == int(now[0].timestamp() * 1000) - 600_000
    assert int(second["id"]) > int(first["id"])


def test_the_tenants_limits_are_settings_over_http_too(sandbox):
    url = f"{sandbox.url}/_sandbox/tenant"
    assert requests.get(url, timeout=5).json()["channels_per_team"] == 1000
    changed = requests.post(url, json={"member_propagation": 0.5}, timeout=5).json()
    assert changed["member_propagation"] == 0.5 and sandbox.state.limits().member_propagation == 0.5
    assert requests.post(url, json={"nonsense": 1}, timeout=5).status_code == 400
