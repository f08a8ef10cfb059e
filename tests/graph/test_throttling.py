"""The sandbox throttles as Graph documents (graph/sandbox/throttling.py): over a limit a
request gets 429 with Retry-After and is not applied; under it, it passes; each app,
channel and mailbox is counted on its own; the counts are shared through the state file."""

from __future__ import annotations

import threading

import pytest
import requests

from graph.port import GraphError
from graph.sandbox import SandboxServer, SandboxState
from tests.graph.conftest import CONTRACT_APP, CONTRACT_SCOPES, client_for, prepare_tenant

ACTOR = "ada@example.com"
OTHER = "bo@example.com"
TEAM = "team-1"
NO_LIMITS = dict(teams_rps_per_channel=0, teams_rps_per_tenant=0,
                 teams_posts_per_channel_per_day=0, teams_rps_per_team=0,
                 teams_channel_writes_per_tenant=0, outlook_concurrent_per_mailbox=0,
                 outlook_requests_per_mailbox=0)


@pytest.fixture
def sandbox(running):
    running.state.reset()
    running.faults.reset()
    set_up(running.state)
    return running


def set_up(state: SandboxState) -> None:
    prepare_tenant(state)
    state.configure_tenant(**NO_LIMITS)  # each test turns on the rule it is about
    state.add_app("other-app", "secret", "Another app", delegated=CONTRACT_SCOPES)
    state.add_team(TEAM, "Incidents")
    for person in (ACTOR, OTHER):
        state.add_team_member(TEAM, person, owner=True)
    for name in ("alpha", "beta", "gamma"):
        state.add_channel(TEAM, name, f"19:{name}@thread.tacv2")


def post(server, channel: str = "alpha", *, app: str = CONTRACT_APP, who: str = ACTOR,
         text: str = "hello") -> requests.Response:
    token = server.state.token_for(who, app)
    return requests.post(
        f"{server.graph_base_url}/teams/{TEAM}/channels/19:{channel}@thread.tacv2/messages",
        json={"body": {"contentType": "html", "content": f"<p>{text}</p>"}},
        headers={"Authorization": f"Bearer {token}"}, timeout=10)


def posted(server, channel: str = "alpha") -> list[str]:
    return [m["body"]["content"] for m in
            server.state.messages(channel_id=f"19:{channel}@thread.tacv2")]


