"""A downloaded report is built once per version of what it is built from (the incident
as it stands, the template, the kind) and reused after that; builds are bounded
(app/documents/downloads.py). Counted in builds, never timed."""

from __future__ import annotations

import threading
from dataclasses import replace
from io import BytesIO

import pytest
from sqlalchemy import select

from app.documents import downloads, kinds
from app.documents.downloads import BuildCache, Busy
from app.incidents.models import TimelineEntry
from tests.reports import crafted


@pytest.fixture
def builds(monkeypatch):
    """How many times each kind of report was built."""
    counted: dict[str, int] = {}
    for key, kind in list(kinds.KINDS.items()):
        def counting(snap, template, names, _key=key, _build=kind.build):
            counted[_key] = counted.get(_key, 0) + 1
            return _build(snap, template, names)
        monkeypatch.setitem(kinds.KINDS, key, replace(kind, build=counting))
    return counted


def download(browser, reference: str, kind: str = "running"):
    response = browser.get(f"/incidents/{reference}/reports/{kind}.docx")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.data[:2] == b"PK"
    return response.data


def test_a_report_downloaded_again_is_not_built_again(app, browser, session, builds,
                                                       frozen_clock):
    browser.sign_in(admin=True)
    reference = browser.declare(severity="P1")
    url = f"/incidents/{reference}"
    first = download(browser, reference)
    assert download(browser, reference) == first
    assert builds == {"running": 1}
    download(browser, reference, "major")  # another kind is another document
    assert builds == {"running": 1, "major": 1}

    browser.submit(url, f"{url}/notes", {"note-text": "Restarted db-2"})
    assert download(browser, reference) != first
    download(browser, reference)
    assert builds["running"] == 2  # the new entry: once

    entry = session.scalar(select(TimelineEntry).where(TimelineEntry.kind == "note"))
    browser.submit(f"{url}/timeline/{entry.id}/edit",
                   data={"note-entry_type": "result", "note-text": "Restarted db-3"})
    download(browser, reference)
    assert builds["running"] == 3  # a correction changes what it is built from

    browser.submit("/reports/template", data={
        "template": (BytesIO(crafted.plain("Contoso")), "contoso.docx")},
        content_type="multipart/form-data")
    download(browser, reference)
    download(browser, reference)
    assert builds["running"] == 4  # a new template: once


def test_too_many_builds_at_once_is_a_clear_refusal(app, browser, builds):
    browser.sign_in()
    reference = browser.declare()
    app.extensions[downloads.EXTENSION] = BuildCache(max_builds=0, wait=0)
    response = browser.get(f"/incidents/{reference}/reports/running.docx")
    assert response.status_code == 429
    assert "try again in a minute" in response.get_data(as_text=True)
    assert builds == {}  # refused before any work


def _wait_for(condition) -> None:
    """Spin until another thread reaches a point (bounded by turns, not by time)."""
    event = threading.Event()
    for _ in range(100_000):
        if condition():
            return
        event.wait(0.001)
    raise AssertionError("the other thread never got there")


def test_the_same_report_asked_for_at_once_is_built_once():
    cache = BuildCache(max_builds=2)
    release, calls, results = threading.Event(), [], []

    def build():
        calls.append(1)
        release.wait()
        return b"docx"

    threads = [threading.Thread(target=lambda: results.append(cache.get("k", build)))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    _wait_for(lambda: cache.waiting == 5)  # five wait for the one build
    release.set()
    for thread in threads:
        thread.join()
    assert calls == [1] and results == [b"docx"] * 6


def test_builds_at_once_are_bounded():
    cache = BuildCache(max_builds=2)
    release = threading.Event()
    running, most = [0], [0]
    lock = threading.Lock()

    def build():
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait()
        with lock:
            running[0] -= 1
        return b"docx"

    threads = [threading.Thread(target=cache.get, args=(f"k{i}", build)) for i in range(4)]
    for thread in threads:
        thread.start()
    _wait_for(lambda: cache.queued == 2 and running[0] == 2)
    release.set()
    for thread in threads:
        thread.join()
    assert most[0] == 2


def test_no_free_build_slot_refuses_at_once_and_a_failed_build_is_not_kept():
    cache = BuildCache(max_builds=1, wait=0)
    with pytest.raises(Busy):
        BuildCache(max_builds=0, wait=0).get("k", lambda: b"never")

    def broken():
        raise ValueError("template")

    with pytest.raises(ValueError):
        cache.get("k", broken)
    assert cache.get("k", lambda: b"docx") == b"docx"


def test_the_cache_keeps_to_its_size():
    cache = BuildCache(max_bytes=10)
    cache.get("a", lambda: b"x" * 6)
    cache.get("b", lambda: b"y" * 6)  # pushes out a
    built = []
    cache.get("a", lambda: built.append(1) or b"x" * 6)
    assert built == [1]
    cache.get("big", lambda: b"z" * 11)  # larger than the cache: handed out, not kept
    assert cache.size <= 10
