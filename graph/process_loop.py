"""An asyncio event loop on a daemon thread, one per process, made on first use.

Async clients (msgraph-sdk's httpx client in graph/client.py, the Bot Connector sessions
in app/bot/connector_runtime.py) must live on the loop that made them, and sync callers
hand them coroutines from any thread. A forked worker cannot use its parent's loop
thread (threads do not survive a fork), so each process makes its own.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


def start_loop(name: str) -> asyncio.AbstractEventLoop:
    """A new event loop running forever on a daemon thread called `name`."""
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name=name, daemon=True).start()
    return loop


class PerProcess(Generic[T]):
    """`make()`'s value, made once in each process that asks (`get`)."""

    def __init__(self, make: Callable[[], T]):
        self._make = make
        self._lock = threading.Lock()
        self._value: T | None = None
        self._pid: int | None = None
        os.register_at_fork(after_in_child=self._forget)

    def get(self) -> T:
        value, pid = self._value, os.getpid()
        if value is None or self._pid != pid:
            with self._lock:
                if self._value is None or self._pid != pid:
                    self._value, self._pid = self._make(), pid
                value = self._value
        return value

    def made(self) -> T | None:
        """The value if this process has made it, else None (nothing is made)."""
        return self._value if self._pid == os.getpid() else None

    def _forget(self) -> None:
        """In a forked child: a lock held by another thread at fork time would never be
        released there, and the parent's loop thread is gone."""
        self._lock = threading.Lock()
        self._value, self._pid = None, None
