"""One event loop per process for the bot's sends, and one HTTP session per Bot
Connector on it, kept open between sends.

Each send used to run on a fresh `asyncio.run` with a fresh aiohttp session: a new TCP
connection and TLS handshake to the connector for every card, update and announcement,
which made a P1's posts through the bot slower than the same posts through Graph (whose
client keeps its connections: graph/client.py). Sessions live on the loop that made them,
so the loop lives in a thread of its own (graph/process_loop.py; `run` hands it a
coroutine from any thread, inside a bot turn's loop too); a forked worker makes its own.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
from collections import OrderedDict

import aiohttp

from graph.port import GraphError
from graph.process_loop import PerProcess, start_loop

SEND_TIMEOUT = 10.0  # seconds, as graph/client.py gives a channel post
MOST_SESSIONS = 8  # connectors a process talks to: Teams has one per region


class _Runtime:
    def __init__(self):
        self.loop = start_loop("bot-connector-loop")
        self.sessions: OrderedDict[tuple[str, str], aiohttp.ClientSession] = OrderedDict()

    def session(self, service_url: str, bot_id: str) -> aiohttp.ClientSession:
        """The open session to `service_url` for this bot (on the loop thread only): the
        connector client sets its bearer token on the session, so bots do not share."""
        key = (service_url, bot_id)
        found = self.sessions.get(key)
        if found is not None and not found.closed:
            self.sessions.move_to_end(key)
            return found
        made = self.sessions[key] = aiohttp.ClientSession(
            base_url=service_url, timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT),
            headers={"Accept": "application/json", "Content-Type": "application/json"})
        while len(self.sessions) > MOST_SESSIONS:
            _key, oldest = self.sessions.popitem(last=False)
            self.loop.create_task(oldest.close())
        return made

    async def close(self) -> None:
        sessions, self.sessions = list(self.sessions.values()), OrderedDict()
        for open_session in sessions:
            await open_session.close()


_runtimes = PerProcess(_Runtime)
current = _runtimes.get


@atexit.register
def _close_at_exit() -> None:
    """Close the kept sessions as the process ends (each would warn it was left open)."""
    runtime = _runtimes.made()
    if runtime is not None and runtime.loop.is_running():
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):  # ending
            asyncio.run_coroutine_threadsafe(runtime.close(), runtime.loop).result(2)


def run(make_coroutine):
    """Run the coroutine on the process's connector loop and wait for it (from sync code,
    or from a bot turn running its own loop); no answer in time is status 0, which may
    have posted (the outbox looks before it sends again)."""
    future = asyncio.run_coroutine_threadsafe(make_coroutine(), current().loop)
    try:
        return future.result(SEND_TIMEOUT * 3)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise GraphError("The Bot Connector did not answer in time.", status=0) from None


def session(service_url: str, bot_id: str) -> aiohttp.ClientSession:
    """For coroutines running under `run`."""
    return current().session(service_url, bot_id)
