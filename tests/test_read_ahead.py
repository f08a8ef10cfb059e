"""read_ahead: the next items are fetched while the caller works, in order, bounded."""

from __future__ import annotations

import itertools
import threading

import pytest

from app.core.read_ahead import read_ahead


def test_items_come_in_order_and_all_of_them():
    assert list(read_ahead(range(1000), buffer=7)) == list(range(1000))
    assert list(read_ahead([], buffer=3)) == []


def test_the_next_item_is_fetched_while_the_caller_works_on_this_one():
    fetching_second = threading.Event()

    def pages():
        yield "first"
        fetching_second.set()  # reached only if someone fetches while "first" is in use
        yield "second"

    seen = []
    for item in read_ahead(pages(), buffer=1):
        if item == "first":
            # Without read-ahead nothing fetches until this loop asks: this would time out.
            assert fetching_second.wait(5), "the second item was not fetched meanwhile"
        seen.append(item)
    assert seen == ["first", "second"]


def test_an_error_arrives_after_the_items_before_it():
    def pages():
        yield 1
        yield 2
        raise ConnectionError("page 2 failed")

    seen = []
    with pytest.raises(ConnectionError, match="page 2 failed"):
        for item in read_ahead(pages(), buffer=10):
            seen.append(item)
    assert seen == [1, 2]


def test_it_reads_no_further_than_the_buffer_and_stops_when_the_caller_does():
    pulled = itertools.count()
    stopped = threading.Event()

    def endless():
        try:
            while True:
                next(pulled)
                yield "item"
        finally:
            stopped.set()

    source = endless()
    reader = read_ahead(source, buffer=3)
    assert next(reader) == "item"
    reader.close()  # the caller stopped early
    # Taken: one by the caller, at most three buffered, one waiting to be put.
    assert stopped.wait(5), "the helper did not stop reading"
    assert next(pulled) <= 1 + 3 + 1
