"""The Agents SDK's User-Agent, worked out once per process instead of on every client.

The SDK (microsoft-agents-hosting-core 0.9 to 1.9) builds a ConnectorClient for every
turn, and each one calls `get_product_info()`, which asks `importlib.metadata` for the
version of a distribution that is not installed ("microsoft-agents-connector"): a miss
scans every installed package's metadata, about 30 ms of CPU a turn, a third of a card
press (bench/bench_card_actions.py). The answer cannot change while the process runs, so
the two modules that call it get the same function, cached.
"""

from __future__ import annotations

import functools

from microsoft_agents.hosting.core.connector.client import connector_client, user_token_client
from microsoft_agents.hosting.core.connector.get_product_info import get_product_info

cached_product_info = functools.cache(get_product_info)


def install() -> None:
    """Point the SDK's clients at the cached answer (idempotent)."""
    for module in (connector_client, user_token_client):
        if getattr(module, "get_product_info", None) is not cached_product_info:
            module.get_product_info = cached_product_info