def send_mail(server, who: str = ACTOR) -> requests.Response:
    token = server.state.token_for(who, CONTRACT_APP)
    return requests.post(
        f"{server.graph_base_url}/me/sendMail",
        json={"message": {"subject": "Update", "body": {"contentType": "HTML",
                                                        "content": "<p>x</p>"},
                          "toRecipients": [{"emailAddress": {"address": "c@example.com"}}]}},
        headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_a_burst_over_the_channel_limit_is_refused_and_not_applied(sandbox):
    sandbox.state.configure_tenant(teams_rps_per_channel=2)
    answers = [post(sandbox, text=str(n)) for n in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    refused = answers[2]
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"]["code"] == "TooManyRequests"
    assert posted(sandbox) == ["<p>0</p>", "<p>1</p>"]  # the third was not applied
    assert [r["status"] for r in sandbox.state.requests()] == [201, 201, 429]


def test_the_client_reads_the_refusal_as_throttling_with_its_retry_after(sandbox):
    sandbox.state.configure_tenant(teams_rps_per_channel=1)
    graph = client_for(sandbox)
    graph.post_message(TEAM, "19:alpha@thread.tacv2", "<p>first</p>")
    with pytest.raises(GraphError) as refused:
        graph.post_message(TEAM, "19:alpha@thread.tacv2", "<p>second</p>")
    assert refused.value.status == 429 and refused.value.retryable
    assert refused.value.retry_after >= 1


def test_under_the_limit_everything_passes(sandbox):
    sandbox.state.configure_tenant(teams_rps_per_channel=4, teams_rps_per_tenant=50,
                                   teams_posts_per_channel_per_day=3000)
    answers = [post(sandbox, text=str(n)) for n in range(4)]
    assert [a.status_code for a in answers] == [201] * 4 and len(posted(sandbox)) == 4


def test_channels_and_apps_are_counted_apart(sandbox):
    sandbox.state.configure_tenant(teams_rps_per_channel=1)
    assert post(sandbox, "alpha").status_code == 201
    assert post(sandbox, "beta").status_code == 201  # another channel
    assert post(sandbox, "alpha", app="other-app").status_code == 201  # another app
    assert post(sandbox, "alpha", who=OTHER).status_code == 429  # same app, another person
    assert len(posted(sandbox, "alpha")) == 2


def test_replies_count_as_channel_posts(sandbox):
    sandbox.state.configure_tenant(teams_rps_per_channel=1)
    first = post(sandbox).json()
    token = sandbox.state.token_for(ACTOR, CONTRACT_APP)
    reply = requests.post(
        f"{sandbox.graph_base_url}/teams/{TEAM}/channels/19:alpha@thread.tacv2/messages/"
        f"{first['id']}/replies", json={"body": {"content": "<p>re</p>"}},
        headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert reply.status_code == 429


def test_the_tenant_limit_spans_channels(sandbox):
    sandbox.state.configure_tenant(teams_rps_per_tenant=2)
    answers = [post(sandbox, channel) for channel in ("alpha", "beta", "gamma")]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert post(sandbox, "gamma", app="other-app").status_code == 201  # per app


def test_the_daily_cap_per_channel_asks_to_wait_about_a_day(sandbox):
    sandbox.state.configure_tenant(teams_posts_per_channel_per_day=2)
    answers = [post(sandbox) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert int(answers[2].headers["Retry-After"]) > 86_000
    assert post(sandbox, "beta").status_code == 201


def test_other_requests_are_not_counted(sandbox):
    sandbox.state.configure_tenant(teams_rps_per_channel=1, teams_rps_per_tenant=1)
    graph = client_for(sandbox)
    for _ in range(3):
        graph.find_channel(TEAM, "alpha")
    assert post(sandbox).status_code == 201


def create_channel(server, name: str, *, team: str = TEAM, app: str = CONTRACT_APP
                   ) -> requests.Response:
    token = server.state.token_for(ACTOR, app)
    return requests.post(f"{server.graph_base_url}/teams/{team}/channels",
                         json={"displayName": name, "membershipType": "standard"},
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_creating_channels_counts_against_the_team_and_is_not_applied_over_it(sandbox):
    sandbox.state.configure_tenant(teams_rps_per_team=2)
    answers = [create_channel(sandbox, f"inc-{n}") for n in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].json()["error"]["code"] == "TooManyRequests"
    names = {c["displayName"] for c in sandbox.state.channels()}
    assert {"inc-0", "inc-1"} <= names and "inc-2" not in names
    assert post(sandbox, "alpha").status_code == 201  # a post is counted on its channel


def test_channel_creation_has_a_tenant_limit_across_teams(sandbox):
    sandbox.state.add_team("team-2", "Elsewhere")
    sandbox.state.add_team_member("team-2", ACTOR, owner=True)
    sandbox.state.configure_tenant(teams_channel_writes_per_tenant=1)
    assert create_channel(sandbox, "one").status_code == 201
    assert create_channel(sandbox, "two", team="team-2").status_code == 429
    assert create_channel(sandbox, "two", team="team-2", app="other-app").status_code == 201


def test_a_mailbox_has_a_request_limit_per_ten_minutes(sandbox):
    sandbox.state.configure_tenant(outlook_requests_per_mailbox=2)
    assert [send_mail(sandbox).status_code for _ in range(3)] == [202, 202, 429]
    assert send_mail(sandbox, who=OTHER).status_code == 202  # another mailbox
    refused = [r for r in sandbox.state.requests() if r["status"] == 429]
    assert len(refused) == 1 and len(sandbox.state.mails()) == 3


def test_a_reset_forgets_the_counts(sandbox):
    sandbox.state.configure_tenant(teams_rps_per_channel=1)
    assert post(sandbox).status_code == 201
    sandbox.state.reset()
    set_up(sandbox.state)
    sandbox.state.configure_tenant(teams_rps_per_channel=1)
    assert post(sandbox).status_code == 201


def test_servers_sharing_a_state_file_share_the_counts(tmp_path):
    path = tmp_path / "sandbox.db"
    with SandboxServer(SandboxState(path)) as one, SandboxServer(SandboxState(path)) as two:
        set_up(one.state)
        one.state.configure_tenant(teams_rps_per_channel=1)
        assert post(one).status_code == 201
        assert post(two).status_code == 429  # another process's server, the same file


def concurrently(count: int, call) -> list[int]:
    statuses: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        status = call().status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    return sorted(statuses)


def test_mail_over_the_mailbox_concurrency_is_refused_and_not_sent(sandbox):
    sandbox.state.configure_tenant(outlook_concurrent_per_mailbox=2)
    sandbox.faults.configure(latency=0.5)  # each request stays in flight half a second
    assert concurrently(3, lambda: send_mail(sandbox)) == [202, 202, 429]
    assert len(sandbox.state.mails()) == 2
    refused = next(r for r in sandbox.state.requests() if r["status"] == 429)
    assert refused["path"] == "/v1.0/me/sendMail"


def test_the_refusal_reads_as_outlooks(sandbox):
    sandbox.state.configure_tenant(outlook_concurrent_per_mailbox=1)
    sandbox.faults.configure(latency=0.5)
    answers: list[requests.Response] = []
    threads = [threading.Thread(target=lambda: answers.append(send_mail(sandbox)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.json()["error"]["code"] == "ApplicationThrottled"
    assert "MailboxConcurrency" in refused.json()["error"]["message"]
    assert refused.headers["Retry-After"] == "1"


def test_each_mailbox_has_its_own_slots_and_they_are_freed(sandbox):
    sandbox.state.configure_tenant(outlook_concurrent_per_mailbox=1)
    sandbox.faults.configure(latency=0.3)
    people = iter([ACTOR, OTHER])
    assert concurrently(2, lambda: send_mail(sandbox, next(people))) == [202, 202]
    assert send_mail(sandbox).status_code == 202  # the earlier one's slot is free again
