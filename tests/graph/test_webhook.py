"""The Teams Workflows webhook, over HTTP against the sandbox's workflow endpoint."""

from __future__ import annotations

import json

import pytest

from graph.port import GraphError, InvalidRequest, NotFound
from graph.sandbox import SandboxServer
from graph.webhook import post_card

CARD = {"type": "AdaptiveCard", "version": "1.5",
        "body": [{"type": "TextBlock", "text": "Major incident <declared> & \"quoted\""}]}


@pytest.fixture
def sandbox():
    with SandboxServer() as server:
        server.state.add_team("team", "Incidents")
        server.state.add_channel("team", "General", "19:general@thread.tacv2")
        yield server


def test_a_card_lands_in_the_workflows_channel(sandbox):
    flow = sandbox.state.add_workflow("team", "19:general@thread.tacv2")
    post_card(sandbox.workflow_url(flow), CARD)
    [message] = sandbox.state.messages(channel_id="19:general@thread.tacv2")
    assert message["from"]["application"]["displayName"] == "Workflows"
    assert json.loads(message["attachments"][0]["content"]) == CARD  # JSON, not HTML


def test_an_unknown_workflow_is_not_found(sandbox):
    with pytest.raises(NotFound, match="deleted or turned off"):
        post_card(sandbox.workflow_url("gone"), CARD)


def test_throttling_is_retryable_with_the_wait_asked_for(sandbox):
    flow = sandbox.state.add_workflow("team", "19:general@thread.tacv2")
    sandbox.faults.configure(retry_after=7)
    sandbox.faults.fail_next(1, "429", path_contains="/workflows/")
    with pytest.raises(GraphError) as caught:
        post_card(sandbox.workflow_url(flow), CARD)
    assert caught.value.retryable and caught.value.retry_after == 7
    assert sandbox.state.messages() == []


def test_no_answer_is_reported_as_unknown_outcome(sandbox):
    flow = sandbox.state.add_workflow("team", "19:general@thread.tacv2")
    sandbox.faults.configure(hang=2.0)
    sandbox.faults.fail_next(1, "timeout", path_contains="/workflows/")
    with pytest.raises(GraphError) as caught:
        post_card(sandbox.workflow_url(flow), CARD, timeout=0.5)
    assert caught.value.status == 0 and caught.value.retryable


def test_a_body_that_is_not_a_card_message_is_refused(sandbox, monkeypatch):
    import graph.webhook as webhook

    flow = sandbox.state.add_workflow("team", "19:general@thread.tacv2")
    monkeypatch.setattr(webhook, "message", lambda card: {"text": "hello"})
    with pytest.raises(InvalidRequest, match="Adaptive Cards"):
        post_card(sandbox.workflow_url(flow), CARD)
