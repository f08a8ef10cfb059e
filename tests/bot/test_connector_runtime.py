"""The bot's sends share one loop and keep their connector sessions open
(app/bot/connector_runtime.py)."""

from __future__ import annotations

import asyncio

import pytest

from app.bot import connector_runtime
from graph.port import GraphError


def test_a_connector_session_is_kept_and_reused_for_the_same_bot():
    async def sessions():
        first = connector_runtime.session("https://smba.example/emea/", "bot-a")
        again = connector_runtime.session("https://smba.example/emea/", "bot-a")
        other = connector_runtime.session("https://smba.example/emea/", "bot-b")
        return first, again, other

    first, again, other = connector_runtime.run(sessions)
    assert first is again and not first.closed
    assert other is not first  # the client sets its bot's token on the session


def test_the_oldest_session_is_closed_beyond_the_most_kept():
    async def fill():
        made = [connector_runtime.session(f"https://smba.example/r{n}/", "bot")
                for n in range(connector_runtime.MOST_SESSIONS + 1)]
        await asyncio.sleep(0.05)  # the eviction closes on the loop
        return made

    made = connector_runtime.run(fill)
    assert made[0].closed and not made[-1].closed


def test_it_runs_from_inside_a_running_loop_too():
    """A job run inside a bot turn: the turn's loop is busy, the connector's is not."""
    async def answer():
        return 42

    async def turn():
        return connector_runtime.run(answer)  # sync code called while this loop runs

    assert asyncio.run(turn()) == 42


def test_no_answer_in_time_is_an_ambiguous_failure(monkeypatch):
    monkeypatch.setattr(connector_runtime, "SEND_TIMEOUT", 0.01)

    async def hangs():
        await asyncio.sleep(5)

    with pytest.raises(GraphError) as failed:
        connector_runtime.run(hangs)
    assert failed.value.status == 0


def test_a_new_worker_fetches_the_bots_token_before_its_first_job(bot_app):
    from app.bot import adapter, outbound
    from app.bot.identity import identity_for

    application, _bot_url, _sandbox = bot_app
    identity = identity_for(application)
    adapter._auths.pop(identity, None)  # a process that has sent nothing yet
    helper = outbound.warm(application)
    helper.join(20)
    assert not helper.is_alive()
    assert adapter.auth_for(identity)._ready  # kept until five minutes before it expires
