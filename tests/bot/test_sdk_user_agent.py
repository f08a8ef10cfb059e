"""The SDK's User-Agent is looked up once per process (app/bot/sdk_user_agent.py)."""

from __future__ import annotations

import importlib.metadata

from microsoft_agents.hosting.core.connector.client import connector_client, user_token_client

from app.bot import sdk_user_agent


def test_the_sdk_asks_for_its_version_once_not_on_every_client(monkeypatch):
    looked_up = []
    real = importlib.metadata.version

    def version(name):
        looked_up.append(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    sdk_user_agent.cached_product_info.cache_clear()
    sdk_user_agent.install()
    answers = {connector_client.get_product_info() for _ in range(5)}
    answers.add(user_token_client.get_product_info())
    assert len(looked_up) == 1
    [agent] = answers
    assert agent.startswith("agents-sdk-py/")
