"""Fetching the next items while the caller works on these: a paged Graph read waits
about a round trip per page, and without this no page is fetched while the previous
batch is being written, so the waiting and the work add up instead of overlapping."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()
_POLL = 0.1  # how often a blocked producer checks whether the consumer has gone


def read_ahead(items: Iterable[T], buffer: int) -> Iterator[T]:
    """Yield `items` in order, pulled by a helper thread up to `buffer` items ahead (so
    memory stays bounded). An exception from `items` is raised here, after the items
    before it; stopping early (an exception in the caller) stops the helper too."""
    handoff: queue.Queue = queue.Queue(maxsize=max(1, buffer))
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                if not put((None, item)):
                    return
        except BaseException as error:  # handed to the consumer and raised there
            put((error, None))
            return
        finally:
            close = getattr(source, "close", None)
            if close is not None:  # a generator left early: let it clean up now
                close()
        put((_END, None))

    helper = threading.Thread(target=produce, name="read-ahead", daemon=True)
    helper.start()
    try:
        while True:
            problem, item = handoff.get()
            if problem is _END:
                return
            if problem is not None:
                raise problem
            yield item
    finally:
        stop.set()
